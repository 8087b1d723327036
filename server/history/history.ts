/**
 * Where the room keeps what was said: the {@linkcode HistoryStore} contract,
 * and {@linkcode MemoryHistory}, the store that keeps it in memory only.
 * `sqlite.ts` keeps it in SQLite instead.
 *
 * Ids come from the store, not the room, so a store that outlives the process
 * keeps them strictly increasing and never reused across restarts.
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

/** Keeps the last `keep` room messages in memory. */
export class MemoryHistory implements HistoryStore {
  readonly #keep: number;
  readonly #messages: ChatMessage[] = [];
  #lastId = 0;
  /** The highest id removed by retention. */
  #trimmedTo = 0;

  constructor(keep = 10_000) {
    this.#keep = keep;
  }

  nextId(): number {
    return ++this.#lastId;
  }

  lastId(): number {
    return this.#lastId;
  }

  append(message: ChatMessage): void {
    this.#messages.push(message);
    if (this.#messages.length > this.#keep) {
      this.#trimmedTo = this.#messages.shift()?.id ?? this.#trimmedTo;
    }
  }

  recent(count: number): ChatMessage[] {
    return count > 0 ? this.#messages.slice(-count) : [];
  }

  after(after: number, limit: number): Backlog {
    const newer = this.#messages.filter((m) => m.id > after);
    return {
      messages: limit > 0 ? newer.slice(-limit) : [],
      gap: this.#trimmedTo > after || newer.length > limit,
    };
  }

  close(): void {}
}
