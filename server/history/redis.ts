/**
 * History in Redis, for several nodes that are one service (`--redis URL`):
 * the message id sequence, each room's messages and topic, kept where every
 * node reads them. Unlike SQLite, every call is a round trip, so this store
 * answers with promises ({@linkcode AsyncHistoryStore}); its semantics are
 * {@linkcode HistoryStore}'s, one for one.
 *
 * Key layout of the whole service in Redis (every key starts with the prefix,
 * `chat:` unless told); the other modules that use Redis link here:
 *
 * | key | type | what |
 * | --- | --- | --- |
 * | `chat:id` | string (counter) | the last message id handed out, service-wide: room and private messages |
 * | `chat:log:<key>` | stream | room `<key>`'s messages, the newest `keep` (and up to {@linkcode trimSlack} older ones no read returns); entry id `<message id>-0` |
 * | `chat:folded:<key>` | list | room `<key>`'s texts folded for search, newest first, `<id>:<folded>`, as many as its log |
 * | `chat:room:<key>` | hash | room `<key>`'s `name` (the first one given), topic (`topic_text`, `topic_by`, `topic_ts`) and `trimmed_to`; gone {@linkcode ROOM_IDLE_MS} after it was last entered while it has no message nor topic |
 * | `chat:feed` | stream | every room message (fields below) and every cluster event (one field, `ev`: the `ClusterEvent` as JSON, `hub/cluster.ts`) and the mark of each raise of `chat:id` (one field, `lost`: "<the counter as it was> <the floor>", {@linkcode TAKE_IDS}), in id order, the newest {@linkcode FEED_KEEP}: what each node delivers from |
 * | `chat:receipt:<store>:<n>` | string | the first id of batch `<n>` of a store (a node's, new at every start), for {@linkcode APPEND} run twice (`t<n>`: a topic told, {@linkcode SET_TOPIC_TOLD}; `p<n>`: how many a private message's publish reached, {@linkcode PUBLISH_BY_DEADLINE}); gone 10 s past the batch's deadline (`RECEIPT_MS`) |
 * | `chat:receipt:<node>:t<n>` | string | the id of event `<n>` a node told (`bus/cluster.ts`'s `TELL`), so that one sent twice is told once; gone after a minute |
 * | `chat:members` | hash | the service's members: nickname fold → `MemberRecord` as JSON (`bus/cluster.ts`) |
 * | `chat:nick:<fold>` | string | the node holding nickname `<fold>`, expiring with its lease (`bus/leases.ts`) |
 * | `chat:dead` | sorted set | nodes found dead whose records are still to be removed, by when last handed to a sweeper (`bus/leases.ts`) |
 * | `chat:nodes` | sorted set | live node ids, by when their lease ends, Redis's clock (`bus/leases.ts`) |
 * | `chat:read` | string | the furthest any node has read `chat:feed`, as its renewals tell it (`bus/leases.ts`): each node keeps the highest it was told, and takes ids past it ({@linkcode TAKE_IDS}) |
 * | `chat:ban:nick:<fold>`, `chat:ban:address:<hash>` | string | a kick's ban of a nickname, or of an address's network (its SHA-256), expiring with it, for nodes that start later (`bus/cluster.ts`) |
 * | `chat:to:<node>` | pub/sub channel | private messages and CTCP for node `<node>`'s members, JSON `Forwarded`: never kept (`bus/cluster.ts`) |
 *
 * `<key>` is the room's key (`roomKey(name)`, `common/room.ts`), so `#Dev`
 * and `#dev` are one history. It comes last in every key, after a first part
 * of its own for each kind of key: a room name may hold `:`, and with the
 * kind after the name (`room:<key>:log`) room `#a:log`'s hash was room
 * `#a`'s stream, which a member could create first to break `#a`. A room message, in its room's stream as in
 * `chat:feed`, is one field, `msg`: JSON of `key` (its room's key), `ts`,
 * `room` (the name as shown), `from`, `text` and `kind` (0 plain, 1 action,
 * 2 notice). One field, not six, because every node reads every message
 * from the feed, and a reply of one field a message is parsed in about a
 * third of the time; and because Redis keeps it in both streams from one
 * argument. Entries of six fields (`ts`, `room`, `from`, `text`, `kind`,
 * and `key` in the feed), as the first builds wrote them, are still read.
 *
 * - **Ids.** A message's id comes from `INCRBY chat:id` in the same script
 *   (`EVAL`, atomic) as the `XADD`s that keep it, with the id as the
 *   entry's id: ids are strictly increasing across every room and node,
 *   never reused while Redis keeps its data (with `appendonly yes`:
 *   {@linkcode RedisHistory.open} warns when it is off), nor after it lost
 *   them when a node that had read past the counter takes one first
 *   ({@linkcode TAKE_IDS}), and a stream read from a message id is a read
 *   from that position. Private messages take
 *   an id from the same counter and are kept nowhere (Redis writes its data
 *   set to disk).
 * - **A write that timed out is never carried out later.** A command that
 *   waits past its timeout fails here, and the member is told "Not
 *   sent"; but it was sent, and a Redis that was paused (or whose network
 *   stalled) carries it out once it runs again. So an append, a topic and
 *   a private message's publish carry a deadline in Redis's clock,
 *   `commandTimeoutMs` less {@linkcode WRITE_MARGIN} after they are sent,
 *   and their script refuses (`EXPIRED`) past it: a message or topic is
 *   either acknowledged in time or never kept. Their answer is waited for
 *   {@linkcode WRITE_WAIT} times `commandTimeoutMs`, on a connection of
 *   their own: an answer to a write Redis carried out just in time has that
 *   long to reach the node, never behind a history read's megabytes, nor
 *   lost to a node's event loop held up for a moment (an attacker's reads
 *   had a node refuse lines that Redis had kept and the feed delivered,
 *   when writes shared the reads' connection and had 0.5 s for it).
 *   One that Redis carried out in time but whose answer is late (a network
 *   that stalled, Redis paused just after it ran) is asked for again with
 *   the same receipt ({@linkcode RedisHistory}'s `#settle`), so it is
 *   acknowledged as kept rather than refused, unless its answer is later
 *   than that asking lasts ({@linkcode SETTLE_WAIT}).
 *   Redis's clock is estimated from this node's monotonic clock and the
 *   highest offset seen between them (`TIME` at open, then
 *   each such script's answer): an answer comes after the script ran, so no
 *   sample overstates Redis's clock, and the deadline errs early, never
 *   late.
 * - **Retention** is exact for readers, as in `sqlite.ts`: no read returns
 *   more than a room's newest `keep` messages. The append script trims a
 *   room's stream (and its folded texts) once it holds
 *   {@linkcode trimSlack} more than `keep`, back to `keep`, and keeps the
 *   highest entry id it removed in the room's `trimmed_to` (Redis itself
 *   tracks deletions, not trims); until then reads start past the edge of
 *   the window ({@linkcode FLOOR}: the `trimmed_to` of a trim done then).
 *   The edge tells a reader resuming after an id whether it lost something:
 *   the `gap`. Trimming one entry with each append, and recording which,
 *   took a third of Redis's time once a room's log was full (42 µs an
 *   append alone, 27 µs now: `bench/redis_benchmark.sh`).
 * - **Search** runs in a script per room ({@linkcode SEARCH}), which walks
 *   the room's folded texts newest first and returns only the entries that
 *   match: at most `keep` texts read per room (and the slack), and nothing
 *   else crosses the network.
 * - **Times** are the appending node's clock. They filter a range read and
 *   never order it: the order is the ids'.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { Redis } from "ioredis";
import type { Topic } from "../../common/protocol.ts";
import {
  type AsyncHistoryStore,
  type Backlog,
  type Bound,
  FOLDED_MAX,
  newestOf,
  rangeLimit,
  type RangeQuery,
  type RoomMessage,
  searchFold,
  searchLimit,
} from "./history.ts";
import { errorText } from "../log.ts";
import { Pauses } from "../deadline.ts";

/**
 * A Lua script, sent whole at every run (`EVAL`, which Redis keeps compiled
 * by the text's digest): one round trip, always. Run by its digest
 * (`EVALSHA`), a script Redis did not know yet (new to it, or after a
 * restart) went again in full after its NOSCRIPT answer, behind whatever any
 * node sent meanwhile: a line typed before a take-back was kept after the new
 * connection's first. Atomic, as every script is: nothing else runs in Redis
 * meanwhile.
 */
export class LuaScript {
  readonly text: string;

  private constructor(text: string) {
    this.text = text;
  }

  /** The script `text`. */
  static of(text: string): LuaScript {
    return new LuaScript(text);
  }

  /** Runs it on `redis` with `keys` (`KEYS`) and `args` (`ARGV`). */
  async run(
    redis: Redis,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    return await redis.eval(this.text, keys.length, ...keys, ...args);
  }
}

/**
 * A command connection to `url`, connected: commands that wait longer than
 * `commandTimeoutMs` (if given) for their answer fail, one retry at most
 * while the client reconnects, every `retryMs` (if given; else ioredis's
 * backoff: 50 ms doubled at each try, up to 5 s, and up to 200 ms more).
 * Rejects, saying why (refused, a wrong password, a database out of range),
 * if Redis cannot be used.
 */
export async function connectRedis(
  url: string,
  options: { commandTimeoutMs?: number; retryMs?: number; connectTimeoutMs?: number } = {},
): Promise<Redis> {
  const { commandTimeoutMs, retryMs, connectTimeoutMs } = options;
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    ...(connectTimeoutMs === undefined ? {} : { connectTimeout: connectTimeoutMs }),
    ...(commandTimeoutMs === undefined ? {} : { commandTimeout: commandTimeoutMs }),
    // A Redis still loading its data answers the ready check with an ETA of
    // at least a second, which ioredis would wait out: checked as often instead.
    ...(retryMs === undefined
      ? {}
      : { retryStrategy: () => retryMs, maxLoadingRetryTime: retryMs }),
  });
  // Errors reach the caller through the commands; the client must not throw them unhandled.
  // The first one, while connecting, says why better than the rejection's "Connection is closed."
  let why: unknown;
  const first = (e: unknown) => why ??= e;
  redis.on("error", first);
  try {
    await redis.connect();
    // A database the server does not have (`/99`) would silently be 0.
    if (redis.options.db) await redis.select(redis.options.db);
  } catch (e) {
    redis.disconnect();
    const error = why instanceof Error ? why : e;
    // A TLS handshake that a plain Redis never answers ends as a timeout
    // or a closed connection, which would read as "Redis is not there".
    if (
      url.startsWith("rediss:") && error instanceof Error &&
      /ETIMEDOUT|ECONNRESET|EPROTO|closed|SSL|TLS/i.test(error.message)
    ) {
      throw new Error(`${error.message}: rediss:// speaks TLS; does Redis, at that port?`);
    }
    throw error;
  } finally {
    redis.off("error", first);
  }
  redis.on("error", () => {});
  return redis;
}

/** How many room messages `chat:feed` keeps for nodes catching up after losing Redis. */
export const FEED_KEEP = 100_000;

/**
 * How far past a node's position {@linkcode TAKE_IDS} raises the id
 * counter of a Redis back without what that node had read: another node,
 * further on in the feed, may have read and shown ids past this one's, and
 * none may be handed out twice (nor be passed over by that node as read
 * already). As many as the feed keeps: a node further behind than that had
 * lost the feed's order anyway.
 */
export const RAISE_HEADROOM = FEED_KEEP;

/**
 * `take(ids, feed, n, floor)`, Lua for a script that takes ids: takes `n`
 * from the counter `ids` (`chat:id`) and returns the first, every one past
 * `floor`, the position in `feed` (`chat:feed`) of the node that sent the
 * script. A counter below it means Redis came back without its data (or
 * some of it): the ids after it were handed out before, that node (and
 * maybe others) has read past them, and a message kept under one would be
 * shown by none of them while its sender was told it was kept. So it is
 * first raised {@linkcode RAISE_HEADROOM} past the floor (or past the
 * feed's last id, if the feed kept more than the counter), and the raise
 * marked in the feed under the id it raised to: an entry of one field, `lost`, "<the
 * counter as it was> <the floor>", which tells each node reading on
 * (`bus/feed.ts`). `n` 0 only raises. A second value tells whether it did. Every script that takes an id takes
 * it so, in the same step, not after a raise sent apart: ioredis sends a
 * connection's unanswered commands again as soon as it has reconnected, so
 * lines sent just before Redis went reached it back before anything else,
 * and took ids from its empty counter (an attacker's restarts lost lines
 * so in four restarts of six).
 */
export const TAKE_IDS = `
local function take(ids, feed, n, floor)
  local last = redis.call('INCRBY', ids, n)
  if last - n >= floor then return last - n + 1, false end
  local top = 0
  local info = redis.pcall('XINFO', 'STREAM', feed)
  if type(info) == 'table' and not info.err then
    for i = 1, #info - 1, 2 do
      if info[i] == 'last-generated-id' then top = tonumber(string.match(info[i + 1], '^(%d+)')) end
    end
  end
  local from = math.max(floor, top) + ${RAISE_HEADROOM}
  redis.pcall('XADD', feed, string.format('%.0f-0', from), 'lost',
    string.format('%.0f %.0f', last - n, floor))
  redis.call('SET', ids, string.format('%.0f', from + n))
  return from + 1, true
end
`;

/**
 * Raises the id counter past a node's position, as {@linkcode TAKE_IDS}
 * does, taking no id. KEYS: `chat:id`, `chat:feed`; ARGV: the position.
 */
export const RAISE = LuaScript.of(`${TAKE_IDS}take(KEYS[1], KEYS[2], 0, tonumber(ARGV[1]))
`);

/** One id, as {@linkcode TAKE_IDS} takes it. KEYS: `chat:id`, `chat:feed`; ARGV: the position. */
const NEXT_ID = LuaScript.of(`${TAKE_IDS}return take(KEYS[1], KEYS[2], 1, tonumber(ARGV[1]))
`);

/**
 * How many entries past its limit a range read with time bounds reads at
 * most ({@linkcode BOUNDS}): those of a node whose clock was behind.
 */
const PAGE = 500;

/** Options for {@linkcode RedisHistory.open}. */
export interface RedisHistoryOptions {
  /** How many messages each room keeps. */
  keep: number;
  /** Prefix of every key. @default {"chat:"} */
  prefix?: string;
  /** Told once, at open, if Redis does not keep its data across a restart. */
  warn?: (message: string) => void;
  /**
   * How long a command may wait for its answer before it fails: a Redis that
   * stopped answering (paused, or its network gone) refuses sends instead
   * of holding them. @default {COMMAND_TIMEOUT_MS}
   */
  commandTimeoutMs?: number;
  /** How many messages `chat:feed` keeps, roughly (whole stream nodes are trimmed). @default {FEED_KEEP} */
  feedKeep?: number;
  /** Milliseconds between tries to reconnect ({@linkcode connectRedis}). */
  retryMs?: number;
  /** Bytes of folded text one search reads, its rooms together. @default {SEARCH_BYTES} */
  searchBytes?: number;
  /**
   * How far this node has read `chat:feed` (the id of the last entry it
   * handed on): the ids this store takes are past it ({@linkcode TAKE_IDS}).
   * @default {() => 0}
   */
  position?: () => number;
}

/** An append waiting for its batch ({@linkcode RedisHistory.append}). */
interface PendingAppend {
  key: string;
  message: Omit<RoomMessage, "id">;
  done: PromiseWithResolvers<RoomMessage>;
}

/** See {@linkcode RedisHistoryOptions.commandTimeoutMs}. */
export const COMMAND_TIMEOUT_MS = 2_000;

/**
 * How long a write whose answer did not come is asked again for its
 * outcome ({@linkcode RedisHistory}'s `#settle`), as a multiple of the
 * command timeout: 3 s by default, so a write Redis never answers is
 * refused about 6 s after it was sent (3 s before).
 */
export const SETTLE_WAIT = 1.5;

/** The pause between two askings of a write's outcome, in ms. */
const SETTLE_PAUSE_MS = 100;

/**
 * How much sooner than the command timeout a write's deadline falls in
 * Redis, as a share of that timeout: the answer to a write carried out
 * just in time still has that long to arrive before the node gives up.
 */
export const WRITE_MARGIN = 0.25;

/**
 * How long a write's answer is waited for, as a share of the command
 * timeout: 3 s by default, 1.5 s past the write's deadline.
 */
export const WRITE_WAIT = 1.5;

/**
 * How long past a write's deadline its receipt is kept, in ms: longer than
 * a node asks for the write's outcome with the default command timeout
 * (the answer waited for, {@linkcode SETTLE_WAIT} of asking, and the last
 * asking's answer: about 9 s from the write). Kept only until the deadline
 * and a second, a receipt was gone by the time Redis, paused just after the
 * write, ran the asking again: the write was kept, and its sender told "Not
 * sent". Not much longer: each is a key in Redis until then, one per
 * batch a node writes.
 */
const RECEIPT_MS = 10_000;

/** The start of a script that needs Redis's time (ms): `now`. */
const CLOCK = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** What follows {@linkcode CLOCK} in {@linkcode BY_DEADLINE}. */
const DEADLINE = `
local deadline = tonumber(ARGV[#ARGV])
if now > deadline then
  return redis.error_reply(string.format('EXPIRED %.0f: the write came %.0f ms past its deadline',
    now, now - deadline))
end
`;

/**
 * The start of a script that writes only before its deadline (see the
 * module doc), the last of its ARGV, in Redis's milliseconds: past it, an
 * error `EXPIRED <Redis's time>: …` and nothing done; else `now` is Redis's
 * time.
 */
const BY_DEADLINE = CLOCK + DEADLINE;

/**
 * How many more entries than `keep` a room's stream holds before the append
 * script trims it back to `keep`: 100 (a trim of 100 entries costs Redis
 * about as much as an append), or `keep` itself if that is less, so a small
 * window is trimmed as often as it is filled.
 */
export function trimSlack(keep: number): number {
  return Math.max(1, Math.min(100, keep));
}

/**
 * The edge of a room's window (Lua, for a script with the room's log, hash
 * and `keep` as `log`, `room` and `keep`): `floor`, the highest message id
 * a read of the room must not return, as a number (0: none), whether a trim
 * removed it or it is still there, past the newest `keep`.
 */
const FLOOR_OF = `
local floor = tonumber(string.match(redis.call('HGET', room, 'trimmed_to') or '0', '^%d+')) or 0
local over = redis.call('XLEN', log) - keep
if over > 0 then
  local past = redis.call('XRANGE', log, '-', '+', 'COUNT', over)
  floor = math.max(floor, tonumber(string.match(past[#past][1], '^%d+')))
end
`;

/**
 * The edge of a room's window ({@linkcode FLOOR_OF}), and the id of the
 * first entry of its log (0: none). KEYS: the room's log and hash; ARGV:
 * keep.
 */
const FLOOR = LuaScript.of(`
local log, room, keep = KEYS[1], KEYS[2], tonumber(ARGV[1])
${FLOOR_OF}
local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
return {floor, first and tonumber(string.match(first[1], '^%d+')) or 0}
`);

/**
 * Keeps messages, in order, and hands back Redis's time (ms) and their ids,
 * before the deadline, the last of ARGV ({@linkcode BY_DEADLINE}); see the
 * module doc. KEYS: `chat:id`, `chat:feed`, the batch's receipt, then for
 * each message its room's log, hash and folded list. ARGV: keep, trim
 * slack, feed keep, then for each message its folded text and its JSON
 * (`msg`), then the node's position (ids are taken past it:
 * {@linkcode TAKE_IDS}), then the deadline.
 *
 * Run twice, a batch is kept once: the receipt (`chat:receipt:<store>:<n>`,
 * one per batch, the first id as its value, until {@linkcode RECEIPT_MS} past the
 * deadline) answers the second run with the first's ids. A run can come
 * twice: if the connection drops after Redis ran a batch and before its
 * answer arrived (Redis stopped with SIGTERM ends so, its append-only file
 * written), ioredis sends the batch again once it is back.
 * A room's stream and folded texts are trimmed back to `keep` together
 * once they hold `keep` and the slack. Per call, not per message: one
 * `INCRBY` takes the batch's ids, one `XLEN` a room's length, one `XTRIM`
 * the feed's (Redis CPU a message in batches of 100: 11.9 µs with one of
 * each a message, 9.4 µs so).
 */
const APPEND = `${TAKE_IDS}${CLOCK}
local n = (#KEYS - 3) / 3
local done = tonumber(redis.call('GET', KEYS[3]))
if done then
  local ids = {}
  for m = 0, n - 1 do ids[#ids + 1] = done + m end
  return {now, ids}
end
${DEADLINE}
local keep, slack = tonumber(ARGV[1]), tonumber(ARGV[2])
local first = take(KEYS[1], KEYS[2], n, tonumber(ARGV[#ARGV - 1]))
redis.call('SET', KEYS[3], first, 'PX', deadline - now + ${RECEIPT_MS})
local ids = {}
local lengths = {}
for m = 0, n - 1 do
  local log, room, folded = KEYS[4 + 3 * m], KEYS[5 + 3 * m], KEYS[6 + 3 * m]
  local a = 4 + 2 * m
  local id = first + m
  local entry = id .. '-0'
  local length = lengths[log] or redis.call('XLEN', log)
  local over = length + 1 - keep
  if over >= slack then
    local gone = redis.call('XRANGE', log, '-', '+', 'COUNT', over)
    redis.call('HSET', room, 'trimmed_to', gone[#gone][1])
    redis.call('XTRIM', log, 'MAXLEN', keep - 1)
    if keep > 1 then redis.call('LTRIM', folded, 0, keep - 2) else redis.call('DEL', folded) end
    length = keep - 1
  end
  redis.call('XADD', log, entry, 'msg', ARGV[a + 1])
  if not lengths[log] then redis.call('PERSIST', room) end
  lengths[log] = length + 1
  redis.call('LPUSH', folded, id .. ':' .. ARGV[a])
  redis.call('XADD', KEYS[2], entry, 'msg', ARGV[a + 1])
  ids[#ids + 1] = id
end
redis.call('XTRIM', KEYS[2], 'MAXLEN', '~', ARGV[3])
return {now, ids}
`;

/**
 * Most messages one run of {@linkcode APPEND} keeps: Redis runs nothing else
 * meanwhile, and a batch of 100 takes it about a millisecond.
 */
const APPEND_BATCH = 100;

/** {@linkcode APPEND}, as run. */
const APPEND_SCRIPT = LuaScript.of(APPEND);

/** Sets (`ARGV[1]` "1": text, by and ts follow) or clears ("0") the topic in room hash `KEYS[1]`. */
const WRITE_TOPIC = `
if ARGV[1] == '1' then
  redis.call('HSET', KEYS[1], 'topic_text', ARGV[2], 'topic_by', ARGV[3], 'topic_ts', ARGV[4])
  redis.call('PERSIST', KEYS[1])
else
  redis.call('HDEL', KEYS[1], 'topic_text', 'topic_by', 'topic_ts')
end
`;

/**
 * Sets a room's topic (`ARGV[1]` "1": text, by and ts follow) or clears it
 * ("0"), before its deadline ({@linkcode BY_DEADLINE}); returns Redis's
 * time (ms). KEYS: the room's hash.
 */
const SET_TOPIC = LuaScript.of(`${BY_DEADLINE}${WRITE_TOPIC}return now
`);

/**
 * {@linkcode SET_TOPIC}, and the event that tells every node of it put in
 * the feed (`bus/cluster.ts`), in one step: a topic refused for want of an
 * answer is neither kept nor told later, and one told is kept. Run again
 * (its answer lost with its connection), it does nothing more. KEYS: the
 * room's hash, `chat:id`, `chat:feed`, its receipt (looked at before the
 * deadline, as {@linkcode APPEND} does); ARGV: as {@linkcode SET_TOPIC}'s,
 * then the feed's keep, the event's JSON, the node's position (the id is
 * taken past it: {@linkcode TAKE_IDS}), then the deadline.
 */
const SET_TOPIC_TOLD = LuaScript.of(`${TAKE_IDS}${CLOCK}
if redis.call('GET', KEYS[4]) then return now end
${DEADLINE}${WRITE_TOPIC}local id = take(KEYS[2], KEYS[3], 1, tonumber(ARGV[#ARGV - 1]))
redis.call('SET', KEYS[4], id, 'PX', deadline - now + ${RECEIPT_MS})
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[#ARGV - 3], id .. '-0', 'ev', ARGV[#ARGV - 2])
return now
`);

/**
 * Publishes `ARGV[1]` on channel `KEYS[1]` before its deadline
 * ({@linkcode BY_DEADLINE}): a private message refused for want of an answer
 * is not delivered later. Returns how many subscribers got it. Run again
 * (its answer lost with its connection, and sent again by the client), it
 * publishes nothing more and returns the first run's count, from its
 * receipt `KEYS[2]` (looked at before the deadline, as {@linkcode APPEND}
 * does): a private message was delivered twice, and its sender could be
 * told it went nowhere.
 */
const PUBLISH_BY_DEADLINE = LuaScript.of(`${CLOCK}
local heard = redis.call('GET', KEYS[2])
if heard then return tonumber(heard) end
${DEADLINE}
heard = redis.call('PUBLISH', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], heard, 'PX', deadline - now + ${RECEIPT_MS})
return heard
`);

/**
 * How long the hash of a room that never had a message nor a topic is
 * kept after a member last entered it (made it live on a node), in ms: a
 * loop of joins of new rooms would otherwise leave a hash behind for each,
 * for good (an attacker's made 64 a second from one address).
 */
export const ROOM_IDLE_MS = 3_600_000;

/**
 * A room's kept name (set to `ARGV[1]` if it has none) and its topic's
 * fields; a room with neither messages nor a topic is forgotten
 * `ARGV[2]` ms from now ({@linkcode ROOM_IDLE_MS}), unless one comes
 * ({@linkcode APPEND}, {@linkcode WRITE_TOPIC}). KEYS: the room's hash, its log.
 */
const ROOM_SCRIPT = LuaScript.of(`
redis.call('HSETNX', KEYS[1], 'name', ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 0 and redis.call('HEXISTS', KEYS[1], 'topic_text') == 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return redis.call('HMGET', KEYS[1], 'name', 'topic_text', 'topic_by', 'topic_ts')
`);

/**
 * One room's search, in Redis, so that what it reads never crosses the
 * network: the room's folded texts (`chat:folded:<key>`, a list, the
 * newest first, each `<id>:<text as searchFold folds it>`, trimmed with the
 * log by {@linkcode APPEND}) read up to {@linkcode SEARCH_PAGE} at a time until
 * `ARGV[2]` match the needle `ARGV[1]` (a plain find past the id), the list
 * ends or its ids reach the edge of the window ({@linkcode FLOOR_OF}); then
 * the stream entries of those that match. A list of plain strings, not the
 * stream, is what is walked: reading stream entries into the script cost
 * 4 µs each, ten times a list's. A run reads at most `ARGV[5]` bytes of
 * folded text, then stops where it is: a script holds Redis up for all its
 * clients while it runs, and a plain find costs up to the needle's length
 * per byte read (a room of "aaa…" searched for "aaa…ab" held Redis 140 ms
 * in one run of the whole 8 MiB). The next run goes on from list index
 * `ARGV[6]` past the texts of ids `ARGV[7]` and above (0: none), which
 * the texts said meanwhile push down the list. Its first read is of 16
 * texts, each next one twice the last, up to a page: a run that stops
 * after a few long texts copies no page it does not read. KEYS: the folded list, the
 * log, the room's hash; ARGV: needle, how many, page, keep, bytes, index,
 * id. Returns where to go on (-1 once done, and that id), the bytes read,
 * and the entries found as `XRANGE` gives them, newest first.
 */
const SEARCH = `
local log, room, keep = KEYS[2], KEYS[3], tonumber(ARGV[4])
${FLOOR_OF}
local found = {}
local want = tonumber(ARGV[2])
local most = tonumber(ARGV[3])
local bytes = tonumber(ARGV[5])
local start = tonumber(ARGV[6])
local below = tonumber(ARGV[7])
local read = 0
local page = 16
while true do
  local texts = redis.call('LRANGE', KEYS[1], start, start + page - 1)
  if #texts == 0 then return {-1, 0, read, found} end
  page = math.min(page * 2, most)
  for i, item in ipairs(texts) do
    local colon = string.find(item, ':', 1, true)
    if colon then
      local id = tonumber(string.sub(item, 1, colon - 1)) or 0
      if id <= floor then return {-1, 0, read, found} end
      if below == 0 or id < below then
        if read + #item > bytes then return {start + i - 1, below, read, found} end
        read = read + #item
        below = id
        if string.find(item, ARGV[1], colon + 1, true) then
          local entry = redis.call('XRANGE', log, id .. '-0', id .. '-0')
          if entry[1] then found[#found + 1] = entry[1] end
          if #found >= want then return {-1, 0, read, found} end
        end
      end
    end
  end
  start = start + #texts
end
`;

/** {@linkcode SEARCH}, as run. */
const SEARCH_SCRIPT = LuaScript.of(SEARCH);

/** Folded texts one {@linkcode SEARCH} reads per `LRANGE`. */
const SEARCH_PAGE = 1000;

/**
 * A range read's time bounds as id bounds, found in Redis by halving: a
 * room's log is in id order and its messages' times rise with their ids,
 * so the first entry past a time is found in about 50 reads of one entry
 * each (one per bit of the ids), never by reading every entry before it
 * (a `beforeTs` older than a full room read all of it: 80 MB a request
 * with long messages). KEYS: the log. ARGV: the lowest id not to return
 * (0: none), the highest (0: none), then `after`'s time and `before`'s
 * ("": none). Returns the two id bounds (strings), the read's, exclusive
 * ("0" for the second: none), or nothing if no message fits.
 */
const BOUNDS = LuaScript.of(`
local log = KEYS[1]
local low, high = tonumber(ARGV[1]), tonumber(ARGV[2])
if high == 0 then high = 9007199254740992 end
local function ts_of(fields)
  for i = 1, #fields, 2 do
    if fields[i] == 'ts' then return tonumber(fields[i + 1]) end
    if fields[i] == 'msg' then
      local ok, m = pcall(cjson.decode, fields[i + 1])
      if ok and type(m) == 'table' then return tonumber(m.ts) end
    end
  end
end
local function first(a, b, passes)
  local best
  while a < b do
    local mid = math.floor((a + b) / 2)
    local e = redis.call('XRANGE', log, string.format('%.0f-0', mid),
      string.format('(%.0f-0', b), 'COUNT', 1)[1]
    if e == nil then
      b = mid
    else
      local id = tonumber(string.match(e[1], '^%d+'))
      local ts = ts_of(e[2])
      if ts == nil or passes(ts) then
        best = id
        b = mid
      else
        a = id + 1
      end
    end
  end
  return best
end
if ARGV[3] ~= '' then
  local after = tonumber(ARGV[3])
  local from = first(low + 1, high, function(ts) return ts > after end)
  if from == nil then return {} end
  low = from - 1
end
if ARGV[4] ~= '' then
  local before = tonumber(ARGV[4])
  local to = first(low + 1, high, function(ts) return ts >= before end)
  if to ~= nil then high = to end
end
if low + 1 >= high then return {} end
if high == 9007199254740992 then high = 0 end
return {string.format('%.0f', low), string.format('%.0f', high)}
`);

/**
 * Bytes of folded text one search reads in Redis, its rooms' scripts
 * together (shared evenly): about 0.1 s of Redis, whatever the texts are.
 * A room of short lines is read to its end (80,000 lines of 100 bytes);
 * one of long ones only as far as that goes, newest first.
 */
export const SEARCH_BYTES = 8 * 1024 * 1024;

/**
 * Bytes of folded text one run of {@linkcode SEARCH} reads for a needle of
 * at most {@linkcode SEARCH_STEP_NEEDLE} characters: a few milliseconds of
 * Redis at worst; a longer needle reads fewer ({@linkcode searchStep}).
 */
export const SEARCH_STEP_BYTES = 256 * 1024;

/** The longest needle a run of {@linkcode SEARCH} reads all of {@linkcode SEARCH_STEP_BYTES} for. */
export const SEARCH_STEP_NEEDLE = 16;

/**
 * Bytes one run of {@linkcode SEARCH} reads for `needle`: a plain find
 * compares up to the needle's length at each byte of a text that keeps
 * almost matching it, so its worst case grows with that length.
 */
function searchStep(needle: string): number {
  // Never below the longest text kept, with its id: each run reads one at least.
  const share = Math.floor(
    SEARCH_STEP_BYTES * SEARCH_STEP_NEEDLE / Math.max(SEARCH_STEP_NEEDLE, needle.length),
  );
  return Math.max(FOLDED_MAX * 4 + 64, share);
}

/** One answer of {@linkcode SEARCH}, checked. */
function searchRun(answer: unknown): {
  next: number;
  below: number;
  read: number;
  entries: Entry[];
} {
  if (!Array.isArray(answer) || answer.length !== 4) {
    throw new Error(`Redis answered a search with ${String(answer).slice(0, 80)}`);
  }
  const [next, below, read, entries] = answer;
  if (typeof next !== "number" || typeof below !== "number" || typeof read !== "number") {
    throw new Error(`Redis answered a search with ${String(answer).slice(0, 80)}`);
  }
  return { next, below, read, entries: entriesOf(entries) };
}

/** History kept in Redis. */
export class RedisHistory implements AsyncHistoryStore {
  /** Reads, and commands without a deadline. */
  readonly #redis: Redis;
  /** Writes with a deadline ({@linkcode BY_DEADLINE}), waited for longer: see the module doc. */
  readonly #writer: Redis;
  readonly #keep: number;
  readonly #prefix: string;
  readonly #feedKeep: number;
  readonly #searchBytes: number;
  readonly #position: () => number;
  /** How long a write may take to be carried out: see {@linkcode WRITE_MARGIN}. */
  readonly #writeMs: number;
  /** How long a write's outcome is asked for: see {@linkcode SETTLE_WAIT}. */
  readonly #settleMs: number;
  /** Pauses of `#settle` under way, cut short by {@linkcode close}. */
  readonly #pauses = new Pauses();
  /** Redis's clock less this node's `performance.now()`: the highest seen. */
  #offset: number;
  #closed = false;
  /** Appends for the next batch. */
  #appends: PendingAppend[] = [];
  /** This store's name in its batches' receipts ({@linkcode APPEND}): new at every start. */
  readonly #self = crypto.randomUUID();
  /** Batches sent so far. */
  #batches = 0;

  private constructor(redis: Redis, writer: Redis, options: RedisHistoryOptions, offset: number) {
    this.#redis = redis;
    this.#writer = writer;
    this.#keep = options.keep;
    this.#prefix = options.prefix ?? "chat:";
    this.#feedKeep = options.feedKeep ?? FEED_KEEP;
    this.#searchBytes = options.searchBytes ?? SEARCH_BYTES;
    this.#position = options.position ?? (() => 0);
    this.#writeMs = (options.commandTimeoutMs ?? COMMAND_TIMEOUT_MS) * (1 - WRITE_MARGIN);
    this.#settleMs = (options.commandTimeoutMs ?? COMMAND_TIMEOUT_MS) * SETTLE_WAIT;
    this.#offset = offset;
  }

  /** Redis said its clock read `redisMs` before now: the offset is at least that. */
  #sample(redisMs: number): void {
    this.#offset = Math.max(this.#offset, redisMs - performance.now());
  }

  /**
   * Runs a {@linkcode BY_DEADLINE} script, its deadline from now. Every
   * answer tells Redis's clock, a refusal's too: were only acknowledged
   * writes to, a clock that jumped ahead would have every write refused.
   * A script with a receipt (`settles`: run again, it answers as its first
   * run did) whose answer does not come is asked for its outcome
   * ({@linkcode #settle}).
   */
  async #write(
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | number)[],
    settles = false,
  ): Promise<unknown> {
    const deadline = Math.floor(performance.now() + this.#offset + this.#writeMs);
    const run = async (by: number) => {
      try {
        return await script.run(this.#writer, keys, [...args, by]);
      } catch (e) {
        const now = e instanceof Error ? /^EXPIRED (\d+)/.exec(e.message)?.[1] : undefined;
        if (now !== undefined) this.#sample(Number(now));
        throw e;
      }
    };
    try {
      return await run(deadline);
    } catch (e) {
      if (!settles || answered(e)) throw e;
      // Asked with a deadline long past: answered from its receipt if it ran,
      // refused if not, never carried out now, after what was sent since.
      return await this.#settle(() => run(0), e);
    }
  }

  /**
   * The outcome of a write whose answer did not come. Redis may have
   * carried it out in time and its answer be late (a network that stalled,
   * Redis paused just after it ran): told "Not sent", its sender would then
   * see it kept after all. Run again with the same receipt and a deadline
   * long past, it answers what the first run did if that ran (its ids, from
   * the receipt), and is refused (`EXPIRED`) if not: never carried out by
   * the asking, which would keep it after lines its sender said since (a
   * first try that never reached Redis, dropped by the client as it
   * reconnected). Refused, nothing of it is kept, ever: a first try still
   * on its way arrives past its own deadline. Asked
   * until Redis answers, for {@linkcode SETTLE_WAIT} command timeouts; past
   * that, refused as before (Redis still away: the rare write carried out
   * just before Redis went can still turn up).
   */
  async #settle(run: () => Promise<unknown>, first: unknown): Promise<unknown> {
    const until = performance.now() + this.#settleMs;
    let last = first;
    while (!this.#closed && performance.now() < until) {
      await this.#pauses.wait(SETTLE_PAUSE_MS);
      // Not piled up behind a connection being made again: asked once it is.
      if (this.#writer.status !== "ready") continue;
      try {
        return await run();
      } catch (e) {
        if (answered(e)) throw e;
        last = e;
      }
    }
    throw last;
  }

  /**
   * Connects to `url` (`redis://` or `rediss://`, with password and db as
   * usual). Rejects, saying why, if Redis cannot be reached or is older than
   * 7; warns (once) if it does not keep its data across a restart.
   */
  static async open(url: string, options: RedisHistoryOptions): Promise<RedisHistory> {
    const timeout = options.commandTimeoutMs ?? COMMAND_TIMEOUT_MS;
    const retry = options.retryMs === undefined ? {} : { retryMs: options.retryMs };
    const redis = await connectRedis(url, { commandTimeoutMs: timeout, ...retry });
    let offset;
    let writer;
    try {
      writer = await connectRedis(url, { commandTimeoutMs: timeout * WRITE_WAIT, ...retry });
      const info = await redis.info("server");
      const version = /^redis_version:(\d+)/m.exec(info)?.[1];
      if (version === undefined || Number(version) < 7) {
        throw new Error(`Redis 7 or later is needed (this one is ${version ?? "unknown"})`);
      }
      for (const warning of await persistence(redis)) options.warn?.(warning);
      const [seconds, micros] = await redis.time();
      offset = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - performance.now();
      if (!Number.isFinite(offset)) throw new TypeError("Cannot read Redis's clock (TIME)");
    } catch (e) {
      redis.disconnect();
      writer?.disconnect();
      throw e;
    }
    return new RedisHistory(redis, writer, options, offset);
  }

  #key(...parts: string[]): string {
    return this.#prefix + parts.join(":");
  }

  #log(key: string): string {
    return this.#key("log", key);
  }

  #folded(key: string): string {
    return this.#key("folded", key);
  }

  /**
   * The highest id a read of room `key` must not return (0: none), and the
   * id of its log's first entry (0: none): {@linkcode FLOOR}.
   */
  async #floor(key: string): Promise<{ floor: number; first: number }> {
    const reply = await FLOOR.run(this.#redis, [this.#log(key), this.#key("room", key)], [
      this.#keep,
    ]);
    const [floor, first] = Array.isArray(reply) ? reply : [];
    if (typeof floor !== "number" || typeof first !== "number") {
      throw new Error(`Redis answered a read with ${String(reply)}`);
    }
    return { floor, first };
  }

  async nextId(): Promise<number> {
    const id = await NEXT_ID.run(this.#redis, [this.#key("id"), this.#key("feed")], [
      this.#position(),
    ]);
    if (typeof id !== "number") throw new Error(`Redis answered an id with ${String(id)}`);
    return id;
  }

  async lastId(): Promise<number> {
    return Number(await this.#redis.get(this.#key("id")) ?? 0);
  }

  /**
   * Keeps a message. Appends asked for in one turn of the event loop go to
   * Redis together, up to {@linkcode APPEND_BATCH} in one run of the script:
   * under load a node's appends cost Redis, and the node, one command per
   * batch, not per message (`bench/README.md`, several nodes). A batch that
   * fails fails each of its appends; one that Redis ran too late for its
   * answer to come within the command timeout is refused (`EXPIRED`), and
   * then none of it is kept.
   */
  append(key: string, message: Omit<RoomMessage, "id">): Promise<RoomMessage> {
    const done = Promise.withResolvers<RoomMessage>();
    if (this.#appends.push({ key, message, done }) === 1) {
      setImmediate(() => this.#appendBatches());
    }
    return done.promise;
  }

  #appendBatches(): void {
    const waiting = this.#appends;
    this.#appends = [];
    for (let i = 0; i < waiting.length; i += APPEND_BATCH) {
      const batch = waiting.slice(i, i + APPEND_BATCH);
      this.#appendBatch(batch).catch((e) => {
        for (const a of batch) a.done.reject(e);
      });
    }
  }

  async #appendBatch(batch: readonly PendingAppend[]): Promise<void> {
    const keys = [
      this.#key("id"),
      this.#key("feed"),
      this.#key("receipt", this.#self, String(++this.#batches)),
    ];
    const args: (string | number)[] = [this.#keep, trimSlack(this.#keep), this.#feedKeep];
    for (const { key, message } of batch) {
      keys.push(this.#log(key), this.#key("room", key), this.#folded(key));
      const { ts, room, from, text } = message;
      const json: MessageJson = { key, ts, room, from, text, kind: kindOf(message) };
      args.push(searchFold(text), JSON.stringify(json));
    }
    args.push(this.#position());
    const reply = await this.#write(APPEND_SCRIPT, keys, args, true);
    const [now, ids] = Array.isArray(reply) ? reply : [];
    if (typeof now !== "number" || !Array.isArray(ids) || ids.length !== batch.length) {
      throw new Error(`Redis answered an append with ${String(reply)}`);
    }
    this.#sample(now);
    batch.forEach(({ message, done }, i) => {
      const id = ids[i];
      if (typeof id === "number") done.resolve({ ...message, id });
      else done.reject(new Error(`Redis answered an append with ${String(id)}`));
    });
  }

  /**
   * Runs of {@linkcode SEARCH}, one after another, each reading at most
   * {@linkcode SEARCH_STEP_BYTES} (fewer, the longer the needle): Redis
   * serves everyone else between two, so a search holds it up for a few
   * milliseconds at a time, however long it reads in all. The rooms share
   * {@linkcode RedisHistoryOptions.searchBytes}.
   */
  async search(keys: readonly string[], folded: string, limit: number): Promise<RoomMessage[]> {
    const n = Math.min(searchLimit(limit), this.#keep);
    if (n === 0 || folded === "" || keys.length === 0) return [];
    const share = Math.floor(this.#searchBytes / keys.length);
    const step = searchStep(folded);
    const found: RoomMessage[][] = [];
    for (const key of keys) {
      const matches: RoomMessage[] = [];
      let left = share;
      let index = 0;
      let below = 0;
      while (left > 0 && matches.length < n) {
        const answer = await SEARCH_SCRIPT.run(this.#redis, [
          this.#folded(key),
          this.#log(key),
          this.#key("room", key),
        ], [
          folded,
          n - matches.length,
          SEARCH_PAGE,
          this.#keep,
          Math.min(step, left),
          index,
          below,
        ]);
        const run = searchRun(answer);
        matches.push(...messagesOf(run.entries));
        // Done, or stopped before a text longer than what is left to read.
        if (run.next < 0 || run.read === 0) break;
        left -= run.read;
        index = run.next;
        below = run.below;
      }
      found.push(matches);
    }
    return newestOf(found, n);
  }

  async recent(key: string, count: number): Promise<RoomMessage[]> {
    const n = Math.min(Math.floor(count), this.#keep);
    if (!(n > 0)) return [];
    const entries = await this.#redis.xrevrange(this.#log(key), "+", "-", "COUNT", n);
    return messagesOf(entries).reverse();
  }

  async after(key: string, after: number, limit: number): Promise<Backlog<RoomMessage>> {
    const log = this.#log(key);
    const n = Math.max(0, Math.min(Math.floor(limit), this.#keep));
    const [entries, { floor }] = await Promise.all([
      // One more than asked for: whether some are past the limit. No more
      // than `keep` are asked for, so none is past the window's edge.
      this.#redis.xrevrange(log, "+", `(${after}-0`, "COUNT", n + 1),
      this.#floor(key),
    ]);
    const messages = messagesOf(entries).reverse();
    const over = messages.length > n;
    return { messages: over ? messages.slice(1) : messages, gap: over || floor > after };
  }

  async range(key: string, query: RangeQuery): Promise<RoomMessage[]> {
    const limit = Math.min(rangeLimit(query.limit), this.#keep);
    if (limit === 0) return [];
    const { after, before } = query;
    const log = this.#log(key);
    // The room's first id too: a read newest first from below it finds
    // nothing, but Redis walks the whole stream back to find that out.
    const { floor, first: firstId } = await this.#floor(key);
    if (firstId === 0) return [];
    let low = Math.max(after !== undefined && "id" in after ? after.id : 0, floor);
    // 0: no upper bound (ids start at 1).
    let high = before !== undefined && "id" in before ? before.id : 0;
    if (before !== undefined && "id" in before && (low + 1 >= high || high <= firstId)) return [];
    if (isTime(after) || isTime(before)) {
      const ts = (bound: Bound | undefined) =>
        bound !== undefined && "ts" in bound ? String(bound.ts) : "";
      const reply = await BOUNDS.run(this.#redis, [log], [
        low,
        high,
        ts(after),
        ts(before),
      ]);
      const [from, to] = Array.isArray(reply) ? reply.map(Number) : [];
      if (Array.isArray(reply) && reply.length === 0) return [];
      if (
        from === undefined || to === undefined || !Number.isSafeInteger(from) ||
        !Number.isSafeInteger(to)
      ) {
        throw new Error(`Redis answered a range with ${String(reply)}`);
      }
      [low, high] = [from, to];
      if (high > 0 && high <= firstId) return [];
    }
    const oldest = query.from === "oldest";
    const taken: RoomMessage[] = [];
    // Page by page from the end the query takes from, until the limit. Past
    // the bounds every message fits their times but one whose node's clock
    // was behind another's: a few more pages at most are read for those.
    let start = low > 0 ? `(${low}-0` : "-";
    let end = high > 0 ? `(${high}-0` : "+";
    for (let read = 0; taken.length < limit && read < limit + PAGE;) {
      const count = limit - taken.length;
      const entries = oldest
        ? await this.#redis.xrange(log, start, end, "COUNT", count)
        : await this.#redis.xrevrange(log, end, start, "COUNT", count);
      read += entries.length;
      for (const m of messagesOf(entries)) {
        if (fits(m, query) && taken.length < limit) taken.push(m);
      }
      const last = entries.at(-1);
      if (last === undefined || entries.length < count) break;
      if (oldest) start = `(${last[0]}`;
      else end = `(${last[0]}`;
    }
    return oldest ? taken : taken.reverse();
  }

  async topic(key: string): Promise<Topic | undefined> {
    const [text, by, ts] = await this.#redis.hmget(
      this.#key("room", key),
      "topic_text",
      "topic_by",
      "topic_ts",
    );
    if (!text || by === null || by === undefined || ts === null || ts === undefined) {
      return undefined;
    }
    return { text, by, ts: Number(ts) };
  }

  /**
   * Publishes `message` on `channel` (a key of this store's prefix) as
   * writes are made: refused, having done nothing, past its deadline.
   * Resolves with how many subscribers got it.
   */
  async publish(channel: string, message: string): Promise<number> {
    const receipt = this.#key("receipt", this.#self, `p${++this.#batches}`);
    const heard = await this.#write(PUBLISH_BY_DEADLINE, [channel, receipt], [message], true);
    if (typeof heard !== "number") {
      throw new Error(`Redis answered a publish with ${String(heard)}`);
    }
    return heard;
  }

  /**
   * A room's name as the service shows it, and its topic: the name is the
   * first one ever given (`name`, if none is kept yet), so that a room
   * made on two nodes at once under two spellings has one name on both.
   */
  async room(key: string, name: string): Promise<{ name: string; topic: Topic | undefined }> {
    const reply: unknown = await ROOM_SCRIPT.run(
      this.#redis,
      [this.#key("room", key), this.#log(key)],
      [name, ROOM_IDLE_MS],
    );
    const [kept, text, by, ts] = Array.isArray(reply) ? reply : [];
    const topic = typeof text === "string" && text !== "" && typeof by === "string" &&
        typeof ts === "string"
      ? { text, by, ts: Number(ts) }
      : undefined;
    return { name: typeof kept === "string" ? kept : name, topic };
  }

  /** Keeps or clears a room's topic; rejects, having done neither, as {@linkcode append} does. */
  async setTopic(key: string, topic: Topic | undefined): Promise<void> {
    const args = topic === undefined ? ["0"] : ["1", topic.text, topic.by, topic.ts];
    const now = await this.#write(SET_TOPIC, [this.#key("room", key)], args);
    if (typeof now !== "number") throw new Error(`Redis answered a topic with ${String(now)}`);
    this.#sample(now);
  }

  /**
   * Keeps or clears a room's topic and puts `event` (JSON, a cluster
   * event) in the feed, in one step; rejects, having done neither, as
   * {@linkcode setTopic} does.
   */
  async setTopicTold(key: string, topic: Topic | undefined, event: string): Promise<void> {
    const args = topic === undefined ? ["0"] : ["1", topic.text, topic.by, topic.ts];
    const keys = [
      this.#key("room", key),
      this.#key("id"),
      this.#key("feed"),
      this.#key("receipt", this.#self, `t${++this.#batches}`),
    ];
    const now = await this.#write(
      SET_TOPIC_TOLD,
      keys,
      [...args, this.#feedKeep, event, this.#position()],
      true,
    );
    if (typeof now !== "number") throw new Error(`Redis answered a topic with ${String(now)}`);
    this.#sample(now);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pauses.end();
    await Promise.all(
      [this.#redis, this.#writer].map((redis) => redis.quit().catch(() => redis.disconnect())),
    );
  }
}

function kindOf(message: Omit<RoomMessage, "id">): number {
  return message.action ? 1 : message.notice ? 2 : 0;
}

function isTime(bound: Bound | undefined): boolean {
  return bound !== undefined && "ts" in bound;
}

/** True if `m` is within the query's time bounds (its id bounds are the read's). */
function fits(m: RoomMessage, query: RangeQuery): boolean {
  const { after, before } = query;
  if (after !== undefined && "ts" in after && !(m.ts > after.ts)) return false;
  if (before !== undefined && "ts" in before && !(m.ts < before.ts)) return false;
  return true;
}

/** The message id of a stream entry id (`<id>-0`); NaN for anything else. */
function idOf(entry: string): number {
  const dash = entry.indexOf("-");
  return Number(dash >= 0 ? entry.slice(0, dash) : entry);
}

/** A stream entry as Redis gives it: its id, and its fields and values in turn. */
type Entry = readonly [string, readonly string[]];

/** A script's answer as stream entries, checked: anything not shaped as one is left out. */
function entriesOf(reply: unknown): Entry[] {
  if (!Array.isArray(reply)) throw new Error(`Redis answered a search with ${String(reply)}`);
  const entries: Entry[] = [];
  for (const item of reply) {
    if (!Array.isArray(item)) continue;
    const [id, fields] = item;
    if (typeof id !== "string" || !Array.isArray(fields)) continue;
    if (!fields.every((f): f is string => typeof f === "string")) continue;
    entries.push([id, fields]);
  }
  return entries;
}

/** Room messages from stream entries, skipping any that are not one of ours. */
function messagesOf(entries: readonly Entry[]): RoomMessage[] {
  const messages: RoomMessage[] = [];
  for (const entry of entries) {
    const parsed = parseEntry(entry);
    if (parsed) messages.push(parsed.message);
  }
  return messages;
}

/**
 * A `chat:feed` entry: a room message with its room's key; an event's
 * JSON (`ev`), parsed and not yet checked (`undefined` if it is not JSON);
 * the mark of a raised id counter (`lost`, {@linkcode TAKE_IDS}); or, with
 * its id alone, an entry that is none of these, which a reader passes over.
 */
export type FeedEntry =
  | { id: number; key: string; message: RoomMessage }
  | { id: number; event: unknown }
  | { id: number; lost: { was: number; floor: number } }
  | { id: number };

/** `chat:feed` entries, in their order; any without a message id as its entry id is left out. */
export function feedEntriesOf(entries: readonly Entry[]): FeedEntry[] {
  const out: FeedEntry[] = [];
  for (const entry of entries) {
    const id = idOf(entry[0]);
    if (!Number.isSafeInteger(id)) continue;
    const ev = fieldOf(entry[1], "ev");
    if (ev !== undefined) {
      out.push({ id, event: parseJson(ev) });
      continue;
    }
    const lost = /^(\d{1,16}) (\d{1,16})$/.exec(fieldOf(entry[1], "lost") ?? "");
    if (lost) {
      out.push({ id, lost: { was: Number(lost[1]), floor: Number(lost[2]) } });
      continue;
    }
    const parsed = parseEntry(entry);
    out.push(parsed?.key === undefined ? { id } : { id, key: parsed.key, message: parsed.message });
  }
  return out;
}

/** A room message as its entries carry it (`msg`): with its room's key, without its id. */
interface MessageJson {
  key: string;
  ts: number;
  room: string;
  from: string;
  text: string;
  /** 0 plain, 1 action, 2 notice. */
  kind: number;
}

/** True if `v` is a {@linkcode MessageJson}: what another node wrote is checked, not trusted. */
function isMessageJson(v: unknown): v is MessageJson {
  if (typeof v !== "object" || v === null) return false;
  const o: Record<string, unknown> = { ...v };
  return typeof o.key === "string" && Number.isFinite(o.ts) && typeof o.room === "string" &&
    typeof o.from === "string" && typeof o.text === "string" && typeof o.kind === "number";
}

/** The room message that `json` and its entry id are. */
function messageOf(id: number, json: MessageJson): RoomMessage {
  const { ts, room, from, text, kind } = json;
  const message: RoomMessage = { type: "message", id, ts, room, from, text };
  if (kind === 1) message.action = true;
  else if (kind === 2) message.notice = true;
  return message;
}

/** True if `e` is Redis's own answer (an error reply), not a want of one. */
export function answered(e: unknown): boolean {
  return e instanceof Error && e.name === "ReplyError";
}

/** `text` as JSON, unchecked; undefined if it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    if (e instanceof SyntaxError) return undefined;
    throw e;
  }
}

/** The value of field `name` in a stream entry's fields and values. */
function fieldOf(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/**
 * One entry as a room message and the room key it carries (which a
 * six-field entry in a room's log does not); undefined if it is not one.
 */
function parseEntry([entry, fields]: Entry): { key?: string; message: RoomMessage } | undefined {
  const id = idOf(entry);
  const msg = fieldOf(fields, "msg");
  if (msg !== undefined) {
    const json = parseJson(msg);
    if (!Number.isSafeInteger(id) || !isMessageJson(json)) return undefined;
    return { key: json.key, message: messageOf(id, json) };
  }
  const get = (name: string) => fieldOf(fields, name);
  const ts = Number(get("ts"));
  const room = get("room");
  const from = get("from");
  const text = get("text");
  const kind = get("kind");
  if (!Number.isSafeInteger(id) || !Number.isFinite(ts)) return undefined;
  if (room === undefined || from === undefined || text === undefined) return undefined;
  const message: RoomMessage = { type: "message", id, ts, room, from, text };
  if (kind === "1") message.action = true;
  else if (kind === "2") message.notice = true;
  const key = get("key");
  return key === undefined ? { message } : { key, message };
}

/**
 * What Redis's persistence settings put at risk: without an append-only
 * file, ids handed out again after a restart (and acknowledged messages
 * lost). Any `appendfsync` keeps what a killed Redis acknowledged, as
 * SQLite's `synchronous=NORMAL` does for `--db`. A Redis that does not allow
 * `CONFIG` (some hosted ones) is said to be unchecked.
 */
async function persistence(redis: Redis): Promise<string[]> {
  let reply: unknown;
  try {
    reply = await redis.config("GET", "append*");
  } catch (e) {
    return [`cannot check Redis's persistence (CONFIG GET: ${errorText(e)}); keep appendonly on`];
  }
  const settings = new Map<string, string>();
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) {
      settings.set(String(reply[i]), String(reply[i + 1]));
    }
  }
  if (settings.get("appendonly") !== "yes") {
    return [
      "Redis has appendonly off: after a Redis restart, message ids could be handed out again " +
      "(turn it on: CONFIG SET appendonly yes, and in redis.conf)",
    ];
  }
  return [];
}
