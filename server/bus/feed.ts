/**
 * How a node hears every room message and cluster event of the service, in
 * id order: it reads
 * `chat:feed` (the stream every append also writes, `history/redis.ts`) from
 * its last position with a blocking read on a connection of its own, and
 * hands each message on once. Its own messages come back the same way, so a
 * node delivers its own and the others' in one order, the ids'. Events
 * (`ev` entries, `bus/cluster.ts`) take their ids from the same counter and
 * are handed on in the same order ({@linkcode FeedOptions.onEvent}); an
 * entry that is neither a message nor a well-formed event is passed over.
 * Key layout: `history/redis.ts`.
 *
 * A node that loses Redis keeps its position; once Redis answers again it
 * reads on from there, so nothing is skipped and nothing is handed on twice.
 * Losing and finding Redis are told once each ({@linkcode FeedOptions.onState}),
 * not once per failed read. If the node was away (or, connected, fell
 * behind) for longer than the feed keeps ({@linkcode FEED_KEEP} messages),
 * what it missed is gone from the feed (each room's own history still has its newest `keep`): the next
 * message is handed on with `gap` set, so members can be told, and the
 * events lost with it are made up for ({@linkcode FeedOptions.onTrimmed}:
 * the cluster reads the member list again). A Redis back without its data
 * (or some of it) has its id counter raised past the position
 * ({@linkcode RAISE_HEADROOM}), so that ids are not handed out twice and
 * what comes next is read: by the reader as soon as it finds Redis again,
 * and by every script that takes an id (`TAKE_IDS`), whichever comes
 * first; the raise is marked in the feed, and told
 * ({@linkcode FeedOptions.onIdsLost}).
 *
 * @module
 */

import { Redis } from "ioredis";
import { FEED_KEEP, feedEntriesOf, RAISE, RAISE_HEADROOM } from "../history/redis.ts";
import type { RoomMessage } from "../history/history.ts";
import { type ClusterEvent, isClusterEvent } from "../hub/cluster.ts";

export { FEED_KEEP, RAISE_HEADROOM };

/** A room message as the feed carries it: with its room's key. */
export interface FeedMessage {
  /** The room's key (`roomKey(name)`). */
  key: string;
  message: RoomMessage;
  /** True if messages before this one (and after the last handed on) are gone from the feed. */
  gap: boolean;
}

/** Options for {@linkcode FeedReader}. */
export interface FeedOptions {
  /** `redis://` or `rediss://` URL. */
  url: string;
  /** Prefix of every key. @default {"chat:"} */
  prefix?: string;
  /** Hand on messages with an id above this one (0: from the start of the feed). */
  after: number;
  /** Each message, in id order, once. */
  onMessage(message: FeedMessage): void;
  /** Each event (checked by `isClusterEvent`), in id order with the messages, once. */
  onEvent?(event: ClusterEvent, id: number): void;
  /**
   * Called when entries after the position were trimmed away, before the
   * next read: the events among them are lost, so the caller can read again
   * what they would have told (the member list). The next read waits for it.
   */
  onTrimmed?(): Promise<void>;
  /**
   * Told, in id order with the rest, where the feed marks that Redis's id
   * counter was found below a node's position (Redis came back without
   * some or all of its data), and raised: from `was` past `position`, to
   * `from`, the mark's own id, so that ids are not handed out twice and
   * what comes next is read. Once for each raise, whichever node made it.
   */
  onIdsLost?(was: number, position: number, from: number): void;
  /** Told when the feed cannot be read, and when it can again: once each. */
  onState?(up: boolean, error?: unknown): void;
  /** Milliseconds one blocking read waits before it asks again. @default {BLOCK_MS} */
  blockMs?: number;
  /** Milliseconds between tries while Redis cannot be reached. @default {RETRY_MS} */
  retryMs?: number;
}

/** See {@linkcode FeedOptions.blockMs}. */
export const BLOCK_MS = 5_000;
/** See {@linkcode FeedOptions.retryMs}. */
export const RETRY_MS = 250;
/** Most entries one read takes. */
const BATCH = 1_000;

/** Reads the feed from a position until closed. */
export class FeedReader {
  readonly #options: FeedOptions;
  readonly #redis: Redis;
  readonly #feed: string;
  readonly #idKey: string;
  #after: number;
  #up = true;
  #closed = false;
  /** Whether the next read must first look for a gap: at start, and after Redis was lost. */
  #look = true;
  /** A gap was found: the next message is handed on with `gap` set. */
  #missed = false;
  readonly #done: Promise<void>;
  #retry: PromiseWithResolvers<void> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;

  /** Starts reading at once. */
  constructor(options: FeedOptions) {
    this.#options = options;
    this.#after = options.after;
    this.#feed = `${options.prefix ?? "chat:"}feed`;
    this.#idKey = `${options.prefix ?? "chat:"}id`;
    // Its own connection: a blocking read holds it. No command timeout, which
    // would cut the block short; a lost connection fails the read instead.
    this.#redis = new Redis(options.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => options.retryMs ?? RETRY_MS,
      // Not a second's wait for a Redis still loading (see `connectRedis`).
      maxLoadingRetryTime: options.retryMs ?? RETRY_MS,
    });
    this.#redis.on("error", () => {});
    this.#done = this.#loop();
  }

  /** The id of the last entry read (or the starting one). */
  get position(): number {
    return this.#after;
  }

  /**
   * Raises Redis's id counter past the position if it is below (Redis came
   * back without what this node read: new ids would be ones it has passed,
   * and their messages never read), marking it in the feed
   * ({@linkcode FeedOptions.onIdsLost}); on `redis` if given, else on the
   * feed's own connection.
   */
  async raise(redis: Redis = this.#redis): Promise<void> {
    await RAISE.run(redis, [this.#idKey, this.#feed], [this.#after]);
  }

  /** Stops reading; settles once the read under way has ended. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#retry?.resolve();
    this.#redis.disconnect();
    await this.#done;
  }

  async #loop(): Promise<void> {
    const blockMs = this.#options.blockMs ?? BLOCK_MS;
    while (!this.#closed) {
      try {
        if (this.#redis.status === "wait") await this.#redis.connect();
        // Looked at before the read: what the read returns is still there.
        if (this.#look) {
          // Redis back without what this node read: new ids would be ones
          // it has passed, and their messages never read.
          await this.raise();
        }
        const gap = this.#look ? await this.#trimmed(this.#after) : false;
        // The look is a round trip: Redis answers again, which is told now,
        // not once the blocking read below ends.
        if (this.#look) this.#state(true);
        this.#look = false;
        if (gap) {
          this.#missed = true;
          await this.#options.onTrimmed?.();
        }
        const reply = await this.#redis.xread(
          "COUNT",
          BATCH,
          "BLOCK",
          blockMs,
          "STREAMS",
          this.#feed,
          `${this.#after}-0`,
        );
        this.#state(true);
        if (this.#closed) break;
        if (!gap && await this.#skipped(reply?.[0]?.[1][0]?.[0])) {
          // Fallen behind the trim with the connection up (a node stalled,
          // or too busy to keep up): looked at as after Redis was lost, and
          // this batch read again, with its gap.
          this.#look = true;
          continue;
        }
        for (const [, entries] of reply ?? []) {
          for (const entry of feedEntriesOf(entries)) {
            // Every entry moves the position, those passed over too: else a
            // malformed one would be read again at once, and again.
            if (entry.id <= this.#after) continue;
            const before = this.#after;
            this.#after = entry.id;
            if ("message" in entry) {
              this.#options.onMessage({
                key: entry.key,
                message: entry.message,
                gap: this.#missed,
              });
              this.#missed = false;
            } else if ("event" in entry && isClusterEvent(entry.event)) {
              this.#options.onEvent?.(entry.event, entry.id);
            } else if ("lost" in entry) {
              // The node that raised it had read past this one: what it
              // read in between, Redis lost, and this one never had.
              if (entry.lost.floor > before) this.#missed = true;
              this.#options.onIdsLost?.(entry.lost.was, entry.lost.floor, entry.id);
            }
          }
        }
      } catch (e) {
        if (this.#closed) break;
        this.#state(false, e);
        this.#look = true;
        await this.#pause();
      }
    }
  }

  /**
   * True if entries after `after` may have been trimmed from the feed: its
   * oldest entry is past `after` (trims take the oldest first, so while one
   * at or before it is there, everything after it is too), and is not the
   * mark of a raised id counter. 0 is the start: nothing before.
   */
  async #trimmed(after: number): Promise<boolean> {
    if (after === 0) return false;
    const [oldest] = await this.#redis.xrange(this.#feed, "-", "+", "COUNT", 1);
    if (oldest === undefined || Number(oldest[0].split("-")[0]) <= after) return false;
    // Redis came back with nothing before the mark: lost, not trimmed (the
    // mark tells what this node missed, as it is read), and the member list
    // is not read again now (empty, it would have every member of every
    // other node leave, and join again once retold; the cluster reads it a
    // lease later, `bus/cluster.ts`).
    return feedEntriesOf([oldest]).every((entry) => !("lost" in entry));
  }

  /**
   * True if a read whose first entry is `first` may have skipped entries
   * trimmed away since the last: the first is not the next id, and
   * {@linkcode #trimmed} (ids without an entry, a private message's, make
   * it asked now and then; a trim just after the read is taken for a gap:
   * the feed's trim is far behind its newest entries, so only a node as far
   * behind meets it).
   */
  async #skipped(first: string | undefined): Promise<boolean> {
    const id = first === undefined ? NaN : Number(first.split("-")[0]);
    return id > this.#after + 1 && await this.#trimmed(this.#after);
  }

  #state(up: boolean, error?: unknown): void {
    if (up === this.#up) return;
    this.#up = up;
    this.#options.onState?.(up, error);
  }

  #pause(): Promise<void> {
    this.#retry = Promise.withResolvers<void>();
    this.#retryTimer = setTimeout(() => this.#retry?.resolve(), this.#options.retryMs ?? RETRY_MS);
    return this.#retry.promise;
  }
}
