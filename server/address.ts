/**
 * Client addresses as the server counts them: in one spelling, and grouped
 * into the network one client holds.
 *
 * - {@linkcode clientAddress}: an IPv6 address lower case with its zeros
 *   compressed (as URL parsing writes it), and an IPv4-mapped one
 *   (`::ffff:192.0.2.7`, how a server listening on `::` sees an IPv4 peer)
 *   as its IPv4 address, so that one client is one key however the socket
 *   or a load balancer's PROXY line spells it.
 * - {@linkcode network}: what `--max-per-ip`, the join rate and a kick's ban
 *   are counted by. An IPv4 address is its own; an IPv6 address counts with
 *   its /64, since one subscriber (one home, one virtual machine) is given a
 *   whole /64 and can pick any of its 2⁶⁴ addresses per connection (ergo
 *   count the same way by default).
 *
 * @module
 */

/**
 * An IPv6 address in one spelling, an IPv4-mapped one as its IPv4 address;
 * undefined if `text` is not an IPv6 address.
 */
export function ipv6(text: string): string | undefined {
  if (!/^[0-9a-fA-F:.]{2,45}$/.test(text) || !text.includes(":")) return undefined;
  let host;
  try {
    host = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (!mapped) return host;
  const [high, low] = [parseInt(mapped[1]!, 16), parseInt(mapped[2]!, 16)];
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/** A peer's address in one spelling (see the module doc); anything else as it is. */
export function clientAddress(text: string): string {
  return ipv6(text) ?? text;
}

/**
 * The network `address` counts under: an IPv4 address itself, an IPv6
 * one's /64 written `2001:db8:1:2::/64`. A network so written gives itself.
 */
export function network(address: string): string {
  const prefix = address.endsWith("/64") ? address.slice(0, -3) : address;
  const host = ipv6(prefix);
  if (host === undefined || !host.includes(":")) return host ?? address;
  const groups = expand(host);
  return `${ipv6(`${groups.slice(0, 4).join(":")}::`)}/64`;
}

/** The eight groups of an IPv6 address as URL parsing writes it (hexadecimal only). */
function expand(host: string): string[] {
  const [head = "", tail] = host.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  return [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
}
