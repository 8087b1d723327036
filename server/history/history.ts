/**
 * Where the rooms keep what was said: the {@linkcode HistoryStore} contract,
 * and {@linkcode MemoryHistory}, the store that keeps it in memory only.
 * `sqlite.ts` keeps it in SQLite instead.
 *
 * Ids come from the store, not the hub, so a store that outlives the process
 * keeps them strictly increasing and never reused across restarts: one
 * sequence for every room and for private messages (which are not stored).
 *
 * Each room's history is kept apart, under its key (`roomKey`), with its
 * topic, and outlives the room: a room nobody is in is gone from the room
 * list, and what was said there is still there when someone enters it again.
 * Retention (`keep`) is per room and exact: reads never return more than the
 * newest `keep` messages of a room, even while the rows past it still wait
 * to be deleted.
 *
 * {@linkcode BoundedLog} is the one list of recent messages kept in memory
 * within a bound: {@linkcode MemoryHistory} keeps the room's in one, and each
 * seat (`hub/seat.ts`) its private messages. It remembers the highest id it
 * dropped, so that "everything after id N" knows when some of it is gone.
 *
 * {@linkcode HistoryStore.range} is the general read that IRC's CHATHISTORY
 * (LATEST, BEFORE, AFTER, BETWEEN) and the `history` frame's bounds need:
 * messages strictly between two bounds, each a message id or a time, taken
 * from either end. Ids are one increasing sequence, but times are the
 * server's clock, which may step back, so a time bound filters and never
 * orders: the order is always the ids'.
 *
 * {@linkcode HistoryStore.search} finds a room's messages by their text,
 * folded as nicknames are (`foldText`, `common/nick.ts`: any case, and
 * look-alike letters as one), across the rooms a member is in, newest
 * first. Its cost is bounded by what a store keeps: at most `keep` messages
 * of each room are looked at, each by at most {@linkcode FOLDED_MAX} of its
 * folded text ({@linkcode searchFold}), and at most {@linkcode SEARCH_MAX}
 * returned.
 *
 * @module
 */

import type { ChatMessage, Topic } from "../../common/protocol.ts";
import { foldText } from "../../common/nick.ts";
import { MESSAGE_MAX } from "../../common/message.ts";

/** A room message, as stored: it names its room. */
export type RoomMessage = ChatMessage & { room: string };

/** Room messages after a given id, and whether some of them are gone. */
export interface Backlog<M extends ChatMessage = ChatMessage> {
  /** Oldest first. */
  messages: M[];
  /**
   * True if messages after the id asked for are missing here: removed by
   * retention, or more of them than the limit asked for.
   */
  gap: boolean;
}

/** One end of a {@linkcode RangeQuery}: a message id, or a time in milliseconds since the epoch. */
export type Bound = { id: number } | { ts: number };

/**
 * Which messages {@linkcode HistoryStore.range} returns: those strictly
 * after `after` and strictly before `before` (either may be left out), at
 * most `limit` of them.
 */
export interface RangeQuery {
  /** Only messages after this: a higher id, or a later `ts`. */
  after?: Bound;
  /** Only messages before this: a lower id, or an earlier `ts`. */
  before?: Bound;
  /** The most to return; clamped to {@linkcode RANGE_MAX} and to `keep`. */
  limit: number;
  /**
   * Which of the matches to take when there are more than `limit`:
   * `"oldest"` the ones closest to `after`, `"newest"` those closest to `before`.
   */
  from: "oldest" | "newest";
}

/** The most messages one {@linkcode HistoryStore.range} returns, whatever limit it is asked for. */
export const RANGE_MAX = 1000;

/** The most messages one {@linkcode HistoryStore.search} returns, whatever limit it is asked for. */
export const SEARCH_MAX = 50;

/**
 * The most of a message's folded text a search reads, in UTF-16 code
 * units: a message's own bound ({@linkcode MESSAGE_MAX}). Folding can make a
 * text ten times longer (`ﷺ`, one character, folds to eighteen), and a
 * search reads every kept text: what one message costs it is held to what
 * its text may be. A match past it is not found.
 */
export const FOLDED_MAX = MESSAGE_MAX;

/** A message's text as every store keeps it for search: folded (`foldText`), at most {@linkcode FOLDED_MAX}. */
export function searchFold(text: string): string {
  const folded = foldText(text);
  if (folded.length <= FOLDED_MAX) return folded;
  // Not between the two halves of a surrogate pair.
  const high = folded.charCodeAt(FOLDED_MAX - 1);
  return folded.slice(0, high >= 0xd800 && high < 0xdc00 ? FOLDED_MAX - 1 : FOLDED_MAX);
}

/** The number of messages a search may return when asked for `limit`: 0 to `SEARCH_MAX`. */
export function searchLimit(limit: number): number {
  const n = Math.min(Math.floor(limit), SEARCH_MAX);
  return n > 0 ? n : 0;
}

/**
 * The newest `limit` of several rooms' matches (each list newest first),
 * newest first: what every store's search returns from its rooms' own.
 */
export function newestOf(lists: readonly RoomMessage[][], limit: number): RoomMessage[] {
  return lists.flat().sort((a, b) => b.id - a.id).slice(0, limit);
}

/** The number of messages a range read may return when asked for `limit`: 0 to `RANGE_MAX`. */
export function rangeLimit(limit: number): number {
  const n = Math.min(Math.floor(limit), RANGE_MAX);
  return n > 0 ? n : 0;
}

/** True if `m` is strictly after `after` and strictly before `before` (a bound left out passes all). */
export function inRange(m: ChatMessage, query: Pick<RangeQuery, "after" | "before">): boolean {
  const { after, before } = query;
  if (after !== undefined && !("id" in after ? m.id > after.id : m.ts > after.ts)) return false;
  if (before !== undefined && !("id" in before ? m.id < before.id : m.ts < before.ts)) return false;
  return true;
}

/**
 * The service's memory of what was said, room by room. `key` is always a
 * room's key (`roomKey(name)`), so `#Dev` and `#dev` are one history.
 */
export interface HistoryStore {
  /** A new message id: greater than every id handed out before. */
  nextId(): number;
  /** The last id handed out (0 before the first); a `since` above it is not ours. */
  lastId(): number;
  /**
   * Keeps a message of room `key` (`message.room` is its name as shown).
   * Throws if it cannot; the hub then delivers nothing.
   */
  append(key: string, message: RoomMessage): void;
  /** The last `count` messages of room `key` (never more than `keep`), oldest first. */
  recent(key: string, count: number): RoomMessage[];
  /**
   * Messages of room `key` with an id above `after`: the last `limit` of
   * them, and never any past the newest `keep`; `gap` if any were left out.
   */
  after(key: string, after: number, limit: number): Backlog<RoomMessage>;
  /**
   * Messages of room `key` within `query`'s bounds, never any past the
   * newest `keep`: at most `limit`, the oldest or the newest of those that
   * match, returned oldest first either way.
   */
  range(key: string, query: RangeQuery): RoomMessage[];
  /**
   * Messages of the rooms `keys` whose text, folded by `foldText`, holds
   * `folded` (a needle folded the same way): newest first, across those
   * rooms, at most `limit` (clamped to {@linkcode SEARCH_MAX}), and never
   * any past a room's newest `keep`.
   */
  search(keys: readonly string[], folded: string, limit: number): RoomMessage[];
  /**
   * One step of a search of one room, for a store whose reads hold up the
   * process: at most `rows` of the room's kept messages below id `before`
   * (all, if undefined) read, newest first; the ones that hold `folded`
   * (at most `limit`), and the id to go on below (undefined: the room's
   * window is read through).
   */
  searchStep?(
    key: string,
    folded: string,
    limit: number,
    before: number | undefined,
    rows: number,
  ): { messages: RoomMessage[]; before: number | undefined };
  /** Room `key`'s topic, or undefined if it has none. */
  topic(key: string): Topic | undefined;
  /** Sets (or, with undefined, clears) room `key`'s topic. Throws if it cannot. */
  setTopic(key: string, topic: Topic | undefined): void;
  /** Releases what the store holds open. Idempotent. */
  close(): void;
}

/**
 * {@linkcode HistoryStore} for a store each call of which is a round trip
 * (Redis, `redis.ts`): the same reads and writes, answered with promises,
 * and `append` hands back the message with the id the store gave it, in
 * the same step that kept it.
 */
export interface AsyncHistoryStore {
  /** A new message id (for a private message, kept nowhere): greater than every id before. */
  nextId(): Promise<number>;
  /** The last id handed out (0 before the first). */
  lastId(): Promise<number>;
  /** Keeps a message of room `key` under a new id, and hands it back with that id. Rejects if it cannot. */
  append(key: string, message: Omit<RoomMessage, "id">): Promise<RoomMessage>;
  /** As {@linkcode HistoryStore.recent}. */
  recent(key: string, count: number): Promise<RoomMessage[]>;
  /** As {@linkcode HistoryStore.after}. */
  after(key: string, after: number, limit: number): Promise<Backlog<RoomMessage>>;
  /** As {@linkcode HistoryStore.range}. */
  range(key: string, query: RangeQuery): Promise<RoomMessage[]>;
  /** As {@linkcode HistoryStore.search}. */
  search(keys: readonly string[], folded: string, limit: number): Promise<RoomMessage[]>;
  /** As {@linkcode HistoryStore.topic}. */
  topic(key: string): Promise<Topic | undefined>;
  /** As {@linkcode HistoryStore.setTopic}. */
  setTopic(key: string, topic: Topic | undefined): Promise<void>;
  /** Releases the connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * The last `keep` messages, oldest first: adding one past the bound drops the
 * oldest, and the highest id dropped is remembered to tell a reader of a gap.
 */
export class BoundedLog<M extends ChatMessage = ChatMessage> {
  readonly #keep: number;
  readonly #messages: M[] = [];
  /** The highest id dropped to stay within the bound. */
  #droppedTo: number;

  /** `droppedTo`: messages up to this id are known to be gone already. */
  constructor(keep: number, droppedTo = 0) {
    this.#keep = keep;
    this.#droppedTo = droppedTo;
  }

  /** The id of the newest message, or the highest dropped if none is kept. */
  get lastId(): number {
    return this.#messages.at(-1)?.id ?? this.#droppedTo;
  }

  /** Adds a message, which must have a higher id than every one before. */
  push(message: M): void {
    this.#messages.push(message);
    if (this.#messages.length > this.#keep) {
      this.#droppedTo = this.#messages.shift()?.id ?? this.#droppedTo;
    }
  }

  /** The last `count` messages, oldest first. */
  recent(count: number): M[] {
    return count > 0 ? this.#messages.slice(-count) : [];
  }

  /**
   * Messages with an id above `after`, the last `limit` of them; `gap` if
   * some after it were dropped, or are past the limit.
   */
  after(after: number, limit = Infinity): Backlog<M> {
    const newer = this.#messages.filter((m) => m.id > after);
    return {
      messages: limit > 0 ? newer.slice(-limit) : [],
      gap: this.#droppedTo > after || newer.length > limit,
    };
  }

  /**
   * Messages within `query`'s bounds, at most its limit (see
   * {@linkcode RangeQuery}), oldest first. The walk starts from the end the
   * query takes from and stops at the limit; id bounds are found by
   * bisection, as ids increase, and time bounds are checked one by one.
   */
  range(query: RangeQuery): M[] {
    const limit = rangeLimit(query.limit);
    if (limit === 0) return [];
    const { after, before } = query;
    const messages = this.#messages;
    const start = after !== undefined && "id" in after ? this.#above(after.id) : 0;
    const end = before !== undefined && "id" in before ? this.#below(before.id) : messages.length;
    const taken: M[] = [];
    if (query.from === "oldest") {
      for (let i = start; i < end && taken.length < limit; i++) {
        const m = messages[i]!;
        if (inRange(m, query)) taken.push(m);
      }
      return taken;
    }
    for (let i = end - 1; i >= start && taken.length < limit; i--) {
      const m = messages[i]!;
      if (inRange(m, query)) taken.push(m);
    }
    return taken.reverse();
  }

  /** The newest messages that `test` accepts, at most `limit`, newest first. */
  findNewest(test: (m: M) => boolean, limit: number): M[] {
    const found: M[] = [];
    for (let i = this.#messages.length - 1; i >= 0 && found.length < limit; i--) {
      const m = this.#messages[i]!;
      if (test(m)) found.push(m);
    }
    return found;
  }

  /** The index of the first message with an id above `id`. */
  #above(id: number): number {
    let lo = 0;
    let hi = this.#messages.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#messages[mid]!.id > id) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** The index past the last message with an id below `id`. */
  #below(id: number): number {
    let lo = 0;
    let hi = this.#messages.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#messages[mid]!.id < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * Keeps the last `keep` messages of each room in memory, for at most
 * `rooms` rooms: past that, the room written to least recently is
 * forgotten (a read of it then reports a gap), so creating rooms in a loop
 * cannot grow memory without bound.
 */
export class MemoryHistory implements HistoryStore {
  readonly #keep: number;
  readonly #rooms: number;
  /** In order of the last write: a `Map` keeps insertion order. */
  readonly #logs = new Map<string, BoundedLog<RoomMessage>>();
  readonly #topics = new Map<string, Topic>();
  /** Each kept message's text as `searchFold` folds it, made once, when it is kept: what a search reads. */
  readonly #folded = new WeakMap<RoomMessage, string>();
  /** The highest id of a room forgotten to stay within `rooms`. */
  #forgottenTo = 0;
  #lastId = 0;

  constructor(keep = 10_000, rooms = 10_000) {
    this.#keep = keep;
    this.#rooms = rooms;
  }

  nextId(): number {
    return ++this.#lastId;
  }

  lastId(): number {
    return this.#lastId;
  }

  append(key: string, message: RoomMessage): void {
    let log = this.#logs.get(key);
    if (log === undefined) {
      log = new BoundedLog<RoomMessage>(this.#keep, this.#forgottenTo);
      if (this.#logs.size >= this.#rooms) this.#forget();
    } else {
      this.#logs.delete(key);
    }
    this.#logs.set(key, log);
    log.push(message);
    this.#folded.set(message, searchFold(message.text));
  }

  recent(key: string, count: number): RoomMessage[] {
    return this.#logs.get(key)?.recent(count) ?? [];
  }

  after(key: string, after: number, limit: number): Backlog<RoomMessage> {
    return this.#logs.get(key)?.after(after, limit) ??
      { messages: [], gap: this.#forgottenTo > after };
  }

  range(key: string, query: RangeQuery): RoomMessage[] {
    return this.#logs.get(key)?.range(query) ?? [];
  }

  search(keys: readonly string[], folded: string, limit: number): RoomMessage[] {
    const n = searchLimit(limit);
    if (n === 0) return [];
    const found = keys.map((key) =>
      this.#logs.get(key)?.findNewest((m) => this.#folded.get(m)?.includes(folded) === true, n) ??
        []
    );
    return newestOf(found, n);
  }

  topic(key: string): Topic | undefined {
    return this.#topics.get(key);
  }

  setTopic(key: string, topic: Topic | undefined): void {
    // Deleted first, so that the one set least recently is forgotten first.
    this.#topics.delete(key);
    if (topic !== undefined) this.#topics.set(key, topic);
    if (this.#topics.size > this.#rooms) {
      this.#topics.delete(this.#topics.keys().next().value!);
    }
  }

  close(): void {}

  #forget(): void {
    const [key, log] = this.#logs.entries().next().value!;
    this.#logs.delete(key);
    this.#forgottenTo = Math.max(this.#forgottenTo, log.lastId);
  }
}
