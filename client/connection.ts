/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * The page's link to the server: one WebSocket at a time, reopened by itself
 * with exponential backoff and jitter when it drops, and a send queue that
 * waits while the socket's `bufferedAmount` is high or the socket is down, so
 * nothing typed is dropped on the floor.
 *
 * @module
 */

import {
  type ClientMessage,
  MEMBER_ROOMS_MAX,
  parseServerFrame,
  type ServerEvent,
} from "../common/protocol.ts";
import { ROOM_INPUT_MAX } from "../common/room.ts";

/** What the page shows about the connection. */
export type LinkState =
  | { kind: "connecting" }
  | { kind: "open" }
  | { kind: "waiting"; retryAt: number }
  | { kind: "closed" };

/** What the connection reports to the page. */
export interface LinkHandlers {
  /** The socket opened: say `join` now. */
  open(): void;
  event(event: ServerEvent): void;
  state(state: LinkState): void;
}

/** Reconnect delays: the first retry within `BASE_MS`, growing to `MAX_MS`. */
const BASE_MS = 500;
const MAX_MS = 15_000;
/** Above this many queued bytes, new frames wait. */
const HIGH_WATER = 256 * 1024;
const DRAIN_POLL_MS = 50;

/** Delay before retry number `attempt` (0-based): exponential, with "equal jitter". */
export function backoff(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_MS, BASE_MS * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** A self-healing WebSocket to the chat server. */
export class Link {
  readonly #url: string;
  readonly #on: LinkHandlers;
  #socket: WebSocket | null = null;
  #attempt = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #drain: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  /** Frames waiting for the socket, in order. */
  #outbox: string[] = [];
  #ready = false;

  constructor(url: string, handlers: LinkHandlers) {
    this.#url = url;
    this.#on = handlers;
  }

  /** Opens the socket (again). */
  connect(): void {
    this.#stopped = false;
    clearTimeout(this.#retry);
    if (this.#socket) return;
    this.#on.state({ kind: "connecting" });
    const socket = new WebSocket(this.#url);
    this.#socket = socket;
    socket.onopen = () => this.#on.open();
    socket.onmessage = (e: MessageEvent<unknown>) => {
      if (typeof e.data !== "string") return;
      const parsed = parseServerFrame(e.data);
      if (!parsed.ok) return console.warn("chat: unreadable frame from server:", parsed.message);
      for (const event of parsed.value) this.#on.event(event);
    };
    socket.onclose = () => {
      this.#socket = null;
      this.#ready = false;
      if (this.#stopped) return this.#on.state({ kind: "closed" });
      const delay = backoff(this.#attempt++);
      this.#on.state({ kind: "waiting", retryAt: Date.now() + delay });
      this.#retry = setTimeout(() => this.connect(), delay);
    };
  }

  /** Marks the session usable (after `welcome`): queued frames go out. */
  ready(): void {
    this.#attempt = 0;
    this.#ready = true;
    this.#on.state({ kind: "open" });
    this.#pump();
  }

  /**
   * Sends now, or as soon as the server can take it. Returns false, sending
   * nothing, for a private message while offline (by the time it would go
   * out, its recipient's name may belong to someone else), and for anything
   * once the link is stopped (after a kick: nothing will take it).
   */
  send(message: ClientMessage): boolean {
    if (this.#stopped || (message.type === "msg" && !this.#ready)) return false;
    this.#outbox.push(JSON.stringify(message));
    this.#pump();
    return true;
  }

  /**
   * Sends ahead of the queue, bypassing readiness (for `join`), or not at all
   * if the socket is not open. Returns whether it was sent.
   */
  sendNow(message: ClientMessage): boolean {
    if (this.#socket?.readyState !== WebSocket.OPEN) return false;
    this.#socket.send(JSON.stringify(message));
    return true;
  }

  /** The frames still waiting to be sent, oldest first (for a reload to carry). */
  unsent(): string[] {
    return [...this.#outbox];
  }

  /** Queues frames a page before this one had not sent yet, ahead of any new ones. */
  sendCarried(frames: readonly string[]): void {
    this.#outbox.unshift(...frames);
    this.#pump();
  }

  /** Closes for good: no reconnecting. Queued frames are dropped. */
  stop(): void {
    this.#stopped = true;
    this.#outbox = [];
    clearTimeout(this.#retry);
    clearTimeout(this.#drain);
    this.#socket?.close(1000, "bye");
  }

  /** True once stopped for good ({@linkcode stop}), until the next {@linkcode connect}. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Skips the wait: reconnect now (for a "retry now" button or `online`). */
  retryNow(): void {
    if (!this.#socket && !this.#stopped) this.connect();
  }

  #pump(): void {
    const socket = this.#socket;
    clearTimeout(this.#drain);
    while (this.#outbox.length > 0 && this.#ready && socket?.readyState === WebSocket.OPEN) {
      if (socket.bufferedAmount > HIGH_WATER) {
        // WebSocket has no "drained" event; look again shortly.
        this.#drain = setTimeout(() => this.#pump(), DRAIN_POLL_MS);
        return;
      }
      socket.send(this.#outbox.shift()!);
    }
  }
}

/**
 * What a page that is being reloaded leaves for the page that replaces it
 * (in `sessionStorage`, this tab's only): the nickname it was in the chat
 * under, its seat's token, its rooms and the one shown (as `rooms.ts`'s
 * `rememberedText` writes them: this tab's, not the last any tab saved for
 * the next visit), and the lines typed but not sent yet (offline, or
 * behind a full socket). The new page joins again at once and sends those
 * lines (said in a room, plain or `/me`; other requests are not repeated).
 */
export interface Carried {
  nick: string;
  token?: string;
  rooms?: string;
  unsent: string[];
  /** The newest message id the page had: what came after, while it reloaded, is unread. */
  seen?: number;
  /** Each room's unread count and mention marker, as the sidebar showed them. */
  marks?: RoomMarks[];
}

/** A room's markers, carried over a reload. */
export interface RoomMarks {
  room: string;
  unread: number;
  mention: boolean;
}

/**
 * Longest stored text read back: a nickname and a token are short, and
 * lines typed offline are at most a few hundred of a few KB each; past
 * this, it is not something this page stored.
 */
const CARRIED_MAX = 4 * 1024 * 1024;

/** Reads what {@linkcode carriedText} stored; undefined if nothing usable. */
export function readCarried(text: string | null): Carried | undefined {
  if (text === null || text.length > CARRIED_MAX) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const stored: {
    nick?: unknown;
    token?: unknown;
    rooms?: unknown;
    unsent?: unknown;
    seen?: unknown;
    marks?: unknown;
  } = value;
  if (typeof stored.nick !== "string" || stored.nick.trim() === "") return undefined;
  const carried: Carried = {
    nick: stored.nick,
    unsent: Array.isArray(stored.unsent) ? stored.unsent.filter(isTypedLine) : [],
  };
  if (typeof stored.token === "string") carried.token = stored.token;
  if (typeof stored.rooms === "string") carried.rooms = stored.rooms;
  if (isCount(stored.seen)) carried.seen = stored.seen;
  if (Array.isArray(stored.marks)) {
    const marks = stored.marks.slice(0, MEMBER_ROOMS_MAX).filter(isRoomMarks);
    if (marks.length > 0) carried.marks = marks;
  }
  return carried;
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function isRoomMarks(value: unknown): value is RoomMarks {
  if (typeof value !== "object" || value === null) return false;
  const marks: { room?: unknown; unread?: unknown; mention?: unknown } = value;
  return typeof marks.room === "string" && marks.room.length <= ROOM_INPUT_MAX &&
    isCount(marks.unread) &&
    typeof marks.mention === "boolean";
}

/**
 * Whether a carried frame is a line said in a room (`say`, `me`): what is
 * sent again. Only its shape is looked at here; the server checks the rest,
 * as it does every frame.
 */
function isTypedLine(frame: unknown): frame is string {
  if (typeof frame !== "string") return false;
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    return false;
  }
  if (typeof value !== "object" || value === null) return false;
  const line: { type?: unknown; text?: unknown; room?: unknown } = value;
  return (line.type === "say" || line.type === "me") && typeof line.text === "string" &&
    (line.room === undefined || typeof line.room === "string");
}

/** What a page leaving while in the chat stores for the one that replaces it. */
export function carriedText(carried: Carried): string {
  return JSON.stringify(carried);
}
