/**
 * The hub: the service's core, server-wide. Who is seated under which
 * nickname, who may come in, who may do what how fast, private messages,
 * and which rooms are live; each room (`room.ts`) keeps its members,
 * presence, topic and history. Pure logic: no sockets, no Deno APIs, no
 * clock of its own.
 *
 * Each connection is a {@linkcode Member}, a transport's session
 * (`transport/session.ts`), which calls the hub; the hub answers by sending
 * {@linkcode ServerEvent}s to members, refusals included, so every rule about
 * who sees what lives here once. Apart from it: a member's seat (nickname,
 * token, private messages, flood bucket, its rooms) in `seat.ts`, who is
 * seated in `roster.ts`, who may come in at all in `door.ts`, the joins and
 * leaves gathered for a summary in `presence.ts`.
 *
 * Rooms: a name is checked by `common/room.ts` and folded by `common/room_key.ts`; a room is made by
 * the first to enter it and dropped from the hub when the last one leaves
 * (its history and topic stay in the store). `maxRooms` caps live rooms,
 * `#lobby` excepted: it counts, but is never refused, or whoever held the
 * cap while the lobby was empty would keep every newcomer out of it. A
 * member may be in {@linkcode MEMBER_ROOMS_MAX} at once. One flood
 * bucket per member covers everything it does in every room, entering and
 * leaving rooms included, so being in twenty rooms multiplies nothing.
 *
 * @module
 */

import {
  type ChatMessage,
  type ClientMessage,
  type ErrorCode,
  type HistoryEvent,
  type HistoryRequest,
  LOBBY,
  MEMBER_ROOMS_MAX,
  type MemberInfo,
  ROOMS_LISTED,
  type RoomSummary,
  SEARCH_RESULTS,
  SEARCH_TEXT_MAX,
  type SearchEvent,
  type ServerEvent,
  type Topic,
  type Via,
  type WelcomeEvent,
} from "../../common/protocol.ts";
import { checkRoom } from "../../common/room.ts";
import { foldText } from "../../common/nick.ts";
import { markMentions } from "../../common/mention.ts";
import { Pauses, within } from "../deadline.ts";
import { roomKey } from "../../common/room_key.ts";
import {
  type Backlog,
  type Bound,
  type HistoryStore,
  MemoryHistory,
  newestOf,
  type RangeQuery,
  type RoomMessage,
} from "../history/history.ts";
import {
  type Ban,
  byId,
  type Cluster,
  type ClusterEvent,
  type Forwarded,
  type MemberRecord,
  RemoteMember,
  type RoomRef,
  SeatMoved,
  StoreRestarted,
  tokenHash,
} from "./cluster.ts";
import { checkNick, nickKey, SERVER_NICK } from "../../common/nick.ts";
import { type Rate, TokenBucket } from "./flood.ts";
import { Door } from "./door.ts";
import { type Config, DEFAULTS } from "../config.ts";
import { errorText, type Logger, SILENT } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { checkMessage, clip, toOneLine } from "../../common/message.ts";
import { Roster } from "./roster.ts";
import { type MessageKind, REPLAY_MAX, Room, type RoomEnv } from "./room.ts";
import { type Member, PRIVATE_KEEP, Seat } from "./seat.ts";
import { Turns } from "../queue.ts";

/** The connection contract transports implement; it lives with the seat that holds one. */
export type { Member };
export { REPLAY_MAX, Room };

/**
 * Options for {@linkcode Hub}: the settings it shares with the server's
 * {@linkcode Config} (by the same names, defaulting to {@linkcode DEFAULTS}),
 * and what only code can pass.
 */
export interface HubOptions extends
  Partial<
    Pick<
      Config,
      | "history"
      | "floodBurst"
      | "floodRate"
      | "presenceLimit"
      | "joinRate"
      | "maxPerIp"
      | "kickBan"
      | "maxRooms"
    >
  > {
  /** Where room messages are kept. @default {new MemoryHistory()} */
  store?: HistoryStore;
  /** The clock, in milliseconds since the epoch. @default {Date.now} */
  now?: () => number;
  /** Makes the secret that lets a member reclaim its seat. @default {crypto.randomUUID} */
  newToken?: () => string;
  /** Counts what the hub does, for `/metrics`. @default {new Metrics()} */
  metrics?: Metrics;
  /** Where joins, leaves and failures are logged. @default {SILENT} */
  log?: Logger;
  /** The server's search time, in milliseconds. @default {SEARCH_BUDGET_MS} */
  searchBudget?: Rate;
  /**
   * The other nodes of the service, with `--redis` (`cluster.ts`): room
   * messages, ids, nicknames and members are then the service's, and `store`
   * is not used. @default {undefined: this process is the whole service}
   */
  cluster?: Cluster;
}

/** How often the server calls {@linkcode Hub.summarize}. */
export const PRESENCE_EVERY_MS = 1000;

/** How much of a line refused for flooding its refusal quotes, in code points. */
const SAID_QUOTED = 40;

/** The start of a line said, as a refusal of it quotes it. */
function saidOf(text: string): string {
  return clip(toOneLine(clip(text, SAID_QUOTED * 4)), SAID_QUOTED);
}

/** Refusals in a row, for sending too fast, after which a member is disconnected. */
export const FLOOD_STRIKES = 20;

/** Longest topic, in code points after cleaning. */
export const TOPIC_MAX = 300;

/** The key of `#lobby`, which the room cap never refuses. */
const LOBBY_KEY = roomKey(LOBBY);

/** Messages of each room a welcome replays at least, however many rooms it covers. */
const ROOM_REPLAY_MIN = 50;
/** Messages a `history` request without a count is sent. */
const HISTORY_DEFAULT = 50;
/** Messages of a `history` reply one flood token pays for. */
const HISTORY_PER_TOKEN = 100;
/**
 * Bytes of a `history` reply one flood token pays for, counted as up to
 * three bytes a UTF-16 unit of text: a reply of long messages costs more
 * than its count paid (see `Hub.#chargeSize`).
 */
const HISTORY_BYTES_PER_TOKEN = 64 * 1024;
/**
 * Bytes of a welcome's replay (counted as a `history` reply's) one join
 * pays for: past it, the member's address is charged one join more per
 * this many bytes ({@linkcode Door.charge}). Twenty rooms of chat are tens
 * of KB; a welcome of the longest messages is up to 8 MB, which a loop of
 * joins from one address would otherwise get at the join rate.
 */
const WELCOME_BYTES_PER_JOIN = 256 * 1024;
/**
 * Most bytes (counted as {@linkcode WELCOME_BYTES_PER_JOIN}'s) of messages a
 * welcome replays, shared equally by its rooms, each keeping its newest:
 * well under what a member may be sent at once (8 MiB, past which it is cut
 * off as too slow), so joining 20 rooms of the longest lines still works.
 */
const WELCOME_BYTES_MAX = 4 * 1024 * 1024;
/** Members of a `who` reply one flood token pays for. */
const WHO_PER_TOKEN = 1000;
/** Rooms of a `rooms` reply one flood token pays for. */
const ROOMS_PER_TOKEN = 500;
/**
 * Flood tokens a `search` costs: half the default burst, so a member may
 * search twice at once and once every 2.5 s after (at the default rate).
 * A search that finds nothing reads every kept message of every room the
 * member is in: 20 rooms of 10,000 cost tens of milliseconds (`bench/search.ts`).
 */
export const SEARCH_COST = 5;
/**
 * The whole server's searching, in milliseconds of work: 250 a second
 * (a quarter of a core), up to a second at once. Each search is let in
 * while some is left and pays what it took, so however many search, chat
 * is never held up behind them for long; past it, searches are refused
 * for a moment ("busy"), lines never are.
 */
export const SEARCH_BUDGET_MS = { burst: 1000, perSecond: 250 } as const;

/**
 * A private message sent (`Hub.#withPrivateId`): `handedOn` once it is on
 * its way to the recipient's node (none: handed on already), `shown` once
 * the recipient's and sender's copies are shown; neither rejects.
 */
interface Sent {
  handedOn?: Promise<unknown>;
  shown: Promise<unknown>;
}

/** Longest a search of this node's store reads before letting other work run (see `Hub.#searchRooms`). */
export const SEARCH_TURN_MS = 10;
/** Rows of a room a search reads at a time, where the store can step (`HistoryStore.searchStep`). */
export const SEARCH_STEP_ROWS = 256;

/** Searches of this node's store under way or waiting for their turn, one per member. */
export const LOCAL_SEARCHES_AT_ONCE = 8;

/** A member's second search while its first is under way. */
const SEARCHING = "Your last search is still under way.";

/** With `--redis`, searches of this node's members under way at once (one per member). */
export const SEARCHES_AT_ONCE = 2;

/**
 * History reads a node has under way in Redis at once (`--redis`); the
 * others wait their turn, first come first served, a member's one at a
 * time (its requests are carried out in order). A read of 1,000 long
 * messages is 8 MB for Redis to send and the node to parse: without a
 * limit, a few dozen members asking at the rate their flood bucket allows
 * held Redis and the node so long that everyone's lines timed out.
 */
export const HISTORY_READS_AT_ONCE = 4;

/**
 * A refused room name as an error repeats it: clipped, and made safe to
 * show on one line (no control, bidi or escape characters).
 */
function quoted(name: string): string {
  return toOneLine(clip(name, 40));
}

/**
 * What sending `messages` to a member costs, in bytes as charged: up to
 * three bytes a UTF-16 unit of text and name, and a frame's fields.
 */
function replyBytes(messages: readonly ChatMessage[]): number {
  let bytes = 0;
  for (const m of messages) bytes += messageBytes(m);
  return bytes;
}

function messageBytes(m: ChatMessage): number {
  return 3 * (m.text.length + m.from.length) + 64;
}

/**
 * Which of the private messages a seat keeps its welcome replays when it is
 * taken back: every one after `since`; or, with no `since` (a reloaded page:
 * its log starts empty, and gets each room's recent history), all it keeps;
 * or none, if `since` is past the last id (the store was reset).
 */
type PrivatesReplay = number | "kept" | undefined;

/** A private message as its sender is shown it and keeps it ({@linkcode ChatMessage.own}). */
function ownCopy(event: ChatMessage): ChatMessage {
  return { ...event, own: true };
}

/** The {@linkcode PrivatesReplay} of a join with `since`, given the store's last id. */
function privatesAfter(since: number | undefined, lastId: number): PrivatesReplay {
  if (since === undefined) return "kept";
  return since <= lastId ? since : undefined;
}

/**
 * The rooms' backlogs a welcome replays, each cut to its share of
 * {@linkcode WELCOME_BYTES_MAX} (its newest messages kept). A room cut is
 * marked as a gap when `since` asked for everything after it.
 */
function fitWelcome<M extends ChatMessage>(
  backlogs: readonly Backlog<M>[],
  since: number | undefined,
): Backlog<M>[] {
  const share = WELCOME_BYTES_MAX / Math.max(1, backlogs.length);
  return backlogs.map((backlog) => {
    const messages = backlog.messages;
    let bytes = 0;
    let from = messages.length;
    while (from > 0 && bytes + messageBytes(messages[from - 1]!) <= share) {
      bytes += messageBytes(messages[--from]!);
    }
    if (from === 0) return backlog;
    return { messages: messages.slice(from), gap: backlog.gap || since !== undefined };
  });
}

/** How many messages a `history` request for `count` is sent. */
function historyCount(count = HISTORY_DEFAULT): number {
  return Math.min(REPLAY_MAX, Math.max(1, Math.floor(count)));
}

/** A `history` request's bound on one side: by id if it gives one, else by time, else none. */
function bound(id: number | undefined, ts: number | undefined): Bound | undefined {
  return id !== undefined ? { id } : ts !== undefined ? { ts } : undefined;
}

/** An away message another node told (bounded as this node's own are), or none. */
function awayOf(text: string | undefined): string | undefined {
  return text === undefined ? undefined : clip(text, AWAY_MAX);
}

/** Longest away message kept, in UTF-16 code units. */
const AWAY_MAX = 200;

/** What {@linkcode Hub.tell} did: the message sent, or why not. */
export type Told = { ok: true; value: ChatMessage } | {
  ok: false;
  code: "no_such_nick" | "text_empty" | "text_too_long" | "storage_failed";
  reason: string;
};

/** A member as IRC's WHOIS shows it. */
export interface Whois {
  nick: string;
  via: Via;
  /** The rooms it is in, in the order entered. */
  rooms: string[];
  /** Why it is away, if it said it is. */
  away?: string;
}

/**
 * True for a request that asks rather than says (entering rooms, member
 * lists, topics read, history): paid from a member's connect credit while
 * it lasts (see `Seat.credit`), so the burst an IRC client sends as it
 * connects is not flooding. Chat, renames, topics set and leaving rooms
 * always pay.
 */
function asks(message: ClientMessage): boolean {
  switch (message.type) {
    case "enter":
    case "who":
    case "history":
    case "rooms":
      return true;
    case "topic":
      return message.text === undefined;
    default:
      return false;
  }
}

/**
 * True for what others see a member do (`--redis`: told through the feed)
 * that must come after the lines it said before: a part, a join, a topic
 * set, a nickname, away.
 */
function followsLines(message: ClientMessage): boolean {
  switch (message.type) {
    case "part":
    case "enter":
    case "nick":
    case "away":
      return true;
    case "topic":
      return message.text !== undefined;
    default:
      return false;
  }
}

/** The refusals when the history store fails, to write or to read. */
const NOT_STORED = "Not sent: the server could not store it.";
const UNREADABLE = "Cannot read the history; try again.";
/** The refusal while the service's store (Redis) cannot be reached. */
const UNREACHABLE =
  "Not sent: the server cannot reach its message store right now; try again in a moment.";
/**
 * How long after Redis lost data (`ClusterSink.idsLost`) a nickname that
 * another node's member holds is not claimed here: a lease, by which its
 * node has renewed it, however it heard.
 */
const LOSS_GRACE_MS = 10_000;
/** How soon what a Redis that answers refused to be told is tried again. */
const RETELL_MS = 2_000;
/** How many fences (`Hub.#fences`) are kept before those the feed is past are let go. */
const FENCES_SWEEP = 256;
/** Why the members of a node that stops (`Hub.detach`) leave, as the other nodes show it. */
const SHUTTING_DOWN = "server shutting down";
/** A join or a new nickname refused while the service's store (Redis) cannot be reached. */
const UNREACHABLE_SEAT =
  "Cannot join right now: the server cannot reach its message store; try again in a moment.";
/**
 * Longest a join that comes while a node is still reading the service from
 * Redis ({@linkcode Hub.attach}) waits for it, before it is refused.
 */
const ATTACH_WAIT_MS = 5_000;
/** First wait before the bans are read again at start, doubled each time up to the second. */
const BANS_RETRY_MS = 250;
const BANS_RETRY_MAX_MS = 5_000;
/** A new nickname refused while the service's store (Redis) cannot be reached. */
const UNREACHABLE_NICK =
  "Cannot change your nickname right now: the server cannot reach its message store; try again in a moment.";
/** A join refused while nicknames are claimed again after the store lost its data (`StoreRestarted`). */
const RESTARTED_SEAT =
  "Cannot join right now: the message store has just restarted, and nicknames are being claimed again; try again in a moment.";
/** A rename refused so (`StoreRestarted`). */
const RESTARTED_NICK =
  "Cannot change your nickname right now: the message store has just restarted, and nicknames are being claimed again; try again in a moment.";
/** A read refused while the service's store (Redis) cannot be reached. */
const UNREACHABLE_READ =
  "Cannot read the history: the server cannot reach its message store right now; try again in a moment.";

/** Called with every event everyone in a room can see, and server-wide ones. */
export type HubObserver = (event: ServerEvent) => void;

/** A room a member asked for, checked: the live room, or the name and key to make it under. */
type Wanted = { name: string; key: string; room: Room | undefined };

/** The rooms a join enters (`wanted`, those it is in first), and the refusals of those asked for. */
interface Plan {
  wanted: Wanted[];
  refusals: ServerEvent[];
}

/** Rooms read for a welcome: their backlogs, what the feed brought meanwhile, and their names and topics kept. */
interface Read {
  wanted: Wanted[];
  watch: RoomWatch;
  backlogs: Backlog<RoomMessage>[];
  kept: ({ name: string; topic: Topic | undefined } | undefined)[];
}

/** A join through Redis under way (see `Hub.#joinClustered`): whose seat it takes, and what its end lets go. */
interface ClusterJoin {
  readonly cluster: Cluster;
  readonly member: Member;
  /** The nickname asked for, checked, and its key. */
  readonly nick: string;
  readonly fold: string;
  readonly token: string | undefined;
  readonly since: number | undefined;
  /** The refusal of a name someone else holds. */
  readonly taken: string;
  /** The seat taken back (one of this node's) or over (`moved`: another node's member, remote here). */
  ghost: Seat | undefined;
  /** A seat here that Redis says another node has taken back since (this node is behind on the feed). */
  stale: Seat | undefined;
  /** The seat is another node's, taken over with the token. */
  moved: boolean;
  /** The feed id Redis was at after the claim: what the feed holds up to it was told before. */
  last: number;
  /** The seat's record as Redis had it when it was taken over from another node. */
  record: MemberRecord | undefined;
  /** Where Redis's ids were when it was taken over from another node (see the `moved` event's `at`). */
  takenAt: number | undefined;
  /** The name is claimed in Redis for this join: released if it ends with nobody seated. */
  held: boolean;
  /** This join set the name's fence (`Hub.#fences`). */
  fenced: boolean;
  /** This join told a seat under the name (its fence is kept when the join ends). */
  told: boolean;
  /** The new token of a take-back of a seat here under way in Redis. */
  rotating: string | undefined;
  /** True while a take-over of another node's seat is under way in Redis. */
  overtaking: boolean;
  /** The watches of the rooms read, stopped when the join ends. */
  readonly watches: RoomWatch[];
}

/** What a join seats its member in: the rooms, their backlogs as shown, and the refusals of those asked for. */
interface Welcome {
  ready: Room[];
  named: Backlog[];
  refusals: ServerEvent[];
}

/** What the feed brought rooms while their welcome was read (see `Hub.#watch`). */
interface RoomWatch {
  /** Each room's backlog as read, up to the feed's `position`, with what the feed brought. */
  merged(backlogs: Backlog<RoomMessage>[], position: number): Backlog<RoomMessage>[];
  /** Stops collecting. */
  stop(): void;
}

/** The whole service's core: see the module doc. */
export class Hub {
  readonly #roster = new Roster();
  /** Live rooms, by key. */
  readonly #rooms = new Map<string, Room>();
  readonly #observers = new Set<HubObserver>();
  readonly #store: HistoryStore;
  readonly #now: () => number;
  readonly #newToken: () => string;
  readonly #flood: Rate;
  readonly #maxRooms: number;
  /** Bans and the join rate per address. */
  readonly #door: Door;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  readonly #env: RoomEnv;
  /** The server's search time (see {@linkcode SEARCH_BUDGET_MS}). */
  readonly #searching: TokenBucket;
  /** Members whose search is under way (in Redis, at most {@linkcode SEARCHES_AT_ONCE} of them). */
  readonly #searchers = new Set<Seat>();
  /** History reads from Redis under way (see {@linkcode HISTORY_READS_AT_ONCE}). */
  readonly #reads = new Turns(HISTORY_READS_AT_ONCE);
  readonly #cluster: Cluster | undefined;
  /**
   * Nicknames (folded) a join or rename here is claiming in Redis right now:
   * Redis answers a node's claim of a name it holds already with yes, so two
   * of its own at once are told apart here.
   */
  readonly #claiming = new Set<string>();
  /**
   * Nicknames (folded) this node seated a member under (claimed in Redis,
   * or taken over from another node), with the feed id Redis was at then:
   * what other nodes told of them up to it is older news, which this node,
   * behind on the feed, may still have to read. It is passed over: it
   * would make the seat (which Redis gave this node after it) another
   * node's member's again. See {@linkcode #fence}.
   */
  readonly #fences = new Map<string, number>();
  /** Something this node told the others was lost: told again once Redis is back ({@linkcode Hub.#retell}). */
  #untold = false;
  /** Why the members whose leave was lost left, by fold: told so once Redis is back. */
  readonly #untoldByes = new Map<string, string>();
  /**
   * Local members something was lost of (a part, a join): their rooms are
   * told again once Redis is back, as a `seat` event the other nodes make
   * their rooms match (the member list's check finds only whole members
   * missing or gone).
   */
  readonly #untoldSeats = new Set<Seat>();
  /** Set by {@linkcode detach}: this node is stopping, and takes nothing new. */
  #stopping = false;
  /**
   * Set once {@linkcode detach} told every node this one stopped (its
   * members left with it): the leaves of its connections as they close are
   * not told one by one.
   */
  #departed = false;
  /** The last {@linkcode #retell} failed (and said so in the log). */
  #retellFailing = false;
  /** A {@linkcode #retell} due (see {@linkcode #retellSoon}). */
  #retellTimer: ReturnType<typeof setTimeout> | undefined;
  /** Members whose join waits on the cluster; false once they left meanwhile. */
  readonly #joining = new Map<Member, boolean>();
  /**
   * Settles once {@linkcode attach} has read the service (its members, the
   * bans told before this node started): a join waits for it, so that a
   * node just started holds a kick's ban from its first join.
   */
  readonly #attached = Promise.withResolvers<void>();
  #isAttached = false;
  /** Room reads of searches of this node's store: one at a time (see {@linkcode #searchRooms}). */
  readonly #searchTurns = new Turns(1);
  /** Waits between tries, ended early when the hub closes. */
  readonly #pauses = new Pauses();
  /** What waits for the feed to reach an id (see {@linkcode #whenFed}). */
  readonly #feeding = new Set<{ after: number; run: () => void }>();
  /** Per room key, lists that collect what the feed delivers while a read of the room is under way. */
  readonly #watching = new Map<string, Set<RoomMessage[]>>();
  /**
   * Lines of members here that Redis kept and the feed has not brought yet,
   * by id, in the order their answers came (the ids', nearly: one
   * connection writes them): those the feed passes, after marking that
   * Redis lost data ({@linkcode #idsLost}), or another line under one's id,
   * were lost by Redis, and their senders are told.
   */
  readonly #unshown = new Map<number, Unshown>();
  /** When (`#now`) the feed last told that Redis lost data: see {@linkcode #heldElsewhere}. */
  #lostAt = -Infinity;
  #closed = false;

  constructor(options: HubOptions = {}) {
    this.#store = options.store ?? new MemoryHistory();
    this.#now = options.now ?? Date.now;
    this.#newToken = options.newToken ?? (() => crypto.randomUUID());
    this.#flood = {
      burst: options.floodBurst ?? DEFAULTS.floodBurst,
      perSecond: options.floodRate ?? DEFAULTS.floodRate,
    };
    this.#maxRooms = options.maxRooms ?? DEFAULTS.maxRooms;
    this.#door = new Door(
      {
        burst: options.maxPerIp ?? DEFAULTS.maxPerIp,
        perSecond: options.joinRate ?? DEFAULTS.joinRate,
      },
      (options.kickBan ?? DEFAULTS.kickBan) * 1000,
      this.#now,
    );
    this.#searching = new TokenBucket(options.searchBudget ?? SEARCH_BUDGET_MS, this.#now);
    this.#metrics = options.metrics ?? new Metrics();
    this.#log = options.log ?? SILENT;
    this.#cluster = options.cluster;
    this.#env = {
      store: this.#store,
      now: this.#now,
      history: options.history ?? DEFAULTS.history,
      presenceLimit: options.presenceLimit ?? DEFAULTS.presenceLimit,
      deliverAll: (seats, event, except, named, marked) =>
        this.#deliverAll(seats, event, except, named, marked),
      observe: (event) => this.#observe(event),
      seatByKey: (key) => this.#roster.byKey(key),
    };
  }

  /** Number of members who have joined here (on this node), in any room or none. */
  /** A member's flood limit (`--flood-burst`, `--flood-rate`): transports pace input by it. */
  get flood(): Rate {
    return this.#flood;
  }

  get size(): number {
    return this.#cluster ? this.#roster.size - this.#roster.remotes : this.#roster.size;
  }

  /** The seated members' ways of connecting, one per member (for `/metrics`). */
  *vias(): IterableIterator<MemberInfo["via"]> {
    for (const seat of this.#roster) if (!seat.member.remote) yield seat.member.via;
  }

  /** Members of the whole service (of every node, with `--redis`), for `/metrics`. */
  get serviceSize(): number {
    return this.#roster.size;
  }

  /** The live rooms, in the order they were made. */
  rooms(): IterableIterator<Room> {
    return this.#rooms.values();
  }

  /** A room's topic, live or kept in the store for a room nobody is in; undefined if none or unreadable. */
  topic(name: string): Topic | undefined {
    const want = this.#want(name);
    if ("code" in want) return undefined;
    try {
      return want.room ? want.room.topic : this.#store.topic(want.key);
    } catch (e) {
      this.#log.error("cannot read a topic", { error: errorText(e) });
      return undefined;
    }
  }

  /** The live room a name means, if any. */
  room(name: string): Room | undefined {
    const checked = checkRoom(name);
    return checked.ok ? this.#rooms.get(roomKey(checked.value)) : undefined;
  }

  /**
   * Who is in a room (`#lobby` by default), in the order they entered: the
   * same array until someone enters, leaves or is renamed.
   */
  members(room = LOBBY): readonly MemberInfo[] {
    return this.room(room)?.members() ?? [];
  }

  /** The nickname of a member, or undefined before it has joined. */
  nickOf(member: Member): string | undefined {
    return this.#roster.seatOf(member)?.nick;
  }

  /** The names of the rooms a member is in, in the order entered. */
  roomsOf(member: Member): string[] {
    const seat = this.#roster.seatOf(member);
    return seat ? [...seat.rooms.values()].map((r) => r.name) : [];
  }

  /** Registers an observer of public events; returns a function that removes it. */
  watch(observer: HubObserver): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /**
   * Carries out what a member asked for. Returns false if it was refused (the
   * member has then been sent an `error`).
   */
  handle(member: Member, message: ClientMessage): boolean | Promise<boolean> {
    if (message.type === "join") {
      return this.join(member, message.nick, message.token, message.since, message.rooms);
    }
    if (message.type === "quit") {
      // Never refused: it ends what the member does. Its words cost what a message does (`leave`).
      const quit = () => {
        this.leave(member, message.text ? `quit: ${message.text}` : "quit");
        member.close();
        return true;
      };
      return this.posting(member)?.then(quit) ?? quit();
    }
    if (this.#stopping) {
      return this.#refuse(member, "shutting_down", "The server is shutting down.");
    }
    const seat = this.#roster.seatOf(member);
    if (!seat) {
      return this.#refuse(member, "not_joined", 'Join first: send {"type":"join","nick":"..."}.');
    }
    if (!this.#allow(seat, this.#cost(message, seat), asks(message), message)) return false;
    // With `--redis`, what others see a member do comes after the lines it
    // said before: once those are stored, and shown here (a line waits for
    // what was done before it in turn: `Seat.ahead`).
    const before = this.#cluster && followsLines(message) ? this.posting(member) : undefined;
    if (before) {
      return before.then(() => {
        if (this.#roster.seatOf(member) !== seat) return false;
        if (this.#stopping) {
          return this.#refuse(member, "shutting_down", "The server is shutting down.");
        }
        return this.#carryOut(seat, message);
      });
    }
    return this.#carryOut(seat, message);
  }

  /** {@linkcode handle}'s requests of a seated member, allowed by the flood rule. */
  #carryOut(
    seat: Seat,
    message: Exclude<ClientMessage, { type: "join" | "quit" }>,
  ): boolean | Promise<boolean> {
    const member = seat.member;
    switch (message.type) {
      case "say":
      case "me": {
        const room = this.#inRoom(seat, message.room);
        const kind = message.type === "me" ? "action" : message.notice ? "notice" : "plain";
        return room !== undefined && this.#say(seat, room, message.text, kind);
      }
      case "msg":
        return this.#whisper(
          seat,
          message.to,
          message.text,
          message.notice ? "notice" : message.action ? "action" : "plain",
        );
      case "nick":
        return this.#rename(seat, message.nick);
      case "who": {
        const room = this.#inRoom(seat, message.room);
        if (room === undefined) return false;
        this.#deliver(member, { type: "members", room: room.name, members: room.members() });
        return true;
      }
      case "history": {
        const room = this.#inRoom(seat, message.room);
        return room !== undefined && this.#history(seat, room, message);
      }
      case "enter":
        return this.#enter(seat, message.room);
      case "part": {
        const room = this.#inRoom(seat, message.room);
        return room !== undefined && this.#part(seat, room, message.reason);
      }
      case "rooms":
        this.#deliver(member, this.#list(message.names));
        return true;
      case "topic":
        return this.#topic(seat, message.room, message.text);
      case "away": {
        const said = message.text === undefined ? undefined : checkMessage(message.text);
        const away = said?.ok ? clip(said.value, AWAY_MAX) : undefined;
        if (away === seat.away) return true;
        seat.away = away;
        const cluster = this.#cluster;
        if (cluster) {
          const { nick } = seat;
          const text = away === undefined ? {} : { text: away };
          this.#tell(cluster, { op: "away", node: cluster.node, nick, ...text }, seat);
        }
        return true;
      }
      case "ctcp":
        return this.#ctcp(seat, message.to, message.text, message.reply === true);
      case "search":
        return this.#search(seat, message.text, message.label);
    }
  }

  /** What others may know of a member who has joined: for IRC's WHOIS, ISON and USERHOST. */
  whois(nick: string): Whois | undefined {
    const seat = this.#roster.find(nick);
    if (!seat) return undefined;
    const found: Whois = {
      nick: seat.nick,
      via: seat.member.via,
      rooms: [...seat.rooms.values()].map((room) => room.name),
    };
    if (seat.away !== undefined) found.away = seat.away;
    return found;
  }

  /**
   * Seats a member under a nickname in `rooms` (default `#lobby`), sends it
   * `welcome` and tells each room.
   *
   * With the `token` of the seat that holds the nickname, the member takes
   * that seat over instead, in the rooms it is in (and any of `rooms` it is
   * not): the old connection (a dropped one the server has not noticed yet)
   * is closed, and the others see no leave and no join.
   *
   * With `since`, the last message id the member saw, the welcome holds every
   * message after it in each of those rooms (and the seat's private ones,
   * when taken back) instead of the most recent ones. A room name that is
   * refused is told as an error after the welcome; the rest go ahead.
   */
  join(
    member: Member,
    requested: string,
    token?: string,
    since?: number,
    rooms: readonly string[] = [LOBBY],
  ): boolean | Promise<boolean> {
    if (this.#closed || this.#stopping) {
      return this.#refuse(member, "shutting_down", "The server is shutting down.", true);
    }
    if (this.#roster.seatOf(member) || this.#joining.has(member)) {
      return this.#refuse(member, "already_joined", "You have already joined.");
    }
    if (this.#cluster && !this.#isAttached) {
      return this.#joinOnceAttached(member, requested, token, since, rooms);
    }
    const refusal = this.#door.check(requested, member.address);
    if (refusal) return this.#refuse(member, refusal.code, refusal.message, refusal.fatal);
    this.#letGoParting(requested, token);
    if (this.#cluster) {
      return this.#joinClustered(this.#cluster, member, requested, token, since, rooms);
    }
    const claimed = this.#roster.claim(requested, member, token);
    if (!claimed.ok) return this.#refuse(member, claimed.code, claimed.reason);
    const ghost = this.#roster.find(claimed.value);
    const plan = this.#plan(this.#wantsOf(ghost), rooms);
    // Everything read before anything changes: a failed read refuses the whole join.
    const backlogs: Backlog[] = [];
    const ready: Room[] = [];
    try {
      for (const want of plan.wanted) ready.push(want.room ?? this.#make(want));
      const limit = this.#replayLimit(ready.length);
      for (const room of ready) backlogs.push(room.backlog(since, limit));
    } catch (e) {
      for (const room of ready) this.#dropIfEmpty(room);
      this.#log.error("cannot read the history", { error: errorText(e) });
      return this.#refuse(member, "storage_failed", UNREADABLE);
    }
    return this.#seatIn(
      member,
      claimed.value,
      ghost,
      ready,
      fitWelcome(backlogs, since),
      plan.refusals,
      privatesAfter(since, this.#store.lastId()),
    ) !==
      undefined;
  }

  /**
   * A join that came before {@linkcode attach} was done: carried out once it
   * is (checked from the start, against the bans read), or refused if that
   * takes longer than {@linkcode ATTACH_WAIT_MS}; not at all if the member
   * left meanwhile.
   */
  async #joinOnceAttached(
    member: Member,
    requested: string,
    token: string | undefined,
    since: number | undefined,
    rooms: readonly string[],
  ): Promise<boolean> {
    this.#joining.set(member, true);
    const attached = await within(this.#attached.promise, ATTACH_WAIT_MS);
    const still = this.#joining.get(member) === true;
    this.#joining.delete(member);
    if (!still) return false;
    if (!attached) return this.#refuse(member, "storage_failed", UNREACHABLE_SEAT);
    return await this.join(member, requested, token, since, rooms);
  }

  // ---- Several nodes, one service (`--redis`): see `cluster.ts`. ----

  /**
   * Starts taking what the other nodes tell: the service's members as they
   * are now (seated here as remote members, in their rooms, unannounced),
   * then every message and event of the feed, in order. Call once, before
   * any member joins.
   */
  async attach(): Promise<void> {
    const cluster = this.#cluster;
    if (!cluster) return;
    // What the feed brings before the members are seated waits for them.
    const early: (() => void)[] = [];
    let ready = false;
    const later = (f: () => void) => ready ? f() : early.push(f);
    const records = await cluster.start({
      message: (key, message, gap) =>
        later(() => {
          this.#fromFeed(key, message, gap);
          this.#fed(cluster);
        }),
      event: (event) =>
        later(() => {
          this.#fromCluster(cluster, event);
          this.#fed(cluster);
        }),
      idsLost: () => later(() => this.#idsLost(cluster)),
      forwarded: (forwarded) => later(() => this.#forwarded(forwarded)),
      members: (records, at) => later(() => this.#matchMembers(cluster, records, at)),
      lost: (folds) => later(() => this.#namesLost(folds)),
      revived: () => later(() => this.#revived(cluster)),
      // The cluster logs it (once each way, saying why).
      state: (up) => {
        if (up) later(() => this.#retell(cluster));
      },
    });
    // The bans told before this node started: joins wait until they are
    // read (asked again until they are; the cluster is started already).
    for (let wait = BANS_RETRY_MS;; wait = Math.min(wait * 2, BANS_RETRY_MAX_MS)) {
      try {
        for (const ban of await cluster.bans()) this.#door.keep(ban);
        break;
      } catch (e) {
        if (this.#closed) return;
        if (wait === BANS_RETRY_MS) {
          this.#log.warn("cannot read the bans from Redis; trying again", { error: errorText(e) });
        }
        await this.#pauses.wait(wait);
      }
    }
    const keys = new Set<string>();
    for (const record of records) for (const name of record.rooms) keys.add(roomKey(name));
    const topics = new Map<string, Topic | undefined>();
    await Promise.all(
      [...keys].map(async (key) =>
        topics.set(key, await cluster.store.topic(key).catch(() => undefined))
      ),
    );
    for (const record of records) {
      if (record.node === cluster.node) continue;
      const seat = this.#remoteSeat(cluster, record.nick, record.via, record.node);
      seat.away = awayOf(record.away);
      for (const name of record.rooms) {
        const key = roomKey(name);
        const room = this.#rooms.get(key) ??
          this.#make({ name, key, room: undefined }, topics.get(key));
        room.enter(seat);
      }
    }
    ready = true;
    for (const f of early.splice(0)) f();
    this.#isAttached = true;
    this.#attached.resolve();
  }

  /**
   * Tells the other nodes that this node's members are gone (it is
   * stopping), once what they said is stored: every record of the node is
   * removed with one `dead` event. Settles once told, or failed to.
   */
  async detach(): Promise<void> {
    const cluster = this.#cluster;
    if (!cluster) return;
    // Nothing new from now on (joins waiting on Redis are not carried out):
    // what is on its way is all there is to wait for.
    this.#stopping = true;
    for (const member of this.#joining.keys()) this.#joining.set(member, false);
    // Joins waiting for the start are not carried out: they stop waiting.
    this.#attached.resolve();
    clearTimeout(this.#retellTimer);
    await Promise.all([...this.#roster].map((seat) => this.posting(seat.member)));
    await cluster.depart(SHUTTING_DOWN).then(
      () => this.#departed = true,
      // Its members' leaves are told one by one as they go, or their names lapse.
      (e) => this.#log.warn("cannot tell the other nodes this one stops", { error: errorText(e) }),
    );
  }

  /**
   * A seat for a member of another node, in no room yet. Whoever held the
   * name here goes: a remote member that left unheard, or a local one this
   * node lost the name of while cut off.
   */
  #remoteSeat(cluster: Cluster, nick: string, via: Via, node: string): Seat {
    const key = nickKey(nick);
    this.#evict(key);
    const seat = new Seat(
      this.#remoteMember(cluster, via, node),
      nick,
      "",
      new TokenBucket(this.#flood, this.#now),
    );
    this.#roster.add(seat);
    return seat;
  }

  /** The record every node keeps of a local member. */
  #record(cluster: Cluster, seat: Seat): [string, MemberRecord] {
    return [seat.key, {
      nick: seat.nick,
      via: seat.member.via,
      node: cluster.node,
      rooms: [...seat.rooms.values()].map((room) => room.name),
      token: tokenHash(seat.token),
      ...(seat.away === undefined ? {} : { away: seat.away }),
    }];
  }

  /** The event that tells every node a member of this one as it is now, in `rooms` (see `ClusterEvent`). */
  #seatEvent(
    cluster: Cluster,
    seat: Seat,
    rooms: readonly Room[],
    op: "seat" | "sync" = "seat",
  ): ClusterEvent {
    return {
      op,
      node: cluster.node,
      nick: seat.nick,
      via: seat.member.via,
      rooms: rooms.map((room) => this.#ref(room)),
      ...(seat.away === undefined ? {} : { away: seat.away }),
    };
  }

  /** Tells every node a member of this one entered `room`. */
  #tellJoin(cluster: Cluster, seat: Seat, room: Room): void {
    this.#tell(cluster, {
      op: "join",
      node: cluster.node,
      nick: seat.nick,
      room: this.#ref(room),
    }, seat);
  }

  /** A room as an event names it. */
  #ref(room: Room): RoomRef {
    const ref: RoomRef = { room: room.name, key: room.key };
    if (room.topic) ref.topic = room.topic;
    return ref;
  }

  /**
   * Tells the other nodes what a local member did, with its record as it
   * is now (`gone`: removed). Failing that (Redis lost meanwhile), the log
   * says so: the member stays, and the others learn of it when its node
   * tells them again.
   */
  #tell(cluster: Cluster, event: ClusterEvent, seat: Seat, gone = false, was?: string): void {
    const records: [string, MemberRecord | null][] = [];
    if (was !== undefined) records.push([was, null]);
    records.push(gone ? [seat.key, null] : this.#record(cluster, seat));
    const member = seat.member;
    const told = cluster.tell(event, records);
    // A line said after it goes to Redis after it.
    seat.ahead.add(told);
    told.catch((e) => {
      if (e instanceof SeatMoved) return this.#movedAway(seat, member);
      this.#untold = true;
      if (!gone) this.#untoldSeats.add(seat);
      // Told with its reason once Redis is back (`#retell`), not as "connection lost".
      if (event.op === "bye") this.#untoldByes.set(seat.key, event.reason);
      // Redis lost is logged once, by the cluster, and retold once it is
      // back; one that answers but refused (out of memory, read-only) is
      // said here, and tried again soon.
      if (cluster.reachable) {
        this.#retellSoon(cluster);
        this.#log.warn("cannot tell the other nodes", {
          op: event.op,
          nick: seat.nick,
          error: errorText(e),
        });
      }
    });
  }

  /**
   * Redis is back after something this node told was lost: the member list
   * is made to match this node's members (those gone are told gone), and
   * the seats it never heard of, or lost something of, are told as they are.
   */
  #retell(cluster: Cluster): void {
    if (!this.#untold) return;
    this.#untold = false;
    const local = [...this.#roster].filter((seat) => !seat.member.remote);
    const byes = new Map(this.#untoldByes);
    this.#untoldByes.clear();
    const dirty = new Set(this.#untoldSeats);
    this.#untoldSeats.clear();
    cluster.reconcile(local.map((seat) => seat.key), byes).then(
      ({ missing, gone }) => {
        this.#retellFailing = false;
        const unknown = new Set(missing);
        let told = 0;
        for (const seat of local) {
          if (!unknown.has(seat.key) && !dirty.has(seat)) continue;
          if (this.#roster.byKey(seat.key) !== seat) continue;
          // Unknown to Redis: seated anew; else its rooms made to match.
          const op = unknown.has(seat.key) ? "seat" : "sync";
          const rooms = [...seat.rooms.values()];
          this.#tell(cluster, this.#seatEvent(cluster, seat, rooms, op), seat);
          told++;
        }
        if (told > 0 || gone.length > 0) {
          this.#log.info("told the other nodes what they missed while Redis was lost", {
            seats: told,
            left: gone.length,
          });
        }
      },
      (e) => {
        this.#untold = true;
        for (const seat of dirty) this.#untoldSeats.add(seat);
        for (const [fold, reason] of byes) {
          if (!this.#untoldByes.has(fold)) this.#untoldByes.set(fold, reason);
        }
        if (cluster.reachable) this.#retellSoon(cluster);
        // Once until it works: a Redis that keeps refusing is tried every RETELL_MS.
        if (!this.#retellFailing) {
          this.#log.warn("cannot tell the other nodes this node's members", {
            error: errorText(e),
          });
        }
        this.#retellFailing = true;
      },
    );
  }

  /** Tries {@linkcode #retell} again in {@linkcode RETELL_MS}, unless a try is due already or the hub closed. */
  #retellSoon(cluster: Cluster): void {
    if (this.#retellTimer !== undefined || this.#closed) return;
    this.#retellTimer = setTimeout(() => {
      this.#retellTimer = undefined;
      this.#retell(cluster);
    }, RETELL_MS);
  }

  /** A room message from the feed: delivered to everyone here in the room. */
  #fromFeed(key: string, message: RoomMessage, gap: boolean): void {
    const mine = this.#unshown.get(message.id);
    if (mine) {
      this.#unshown.delete(message.id);
      // Another line under its id: a Redis back from an older copy of its
      // data handed the id out again, and this one is gone.
      if (mine.text !== message.text) this.#tellLost([mine]);
    }
    if (gap) {
      this.#log.warn("this node missed messages: it was cut off longer than the feed keeps");
      const notice = this.#notice(
        "This server was cut off from the others for a while and missed messages meanwhile; each room's history has its latest.",
      );
      for (const seat of this.#roster) if (!seat.member.remote) this.#deliver(seat.member, notice);
    }
    for (const list of this.#watching.get(key) ?? []) list.push(message);
    this.#rooms.get(key)?.deliver(message);
  }

  /**
   * Carries out what another node told (or, for `topic` and `dead`, any
   * node), as of feed id `asOf` (what is older news is passed over, see
   * {@linkcode #fences}): the entry's own, or that of the member list it was
   * made up from.
   */
  #fromCluster(cluster: Cluster, event: ClusterEvent, asOf = cluster.position): void {
    if (event.op === "topic") {
      const { room: ref } = event;
      const topic = ref.topic ?? { text: "", by: SERVER_NICK, ts: this.#now() };
      this.#rooms.get(ref.key)?.showTopic(topic);
      return;
    }
    if (event.op === "dead") {
      // Told by whichever node found it (this one, maybe): every node carries it out.
      if (event.dead === cluster.node) return;
      let members = 0;
      for (const seat of [...this.#roster]) {
        const member = seat.member;
        if (member instanceof RemoteMember && member.node === event.dead) {
          this.#drop(seat, event.reason ?? "connection lost");
          members++;
        }
      }
      const fields = { node: event.dead, members };
      if (!event.reason) {
        this.#log.warn("a node stopped renewing its lease: its members left", fields);
      } else {
        // One stopped with Ctrl-C has told its members' leaves one by one already.
        this.#log.info(members > 0 ? "a node stopped: its members left" : "a node stopped", fields);
      }
      return;
    }
    if (event.node === cluster.node) return;
    // A rename is partly news (the other name's part); the rest, all older news.
    const older = this.#olderNews(cluster, event, asOf);
    if (older && event.op !== "rename") return;
    // Only the node a member is on speaks for it: a late event from the
    // node it was taken back from (not yet told so) is passed over.
    const remote = (nick: string) => {
      const seat = this.#roster.byKey(nickKey(nick));
      const member = seat?.member;
      return member instanceof RemoteMember && member.node === event.node ? seat : undefined;
    };
    switch (event.op) {
      case "ban": {
        const { op: _op, node: _node, ...ban } = event;
        this.#door.keep(ban);
        return;
      }
      case "seat":
      case "sync": {
        const known = remote(event.nick);
        // Told again (its node lost something it told): its rooms made to match.
        const seat = known?.member.via === event.via
          ? known
          : this.#remoteSeat(cluster, event.nick, event.via, event.node);
        this.#asTold(seat, event.rooms, event.away);
        return;
      }
      case "away": {
        const seat = remote(event.nick);
        if (seat) seat.away = awayOf(event.text);
        return;
      }
      case "join": {
        const seat = remote(event.nick);
        if (seat) this.#remoteEnter(seat, event.room);
        return;
      }
      case "leave": {
        const seat = remote(event.nick);
        const room = seat?.rooms.get(event.key);
        if (seat && room) {
          room.leave(seat, event.reason);
          this.#dropIfEmpty(room);
        }
        return;
      }
      case "bye": {
        const seat = remote(event.nick);
        if (seat) this.#drop(seat, event.reason);
        return;
      }
      case "rename": {
        const fromOlder = older?.has(nickKey(event.from)) ?? false;
        if (older?.has(nickKey(event.to))) {
          // Its new name is a member's of this node since: its old name's seat goes all the same.
          const gone = fromOlder ? undefined : remote(event.from);
          if (gone) this.#drop(gone, "connection lost");
          return;
        }
        // Its old name is a member's of this node since: only the new one is news.
        const seat = fromOlder ? undefined : remote(event.from);
        if (!seat) {
          // Let go here already: its old name was free in Redis to a
          // newcomer here before this node heard of the rename. Seated again
          // as its node has it, under the new name.
          if (event.via === undefined || event.node === cluster.node) return;
          // A member of this node holds the new name by now: this rename is older news.
          const holder = this.#roster.byKey(nickKey(event.to));
          if (holder && !holder.member.remote) return;
          const renamed = this.#remoteSeat(cluster, event.to, event.via, event.node);
          renamed.away = awayOf(event.away);
          for (const ref of event.rooms ?? []) this.#remoteEnter(renamed, ref);
          return;
        }
        this.#evict(nickKey(event.to), seat);
        this.#renamed(seat, event.to);
        return;
      }
      case "moved": {
        const seat = this.#roster.byKey(nickKey(event.nick));
        if (!seat) {
          // Gone from here already (its old connection here dropped before
          // this node heard of the move): seated as the other node has it.
          const moved = this.#remoteSeat(cluster, event.nick, event.via, event.node);
          this.#asTold(moved, event.rooms ?? [], event.away);
          return;
        }
        const old = seat.member;
        if (!old.remote) {
          // Its name is the other node's to renew now.
          cluster.disown(seat.key);
          // What this node told of it since (its old connection acted before
          // this node heard, and the seat had left there) may have written it
          // a record naming this node: removed, unless it names another node
          // (made up here from a take-over, "now", there is none such).
          if (asOf !== Infinity) this.#toldGone(seat, true);
          // Those shown its old connection since the take-over, and those
          // kept for its closed page before (its reload is the new one).
          if (event.at !== undefined) this.#passOnPrivates(cluster, seat, event.node, event.at);
        }
        // Its connection here (if it was ours) is closed quietly: the seat lives on, there.
        this.#roster.takeBack(
          seat,
          this.#remoteMember(cluster, event.via, event.node),
          "",
        );
        for (const room of seat.rooms.values()) room.changed();
        old.close();
        // In the rooms, and away, as the node that took it over had it (this
        // node's own member may have acted here before this node heard).
        if (event.rooms) this.#asTold(seat, event.rooms, event.away);
        return;
      }
    }
  }

  /**
   * Passes on to `node` the private messages this node showed `seat`'s old
   * connection after the seat was taken over there (Redis's ids were at
   * `after`; the sender's node had not heard yet), and those it kept for
   * the old connection's closed page ({@linkcode Seat.kept}): the new
   * connection was not shown them. Once each: a node passes on nothing it
   * was passed.
   */
  #passOnPrivates(cluster: Cluster, seat: Seat, node: string, after: number): void {
    // Shown there after the room lines with lower ids, as every private
    // message is: once that node's feed is where this one's is now.
    const position = cluster.position;
    // Past the take-over, and those kept for its closed page before it.
    const passed = seat.privates.after(0).messages.filter((m) =>
      m.id > after || seat.kept.has(m.id)
    );
    for (const event of passed) {
      cluster.forward(node, { fold: seat.key, event, after: position, passed: true }).catch((e) =>
        this.#log.debug("cannot pass a private message on", { error: errorText(e) })
      );
    }
  }

  /**
   * Makes a seat of another node as its node told it: in `rooms` (it
   * leaves the others, each told as a part here), and away if `away` says so.
   */
  #asTold(seat: Seat, rooms: readonly RoomRef[], away: string | undefined): void {
    const keys = new Set(rooms.map((ref) => ref.key));
    for (const room of [...seat.rooms.values()]) {
      if (keys.has(room.key)) continue;
      room.leave(seat, "part");
      this.#dropIfEmpty(room);
    }
    seat.away = awayOf(away);
    for (const ref of rooms) this.#remoteEnter(seat, ref);
  }

  /**
   * Keeps what other nodes tell of nickname `fold` up to feed id `until`
   * from being carried out here (see {@linkcode #fences}): this node seated
   * a member under it when Redis was at `until`. Entries the feed is past
   * are let go as it goes.
   */
  #fence(cluster: Cluster, fold: string, until: number): void {
    if (until <= cluster.position) return;
    if (this.#fences.size >= FENCES_SWEEP) {
      for (const [key, bound] of this.#fences) {
        if (bound <= cluster.position) this.#fences.delete(key);
      }
    }
    this.#fences.set(fold, Math.max(until, this.#fences.get(fold) ?? 0));
  }

  /**
   * The nicknames (folded) `event` names whose fence it is within (see
   * {@linkcode #fences}): it is older news of them. Undefined if none.
   */
  #olderNews(cluster: Cluster, event: ClusterEvent, asOf: number): Set<string> | undefined {
    if (this.#fences.size === 0) return undefined;
    const names = event.op === "rename"
      ? [event.from, event.to]
      : "nick" in event
      ? [event.nick]
      : [];
    let older: Set<string> | undefined;
    for (const nick of names) {
      const key = nickKey(nick);
      const until = this.#fences.get(key);
      if (until === undefined) continue;
      if (asOf <= until) (older ??= new Set()).add(key);
      else if (cluster.position > until) this.#fences.delete(key);
    }
    return older;
  }

  #remoteMember(cluster: Cluster, via: Via, node: string): RemoteMember {
    const remote = new RemoteMember(via, node, (event) => {
      if (event.type !== "message" && event.type !== "ctcp") return;
      // To the name its seat holds now: a rename keeps the member.
      const fold = this.#roster.seatOf(remote)?.key;
      if (fold === undefined) return;
      cluster.forward(node, { fold, event }).catch((e) =>
        this.#log.debug("cannot forward a private message", { error: errorText(e) })
      );
    });
    return remote;
  }

  /** A member of another node enters a room (made live here if it was not). */
  #remoteEnter(seat: Seat, ref: RoomRef): void {
    let room = this.#rooms.get(ref.key);
    if (!room) {
      const name = ref.key === LOBBY_KEY ? LOBBY : ref.room;
      room = this.#make({ name, key: ref.key, room: undefined }, ref.topic);
    }
    if (room.has(seat)) return;
    room.enter(seat);
    room.announce(seat);
  }

  /** Takes a seat out of the hub and its rooms, telling them why (no flood rule: its node applied it). */
  #drop(seat: Seat, why: string): void {
    this.#roster.remove(seat);
    for (const room of [...seat.rooms.values()]) {
      room.leave(seat, why);
      this.#dropIfEmpty(room);
    }
  }

  /**
   * Whoever holds a name here (but `keep`) goes, now that another node has
   * it: a member of another node that left without this node hearing of it
   * yet, or a local one whose name this node lost while cut off (the fence).
   */
  #evict(key: string, keep?: Seat): void {
    const held = this.#roster.byKey(key);
    if (!held || held === keep) return;
    if (held.member.remote) this.#drop(held, "connection lost");
    else this.#fenced(held);
  }

  /**
   * A local member whose seat was taken back on another node (its token),
   * found as this node told something `member` did: that connection goes.
   * The move, when this node reads it, seats the member as the other node
   * has it; read already, the seat is the other node's member's now, and
   * stays.
   */
  #movedAway(seat: Seat, member: Member): void {
    if (seat.member !== member || this.#roster.seatOf(member) !== seat) return;
    this.#drop(seat, "connection lost");
    this.#cluster?.release(seat.key);
    this.#toldGone(seat);
    seat.member.close();
  }

  /**
   * Tells the other nodes that a member of this one whose name another node
   * has now is gone from here, leaving its record (the other node's) as it
   * is: a node that still has it as this node's lets it go, one that heard
   * of the other node's seat passes it over. Without it, a take-over whose
   * answer the other node lost (it never tells the move) would leave the
   * member listed as this node's everywhere else.
   */
  #toldGone(seat: Seat, record = false): void {
    const cluster = this.#cluster;
    if (!cluster) return;
    const bye: ClusterEvent = {
      op: "bye",
      node: cluster.node,
      nick: seat.nick,
      reason: "connection lost",
    };
    // With `record`, its record is removed too, unless it names another live
    // node (then nothing is told: Redis refuses, SeatMoved).
    cluster.tell(bye, record ? [[seat.key, null]] : []).catch((e) =>
      this.#log.debug("cannot tell a member gone", { nick: seat.nick, error: errorText(e) })
    );
  }

  /** A local member whose nickname another node took while this one was cut off: let go. */
  #fenced(seat: Seat): void {
    this.#log.warn("nickname taken by another node while this one was cut off", {
      nick: seat.nick,
    });
    const notice = this.#notice(
      "This server lost touch with the others for too long and your nickname was taken meanwhile. Join again.",
    );
    this.#deliver(seat.member, notice);
    this.#drop(seat, "connection lost");
    this.#toldGone(seat);
    seat.member.close();
  }

  /**
   * Events were lost (this node was away past what the feed keeps): the
   * members of other nodes are made to match the service's list as it is
   * now, each change announced as the lost event would have been.
   */
  #matchMembers(cluster: Cluster, records: MemberRecord[], at: number): void {
    this.#log.warn("this node missed part of the feed; reading the member list again");
    // Each difference is carried out as the event that would have told it, as of the list's id.
    const told = (event: ClusterEvent) => this.#fromCluster(cluster, event, at);
    const listed = new Map<string, MemberRecord>();
    for (const record of records) {
      if (record.node !== cluster.node) listed.set(nickKey(record.nick), record);
    }
    for (const seat of [...this.#roster]) {
      const member = seat.member;
      if (!(member instanceof RemoteMember)) continue;
      const { nick } = seat;
      const record = listed.get(seat.key);
      if (!record || record.nick !== nick) {
        told({ op: "bye", node: member.node, nick, reason: "connection lost" });
        continue;
      }
      listed.delete(seat.key);
      const { node, via } = record;
      if (node !== member.node || via !== member.via) told({ op: "moved", node, nick, via });
      const keys = new Set(record.rooms.map(roomKey));
      for (const key of [...seat.rooms.keys()]) {
        if (!keys.has(key)) told({ op: "leave", node, nick, key, reason: "" });
      }
      for (const room of record.rooms) told({ op: "join", node, nick, room: refOf(room) });
      const away = record.away === undefined ? {} : { text: record.away };
      if (awayOf(record.away) !== seat.away) told({ op: "away", node, nick, ...away });
    }
    for (const { nick, via, node, rooms, away } of listed.values()) {
      const said = away === undefined ? {} : { away };
      told({ op: "seat", node, nick, via, rooms: rooms.map(refOf), ...said });
    }
  }

  /** Nicknames another node took since this node could last renew them. */
  #namesLost(folds: string[]): void {
    for (const fold of folds) {
      const seat = this.#roster.byKey(fold);
      if (seat && !seat.member.remote) this.#fenced(seat);
    }
  }

  /** This node was taken for dead and is back: its members are told to every node again. */
  #revived(cluster: Cluster): void {
    // Not listed in Redis (found dead, or Redis lost its data): other nodes'
    // names may be free there until they renew (see #heldElsewhere).
    this.#lostAt = this.#now();
    this.#log.warn(
      "this node's lease had ended (it was taken for dead, or Redis lost its data); telling the others its members again",
    );
    for (const seat of this.#roster) {
      if (seat.member.remote) continue;
      this.#tell(cluster, this.#seatEvent(cluster, seat, [...seat.rooms.values()]), seat);
    }
  }

  /** A private message, CTCP or kick another node sent a member here. */
  #forwarded(forwarded: Forwarded): void {
    if ("room" in forwarded) {
      // A room's CTCP: to this node's IRC members in it, its sender aside.
      const { event } = forwarded;
      for (const other of this.#rooms.get(forwarded.room) ?? []) {
        const { member } = other;
        if (!member.remote && member.via === "irc" && other.nick !== event.from) {
          this.#deliver(member, event);
        }
      }
      return;
    }
    const seat = this.#roster.byKey(forwarded.fold);
    if (!seat) return;
    const member = seat.member;
    if (member instanceof RemoteMember) {
      // Taken back on another node since the sender's node looked: passed on there, once.
      if (forwarded.passed || !this.#cluster) return;
      this.#cluster.forward(member.node, { ...forwarded, passed: true }).catch((e) =>
        this.#log.debug("cannot pass a private message on", { error: errorText(e) })
      );
      return;
    }
    if (member.remote) return;
    if ("kick" in forwarded) {
      this.kick(seat.nick, forwarded.kick);
      return;
    }
    const { event } = forwarded;
    const show = () => {
      if (this.#roster.byKey(forwarded.fold) !== seat) return;
      if (event.type === "message") {
        seat.privates.push(event);
        if (seat.member.parting) {
          // The newest, as `privates` holds them.
          if (seat.kept.size >= PRIVATE_KEEP) seat.kept.delete(seat.kept.values().next().value!);
          seat.kept.add(event.id);
        }
      }
      this.#deliver(seat.member, event);
    };
    const cluster = this.#cluster;
    if (cluster && forwarded.after !== undefined) {
      void this.#whenFed(cluster, forwarded.after, show);
    } else {
      show();
    }
  }

  /**
   * Settles once this node has delivered the feed up to `after` (or after
   * `reach`'s bound): a private message is shown after every room message
   * with a lower id (see `Cluster.privateId`).
   */
  #afterFeed(cluster: Cluster, after: number): Promise<void> {
    return cluster.position >= after ? Promise.resolve() : cluster.reach(after);
  }

  /**
   * Runs `show` once this node has delivered the feed up to `after` (or
   * after `reach`'s bound), right after the entry that gets it there and
   * before the next one: a private message between two room lines of one
   * batch is shown between them, not after both (a promise's turn would
   * come once the whole batch was handed on). Settles once it ran.
   */
  #whenFed(cluster: Cluster, after: number, show: () => void): Promise<void> {
    if (cluster.position >= after) {
      show();
      return Promise.resolve();
    }
    const { promise, resolve } = Promise.withResolvers<void>();
    const waiting = {
      after,
      run: () => {
        this.#feeding.delete(waiting);
        show();
        resolve();
      },
    };
    this.#feeding.add(waiting);
    // The bound: shown even if the feed never gets there.
    void cluster.reach(after).then(() => this.#feeding.has(waiting) && waiting.run());
    return promise;
  }

  /**
   * Redis came back without some of its data, and the feed goes on past
   * what it lost (`ClusterSink.idsLost`): members here are told once, the
   * lines of theirs it lost each to its sender, and the other nodes who
   * this node's members are (the member list went with it).
   */
  #idsLost(cluster: Cluster): void {
    this.#lostAt = this.#now();
    const notice = this.#notice(
      "The message store restarted without its latest data: lines said just before may be lost; each room's history has what it kept.",
    );
    for (const seat of this.#roster) if (!seat.member.remote) this.#deliver(seat.member, notice);
    this.#tellLost(this.#passed(cluster.position));
    // The member list was lost with the rest: this node's members told again.
    this.#untold = true;
    this.#retell(cluster);
  }

  /**
   * True if another node's member holds nickname `fold` as this node knows,
   * and Redis lost data a moment ago ({@linkcode LOSS_GRACE_MS}): its name
   * is free in Redis until its node claims it again, which that node does
   * as it reads of the loss (or at its next renewal), and a claim here
   * meanwhile would take it from a member still connected there. (Other
   * times, a name free in Redis that a seat of another node holds here is
   * one whose leave this node has not read yet.)
   */
  #heldElsewhere(fold: string): boolean {
    if (this.#now() - this.#lostAt >= LOSS_GRACE_MS) return false;
    return this.#roster.byKey(fold)?.member.remote === true;
  }

  /**
   * The lines Redis kept that the feed has passed (`position`) without
   * bringing them, taken off {@linkcode #unshown}: in the order their
   * answers came (one answered out of order is found at a later call).
   */
  #passed(position: number): Unshown[] {
    const passed: Unshown[] = [];
    for (const [id, line] of this.#unshown) {
      if (id > position) break;
      this.#unshown.delete(id);
      passed.push(line);
    }
    return passed;
  }

  /**
   * Redis lost these lines before this node showed them (a node that read
   * the feed sooner may have): each sender is told which, by its start, as
   * a flood refusal quotes it.
   */
  #tellLost(lines: readonly Unshown[]): void {
    for (const { seat, room, text } of lines) {
      if (this.#roster.seatOf(seat.member) !== seat) continue;
      const said = saidOf(text);
      this.#refuse(
        seat.member,
        "storage_failed",
        `Lost: the message store restarted without this line, and not everyone saw it: "${said}". Say it again if it still matters.`,
        false,
        room,
      );
    }
    if (lines.length > 0) {
      this.#log.warn("the message store lost lines it had kept", { lines: lines.length });
    }
  }

  /** The feed handed on an entry: what waited for it ({@linkcode #whenFed}) is shown now. */
  #fed(cluster: Cluster): void {
    // Passed over otherwise (its node fell behind the feed's trim): kept,
    // and shown by the others; the gap the feed tells says the rest.
    if (this.#unshown.size > 0) this.#passed(cluster.position);
    if (this.#feeding.size === 0) return;
    for (const waiting of [...this.#feeding]) {
      if (waiting.after <= cluster.position) waiting.run();
    }
  }

  /**
   * Collects what the feed delivers here to rooms `keys`, from now until
   * `stop()`: a member's welcome is read from Redis while the feed goes on.
   * `merged()`, called when the member is seated (nothing awaited between),
   * gives each room's backlog as of that moment: what the read found up to
   * the feed's position here, with what the feed delivered meanwhile. What
   * the read found past that position the feed delivers to the member live,
   * once seated: nothing missed and nothing shown twice, however far the
   * feed lags (a join that waited out `reach` showed such messages twice).
   */
  #watch(keys: readonly string[]): RoomWatch {
    const lists = keys.map((key) => {
      const list: RoomMessage[] = [];
      let set = this.#watching.get(key);
      if (!set) this.#watching.set(key, set = new Set());
      set.add(list);
      return list;
    });
    return {
      merged: (backlogs, position) =>
        backlogs.map((backlog, i) => ({
          messages: byId([...backlog.messages.filter((m) => m.id <= position), ...lists[i]!]),
          gap: backlog.gap,
        })),
      stop: () =>
        keys.forEach((key, i) => {
          const set = this.#watching.get(key);
          set?.delete(lists[i]!);
          if (set?.size === 0) this.#watching.delete(key);
        }),
    };
  }

  /**
   * Reads from Redis what a member is shown of `rooms` as it comes in, and
   * returns once the feed has delivered here everything that read saw (or
   * after `reach`'s bound): a welcome as complete as the feed allows (see
   * {@linkcode #watch}, which makes it exact).
   */
  async #readRooms(
    cluster: Cluster,
    keys: string[],
    read: (key: string) => Promise<Backlog<RoomMessage>>,
  ): Promise<Backlog<RoomMessage>[]> {
    const backlogs = await Promise.all(keys.map(read));
    let last = 0;
    for (const backlog of backlogs) {
      for (const m of backlog.messages) last = Math.max(last, m.id);
    }
    if (last > cluster.position) await cluster.reach(last);
    return backlogs;
  }

  /**
   * A closed page's seat, kept for its reload (`Member.parting`), goes now
   * (its leave told) if someone joins under its name without its token:
   * the name is free once its tab is closed, as it was before reloads kept
   * seats.
   */
  #letGoParting(requested: string, token: string | undefined): void {
    const nick = checkNick(requested);
    if (!nick.ok) return;
    const holder = this.#roster.find(nick.value);
    if (holder?.member.parting && (token === undefined || token !== holder.token)) {
      holder.member.close();
    }
  }

  /** {@linkcode join} with `--redis`: the nickname is claimed in Redis, and the backlogs read there. */
  async #joinClustered(
    cluster: Cluster,
    member: Member,
    requested: string,
    token: string | undefined,
    since: number | undefined,
    rooms: readonly string[],
  ): Promise<boolean> {
    const claimed = this.#roster.claim(requested, member, token);
    if (!claimed.ok && claimed.code === "nick_invalid") {
      return this.#refuse(member, claimed.code, claimed.reason);
    }
    if (!cluster.up) return this.#refuse(member, "storage_failed", UNREACHABLE_SEAT);
    const nick = checkNick(requested);
    if (!nick.ok) return this.#refuse(member, nick.code, nick.reason);
    const fold = nickKey(nick.value);
    const local = this.#roster.byKey(fold);
    const taken = `Nickname "${local?.nick ?? nick.value}" is taken. Try another.`;
    if (local && !local.member.remote && !claimed.ok && token === undefined) {
      return this.#refuse(member, "nick_taken", taken);
    }
    if (token === undefined && this.#heldElsewhere(fold)) {
      return this.#refuse(member, "nick_taken", taken);
    }
    if (this.#claiming.has(fold)) return this.#refuse(member, "nick_taken", taken);
    this.#claiming.add(fold);
    this.#joining.set(member, true);
    const j: ClusterJoin = {
      cluster,
      member,
      nick: nick.value,
      fold,
      token,
      since,
      taken,
      // A seat of this node taken back needs nothing of Redis; any other is claimed there.
      ghost: local && !local.member.remote ? local : undefined,
      stale: undefined,
      moved: false,
      last: 0,
      record: undefined,
      takenAt: undefined,
      held: false,
      fenced: false,
      told: false,
      rotating: undefined,
      overtaking: false,
      watches: [],
    };
    try {
      if (!await this.#claimName(j, claimed.ok)) return false;
      const plan = this.#plan(this.#wantsOf(j.ghost), rooms);
      const read = this.#backlogReader(j, plan.wanted.length);
      const first = await this.#readWelcome(j, plan.wanted, read);
      if (!this.#joining.get(member)) return false;
      // (One held on another node is looked at again once Redis has answered: #takeOverSeat.)
      const current = this.#roster.byKey(fold);
      if (j.ghost && !j.moved && current !== j.ghost) {
        return this.#refuse(member, "nick_taken", taken);
      }
      if (j.held && current) {
        // The name is this node's in Redis: a seat of another node under it, heard of meanwhile, is gone.
        if (current.member.remote) this.#drop(current, "connection lost");
        else return this.#refuse(member, "nick_taken", taken);
      }
      const fresh = this.#newToken();
      if (!await this.#takeOverSeat(j, fresh)) return false;
      const welcome = await this.#asRecorded(j, plan, first, rooms, read);
      if (!this.#seatClustered(j, welcome, fresh)) return false;
      j.held = false; // the seat holds it now
      // Taken over from another node, and gone before it was seated (see #takeOverSeat).
      if (!this.#joining.get(member)) this.leave(member, "connection lost");
      return true;
    } catch (e) {
      if (e instanceof StoreRestarted) {
        return this.#refuse(member, "storage_failed", RESTARTED_SEAT);
      }
      // Redis lost meanwhile is logged once, by the cluster.
      if (cluster.up) this.#log.error("cannot join through Redis", { error: errorText(e) });
      // A take-back of a seat here whose answer was lost may have been
      // carried out: its token is given back if so (a no-op if not).
      if (j.rotating !== undefined) this.#giveBack(j, j.rotating);
      if (j.overtaking) {
        // One of another node's seat, the same: the seat would be this
        // node's in Redis, which has no member for it. The name is let go,
        // and the member list made to match this node's members, as after
        // Redis was lost (its old node lets its member go, `#toldGone`).
        cluster.release(fold, true);
        this.#untold = true;
        this.#retell(cluster);
      }
      return this.#refuse(member, "storage_failed", UNREACHABLE_SEAT);
    } finally {
      for (const watch of j.watches) watch.stop();
      // Nobody seated under the name: what was told of it before is no older news.
      if (j.fenced && !j.told) this.#fences.delete(fold);
      this.#claiming.delete(fold);
      this.#joining.delete(member);
      if (j.held) cluster.release(fold);
    }
  }

  /**
   * A join through Redis, first step: whose seat it takes. A seat of this
   * node taken back with its token stays `ghost`; a name held by a member of
   * another node is to be taken over with the token (`moved`, by
   * {@linkcode #takeOverSeat}); any other name is claimed (`held`). False
   * if the join ends here (refused, or its member gone).
   */
  async #claimName(j: ClusterJoin, ownToken: boolean): Promise<boolean> {
    const { cluster, fold } = j;
    if (j.ghost && !ownToken) {
      // Not its token: refused, unless another node holds the name now
      // (its member took the seat back there, with the token it has now).
      const holder = await cluster.holder(fold);
      const now = this.#roster.byKey(fold);
      if (
        now === j.ghost
          ? holder === undefined || holder === cluster.node
          : now !== undefined && !now.member.remote
      ) {
        return this.#refuse(j.member, "nick_taken", j.taken);
      }
      // (Let go meanwhile, its name found lost: taken over all the same.)
      j.stale = now === j.ghost ? j.ghost : undefined;
      j.ghost = undefined;
    }
    // Held by a member of another node: taken over with the token, if it is theirs.
    if (!j.ghost) {
      j.held = await cluster.claim(fold);
      if (!j.held) {
        if (j.token === undefined) return this.#refuse(j.member, "nick_taken", j.taken);
        j.moved = true;
      }
    }
    // Read after the claim: what the feed holds up to it was told before.
    j.last = await cluster.store.lastId();
    const now = this.#roster.byKey(fold);
    if (j.held) {
      j.fenced = true;
      this.#fence(cluster, fold, j.last);
      // Redis says the name is free: whoever holds it here left without this
      // node hearing yet (its leave is older news now, passed over).
      if (now?.member.remote) this.#drop(now, "connection lost");
      else if (now) return this.#refuse(j.member, "nick_taken", j.taken);
    }
    if (!this.#joining.get(j.member)) return false;
    if (j.moved) j.ghost = now?.member.remote ? now : undefined;
    return true;
  }

  /**
   * How a join through Redis reads a room's backlog: the messages after its
   * `since`, at most the replay limit for `count` rooms, or the most recent
   * ones (a gap if it had a `since` Redis is not at yet).
   */
  #backlogReader(j: ClusterJoin, count: number): (key: string) => Promise<Backlog<RoomMessage>> {
    const { cluster, since, last } = j;
    const limit = this.#replayLimit(count);
    return async (key) => {
      if (since === undefined || since > last) {
        return {
          messages: await cluster.store.recent(key, this.#env.history),
          gap: since !== undefined,
        };
      }
      return await cluster.store.after(key, since, limit);
    };
  }

  /**
   * Reads `wanted` for a join's welcome: their backlogs (a history read like
   * any other, its turn among them: HISTORY_READS_AT_ONCE), watched for what
   * the feed brings meanwhile until the join ends (see {@linkcode #watch}),
   * and the names and topics the service keeps for rooms not live here (a
   * room made here takes the name the service keeps for it). A read that
   * fails refuses the join, unless it is `afterTakeOver`: the seat is this
   * node's already, so the rooms' backlogs are left empty, marked as a gap.
   */
  async #readWelcome(
    j: ClusterJoin,
    wanted: Wanted[],
    read: (key: string) => Promise<Backlog<RoomMessage>>,
    afterTakeOver = false,
  ): Promise<Read> {
    const { cluster } = j;
    const keys = wanted.map((want) => want.key);
    const watch = this.#watch(keys);
    j.watches.push(watch);
    try {
      const [backlogs, kept] = await Promise.all([
        this.#reads.run(() => this.#readRooms(cluster, keys, read)),
        Promise.all(
          wanted.map((want) => want.room ? undefined : cluster.room(want.key, want.name)),
        ),
      ]);
      return { wanted, watch, backlogs, kept };
    } catch (e) {
      if (!afterTakeOver) throw e;
      this.#log.warn("cannot read the history of a seat taken over", { error: errorText(e) });
      const backlogs = wanted.map(() => ({ messages: [], gap: true }));
      return { wanted, watch, backlogs, kept: wanted.map(() => undefined) };
    }
  }

  /** Gives a seat here the token it had, if Redis has `given` for it (a no-op if not). */
  #giveBack(j: ClusterJoin, given: string): void {
    if (j.token === undefined) return;
    j.cluster.takeOver(j.fold, given, j.token).catch((e) =>
      this.#log.warn("cannot give a seat its token back", {
        nick: j.nick,
        error: errorText(e),
      })
    );
  }

  /**
   * A join through Redis taking a seat back (`ghost`) or over (`moved`),
   * checked in Redis last, once nothing but seating is left to do: the
   * record gets the seat's next token (`fresh`) in the same step, so of two
   * take-backs with one token at once, on any nodes, one wins, and a join
   * that fails before this spends no token. A seat taken over from another
   * node is then this node's (`held`, its name fenced), its `record` as
   * Redis had it. False if the join ends here.
   */
  async #takeOverSeat(j: ClusterJoin, fresh: string): Promise<boolean> {
    const { cluster, fold, member } = j;
    if (!j.ghost && !j.moved) return true;
    if (!j.moved) j.rotating = fresh;
    j.overtaking = j.moved;
    const over = await cluster.takeOver(fold, j.token ?? "", fresh);
    j.rotating = undefined;
    j.overtaking = false;
    if (over === null) {
      // No member has the name in Redis: its holder left while this node
      // read; or, for a seat here, it was taken back elsewhere and left
      // since (this node is behind on the feed), or Redis lost its data.
      // Claimed: the name is free, or this node's.
      j.held = await cluster.claim(fold);
      if (!j.held) return this.#refuse(member, "nick_taken", j.taken);
      j.fenced = true;
      this.#fence(cluster, fold, await cluster.store.lastId());
      if (!this.#joining.get(member)) return false;
      if (j.moved) {
        const old = this.#roster.byKey(fold);
        if (old && !old.member.remote && old !== j.stale) {
          return this.#refuse(member, "nick_taken", j.taken);
        }
        if (old) {
          // (Its connection, if here, went with the move this node has still to read.)
          this.#drop(old, "connection lost");
          old.member.close();
        }
        j.moved = false;
        j.ghost = undefined;
      }
      // (A seat here keeps its rooms, taken back, and is told again.)
    } else if (over === undefined) {
      return this.#refuse(member, "nick_taken", j.taken);
    } else if (j.moved) {
      // Taken over from another node: the seat is this node's in Redis now,
      // so it is seated even if its member is gone meanwhile (its old
      // connection there closes, and it then leaves, told to all).
      j.record = over.record;
      j.takenAt = over.at;
      j.held = true;
      j.fenced = true;
      this.#fence(cluster, fold, over.at);
      return true;
    } else if (!this.#joining.get(member)) {
      // Gone meanwhile: the seat here gets its token back.
      this.#giveBack(j, fresh);
      return false;
    }
    if (this.#roster.byKey(fold) !== j.ghost) return this.#refuse(member, "nick_taken", j.taken);
    return true;
  }

  /**
   * The rooms a join through Redis seats its member in, read. A seat taken
   * over from another node is first made as the service had it when it was
   * taken over: its rooms are the record's, which this node may not all have
   * heard of (it lags on the feed, or the seat changed rooms while this node
   * read); those not read yet are read now, and those planned only from this
   * node's view are dropped (see {@linkcode #replan}).
   */
  async #asRecorded(
    j: ClusterJoin,
    plan: Plan,
    first: Read,
    rooms: readonly string[],
    read: (key: string) => Promise<Backlog<RoomMessage>>,
  ): Promise<Welcome> {
    const { cluster } = j;
    const record = j.moved ? j.record : undefined;
    const had = record ? this.#replan(record, plan, rooms) : undefined;
    const more = had && had.missing.length > 0
      ? await this.#readWelcome(j, had.missing, read, true)
      : undefined;
    const all = more ? [...plan.wanted, ...more.wanted] : plan.wanted;
    const names = more ? [...first.kept, ...more.kept] : first.kept;
    const chosen = all.map((want, i) => ({ want, i }))
      .filter(({ want }) => !had?.dropped.has(want.key));
    const live = ({ want, i }: { want: Wanted; i: number }) =>
      this.#rooms.get(want.key) ??
        this.#make(
          { ...want, name: names[i]?.name ?? want.name },
          names[i]?.topic ?? want.room?.topic,
        );
    if (record && record.node !== cluster.node) {
      // Made as the service had it when it was taken over (what a node
      // behind on the feed had not heard yet, its members see now), in
      // its rooms made live as read: moved to its node, then in its rooms.
      const recorded = new Set(record.rooms.map(roomKey));
      for (const entry of chosen) if (recorded.has(entry.want.key)) live(entry);
      // (As of now, not older news: the record was read with the take-over.)
      const as = { node: record.node, nick: record.nick, via: record.via };
      const refs = record.rooms.map(refOf);
      this.#fromCluster(cluster, { op: "moved", ...as, rooms: refs }, Infinity);
      const away = record.away === undefined ? {} : { away: record.away };
      this.#fromCluster(cluster, { op: "sync", ...as, rooms: refs, ...away }, Infinity);
    }
    if (j.moved) {
      const current = this.#roster.byKey(j.fold);
      j.ghost = current?.member.remote ? current : undefined;
    }
    // (After the seat is as the service had it: a room it left there may have emptied here.)
    const ready = chosen.map(live);
    const merged = first.watch.merged(first.backlogs, cluster.position);
    if (more) merged.push(...more.watch.merged(more.backlogs, cluster.position));
    const named = fitWelcome(chosen.map(({ i }) => merged[i]!), j.since).map((b, i) => ({
      messages: ready[i]!.named(b.messages),
      gap: b.gap,
    }));
    return { ready, named, refusals: had?.refusals ?? plan.refusals };
  }

  /**
   * A join through Redis, last step: its member seated, and the seat told to
   * the other nodes before its welcome is sent (so a welcome that fails, the
   * member leaving at once, leaves it gone everywhere): `seat` for a
   * newcomer, `moved` for a seat taken back or over (its record's token and
   * way change), with a join for each room it enters anew.
   */
  #seatClustered(j: ClusterJoin, welcome: Welcome, token: string): boolean {
    const { cluster, member, ghost } = j;
    const before = ghost ? new Set(ghost.rooms.keys()) : undefined;
    const tellSeat = (seat: Seat, entering: Room[]) => {
      j.told = true;
      if (!before) {
        this.#tell(cluster, this.#seatEvent(cluster, seat, entering), seat);
        return;
      }
      const kept = [...seat.rooms.values()].filter((room) => before.has(room.key));
      this.#tell(cluster, {
        op: "moved",
        node: cluster.node,
        nick: seat.nick,
        via: member.via,
        rooms: kept.map((room) => this.#ref(room)),
        ...(seat.away === undefined ? {} : { away: seat.away }),
        ...(j.takenAt !== undefined && j.record?.node !== cluster.node ? { at: j.takenAt } : {}),
      }, seat);
      for (const room of entering) {
        if (!before.has(room.key)) this.#tellJoin(cluster, seat, room);
      }
    };
    return this.#seatIn(
      member,
      j.nick,
      ghost,
      welcome.ready,
      welcome.named,
      welcome.refusals,
      privatesAfter(j.since, j.last),
      token,
      tellSeat,
    ) !== undefined;
  }

  /** The rooms a seat is in, as a join plans them (see {@linkcode #plan}). */
  #wantsOf(seat: Seat | undefined): Wanted[] {
    return [...seat?.rooms.values() ?? []].map((room) => ({
      name: room.name,
      key: room.key,
      room,
    }));
  }

  /**
   * A join's rooms planned again for a seat taken over from another node,
   * from its record (`plan` was made from what this node knew of it): those
   * not planned before (`missing`, to be read), those planned only from this
   * node's view, which the seat had left since and are not asked for again
   * (`dropped`), and the refusals of what is asked for.
   */
  #replan(record: MemberRecord, plan: Plan, rooms: readonly string[]) {
    const again = this.#plan(
      record.rooms.map((name) => {
        const key = roomKey(name);
        return { name, key, room: this.#rooms.get(key) };
      }),
      rooms,
    );
    const planned = new Set(plan.wanted.map((want) => want.key));
    const wanted = new Set(again.wanted.map((want) => want.key));
    return {
      missing: again.wanted.filter((want) => !planned.has(want.key)),
      dropped: new Set([...planned].filter((key) => !wanted.has(key))),
      refusals: again.refusals,
    };
  }

  /** {@linkcode #enter} with `--redis`: the room's topic and recent messages are read from Redis. */
  async #enterClustered(cluster: Cluster, seat: Seat, want: Wanted): Promise<boolean> {
    // Who asked: the seat may be taken back on another node while Redis answers.
    const member = seat.member;
    if (!cluster.up) {
      return this.#refuse(seat.member, "storage_failed", UNREACHABLE, false, want.name);
    }
    const watch = this.#watch([want.key]);
    try {
      let read;
      try {
        read = await Promise.all([
          // A history read like any other: its turn among them (HISTORY_READS_AT_ONCE).
          this.#reads.run(() =>
            this.#readRooms(cluster, [want.key], async (key) => ({
              messages: await cluster.store.recent(key, this.#env.history),
              gap: false,
            }))
          ),
          want.room
            ? Promise.resolve({ name: want.room.name, topic: want.room.topic })
            : cluster.room(want.key, want.name),
        ]);
      } catch (e) {
        this.#log.error("cannot read the history", { error: errorText(e) });
        return this.#refuse(seat.member, "storage_failed", UNREADABLE, false, want.name);
      }
      if (this.#roster.seatOf(member) !== seat) return false;
      const live = this.#rooms.get(want.key);
      if (!live && !seat.rooms.has(want.key) && seat.rooms.size >= MEMBER_ROOMS_MAX) {
        return this.#send(seat.member, this.#tooManyRooms(want.name));
      }
      if (this.#full({ ...want, room: live })) {
        return this.#send(seat.member, this.#roomsFull(want.name));
      }
      const [backlogs, kept] = read;
      const [backlog] = watch.merged(backlogs, cluster.position);
      // A room made here takes the name the service keeps for it.
      const room = live ?? this.#make({ ...want, name: kept.name }, kept.topic);
      if (this.#entered(seat, room, room.named(backlog?.messages ?? []))) {
        this.#tellJoin(cluster, seat, room);
      }
      return true;
    } finally {
      watch.stop();
    }
  }

  /** {@linkcode #say} with `--redis`: kept in Redis, then delivered by every node as the feed brings it. */
  #postClustered(
    cluster: Cluster,
    seat: Seat,
    room: Room,
    text: string,
    kind: MessageKind,
  ): boolean {
    if (!cluster.up) {
      return this.#refuse(seat.member, "storage_failed", UNREACHABLE, false, room.name);
    }
    const draft = room.draft(seat.nick, text, kind, seat);
    // After what it did before reached Redis (a private message, a join,
    // a part, a topic): ids in the order done.
    const ahead = seat.ahead.settled();
    const post = () => cluster.post(room.key, draft);
    // What it did before was refused for want of Redis: so is this, at once.
    const after = () => cluster.up ? post() : Promise.reject(new Error("Redis is unreachable"));
    const stored = (ahead ? ahead.then(after) : post()).then(
      (message) => {
        this.#metrics.received[seat.member.via]++;
        seat.lastPosted = Math.max(seat.lastPosted, message.id);
        // Not brought yet: watched until it is (or is passed over, lost).
        if (message.id > cluster.position) {
          this.#unshown.set(message.id, { seat, room: room.name, text });
        }
      },
      (e) => {
        this.#log.debug("cannot store a message", { error: errorText(e) });
        if (this.#roster.seatOf(seat.member) === seat) {
          // Told seconds later, maybe after other lines: which one it was.
          const which = `${UNREACHABLE} The line: "${saidOf(text)}"`;
          this.#refuse(seat.member, "storage_failed", which, false, room.name);
        }
      },
    );
    seat.posting.add(stored);
    seat.numbering.add(stored);
    return true;
  }

  /** {@linkcode #topic} with `--redis`: kept in Redis, then shown by every node as the feed brings it. */
  #topicClustered(cluster: Cluster, seat: Seat, room: Room, text: string): boolean {
    if (!cluster.up) {
      return this.#refuse(seat.member, "storage_failed", UNREACHABLE, false, room.name);
    }
    const topic = { text, by: seat.nick, ts: this.#now() };
    const ref: RoomRef = { room: room.name, key: room.key, topic };
    const told = cluster.setTopic(room.key, text === "" ? undefined : topic, {
      op: "topic",
      node: cluster.node,
      room: ref,
    });
    seat.ahead.add(told);
    told
      .then(
        () => this.#log.info("topic", { room: room.name, by: seat.nick }),
        () => {
          if (this.#roster.seatOf(seat.member) === seat) {
            this.#refuse(seat.member, "storage_failed", UNREACHABLE, false, room.name);
          }
        },
      );
    return true;
  }

  /** {@linkcode #rename} with `--redis`: the new nickname is claimed in Redis first. */
  async #renameClustered(cluster: Cluster, seat: Seat, nick: string): Promise<boolean> {
    const fold = nickKey(nick);
    const same = fold === seat.key;
    // Who asked: the seat may be taken back (here, or by another node) while Redis answers.
    const member = seat.member;
    if (!same) {
      if (!cluster.up) return this.#refuse(seat.member, "storage_failed", UNREACHABLE_NICK);
      if (this.#claiming.has(fold) || this.#heldElsewhere(fold)) {
        return this.#refuse(seat.member, "nick_taken", `Nickname "${nick}" is taken. Try another.`);
      }
      this.#claiming.add(fold);
      let held = false;
      try {
        held = await cluster.claim(fold);
        // What the feed holds up to now was told of the name before (see #fences).
        if (held) this.#fence(cluster, fold, await cluster.store.lastId());
      } catch (e) {
        if (held) cluster.release(fold);
        const why = e instanceof StoreRestarted ? RESTARTED_NICK : UNREACHABLE_NICK;
        return this.#refuse(seat.member, "storage_failed", why);
      } finally {
        this.#claiming.delete(fold);
      }
      const now = this.#roster.byKey(fold);
      if (!held || this.#roster.seatOf(member) !== seat || (now && !now.member.remote)) {
        if (held) {
          cluster.release(fold);
          this.#fences.delete(fold);
        }
        if (this.#roster.seatOf(member) !== seat) return false;
        return this.#refuse(seat.member, "nick_taken", `Nickname "${nick}" is taken. Try another.`);
      }
      if (now) this.#drop(now, "connection lost");
    }
    const was = seat.key;
    const from = seat.nick;
    this.#renamed(seat, nick);
    this.#tell(
      cluster,
      {
        op: "rename",
        node: cluster.node,
        from,
        to: nick,
        via: seat.member.via,
        rooms: [...seat.rooms.values()].map((room) => this.#ref(room)),
        ...(seat.away === undefined ? {} : { away: seat.away }),
      },
      seat,
      false,
      same ? undefined : was,
    );
    if (!same) cluster.release(was);
    return true;
  }

  /** {@linkcode #history} with `--redis`: read from Redis. */
  async #historyClustered(
    cluster: Cluster,
    seat: Seat,
    room: Room,
    request: HistoryRequest,
  ): Promise<boolean> {
    const count = historyCount(request.count);
    const before = bound(request.before, request.beforeTs);
    const after = bound(request.after, request.afterTs);
    const store = cluster.store;
    // Not waited for while Redis cannot be reached (nor logged: the log says that once).
    if (!cluster.up) {
      return this.#refuse(seat.member, "storage_failed", UNREACHABLE_READ, false, room.name);
    }
    let found: RoomMessage[];
    try {
      found = await this.#reads.run(async () => {
        if (request.around !== undefined) {
          const later = Math.floor(count / 2);
          return [
            ...await store.range(room.key, {
              before: { id: request.around + 1 },
              limit: count - later,
              from: "newest",
            }),
            ...await store.range(room.key, {
              after: { id: request.around },
              limit: later,
              from: "oldest",
            }),
          ];
        } else if (before === undefined && after === undefined) {
          return await store.recent(room.key, count);
        } else {
          const query: RangeQuery = {
            limit: count,
            from: request.from ?? (before ? "newest" : "oldest"),
          };
          if (before) query.before = before;
          if (after) query.after = after;
          return await store.range(room.key, query);
        }
      });
    } catch (e) {
      if (!cluster.up) {
        return this.#refuse(seat.member, "storage_failed", UNREACHABLE_READ, false, room.name);
      }
      this.#log.error("cannot read the history", { error: errorText(e) });
      return this.#refuse(seat.member, "storage_failed", UNREADABLE, false, room.name);
    }
    if (this.#roster.seatOf(seat.member) !== seat) return false;
    this.#chargeSize(seat, found, request.count);
    const event: HistoryEvent = {
      type: "history",
      room: room.name,
      messages: markMentions(room.named(found), seat.nick),
    };
    if (request.label !== undefined) event.label = request.label;
    this.#deliver(seat.member, event);
    return true;
  }

  /**
   * A welcome holds at most REPLAY_MAX messages however many rooms it
   * covers (with a gap where some are left out: the page asks for more).
   */
  #replayLimit(rooms: number): number {
    return Math.max(ROOM_REPLAY_MIN, Math.floor(REPLAY_MAX / Math.max(1, rooms)));
  }

  /** The rooms a join asks for, checked: the seat's own first (a take-back), then those named. */
  #plan(had: readonly Wanted[], rooms: readonly string[]): Plan {
    const refusals: ServerEvent[] = [];
    const wanted = new Map<string, Wanted>();
    for (const want of had) wanted.set(want.key, want);
    let creating = 0;
    for (const name of rooms.slice(0, MEMBER_ROOMS_MAX)) {
      const want = this.#want(name);
      if ("code" in want) {
        refusals.push(this.#error(want.code, want.message, want.room));
      } else if (wanted.has(want.key)) {
        continue;
      } else if (wanted.size >= MEMBER_ROOMS_MAX) {
        refusals.push(this.#tooManyRooms(want.name));
      } else if (this.#full(want, creating)) {
        refusals.push(this.#roomsFull(want.name));
      } else {
        if (!want.room) creating++;
        wanted.set(want.key, want);
      }
    }
    return { wanted: [...wanted.values()], refusals };
  }

  /**
   * Seats a member whose nickname is its own and whose rooms' backlogs are
   * read (`privatesSince`: which of a seat taken back's private messages it
   * replays, see {@linkcode privatesAfter}), sends the welcome and tells each room
   * (`told`, once the seat is made and before its welcome is sent: the other
   * nodes). The seat, and the rooms it entered; undefined if its connection
   * failed at once.
   */
  #seatIn(
    member: Member,
    nick: string,
    ghost: Seat | undefined,
    ready: Room[],
    backlogs: Backlog[],
    refusals: ServerEvent[],
    privatesSince: PrivatesReplay,
    token = this.#newToken(),
    told?: (seat: Seat, entering: Room[]) => void,
  ): { seat: Seat; entering: Room[] } | undefined {
    const history: ChatMessage[] = [];
    let gap = false;
    for (const backlog of backlogs) {
      history.push(...backlog.messages);
      gap ||= backlog.gap;
    }
    if (ghost && privatesSince !== undefined) {
      const privates = privatesSince === "kept"
        ? { messages: ghost.privates.recent(PRIVATE_KEEP), gap: false }
        : ghost.privates.after(privatesSince);
      history.push(...privates.messages);
      gap ||= privates.gap;
    }
    // Each room's messages are in order; across rooms they are put in order.
    if (ready.length > 1 || ghost) history.sort((a, b) => a.id - b.id);
    this.#door.charge(
      member.address,
      Math.ceil(replyBytes(history) / WELCOME_BYTES_PER_JOIN) - 1,
    );

    let seat: Seat;
    if (ghost) {
      // The seat itself moves, so its nickname stays exactly as the others
      // know it, and a join still to be summarized is summarized under it.
      const old = ghost.member;
      this.#roster.takeBack(ghost, member, token);
      for (const room of ghost.rooms.values()) room.changed();
      old.close();
      seat = ghost;
    } else {
      const bucket = new TokenBucket(this.#flood, this.#now);
      seat = new Seat(member, nick, token, bucket);
      this.#roster.add(seat);
    }
    const entering = ready.filter((room) => !room.has(seat));
    for (const room of entering) room.enter(seat);
    // Told before the welcome is sent: a send that fails makes the member
    // leave, and that leave is told after the seat it ends.
    told?.(seat, entering);
    const welcome: WelcomeEvent = {
      type: "welcome",
      nick: seat.nick,
      token: seat.token,
      members: [],
      rooms: ready.map((room, i) => room.state(backlogs[i]?.gap)),
      history: markMentions(history, seat.nick),
    };
    const first = welcome.rooms[0];
    if (first) {
      welcome.room = first.room;
      welcome.members = first.members;
      if (first.topic) welcome.topic = first.topic;
      if (first.memberCount !== undefined) welcome.memberCount = first.memberCount;
    }
    if (gap) welcome.gap = true;
    this.#deliver(member, welcome);
    if (this.#roster.seatOf(member) !== seat) return undefined; // its send failed: already gone
    for (const refused of refusals) this.#deliver(member, refused);
    const fields = { nick: seat.nick, via: member.via, address: member.address };
    this.#log.info(ghost ? "seat taken back" : "join", fields);
    for (const room of entering) room.announce(seat);
    return { seat, entering };
  }

  /**
   * Announces the joins and leaves gathered since the last summary in each
   * room past the presence limit. The server calls it every
   * {@linkcode PRESENCE_EVERY_MS}; a room summarizes by itself before a live
   * leave, and the hub before a rename, so nobody sees them out of order.
   */
  summarize(): void {
    if (this.#closed) return;
    for (const room of this.#rooms.values()) room.summarize();
  }

  /**
   * What `member` said that is still on its way to the store (`--redis`),
   * settling once it is stored or refused; undefined if nothing is. A
   * leave waits for it (a quit, input that ended): everyone sees what a
   * member said before it left, and sees it leave after.
   */
  posting(member: Member): Promise<unknown> | undefined {
    const seat = this.#roster.seatOf(member);
    const cluster = this.#cluster;
    if (!seat || !cluster) return undefined;
    // Stored, then delivered here too (its neighbours see it before the
    // leave): waited for at the leave, not at every line. Once for each
    // line: a feed that lags holds up the first action after it, not every
    // one (each wait ends at `reach`'s bound).
    const delivered = () => {
      const to = seat.lastPosted;
      if (seat.shown.to < to) seat.shown = { to, done: this.#afterFeed(cluster, to) };
      return seat.shown.done;
    };
    // And what it did before reached Redis: a topic is written on another
    // connection than a part, a quit or a join is told on.
    const posting = seat.posting.settled();
    const ahead = seat.ahead.settled();
    if (posting || ahead) return Promise.all([posting, ahead]).then(delivered);
    return seat.lastPosted > cluster.position ? delivered() : undefined;
  }

  /**
   * Removes a member from the hub and every room it is in, and tells them
   * why. Idempotent; does not close it. The reason may hold user text (a
   * quit message), so it is cleaned like one.
   */
  leave(member: Member, because: string): void {
    // A join still waiting on Redis is not carried out.
    if (this.#joining.has(member)) this.#joining.set(member, false);
    const seat = this.#roster.seatOf(member);
    if (!seat) return;
    const cleaned = checkMessage(because);
    let why = cleaned.ok ? cleaned.value : "quit";
    // A quit message is said to everyone, like a message, and costs what one
    // does: past the flood limit the others see only that it was a quit.
    if (why.startsWith("quit:") && !seat.bucket.take()) why = "quit";
    this.#roster.remove(seat);
    // A quit message is the member's own words: the log gets only that it was a quit.
    const logged = why.startsWith("quit:") ? "quit" : why;
    this.#log.info("leave", { nick: seat.nick, via: member.via, reason: logged });
    for (const room of [...seat.rooms.values()]) {
      room.leave(seat, why);
      this.#dropIfEmpty(room);
    }
    const cluster = this.#cluster;
    if (cluster && !member.remote && !this.#departed) {
      this.#tell(
        cluster,
        { op: "bye", node: cluster.node, nick: seat.nick, reason: why },
        seat,
        true,
      );
      cluster.release(seat.key);
    }
  }

  /**
   * Says something to a room (`#lobby` by default) as the server operator.
   * A room nobody is in keeps it in its history. False if the text or the
   * name is refused, or it cannot be stored.
   */
  announce(raw: string, room = LOBBY): boolean {
    const text = checkMessage(raw);
    const target = this.#operated(room);
    if (!text.ok || !target) return false;
    const cluster = this.#cluster;
    if (cluster) {
      if (!cluster.up) return false;
      cluster.post(target.key, target.draft(SERVER_NICK, text.value, "plain")).catch((e) =>
        this.#log.error("cannot store a message", { error: errorText(e) })
      );
      return true;
    }
    try {
      target.post(SERVER_NICK, text.value, "plain");
      return true;
    } catch (e) {
      this.#log.error("cannot store a message", { error: errorText(e) });
      return false;
    }
  }

  /**
   * Sends a member a private message from the server's operator (`server`,
   * marked `operator: true`), wherever it is connected. Private-message
   * rules hold: kept in the member's seat, in memory, for a rejoin to
   * replay, and never stored. The message sent, or why not.
   */
  tell(nick: string, raw: string): Told | Promise<Told> {
    const target = this.#roster.find(nick);
    const nobody = (): Told => ({
      ok: false,
      code: "no_such_nick",
      reason: `Nobody called "${clip(nick, 40)}" is here.`,
    });
    if (!target) return nobody();
    const text = checkMessage(raw);
    if (!text.ok) return text;
    const cluster = this.#cluster;
    if (cluster) {
      // The id is the service's, and shown after every room message below it, as a member's is.
      return cluster.privateId().then(
        async ({ id, after }): Promise<Told> => {
          if (this.#roster.find(target.nick) !== target) return nobody();
          const event = this.#fromOperator(target, id, text.value);
          const { member } = target;
          if (member instanceof RemoteMember) {
            const forwarded = { fold: target.key, event, after };
            const heard = await cluster.forward(member.node, forwarded).catch(() => 0);
            if (heard > 0) return { ok: true, value: event };
            return {
              ok: false,
              code: "storage_failed",
              reason: `Not delivered: ${target.nick}'s server cannot be reached right now.`,
            };
          }
          let told: Told = nobody();
          await this.#whenFed(cluster, after, () => {
            if (this.#roster.find(target.nick) === target) told = this.#toldBy(target, event);
          });
          return told;
        },
        (e): Told => {
          this.#log.error("cannot reserve a message id", { error: errorText(e) });
          return { ok: false, code: "storage_failed", reason: UNREACHABLE };
        },
      );
    }
    let id;
    try {
      id = this.#store.nextId();
    } catch (e) {
      this.#log.error("cannot reserve a message id", { error: errorText(e) });
      return { ok: false, code: "storage_failed", reason: NOT_STORED };
    }
    return this.#toldBy(target, this.#fromOperator(target, id, text.value));
  }

  /** The operator's private message to `target` under `id`. */
  #fromOperator(target: Seat, id: number, text: string): ChatMessage {
    return {
      type: "message",
      id,
      ts: this.#now(),
      from: SERVER_NICK,
      to: target.nick,
      text,
      operator: true,
    };
  }

  /** Sends the operator's private message to a member of this node. */
  #toldBy(target: Seat, event: ChatMessage): Told {
    target.privates.push(event);
    this.#deliver(target.member, event);
    return { ok: true, value: event };
  }

  /**
   * Sets a room's topic as the server operator (a blank text clears it); a
   * room nobody is in keeps it for when someone comes. False if the text or
   * the name is refused, or it cannot be stored.
   */
  setTopic(room: string, raw: string): boolean {
    const text = this.#topicText(raw);
    const target = this.#operated(room);
    if (!text.ok || !target) return false;
    const cluster = this.#cluster;
    if (cluster) {
      if (!cluster.up) return false;
      const topic = { text: text.value, by: SERVER_NICK, ts: this.#now() };
      const ref: RoomRef = { room: target.name, key: target.key, topic };
      cluster.setTopic(target.key, text.value === "" ? undefined : topic, {
        op: "topic",
        node: cluster.node,
        room: ref,
      }).catch((e) => this.#log.error("cannot store a topic", { error: errorText(e) }));
      return true;
    }
    try {
      target.setTopic(text.value, SERVER_NICK);
      return true;
    } catch (e) {
      this.#log.error("cannot store a topic", { error: errorText(e) });
      return false;
    }
  }

  /**
   * The room the operator acts in: the live one, or, for a room nobody is
   * in, one made for the moment and not kept live (what is done there
   * reaches its history only). Undefined for a refused name, or a store
   * that cannot be read.
   */
  #operated(name: string): Room | undefined {
    const want = this.#want(name);
    if ("code" in want) return undefined;
    try {
      return want.room ?? new Room(this.#env, want.name, want.key, this.#store.topic(want.key));
    } catch (e) {
      this.#log.error("cannot read the history", { error: errorText(e) });
      return undefined;
    }
  }

  /** Tells a member why, closes its connection and tells every room it was in. */
  kick(nick: string, reason = ""): boolean {
    const seat = this.#roster.find(nick);
    if (!seat) return false;
    if (seat.member instanceof RemoteMember) {
      // Its node closes it (and keeps it out); this node keeps its nickname out too.
      const { node } = seat.member;
      this.#door.ban(seat.key, undefined);
      this.#cluster?.forward(node, { fold: seat.key, kick: reason }).catch((e) =>
        this.#log.warn("cannot pass a kick to another node", { node, error: errorText(e) })
      );
      return true;
    }
    const why = reason ? `kicked by the server: ${reason}` : "kicked by the server";
    this.#metrics.disconnected("kicked");
    this.#tellBan(this.#door.ban(seat.key, seat.member.address));
    // Fatal, so the page does not reconnect into the room it was kicked from.
    this.#dismiss(seat, this.#error("kicked", `You were ${why}.`, undefined, true), why);
    return true;
  }

  /** Keeps an address from joining for `--kick-ban` (the console's `/kick ADDRESS`). */
  ban(address: string): void {
    this.#tellBan(this.#door.ban(undefined, address));
  }

  /**
   * Tells the other nodes a ban, and keeps it for those that start later, so
   * that a kicked member cannot come back through another node. Failing
   * that (Redis lost), it holds on this node only.
   */
  #tellBan(ban: Ban | undefined): void {
    const cluster = this.#cluster;
    if (!cluster || !ban) return;
    cluster.ban(ban).catch((e) =>
      this.#log.warn("cannot tell the other nodes of a ban", { error: errorText(e) })
    );
  }

  /** Tells everyone, closes every member and refuses new ones. */
  close(text: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retellTimer);
    // Joins waiting for the start are refused (shutting down), not kept waiting.
    this.#attached.resolve();
    this.#pauses.end();
    const notice = this.#notice(text);
    for (const seat of this.#roster) this.#dismiss(seat, notice);
    for (const room of this.#rooms.values()) room.clearPresence();
    this.#rooms.clear();
    this.#observe(notice);
  }

  /** The room a frame acts in (`#lobby` without `room`), if the member is in it; else it is told why. */
  #inRoom(seat: Seat, name = LOBBY): Room | undefined {
    // Most frames name the room as it is called (or name none): no folding.
    const named = this.#named(seat, name);
    if (named) return named;
    const checked = checkRoom(name);
    if (!checked.ok) {
      this.#refuse(seat.member, checked.code, checked.reason, false, quoted(name));
      return undefined;
    }
    const room = seat.rooms.get(roomKey(checked.value));
    if (room) return room;
    this.#refuse(
      seat.member,
      "not_in_room",
      `You are not in ${checked.value}; /join ${checked.value} first.`,
      false,
      checked.value,
    );
    return undefined;
  }

  /**
   * The seat's room called exactly `name`, if any: a lookup with no folding,
   * for the frames of every message (at most {@linkcode MEMBER_ROOMS_MAX}
   * names compared). A name typed another way is folded by the caller.
   */
  #named(seat: Seat, name: string): Room | undefined {
    if (name === LOBBY) return seat.rooms.get(LOBBY_KEY);
    for (const room of seat.rooms.values()) if (room.name === name) return room;
    return undefined;
  }

  /** A room name checked: the live room, or what to make it under; or why not. */
  #want(name: string): Wanted | { code: ErrorCode; message: string; room: string } {
    const checked = checkRoom(name);
    if (!checked.ok) return { code: checked.code, message: checked.reason, room: quoted(name) };
    const key = roomKey(checked.value);
    // The lobby is always called so: whoever makes it again after it emptied
    // does not rename it for everyone (`#LOBBY`, `#1obby`), nor its history.
    const shown = key === LOBBY_KEY ? LOBBY : checked.value;
    return { name: shown, key, room: this.#rooms.get(key) };
  }

  /**
   * True if a room cannot be made: it is not live, and `maxRooms` are (with
   * the `creating` about to be made). `#lobby` can always be made.
   */
  #full(want: Wanted, creating = 0): boolean {
    return !want.room && want.key !== LOBBY_KEY &&
      this.#rooms.size + creating >= this.#maxRooms;
  }

  /** Makes a room live; its topic is read from the store (a failed read throws). */
  #make(want: Wanted, topic: Topic | undefined = this.#store.topic(want.key)): Room {
    const room = new Room(this.#env, want.name, want.key, topic);
    this.#rooms.set(want.key, room);
    return room;
  }

  /** Drops a room nobody is in from the live rooms; its history and topic stay in the store. */
  #dropIfEmpty(room: Room): void {
    if (room.size === 0 && this.#rooms.get(room.key) === room) this.#rooms.delete(room.key);
  }

  /** Enters a room (making it), and sends its state; entering one already in sends it again. */
  #enter(seat: Seat, name: string): boolean | Promise<boolean> {
    const want = this.#want(name);
    if ("code" in want) return this.#refuse(seat.member, want.code, want.message, false, want.room);
    const already = seat.rooms.get(want.key);
    if (!already && seat.rooms.size >= MEMBER_ROOMS_MAX) {
      return this.#send(seat.member, this.#tooManyRooms(want.name));
    }
    if (this.#full(want)) {
      return this.#send(seat.member, this.#roomsFull(want.name));
    }
    if (this.#cluster) return this.#enterClustered(this.#cluster, seat, want);
    let room: Room | undefined;
    let history: ChatMessage[];
    try {
      room = want.room ?? this.#make(want);
      history = room.recent(this.#env.history);
    } catch (e) {
      if (room) this.#dropIfEmpty(room);
      this.#log.error("cannot read the history", { error: errorText(e) });
      return this.#refuse(seat.member, "storage_failed", UNREADABLE, false, want.name);
    }
    this.#entered(seat, room, history);
    return true;
  }

  /** Seats a member in a room whose recent messages are read, sends it the room, and tells the others. */
  #entered(seat: Seat, room: Room, history: ChatMessage[]): boolean {
    // Its room's last messages, as a `history` reply is charged: a part and
    // join again (or an `enter` of a room it is in) would get them cheaper.
    this.#chargeSize(seat, history, this.#env.history);
    const already = room.has(seat);
    if (!already) room.enter(seat);
    this.#deliver(seat.member, {
      type: "entered",
      ...room.state(),
      history: markMentions(history, seat.nick),
    });
    if (already || !room.has(seat)) return false;
    room.announce(seat);
    return true;
  }

  /** Leaves a room, telling the member (`parted`) and the others. */
  #part(seat: Seat, room: Room, raw = ""): boolean {
    const said = checkMessage(raw);
    const why = said.ok ? `part: ${said.value}` : "part";
    room.leave(seat, why);
    this.#dropIfEmpty(room);
    this.#deliver(seat.member, { type: "parted", room: room.name, reason: why });
    const cluster = this.#cluster;
    if (cluster) {
      this.#tell(cluster, {
        op: "leave",
        node: cluster.node,
        nick: seat.nick,
        key: room.key,
        reason: why,
      }, seat);
    }
    return true;
  }

  /** The live rooms (or those of `names`), the biggest first, at most {@linkcode ROOMS_LISTED}. */
  #list(names?: readonly string[]): ServerEvent {
    // Those named, found by name: a quiet one is listed though 200 are bigger.
    const live = names === undefined
      ? [...this.#rooms.values()]
      : [...new Set(names.flatMap((name) => this.room(name) ?? []))];
    const rooms = live
      .sort((a, b) => b.size - a.size || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, ROOMS_LISTED)
      .map((room) => {
        const summary: RoomSummary = { room: room.name, members: room.size };
        if (room.topic) summary.topic = room.topic.text;
        return summary;
      });
    return { type: "rooms", rooms, total: this.#rooms.size };
  }

  /** Answers with a room's topic, or (with `raw`) sets it for everyone in the room. */
  #topic(
    seat: Seat,
    name: string | undefined,
    raw: string | undefined,
  ): boolean | Promise<boolean> {
    const room = this.#inRoom(seat, name);
    if (room === undefined) return false;
    if (raw === undefined) return this.#send(seat.member, room.topicEvent());
    const text = this.#topicText(raw);
    if (!text.ok) return this.#refuse(seat.member, text.code, text.reason, false, room.name);
    if (this.#cluster) return this.#topicClustered(this.#cluster, seat, room, text.value);
    try {
      room.setTopic(text.value, seat.nick);
    } catch (e) {
      this.#log.error("cannot store a topic", { error: errorText(e) });
      return this.#refuse(seat.member, "storage_failed", NOT_STORED, false, room.name);
    }
    this.#log.info("topic", { room: room.name, by: seat.nick });
    return true;
  }

  /**
   * A topic cleaned like a message, at most {@linkcode TOPIC_MAX}; blank
   * clears it. Past eight times that, refused before any cleaning, as a
   * message is past its own bound: whatever cleaning would leave, the
   * refusal is the topic's, not a message's.
   */
  #topicText(raw: string) {
    if (raw.trim() === "") return { ok: true as const, value: "" };
    const tooLong = {
      ok: false as const,
      code: "text_too_long" as const,
      reason: `Topic is too long (at most ${TOPIC_MAX} characters).`,
    };
    if (raw.length > TOPIC_MAX * 8) return tooLong;
    const text = checkMessage(raw);
    return text.ok && [...text.value].length > TOPIC_MAX ? tooLong : text;
  }

  /** Says a message (or an action, or a notice) to a room, the sender included. */
  #say(seat: Seat, room: Room, raw: string, kind: MessageKind): boolean {
    const text = checkMessage(raw);
    if (!text.ok) return this.#refuse(seat.member, text.code, text.reason, false, room.name);
    if (this.#cluster) return this.#postClustered(this.#cluster, seat, room, text.value, kind);
    try {
      room.post(seat.nick, text.value, kind, seat);
    } catch (e) {
      // Not stored means not sent: nobody sees a message that could vanish.
      this.#log.error("cannot store a message", { error: errorText(e) });
      return this.#refuse(seat.member, "storage_failed", NOT_STORED, false, room.name);
    }
    this.#metrics.received[seat.member.via]++;
    return true;
  }

  /**
   * Passes a CTCP request or reply (not ACTION: that is `me`) to a member or
   * to a room, to IRC clients only: the others have nothing that answers
   * one. Kept nowhere. To a member who is not on IRC it goes nowhere, as a
   * request an IRC client does not answer.
   */
  #ctcp(seat: Seat, to: string, raw: string, reply: boolean): boolean {
    const text = checkMessage(raw);
    if (!text.ok) return this.#refuse(seat.member, text.code, text.reason);
    const event: ServerEvent = { type: "ctcp", from: seat.nick, text: text.value };
    if (reply) event.reply = true;
    if (to.startsWith("#")) {
      const room = this.#inRoom(seat, to);
      if (room === undefined) return false;
      const cluster = this.#cluster;
      if (cluster && !cluster.up) {
        return this.#refuse(seat.member, "storage_failed", UNREACHABLE, false, room.name);
      }
      event.room = room.name;
      // Each other node once, for all its IRC members here: not once a member.
      const nodes = new Set<string>();
      for (const other of room) {
        if (other === seat || other.member.via !== "irc") continue;
        if (other.member instanceof RemoteMember) nodes.add(other.member.node);
        else this.#deliver(other.member, event);
      }
      for (const node of nodes) {
        cluster?.forward(node, { room: room.key, event }).catch(() => 0);
      }
      return true;
    }
    const target = this.#roster.find(to);
    if (!target) {
      return this.#refuse(seat.member, "no_such_nick", `Nobody called "${clip(to, 40)}" is here.`);
    }
    event.to = target.nick;
    if (target.member.via === "irc") this.#deliver(target.member, event);
    return true;
  }

  /** Sends a private message (or action, or notice): only the recipient and the sender see it. */
  #whisper(
    seat: Seat,
    to: string,
    raw: string,
    kind: MessageKind,
  ): boolean | Promise<boolean> {
    const target = this.#roster.find(to);
    if (!target) {
      if (this.#cluster) return this.#whisperAhead(this.#cluster, seat, to, raw, kind);
      return this.#refuse(seat.member, "no_such_nick", `Nobody called "${clip(to, 40)}" is here.`);
    }
    const text = checkMessage(raw);
    if (!text.ok) return this.#refuse(seat.member, text.code, text.reason);
    if (target.member.parting && target !== seat) {
      // Kept for a reload that may not come: not taken, rather than lost.
      return this.#refuse(
        seat.member,
        "no_such_nick",
        `Not delivered: ${target.nick} closed the page a moment ago; try again in a moment.`,
      );
    }
    if (this.#cluster) {
      // Its id is the service's: the message goes out once Redis gave one.
      const cluster = this.#cluster;
      if (!cluster.up) return this.#refuse(seat.member, "storage_failed", UNREACHABLE);
      return this.#withPrivateId(cluster, seat, (id, after) => {
        // Sent even if the sender left meanwhile; not to a recipient gone.
        if (this.#roster.find(target.nick) !== target) return;
        const { member } = target;
        if (!(member instanceof RemoteMember)) {
          const shown = this.#whenFed(cluster, after, () => {
            this.#whispered(seat, target, id, text.value, kind);
          });
          return { shown };
        }
        const event = this.#private(seat, target.nick, id, text.value, kind);
        return this.#forwardPrivate(cluster, seat, member.node, target.key, event, after);
      });
    }
    let id;
    try {
      id = this.#store.nextId();
    } catch {
      return this.#refuse(seat.member, "storage_failed", NOT_STORED);
    }
    this.#whispered(seat, target, id, text.value, kind);
    return true;
  }

  /** Delivers a private message under its id to both parties, and keeps it in their seats. */
  #whispered(seat: Seat, target: Seat, id: number, text: string, kind: MessageKind): void {
    const event = this.#private(seat, target.nick, id, text, kind);
    for (const party of target === seat ? [seat] : [target, seat]) {
      // Gone meanwhile (`--redis`: it waited for the feed).
      if (this.#roster.seatOf(party.member) !== party) continue;
      const shown = party === seat ? ownCopy(event) : event;
      party.privates.push(shown);
      this.#deliver(party.member, shown);
    }
  }

  /**
   * Sends a private message to a member of node `node`: the sender sees it
   * once that node has it, else it is refused, not lost.
   */
  #forwardPrivate(
    cluster: Cluster,
    seat: Seat,
    node: string,
    fold: string,
    event: ChatMessage,
    after: number,
  ): Sent {
    const heard = cluster.forward(node, { fold, event, after }).catch(() => 0);
    const shown = heard.then(async (heard) => {
      if (heard === 0) {
        if (this.#roster.seatOf(seat.member) !== seat) return;
        this.#refuse(
          seat.member,
          "storage_failed",
          `Not delivered: ${event.to}'s server cannot be reached right now; try again in a moment.`,
        );
        return;
      }
      await this.#whenFed(cluster, after, () => {
        if (this.#roster.seatOf(seat.member) !== seat) return;
        const shown = ownCopy(event);
        seat.privates.push(shown);
        this.#deliver(seat.member, shown);
      });
    });
    return { handedOn: heard, shown };
  }

  /**
   * A private message to a nickname this node has not heard of (yet): one
   * who joined another node a moment ago is held in Redis before the feed
   * brings its join here, and a client that saw its welcome may write to
   * it at once. Sent to the node Redis says holds the name, if any.
   */
  async #whisperAhead(
    cluster: Cluster,
    seat: Seat,
    to: string,
    raw: string,
    kind: MessageKind,
  ): Promise<boolean> {
    const nobody = () =>
      this.#refuse(seat.member, "no_such_nick", `Nobody called "${clip(to, 40)}" is here.`);
    const nick = checkNick(to);
    if (!nick.ok || !cluster.up) return nobody();
    const text = checkMessage(raw);
    if (!text.ok) return this.#refuse(seat.member, text.code, text.reason);
    const fold = nickKey(nick.value);
    let node;
    try {
      node = await cluster.holder(fold);
    } catch {
      return nobody();
    }
    if (this.#roster.seatOf(seat.member) !== seat) return false;
    // Heard of meanwhile: as any other.
    if (this.#roster.byKey(fold)) return this.#whisper(seat, to, raw, kind);
    if (node === undefined || node === cluster.node) return nobody();
    return this.#withPrivateId(cluster, seat, (id, after) => {
      const event = this.#private(seat, nick.value, id, text.value, kind);
      return this.#forwardPrivate(cluster, seat, node, fold, event, after);
    });
  }

  /**
   * Takes a private message's id from Redis (`Cluster.privateId`), then
   * `send`s it; the sender is told if Redis gave none. What it sends is
   * part of what the sender said still on its way: a quit waits for it.
   *
   * Its id is taken once what the sender said before it has one, and a
   * room line said after it goes to Redis once it is handed on (published
   * to the recipient's node): ids in the order said, and whoever gets both
   * is shown them so (a room line waits for its append batch; a private id
   * would be taken at once). Not once each was delivered: a feed running
   * late would hold each private message up for the one before it.
   */
  #withPrivateId(
    cluster: Cluster,
    seat: Seat,
    send: (id: number, after: number) => Sent | void,
  ): true {
    const before = seat.numbering.settled() ?? Promise.resolve();
    const taken = before.then(() => cluster.privateId());
    const numbered = taken.then(() => {}, () => {});
    seat.numbering.add(numbered);
    const sent = taken.then(
      ({ id, after }) => send(id, after),
      () => {
        if (this.#roster.seatOf(seat.member) !== seat) return;
        this.#refuse(seat.member, "storage_failed", UNREACHABLE);
      },
    );
    seat.ahead.add(sent.then((s) => s?.handedOn));
    seat.posting.add(sent.then((s) => s?.shown));
    return true;
  }

  /** A private message from `seat` to nickname `to` (counted as received). */
  #private(seat: Seat, to: string, id: number, text: string, kind: MessageKind): ChatMessage {
    const event: ChatMessage = {
      type: "message",
      id,
      ts: this.#now(),
      from: seat.nick,
      to,
      text,
    };
    if (kind === "notice") event.notice = true;
    if (kind === "action") event.action = true;
    this.#metrics.received[seat.member.via]++;
    return event;
  }

  /**
   * Changes a member's nickname and tells, once each, everyone who shares a
   * room with it (and the member itself).
   */
  #rename(seat: Seat, requested: string): boolean | Promise<boolean> {
    const claimed = this.#roster.claim(requested, seat.member);
    if (!claimed.ok) return this.#refuse(seat.member, claimed.code, claimed.reason);
    const nick = claimed.value;
    if (nick === seat.nick) return true;
    const { address } = seat.member;
    const paced = this.#door.rename(address);
    if (paced) return this.#refuse(seat.member, paced.code, paced.message);
    if (this.#cluster) {
      // Given back if not had: one another node's member holds costs nothing.
      return this.#renameClustered(this.#cluster, seat, nick).then((renamed) => {
        if (!renamed) this.#door.notRenamed(address);
        return renamed;
      });
    }
    this.#renamed(seat, nick);
    return true;
  }

  /** Gives a seat the nickname it may have, and tells everyone who shares a room with it, once each. */
  #renamed(seat: Seat, nick: string): void {
    const from = seat.nick;
    // A leave still owed under either name must come first.
    for (const room of seat.rooms.values()) room.summarize();
    this.#roster.rename(seat, nick);
    this.#log.info("rename", { from, to: nick });
    const event: ServerEvent = { type: "rename", ts: this.#now(), from, to: nick };
    const told = new Set<Seat>([seat]);
    this.#deliver(seat.member, event);
    for (const room of seat.rooms.values()) {
      room.changed();
      for (const other of room) {
        if (told.has(other)) continue;
        told.add(other);
        this.#deliver(other.member, event);
      }
    }
    this.#observe(event);
  }

  /**
   * Answers a `history` request: the last `count` messages of a room, or
   * the `count` between its bounds closest to `before` (to `after` when
   * only that is given).
   */
  #history(seat: Seat, room: Room, request: HistoryRequest): boolean | Promise<boolean> {
    const count = historyCount(request.count);
    const before = bound(request.before, request.beforeTs);
    const after = bound(request.after, request.afterTs);
    if (this.#cluster) return this.#historyClustered(this.#cluster, seat, room, request);
    let messages;
    try {
      if (request.around !== undefined) {
        // Up to it (itself included), and half as many after it.
        const later = Math.floor(count / 2);
        messages = [
          ...room.range({
            before: { id: request.around + 1 },
            limit: count - later,
            from: "newest",
          }),
          ...room.range({ after: { id: request.around }, limit: later, from: "oldest" }),
        ];
      } else if (before === undefined && after === undefined) {
        messages = room.recent(count);
      } else {
        const from = request.from ?? (before ? "newest" : "oldest");
        const query: RangeQuery = { limit: count, from };
        if (before) query.before = before;
        if (after) query.after = after;
        messages = room.range(query);
      }
    } catch (e) {
      this.#log.error("cannot read the history", { error: errorText(e) });
      return this.#refuse(seat.member, "storage_failed", UNREADABLE, false, room.name);
    }
    this.#chargeSize(seat, messages, request.count);
    const event: HistoryEvent = {
      type: "history",
      room: room.name,
      messages: markMentions(messages, seat.nick),
    };
    if (request.label !== undefined) event.label = request.label;
    this.#deliver(seat.member, event);
    return true;
  }

  /**
   * Charges a `history` reply by its size, beyond what its count paid
   * ({@linkcode #cost}): from the connect credit first, then the flood
   * bucket, into debt that later requests wait out. A hundred messages of
   * 2,000 emoji each are 800 KB, and over IRC, cut into lines, about ten
   * times the work of the same over WebSocket; paid for as a hundred
   * short lines (one token), a few dozen members' requests took both nodes'
   * cores and held everyone's lines for a third of a second. A reply
   * shorter than its count (a room with fewer lines) gives back what the
   * count paid past its size: a token at least stays spent.
   */
  #chargeSize(seat: Seat, messages: readonly ChatMessage[], count: number | undefined): void {
    const paid = Math.ceil(historyCount(count) / HISTORY_PER_TOKEN);
    const fair = Math.max(
      1,
      Math.ceil(messages.length / HISTORY_PER_TOKEN),
      Math.ceil(replyBytes(messages) / HISTORY_BYTES_PER_TOKEN),
    );
    // `/history 1000` of a room with ten lines costs what ten lines cost.
    if (fair < paid) return seat.bucket.refund(paid - fair);
    const due = fair - paid;
    if (due <= 0) return;
    const credit = Math.min(seat.credit, due);
    seat.credit -= credit;
    if (due > credit) seat.bucket.spend(due - credit);
  }

  /**
   * Answers a `search`: the newest messages of the member's rooms whose
   * text holds `raw`, folded as nicknames are, newest first. The text is
   * bounded before it is folded; each message found is named by its room
   * as the member knows it.
   */
  #search(seat: Seat, raw: string, label: string | undefined): boolean | Promise<boolean> {
    const refuse = (code: ErrorCode, message: string) =>
      this.#refuse(seat.member, code, message, false, undefined, label);
    const text = raw.trim();
    if (text.length > SEARCH_TEXT_MAX) {
      return refuse(
        "text_too_long",
        `Search text is too long (at most ${SEARCH_TEXT_MAX} characters).`,
      );
    }
    // Bounded as typed, and again as compared: a fold can make one
    // character many (U+FDFA is 18), and every row read is compared with
    // the whole of it (cut, it would find lines that do not hold the text).
    const folded = foldText(text);
    if (folded.length > SEARCH_TEXT_MAX * 2) {
      return refuse(
        "text_too_long",
        `Search text is too long (at most ${SEARCH_TEXT_MAX} characters, and fewer of those that stand for several).`,
      );
    }
    if (folded.trim() === "") {
      return refuse("text_empty", "Nothing to search for.");
    }
    if (!this.#searching.take(1)) {
      const wait = Math.max(1, Math.ceil(this.#searching.wait(1) / 1000));
      return refuse(
        "rate_limited",
        `The server is busy with other searches; try again in ${wait} s.`,
      );
    }
    const rooms = [...seat.rooms.values()];
    if (this.#cluster) {
      return this.#searchClustered(this.#cluster, seat, rooms, text, folded, label);
    }
    if (this.#searchers.has(seat)) return refuse("rate_limited", SEARCHING);
    if (this.#searchers.size >= LOCAL_SEARCHES_AT_ONCE) {
      return refuse("rate_limited", "The server is busy with other searches; try again in 1 s.");
    }
    this.#searchers.add(seat);
    // Answered before what the member sends next (a `/quit` piped after it
    // still gets the answer first), as every request is.
    return this.#searchRooms(seat, rooms, folded).then(
      (found) => {
        if (!found || this.#roster.seatOf(seat.member) !== seat) return false;
        this.#found(seat, found, text, label);
        return true;
      },
      (e) => {
        this.#log.error("cannot search the history", { error: errorText(e) });
        return refuse("storage_failed", UNREADABLE);
      },
    ).finally(() => this.#searchers.delete(seat));
  }

  /**
   * A search of this node's store, room by room, in turns among every
   * search's reads (one at a time, each after a turn of the event loop and
   * once the search budget allows), a turn reading for at most
   * {@linkcode SEARCH_TURN_MS} ({@linkcode SEARCH_STEP_ROWS} rows at a
   * time, where the store can step): a store's read holds up the process,
   * and a room of the longest lines took 60 to 190 ms to read through (an
   * attacker's 20 rooms: one search held it 1 s, bystanders p99 953 ms);
   * twenty searches at once ran their rooms back to back. Undefined if the
   * member left or the hub closed.
   */
  async #searchRooms(
    seat: Seat,
    rooms: readonly Room[],
    folded: string,
  ): Promise<RoomMessage[] | undefined> {
    const store = this.#store;
    const found: RoomMessage[][] = [];
    for (const room of rooms) {
      const matches: RoomMessage[] = [];
      let below: number | undefined;
      let done = false;
      while (!done) {
        const read = await this.#searchTurns.run(async () => {
          await this.#pauses.wait(Math.max(0, this.#searching.wait(1)));
          if (this.#closed || this.#roster.seatOf(seat.member) !== seat) return false;
          if (!seat.rooms.has(room.key)) {
            // Left meanwhile: not searched (its lines since are not the member's to see).
            matches.length = 0;
            done = true;
            return true;
          }
          const start = this.#now();
          const end = performance.now() + SEARCH_TURN_MS;
          do {
            if (!store.searchStep) {
              matches.push(...store.search([room.key], folded, SEARCH_RESULTS));
              done = true;
              break;
            }
            const left = SEARCH_RESULTS - matches.length;
            const step = store.searchStep(room.key, folded, left, below, SEARCH_STEP_ROWS);
            matches.push(...step.messages);
            below = step.before;
            done = below === undefined || matches.length >= SEARCH_RESULTS;
          } while (!done && performance.now() < end);
          this.#searching.spend(this.#now() - start);
          return true;
        });
        if (!read) return undefined;
      }
      found.push(matches);
    }
    return newestOf(found, SEARCH_RESULTS);
  }

  /** Sends a member what its search found, each message named by its room as the member knows it. */
  #found(seat: Seat, found: RoomMessage[], text: string, label: string | undefined): void {
    const messages = found.map((m) => ({
      ...m,
      room: seat.rooms.get(roomKey(m.room))?.name ?? m.room,
    }));
    const event: SearchEvent = { type: "search", text: toOneLine(text), messages };
    if (label !== undefined) event.label = label;
    this.#deliver(seat.member, event);
  }

  /** {@linkcode #search} with `--redis`: Redis searches, and its time is the budget's. */
  async #searchClustered(
    cluster: Cluster,
    seat: Seat,
    rooms: Room[],
    text: string,
    folded: string,
    label: string | undefined,
  ): Promise<boolean> {
    const refuse = (code: ErrorCode, message: string) =>
      this.#refuse(seat.member, code, message, false, undefined, label);
    if (!cluster.up) return refuse("storage_failed", UNREACHABLE_READ);
    // Redis runs a search's scripts while everyone else waits: a few at
    // once from this node, one of them the member's.
    if (this.#searchers.has(seat) || this.#searchers.size >= SEARCHES_AT_ONCE) {
      return refuse(
        "rate_limited",
        this.#searchers.has(seat)
          ? SEARCHING
          : "The server is busy with other searches; try again in 1 s.",
      );
    }
    this.#searchers.add(seat);
    let found;
    const start = this.#now();
    try {
      found = await cluster.store.search(rooms.map((room) => room.key), folded, SEARCH_RESULTS);
    } catch (e) {
      if (!cluster.up) return refuse("storage_failed", UNREACHABLE_READ);
      this.#log.error("cannot search the history", { error: errorText(e) });
      return refuse("storage_failed", UNREADABLE);
    } finally {
      this.#searchers.delete(seat);
      this.#searching.spend(this.#now() - start);
    }
    if (this.#roster.seatOf(seat.member) !== seat) return false;
    this.#found(seat, found, text, label);
    return true;
  }

  /**
   * Flood control: true if the member may act now. Otherwise it is told to
   * slow down, and after {@linkcode FLOOD_STRIKES} refusals in a row it is
   * disconnected.
   */
  #allow(seat: Seat, cost = 1, asking = false, message?: ClientMessage): boolean {
    if (asking && seat.credit >= cost) {
      seat.credit -= cost;
      return true;
    }
    if (seat.bucket.take(cost)) {
      seat.strikes = 0;
      return true;
    }
    if (++seat.strikes >= FLOOD_STRIKES) {
      this.#metrics.disconnected("flooding");
      this.#log.warn("disconnected for flooding", { nick: seat.nick, via: seat.member.via });
      this.#dismiss(seat, this.#notice("Disconnected for flooding."), "flooding");
      return false;
    }
    const wait = Math.max(1, Math.ceil(seat.bucket.wait(cost) / 1000));
    // A labeled request (a page's search or history) is told as such.
    const label = message && "label" in message ? message.label : undefined;
    // Which line, of a paste refused in part: its start, as typed.
    const said = message?.type === "say" || message?.type === "me" || message?.type === "msg"
      ? `: "${saidOf(message.text)}"`
      : "";
    return this.#refuse(
      seat.member,
      "rate_limited",
      message?.type === "search"
        ? `You are searching too fast; try again in ${wait} s.`
        : `You are sending too fast. Slow down (next in ${wait} s); that line was not sent${said}.`,
      false,
      undefined,
      label,
    );
  }

  /**
   * What a request costs from the flood bucket: one token, and a long reply
   * more, by its size. A `history` of 1,000 messages (up to 6 MB) costs 10,
   * the whole default burst, so pipelined requests cannot have the server
   * build reply after reply for one member; `who` costs one per thousand
   * members, `rooms` one per 500 live rooms. A cost above the burst is
   * charged as the burst. Entering and leaving rooms cost a token each, so
   * a loop of them is flooding like any other.
   */
  #cost(message: ClientMessage, seat: Seat): number {
    switch (message.type) {
      case "history":
        return Math.ceil(historyCount(message.count) / HISTORY_PER_TOKEN);
      case "who": {
        const room = message.room ?? LOBBY;
        const size = (this.#named(seat, room) ?? seat.rooms.get(roomKey(room)))?.size ?? 0;
        return Math.max(1, Math.ceil(size / WHO_PER_TOKEN));
      }
      case "rooms":
        // Those named are found by name: one token, as few as they are.
        if (message.names !== undefined) return 1;
        return Math.max(1, Math.ceil(this.#rooms.size / ROOMS_PER_TOKEN));
      case "search":
        return SEARCH_COST;
      default:
        return 1;
    }
  }

  /**
   * Sends a member a notice, takes its seat and closes its connection: a
   * kick, a flood, the server closing. With `why`, every room it was in is
   * told it left; without, it goes quietly (the hub is closing on everyone).
   */
  #dismiss(seat: Seat, notice: ServerEvent, why?: string): void {
    this.#deliver(seat.member, notice);
    if (why !== undefined) {
      this.leave(seat.member, why);
    } else {
      this.#roster.remove(seat);
      for (const room of [...seat.rooms.values()]) room.leave(seat, "", true);
    }
    seat.member.close();
  }

  #notice(text: string): ServerEvent {
    return { type: "notice", ts: this.#now(), text };
  }

  #tooManyRooms(room: string): ServerEvent {
    return this.#error(
      "too_many_rooms",
      `You are in ${MEMBER_ROOMS_MAX} rooms, the most at once: /part one first.`,
      room,
    );
  }

  #roomsFull(room: string): ServerEvent {
    return this.#error(
      "rooms_full",
      `Cannot make ${room}: the server has ${this.#maxRooms} rooms, its most; join one of them.`,
      room,
    );
  }

  #error(code: ErrorCode, message: string, room?: string, fatal = false): ServerEvent {
    this.#metrics.refused(code);
    const event: ServerEvent = { type: "error", code, message };
    if (room !== undefined) event.room = room;
    if (fatal) event.fatal = true;
    return event;
  }

  #observe(event: ServerEvent): void {
    for (const observer of this.#observers) observer(event);
  }

  #deliver(member: Member, event: ServerEvent): void {
    // A member of another node: forwarded, or its node's to deliver.
    if (member.remote) return member.send(event);
    this.#metrics.sent(member.via, event);
    try {
      member.send(event);
    } catch {
      this.#lost(member);
    }
  }

  /**
   * {@linkcode RoomEnv.deliverAll}: a room's event to its seats, counted per
   * way of connecting once per event rather than once per member.
   */
  #deliverAll(
    seats: Iterable<Seat>,
    event: ServerEvent,
    except: Member | undefined,
    named: ReadonlySet<Seat> | undefined,
    marked: ServerEvent | undefined,
  ): void {
    let web = 0, terminal = 0, irc = 0;
    for (const seat of seats) {
      const member = seat.member;
      // A member of another node: its node delivers a room's events.
      if (member === except || member.remote) continue;
      const via = member.via;
      if (via === "web") web++;
      else if (via === "terminal") terminal++;
      else irc++;
      try {
        member.send(named !== undefined && named.has(seat) ? marked ?? event : event);
      } catch {
        this.#lost(member);
      }
    }
    const metrics = this.#metrics;
    if (web > 0) metrics.sent("web", event, web);
    if (terminal > 0) metrics.sent("terminal", event, terminal);
    if (irc > 0) metrics.sent("irc", event, irc);
  }

  /** A member whose send threw: it must not stop delivery to the rest. */
  #lost(member: Member): void {
    this.leave(member, "connection lost");
    member.close();
  }

  /** Delivers a refusal already counted, or an answer; false if it was a refusal. */
  #send(member: Member, event: ServerEvent): boolean {
    this.#deliver(member, event);
    if (event.type === "error" && event.fatal) member.close();
    return event.type !== "error";
  }

  /** Tells `member` why its request is refused (`label`: the request's, given back). */
  #refuse(
    member: Member,
    code: ErrorCode,
    message: string,
    fatal = false,
    room?: string,
    label?: string,
  ): false {
    this.#log.debug("refused", { code, nick: this.nickOf(member), via: member.via });
    const event = this.#error(code, message, room, fatal);
    if (label !== undefined && event.type === "error") event.label = label;
    this.#send(member, event);
    return false;
  }
}

/** A line Redis kept whose feed entry this node has not had yet (`Hub`'s `#unshown`). */
interface Unshown {
  seat: Seat;
  /** The room's name, for the sender's notice. */
  room: string;
  text: string;
}

/** A room as a {@linkcode ClusterEvent} names it, from its name alone (no topic known). */
function refOf(room: string): RoomRef {
  return { room, key: roomKey(room) };
}
