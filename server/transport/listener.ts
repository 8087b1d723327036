/**
 * The one accept path of every listener (terminal and HTTP alike): where a
 * socket is counted against `--max-per-ip` and `--max-clients` from the
 * moment it is accepted until it is closed, and where a TLS handshake is
 * given a bound.
 *
 * Counting at accept, not once a connection has said what it wants, is what
 * keeps silent sockets from using up the file descriptors: an HTTP
 * connection that never sends a request, a WebSocket waiting for its
 * upgrade, a terminal that never types all hold a slot, and the caps turn
 * away the next ones. The slot goes with the socket: an HTTP connection that
 * becomes a WebSocket hands it to its session (`session.ts`), which releases
 * it once, at close.
 *
 * A TLS socket whose handshake has not finished within the bound is closed
 * and its slot released. (Deno itself lets go of the TCP socket under such
 * a closed connection only when the peer gives up: a closed `TlsConn` still
 * waits for its handshake to send `close_notify`. What it holds then is
 * counted nowhere, but it is a socket, not a slot: known, left for later.)
 *
 * With `--proxy-protocol` a socket's first line names its client
 * (`proxy.ts`): it is read first, within the same bound, and the socket is
 * counted under the client's address, not the load balancer's.
 *
 * A failed accept is not fatal: out of file descriptors, the loop pauses and
 * tries again, so the listener comes back by itself once sockets close.
 *
 * @module
 */

import type { ChatError } from "../../common/protocol.ts";
import { network } from "../address.ts";
import { within } from "../deadline.ts";
import { errorText } from "../log.ts";
import { isDisconnect, pause } from "./io.ts";
import { ProxiedConn, readProxyLine } from "./proxy.ts";
import type { ConnectionLimits } from "./limits.ts";
import { admit, type Counting } from "./session.ts";
import type { Slot } from "./slot.ts";

/** A connection accepted by a listener: plain TCP, or TLS with `--cert`/`--key`. */
export type Conn = Deno.TcpConn | Deno.TlsConn;

/** What {@linkcode acceptLoop} does with each socket, counted or refused. */
export interface AcceptOptions extends Counting {
  listener: Deno.Listener<Conn, Deno.NetAddr>;
  limits: ConnectionLimits;
  /** Milliseconds a TLS handshake, or a PROXY line, may take before the socket is closed. */
  handshakeMs: number;
  /**
   * Every socket starts with a PROXY v1 line naming its client (`proxy.ts`):
   * read first, then the socket is counted under the client's address.
   */
  proxyProtocol?: boolean;
  /** A counted socket: its owner releases its slot once it is closed. */
  accepted(conn: Conn, slot: Slot): void;
  /** A socket over the caps: its owner tells the peer why, and closes it. */
  refused(conn: Conn, error: ChatError): void;
}

/** How long a failed accept() waits before the next. */
const ACCEPT_RETRY_MS = 100;

/**
 * Accepts sockets until the listener is closed; settles then, once the
 * sockets still shaking hands are closed. Each socket is counted at once,
 * and a TLS one handed on only once its handshake is done.
 */
export async function acceptLoop(options: AcceptOptions): Promise<void> {
  const { listener, limits, log, via } = options;
  const shaking = new Set<Deno.TlsConn>();
  const mine = new Set<Deno.TcpConn>();
  const name = via === "web" ? "http" : "tcp";
  let failing = false;
  for (;;) {
    let conn: Conn;
    try {
      conn = await listener.accept();
    } catch (e) {
      if (e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted) break;
      // A client that gave up while queued: nothing to pause for. Pausing
      // here would let the queue fill with more clients giving up.
      if (isDisconnect(e)) continue;
      // Out of file descriptors: not fatal. Pause so a full descriptor
      // table does not spin the loop.
      log.error(`${name} accept failed`, { error: errorText(e) });
      failing = true;
      await pause(ACCEPT_RETRY_MS);
      continue;
    }
    if (failing) {
      failing = false;
      log.warn(`${name} accepting again`);
    }
    if (options.proxyProtocol && !("handshake" in conn)) {
      void proxied(conn, mine, options);
      continue;
    }
    // Until the socket's handler owns its slot, closing it is closing the socket.
    const slot = admit(limits, conn.remoteAddr.hostname, options, { close: () => closeConn(conn) });
    if (!("release" in slot)) options.refused(conn, slot);
    else if ("handshake" in conn) void handshake(conn, slot, shaking, options);
    else options.accepted(conn, slot);
  }
  for (const conn of [...shaking, ...mine]) closeConn(conn);
}

/**
 * How many sockets may be reading their PROXY line at once: in all (every
 * listener of the process together), and from one address among those
 * that have waited longer than {@linkcode PROXY_SLOW_MS} (a balancer's
 * burst of new connections has its lines in already, unread only for a
 * moment; sockets still silent after that did not come through it).
 */
export const PROXY_READING_MAX = 1_024;
export const PROXY_READING_PER_ADDRESS = 64;
export const PROXY_SLOW_MS = 1_000;

/**
 * True if a socket from `from` accepted at `now` would be one too many
 * among those reading their PROXY line (`size` of them): see
 * {@linkcode PROXY_READING_MAX}.
 */
export function tooManyUnread(
  unread: Iterable<{ from: string; at: number }>,
  size: number,
  from: string,
  now: number,
): boolean {
  if (size >= PROXY_READING_MAX) return true;
  let slow = 0;
  for (const other of unread) {
    if (other.from === from && now - other.at > PROXY_SLOW_MS) slow++;
  }
  return slow >= PROXY_READING_PER_ADDRESS;
}

/** The sockets reading their PROXY line, with their address and when accepted. */
const reading = new Map<Deno.TcpConn, { from: string; at: number }>();

/**
 * Reads a socket's PROXY line within the bound, then counts it under its
 * client's address and hands it on (or refuses it, over the caps). Until
 * then it is one of at most {@linkcode PROXY_READING_MAX}, and of
 * {@linkcode PROXY_READING_PER_ADDRESS} slow ones from its address: sockets
 * from one address that say nothing cannot keep the balancer's out.
 * `mine` holds this listener's, for its close.
 */
async function proxied(
  conn: Deno.TcpConn,
  mine: Set<Deno.TcpConn>,
  options: AcceptOptions,
): Promise<void> {
  const { log, via } = options;
  const balancer = conn.remoteAddr.hostname;
  const from = network(balancer);
  const now = performance.now();
  if (tooManyUnread(reading.values(), reading.size, from, now)) {
    log.warn("connection refused", { via, address: from, why: "too many PROXY lines unread" });
    return closeConn(conn);
  }
  reading.set(conn, { from, at: now });
  mine.add(conn);
  const read = await readProxyLine(conn, options.handshakeMs);
  reading.delete(conn);
  mine.delete(conn);
  if (typeof read === "string") {
    log.warn("connection without a PROXY line closed", { via, address: from, why: read });
    return closeConn(conn);
  }
  const { line, rest } = read;
  const client = new ProxiedConn(conn, line.address ?? balancer, line.port, rest);
  const slot = admit(options.limits, client.remoteAddr.hostname, options, {
    close: () => closeConn(client),
  });
  if (!("release" in slot)) options.refused(client, slot);
  else options.accepted(client, slot);
}

/**
 * Hands on a TLS socket once its handshake is done within the bound. One
 * past the bound is counted as a timeout and closed once its handshake ends
 * (the peer speaks or leaves): Deno cannot free a TLS socket during its
 * handshake (a close then leaves the TCP connection open until the peer
 * goes), so it keeps its place against the caps for as long as it holds a
 * descriptor, and silent handshakes cannot hold more than the caps allow.
 */
async function handshake(
  conn: Deno.TlsConn,
  slot: Slot,
  shaking: Set<Deno.TlsConn>,
  options: AcceptOptions,
): Promise<void> {
  shaking.add(conn);
  let ok = false;
  const done = conn.handshake().then(() => ok = true, () => ok = false);
  const inTime = await within(done, options.handshakeMs);
  if (!inTime) {
    options.metrics.disconnected("tls_handshake_timeout");
    options.log.warn("tls handshake timeout", {
      via: options.via,
      address: conn.remoteAddr.hostname,
    });
    await done;
  }
  shaking.delete(conn);
  if (ok && inTime) return options.accepted(conn, slot);
  closeConn(conn);
  slot.release();
}

/** Closes a socket that may be closed already. */
export function closeConn(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch (e) {
    if (!(e instanceof Deno.errors.BadResource)) throw e;
  }
}

/** How long a refused connection may take to read why (a TLS one must handshake first). */
export const REFUSE_MS = 1_000;

/** Tells a connection over the caps why, and closes it, without waiting on it. */
export function refuse(conn: Conn, why: Uint8Array): void {
  within(conn.write(why).catch(() => {}), REFUSE_MS).finally(() => closeConn(conn));
}
