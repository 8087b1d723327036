/**
 * The WebSocket transport: upgrades a request on `/ws` and wires the socket
 * to the room as a {@linkcode Member}.
 *
 * Frames in are parsed with {@linkcode parseClientMessage} and handed to
 * {@linkcode Room.handle}; events out are queued and sent at the next flush
 * (see `flush.ts`), one event as an object or several as an array (see
 * {@linkcode encodeFrame}).
 *
 * @module
 */

import { DEFAULTS } from "../config.ts";
import { flushes } from "./flush.ts";
import { encodeFrame, parseClientMessage, type ServerEvent } from "../../common/protocol.ts";
import { type ConnectionLimits, QUEUE_SOFT_BYTES, SendQueueWatch } from "./limits.ts";
import { type Logger, SILENT } from "../log.ts";
import { Metrics } from "../metrics.ts";
import type { Member, Room } from "../hub/room.ts";
import { FRAME_MAX } from "../../common/protocol.ts";

/** Seconds without a pong before Deno closes a silent peer. */
const IDLE_TIMEOUT_S = 60;

/** Options for {@linkcode webSocketEndpoint}. */
export interface WebSocketOptions {
  /** Seconds a socket may take to join. @default {DEFAULTS.joinTimeout} */
  joinTimeout?: number;
  /** Counts refusals and slow consumers. @default {new Metrics()} */
  metrics?: Metrics;
  /** @default {SILENT} */
  log?: Logger;
}

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
  /** Closes every socket, joined or not, and waits until they are closed. */
  close(): Promise<void>;
}

/** Creates the WebSocket endpoint for `room`. */
export function webSocketEndpoint(
  room: Room,
  limits: ConnectionLimits,
  options: WebSocketOptions = {},
): WebSocketEndpoint {
  const open = new Map<WebMember, Promise<void>>();
  const metrics = options.metrics ?? new Metrics();
  const log = options.log ?? SILENT;
  const joinTimeout = options.joinTimeout ?? DEFAULTS.joinTimeout;
  return {
    upgrade(request, address) {
      const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout: IDLE_TIMEOUT_S });
      const release = limits.open(address);
      if (typeof release === "string") {
        metrics.refused("too_many_connections");
        log.warn("connection refused", { via: "web", address, why: release });
        // Upgraded only to say why: a page cannot read an HTTP refusal.
        socket.onopen = () => {
          socket.send(encodeFrame([{
            type: "error",
            code: "too_many_connections",
            message: release,
            fatal: true,
          }]));
          socket.close(1008, "too many connections");
        };
        return response;
      }
      const member = new WebMember(socket, address, () => {
        metrics.disconnected("slow_consumer", "web");
        log.warn("slow consumer disconnected", {
          nick: room.nickOf(member),
          via: "web",
          address,
          queued: socket.bufferedAmount,
        });
        room.leave(member, "too slow: stopped reading");
      });
      const { promise, resolve } = Promise.withResolvers<void>();
      open.set(member, promise);
      log.debug("connected", { via: "web", address });
      // A socket that never joins would hold its connection slot forever.
      let timer: ReturnType<typeof setTimeout> | undefined = setTimeout(() => {
        metrics.disconnected("join_timeout");
        log.warn("join timeout", { via: "web", address });
        member.send({
          type: "error",
          code: "join_timeout",
          message: `No join after ${joinTimeout} s.`,
          fatal: true,
        });
        member.close();
      }, joinTimeout * 1000);
      socket.onmessage = (e) => {
        receive(room, member, e.data, metrics);
        // Joined: the timer has nothing left to do.
        if (timer !== undefined && room.nickOf(member) !== undefined) {
          clearTimeout(timer);
          timer = undefined;
        }
      };
      socket.onclose = (e) => {
        clearTimeout(timer);
        open.delete(member);
        release();
        log.debug("disconnected", { via: "web", address, code: e.code });
        // A closing handshake means the page was closed or left on purpose.
        room.leave(member, e.wasClean ? "quit" : "connection lost");
        resolve();
      };
      // An error is always followed by close, which does the cleaning up.
      socket.onerror = () => {};
      return response;
    },
    get connections() {
      return open.size;
    },
    queued() {
      let total = 0, max = 0;
      for (const member of open.keys()) {
        total += member.queued;
        max = Math.max(max, member.queued);
      }
      return { total, max };
    },
    async close() {
      const closed = [...open.values()];
      for (const member of open.keys()) member.close();
      await Promise.all(closed);
    },
  };
}

function receive(room: Room, member: WebMember, data: unknown, metrics: Metrics): void {
  if (typeof data !== "string") {
    metrics.refused("binary_frame");
    return member.send({
      type: "error",
      code: "binary_frame",
      message: "Binary frames are not accepted: send JSON text.",
    });
  }
  if (data.length > FRAME_MAX) {
    metrics.refused("frame_too_large");
    return member.send({
      type: "error",
      code: "frame_too_large",
      message: `Frame too large (${data.length} characters, at most ${FRAME_MAX}).`,
    });
  }
  const parsed = parseClientMessage(data);
  if (!parsed.ok) {
    metrics.refused(parsed.code);
    return member.send({ type: "error", code: parsed.code, message: parsed.message });
  }
  room.handle(member, parsed.value);
}

/** A browser tab (or any WebSocket client) as a room member. */
class WebMember implements Member {
  readonly via = "web";
  readonly address: string;
  readonly #socket: WebSocket;
  readonly #onSlow: () => void;
  /** A peer that stops reading grows `bufferedAmount`; see {@linkcode SendQueueWatch}. */
  readonly #watch = new SendQueueWatch();
  /** `bufferedAmount` after the last send. */
  #lastQueued = 0;
  #queue: ServerEvent[] = [];
  #closing = false;

  constructor(socket: WebSocket, address: string, onSlow: () => void) {
    this.#socket = socket;
    this.address = address;
    this.#onSlow = onSlow;
  }

  send(event: ServerEvent): void {
    if (this.#closing) return;
    this.#queue.push(event);
    // Everything queued until the next flush goes out as one frame.
    if (this.#queue.length === 1) flushes.schedule(this.#flushNow);
  }

  /** Bytes the socket has yet to send. */
  get queued(): number {
    return this.#socket.bufferedAmount;
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#queue.length === 0) this.#end();
  }

  readonly #flushNow = () => this.#flush();

  #flush(): void {
    const events = this.#queue;
    this.#queue = [];
    if (this.#socket.readyState === WebSocket.OPEN && events.length > 0) {
      // Less waiting than after the last send: the peer took some. (Only
      // asked while over the soft bound: each read is a call into the runtime.)
      if (this.#lastQueued > QUEUE_SOFT_BYTES && this.#socket.bufferedAmount < this.#lastQueued) {
        this.#watch.progress();
      }
      this.#socket.send(encodeFrame(events));
      this.#lastQueued = this.#socket.bufferedAmount;
      if (this.#watch.tooSlow(this.#lastQueued)) {
        this.#closing = true;
        this.#onSlow();
        this.#socket.close(1008, "too slow: stopped reading");
        return;
      }
    }
    if (this.#closing) this.#end();
  }

  #end(): void {
    const socket = this.#socket;
    if (socket.readyState === WebSocket.OPEN) socket.close(1001, "closed by server");
    else if (socket.readyState === WebSocket.CONNECTING) {
      socket.addEventListener("open", () => socket.close(1001, "closed by server"));
    }
  }
}
