/**
 * HTTP/1.1 on a raw connection: the server's own, so that a connection's
 * life is ours from accept to close (issue 12). `Deno.serve` gives no
 * accept hook, no header or idle timeout, and holds a silent socket for
 * ever; here every connection is counted from accept (`listener.ts`), and
 *
 * - the whole head of a request must arrive within the header timeout of
 *   the connection's accept, or of the first byte after a keep-alive pause
 *   (a slowloris head is closed then, whatever it trickles);
 * - a keep-alive connection may sit idle between requests for the idle
 *   timeout, then it is closed;
 * - a response must be taken by the peer within the header timeout too;
 * - requests are answered one at a time, in order; pipelined bytes wait in
 *   one read's buffer (16 KiB) and nothing more is read meanwhile; past
 *   {@linkcode REQUEST_RATE}'s burst a connection's next request waits its
 *   turn, so a loop of pipelined requests (of `/metrics`, or of the 40 KB
 *   script) is answered at a page load's pace, not as fast as it is sent;
 * - no route takes a body: one of up to {@linkcode BODY_SKIP_MAX} bytes is
 *   read past and dropped (a `POST` then gets its `405`); a longer one is
 *   answered `413` and the connection closed, so none of its bytes is ever
 *   read as a request. A head the reader refuses gets its status
 *   (400, 414, 431, 501, 505) and the connection is closed.
 *
 * The routes are a plain `Request -> Response` function (`http.ts`); its
 * response is written out whole with `content-length` (a `HEAD` gets the
 * head only). A `/ws` upgrade returns an {@linkcode Upgrade}: its `101` is
 * written and the socket, with its connection slot and the bytes already
 * read, is handed to the WebSocket transport.
 *
 * @module
 */

import { concatBytes, isDisconnect, pause } from "../io.ts";
import { within } from "../../deadline.ts";
import { closeConn, type Conn, REFUSE_MS } from "../listener.ts";
import { errorText, type Logger } from "../../log.ts";
import type { DisconnectReason, Metrics } from "../../metrics.ts";
import { type RequestHead, RequestHeadReader, writeResponseHead } from "./request.ts";
import type { Slot } from "../slot.ts";
import { TokenBucket } from "../../hub/flood.ts";

/**
 * Requests one connection is answered at once, then a second: a page load
 * is a handful (the page, its script, its style, `/here`), over a few
 * connections; a client past it waits, and so does nobody else.
 */
export const REQUEST_RATE = { burst: 32, perSecond: 16 };

/** A response that turns the connection into something else (a WebSocket). */
export class Upgrade {
  /**
   * `headers` go with the `101`; `take` is handed the socket, its slot
   * and the bytes read past the request, once the `101` is written.
   */
  constructor(
    readonly headers: readonly (readonly [string, string])[],
    readonly take: (conn: Conn, slot: Slot, rest: Uint8Array) => void,
  ) {}
}

/** The routes: a request from `address` to a response, or an upgrade. */
export type Handler = (
  request: Request,
  address: string,
) => Response | Upgrade | Promise<Response | Upgrade>;

/** Options for {@linkcode HttpConnections}. */
export interface HttpOptions {
  handler: Handler;
  /** Milliseconds a request head (and a response's writing) may take. */
  headerTimeoutMs: number;
  /** Milliseconds a keep-alive connection may wait for its next request. */
  idleTimeoutMs: number;
  /** Whether the listener speaks TLS (the request URLs say `https:`). */
  tls: boolean;
  metrics: Metrics;
  log: Logger;
}

/** The largest request body read past (and dropped); a larger one gets 413. */
export const BODY_SKIP_MAX = 16 * 1024;

/** Bytes read from a connection at a time, and so the most pipelined bytes held. */
const READ_BYTES = 16 * 1024;

/** The open HTTP connections of one listener (upgraded ones are the WebSocket's). */
export class HttpConnections {
  readonly #options: HttpOptions;
  readonly #open = new Map<Conn, Promise<void>>();

  constructor(options: HttpOptions) {
    this.#options = options;
  }

  /** Serves a connection counted at accept; its slot is released once it is closed. */
  serve(conn: Conn, slot: Slot): void {
    try {
      if ("setNoDelay" in conn) conn.setNoDelay(true);
    } catch {
      // Not fatal: latency tuning only.
    }
    const served = serve(conn, slot, this.#options).finally(() => this.#open.delete(conn));
    this.#open.set(conn, served);
  }

  /** Closes every connection not upgraded, and waits for their ends. */
  async close(): Promise<void> {
    for (const conn of this.#open.keys()) closeConn(conn);
    await Promise.all(this.#open.values());
  }
}

/** Answers the requests of one connection in order, until it closes or is closed. */
async function serve(conn: Conn, slot: Slot, options: HttpOptions): Promise<void> {
  const { metrics, log } = options;
  const address = conn.remoteAddr.hostname;
  const reader = new RequestHeadReader();
  const requests = new TokenBucket(REQUEST_RATE, Date.now);
  const buf = new Uint8Array(READ_BYTES);
  let rest = new Uint8Array(0);
  let upgraded = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut: DisconnectReason | undefined;
  const arm = (ms: number, reason: DisconnectReason) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = reason;
      closeConn(conn);
    }, ms);
  };
  try {
    // A silent connection gets no longer than a slow head.
    arm(options.headerTimeoutMs, "header_timeout");
    let idle = false;
    for (;;) {
      let result = rest.length > 0 ? reader.push(rest) : undefined;
      while (result === undefined || result.type === "more") {
        const n = await conn.read(buf);
        if (n === null) return;
        if (idle) {
          idle = false;
          arm(options.headerTimeoutMs, "header_timeout");
        }
        result = reader.push(buf.subarray(0, n));
      }
      if (result.type === "error") {
        log.debug("bad request", { address, status: result.status, why: result.reason });
        await write(conn, plain(result.status, `${result.reason}.\n`), false, false);
        return;
      }
      slot.heardFrom();
      // A copy: `buf` is read into again.
      rest = result.rest.slice();
      const head = result.head;
      arm(options.headerTimeoutMs, "write_timeout");
      if (head.contentLength > BODY_SKIP_MAX) {
        await write(conn, plain(413, "This server takes no request bodies.\n"), false, false);
        return;
      }
      // A small body is read past (under the same timer), so a form post
      // still gets its 405 on a connection that stays usable.
      for (let skip = head.contentLength; skip > 0;) {
        if (rest.length === 0) {
          const n = await conn.read(buf);
          if (n === null) return;
          rest = buf.slice(0, n);
        }
        const taken = Math.min(skip, rest.length);
        rest = rest.subarray(taken);
        skip -= taken;
      }
      if (!requests.take()) {
        // At most a token's time (1/16 s): a connection closed meanwhile ends that much later.
        await pause(requests.wait());
        requests.take();
      }
      const response = await answer(head, address, options);
      if (response instanceof Upgrade) {
        await writeAll(conn, writeResponseHead(101, response.headers));
        clearTimeout(timer);
        upgraded = true;
        response.take(conn, slot, rest);
        return;
      }
      await write(conn, response, head.method === "HEAD", head.keepAlive);
      if (!head.keepAlive) return;
      if (rest.length > 0) arm(options.headerTimeoutMs, "header_timeout");
      else {
        idle = true;
        arm(options.idleTimeoutMs, "idle_timeout");
      }
    }
  } catch (e) {
    if (!isDisconnect(e)) log.error("http connection failed", { error: errorText(e) });
  } finally {
    clearTimeout(timer);
    if (timedOut) {
      metrics.disconnected(timedOut);
      log.debug("http connection timed out", { address, why: timedOut });
    }
    if (!upgraded) {
      closeConn(conn);
      slot.release();
    }
  }
}

/**
 * Answers a connection over the caps and closes it within twice
 * {@linkcode REFUSE_MS}, whatever the peer does. Its request head is read
 * first (for up to `REFUSE_MS`), so a WebSocket upgrade can be told why in a way
 * a page can read: `upgrade` gives the bytes for that (see `ws.ts`), or
 * undefined; anything else, a silent peer included, gets `refusal` (a `503`).
 */
export function refuseRequest(
  conn: Conn,
  refusal: Uint8Array,
  upgrade: (head: RequestHead) => Promise<Uint8Array | undefined>,
): void {
  const answer = (async () => {
    const reader = new RequestHeadReader();
    const buf = new Uint8Array(READ_BYTES);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return undefined; // gone: nothing to say
      const result = reader.push(buf.subarray(0, n));
      if (result.type === "more") continue;
      return (result.type === "head" ? await upgrade(result.head) : undefined) ?? refusal;
    }
  })().catch(() => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<Uint8Array>((resolve) => {
    timer = setTimeout(() => resolve(refusal), REFUSE_MS);
  });
  const work = Promise.race([answer, late])
    .then((bytes) => bytes && writeAll(conn, bytes))
    .catch(() => {})
    .finally(() => clearTimeout(timer));
  within(work, 2 * REFUSE_MS).finally(() => closeConn(conn));
}

/** The handler's answer to a head, or the status that says why there is none. */
async function answer(
  head: RequestHead,
  address: string,
  options: HttpOptions,
): Promise<Response | Upgrade> {
  let request: Request;
  try {
    const host = head.headers.get("host") ?? "localhost";
    const target = head.target === "*" ? "/" : head.target;
    request = new Request(`${options.tls ? "https" : "http"}://${host}${target}`, {
      method: head.method,
      headers: [...head.headers],
    });
  } catch (e) {
    // A Host that is no host name, or a method fetch forbids (CONNECT, TRACE).
    if (!(e instanceof TypeError)) throw e;
    return plain(400, "Bad request.\n");
  }
  try {
    return await options.handler(request, address);
  } catch (e) {
    options.log.error("http handler failed", { error: errorText(e) });
    return plain(500, "Internal server error.\n");
  }
}

function plain(status: number, body: string): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/** Writes a response whole: its head with `content-length`, then its body unless `headOnly`. */
async function write(
  conn: Conn,
  response: Response,
  headOnly: boolean,
  keepAlive: boolean,
): Promise<void> {
  const body = response.body ? new Uint8Array(await response.arrayBuffer()) : new Uint8Array(0);
  const headers: [string, string][] = [...response.headers];
  if (response.status !== 304) headers.push(["content-length", String(body.length)]);
  if (!keepAlive) headers.push(["connection", "close"]);
  const head = writeResponseHead(response.status, headers);
  await writeAll(conn, headOnly || body.length === 0 ? head : concatBytes([head, body]));
}

async function writeAll(conn: Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}
