/**
 * Nicknames held across nodes, and which nodes are alive: what makes a
 * nickname unique in a service of several processes (`--redis URL`).
 *
 * - **A nickname is a key** (`chat:nick:<fold>`, the look-alike fold of
 *   `common/nick.ts`) whose value is the owning node's id and which expires
 *   after the lease ({@linkcode LEASE_MS}). A claim sets it if it is free
 *   (or renews it if it names this node): of any number of nodes claiming
 *   one nickname at once, exactly one gets it. The
 *   same script moves the node's own lease to end no sooner, so a node
 *   found dead holds no nickname any more.
 * - **The owner renews** every nickname it holds, and its own liveness, in
 *   one script every {@linkcode LeaseOptions.renewMs}. A nickname whose key
 *   now names another node was taken while this node could not renew (it
 *   was paused, or cut off from Redis, past its lease): it is lost, and the
 *   node is told ({@linkcode LeaseOptions.onLost}) so that it lets the member
 *   go. That is the fence: a node never keeps a seat someone else has taken
 *   since. A key that merely expired, with nobody taking it, is claimed
 *   again.
 * - **A node's id is new at every start** (`crypto.randomUUID()`), so a
 *   restarted node owns nothing of its former life.
 * - **Liveness** is `chat:nodes`, a sorted set of node ids by the time
 *   (Redis's clock, `TIME`) their lease ends. Every node sweeps it: a node
 *   past its lease (killed, or cut off) is removed by exactly one sweeper
 *   (`ZREM` answers 1 to one of them), which is told
 *   ({@linkcode LeaseOptions.onDead}) so that its members' leaves are
 *   announced once. Its nickname keys expire by themselves within the lease.
 *   A node back from losing Redis (or finding its own lease ended) finds
 *   nobody dead for one lease: the others' leases ended for the same reason
 *   (Redis was down, or restarted), and they renew within that.
 * - **A member listed on a live node holds its name** even once its key
 *   expired (an outage past the lease): a claim elsewhere is refused until
 *   that node renews the key, or is found dead.
 * - **A nickname taken over** by another node (`bus/cluster.ts`, a member
 *   back with its token) is {@linkcode NickLeases.adopt}ed there, and lost
 *   here: this node's next renewal finds the key naming the other node and
 *   tells {@linkcode LeaseOptions.onLost}, as for any nickname taken.
 *
 * Key layout: `history/redis.ts`.
 *
 * @module
 */

import type { Redis } from "ioredis";
import { connectRedis, TAKE_IDS } from "../history/redis.ts";

/** How long a nickname and a node stay held without renewal. */
export const LEASE_MS = 10_000;

/** Options for {@linkcode NickLeases.open}. */
export interface LeaseOptions {
  /** `redis://` or `rediss://` URL. */
  url: string;
  /** Prefix of every key. @default {"chat:"} */
  prefix?: string;
  /** This node's id. @default {a new `crypto.randomUUID()`} */
  node?: string;
  /** @default {LEASE_MS} */
  leaseMs?: number;
  /** How often leases are renewed and dead nodes looked for. @default {leaseMs / 3} */
  renewMs?: number;
  /** Milliseconds a command may wait for its answer. @default {2_000} */
  commandTimeoutMs?: number;
  /** Milliseconds between tries to reconnect (`connectRedis`). */
  retryMs?: number;
  /** Nicknames (folded) this node held and another node has taken since. */
  onLost?(folds: string[]): void;
  /** A node whose lease ended; told to exactly one node of the service. */
  onDead?(node: string): void;
  /**
   * This node's own lease had ended (it was paused or cut off that long) and
   * another node may have announced its members' leaves: they are back now,
   * and the nicknames it still holds are its own.
   */
  onRevived?(): void;
  /** Renewing failed (Redis cannot be reached); told once until it works again. */
  onError?(error: unknown): void;
  /**
   * How far this node has read `chat:feed`: a claim that finds Redis's id
   * counter below it is refused (see {@linkcode CLAIM}). @default {() => 0}
   */
  position?: () => number;
}

/**
 * Renews this node and the nicknames it holds, and keeps in `chat:read` the
 * furthest any node has read the feed. KEYS: `chat:nodes`, `chat:read`,
 * then the nickname keys; ARGV: node id, lease ms, this node's position.
 * Returns 1 if the node was not registered (new, or removed as dead), else
 * 0; then 1 if it was but its lease had ended (nobody had found it dead
 * yet), else 0; then the furthest read; then the indexes (1-based, in KEYS
 * after the first two) of the nicknames lost to another node.
 */
const RENEW = `
local read = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[3]) > read then
  read = tonumber(ARGV[3])
  redis.call('SET', KEYS[2], ARGV[3])
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
local was = redis.call('ZSCORE', KEYS[1], ARGV[1])
local lapsed = 0
if was and tonumber(was) < now then lapsed = 1 end
local lost = {redis.call('ZADD', KEYS[1], now + lease, ARGV[1]), lapsed, read}
for i = 3, #KEYS do
  local owner = redis.call('GET', KEYS[i])
  if owner == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], lease)
  elseif not owner then
    redis.call('SET', KEYS[i], ARGV[1], 'PX', lease)
  else
    lost[#lost + 1] = i - 2
  end
end
return lost
`;

/**
 * Removes the nodes past their lease, and keeps each in `chat:dead` until
 * whoever was told it is dead has carried that out (`bus/cluster.ts`'s
 * DEAD removes it there). Returns those this call removed, and those
 * waiting there longer than a lease (their finder never carried it out:
 * it stopped, or the answer to its sweep was lost with its connection and
 * ioredis's resend found nothing left to remove), each handed to one
 * sweeper a lease; one registered again since is taken off instead. A
 * sweeper past its own lease removes itself too, and keeps itself off
 * `chat:dead` (it renews next). KEYS: `chat:nodes`, `chat:dead`; ARGV:
 * lease ms, the sweeper's id.
 */
const SWEEP = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
local removed = {}
for _, node in ipairs(dead) do
  if redis.call('ZREM', KEYS[1], node) == 1 then
    removed[#removed + 1] = node
    if node ~= ARGV[2] then redis.call('ZADD', KEYS[2], now, node) end
  end
end
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[1]))
for _, node in ipairs(stale) do
  if redis.call('ZSCORE', KEYS[1], node) then
    redis.call('ZREM', KEYS[2], node)
  else
    redis.call('ZADD', KEYS[2], now, node)
    removed[#removed + 1] = node
  end
end
return removed
`;

/**
 * Claims a nickname for this node: free, or this node's already (its lease
 * renewed). Not free while the member list (`chat:members`, `bus/cluster.ts`)
 * has its member on another node still registered: its key may have expired
 * while nobody could renew it (Redis was down, or restarted on data older
 * than the lease), but that member is connected, and its node renews the
 * key once it can. On success, moves the node's own lease to end no sooner
 * than the nickname's, so that a node found dead holds no nickname any more
 * (`XX`: a node removed as dead is registered again by its renewal only,
 * which tells it {@linkcode LeaseOptions.onRevived}). Refused (an error,
 * `LOST …`) by a Redis whose id counter is below this node's position, or
 * that does not list this node: it came back without its data (or part of
 * it), nicknames and the member list with it, and a name free in it now
 * may be a connected member's whose node has not renewed it yet (a node
 * found dead is not listed either, and claims nothing until its renewal
 * has said what it lost). A counter below is raised and the loss marked as
 * every script that takes an id does (`TAKE_IDS`), so every node hears of
 * it and renews at once. KEYS: the nickname key, `chat:nodes`, `chat:members`,
 * `chat:id`, `chat:feed`; ARGV: node id, lease ms, the fold, the position.
 * Returns 1 if claimed.
 */
const CLAIM = `${TAKE_IDS}
local _, raised = take(KEYS[4], KEYS[5], 0, tonumber(ARGV[4]))
if raised then
  return redis.error_reply('LOST Redis came back without its data: nicknames are being claimed again')
end
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return redis.error_reply('LOST this node is not registered: it renews first')
end
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
elseif owner then
  return 0
else
  local raw = redis.call('HGET', KEYS[3], ARGV[3])
  if raw then
    local ok, record = pcall(cjson.decode, raw)
    if ok and type(record) == 'table' and type(record.node) == 'string'
        and record.node ~= ARGV[1] and redis.call('ZSCORE', KEYS[2], record.node) then
      return 0
    end
  end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], 'XX', 'GT', now + tonumber(ARGV[2]), ARGV[1])
return 1
`;

/** Deletes a nickname key if this node owns it. KEYS: the key; ARGV: node id. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** The nicknames this node holds in Redis, renewed until it closes. */
export class NickLeases {
  /** This node's id. */
  readonly node: string;
  readonly #redis: Redis;
  readonly #options: LeaseOptions;
  readonly #prefix: string;
  readonly #leaseMs: number;
  readonly #held = new Set<string>();
  /**
   * Names given up while Redis could not be reached (a member who left
   * then): their keys may still name this node, so they are given up again
   * at each renewal until Redis has carried it out. Left to expire, such a
   * key kept the name from everyone for up to a lease.
   */
  readonly #unreleased = new Set<string>();
  /** Claims under way, by name: a name being claimed again is not given up behind it. */
  readonly #claiming = new Map<string, number>();
  readonly #timer: ReturnType<typeof setInterval>;
  #renewing: Promise<void> = Promise.resolve();
  #failing = false;
  #closed = false;
  /** False until the first renewal has registered the node. */
  #registered = false;
  /** No node is found dead before this time (`performance.now()`): see {@linkcode renew}. */
  #sweepFrom = 0;
  /** When Redis was last found back ({@linkcode back}). */
  #backAt = 0;
  /**
   * Until when (`performance.now()`) every nickname this node holds is
   * surely its own: a lease from the moment its last renewal that Redis
   * carried out was sent (Redis ran it later, so its leases end later).
   */
  #heldUntil = 0;
  /**
   * The furthest any node had read the feed, as Redis said at this node's
   * last renewal (or further, as Redis had it at an earlier one): kept
   * here, it outlives a Redis that comes back from an older copy of its
   * data ({@linkcode floor}): ids another node had read by then are not
   * handed out again, nor (the raise's headroom) those it read a little
   * after.
   */
  #furthest = 0;

  private constructor(redis: Redis, node: string, options: LeaseOptions) {
    this.#redis = redis;
    this.node = node;
    this.#options = options;
    this.#prefix = options.prefix ?? "chat:";
    this.#leaseMs = options.leaseMs ?? LEASE_MS;
    const every = options.renewMs ?? Math.floor(this.#leaseMs / 3);
    this.#timer = setInterval(() => this.#tick(), every);
  }

  /** Connects, and registers this node as alive. Rejects, saying why, if Redis cannot be reached. */
  static async open(options: LeaseOptions): Promise<NickLeases> {
    const redis = await connectRedis(options.url, {
      commandTimeoutMs: options.commandTimeoutMs ?? 2_000,
      ...options.retryMs === undefined ? {} : { retryMs: options.retryMs },
    });
    const leases = new NickLeases(redis, options.node ?? crypto.randomUUID(), options);
    try {
      await leases.#renew();
    } catch (e) {
      await leases.abandon();
      throw e;
    }
    return leases;
  }

  /** How many nicknames this node holds. */
  get size(): number {
    return this.#held.size;
  }

  /** True if this node holds `fold`. */
  holds(fold: string): boolean {
    return this.#held.has(fold);
  }

  /**
   * Claims `fold` for this node: true if it is now this node's, false if
   * another node holds it. Redis is asked even for a name held here: another
   * node may have taken it over since (a member back there with its token),
   * and this node hears of that only at its next renewal.
   */
  async claim(fold: string): Promise<boolean> {
    // Not given up again behind this claim (commands run in the order sent).
    this.#unreleased.delete(fold);
    this.#claiming.set(fold, (this.#claiming.get(fold) ?? 0) + 1);
    try {
      const ok = await this.#redis.eval(
        CLAIM,
        5,
        this.#nick(fold),
        this.#key("nodes"),
        this.#key("members"),
        this.#key("id"),
        this.#key("feed"),
        this.node,
        this.#leaseMs,
        fold,
        this.floor,
      );
      if (ok !== 1) return false;
      this.#held.add(fold);
      return true;
    } finally {
      const left = (this.#claiming.get(fold) ?? 1) - 1;
      if (left > 0) this.#claiming.set(fold, left);
      else this.#claiming.delete(fold);
    }
  }

  /**
   * Holds `fold` from now on, renewing it: its key was set to this node by
   * another step (a take-over, `bus/cluster.ts`), not by {@linkcode claim}.
   */
  adopt(fold: string): void {
    this.#held.add(fold);
    this.#unreleased.delete(fold);
  }

  /**
   * Stops renewing `fold`: another node took it over (and renews it). Held
   * on, this node's renewal would set it again once that node let it go,
   * and hold it for nobody. Its key is left as it is if it names another
   * node; if it names this one (that node let it go, and this node's
   * renewal set it again before this node heard of the take-over), it is
   * given up.
   */
  async disown(fold: string): Promise<void> {
    this.#held.delete(fold);
    await this.#redis.eval(RELEASE, 1, this.#nick(fold), this.node);
  }

  /**
   * Gives `fold` up, if this node holds it (`unsure`: its key is looked at
   * even if this node does not know it holds it).
   */
  async release(fold: string, unsure = false): Promise<void> {
    if (!this.#held.delete(fold) && !unsure) return;
    try {
      await this.#redis.eval(RELEASE, 1, this.#nick(fold), this.node);
    } catch (e) {
      if (!this.#held.has(fold) && !this.#claiming.has(fold)) this.#unreleased.add(fold);
      throw e;
    }
  }

  /** Who holds `fold`: a node id, or undefined. */
  async owner(fold: string): Promise<string | undefined> {
    return await this.#redis.get(this.#nick(fold)) ?? undefined;
  }

  /** Stops renewing, gives up every nickname and leaves the service. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#renewing;
    try {
      const all = [...this.#held];
      this.#held.clear();
      await Promise.all(all.map((f) => this.#redis.eval(RELEASE, 1, this.#nick(f), this.node)));
      await this.#redis.zrem(this.#key("nodes"), this.node);
      await this.#redis.quit();
    } catch {
      this.#redis.disconnect();
    }
  }

  /** Stops renewing and lets go of the connection, leaving everything to expire: as a killed node would. */
  async abandon(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#renewing;
    this.#redis.disconnect();
  }

  #key(name: string): string {
    return this.#prefix + name;
  }

  #nick(fold: string): string {
    return this.#key(`nick:${fold}`);
  }

  /**
   * Redis answers again (another connection found it): a renewal begun
   * before now that fails afterwards (it timed out meanwhile) is not told.
   */
  back(): void {
    this.#backAt = performance.now();
  }

  /**
   * Renews now what the timer renews every `renewMs`, and looks for dead
   * nodes: as when Redis answers again after a loss. Settles once done;
   * never rejects (a failure goes to `onError`).
   */
  renew(): Promise<void> {
    this.#renewing = this.#renewing.then(async () => {
      if (this.#closed) return;
      const began = performance.now();
      try {
        await this.#renew();
        await this.#releaseLeftovers();
        // Back from a loss, the others' leases may have ended for the same
        // reason as this node's (Redis was down, or restarted): they are
        // given a lease's time to renew before any is found dead.
        if (this.#failing) this.#sweepFrom = performance.now() + this.#leaseMs;
        this.#failing = false;
        if (performance.now() >= this.#sweepFrom) await this.#sweep();
      } catch (e) {
        // Begun before Redis was found back (see back()): says nothing of Redis now.
        if (began < this.#backAt) return;
        if (!this.#failing) this.#options.onError?.(e);
        this.#failing = true;
      }
    });
    return this.#renewing;
  }

  #tick(): void {
    void this.renew();
  }

  /**
   * What the ids this node takes are past (`TAKE_IDS`): its position, or
   * the furthest any node had read ({@linkcode #furthest}) if that is
   * further: a Redis back from an older
   * copy of its data, whose counter is past this node's position but behind
   * another's, would otherwise hand out ids that node has read.
   */
  get floor(): number {
    return Math.max(this.#options.position?.() ?? 0, this.#furthest);
  }

  /**
   * How long from now this node's nicknames are surely its own, in ms
   * (negative: they may have lapsed, and been taken, while it could not
   * renew them: it was paused, or cut off, past its lease).
   */
  get heldFor(): number {
    return this.#heldUntil - performance.now();
  }

  async #renew(): Promise<void> {
    const held = [...this.#held];
    const keys = [this.#key("nodes"), this.#key("read"), ...held.map((f) => this.#nick(f))];
    const sent = performance.now();
    const lost: unknown = await this.#redis.eval(
      RENEW,
      keys.length,
      ...keys,
      this.node,
      this.#leaseMs,
      this.#options.position?.() ?? 0,
    );
    this.#heldUntil = sent + this.#leaseMs;
    if (!Array.isArray(lost)) return;
    const [added, lapsed, read, ...indexes] = lost;
    if (typeof read === "number" && read > this.#furthest) this.#furthest = read;
    const folds: string[] = [];
    for (const index of indexes) {
      const fold = typeof index === "number" ? held[index - 1] : undefined;
      if (fold !== undefined && this.#held.delete(fold)) folds.push(fold);
    }
    // The names lost first: a node revived tells the others the seats it
    // holds, and one taken since is not its any more (it would evict the
    // member who has it now).
    if (folds.length > 0) this.#options.onLost?.(folds);
    const revived = added === 1 && this.#registered;
    if (revived || lapsed === 1) this.#sweepFrom = performance.now() + this.#leaseMs;
    if (revived) this.#options.onRevived?.();
    this.#registered = true;
  }

  /** Gives up again what was given up while Redis could not be reached ({@linkcode #unreleased}). */
  async #releaseLeftovers(): Promise<void> {
    for (const fold of [...this.#unreleased]) {
      // Claimed here again since: this node's own now, not given up.
      if (!this.#unreleased.has(fold)) continue;
      await this.#redis.eval(RELEASE, 1, this.#nick(fold), this.node);
      this.#unreleased.delete(fold);
    }
  }

  async #sweep(): Promise<void> {
    const removed: unknown = await this.#redis.eval(
      SWEEP,
      2,
      this.#key("nodes"),
      this.#key("dead"),
      this.#leaseMs,
      this.node,
    );
    if (!Array.isArray(removed)) return;
    for (const node of removed) {
      if (typeof node === "string" && node !== this.node) this.#options.onDead?.(node);
    }
  }
}
