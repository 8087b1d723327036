/**
 * The PROXY protocol, version 1 (`--proxy-protocol`): a TCP load balancer
 * in front of several nodes (HAProxy's `send-proxy`, nginx's `proxy_protocol
 * on`) starts each connection with one line naming the client,
 * `PROXY TCP4 <client> <balancer> <client port> <balancer port>\r\n` (at
 * most {@linkcode PROXY_LINE_MAX} bytes), then passes the client's bytes
 * on. Without it every member would have the balancer's address: one
 * `--max-per-ip` for everyone, one join rate, and a kick's ban on the
 * balancer shutting everyone out.
 *
 * {@linkcode readProxyLine} reads that line (bounded in bytes and time);
 * {@linkcode ProxiedConn} is the connection from then on: its `remoteAddr`
 * is the client's, and what came after the line is read first. The accept
 * path (`listener.ts`) does both before a connection is counted against the
 * caps under its client's address.
 *
 * @module
 */

import { ipv6 } from "../address.ts";
import { within } from "../deadline.ts";

/** The longest PROXY v1 line, CRLF included (the protocol's own bound). */
export const PROXY_LINE_MAX = 107;

/** What a PROXY line says: the client's address, or none (`UNKNOWN`: the balancer's own check). */
export type ProxyLine = { ok: true; address: string | undefined; port: number } | {
  ok: false;
  reason: string;
};

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const PORT = /^(0|[1-9]\d{0,4})$/;

/** Parses one PROXY v1 line, without its CRLF. */
export function parseProxyLine(line: string): ProxyLine {
  const parts = line.split(" ");
  if (parts[0] !== "PROXY") return { ok: false, reason: "not a PROXY line" };
  if (parts[1] === "UNKNOWN") return { ok: true, address: undefined, port: 0 };
  const [, family, source, destination, sourcePort, destinationPort, ...more] = parts;
  if (more.length > 0 || destinationPort === undefined) {
    return { ok: false, reason: "a PROXY line has six fields" };
  }
  const read = family === "TCP4"
    ? (text: string) => IPV4.test(text) ? text : undefined
    : family === "TCP6"
    ? ipv6
    : undefined;
  if (!read) return { ok: false, reason: `unknown family ${JSON.stringify(family)}` };
  const client = read(source!);
  if (client === undefined || read(destination!) === undefined) {
    return { ok: false, reason: `not ${family} addresses` };
  }
  const ports = [sourcePort!, destinationPort].map((p) => PORT.test(p) ? Number(p) : NaN);
  if (ports.some((p) => !(p <= 65_535))) return { ok: false, reason: "bad ports" };
  return { ok: true, address: client, port: ports[0]! };
}

const CRLF = [13, 10];
const PREFIX = new TextEncoder().encode("PROXY ");

/**
 * Reads the PROXY line a connection starts with, within `ms`: what it says,
 * and the bytes read after it. A connection that says anything else, or
 * nothing in time, gets a reason; the caller closes it.
 */
export async function readProxyLine(
  conn: Deno.Conn,
  ms: number,
): Promise<{ line: ProxyLine & { ok: true }; rest: Uint8Array } | string> {
  const buffer = new Uint8Array(PROXY_LINE_MAX + 512);
  let length = 0;
  const deadline = performance.now() + ms;
  for (;;) {
    const left = deadline - performance.now();
    const read = conn.read(buffer.subarray(length)).catch(() => null);
    if (left <= 0 || !await within(read, left)) {
      try {
        conn.close();
      } catch {
        // Closed already (the server is stopping).
      }
      await read;
      return `no PROXY line within ${ms} ms`;
    }
    const n = await read;
    if (n === null) return "closed before its PROXY line";
    length += n;
    // Said otherwise at once: not waited for.
    const head = Math.min(length, PREFIX.length);
    if (buffer.subarray(0, head).some((b, i) => b !== PREFIX[i])) return "not a PROXY line";
    for (let i = 1; i < Math.min(length, PROXY_LINE_MAX); i++) {
      if (buffer[i - 1] !== CRLF[0] || buffer[i] !== CRLF[1]) continue;
      const line = parseProxyLine(new TextDecoder().decode(buffer.subarray(0, i - 1)));
      if (!line.ok) return line.reason;
      return { line, rest: buffer.slice(i + 1, length) };
    }
    if (length >= PROXY_LINE_MAX) return `no end of the PROXY line in ${PROXY_LINE_MAX} bytes`;
  }
}

/** A connection after its PROXY line: the client's address, and the bytes read past the line first. */
export class ProxiedConn implements Deno.TcpConn {
  readonly remoteAddr: Deno.NetAddr;
  readonly #conn: Deno.TcpConn;
  #rest: Uint8Array;
  #readable: ReadableStream<Uint8Array<ArrayBuffer>> | undefined;

  constructor(conn: Deno.TcpConn, address: string, port: number, rest: Uint8Array) {
    this.#conn = conn;
    this.#rest = rest;
    this.remoteAddr = { transport: "tcp", hostname: address, port };
  }

  get localAddr(): Deno.NetAddr {
    return this.#conn.localAddr;
  }

  async read(p: Uint8Array): Promise<number | null> {
    if (this.#rest.length === 0) return await this.#conn.read(p);
    const n = Math.min(p.length, this.#rest.length);
    p.set(this.#rest.subarray(0, n));
    this.#rest = this.#rest.subarray(n);
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    return this.#conn.write(p);
  }

  close(): void {
    this.#conn.close();
  }

  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

  setNoDelay(noDelay?: boolean): void {
    this.#conn.setNoDelay(noDelay);
  }

  setKeepAlive(keepAlive?: boolean): void {
    this.#conn.setKeepAlive(keepAlive);
  }

  ref(): void {
    this.#conn.ref();
  }

  unref(): void {
    this.#conn.unref();
  }

  /** Reads through {@linkcode read}: what came after the PROXY line first. */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    this.#readable ??= new ReadableStream({
      pull: async (controller) => {
        const chunk = new Uint8Array(16 * 1024);
        const n = await this.read(chunk);
        if (n === null) controller.close();
        else controller.enqueue(chunk.slice(0, n));
      },
    });
    return this.#readable;
  }

  get writable(): WritableStream<Uint8Array<ArrayBufferLike>> {
    return this.#conn.writable;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
