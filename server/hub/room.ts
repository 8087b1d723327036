/**
 * The chat room: who is in it, under which nickname, what was said, and who
 * gets to see it. Pure logic: no sockets, no Deno APIs, no clock of its own.
 *
 * Transports wrap each connection in a {@linkcode Member} and call the room;
 * the room answers by sending {@linkcode ServerEvent}s to members, refusals
 * included, so every rule about who sees what lives here once.
 *
 * @module
 */

import {
  type ChatMessage,
  type ClientMessage,
  type ErrorCode,
  type MemberInfo,
  PRESENCE_NAMES,
  type PresenceEvent,
  type ServerEvent,
  type Via,
  WELCOME_MEMBERS,
} from "../../common/protocol.ts";
import { type Backlog, type HistoryStore, MemoryHistory } from "../history/history.ts";
import { type Rate, TokenBucket } from "./flood.ts";
import { errorText, type Logger, SILENT } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { checkMessage, clip } from "../../common/message.ts";
import { checkNick, nickKey } from "../../common/nick.ts";

/** A connection as the room sees it: something that can be sent events and closed. */
export interface Member {
  /** How the member is connected, shown to others. */
  readonly via: Via;
  /** Where it connects from, for the log. */
  readonly address?: string;
  /** Delivers an event. Must not throw and must not block. */
  send(event: ServerEvent): void;
  /** Ends the connection after what was sent. Idempotent. */
  close(): void;
}

/** Options for {@linkcode Room}. */
export interface RoomOptions {
  /** How many recent room messages a newcomer is shown. @default {100} */
  historyLimit?: number;
  /** Where room messages are kept. @default {new MemoryHistory()} */
  history?: HistoryStore;
  /** The clock, in milliseconds since the epoch. @default {Date.now} */
  now?: () => number;
  /** Makes the secret that lets a member reclaim its seat. @default {crypto.randomUUID} */
  newToken?: () => string;
  /** How fast a member may say, whisper or rename. @default {{ burst: 10, perSecond: 2 }} */
  flood?: Rate;
  /** Counts what the room does, for `/metrics`. @default {new Metrics()} */
  metrics?: Metrics;
  /** Where joins, leaves and failures are logged. @default {SILENT} */
  log?: Logger;
  /**
   * Most members for which each join and leave is announced as it happens.
   * In a bigger room they are gathered and announced by {@linkcode Room.summarize}.
   * @default {PRESENCE_LIMIT}
   */
  presenceLimit?: number;
}

/**
 * Above this many members, joins and leaves go out in a summary once a
 * second. Announcing each one to everyone makes filling a room of N cost
 * N²/2 events (50 million at 10,000); a summary costs one event per member
 * per second however many come and go, and in a room this big a line per
 * arrival is noise anyway.
 */
export const PRESENCE_LIMIT = 500;

/** How often the server calls {@linkcode Room.summarize}. */
export const PRESENCE_EVERY_MS = 1000;

/** Refusals in a row, for sending too fast, after which a member is disconnected. */
export const FLOOD_STRIKES = 20;

/** The nickname that operator messages come from; nobody else can take it. */
export const SERVER_NICK = "server";

/** Most messages a rejoin with `since`, or a `history` request, is sent. */
export const REPLAY_MAX = 1000;
/** Messages a `history` request without a count is sent. */
const HISTORY_DEFAULT = 50;
/** Private messages kept per seat (in memory only) for a rejoin to replay. */
const PRIVATE_KEEP = 100;

interface Seat {
  member: Member;
  nick: string;
  key: string;
  /** Given only to this member (in `welcome`): proof that a rejoin is theirs. */
  token: string;
  /** Recent private messages to or from this seat, for a rejoin with `since`. */
  privates: ChatMessage[];
  /** The highest id among private messages dropped from `privates`. */
  privatesDroppedTo: number;
  /** Flood control for what the member sends. */
  bucket: TokenBucket;
  /** Refusals for flooding since the last accepted action. */
  strikes: number;
}

/** Called with every event everyone in the room can see. */
export type RoomObserver = (event: ServerEvent) => void;

/** One chat room. */
export class Room {
  readonly #seats = new Map<Member, Seat>();
  readonly #byKey = new Map<string, Seat>();
  readonly #history: HistoryStore;
  readonly #historyLimit: number;
  readonly #now: () => number;
  readonly #newToken: () => string;
  readonly #flood: Rate;
  readonly #observers = new Set<RoomObserver>();
  readonly #metrics: Metrics;
  readonly #log: Logger;
  /** What {@linkcode members} returns; undefined when it must be built again. */
  #memberList: readonly MemberInfo[] | undefined;
  /**
   * The first {@linkcode WELCOME_MEMBERS} of them, for a welcome. Kept while
   * newcomers join past them, so a join into a big room costs no whole list.
   */
  #welcomeList: readonly MemberInfo[] | undefined;
  readonly #presenceLimit: number;
  /** Seats that joined since the last summary, in a room past the presence limit. */
  readonly #joinedSince = new Set<Seat>();
  /** The first few who left since the last summary, and how many did. */
  #leftSince: string[] = [];
  #leaves = 0;
  #closed = false;

  constructor(options: RoomOptions = {}) {
    this.#historyLimit = options.historyLimit ?? 100;
    this.#history = options.history ?? new MemoryHistory();
    this.#now = options.now ?? Date.now;
    this.#newToken = options.newToken ?? (() => crypto.randomUUID());
    this.#flood = options.flood ?? { burst: 10, perSecond: 2 };
    this.#metrics = options.metrics ?? new Metrics();
    this.#log = options.log ?? SILENT;
    this.#presenceLimit = options.presenceLimit ?? PRESENCE_LIMIT;
  }

  /** Number of members who have joined. */
  get size(): number {
    return this.#seats.size;
  }

  /**
   * Members in the order they joined. The same array until someone joins,
   * leaves or is renamed, so a welcome in a big room does not rebuild it.
   */
  members(): readonly MemberInfo[] {
    this.#memberList ??= first(this.#seats.values(), Infinity);
    return this.#memberList;
  }

  /** The members a welcome lists: see {@linkcode #welcomeList}. */
  #firstMembers(): readonly MemberInfo[] {
    this.#welcomeList ??= first(this.#seats.values(), WELCOME_MEMBERS);
    return this.#welcomeList;
  }

  /** The nickname of a member, or undefined before it has joined. */
  nickOf(member: Member): string | undefined {
    return this.#seats.get(member)?.nick;
  }

  /** Registers an observer of public events; returns a function that removes it. */
  watch(observer: RoomObserver): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /**
   * Carries out what a member asked for. Returns false if it was refused (the
   * member has then been sent an `error`).
   */
  handle(member: Member, message: ClientMessage): boolean {
    if (message.type === "join") {
      return this.join(member, message.nick, message.token, message.since);
    }
    const seat = this.#seats.get(member);
    if (!seat) {
      return this.#refuse(member, "not_joined", 'Join first: send {"type":"join","nick":"..."}.');
    }
    if (message.type !== "who" && message.type !== "history" && !this.#allow(seat)) return false;
    switch (message.type) {
      case "say":
        return this.say(member, message.text);
      case "me":
        return this.say(member, message.text, true);
      case "msg":
        return this.whisper(member, message.to, message.text);
      case "nick":
        return this.rename(member, message.nick);
      case "who":
        this.#deliver(member, { type: "members", members: this.members() });
        return true;
      case "history": {
        const count = Math.min(
          REPLAY_MAX,
          Math.max(1, Math.floor(message.count ?? HISTORY_DEFAULT)),
        );
        let messages;
        try {
          messages = this.#history.recent(count);
        } catch (e) {
          this.#log.error("cannot read the history", { error: errorText(e) });
          return this.#refuse(member, "storage_failed", "Cannot read the history; try again.");
        }
        this.#deliver(member, { type: "history", messages });
        return true;
      }
    }
  }

  /**
   * Seats a member under a nickname, sends it `welcome` and tells the others.
   *
   * With the `token` of the seat that holds the nickname, the member takes
   * that seat over instead: the old connection (a dropped one the server has
   * not noticed yet) is closed, and the others see no leave and no join.
   *
   * With `since`, the last message id the member saw, the welcome holds every
   * room message after it (and the seat's private ones, when taken back)
   * instead of the most recent ones.
   */
  join(member: Member, requested: string, token?: string, since?: number): boolean {
    if (this.#closed) {
      return this.#refuse(member, "shutting_down", "The server is shutting down.", true);
    }
    if (this.#seats.has(member)) {
      return this.#refuse(member, "already_joined", "You have already joined.");
    }
    const claimed = this.#claim(member, requested, token);
    if (claimed === undefined) return false;
    const ghost = this.#byKey.get(nickKey(claimed));
    // Taking a seat back keeps its nickname exactly as the others know it.
    const nick = ghost?.nick ?? claimed;
    const history = this.#backlog(since, ghost);
    if (history === undefined) {
      return this.#refuse(member, "storage_failed", "Cannot read the history; try again.");
    }
    if (ghost) {
      this.#seats.delete(ghost.member);
      ghost.member.close();
    }
    const seat: Seat = {
      member,
      nick,
      key: nickKey(nick),
      token: ghost?.token ?? this.#newToken(),
      privates: ghost?.privates ?? [],
      privatesDroppedTo: ghost?.privatesDroppedTo ?? 0,
      bucket: ghost?.bucket ?? new TokenBucket(this.#flood, this.#now),
      strikes: 0,
    };
    this.#seats.set(member, seat);
    this.#byKey.set(seat.key, seat);
    // A seat still to be announced as a join is announced under its new owner.
    if (ghost && this.#joinedSince.delete(ghost)) this.#joinedSince.add(seat);
    this.#memberList = undefined;
    // A newcomer past the first few changes nothing a welcome lists.
    if (ghost || this.#seats.size <= WELCOME_MEMBERS) this.#welcomeList = undefined;
    const welcome: ServerEvent = {
      type: "welcome",
      nick,
      token: seat.token,
      members: this.#firstMembers(),
      history: history.messages,
    };
    if (this.#seats.size > WELCOME_MEMBERS) welcome.memberCount = this.#seats.size;
    if (history.gap) welcome.gap = true;
    this.#deliver(member, welcome);
    if (!this.#seats.has(member)) return false; // its send failed: already gone
    const fields = { nick, via: member.via, address: member.address };
    if (ghost) {
      this.#log.info("seat taken back", fields);
    } else {
      this.#log.info("join", fields);
      if (this.#seats.size > this.#presenceLimit) {
        this.#joinedSince.add(seat);
      } else {
        // Nothing is owed here: the leave that brought the room this low sent it.
        this.#publish({ type: "join", ts: this.#now(), nick, via: member.via }, member);
      }
    }
    return true;
  }

  /**
   * Announces the joins and leaves gathered since the last summary (in a room
   * past the presence limit), if there were any, to everyone: newcomers see
   * their own arrival in it too. The server calls it every
   * {@linkcode PRESENCE_EVERY_MS}; the room calls it before announcing a
   * leave or a rename by itself, so nobody sees them out of order.
   */
  summarize(): void {
    if (this.#closed || (this.#joinedSince.size === 0 && this.#leaves === 0)) return;
    const joined = first(this.#joinedSince, PRESENCE_NAMES);
    const event: PresenceEvent = {
      type: "presence",
      ts: this.#now(),
      joined,
      joins: this.#joinedSince.size,
      left: this.#leftSince,
      leaves: this.#leaves,
      count: this.#seats.size,
    };
    this.#joinedSince.clear();
    this.#leftSince = [];
    this.#leaves = 0;
    this.#publish(event);
  }

  /** Says a message (or an action) to everyone, the sender included. */
  say(member: Member, raw: string, action = false): boolean {
    const seat = this.#seats.get(member);
    if (!seat) return this.#refuse(member, "not_joined", "Join first.");
    const text = checkMessage(raw);
    if (!text.ok) return this.#refuse(member, text.code, text.reason);
    // A newcomer not yet announced is announced before its first words.
    if (this.#joinedSince.has(seat)) this.summarize();
    if (this.#post(seat.nick, text.value, action)) {
      this.#metrics.received[member.via]++;
      return true;
    }
    return this.#refuse(member, "storage_failed", "Not sent: the server could not store it.");
  }

  /** Sends a private message: only the recipient and the sender see it. */
  whisper(member: Member, to: string, raw: string): boolean {
    const seat = this.#seats.get(member);
    if (!seat) return this.#refuse(member, "not_joined", "Join first.");
    const target = this.#byKey.get(nickKey(to.trim()));
    if (!target) {
      return this.#refuse(member, "no_such_nick", `Nobody called "${clip(to, 40)}" is here.`);
    }
    const text = checkMessage(raw);
    if (!text.ok) return this.#refuse(member, text.code, text.reason);
    let id;
    try {
      id = this.#history.nextId();
    } catch {
      return this.#refuse(member, "storage_failed", "Not sent: the server could not store it.");
    }
    const event: ChatMessage = {
      type: "message",
      id,
      ts: this.#now(),
      from: seat.nick,
      to: target.nick,
      text: text.value,
    };
    for (const party of target === seat ? [seat] : [target, seat]) {
      party.privates.push(event);
      if (party.privates.length > PRIVATE_KEEP) {
        party.privatesDroppedTo = party.privates.shift()?.id ?? party.privatesDroppedTo;
      }
      this.#deliver(party.member, event);
    }
    this.#metrics.received[member.via]++;
    return true;
  }

  /** Changes a member's nickname and tells everyone. */
  rename(member: Member, requested: string): boolean {
    const seat = this.#seats.get(member);
    if (!seat) return this.#refuse(member, "not_joined", "Join first.");
    const nick = this.#claim(member, requested);
    if (nick === undefined) return false;
    if (nick === seat.nick) return true;
    const from = seat.nick;
    this.#byKey.delete(seat.key);
    seat.nick = nick;
    seat.key = nickKey(nick);
    this.#byKey.set(seat.key, seat);
    this.#memberList = this.#welcomeList = undefined;
    this.#log.info("rename", { from, to: nick });
    // A leave still owed under either name must come first.
    this.summarize();
    this.#publish({ type: "rename", ts: this.#now(), from, to: nick });
    return true;
  }

  /**
   * Removes a member and tells the others why. Idempotent; does not close it.
   * The reason may hold user text (a quit message), so it is cleaned like one.
   */
  leave(member: Member, because: string): void {
    const seat = this.#seats.get(member);
    if (!seat) return;
    const cleaned = checkMessage(because);
    const why = cleaned.ok ? cleaned.value : "quit";
    const live = this.#seats.size <= this.#presenceLimit;
    // What is owed goes first, counting the leaver still here.
    if (live) this.summarize();
    this.#seats.delete(member);
    this.#byKey.delete(seat.key);
    this.#memberList = this.#welcomeList = undefined;
    // A quit message is the member's own words: the log gets only that it was a quit.
    const logged = why.startsWith("quit:") ? "quit" : why;
    this.#log.info("leave", { nick: seat.nick, via: member.via, reason: logged });
    if (!live) {
      // Came and went within one summary: there is nothing to announce.
      if (this.#joinedSince.delete(seat)) return;
      this.#leaves++;
      if (this.#leftSince.length < PRESENCE_NAMES) this.#leftSince.push(seat.nick);
      return;
    }
    this.#publish({
      type: "leave",
      ts: this.#now(),
      nick: seat.nick,
      via: member.via,
      reason: why,
    });
  }

  /** Says something to the room as the server operator. */
  announce(raw: string): boolean {
    const text = checkMessage(raw);
    return text.ok && this.#post(SERVER_NICK, text.value, false);
  }

  /** Tells a member why, closes its connection and tells the others. */
  kick(nick: string, reason = ""): boolean {
    const seat = this.#byKey.get(nickKey(nick.trim()));
    if (!seat) return false;
    const why = reason ? `kicked by the server: ${reason}` : "kicked by the server";
    this.#metrics.disconnected("kicked");
    this.#deliver(seat.member, { type: "notice", ts: this.#now(), text: `You were ${why}.` });
    this.leave(seat.member, why);
    seat.member.close();
    return true;
  }

  /** Tells everyone, closes every member and refuses new ones. */
  close(text: string): void {
    if (this.#closed) return;
    this.#closed = true;
    const notice: ServerEvent = { type: "notice", ts: this.#now(), text };
    for (const seat of this.#seats.values()) {
      this.#deliver(seat.member, notice);
      seat.member.close();
    }
    this.#seats.clear();
    this.#byKey.clear();
    this.#memberList = this.#welcomeList = undefined;
    this.#joinedSince.clear();
    this.#leftSince = [];
    this.#leaves = 0;
    for (const observer of this.#observers) observer(notice);
  }

  /**
   * What a joining member is shown: the recent messages, or with `since`
   * everything after it (with the private ones of a seat taken back).
   * Undefined if the history cannot be read.
   */
  #backlog(since: number | undefined, seat: Seat | undefined): Backlog | undefined {
    try {
      // A `since` we never issued (the database was replaced, or it was a
      // :memory: one): unknown, so the recent messages and a gap.
      if (since === undefined || since > this.#history.lastId()) {
        const messages = this.#history.recent(this.#historyLimit);
        return { messages, gap: since !== undefined };
      }
      const backlog = this.#history.after(since, REPLAY_MAX);
      const dropped = seat?.privatesDroppedTo ?? 0;
      const privates = seat?.privates.filter((m) => m.id > since) ?? [];
      if (privates.length === 0 && dropped <= since) return backlog;
      return {
        messages: [...backlog.messages, ...privates].sort((a, b) => a.id - b.id),
        gap: backlog.gap || dropped > since,
      };
    } catch (e) {
      this.#log.error("cannot read the history", { error: errorText(e) });
      return undefined;
    }
  }

  /**
   * Flood control: true if the member may act now. Otherwise it is told to
   * slow down, and after {@linkcode FLOOD_STRIKES} refusals in a row it is
   * disconnected.
   */
  #allow(seat: Seat): boolean {
    if (seat.bucket.take()) {
      seat.strikes = 0;
      return true;
    }
    if (++seat.strikes >= FLOOD_STRIKES) {
      this.#metrics.disconnected("flooding");
      this.#log.warn("disconnected for flooding", { nick: seat.nick, via: seat.member.via });
      this.#deliver(seat.member, {
        type: "notice",
        ts: this.#now(),
        text: "Disconnected for flooding.",
      });
      this.leave(seat.member, "flooding");
      seat.member.close();
      return false;
    }
    const wait = Math.max(1, Math.ceil(seat.bucket.wait() / 1000));
    return this.#refuse(
      seat.member,
      "rate_limited",
      `You are sending too fast. Slow down (next in ${wait} s); that line was not sent.`,
    );
  }

  /** Returns the nickname to use, or refuses and returns undefined. */
  #claim(member: Member, requested: string, token?: string): string | undefined {
    const nick = checkNick(requested);
    if (!nick.ok) {
      this.#refuse(member, nick.code, nick.reason);
      return undefined;
    }
    const holder = this.#byKey.get(nickKey(nick.value));
    if (holder && holder.member !== member && (token === undefined || token !== holder.token)) {
      this.#refuse(member, "nick_taken", `Nickname "${holder.nick}" is taken. Try another.`);
      return undefined;
    }
    return nick.value;
  }

  /** Stores a room message, then delivers it. False if it could not be stored. */
  #post(from: string, text: string, action: boolean): boolean {
    let event: ChatMessage;
    try {
      event = { type: "message", id: this.#history.nextId(), ts: this.#now(), from, text };
      if (action) event.action = true;
      this.#history.append(event);
    } catch (e) {
      // Not stored means not sent: nobody sees a message that could vanish.
      this.#log.error("cannot store a message", { error: errorText(e) });
      return false;
    }
    this.#publish(event);
    return true;
  }

  #publish(event: ServerEvent, except?: Member): void {
    for (const seat of this.#seats.values()) {
      if (seat.member !== except) this.#deliver(seat.member, event);
    }
    for (const observer of this.#observers) observer(event);
  }

  #deliver(member: Member, event: ServerEvent): void {
    this.#metrics.sent(member.via, event);
    try {
      member.send(event);
    } catch {
      // A broken member must not stop delivery to the rest.
      this.leave(member, "connection lost");
      member.close();
    }
  }

  #refuse(member: Member, code: ErrorCode, message: string, fatal = false): false {
    this.#metrics.refused(code);
    this.#log.debug("refused", { code, nick: this.#seats.get(member)?.nick, via: member.via });
    this.#deliver(
      member,
      fatal ? { type: "error", code, message, fatal } : { type: "error", code, message },
    );
    if (fatal) member.close();
    return false;
  }
}

/** The first `max` seats as the member list shows them. */
function first(seats: Iterable<Seat>, max: number): MemberInfo[] {
  const list: MemberInfo[] = [];
  for (const seat of seats) {
    if (list.length >= max) break;
    list.push({ nick: seat.nick, via: seat.member.via });
  }
  return list;
}
