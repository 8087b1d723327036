/**
 * The WebSocket transport: upgrades a request on `/ws` and wires the socket
 * to a {@linkcode Session}, which does everything else a connection's life
 * needs (caps, join timeout, slow consumers, refusals, leaving).
 *
 * Frames in are parsed with {@linkcode parseClientMessage} into commands for
 * the session; events out are queued and sent at the next flush (see
 * `flush.ts`), one event as an object or several as an array, serialized once
 * however many members get them (see {@linkcode encodeFrame}).
 *
 * @module
 */

import { flushes } from "./flush.ts";
import {
  type ClientMessage,
  encodeEvent,
  encodeFrame,
  type ErrorCode,
  FRAME_MAX,
  parseClientMessage,
  type ServerEvent,
} from "../../common/protocol.ts";
import { type ConnectionLimits, QUEUE_SOFT_BYTES } from "./limits.ts";
import type { Room } from "../hub/room.ts";
import { type Link, Session, type SessionOptions, Sessions } from "./session.ts";

/** Seconds without a pong before Deno closes a silent peer. */
const IDLE_TIMEOUT_S = 60;

/** Options for {@linkcode webSocketEndpoint}. */
export type WebSocketOptions = Omit<SessionOptions, "limits">;

/** The `/ws` endpoint of one room. */
export interface WebSocketEndpoint {
  /**
   * Upgrades a request; the socket becomes a member once it joins. Throws
   * TypeError if the request lacks what an upgrade needs.
   */
  upgrade(request: Request, address: string): Response;
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

/** Creates the WebSocket endpoint for `room`. */
export function webSocketEndpoint(
  room: Room,
  limits: ConnectionLimits,
  options: WebSocketOptions = {},
): WebSocketEndpoint {
  const sessions = new Sessions(room, "web", { limits, ...options });
  return {
    upgrade(request, address) {
      const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout: IDLE_TIMEOUT_S });
      const session = sessions.open(address, (session) => new WebLink(socket, session));
      if (!(session instanceof Session)) {
        // Upgraded only to say why: a page cannot read an HTTP refusal.
        socket.onopen = () => {
          socket.send(encodeFrame([session]));
          socket.close(1008, "too many connections");
        };
        return response;
      }
      socket.onmessage = (e) => {
        const message = read(e.data);
        if (message.ok) session.handle(message.value);
        else session.refuse(message.code, message.message);
      };
      socket.onclose = (e) => {
        // A closing handshake means the page was closed or left on purpose.
        if (e.wasClean) session.quit();
        session.closed({ code: e.code });
      };
      // An error is always followed by close, which does the cleaning up.
      socket.onerror = () => {};
      return response;
    },
    get connections() {
      return sessions.size;
    },
    queued: () => sessions.queued(),
    close: (graceMs) => sessions.close(graceMs),
  };
}

/** A frame as a command, or why it is refused. */
type Read = { ok: true; value: ClientMessage } | { ok: false; code: ErrorCode; message: string };

function read(data: unknown): Read {
  if (typeof data !== "string") {
    return {
      ok: false,
      code: "binary_frame",
      message: "Binary frames are not accepted: send JSON text.",
    };
  }
  if (data.length > FRAME_MAX) {
    return {
      ok: false,
      code: "frame_too_large",
      message: `Frame too large (${data.length} characters, at most ${FRAME_MAX}).`,
    };
  }
  return parseClientMessage(data);
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

/** Writes events to a browser tab (or any WebSocket client), one frame per flush. */
class WebLink implements Link {
  readonly #socket: WebSocket;
  readonly #session: Session;
  #queue: ServerEvent[] = [];
  /**
   * Bytes of the frame being gathered, counted as events are queued: its
   * length in UTF-16 units, never more than its UTF-8 bytes.
   */
  #pending = 0;
  /** `bufferedAmount` when last asked: each read is a call into the runtime. */
  #buffered = 0;
  #closing = false;

  constructor(socket: WebSocket, session: Session) {
    this.#socket = socket;
    this.#session = session;
  }

  send(event: ServerEvent): void {
    const n = this.#queue.push(event);
    // Everything queued until the next flush goes out as one frame.
    if (n === 1) {
      flushes.schedule(this.#flushNow);
      // Over the soft bound, the watch needs to know if the peer took some.
      if (this.#buffered > QUEUE_SOFT_BYTES) this.look();
    }
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
    if (this.#closing) return;
    this.#closing = true;
    if (this.#queue.length === 0) this.#end(1001, "closed by server");
  }

  abort(reason: string): void {
    this.#closing = true;
    this.#queue = [];
    this.#pending = 0;
    if (this.#socket.readyState === WebSocket.OPEN) return this.#end(1008, reason);
    // Closing already: it cannot be cut off harder. The HTTP server's
    // shutdown ends what is left; the session need not wait for it.
    this.#session.closed({ code: 1006 });
  }

  look(): void {
    const now = this.#socket.bufferedAmount;
    if (now < this.#buffered) this.#session.taken(this.#buffered - now);
    this.#buffered = now;
  }

  readonly #flushNow = () => this.#flush();

  #flush(): void {
    const events = this.#queue;
    const pending = this.#pending;
    this.#queue = [];
    this.#pending = 0;
    if (events.length > 0 && this.#socket.readyState === WebSocket.OPEN) {
      const counted = this.#buffered + pending;
      this.#socket.send(encodeFrame(events));
      this.#buffered = this.#socket.bufferedAmount;
      // More than counted: the frame had bytes past its length in units.
      // Less: the peer took some since it was last asked.
      if (this.#buffered > counted) this.#session.queued(this.#buffered - counted);
      else if (this.#buffered < counted) this.#session.taken(counted - this.#buffered);
    } else if (pending > 0) {
      // Not sent, and never will be: the socket is closing.
      this.#session.queued(-pending);
    }
    if (this.#closing) this.#end(1001, "closed by server");
  }

  #end(code: number, reason: string): void {
    const socket = this.#socket;
    if (socket.readyState === WebSocket.OPEN) socket.close(code, reason);
    else if (socket.readyState === WebSocket.CONNECTING) {
      socket.addEventListener("open", () => socket.close(code, reason));
    }
  }
}
