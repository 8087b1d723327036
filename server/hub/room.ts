/**
 * The chat room: who may do what, what was said, and who sees what in which
 * order. Pure logic: no sockets, no Deno APIs, no clock of its own.
 *
 * Each connection is a {@linkcode Member}, a transport's session
 * (`transport/session.ts`), which calls the room; the room answers by
 * sending {@linkcode ServerEvent}s to members, refusals included, so every
 * rule about who sees what lives here once. What is not
 * about the room is kept apart: a member's seat (nickname, token, private
 * messages, flood bucket) in `seat.ts`, who is seated and the member lists in
 * `roster.ts`, the joins and leaves gathered for a summary in `presence.ts`.
 *
 * @module
 */

import {
  type ChatMessage,
  type ClientMessage,
  type ErrorCode,
  type MemberInfo,
  type ServerEvent,
  WELCOME_MEMBERS,
} from "../../common/protocol.ts";
import { type Backlog, type HistoryStore, MemoryHistory } from "../history/history.ts";
import { type Rate, TokenBucket } from "./flood.ts";
import { Door } from "./door.ts";
import { type Config, DEFAULTS } from "../config.ts";
import { errorText, type Logger, SILENT } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { checkMessage, clip } from "../../common/message.ts";
import { PresenceBatch } from "./presence.ts";
import { Roster } from "./roster.ts";
import { type Member, Seat } from "./seat.ts";

/** The connection contract transports implement; it lives with the seat that holds one. */
export type { Member };

/**
 * Options for {@linkcode Room}: the settings it shares with the server's
 * {@linkcode Config} (by the same names, defaulting to {@linkcode DEFAULTS}),
 * and what only code can pass.
 */
export interface RoomOptions extends
  Partial<
    Pick<
      Config,
      "history" | "floodBurst" | "floodRate" | "presenceLimit" | "joinRate" | "maxPerIp" | "kickBan"
    >
  > {
  /** Where room messages are kept. @default {new MemoryHistory()} */
  store?: HistoryStore;
  /** The clock, in milliseconds since the epoch. @default {Date.now} */
  now?: () => number;
  /** Makes the secret that lets a member reclaim its seat. @default {crypto.randomUUID} */
  newToken?: () => string;
  /** Counts what the room does, for `/metrics`. @default {new Metrics()} */
  metrics?: Metrics;
  /** Where joins, leaves and failures are logged. @default {SILENT} */
  log?: Logger;
}

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
/** Messages of a `history` reply one flood token pays for. */
const HISTORY_PER_TOKEN = 100;
/** Members of a `who` reply one flood token pays for. */
const WHO_PER_TOKEN = 1000;

/** How many messages a `history` request for `count` is sent. */
function historyCount(count = HISTORY_DEFAULT): number {
  return Math.min(REPLAY_MAX, Math.max(1, Math.floor(count)));
}
/** The refusals when the history store fails, to write or to read. */
const NOT_STORED = "Not sent: the server could not store it.";
const UNREADABLE = "Cannot read the history; try again.";

/** Called with every event everyone in the room can see. */
export type RoomObserver = (event: ServerEvent) => void;

/** One chat room. */
export class Room {
  readonly #roster = new Roster();
  readonly #presence: PresenceBatch;
  readonly #observers = new Set<RoomObserver>();
  readonly #store: HistoryStore;
  /** How many recent room messages a newcomer is shown. */
  readonly #history: number;
  readonly #now: () => number;
  readonly #newToken: () => string;
  readonly #flood: Rate;
  /** Bans and the join rate per address. */
  readonly #door: Door;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  #closed = false;

  constructor(options: RoomOptions = {}) {
    this.#history = options.history ?? DEFAULTS.history;
    this.#store = options.store ?? new MemoryHistory();
    this.#now = options.now ?? Date.now;
    this.#newToken = options.newToken ?? (() => crypto.randomUUID());
    this.#flood = {
      burst: options.floodBurst ?? DEFAULTS.floodBurst,
      perSecond: options.floodRate ?? DEFAULTS.floodRate,
    };
    this.#door = new Door(
      {
        burst: options.maxPerIp ?? DEFAULTS.maxPerIp,
        perSecond: options.joinRate ?? DEFAULTS.joinRate,
      },
      (options.kickBan ?? DEFAULTS.kickBan) * 1000,
      this.#now,
    );
    this.#metrics = options.metrics ?? new Metrics();
    this.#log = options.log ?? SILENT;
    this.#presence = new PresenceBatch(options.presenceLimit ?? DEFAULTS.presenceLimit);
  }

  /** Number of members who have joined. */
  get size(): number {
    return this.#roster.size;
  }

  /**
   * Members in the order they joined. The same array until someone joins,
   * leaves or is renamed, so a welcome in a big room does not rebuild it.
   */
  members(): readonly MemberInfo[] {
    return this.#roster.members();
  }

  /** The nickname of a member, or undefined before it has joined. */
  nickOf(member: Member): string | undefined {
    return this.#roster.seatOf(member)?.nick;
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
    const seat = this.#roster.seatOf(member);
    if (!seat) {
      return this.#refuse(member, "not_joined", 'Join first: send {"type":"join","nick":"..."}.');
    }
    if (!this.#allow(seat, this.#cost(message))) return false;
    switch (message.type) {
      case "say":
        return this.#say(seat, message.text);
      case "me":
        return this.#say(seat, message.text, true);
      case "msg":
        return this.#whisper(seat, message.to, message.text);
      case "nick":
        return this.#rename(seat, message.nick);
      case "who":
        this.#deliver(member, { type: "members", members: this.members() });
        return true;
      case "history":
        return this.#recent(seat, message.count);
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
    if (this.#roster.seatOf(member)) {
      return this.#refuse(member, "already_joined", "You have already joined.");
    }
    const refusal = this.#door.check(requested, member.address);
    if (refusal) return this.#refuse(member, refusal.code, refusal.message, refusal.fatal);
    const claimed = this.#roster.claim(requested, member, token);
    if (!claimed.ok) return this.#refuse(member, claimed.code, claimed.reason);
    const ghost = this.#roster.find(claimed.value);
    const history = this.#backlog(since, ghost);
    if (history === undefined) {
      return this.#refuse(member, "storage_failed", UNREADABLE);
    }
    let seat: Seat;
    if (ghost) {
      // The seat itself moves, so its nickname stays exactly as the others
      // know it, and a join still to be summarized is summarized under it.
      const old = ghost.member;
      this.#roster.takeBack(ghost, member, this.#newToken());
      old.close();
      seat = ghost;
    } else {
      const bucket = new TokenBucket(this.#flood, this.#now);
      seat = new Seat(member, claimed.value, this.#newToken(), bucket);
      this.#roster.add(seat);
    }
    const welcome: ServerEvent = {
      type: "welcome",
      nick: seat.nick,
      token: seat.token,
      members: this.#roster.welcomeMembers(),
      history: history.messages,
    };
    if (this.#roster.size > WELCOME_MEMBERS) welcome.memberCount = this.#roster.size;
    if (history.gap) welcome.gap = true;
    this.#deliver(member, welcome);
    if (this.#roster.seatOf(member) !== seat) return false; // its send failed: already gone
    const fields = { nick: seat.nick, via: member.via, address: member.address };
    if (ghost) {
      this.#log.info("seat taken back", fields);
    } else {
      this.#log.info("join", fields);
      if (this.#presence.gathers(this.#roster.size)) {
        this.#presence.join(seat);
      } else {
        // Nothing is owed here: the leave that brought the room this low sent it.
        this.#publish({ type: "join", ts: this.#now(), nick: seat.nick, via: member.via }, member);
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
    if (this.#closed || this.#presence.empty) return;
    this.#publish(this.#presence.take(this.#now(), this.#roster.size));
  }

  /**
   * Removes a member and tells the others why. Idempotent; does not close it.
   * The reason may hold user text (a quit message), so it is cleaned like one.
   */
  leave(member: Member, because: string): void {
    const seat = this.#roster.seatOf(member);
    if (!seat) return;
    const cleaned = checkMessage(because);
    let why = cleaned.ok ? cleaned.value : "quit";
    // A quit message is said to everyone, like a message, and costs what one
    // does: past the flood limit the others see only that it was a quit.
    if (why.startsWith("quit:") && !seat.bucket.take()) why = "quit";
    const gathered = this.#presence.gathers(this.#roster.size);
    // What is owed goes first, counting the leaver still here.
    if (!gathered) this.summarize();
    this.#roster.remove(seat);
    // A quit message is the member's own words: the log gets only that it was a quit.
    const logged = why.startsWith("quit:") ? "quit" : why;
    this.#log.info("leave", { nick: seat.nick, via: member.via, reason: logged });
    if (gathered) {
      this.#presence.leave(seat);
    } else {
      this.#publish({
        type: "leave",
        ts: this.#now(),
        nick: seat.nick,
        via: member.via,
        reason: why,
      });
    }
  }

  /** Says something to the room as the server operator. */
  announce(raw: string): boolean {
    const text = checkMessage(raw);
    return text.ok && this.#post(SERVER_NICK, text.value, false);
  }

  /** Tells a member why, closes its connection and tells the others. */
  kick(nick: string, reason = ""): boolean {
    const seat = this.#roster.find(nick);
    if (!seat) return false;
    const why = reason ? `kicked by the server: ${reason}` : "kicked by the server";
    this.#metrics.disconnected("kicked");
    this.#door.ban(seat.key, seat.member.address);
    // Fatal, so the page does not reconnect into the room it was kicked from.
    const kicked: ServerEvent = {
      type: "error",
      code: "kicked",
      message: `You were ${why}.`,
      fatal: true,
    };
    this.#dismiss(seat, kicked, why);
    return true;
  }

  /** Tells everyone, closes every member and refuses new ones. */
  close(text: string): void {
    if (this.#closed) return;
    this.#closed = true;
    const notice = this.#notice(text);
    for (const seat of this.#roster) this.#dismiss(seat, notice);
    this.#presence.clear();
    for (const observer of this.#observers) observer(notice);
  }

  /** Says a message (or an action) to everyone, the sender included. */
  #say(seat: Seat, raw: string, action = false): boolean {
    const text = checkMessage(raw);
    if (!text.ok) return this.#refuse(seat.member, text.code, text.reason);
    // A newcomer not yet announced is announced before its first words.
    if (this.#presence.owes(seat)) this.summarize();
    if (this.#post(seat.nick, text.value, action)) {
      this.#metrics.received[seat.member.via]++;
      return true;
    }
    return this.#refuse(seat.member, "storage_failed", NOT_STORED);
  }

  /** Sends a private message: only the recipient and the sender see it. */
  #whisper(seat: Seat, to: string, raw: string): boolean {
    const target = this.#roster.find(to);
    if (!target) {
      return this.#refuse(seat.member, "no_such_nick", `Nobody called "${clip(to, 40)}" is here.`);
    }
    const text = checkMessage(raw);
    if (!text.ok) return this.#refuse(seat.member, text.code, text.reason);
    let id;
    try {
      id = this.#store.nextId();
    } catch {
      return this.#refuse(seat.member, "storage_failed", NOT_STORED);
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
      this.#deliver(party.member, event);
    }
    this.#metrics.received[seat.member.via]++;
    return true;
  }

  /** Changes a member's nickname and tells everyone. */
  #rename(seat: Seat, requested: string): boolean {
    const claimed = this.#roster.claim(requested, seat.member);
    if (!claimed.ok) return this.#refuse(seat.member, claimed.code, claimed.reason);
    const nick = claimed.value;
    if (nick === seat.nick) return true;
    const from = seat.nick;
    this.#roster.rename(seat, nick);
    this.#log.info("rename", { from, to: nick });
    // A leave still owed under either name must come first.
    this.summarize();
    this.#publish({ type: "rename", ts: this.#now(), from, to: nick });
    return true;
  }

  /** Answers a `history` request with the last `count` room messages. */
  #recent(seat: Seat, count?: number): boolean {
    let messages;
    try {
      messages = this.#store.recent(historyCount(count));
    } catch (e) {
      this.#log.error("cannot read the history", { error: errorText(e) });
      return this.#refuse(seat.member, "storage_failed", UNREADABLE);
    }
    this.#deliver(seat.member, { type: "history", messages });
    return true;
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
      if (since === undefined || since > this.#store.lastId()) {
        const messages = this.#store.recent(this.#history);
        return { messages, gap: since !== undefined };
      }
      const backlog = this.#store.after(since, REPLAY_MAX);
      const privates = seat?.privates.after(since);
      if (!privates || (privates.messages.length === 0 && !privates.gap)) return backlog;
      return {
        messages: [...backlog.messages, ...privates.messages].sort((a, b) => a.id - b.id),
        gap: backlog.gap || privates.gap,
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
  #allow(seat: Seat, cost = 1): boolean {
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
    return this.#refuse(
      seat.member,
      "rate_limited",
      `You are sending too fast. Slow down (next in ${wait} s); that line was not sent.`,
    );
  }

  /**
   * What a request costs from the flood bucket: one token, and a long reply
   * more, by its size. A `history` of 1,000 messages (up to 6 MB) costs 10,
   * the whole default burst, so pipelined requests cannot have the server
   * build reply after reply for one member; `who` costs one per thousand
   * members. A cost above the burst is charged as the burst.
   */
  #cost(message: ClientMessage): number {
    switch (message.type) {
      case "history":
        return Math.ceil(historyCount(message.count) / HISTORY_PER_TOKEN);
      case "who":
        return Math.max(1, Math.ceil(this.#roster.size / WHO_PER_TOKEN));
      default:
        return 1;
    }
  }

  /** Stores a room message, then delivers it. False if it could not be stored. */
  #post(from: string, text: string, action: boolean): boolean {
    let event: ChatMessage;
    try {
      event = { type: "message", id: this.#store.nextId(), ts: this.#now(), from, text };
      if (action) event.action = true;
      this.#store.append(event);
    } catch (e) {
      // Not stored means not sent: nobody sees a message that could vanish.
      this.#log.error("cannot store a message", { error: errorText(e) });
      return false;
    }
    this.#publish(event);
    return true;
  }

  /**
   * Sends a member a notice, takes its seat and closes its connection: a
   * kick, a flood, the server closing. With `why`, the others are told it
   * left; without, its seat goes quietly (the room is closing on everyone).
   */
  #dismiss(seat: Seat, notice: ServerEvent, why?: string): void {
    this.#deliver(seat.member, notice);
    if (why === undefined) this.#roster.remove(seat);
    else this.leave(seat.member, why);
    seat.member.close();
  }

  #notice(text: string): ServerEvent {
    return { type: "notice", ts: this.#now(), text };
  }

  #publish(event: ServerEvent, except?: Member): void {
    for (const seat of this.#roster) {
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
    this.#log.debug("refused", { code, nick: this.nickOf(member), via: member.via });
    this.#deliver(
      member,
      fatal ? { type: "error", code, message, fatal } : { type: "error", code, message },
    );
    if (fatal) member.close();
    return false;
  }
}
