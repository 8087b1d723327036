/**
 * The {@linkcode Cluster} port (`hub/cluster.ts`) over Redis: several nodes
 * pointing at one Redis are one service (`--redis URL`). It assembles what
 * exists and adds the member list:
 *
 * - **History and ids**: {@linkcode RedisHistory} (`history/redis.ts`) is the
 *   store; {@linkcode Cluster.post} is its `append`, which also puts the
 *   message in `chat:feed`.
 * - **One order**: {@linkcode RedisCluster.tell} puts an event in the same
 *   feed under an id from the same counter (`chat:id`), and updates the
 *   member list (`chat:members`) in the same script, so messages, events and
 *   the member list change in one total order, the ids'. A
 *   {@linkcode FeedReader} hands both on to the sink. Event ids are message
 *   ids spent: ids stay strictly increasing, with gaps.
 * - **A consistent start**: {@linkcode RedisCluster.start} reads the member
 *   list and `chat:id` in one script, and reads the feed on from that id:
 *   every change after the list it got comes from the feed, none twice.
 * - **Nicknames and liveness**: {@linkcode NickLeases} (`bus/leases.ts`).
 *   The one node told that another is dead removes the dead node's members
 *   and puts a `dead` event in the feed, in one script.
 * - **Private messages** go to the recipient's node by pub/sub
 *   (`chat:to:<node>`), never kept: a node that is not listening loses them,
 *   as a closed connection would.
 *
 * - **Reachability** ({@linkcode RedisCluster.up}): lost when the feed's
 *   read, a command or a lease renewal fails for want of an answer (not on
 *   Redis's own error replies), or a read of the store does and Redis does
 *   not answer the check that follows; found again when the feed, any
 *   command or a read is answered, and asked for every `retryMs` meanwhile, since the hub sends
 *   nothing while Redis is lost. Told to the sink and logged once per change.
 *
 * Two things a hub should know. A command that timed out may still be
 * carried out once Redis answers again (it was sent): a `tell` that rejected
 * can still come back from the feed. And a nickname taken over from another
 * node stays believed held there until that node's next renewal (at most
 * `renewMs`), which then tells it {@linkcode ClusterSink.lost}: the `moved`
 * event in the feed is what tells it sooner.
 *
 * Every key: the layout in `history/redis.ts`.
 *
 * @module
 */

import type { Redis } from "ioredis";
import type { Topic } from "../../common/protocol.ts";
import type { AsyncHistoryStore, RoomMessage } from "../history/history.ts";
import {
  answered,
  COMMAND_TIMEOUT_MS,
  connectRedis,
  FEED_KEEP,
  LuaScript,
  parseJson,
  RedisHistory,
  TAKE_IDS,
} from "../history/redis.ts";
import {
  type Ban,
  BAN_MS_MAX,
  type Cluster,
  type ClusterEvent,
  type ClusterSink,
  type Forwarded,
  isMemberRecord,
  type MemberRecord,
  type Reconciled,
  SeatMoved,
  StoreRestarted,
  type TakenOver,
  tokenHash,
} from "../hub/cluster.ts";
import { errorText, type Logger } from "../log.ts";
import { type Config, redactUrl, StartError } from "../config.ts";
import { FeedReader, RETRY_MS } from "./feed.ts";
import { LEASE_MS, type LeaseOptions, NickLeases } from "./leases.ts";

/** The most bans a node reads as it starts ({@linkcode RedisCluster.bans}). */
const BANS_READ_MAX = 10_000;

/** Options for {@linkcode RedisCluster.open}. */
export interface RedisClusterOptions {
  /** `redis://` or `rediss://` URL. */
  url: string;
  /** How many messages each room keeps. */
  keep: number;
  /** Prefix of every key. @default {"chat:"} */
  prefix?: string;
  /** This node's id. @default {a new `crypto.randomUUID()`} */
  node?: string;
  /** How long a nickname and a node stay held without renewal. @default {LEASE_MS} */
  leaseMs?: number;
  /** How often leases are renewed and dead nodes looked for. @default {leaseMs / 3} */
  renewMs?: number;
  /** Milliseconds a command may wait for its answer. @default {COMMAND_TIMEOUT_MS} */
  commandTimeoutMs?: number;
  /** How many entries `chat:feed` keeps, roughly. @default {FEED_KEEP} */
  feedKeep?: number;
  /** Milliseconds between tries to reach Redis while it cannot be reached, on every connection. @default {RETRY_MS} */
  retryMs?: number;
  /** Longest a {@linkcode RedisCluster.reach} waits. @default {REACH_MS} */
  reachMs?: number;
  /** Told once, at open, if Redis does not keep its data across a restart. */
  warn?: (message: string) => void;
  /** Told when Redis is lost and found again: once each. */
  log?: (message: string, up: boolean) => void;
}

/** See {@linkcode RedisClusterOptions.reachMs}. */
export const REACH_MS = 3_000;

/**
 * A new id, and the id of the feed's last entry (0 if none): every entry
 * with a lower id than the new one is in the feed by now, since ids are
 * taken and entries added in one script. KEYS: `chat:id`, `chat:feed`;
 * ARGV: the node's position (the id is taken past it, as every id is:
 * `TAKE_IDS`, `history/redis.ts`).
 */
const PRIVATE_ID = LuaScript.of(`${TAKE_IDS}
local id = take(KEYS[1], KEYS[2], 1, tonumber(ARGV[1]))
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
local after = 0
if last then after = tonumber(string.match(last[1], '^(%d+)')) end
return {id, after}
`);

/**
 * The member list and the id every later feed entry comes after, read
 * together, with the live nodes. KEYS: `chat:members`, `chat:id`,
 * `chat:nodes`. Returns `{HGETALL, id, nodes}`.
 */
const SNAPSHOT = LuaScript.of(`
return {
  redis.call('HGETALL', KEYS[1]),
  tonumber(redis.call('GET', KEYS[2]) or '0'),
  redis.call('ZRANGE', KEYS[3], 0, -1),
}
`);

/**
 * An event into the feed under a new id, and member records set ("" removes
 * one). KEYS: `chat:id`, `chat:feed`, `chat:members`, the tell's receipt,
 * `chat:nodes`, then each record's nickname key; ARGV: feed keep, event
 * JSON, fold and record JSON in turn, then the node's position (the id
 * is taken past it: `TAKE_IDS`). Returns the id. Run twice (ioredis sends it again if the
 * connection dropped before its answer came), it is carried out once: the
 * receipt (`chat:receipt:<node>:t<n>`, kept a minute) answers the second
 * run. A tell about a member whose record names another live node is not
 * carried out at all, and answers -1: the member was taken back there
 * (`TAKE_OVER`) while the teller, not yet told, had it leave, rename or
 * change rooms. Nor is one that sets a record whose nickname another node
 * holds: the teller lost it while cut off (the fence), and retells a seat
 * someone else has since.
 */
const TELL = LuaScript.of(`${TAKE_IDS}
local done = redis.call('GET', KEYS[4])
if done then return tonumber(done) end
local teller = cjson.decode(ARGV[2]).node
for i = 3, #ARGV - 2, 2 do
  local raw = redis.call('HGET', KEYS[3], ARGV[i])
  if raw then
    local ok, record = pcall(cjson.decode, raw)
    if ok and type(record) == 'table' and type(record.node) == 'string'
        and record.node ~= teller and redis.call('ZSCORE', KEYS[5], record.node) then
      return -1
    end
  end
  if ARGV[i + 1] ~= '' then
    local owner = redis.call('GET', KEYS[5 + (i - 1) / 2])
    if owner and owner ~= teller then return -1 end
  end
end
local id = take(KEYS[1], KEYS[2], 1, tonumber(ARGV[#ARGV]))
redis.call('SET', KEYS[4], id, 'PX', 60000)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], id .. '-0', 'ev', ARGV[2])
for i = 3, #ARGV - 2, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[3], ARGV[i])
  else
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  end
end
return id
`);

/**
 * Keeps a kick's ban for its length and puts its event in the feed, in one
 * step. KEYS: `chat:id`, `chat:feed`, then the ban's keys; ARGV: feed keep,
 * the event's JSON, the length in ms, the node's position (`TAKE_IDS`).
 */
const BAN = LuaScript.of(`${TAKE_IDS}
for i = 3, #KEYS do redis.call('SET', KEYS[i], '1', 'PX', ARGV[3]) end
local id = take(KEYS[1], KEYS[2], 1, tonumber(ARGV[4]))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], id .. '-0', 'ev', ARGV[2])
return id
`);

/**
 * Removes every member of a dead node and tells it in the feed, and takes
 * it off `chat:dead` (`bus/leases.ts`'s SWEEP). KEYS: `chat:id`,
 * `chat:feed`, `chat:members`, `chat:nodes`, `chat:dead`; ARGV: feed keep,
 * the dead node, the event JSON, "1" if the node is this one stopping, the
 * node's position (`TAKE_IDS`).
 * Returns the id; 0 (nothing done) if a node found dead is registered
 * again by now (it came back and told its seats since), or had no member
 * left to remove (found dead again: the first time removed them).
 */
const DEAD = LuaScript.of(`${TAKE_IDS}
redis.call('ZREM', KEYS[5], ARGV[2])
if ARGV[4] ~= '1' and redis.call('ZSCORE', KEYS[4], ARGV[2]) then return 0 end
local removed = 0
local all = redis.call('HGETALL', KEYS[3])
for i = 1, #all, 2 do
  local ok, record = pcall(cjson.decode, all[i + 1])
  if ok and type(record) == 'table' and record.node == ARGV[2] then
    redis.call('HDEL', KEYS[3], all[i])
    removed = removed + 1
  end
end
if removed == 0 and ARGV[4] ~= '1' then return 0 end
local id = take(KEYS[1], KEYS[2], 1, tonumber(ARGV[5]))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], id .. '-0', 'ev', ARGV[3])
return id
`);

/**
 * Makes the member list's records of one node match its members now (see
 * `Cluster.reconcile`). KEYS: `chat:id`, `chat:feed`, `chat:members`; ARGV:
 * feed keep, the node, JSON of why members left (fold → reason), the
 * node's position (`TAKE_IDS`), then the folds of its members. Returns the folds among them that have no record,
 * and the nicknames of those told gone.
 */
const RECONCILE = LuaScript.of(`${TAKE_IDS}
local mine = {}
for i = 5, #ARGV do mine[ARGV[i]] = true end
local why = cjson.decode(ARGV[3])
local gone = {}
local all = redis.call('HGETALL', KEYS[3])
for i = 1, #all, 2 do
  local ok, record = pcall(cjson.decode, all[i + 1])
  if ok and type(record) == 'table' and record.node == ARGV[2] and not mine[all[i]] then
    redis.call('HDEL', KEYS[3], all[i])
    local id = take(KEYS[1], KEYS[2], 1, tonumber(ARGV[4]))
    local reason = why[all[i]]
    if type(reason) ~= 'string' then reason = 'connection lost' end
    local event = cjson.encode({op = 'bye', node = ARGV[2], nick = record.nick, reason = reason})
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], id .. '-0', 'ev', event)
    gone[#gone + 1] = record.nick
  end
end
local missing = {}
for i = 5, #ARGV do
  if redis.call('HEXISTS', KEYS[3], ARGV[i]) == 0 then missing[#missing + 1] = ARGV[i] end
end
return {missing, gone}
`);

/**
 * Moves a member to this node if the token's hash is its record's, and
 * gives the record the new token's hash. KEYS: `chat:members`, the
 * nickname key, `chat:nodes`, `chat:id`; ARGV: fold, token hash, node,
 * lease ms, new token hash. Returns the record as it was and the id counter
 * then; 0 if there is none; false if the token is not its, or if the
 * nickname's key names a node that is neither the record's nor this one
 * (claimed afresh since the record's node was found dead, its records not
 * yet removed: the record is no member's any more). The record is
 * written back by cjson, which writes an empty array as `{}`: put right.
 * Like a claim, it moves the node's own lease to end no sooner than the
 * nickname's, if the node is registered (`bus/leases.ts`).
 */
const TAKE_OVER = LuaScript.of(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local ok, record = pcall(cjson.decode, raw)
if not ok or type(record) ~= 'table' or record.token ~= ARGV[2] then return false end
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= record.node and owner ~= ARGV[3] then return false end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[3], 'XX', 'GT', now + tonumber(ARGV[4]), ARGV[3])
record.node = ARGV[3]
record.token = ARGV[5]
local out = cjson.encode(record)
if type(record.rooms) == 'table' and next(record.rooms) == nil then
  out = (string.gsub(out, '"rooms":{}', '"rooms":[]'))
end
redis.call('HSET', KEYS[1], ARGV[1], out)
return {raw, redis.call('GET', KEYS[4]) or '0'}
`);

/** True if `value` is a {@linkcode Forwarded}: what another node publishes is checked, not trusted. */
export function isForwarded(value: unknown): value is Forwarded {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  if (typeof v.room === "string" && v.fold === undefined) {
    // A room's CTCP, for that node's IRC members in it.
    const e = v.event;
    return typeof e === "object" && e !== null && (e as { type?: unknown }).type === "ctcp" &&
      isForwarded({ fold: "", event: e });
  }
  if (typeof v.fold !== "string") return false;
  if (v.passed !== undefined && v.passed !== true) return false;
  if (v.event === undefined) return typeof v.kick === "string";
  if (v.after !== undefined && !Number.isSafeInteger(v.after)) return false;
  if (typeof v.event !== "object" || v.event === null) return false;
  const e = v.event as Record<string, unknown>;
  const str = (name: string) => typeof e[name] === "string";
  const maybe = (name: string, type: string) => e[name] === undefined || typeof e[name] === type;
  switch (e.type) {
    case "message":
      return Number.isSafeInteger(e.id) && Number.isFinite(e.ts) && str("from") && str("to") &&
        str("text") && maybe("action", "boolean") && maybe("notice", "boolean") &&
        maybe("operator", "boolean") && maybe("own", "boolean");
    case "ctcp":
      return str("from") && str("text") && maybe("to", "string") && maybe("room", "string") &&
        maybe("reply", "boolean");
    default:
      return false;
  }
}

/** A {@linkcode reach} waiting. */
interface Reach {
  id: number;
  done(): void;
}

/** The service beyond this process, over Redis. */
export class RedisCluster implements Cluster {
  readonly node: string;
  /**
   * The history store as the hub reads it: a call that fails for want of
   * an answer has Redis asked at once whether it is there
   * ({@linkcode #check}), so a Redis gone is told (`/healthz` 503) a
   * timeout after the read that found it, not at the next lease renewal's
   * (an operator behind a balancer saw joins refused for seconds while the
   * node still said it was healthy). The read's failure alone says
   * nothing: a read of megabytes on a slow link times out with Redis
   * there, and one our code refuses is no news of Redis (an attacker's
   * reads took a node down so, for everyone on it).
   */
  readonly store: AsyncHistoryStore;
  /** The store itself: writes this module makes in one step with what they tell. */
  readonly #history: RedisHistory;
  readonly #options: RedisClusterOptions;
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #leases: NickLeases;
  readonly #prefix: string;
  readonly #feedKeep: number;
  readonly #leaseMs: number;
  /** See {@linkcode up}. */
  readonly #fenceMs: number;
  readonly #reaches = new Set<Reach>();
  /** Feed events up to this id are not handed on: a member list read after them stands for them. */
  #reflected = 0;
  /** Work nobody awaits (releases, sweeps): {@linkcode close} waits for it. */
  readonly #pending = new Set<Promise<void>>();
  #sink: ClusterSink | undefined;
  #feed: FeedReader | undefined;
  #position = 0;
  #up = true;
  /** Nodes whose records the member list still had, found not live ({@linkcode #snapshot}): to sweep. */
  readonly #unswept = new Set<string>();
  /** How many events this node has told: the last part of a tell's receipt. */
  #tells = 0;
  /** How many times Redis was found again (see {@linkcode #command}). */
  #backs = 0;
  #probeTimer: ReturnType<typeof setTimeout> | undefined;
  /** A {@linkcode #check} is under way. */
  #checking = false;
  /** See {@linkcode #rereadLater}. */
  #rereadTimer: ReturnType<typeof setTimeout> | undefined;
  #closed: Promise<void> | undefined;

  private constructor(
    options: RedisClusterOptions,
    parts: { store: RedisHistory; redis: Redis; subscriber: Redis; leases: NickLeases },
  ) {
    this.#options = options;
    this.#history = parts.store;
    const history = parts.store;
    const run = <T>(f: () => Promise<T>) => this.#command(f, false, true);
    this.store = {
      nextId: () => run(() => history.nextId()),
      lastId: () => run(() => history.lastId()),
      append: (key, message) => run(() => history.append(key, message)),
      recent: (key, count) => run(() => history.recent(key, count)),
      after: (key, after, limit) => run(() => history.after(key, after, limit)),
      range: (key, query) => run(() => history.range(key, query)),
      search: (keys, folded, limit) => run(() => history.search(keys, folded, limit)),
      topic: (key) => run(() => history.topic(key)),
      setTopic: (key, topic) => run(() => history.setTopic(key, topic)),
      close: () => history.close(),
    };
    this.#redis = parts.redis;
    this.#subscriber = parts.subscriber;
    this.#leases = parts.leases;
    this.node = parts.leases.node;
    this.#prefix = options.prefix ?? "chat:";
    this.#feedKeep = options.feedKeep ?? FEED_KEEP;
    this.#leaseMs = options.leaseMs ?? LEASE_MS;
    this.#fenceMs = Math.min(options.commandTimeoutMs ?? COMMAND_TIMEOUT_MS, this.#leaseMs / 3);
  }

  /**
   * Connects (the store, the leases, a connection for this module's scripts
   * and one to hear forwarded messages) and registers this node as alive.
   * Rejects, saying why, if Redis cannot be reached or is older than 7.
   */
  static async open(options: RedisClusterOptions): Promise<RedisCluster> {
    const timeout = options.commandTimeoutMs ?? COMMAND_TIMEOUT_MS;
    // Every connection tries again as often as the feed's: once Redis is
    // back, each is (within that), not only the one the probe asks on.
    const retryMs = options.retryMs ?? RETRY_MS;
    const opened: { close(): unknown }[] = [];
    // The store takes its ids past the cluster's position, once there is one.
    let cluster: RedisCluster | undefined;
    try {
      const store = await RedisHistory.open(options.url, {
        keep: options.keep,
        commandTimeoutMs: timeout,
        retryMs,
        position: () => cluster === undefined ? 0 : cluster.#floor(),
        ...pick(options, "prefix", "warn", "feedKeep"),
      });
      opened.push(store);
      const redis = await connectRedis(options.url, { commandTimeoutMs: timeout, retryMs });
      opened.push({ close: () => redis.disconnect() });
      // No command timeout: it only waits for messages. It subscribes again
      // by itself once it has reconnected, which it tries as often as the
      // feed: private messages sent meanwhile are lost.
      const subscriber = await connectRedis(options.url, { retryMs });
      opened.push({ close: () => subscriber.disconnect() });
      // The leases' events are wired to the cluster once it exists; none come before.
      const to: Pick<LeaseOptions, "onLost" | "onDead" | "onRevived" | "onError"> = {};
      const leases = await NickLeases.open({
        url: options.url,
        node: options.node ?? crypto.randomUUID(),
        commandTimeoutMs: timeout,
        retryMs,
        ...pick(options, "prefix", "leaseMs", "renewMs"),
        position: () => cluster?.position ?? 0,
        onLost: (folds) => to.onLost?.(folds),
        onDead: (node) => to.onDead?.(node),
        onRevived: () => to.onRevived?.(),
        onError: (error) => to.onError?.(error),
      });
      const made = new RedisCluster(options, { store, redis, subscriber, leases });
      cluster = made;
      to.onLost = (folds) => made.#sink?.lost(folds);
      to.onDead = (node) => made.#background(made.#sweep(node));
      to.onRevived = () => made.#sink?.revived();
      to.onError = (error) => made.#state(false, error);
      return made;
    } catch (e) {
      await Promise.all(opened.map((o) => o.close()));
      throw e;
    }
  }

  /**
   * Redis can be reached, and this node's nicknames are surely its own for
   * a while yet: a node back from a pause past its lease (SIGSTOP, a
   * stalled host) acts for nobody until its renewal has told it which of
   * them were taken meanwhile, and let those members go. Lines its members
   * sent while it was paused are read first, and would have gone out under
   * a name someone else holds now. The while is what a write may take to
   * be carried out (its deadline), or a third of the lease if that is less.
   */
  get up(): boolean {
    return this.#up && this.#leases.heldFor > this.#fenceMs;
  }

  get reachable(): boolean {
    return this.#up;
  }

  get position(): number {
    return this.#position;
  }

  /** What the ids this node takes are past ({@linkcode NickLeases.floor}). */
  #floor(): number {
    return this.#leases.floor;
  }

  #key(...parts: string[]): string {
    return this.#prefix + parts.join(":");
  }

  async start(sink: ClusterSink): Promise<MemberRecord[]> {
    if (this.#sink !== undefined) throw new Error("Cannot start a cluster twice");
    // What can fail comes first: a start that failed can be tried again.
    const { records, id } = await this.#snapshot();
    await this.#command(() => this.#subscriber.subscribe(this.#key("to", this.node)));
    this.#position = id;
    this.#sink = sink;
    this.#subscriber.on("message", (_channel: string, text: string) => {
      const forwarded = parseJson(text);
      if (isForwarded(forwarded)) this.#sink?.forwarded(forwarded);
    });
    this.#feed = new FeedReader({
      url: this.#options.url,
      prefix: this.#prefix,
      after: this.#position,
      retryMs: this.#options.retryMs ?? RETRY_MS,
      onMessage: ({ key, message, gap }) => {
        this.#moved(message.id);
        sink.message(key, message, gap);
      },
      onEvent: (event, id) => {
        this.#moved(id);
        if (id > this.#reflected) sink.event(event);
      },
      // Events were lost with the trimmed entries: the member list as it
      // is now stands for them, and for those still in the feed before it.
      onTrimmed: () => this.#reread(),
      onState: (up, error) => this.#state(up, error),
      onIdsLost: (was, position, from) => {
        this.#moved(from);
        // Its nicknames are lost with the rest: claimed again at once, before a newcomer's.
        this.#background(this.#leases.renew());
        // And the member list: read again once every live node has told
        // its members again (each does as it reads this, or at its next
        // renewal), for those who left meanwhile or whose node died.
        this.#rereadLater();
        sink.idsLost();
        this.#options.warn?.(
          `Redis came back without messages the nodes had read (its ids were at ${was}, a node had read up to ${position}): ids go on from ${from}; what Redis lost is gone`,
        );
      },
    });
    this.#sweepLeftBehind();
    return records;
  }

  async claim(fold: string): Promise<boolean> {
    try {
      return await this.#command(() => this.#leases.claim(fold));
    } catch (e) {
      // Refused by a Redis that lost its data (see `bus/leases.ts`'s CLAIM).
      if (answered(e) && e instanceof Error && e.message.startsWith("LOST ")) {
        throw new StoreRestarted();
      }
      throw e;
    }
  }

  async takeOver(
    fold: string,
    token: string,
    fresh: string,
  ): Promise<TakenOver | null | undefined> {
    const reply = await this.#command(() =>
      TAKE_OVER.run(
        this.#redis,
        [this.#key("members"), this.#key("nick", fold), this.#key("nodes"), this.#key("id")],
        [fold, tokenHash(token), this.node, this.#leaseMs, tokenHash(fresh)],
      )
    );
    if (reply === 0) return null;
    if (!Array.isArray(reply)) return undefined;
    const [raw, at] = reply;
    // Held now, whatever the record says: renewed, or given up.
    this.#leases.adopt(fold);
    const record = typeof raw === "string" ? parseJson(raw) : undefined;
    if (isMemberRecord(record)) return { record, at: Number(at) || 0 };
    this.release(fold);
    return undefined;
  }

  release(fold: string, unsure = false): void {
    this.#background(this.#leases.release(fold, unsure));
  }

  disown(fold: string): void {
    this.#background(this.#leases.disown(fold));
  }

  /** Keeps `work` for {@linkcode close} to wait for; its failure is nobody's to hear. */
  #background(work: Promise<void>): void {
    const done: Promise<void> = work.catch(() => {}).finally(() => this.#pending.delete(done));
    this.#pending.add(done);
  }

  async post(key: string, message: Omit<RoomMessage, "id">): Promise<RoomMessage> {
    return await this.#command(() => this.#history.append(key, message));
  }

  async tell(
    event: ClusterEvent,
    records: readonly [string, MemberRecord | null][] = [],
  ): Promise<void> {
    const args: (string | number)[] = [this.#feedKeep, JSON.stringify(event)];
    for (const [fold, record] of records) {
      args.push(fold, record === null ? "" : JSON.stringify(record));
    }
    args.push(this.#floor());
    const keys = [
      this.#key("id"),
      this.#key("feed"),
      this.#key("members"),
      this.#key("receipt", this.node, `t${++this.#tells}`),
      this.#key("nodes"),
      ...records.map(([fold]) => this.#key("nick", fold)),
    ];
    const id = await this.#command(() => TELL.run(this.#redis, keys, args));
    if (id === -1) throw new SeatMoved();
  }

  async reconcile(
    folds: readonly string[],
    reasons: ReadonlyMap<string, string> = new Map(),
  ): Promise<Reconciled> {
    const reply = await this.#command(() =>
      RECONCILE.run(
        this.#redis,
        [this.#key("id"), this.#key("feed"), this.#key("members")],
        [
          this.#feedKeep,
          this.node,
          JSON.stringify(Object.fromEntries(reasons)),
          this.#floor(),
          ...folds,
        ],
      )
    );
    const strings = (list: unknown) =>
      Array.isArray(list) ? list.filter((f) => typeof f === "string") : [];
    return Array.isArray(reply)
      ? { missing: strings(reply[0]), gone: strings(reply[1]) }
      : { missing: [], gone: [] };
  }

  async ban(ban: Ban): Promise<void> {
    // One script, sent at once: told before the kicked member's leave,
    // which the hub tells next, so a node has the ban when it hears it.
    const keys = [this.#key("id"), this.#key("feed"), ...this.#banKeys(ban)];
    const event: ClusterEvent = { op: "ban", node: this.node, ...ban };
    const ms = Math.min(Math.ceil(ban.ms), BAN_MS_MAX);
    await this.#command(() =>
      BAN.run(this.#redis, keys, [this.#feedKeep, JSON.stringify(event), ms, this.#floor()])
    );
  }

  async bans(): Promise<Ban[]> {
    const prefix = this.#key("ban", "");
    const bans: Ban[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await this.#command(() =>
        this.#redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000)
      );
      cursor = next;
      const left = keys.length === 0
        ? []
        : await this.#command(() => Promise.all(keys.map((key) => this.#redis.pttl(key))));
      keys.forEach((key, i) => {
        const ms = left[i] ?? 0;
        const [kind, ...rest] = key.slice(prefix.length).split(":");
        const what = rest.join(":");
        if (!(ms > 0) || what === "") return;
        if (kind === "nick") bans.push({ fold: what, ms });
        else if (kind === "address") bans.push({ address: what, ms });
      });
    } while (cursor !== "0" && bans.length < BANS_READ_MAX);
    return bans;
  }

  #banKeys(ban: Ban): string[] {
    const keys: string[] = [];
    if (ban.fold !== undefined) keys.push(this.#key("ban", `nick:${ban.fold}`));
    if (ban.address !== undefined) keys.push(this.#key("ban", `address:${ban.address}`));
    return keys;
  }

  async room(key: string, name: string): Promise<{ name: string; topic: Topic | undefined }> {
    return await this.#command(() => this.#history.room(key, name));
  }

  async setTopic(key: string, topic: Topic | undefined, event: ClusterEvent): Promise<void> {
    // One step: refused for want of an answer, it is neither kept nor told later.
    await this.#command(() => this.#history.setTopicTold(key, topic, JSON.stringify(event)));
  }

  async depart(reason: string): Promise<void> {
    await this.#removeNode({ op: "dead", node: this.node, dead: this.node, reason }, true);
  }

  async privateId(): Promise<{ id: number; after: number }> {
    const reply = await this.#command(() =>
      PRIVATE_ID.run(this.#redis, [this.#key("id"), this.#key("feed")], [this.#floor()])
    );
    if (!Array.isArray(reply) || typeof reply[0] !== "number" || typeof reply[1] !== "number") {
      throw new TypeError(`Cannot take an id: Redis answered ${String(reply)}`);
    }
    return { id: reply[0], after: reply[1] };
  }

  async holder(fold: string): Promise<string | undefined> {
    return await this.#command(() => this.#redis.get(this.#key("nick", fold))) ?? undefined;
  }

  async forward(node: string, forwarded: Forwarded): Promise<number> {
    // By a deadline: one refused for want of an answer is never delivered later.
    return await this.#command(() =>
      this.#history.publish(this.#key("to", node), JSON.stringify(forwarded))
    );
  }

  reach(id: number): Promise<void> {
    if (this.#position >= id || this.#closed) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(() => reach.done(), this.#options.reachMs ?? REACH_MS);
    const reach: Reach = {
      id,
      done: () => {
        clearTimeout(timer);
        this.#reaches.delete(reach);
        resolve();
      },
    };
    this.#reaches.add(reach);
    return promise;
  }

  /**
   * Renews this node's leases and looks for dead nodes now, as the timer
   * does every `renewMs`. Never rejects.
   */
  renew(): Promise<void> {
    return this.#leases.renew();
  }

  close(): Promise<void> {
    this.#closed ??= this.#close(() => this.#leases.close());
    return this.#closed;
  }

  /**
   * Stops as a killed node would: nothing is released, and its nicknames
   * and liveness are left to expire (for tests of what other nodes then do).
   */
  abandon(): Promise<void> {
    this.#closed ??= this.#close(() => this.#leases.abandon());
    return this.#closed;
  }

  async #close(leave: () => Promise<void>): Promise<void> {
    for (const reach of [...this.#reaches]) reach.done();
    clearTimeout(this.#probeTimer);
    clearTimeout(this.#rereadTimer);
    await this.#feed?.close();
    await Promise.all(this.#pending);
    await leave();
    this.#subscriber.disconnect();
    await this.#redis.quit().catch(() => this.#redis.disconnect());
    await this.#history.close();
  }

  /**
   * The member list, and the id of the last feed entry it reflects, read in
   * one step. Records of a node no longer live (found dead, its records
   * left behind: the finder lost Redis, or stopped, in between) are left
   * out, and that node is found dead again, its records removed.
   */
  async #snapshot(): Promise<{ records: MemberRecord[]; id: number }> {
    const reply = await this.#command(() =>
      SNAPSHOT.run(
        this.#redis,
        [this.#key("members"), this.#key("id"), this.#key("nodes")],
        [],
      )
    );
    if (
      !Array.isArray(reply) || !Array.isArray(reply[0]) || typeof reply[1] !== "number" ||
      !Array.isArray(reply[2])
    ) {
      throw new TypeError(`Cannot read the member list: Redis answered ${String(reply)}`);
    }
    const live = new Set<unknown>([...reply[2], this.node]);
    const records: MemberRecord[] = [];
    const flat: unknown[] = reply[0];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const text = flat[i + 1];
      const record = typeof text === "string" ? parseJson(text) : undefined;
      if (!isMemberRecord(record)) continue;
      if (live.has(record.node)) records.push(record);
      else this.#unswept.add(record.node);
    }
    return { records, id: reply[1] };
  }

  /**
   * Reads the member list again and hands it to the sink, standing for the
   * events before it (those still to be read included: `#reflected`).
   */
  async #reread(): Promise<void> {
    const { records, id } = await this.#snapshot();
    this.#reflected = Math.max(this.#reflected, id);
    this.#sink?.members(records, id);
    this.#sweepLeftBehind();
  }

  /**
   * {@linkcode #reread} a lease from now (again a renewal later while it
   * fails), once however many times asked meanwhile.
   */
  #rereadLater(): void {
    if (this.#rereadTimer !== undefined || this.#closed) return;
    this.#rereadTimer = setTimeout(() => {
      this.#rereadTimer = undefined;
      this.#background(
        this.#reread().catch((e) => {
          this.#rereadLater();
          throw e;
        }),
      );
    }, this.#leaseMs);
  }

  /**
   * Asks Redis, on this module's own connection, whether it answers (one
   * asking at a time): it is taken as lost ({@linkcode #command}) only if
   * that times out or fails too.
   */
  #check(): void {
    if (this.#checking || this.#closed || !this.#up) return;
    this.#checking = true;
    this.#background(
      this.#command(() => this.#redis.ping()).then(() => {}).finally(() => this.#checking = false),
    );
  }

  /** Finds dead again the nodes whose records were left behind (see {@linkcode #snapshot}). */
  #sweepLeftBehind(): void {
    for (const dead of this.#unswept) this.#background(this.#sweep(dead));
  }

  /** The position is now `id`: the reaches it satisfies are done. */
  #moved(id: number): void {
    this.#position = id;
    for (const reach of [...this.#reaches]) if (reach.id <= id) reach.done();
  }

  /**
   * Removes a dead node's members and tells every node, in one step. If
   * Redis cannot be reached now, its members stay listed under a node that
   * is gone: nobody is told of that node again.
   */
  async #sweep(dead: string): Promise<void> {
    // Failing (Redis lost), it stays in `chat:dead`: a sweeper is handed it
    // again a lease later (`bus/leases.ts`).
    await this.#removeNode({ op: "dead", node: this.node, dead }, false);
    this.#unswept.delete(dead);
  }

  /**
   * Removes the records of the node `event` names as dead, and tells
   * `event`, in one step; nothing if it was found dead (not `stopping`) and
   * has come back since.
   */
  async #removeNode(event: ClusterEvent & { op: "dead" }, stopping: boolean): Promise<void> {
    await this.#command(() =>
      DEAD.run(
        this.#redis,
        [
          this.#key("id"),
          this.#key("feed"),
          this.#key("members"),
          this.#key("nodes"),
          this.#key("dead"),
        ],
        [this.#feedKeep, event.dead, JSON.stringify(event), stopping ? "1" : "0", this.#floor()],
      )
    );
  }

  /**
   * Runs a command; a failure that is not Redis's answer means Redis cannot
   * be reached (`ask`: Redis is asked whether it is there, {@linkcode #check},
   * and only that failing too means so). Only the probe's answer (`back`)
   * tells that Redis is back: its command also raises the id counter past
   * this node's position if Redis came back without its data (as every
   * command that takes an id does, `TAKE_IDS`).
   */
  async #command<T>(run: () => Promise<T>, back = false, ask = false): Promise<T> {
    const since = this.#backs;
    try {
      const value = await run();
      if (back) this.#state(true);
      // Redis answers again: the probe is sent now, not at its next turn.
      else if (!this.#up) this.#probe(0);
      return value;
    } catch (e) {
      // One sent before Redis was back that failed since (it timed out
      // meanwhile) says nothing of Redis now.
      if (!answered(e) && since === this.#backs) {
        if (ask) this.#check();
        else this.#state(false, e);
      }
      throw e;
    }
  }

  #state(up: boolean, error?: unknown): void {
    if (up === this.#up || this.#closed) return;
    this.#up = up;
    if (up) {
      this.#backs++;
      this.#leases.back();
      // The leases at once, not at the next tick (they may have ended meanwhile).
      this.#background(this.#leases.renew());
    } else {
      this.#probe();
    }
    this.#options.log?.(
      up ? "Redis can be reached again" : `Redis cannot be reached: ${lostBecause(error)}`,
      up,
    );
    this.#sink?.state(up);
  }

  /**
   * Asks Redis every `retryMs` (the first time `after` ms from now) until
   * it answers, while it is lost: the hub refuses sends meanwhile, and the
   * feed, whose read may never have failed (a command timed out), might
   * never tell that it is back. What it asks raises the id counter past
   * this node's position if it is below ({@linkcode FeedReader.raise}).
   */
  #probe(after = this.#options.retryMs ?? RETRY_MS): void {
    clearTimeout(this.#probeTimer);
    if (this.#closed || this.#up) return;
    this.#probeTimer = setTimeout(() => {
      const raise = async () => await (this.#feed?.raise(this.#redis) ?? this.#redis.ping());
      this.#background(this.#command(raise, true).then(() => {}, () => this.#probe()));
    }, after);
  }
}

/**
 * Why a command failed for want of Redis, in an operator's words: ioredis
 * says a command it gave up on while reconnecting "reached the max retries
 * per request limit", which is advice about its options, not the cause.
 */
function lostBecause(error: unknown): string {
  if (error instanceof Error && error.name === "MaxRetriesPerRequestError") {
    return "the connection was lost, and is being made again";
  }
  return errorText(error);
}

/** The fields of `options` among `names` that are set: for `exactOptionalPropertyTypes`. */
function pick<T extends object, K extends keyof T>(options: T, ...names: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const name of names) if (options[name] !== undefined) out[name] = options[name];
  return out;
}

/**
 * Opens this node's {@linkcode RedisCluster} for `--redis`; a Redis that
 * cannot be reached is a {@linkcode StartError} naming the URL (without its
 * password).
 */
export async function openCluster(
  config: Pick<Config, "redis" | "keep">,
  log: Logger,
): Promise<RedisCluster> {
  try {
    return await RedisCluster.open({
      url: config.redis,
      keep: config.keep,
      warn: (message) => log.warn(message),
      log: (message, up) => up ? log.info(message) : log.error(message),
    });
  } catch (e) {
    throw new StartError(`--redis ${redactUrl(config.redis)}: cannot use it (${errorText(e)})`);
  }
}
