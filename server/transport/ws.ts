/**
 * The WebSocket transport, on the raw connection our HTTP/1.1 server hands
 * over after a `101` (`web/http1.ts`): RFC 6455 framing by our own codec
 * (`web/frames.ts`), wired to a {@linkcode Session}, which does everything
 * else a connection's life needs (caps, join timeout, slow consumers,
 * refusals, leaving). It reads like the terminal transport (`terminal/tcp.ts`).
 *
 * In: a text message is parsed with {@linkcode parseClientMessage} into a
 * command. One over {@linkcode FRAME_MAX} UTF-16 units (up to
 * {@linkcode MESSAGE_MAX_BYTES} bytes) is refused with the non-fatal
 * `frame_too_large` and the socket stays; one whose frame header announces
 * more than {@linkcode MESSAGE_MAX_BYTES} is failed with close 1009 before
 * any of it is read. A binary message gets `binary_frame`. An unmasked frame,
 * or any other breach of the protocol, closes with 1002 (1007 for bad UTF-8).
 * A ping is answered; after {@linkcode KEEPALIVE_MS} of silence the server
 * pings, and after twice that without a byte the connection is dropped.
 *
 * Out: events queued until the next flush (see `flush.ts`) go out as one
 * frame, an object or an array, serialized and framed once however many
 * members get the same batch ({@linkcode framesOf}); a batch over
 * {@linkcode FRAME_OUT_MAX_BYTES} is split into several frames, each a valid
 * array (one event alone is never split: the largest, a welcome with 1,000
 * long messages, is about 6 MB). Bytes are counted for the slow-consumer rule
 * as they are queued, and as each write is taken.
 *
 * Closing: a server-side close sends the close frame after what is queued,
 * then waits for the peer's close, but the TCP connection is torn down after
 * the close timeout whatever the peer does. An abort (a slow consumer, the
 * end of shutdown's grace) drops what is queued: the write in flight and a
 * 1008 close frame get at most {@linkcode ABORT_MS}, then the connection is
 * torn down.
 *
 * @module
 */

import { flushes, writes } from "./flush.ts";
import {
  type ChatError,
  type ClientMessage,
  encodeEvent,
  encodeFrame,
  type ErrorCode,
  FRAME_MAX,
  parseClientMessage,
  type ServerEvent,
} from "../../common/protocol.ts";
import type { ConnectionLimits } from "./limits.ts";
import type { Hub } from "../hub/hub.ts";
import { type Link, Session, type SessionOptions, Sessions } from "./session.ts";
import { joined } from "./stream.ts";
import { closeConn, type Conn } from "./listener.ts";
import { Upgrade } from "./web/http1.ts";
import { type RequestHead, writeResponseHead } from "./web/request.ts";
import { byteUnits, concatBytes, READ_MAX_BYTES, READ_MIN_BYTES } from "./io.ts";
import {
  acceptKey,
  encodeClose,
  encodePing,
  encodePong,
  encodeText,
  FrameDecoder,
  isWebSocketKey,
  type WsEvent,
} from "./web/frames.ts";

/** Milliseconds of silence before a ping; twice that, and the peer is dropped. */
export const KEEPALIVE_MS = 30_000;

/**
 * The largest message read whole, in bytes (1 MiB). Past {@linkcode FRAME_MAX}
 * UTF-16 units (at most 96 KiB of UTF-8), a message is refused with the
 * non-fatal `frame_too_large`, as a page or script that sent one too many
 * characters deserves; past this, the connection is failed with 1009 from
 * the frame header, before any of it is held. At most this much is held per
 * connection, where Deno's WebSocket held up to 64 MiB.
 */
export const MESSAGE_MAX_BYTES = 1024 * 1024;

/** The largest frame built from a batch of events (one event alone may be bigger). */
export const FRAME_OUT_MAX_BYTES = 1024 * 1024;

/** Options for {@linkcode webSocketEndpoint}. */
export type WebSocketOptions = Omit<SessionOptions, "limits"> & {
  /**
   * Milliseconds from a server-side close until the TCP connection is torn
   * down, whatever the peer does.
   */
  closeTimeoutMs?: number;
  /** @default {KEEPALIVE_MS} */
  keepaliveMs?: number;
};

/** The `/ws` endpoint of a hub. */
export interface WebSocketEndpoint {
  /**
   * Checks an upgrade request and answers it: an {@linkcode Upgrade} whose
   * socket becomes a member once it joins, or `426` for a version other than
   * 13. Throws TypeError if the request lacks what an upgrade needs.
   */
  upgrade(request: Request): Promise<Response | Upgrade>;
  /** Open sockets, joined or not. */
  readonly connections: number;
  /** Bytes waiting to be sent: in all, and to the one socket with the most. */
  queued(): { total: number; max: number };
  /**
   * Closes every socket, joined or not, giving each `graceMs` to take what
   * is queued for it. Idempotent.
   */
  close(graceMs: number): Promise<void>;
}

/** Milliseconds a closing socket gets by default (see {@linkcode WebSocketOptions}). */
const CLOSE_TIMEOUT_MS = 3_000;

/**
 * Milliseconds an aborted socket gets to take the write in flight and the
 * close frame that says why; shutdown's grace outlasts it.
 */
const ABORT_MS = 1_000;

/** Creates the WebSocket endpoint for `hub`. */
export function webSocketEndpoint(
  hub: Hub,
  limits: ConnectionLimits,
  options: WebSocketOptions = {},
): WebSocketEndpoint {
  const sessions = new Sessions(hub, "web", { limits, ...options });
  const timing = {
    closeMs: options.closeTimeoutMs ?? CLOSE_TIMEOUT_MS,
    keepaliveMs: options.keepaliveMs ?? KEEPALIVE_MS,
  };
  return {
    async upgrade(request) {
      const key = upgradeKey(request.method, request.headers);
      if (key instanceof Response) return key;
      const accept = await acceptKey(key);
      return new Upgrade(
        [["upgrade", "websocket"], ["connection", "Upgrade"], ["sec-websocket-accept", accept]],
        (conn, slot, rest) =>
          sessions.adopt(slot, (session) => new WebLink(conn, session, rest, timing)),
      );
    },
    get connections() {
      return sessions.size;
    },
    queued: () => sessions.queued(),
    close: (graceMs) => sessions.close(graceMs),
  };
}

/**
 * The `Sec-WebSocket-Key` of a request that may be upgraded, or the `426`
 * for another WebSocket version. Throws TypeError if it lacks what an
 * upgrade needs.
 */
function upgradeKey(
  method: string,
  headers: { get(name: string): string | null | undefined },
): string | Response {
  if (method !== "GET") throw new TypeError("an upgrade must be a GET");
  if (!tokens(headers.get("connection") ?? null).includes("upgrade")) {
    throw new TypeError("the Connection header does not say upgrade");
  }
  if (headers.get("sec-websocket-version") !== "13") {
    return new Response("Only WebSocket version 13 is spoken here.\n", {
      status: 426,
      headers: { "sec-websocket-version": "13", "content-type": "text/plain; charset=utf-8" },
    });
  }
  const key = headers.get("sec-websocket-key") ?? "";
  if (!isWebSocketKey(key)) throw new TypeError("Sec-WebSocket-Key is not 16 bytes in base64");
  return key;
}

/**
 * What a WebSocket upgrade over the connection caps is answered, so that a
 * page can read why (it cannot read an HTTP refusal): the `101`, the fatal
 * `error` and a close. Undefined if `head` is not a valid upgrade to `/ws`.
 */
export async function refusedUpgrade(
  head: RequestHead,
  error: ChatError,
): Promise<Uint8Array | undefined> {
  if (head.target.split("?")[0] !== "/ws") return undefined;
  if (head.headers.get("upgrade")?.toLowerCase() !== "websocket") return undefined;
  let key;
  try {
    key = upgradeKey(head.method, head.headers);
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    return undefined;
  }
  if (key instanceof Response) return undefined;
  const accept = await acceptKey(key);
  return concatBytes([
    writeResponseHead(101, [
      ["upgrade", "websocket"],
      ["connection", "Upgrade"],
      ["sec-websocket-accept", accept],
    ]),
    encodeText(encodeFrame([error])),
    encodeClose(1008, "too many connections"),
  ]);
}

/** A header's comma-separated tokens, lower-cased. */
function tokens(value: string | null): string[] {
  return (value ?? "").toLowerCase().split(",").map((t) => t.trim());
}

/** A text message as a command, or why it is refused. */
type Read = { ok: true; value: ClientMessage } | { ok: false; code: ErrorCode; message: string };

function read(text: string): Read {
  if (text.length > FRAME_MAX) {
    return {
      ok: false,
      code: "frame_too_large",
      message: `Frame too large (${text.length} characters, at most ${FRAME_MAX}).`,
    };
  }
  return parseClientMessage(text);
}

/** The event last measured by {@linkcode unitsOf}, and its length. */
let measured: ServerEvent | undefined;
let measuredUnits = 0;

/**
 * An event's serialized length in UTF-16 units, a lower bound of its UTF-8
 * bytes. The text is serialized once and cached ({@linkcode encodeEvent});
 * the room hands one event to member after member, so the last one is kept
 * at hand too, sparing a cache lookup per member.
 */
function unitsOf(event: ServerEvent): number {
  if (event !== measured) {
    measured = event;
    measuredUnits = encodeEvent(event).length;
  }
  return measuredUnits;
}

/** The batch last framed by {@linkcode framesOf} (its text), and its frames. */
let framedText: string | undefined;
let framed: Uint8Array[] = [];

/**
 * The frames of a batch of events, built once for the many members that get
 * the same batch (`encodeFrame` hands back the same text for it). Over
 * {@linkcode FRAME_OUT_MAX_BYTES}, the batch is split into arrays that each
 * fit, in order: counted in UTF-16 units, 3 bytes each at most.
 */
function framesOf(events: readonly ServerEvent[]): Uint8Array[] {
  const text = encodeFrame(events);
  if (text === framedText) return framed;
  framedText = text;
  const most = Math.floor(FRAME_OUT_MAX_BYTES / 3);
  if (text.length <= most || events.length === 1) return framed = [encodeText(text)];
  framed = [];
  let group: string[] = [];
  let units = 0;
  const cut = () => {
    framed.push(encodeText(group.length === 1 ? group[0]! : `[${group.join(",")}]`));
    group = [];
    units = 0;
  };
  for (const event of events) {
    const one = encodeEvent(event);
    if (group.length > 0 && units + one.length + 3 > most) cut();
    group.push(one);
    units += one.length + 1;
  }
  cut();
  return framed;
}

/** Timing of a {@linkcode WebLink}. */
interface Timing {
  closeMs: number;
  keepaliveMs: number;
}

/** Reads frames into commands for a session, writes events as frames. */
class WebLink implements Link {
  readonly #conn: Conn;
  readonly #session: Session;
  readonly #timing: Timing;
  readonly #decoder = new FrameDecoder({ maxMessageBytes: MESSAGE_MAX_BYTES });
  #events: ServerEvent[] = [];
  /** Bytes of the events queued, counted as UTF-16 units (never more than their UTF-8). */
  #pending = 0;
  #out: Uint8Array[] = [];
  #scheduled = false;
  #writing = false;
  /** A close was asked for: the close frame goes after what is queued. */
  #closing = false;
  /** Our close frame is queued; nothing more is. */
  #sentClose = false;
  /** The peer's close came (or it failed the protocol): the TCP connection ends once written. */
  #peerDone = false;
  #shut = false;
  /** Aborted: nothing more is counted, and the close frame ends it. */
  #aborted = false;
  /** The close code reported when the session closes. */
  #code = 1006;
  /** Whether any byte came since the keepalive last looked, and whether it pinged. */
  #heard = true;
  #pinged = false;
  readonly #keepalive: ReturnType<typeof setInterval>;
  #cut: ReturnType<typeof setTimeout> | undefined;
  readonly #shutDown = Promise.withResolvers<void>();

  constructor(conn: Conn, session: Session, rest: Uint8Array, timing: Timing) {
    this.#conn = conn;
    this.#session = session;
    this.#timing = timing;
    this.#keepalive = setInterval(() => this.#tick(), timing.keepaliveMs);
    // Closed when the reading has ended and the connection is shut.
    Promise.all([this.#read(rest), this.#shutDown.promise])
      .then(() => session.closed({ code: this.#code }));
  }

  send(event: ServerEvent): void {
    if (this.#sentClose) return;
    const n = this.#events.push(event);
    if (n === 1) this.#schedule();
    // Its length, then a comma, or brackets once the frame is an array.
    const bytes = unitsOf(event) + (n === 1 ? 0 : n === 2 ? 3 : 1);
    this.#pending += bytes;
    this.#session.queued(bytes);
  }

  joinTimedOut(seconds: number): void {
    this.send({
      type: "error",
      code: "join_timeout",
      message: `No join after ${seconds} s.`,
      fatal: true,
    });
  }

  close(): void {
    this.#closeWith(1001, "closed by server");
  }

  abort(reason: string): void {
    if (this.#shut || this.#aborted) return;
    this.#aborted = true;
    this.#events = [];
    this.#pending = 0;
    this.#out = [];
    // What is being written already finishes, then the close says why; a
    // peer that takes neither is cut off all the same, soon.
    this.#closeFrame = this.#sentClose ? undefined : encodeClose(1008, reason.slice(0, 60));
    this.#closing = true;
    clearTimeout(this.#cut);
    this.#cut = setTimeout(() => this.#end(), Math.min(ABORT_MS, this.#timing.closeMs));
    if (this.#closeFrame) this.#schedule();
    else if (!this.#writing) this.#end();
  }

  async #read(rest: Uint8Array): Promise<void> {
    // Small while the peer says little (most members, most of the time: every
    // idle member holds one), doubled while reads fill it.
    let buf = new Uint8Array(READ_MIN_BYTES);
    try {
      // Not before the session holds this link: the constructor runs inside
      // its `connect`, and frames sent with the upgrade (`rest`) are answered.
      await Promise.resolve();
      if (rest.length > 0) this.#input(rest);
      while (!this.#shut && !this.#peerDone) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        this.#heard = true;
        const frames = this.#input(buf.subarray(0, n));
        // Read on at INPUT_RATE's pace, and as the peer reads.
        await this.#session.readOn(frames + byteUnits(n));
        if (n === buf.length && buf.length < READ_MAX_BYTES) buf = new Uint8Array(buf.length * 2);
      }
    } catch (e) {
      if (!this.#shut) this.#session.failed("ws read failed", e);
    } finally {
      // The peer is gone, or said all it will: nothing more to wait for
      // but our last bytes, if it is still there to take them.
      if (!this.#peerDone) this.#end();
    }
  }

  /** Takes in what the peer sent; returns how many frames (messages and controls) it ended. */
  #input(chunk: Uint8Array): number {
    const events = this.#decoder.push(chunk);
    for (const event of events) this.#frame(event);
    return events.length;
  }

  #frame(event: WsEvent): void {
    const session = this.#session;
    switch (event.type) {
      case "text": {
        const message = read(event.text);
        if (message.ok) session.handle(message.value);
        else session.refuse(message.code, message.message);
        return;
      }
      case "binary":
        return session.refuse(
          "binary_frame",
          "Binary frames are not accepted: send JSON text.",
        );
      case "ping":
        if (!this.#sentClose) this.#control(encodePong(event.payload));
        return;
      case "pong":
        return;
      case "close": {
        this.#peerDone = true;
        this.#code = event.code ?? 1005;
        // A closing handshake the peer started means the page was closed
        // or left on purpose; one answering ours is only that.
        if (this.#sentClose) return this.#end();
        const leave = () => {
          // 1001, "going away": the browser closed the tab or left the page.
          if (event.code === 1001) session.pageClosed();
          else session.quit();
          this.#closeWith(event.code ?? 1000, "");
        };
        // Frames sent before the close that wait on Redis (`--redis`) are carried out first.
        const pending = session.settled();
        if (pending === undefined) return leave();
        void pending.then(leave);
        return;
      }
      case "fail":
        this.#peerDone = true;
        this.#code = event.code;
        return this.#closeWith(event.code, event.reason);
    }
  }

  /** Queues the close frame after what is queued; the connection ends within the close timeout. */
  #closeWith(code: number, reason: string): void {
    if (this.#closing || this.#shut) return;
    this.#closing = true;
    // A peer that neither reads nor answers gets no longer than this.
    this.#cut = setTimeout(() => this.#end(), this.#timing.closeMs);
    this.#closeFrame = encodeClose(code, reason);
    this.#schedule();
  }

  #closeFrame: Uint8Array | undefined;

  #control(bytes: Uint8Array): void {
    if (this.#aborted) return;
    this.#session.queued(bytes.length);
    this.#out.push(bytes);
    this.#schedule();
  }

  #tick(): void {
    if (this.#heard) {
      this.#heard = false;
      this.#pinged = false;
    } else if (!this.#pinged) {
      this.#pinged = true;
      if (!this.#sentClose) this.#control(encodePing(new Uint8Array(0)));
    } else {
      this.#end();
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#shut) return;
    this.#scheduled = true;
    flushes.schedule(this.#flushNow);
  }

  readonly #flushNow = () => this.#flush();

  #flush(): void {
    this.#scheduled = false;
    if (this.#shut) return;
    const events = this.#events;
    if (events.length > 0) {
      const frames = framesOf(events);
      let bytes = 0;
      for (const frame of frames) {
        bytes += frame.length;
        this.#out.push(frame);
      }
      // The frames' bytes, past the units counted as they were queued.
      if (!this.#aborted) this.#session.queued(bytes - this.#pending);
      this.#events = [];
      this.#pending = 0;
    }
    if (this.#closeFrame && !this.#sentClose) {
      this.#sentClose = true;
      // Counted like any bytes queued, or its write would be taken from nothing.
      if (!this.#aborted) this.#session.queued(this.#closeFrame.length);
      this.#out.push(this.#closeFrame);
    }
    if (!this.#writing) void this.#write();
  }

  async #write(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#out.length > 0 && !this.#shut) {
        // Taken when the write gate lets it go, as a line transport's are
        // (`stream.ts`): frames queued while it waited go in the same write.
        let n = await writes.write(this.#conn, this.#take);
        const bytes = this.#taking;
        if (!this.#shut && !this.#aborted) this.#session.taken(n);
        for (let off = n; off < bytes.length && !this.#shut; off += n) {
          n = await writes.write(this.#conn, bytes.subarray(off));
          if (!this.#shut && !this.#aborted) this.#session.taken(n);
        }
      }
    } catch (e) {
      if (!this.#shut) this.#session.failed("ws write failed", e);
      return this.#end();
    } finally {
      this.#writing = false;
    }
    // Our close went out after the peer's (the handshake is done), or
    // after an abort (nothing is waited for).
    if (this.#sentClose && (this.#peerDone || this.#aborted)) this.#end();
  }

  /** The frames queued, as one array, taken from the queue: see {@linkcode WebLink.#write}. */
  readonly #take = (): Uint8Array => {
    const bytes = this.#shut ? new Uint8Array(0) : joined(this.#out);
    this.#out = [];
    return this.#taking = bytes;
  };
  #taking: Uint8Array = new Uint8Array(0);

  /** Tears the TCP connection down now. */
  #end(): void {
    if (this.#shut) return;
    this.#shut = true;
    clearInterval(this.#keepalive);
    clearTimeout(this.#cut);
    this.#events = [];
    this.#out = [];
    closeConn(this.#conn);
    this.#shutDown.resolve();
  }
}
