/**
 * What a hub needs of the other nodes when several processes are one
 * service (`--redis URL`): the {@linkcode Cluster} port, which `bus/`
 * implements over Redis, and the {@linkcode ClusterEvent}s every node tells
 * the others, in one order (the feed's), so that all of them see the same
 * members in the same rooms. Pure types and checks: no Redis here.
 *
 * How a hub uses it (`hub.ts`):
 *
 * - **Room messages** are checked on the sender's node and handed to
 *   {@linkcode Cluster.post}, which keeps them and gives them their id; every
 *   node, the sender's included, delivers them when the feed brings them back
 *   ({@linkcode Hub.fromFeed}), so each node delivers in id order, and
 *   nothing is shown before Redis has it.
 * - **Members of other nodes** are seats like local ones, whose connection is
 *   a {@linkcode RemoteMember}: member lists, counts, mentions and WHOIS see
 *   the whole service. Their node tells their comings and goings as
 *   {@linkcode ClusterEvent}s; a remote member is sent nothing of a room (its
 *   own node delivers that), only private messages and CTCP (a room's
 *   too: it is kept nowhere), which go to its node ({@linkcode Cluster.forward}).
 * - **Nicknames** are claimed in Redis ({@linkcode Cluster.claim}) before a
 *   seat is made; a node that dies loses them with its lease.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { ChatMessage, CtcpEvent, ServerEvent, Topic, Via } from "../../common/protocol.ts";
import type { AsyncHistoryStore, RoomMessage } from "../history/history.ts";

/** A member as every node keeps it in the service's member list. */
export interface MemberRecord {
  nick: string;
  via: Via;
  /** The node it is connected to. */
  node: string;
  /** Its rooms' names, in the order entered. */
  rooms: string[];
  /** SHA-256 (hex) of its seat token: any node can check a take-back with it. */
  token: string;
  /** Why it is away, if it said it is. */
  away?: string;
}

/** A room as an event names it: as shown, its key, and its topic as the teller knew it. */
export interface RoomRef {
  room: string;
  key: string;
  topic?: Topic;
}

/**
 * What one node tells every node (itself included), in the feed's order.
 * `node` is the node it happened on; a node skips what it told itself,
 * except `topic` and `dead`, which every node carries out as the feed
 * brings them.
 */
export type ClusterEvent =
  /** A member seated on `node`, in these rooms, away if `away` is set. */
  | { op: "seat"; node: string; nick: string; via: Via; rooms: RoomRef[]; away?: string }
  /**
   * A member of `node` as it is now, told again because something told of
   * it was lost (Redis could not be reached): a node that knows it makes
   * its rooms match, one that does not seats it. Its own op, so that a
   * node of an older version, which does not know it, passes it over
   * rather than take it for a new member (a leave and a join for all).
   */
  | { op: "sync"; node: string; nick: string; via: Via; rooms: RoomRef[]; away?: string }
  /** A member entered a room. */
  | { op: "join"; node: string; nick: string; room: RoomRef }
  /** A member left a room. */
  | { op: "leave"; node: string; nick: string; key: string; reason: string }
  /** A member left the service. */
  | { op: "bye"; node: string; nick: string; reason: string }
  /**
   * A member took another nickname. With how it is connected, its rooms and
   * why it is away: a node that had let its old name go (taken there by a
   * newcomer before this event came) seats it again under the new one.
   */
  | {
    op: "rename";
    node: string;
    from: string;
    to: string;
    via?: Via;
    rooms?: RoomRef[];
    away?: string;
  }
  /** A member said it is away (`text`), or back (none). */
  | { op: "away"; node: string; nick: string; text?: string }
  /** A room's topic was set (`topic` undefined: cleared). */
  | { op: "topic"; node: string; room: RoomRef }
  /**
   * A member's seat was taken back on `node` (its connection elsewhere is
   * closed, quietly); with its rooms and why it is away, for a node that
   * let it go meanwhile (its old connection dropped there first). `at`:
   * where Redis's ids were when `node` took it over from another node
   * (the private messages that node showed the old connection past it are
   * passed on to `node`, which the new connection is on).
   */
  | {
    op: "moved";
    node: string;
    nick: string;
    via: Via;
    rooms?: RoomRef[];
    away?: string;
    at?: number;
  }
  /**
   * Node `dead` stopped renewing its lease, or stopped (`reason`, then told
   * by itself): its members are gone. `node` is who found it.
   */
  | { op: "dead"; node: string; dead: string; reason?: string }
  /** A kick's ban: every node keeps it out (`door.ts`). */
  | { op: "ban"; node: string } & Ban;

/**
 * A kick's ban as the other nodes are told it: the nickname's key, the
 * address's network as its SHA-256 (no address leaves its node, or reaches
 * Redis), and how long it lasts in milliseconds.
 */
export interface Ban {
  fold?: string;
  address?: string;
  ms: number;
}

/** The longest ban a node takes from another: `--kick-ban`'s bound. */
export const BAN_MS_MAX = 86_400_000;

/**
 * What one node hands another for its member `fold` (the nickname folded,
 * `nickKey`): a private message or CTCP, or the operator's `/kick` of it
 * from another node's console (`kick`: the reason, maybe empty); or a CTCP
 * to a room (`room`: its key), once for all that node's IRC members in it.
 * `passed`: passed on by a node the member had moved from (its seat taken
 * back on another node), which the sender's node had not heard yet; not
 * passed on again.
 */
export type Forwarded =
  | { fold: string; event: ChatMessage | CtcpEvent; after?: number; passed?: true }
  | { fold: string; kick: string; passed?: true }
  | { room: string; event: CtcpEvent };

/** What a {@linkcode Cluster} tells the hub, as it happens. */
export interface ClusterSink {
  /** A room message from the feed: in id order, each once, this node's own included. */
  message(key: string, message: RoomMessage, gap: boolean): void;
  /** A {@linkcode ClusterEvent} from the feed, in the same order as the messages. */
  event(event: ClusterEvent): void;
  /** A private message, CTCP or kick another node sent a member of this one. */
  forwarded(forwarded: Forwarded): void;
  /**
   * The service's member list as it is now, in the feed's order: events
   * were lost (the node was away past what the feed keeps), and this list
   * stands for them. Members of other nodes are made to match it. `at`:
   * the feed id it was read at.
   */
  members(records: MemberRecord[], at: number): void;
  /** Nicknames (folded) this node held and another node has taken since it could last renew them. */
  lost(folds: string[]): void;
  /**
   * This node's lease had ended (it was paused or cut off that long), so
   * others may have announced its members gone: it should tell them again.
   */
  revived(): void;
  /** Redis can be reached (true) or not: told once per change. */
  state(up: boolean): void;
  /**
   * Redis came back without some of its data (its id counter was below
   * what a node had read), and the feed goes on from past it: in the
   * feed's order. Lines this node had kept and the feed had not brought
   * yet, up to here, were lost; so were nicknames and the member list.
   */
  idsLost(): void;
}

/** What the hub asks of the service beyond this process. */
export interface Cluster {
  /** This node's id, new at every start. */
  readonly node: string;
  /**
   * False while Redis cannot be reached, or while this node's nicknames may
   * have lapsed and been taken (it was paused past its lease): sends are
   * refused.
   */
  readonly up: boolean;
  /** False while Redis cannot be reached (told by {@linkcode ClusterSink.state}). */
  readonly reachable: boolean;
  /** The id of the last feed entry handed to the sink. */
  readonly position: number;
  /** Where room history and topics are read, and private messages' ids taken. */
  readonly store: AsyncHistoryStore;
  /**
   * Reads the service's member list, then hands `sink` every feed entry
   * after the position it was read at, until closed. Resolves with the list.
   * Rejected (Redis could not be reached), it can be called again.
   */
  start(sink: ClusterSink): Promise<MemberRecord[]>;
  /**
   * A room's name as the whole service shows it (the first one ever given:
   * `name` if none is kept yet), and its topic: read before a node makes a
   * room live.
   */
  room(key: string, name: string): Promise<{ name: string; topic: Topic | undefined }>;
  /**
   * Keeps a kick's ban for its length, for nodes that start later
   * ({@linkcode bans}), and tells it to every node (a `ban` event).
   */
  ban(ban: Ban): Promise<void>;
  /** The bans kept now, each with what is left of its length. */
  bans(): Promise<Ban[]>;
  /** Claims a nickname (folded) for this node: false if another node holds it. */
  claim(fold: string): Promise<boolean>;
  /**
   * Moves a nickname held by a member of any node to this one if `token`
   * is that member's (its record's SHA-256 matches), and gives the record
   * `fresh`'s hash in the same step, so that the old token takes it over
   * no more (two take-backs at once: one wins): the record as it was;
   * undefined if the token is not the member's; null if no member has the
   * name (nothing is changed then).
   */
  takeOver(fold: string, token: string, fresh: string): Promise<TakenOver | null | undefined>;
  /**
   * Gives a nickname up (`unsure`: even if this node does not know it holds
   * it, as after a take-over whose answer was lost). Never rejects.
   */
  release(fold: string, unsure?: boolean): void;
  /**
   * Stops renewing a nickname without giving it up: its member was taken
   * back on another node, which holds it now (and gives it up when it
   * goes). If this node's renewal set it again after that node let it go,
   * before this node heard of the take-over, it is given up. Never rejects.
   */
  disown(fold: string): void;
  /** Keeps a room message under a new id; the feed brings it to every node, this one included. */
  post(key: string, message: Omit<RoomMessage, "id">): Promise<RoomMessage>;
  /**
   * Puts an event in the feed, for every node (this one included), and
   * updates the member list in the same step: each `[fold, record]` sets
   * that member's record, `[fold, null]` removes it. Rejects with
   * {@linkcode SeatMoved}, telling nothing, if one of those records is
   * another live node's.
   */
  tell(event: ClusterEvent, records?: readonly [string, MemberRecord | null][]): Promise<void>;
  /**
   * After what this node told was lost (Redis could not be reached), makes
   * the member list's records of this node match `folds`, this node's
   * members now: each other record of this node is removed, its member's
   * leave told (`bye`, with its reason in `reasons` by fold, else
   * "connection lost"), in one step. Resolves with those of `folds` that
   * have no record (their seats were never told: the caller tells them),
   * and the nicknames told gone.
   */
  reconcile(folds: readonly string[], reasons?: ReadonlyMap<string, string>): Promise<Reconciled>;
  /**
   * Keeps a room's topic (undefined clears it) and tells `event` as
   * {@linkcode Cluster.tell} does, in one step: refused, it is neither kept
   * nor told later.
   */
  setTopic(key: string, topic: Topic | undefined, event: ClusterEvent): Promise<void>;
  /**
   * Tells every node this one stops: every member record naming it is
   * removed, and a `dead` event with `reason` told, in one step.
   */
  depart(reason: string): Promise<void>;
  /**
   * A new id for a private message, and the id of the last feed entry
   * before it (`after`). A private message's id comes from the counter the
   * room messages' do, but the message goes by another way: it is shown
   * once the feed has brought everything up to `after` ({@linkcode reach}),
   * so that a client resuming with `since` (the highest id it saw) skips no
   * room message still on its way.
   */
  privateId(): Promise<{ id: number; after: number }>;
  /**
   * Sends a private message, CTCP or kick to a member of another node. Kept
   * nowhere. Resolves with how many of that node's listeners got it: 0 if
   * none did (the node is gone, or not back on Redis yet), and then it is lost.
   */
  forward(node: string, forwarded: Forwarded): Promise<number>;
  /** The node holding nickname `fold` in Redis (`undefined`: none), as it is now. */
  holder(fold: string): Promise<string | undefined>;
  /** Resolves once the feed has handed on entry `id` (or after a few seconds, whichever is first). */
  reach(id: number): Promise<void>;
  /** Stops reading and renewing; gives up this node's nicknames. Idempotent. */
  close(): Promise<void>;
}

/**
 * A {@linkcode Cluster.tell} refused: its member's seat is another node's
 * now (taken back there with its token) and this node had not heard yet.
 */
export class SeatMoved extends Error {
  constructor() {
    super("The member's seat was taken back on another node");
    this.name = "SeatMoved";
  }
}

/**
 * A {@linkcode Cluster.claim} refused because the service's store has just
 * lost its data (nicknames with it), and the nodes are claiming their
 * members' names again: asked again in a moment, it is answered.
 */
export class StoreRestarted extends Error {
  constructor() {
    super(
      "The message store has just restarted without its data; nicknames are being claimed again",
    );
    this.name = "StoreRestarted";
  }
}

/** A seat {@linkcode Cluster.takeOver} moved to this node. */
export interface TakenOver {
  /** Its record as it was. */
  record: MemberRecord;
  /**
   * The id counter when it was taken over: what the feed holds up to this
   * id was told before (all that other nodes tell of it after is refused).
   */
  at: number;
}

/** What {@linkcode Cluster.reconcile} did. */
export interface Reconciled {
  /** Folds of this node's members that had no record: their seats are to be told. */
  missing: string[];
  /** Nicknames of the members told gone. */
  gone: string[];
}

/** True if `value` is a {@linkcode ClusterEvent}: what the feed carries is checked, not trusted. */
export function isClusterEvent(value: unknown): value is ClusterEvent {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  const str = (name: string) => typeof v[name] === "string";
  if (!str("node")) return false;
  switch (v.op) {
    case "seat":
    case "sync":
      return str("nick") && isVia(v.via) && Array.isArray(v.rooms) && v.rooms.every(isRoomRef) &&
        (v.away === undefined || str("away"));
    case "moved":
      return str("nick") && isVia(v.via) &&
        (v.rooms === undefined || Array.isArray(v.rooms) && v.rooms.every(isRoomRef)) &&
        (v.away === undefined || str("away")) &&
        (v.at === undefined || typeof v.at === "number" && Number.isSafeInteger(v.at) && v.at >= 0);
    case "join":
      return str("nick") && isRoomRef(v.room);
    case "leave":
      return str("nick") && str("key") && str("reason");
    case "bye":
      return str("nick") && str("reason");
    case "rename":
      return str("from") && str("to") && (v.via === undefined || isVia(v.via)) &&
        (v.rooms === undefined || Array.isArray(v.rooms) && v.rooms.every(isRoomRef)) &&
        (v.away === undefined || str("away"));
    case "away":
      return str("nick") && (v.text === undefined || str("text"));
    case "topic":
      return isRoomRef(v.room);
    case "dead":
      return str("dead") && (v.reason === undefined || str("reason"));
    case "ban":
      return (v.fold === undefined || str("fold")) && (v.address === undefined || str("address")) &&
        typeof v.ms === "number" && v.ms > 0 && v.ms <= BAN_MS_MAX;
    default:
      return false;
  }
}

function isRoomRef(value: unknown): value is RoomRef {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.room === "string" && typeof v.key === "string" &&
    (v.topic === undefined || isTopic(v.topic));
}

/** True if `value` is a {@linkcode MemberRecord}. */
export function isMemberRecord(value: unknown): value is MemberRecord {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.nick === "string" && isVia(v.via) && typeof v.node === "string" &&
    typeof v.token === "string" && Array.isArray(v.rooms) &&
    v.rooms.every((r) => typeof r === "string") &&
    (v.away === undefined || typeof v.away === "string");
}

function isVia(value: unknown): value is Via {
  return value === "web" || value === "terminal" || value === "irc";
}

function isTopic(value: unknown): value is Topic {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.text === "string" && typeof v.by === "string" && typeof v.ts === "number";
}

/**
 * A member connected to another node, as this node's hub holds it: sent
 * nothing of a room (its node delivers that from the feed), and private
 * messages and CTCP are forwarded to its node.
 */
export class RemoteMember {
  readonly remote = true;
  readonly via: Via;
  readonly node: string;
  readonly #forward: (event: ServerEvent) => void;

  constructor(via: Via, node: string, forward: (event: ServerEvent) => void) {
    this.via = via;
    this.node = node;
    this.#forward = forward;
  }

  /**
   * Forwards what is for this member alone: a private message, and a CTCP
   * to it. A room's events, a room's CTCP among them, are its node's to
   * deliver (a room's CTCP is kept nowhere, so the feed does not carry it:
   * it is forwarded to each node once, `Hub`).
   */
  send(event: ServerEvent): void {
    if (
      (event.type === "message" && event.to !== undefined) ||
      (event.type === "ctcp" && event.room === undefined)
    ) {
      this.#forward(event);
    }
  }

  /** Its connection is its node's to close. */
  close(): void {}
}

/** Orders messages by id and drops repeats: a read and the feed may both hold one. */
export function byId<M extends ChatMessage>(messages: M[]): M[] {
  messages.sort((a, b) => a.id - b.id);
  return messages.filter((m, i) => i === 0 || messages[i - 1]!.id !== m.id);
}

/**
 * Hex SHA-256 of a seat token: what a member record keeps of it, enough to
 * check a take-back. At once (not a promise), so that what a node tells
 * goes out in the order things happened.
 */
export function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
