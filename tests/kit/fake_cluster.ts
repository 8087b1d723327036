/**
 * An in-memory stand-in for Redis behind several hubs (`server/hub/cluster.ts`):
 * one {@linkcode FakeBus} is the service (ids, room histories, topics, the
 * member list, nickname owners, the feed), and each {@linkcode FakeCluster}
 * is one node's view of it. The feed is handed to every node in one order
 * on a later turn of the event loop, as Redis would; {@linkcode FakeBus.settle}
 * waits until every node has taken everything. `down` makes every call fail
 * as a Redis that cannot be reached does.
 *
 * @module
 */

import type { Topic } from "../../common/protocol.ts";
import {
  type AsyncHistoryStore,
  MemoryHistory,
  type RoomMessage,
} from "../../server/history/history.ts";
import {
  type Ban,
  type Cluster,
  type ClusterEvent,
  type ClusterSink,
  type Forwarded,
  type MemberRecord,
  type Reconciled,
  SeatMoved,
  type TakenOver,
  tokenHash,
} from "../../server/hub/cluster.ts";

type Entry =
  | { id: number; key: string; message: RoomMessage }
  | { id: number; event: ClusterEvent }
  | { id: number; lost: true };

/** The service: what Redis holds. */
export class FakeBus {
  readonly history = new MemoryHistory(10_000);
  readonly members = new Map<string, MemberRecord>();
  readonly owners = new Map<string, string>();
  /** Each room's name, the first one given (`Cluster.room`). */
  readonly roomNames = new Map<string, string>();
  /** The bans kept (`Cluster.ban`), with when each ends (`Date.now()`'s clock). */
  readonly bans: { ban: Ban; until: number }[] = [];
  readonly feed: Entry[] = [];
  readonly nodes = new Set<FakeCluster>();
  down = false;
  /** While true, Redis answers every command with an error: reachable, refusing (out of memory). */
  refusing = false;
  /**
   * How many of the next messages posted are answered with their id and
   * then lost (Redis died before the feed brought them, and came back
   * without them): after the last one's answer, the raise of the id
   * counter is marked in the feed ({@linkcode markLost}), or, with
   * {@linkcode losingBy} "reissue", another line is put in the feed under
   * the last one's id (Redis came back from an older copy of its data).
   */
  losing = 0;
  losingBy: "mark" | "reissue" = "mark";
  /**
   * While set, every message posted, and every private message's id, waits
   * for it: as a slow Redis. {@linkcode held} is told each time one waits.
   */
  posts: Promise<void> | undefined;
  /** While set, everything a node tells (a join, a part, a topic, a nickname…) waits for it. */
  tells: Promise<void> | undefined;
  held: () => void = () => {};
  #pending = 0;
  #idle: PromiseWithResolvers<void> | undefined;

  /** Marks in the feed, as `TAKE_IDS` does, that the id counter was raised past what Redis lost. */
  markLost(): void {
    this.feed.push({ id: this.history.nextId(), lost: true });
    this.publish();
  }

  /** Redis back without its data: nicknames and the member list gone, the raise marked. */
  loseData(): void {
    this.owners.clear();
    this.members.clear();
    this.markLost();
  }

  /** Another member's line in the feed under `lost`'s id: Redis handed it out again. */
  reissue(key: string, lost: RoomMessage): void {
    const message = { ...lost, from: "mallory", text: "someone else's line" };
    this.feed.push({ id: lost.id, key, message });
    this.publish();
  }

  /** Hands every node the entries it has not had, on a later turn. */
  publish(): void {
    this.later(() => {
      for (const node of this.nodes) node.pump();
    });
  }

  /** Runs `f` on a later turn, as a reply from Redis comes; {@linkcode settle} waits for it. */
  later(f: () => void): void {
    this.#pending++;
    setTimeout(() => {
      f();
      if (--this.#pending === 0) this.#idle?.resolve();
    }, 0);
  }

  /** Resolves once every entry so far has reached every node. */
  async settle(): Promise<void> {
    while (this.#pending > 0) {
      this.#idle = Promise.withResolvers<void>();
      await this.#idle.promise;
    }
    // What the nodes did on taking the entries may have added more.
    await new Promise((r) => setTimeout(r, 0));
    if (this.#pending > 0) await this.settle();
  }

  check(): void {
    if (this.down) throw new Error("Redis cannot be reached");
    if (this.refusing) throw new Error("OOM command not allowed when used memory > 'maxmemory'.");
  }

  /** Redis answers again: every node is told, as the first command that works tells it. */
  recover(): void {
    this.down = false;
    for (const node of this.nodes) this.later(() => node.recovered());
  }
}

/** One node's view of the {@linkcode FakeBus}. */
export class FakeCluster implements Cluster {
  readonly node: string;
  readonly bus: FakeBus;
  readonly store: AsyncHistoryStore;
  #sink: ClusterSink | undefined;
  #position = 0;
  #reached: { id: number; done: () => void }[] = [];
  /** Events up to this id are not handed on: the member list read at {@linkcode back} stands for them. */
  #reflected = 0;
  /** The next message is handed on with `gap` set: messages were trimmed away. */
  #gap = false;
  /** While true, this node hears nothing of the feed (cut off); see {@linkcode back}. */
  away = false;

  constructor(bus: FakeBus, node: string) {
    this.bus = bus;
    this.node = node;
    const h = bus.history;
    const guard = async <T>(f: () => T): Promise<T> => {
      await Promise.resolve();
      bus.check();
      return f();
    };
    this.store = {
      nextId: () => guard(() => h.nextId()),
      lastId: () => guard(() => h.lastId()),
      append: (key, message) => guard(() => this.#append(key, message)),
      recent: (key, count) => guard(() => h.recent(key, count)),
      after: (key, after, limit) => guard(() => h.after(key, after, limit)),
      range: (key, query) => guard(() => h.range(key, query)),
      search: (keys, folded, limit) => guard(() => h.search(keys, folded, limit)),
      topic: (key) => guard(() => h.topic(key)),
      setTopic: (key, topic) => guard(() => h.setTopic(key, topic)),
      close: () => Promise.resolve(),
    };
  }

  get up(): boolean {
    return !this.bus.down;
  }

  get reachable(): boolean {
    return !this.bus.down;
  }

  get position(): number {
    return this.#position;
  }

  #append(key: string, draft: Omit<RoomMessage, "id">): RoomMessage {
    const message = { ...draft, id: this.bus.history.nextId() };
    if (this.bus.losing > 0) {
      if (--this.bus.losing === 0) {
        const bus = this.bus;
        bus.later(() => bus.losingBy === "mark" ? bus.markLost() : bus.reissue(key, message));
      }
      return message;
    }
    this.bus.history.append(key, message);
    this.bus.feed.push({ id: message.id, key, message });
    this.bus.publish();
    return message;
  }

  /** Waits for {@linkcode FakeBus.posts}, if set. */
  async #slow(): Promise<void> {
    if (this.bus.posts === undefined) return await Promise.resolve();
    this.bus.held();
    await this.bus.posts;
  }

  /** Hands the sink what it has not had yet. */
  pump(): void {
    const sink = this.#sink;
    if (!sink || this.away) return;
    for (const entry of this.bus.feed) {
      if (entry.id <= this.#position) continue;
      this.#position = entry.id;
      if ("lost" in entry) {
        sink.idsLost();
      } else if ("event" in entry) {
        if (entry.id > this.#reflected) sink.event(entry.event);
      } else {
        sink.message(entry.key, entry.message, this.#gap);
        this.#gap = false;
      }
    }
    this.#reached = this.#reached.filter((r) => r.id > this.#position || void r.done());
  }

  start(sink: ClusterSink): Promise<MemberRecord[]> {
    this.bus.check();
    this.#sink = sink;
    this.#position = this.bus.feed.at(-1)?.id ?? 0;
    this.bus.nodes.add(this);
    return Promise.resolve([...this.bus.members.values()].map((r) => structuredClone(r)));
  }

  async claim(fold: string): Promise<boolean> {
    await Promise.resolve();
    this.bus.check();
    // As Redis's leases do: a node's claim of a name it holds already is a yes.
    const owner = this.bus.owners.get(fold);
    if (owner !== undefined) return owner === this.node;
    // And a name listed as another live node's member is not free, its key gone or not.
    const listed = this.bus.members.get(fold)?.node;
    if (listed !== undefined && listed !== this.node) {
      if ([...this.bus.nodes].some((n) => n.node === listed)) return false;
    }
    this.bus.owners.set(fold, this.node);
    return true;
  }

  async takeOver(
    fold: string,
    token: string,
    fresh: string,
  ): Promise<TakenOver | null | undefined> {
    await Promise.resolve();
    this.bus.check();
    const record = this.bus.members.get(fold);
    if (!record) return null;
    if (record.token !== tokenHash(token)) return undefined;
    // As Redis's: not one whose name was claimed afresh since its node was found dead.
    const owner = this.bus.owners.get(fold);
    if (owner !== undefined && owner !== record.node && owner !== this.node) return undefined;
    this.bus.owners.set(fold, this.node);
    // As Redis's: the record names this node, and the new token, from now on.
    const was = structuredClone(record);
    record.node = this.node;
    record.token = tokenHash(fresh);
    return { record: was, at: this.bus.history.lastId() };
  }

  /** The names {@linkcode disown}ed, in order: the fake has no renewals to stop. */
  readonly disowned: string[] = [];

  disown(fold: string): void {
    this.disowned.push(fold);
    // As Redis's leases: a key naming this node (set again after its taker let it go) is given up.
    if (this.bus.owners.get(fold) === this.node) this.bus.owners.delete(fold);
  }

  /** As Redis's leases: given up only if this node holds it (sure of it or not). */
  release(fold: string, _unsure?: boolean): void {
    if (this.bus.owners.get(fold) === this.node) this.bus.owners.delete(fold);
  }

  async post(key: string, message: Omit<RoomMessage, "id">): Promise<RoomMessage> {
    await this.#slow();
    return await this.store.append(key, message);
  }

  async tell(
    event: ClusterEvent,
    records: readonly [string, MemberRecord | null][] = [],
  ): Promise<void> {
    await Promise.resolve();
    if (this.bus.tells) await this.bus.tells;
    this.bus.check();
    // As Redis's: nothing is told about a member whose record is another live node's.
    const live = new Set([...this.bus.nodes].map((n) => n.node));
    for (const [fold, record] of records) {
      const now = this.bus.members.get(fold);
      if (now && now.node !== event.node && live.has(now.node)) throw new SeatMoved();
      // Nor one whose nickname another node holds (this one lost it while cut off).
      const owner = this.bus.owners.get(fold);
      if (record && owner !== undefined && owner !== event.node) throw new SeatMoved();
    }
    for (const [fold, record] of records) {
      if (record) this.bus.members.set(fold, structuredClone(record));
      else this.bus.members.delete(fold);
    }
    this.bus.feed.push({ id: this.bus.history.nextId(), event });
    this.bus.publish();
  }

  async reconcile(
    folds: readonly string[],
    reasons: ReadonlyMap<string, string> = new Map(),
  ): Promise<Reconciled> {
    await Promise.resolve();
    this.bus.check();
    const mine = new Set(folds);
    const gone: string[] = [];
    for (const [fold, record] of [...this.bus.members]) {
      if (record.node !== this.node || mine.has(fold)) continue;
      this.bus.members.delete(fold);
      const reason = reasons.get(fold) ?? "connection lost";
      this.bus.feed.push({
        id: this.bus.history.nextId(),
        event: { op: "bye", node: this.node, nick: record.nick, reason },
      });
      gone.push(record.nick);
    }
    this.bus.publish();
    return { missing: folds.filter((fold) => !this.bus.members.has(fold)), gone };
  }

  async ban(ban: Ban): Promise<void> {
    // Told first, as RedisCluster.ban does: before the member's leave.
    const told = this.tell({ op: "ban", node: this.node, ...ban });
    this.bus.bans.push({ ban, until: Date.now() + ban.ms });
    await told;
  }

  async bans(): Promise<Ban[]> {
    await Promise.resolve();
    this.bus.check();
    const now = Date.now();
    return this.bus.bans.filter((b) => b.until > now).map((b) => ({ ...b.ban, ms: b.until - now }));
  }

  async room(key: string, name: string): Promise<{ name: string; topic: Topic | undefined }> {
    const topic = await this.store.topic(key);
    if (!this.bus.roomNames.has(key)) this.bus.roomNames.set(key, name);
    return { name: this.bus.roomNames.get(key) ?? name, topic };
  }

  async setTopic(key: string, topic: Topic | undefined, event: ClusterEvent): Promise<void> {
    await this.store.setTopic(key, topic);
    await this.tell(event);
  }

  async depart(reason: string): Promise<void> {
    await Promise.resolve();
    this.bus.check();
    for (const [fold, record] of [...this.bus.members]) {
      if (record.node === this.node) this.bus.members.delete(fold);
    }
    const event: ClusterEvent = { op: "dead", node: this.node, dead: this.node, reason };
    this.bus.feed.push({ id: this.bus.history.nextId(), event });
    this.bus.publish();
  }

  async privateId(): Promise<{ id: number; after: number }> {
    await this.#slow();
    this.bus.check();
    const after = this.bus.feed.at(-1)?.id ?? 0;
    return { id: this.bus.history.nextId(), after };
  }

  async holder(fold: string): Promise<string | undefined> {
    await Promise.resolve();
    this.bus.check();
    return this.bus.owners.get(fold);
  }

  async forward(node: string, forwarded: Forwarded): Promise<number> {
    await Promise.resolve();
    this.bus.check();
    let heard = 0;
    for (const other of this.bus.nodes) {
      if (other.node === node) {
        heard++;
        this.bus.later(() => other.#sink?.forwarded(structuredClone(forwarded)));
      }
    }
    return heard;
  }

  reach(id: number): Promise<void> {
    if (this.#position >= id) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#reached.push({ id, done: resolve });
    return promise;
  }

  /**
   * Back after being {@linkcode away} longer than the feed keeps, as the
   * Redis feed reader finds it: the member list as it is now is handed on,
   * and the events it stands for are not. `read`: the list as it was read
   * earlier, at that id (its answer came late).
   */
  back(read?: { records: MemberRecord[]; at: number }): void {
    this.away = false;
    this.bus.later(() => {
      this.#reflected = this.bus.feed.at(-1)?.id ?? 0;
      this.#gap = true;
      const records = read?.records ??
        [...this.bus.members.values()].map((r) => structuredClone(r));
      this.#sink?.members(records, read?.at ?? this.bus.history.lastId());
      this.pump();
    });
  }

  /**
   * Behind longer than the feed keeps, still connected: what it had not
   * read was trimmed away, and it reads on from the feed's newest entry,
   * the next message with `gap` set.
   */
  trimmedPast(): void {
    this.away = false;
    this.#position = this.bus.feed.at(-1)?.id ?? 0;
    this.#gap = true;
  }

  /** Told by {@linkcode FakeBus.recover}. */
  recovered(): void {
    this.#sink?.state(true);
  }

  /** What the lease sweeper does when this node stops renewing: tells everyone it is dead. */
  die(sweeper = "sweeper"): void {
    this.bus.nodes.delete(this);
    for (const [fold, record] of this.bus.members) {
      if (record.node === this.node) this.bus.members.delete(fold);
    }
    for (const [fold, owner] of this.bus.owners) {
      if (owner === this.node) this.bus.owners.delete(fold);
    }
    this.bus.feed.push({
      id: this.bus.history.nextId(),
      event: { op: "dead", node: sweeper, dead: this.node },
    });
    this.bus.publish();
  }

  close(): Promise<void> {
    this.bus.nodes.delete(this);
    return Promise.resolve();
  }
}
