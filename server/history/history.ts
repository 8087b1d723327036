/**
 * Where the room keeps what was said: the {@linkcode HistoryStore} contract,
 * and {@linkcode MemoryHistory}, the store that keeps it in memory only.
 * `sqlite.ts` keeps it in SQLite instead.
 *
 * Ids come from the store, not the room, so a store that outlives the process
 * keeps them strictly increasing and never reused across restarts.
 *
 * {@linkcode BoundedLog} is the one list of recent messages kept in memory
 * within a bound: {@linkcode MemoryHistory} keeps the room's in one, and each
 * seat (`hub/seat.ts`) its private messages. It remembers the highest id it
 * dropped, so that "everything after id N" knows when some of it is gone.
 *
 * @module
 */

import type { ChatMessage } from "../../common/protocol.ts";

/** Room messages after a given id, and whether some of them are gone. */
export interface Backlog {
  /** Oldest first. */
  messages: ChatMessage[];
  /**
   * True if messages after the id asked for are missing here: removed by
   * retention, or more of them than the limit asked for.
   */
  gap: boolean;
}

/** The room's memory of what was said. */
export interface HistoryStore {
  /** A new message id: greater than every id handed out before. */
  nextId(): number;
  /** The last id handed out (0 before the first); a `since` above it is not ours. */
  lastId(): number;
  /** Keeps a room message. Throws if it cannot; the room then delivers nothing. */
  append(message: ChatMessage): void;
  /** The last `count` room messages, oldest first. */
  recent(count: number): ChatMessage[];
  /** Room messages with an id above `after`: the last `limit` of them. */
  after(after: number, limit: number): Backlog;
  /** Releases what the store holds open. Idempotent. */
  close(): void;
}

/**
 * The last `keep` messages, oldest first: adding one past the bound drops the
 * oldest, and the highest id dropped is remembered to tell a reader of a gap.
 */
export class BoundedLog {
  readonly #keep: number;
  readonly #messages: ChatMessage[] = [];
  /** The highest id dropped to stay within the bound. */
  #droppedTo = 0;

  constructor(keep: number) {
    this.#keep = keep;
  }

  /** Adds a message, which must have a higher id than every one before. */
  push(message: ChatMessage): void {
    this.#messages.push(message);
    if (this.#messages.length > this.#keep) {
      this.#droppedTo = this.#messages.shift()?.id ?? this.#droppedTo;
    }
  }

  /** The last `count` messages, oldest first. */
  recent(count: number): ChatMessage[] {
    return count > 0 ? this.#messages.slice(-count) : [];
  }

  /**
   * Messages with an id above `after`, the last `limit` of them; `gap` if
   * some after it were dropped, or are past the limit.
   */
  after(after: number, limit = Infinity): Backlog {
    const newer = this.#messages.filter((m) => m.id > after);
    return {
      messages: limit > 0 ? newer.slice(-limit) : [],
      gap: this.#droppedTo > after || newer.length > limit,
    };
  }
}

/** Keeps the last `keep` room messages in memory. */
export class MemoryHistory implements HistoryStore {
  readonly #messages: BoundedLog;
  #lastId = 0;

  constructor(keep = 10_000) {
    this.#messages = new BoundedLog(keep);
  }

  nextId(): number {
    return ++this.#lastId;
  }

  lastId(): number {
    return this.#lastId;
  }

  append(message: ChatMessage): void {
    this.#messages.push(message);
  }

  recent(count: number): ChatMessage[] {
    return this.#messages.recent(count);
  }

  after(after: number, limit: number): Backlog {
    return this.#messages.after(after, limit);
  }

  close(): void {}
}
