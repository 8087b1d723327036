/**
 * One room: who is in it, in the order they entered, the joins and leaves
 * gathered for a summary, its topic, and what was said there. Pure logic:
 * no sockets, no Deno APIs, no clock of its own.
 *
 * A room holds seats (`seat.ts`), not connections: a person has one seat,
 * one nickname and one flood bucket server-wide, and sits in up to
 * `MEMBER_ROOMS_MAX` rooms. Who may enter, and what a member may ask, is the
 * hub's to decide (`hub.ts`); a room carries it out and tells the others:
 * the hub calls {@linkcode Room.enter}, {@linkcode Room.leave},
 * {@linkcode Room.post} and {@linkcode Room.setTopic} once it has said yes.
 *
 * The member lists are cached (a welcome into a big room must not rebuild
 * the list) and dropped in one place, {@linkcode Room.changed}, which the
 * hub also calls when a seat in the room is renamed.
 *
 * @module
 */

import type {
  ChatMessage,
  MemberInfo,
  RoomState,
  ServerEvent,
  Topic,
} from "../../common/protocol.ts";
import { WELCOME_MEMBERS } from "../../common/protocol.ts";
import type { Backlog, HistoryStore, RangeQuery, RoomMessage } from "../history/history.ts";
import { mentionKeys } from "../../common/mention.ts";
import { PresenceBatch } from "./presence.ts";
import { type Member, memberList, type Seat } from "./seat.ts";

/** What every room of a hub shares: the store, the clock, and how to reach members. */
export interface RoomEnv {
  readonly store: HistoryStore;
  readonly now: () => number;
  /** How many recent messages a member who enters is shown. */
  readonly history: number;
  /** The most members for which joins and leaves are announced one by one. */
  readonly presenceLimit: number;
  /**
   * Delivers an event to every seat of `seats` but `except`'s, and `marked`
   * instead to the seats in `named`; a member whose send fails is taken out
   * by the hub. One call per event, not per member: a room's fan-out is the
   * server's hottest loop, so it runs in one place with nothing per member
   * but the send.
   */
  deliverAll(
    seats: Iterable<Seat>,
    event: ServerEvent,
    except?: Member,
    named?: ReadonlySet<Seat>,
    marked?: ServerEvent,
  ): void;
  /** Shows an event everyone in a room sees to the hub's observers (the operator console). */
  observe(event: ServerEvent): void;
  /** The seat whose nickname folds to `key`, anywhere in the hub: who a message names. */
  seatByKey(key: string): Seat | undefined;
}

/** Most messages a rejoin with `since`, or a `history` request, is sent, per room. */
export const REPLAY_MAX = 1000;

/** How a message is said: plainly, as an action (`/me`), or as a notice (never answered by a program). */
export type MessageKind = "plain" | "action" | "notice";

/** One room of the hub. */
export class Room {
  /** The room's identity: `roomKey(name)`. */
  readonly key: string;
  /** The name as the first to enter it typed it (`#lobby` is always `#lobby`). */
  readonly name: string;
  readonly #env: RoomEnv;
  /** In order of entering: a `Set` keeps insertion order. */
  readonly #seats = new Set<Seat>();
  readonly #presence: PresenceBatch;
  #topic: Topic | undefined;
  /** What {@linkcode members} returns; undefined when it must be built again. */
  #all: readonly MemberInfo[] | undefined;
  /** The first {@linkcode WELCOME_MEMBERS}, kept while newcomers enter past them. */
  #first: readonly MemberInfo[] | undefined;

  constructor(env: RoomEnv, name: string, key: string, topic: Topic | undefined) {
    this.#env = env;
    this.name = name;
    this.key = key;
    this.#topic = topic;
    this.#presence = new PresenceBatch(env.presenceLimit);
  }

  /** How many are in the room. */
  get size(): number {
    return this.#seats.size;
  }

  /** The topic, if it has one. */
  get topic(): Topic | undefined {
    return this.#topic;
  }

  /** True if the seat is in the room. */
  has(seat: Seat): boolean {
    return this.#seats.has(seat);
  }

  /** The seats in the order they entered. */
  [Symbol.iterator](): IterableIterator<Seat> {
    return this.#seats.values();
  }

  /**
   * Everyone here, in the order they entered. The same array until someone
   * enters, leaves or is renamed, so a `who` in a big room does not rebuild it.
   */
  members(): readonly MemberInfo[] {
    this.#all ??= memberList(this.#seats, Infinity);
    return this.#all;
  }

  /** The room as a member entering it sees it: topic, the first members, how many. */
  state(gap = false): RoomState {
    this.#first ??= memberList(this.#seats, WELCOME_MEMBERS);
    const state: RoomState = { room: this.name, members: this.#first };
    if (this.#topic) state.topic = this.#topic;
    if (this.size > WELCOME_MEMBERS) state.memberCount = this.size;
    if (gap) state.gap = true;
    return state;
  }

  /** The one place the cached lists are dropped; the welcome's only if it may differ. */
  changed(welcome = true): void {
    this.#all = undefined;
    if (welcome) this.#first = undefined;
  }

  /** The last `count` messages (at most {@linkcode REPLAY_MAX}). Throws if the store cannot be read. */
  recent(count: number): ChatMessage[] {
    return this.named(this.#env.store.recent(this.key, Math.min(count, REPLAY_MAX)));
  }

  /**
   * The messages within `query`'s bounds (at most {@linkcode REPLAY_MAX}),
   * oldest first. Throws if the store cannot be read.
   */
  range(query: RangeQuery): ChatMessage[] {
    const limit = Math.min(query.limit, REPLAY_MAX);
    return this.named(this.#env.store.range(this.key, { ...query, limit }));
  }

  /**
   * What a member entering is shown: the recent messages, or with `since`
   * everything after it (the last `limit`) and whether some is gone. A `since` above every id handed out is not ours (the database
   * was replaced): the recent messages, and a gap. Throws if the store
   * cannot be read.
   */
  backlog(since: number | undefined, limit = REPLAY_MAX): Backlog {
    const store = this.#env.store;
    if (since === undefined || since > store.lastId()) {
      return { messages: this.recent(this.#env.history), gap: since !== undefined };
    }
    const backlog = store.after(this.key, since, limit);
    return { messages: this.named(backlog.messages), gap: backlog.gap };
  }

  /**
   * Seats a member in the room, unannounced: the hub sends it the room's
   * state first, then calls {@linkcode announce}.
   */
  enter(seat: Seat): void {
    this.#seats.add(seat);
    seat.rooms.set(this.key, this);
    // A newcomer past the first few changes nothing a welcome lists.
    this.changed(this.size <= WELCOME_MEMBERS);
  }

  /** Tells the others a seat entered: now, or in the next summary in a big room. */
  announce(seat: Seat): void {
    if (this.#presence.gathers(this.size)) {
      this.#presence.join(seat);
    } else {
      // Nothing is owed here: the leave that brought the room this low sent it.
      const { nick, member } = seat;
      this.publish(
        { type: "join", room: this.name, ts: this.#env.now(), nick, via: member.via },
        member,
      );
    }
  }

  /**
   * Takes a seat out of the room and tells the others why (quietly: no one
   * is told, the room is closing). Idempotent.
   */
  leave(seat: Seat, why: string, quietly = false): void {
    if (!this.#seats.has(seat)) return;
    const gathered = this.#presence.gathers(this.size);
    // What is owed goes first, counting the leaver still here.
    if (!gathered && !quietly) this.summarize();
    this.#seats.delete(seat);
    seat.rooms.delete(this.key);
    this.changed();
    if (quietly) return;
    if (gathered) {
      this.#presence.leave(seat);
    } else {
      const { nick, member } = seat;
      this.publish({
        type: "leave",
        room: this.name,
        ts: this.#env.now(),
        nick,
        via: member.via,
        reason: why,
      });
    }
  }

  /**
   * Stores a message said here, then delivers it to everyone in the room.
   * Throws if it cannot be stored, and then nobody sees it: a message that
   * could vanish is not sent.
   */
  post(from: string, text: string, kind: MessageKind, by?: Seat): ChatMessage {
    const draft = this.draft(from, text, kind, by);
    const message: RoomMessage = { ...draft, id: this.#env.store.nextId() };
    this.#env.store.append(this.key, message);
    this.publish(message);
    return message;
  }

  /**
   * A message to be said here, without its id yet: what {@linkcode post}
   * keeps, or what a node of several hands to Redis (`hub/cluster.ts`),
   * which delivers it with {@linkcode deliver} once kept. A newcomer not yet
   * announced is announced first, before its first words.
   */
  draft(from: string, text: string, kind: MessageKind, by?: Seat): Omit<RoomMessage, "id"> {
    if (by && this.#presence.owes(by)) this.summarize();
    const message: Omit<RoomMessage, "id"> = {
      type: "message",
      ts: this.#env.now(),
      room: this.name,
      from,
      text,
    };
    if (kind === "action") message.action = true;
    else if (kind === "notice") message.notice = true;
    return message;
  }

  /** Delivers a message kept elsewhere (another node's, or this node's back from Redis) to everyone here. */
  deliver(message: RoomMessage): void {
    this.publish(message.room === this.name ? message : { ...message, room: this.name });
  }

  /** Sets or (with an empty text) clears the topic, and tells everyone here. Throws if it cannot be kept. */
  setTopic(text: string, by: string): void {
    const topic = { text, by, ts: this.#env.now() };
    const kept = text === "" ? undefined : topic;
    this.#env.store.setTopic(this.key, kept);
    this.showTopic(topic);
  }

  /**
   * Takes a topic set (kept already) and tells everyone here; a topic with
   * no text clears it, and the news says who cleared it.
   */
  showTopic(topic: Topic): void {
    this.#topic = topic.text === "" ? undefined : topic;
    this.changed();
    this.publish({ type: "topic", room: this.name, topic, changed: true });
  }

  /** The topic as an answer to `topic`. */
  topicEvent(): ServerEvent {
    const event: ServerEvent = { type: "topic", room: this.name };
    if (this.#topic) event.topic = this.#topic;
    return event;
  }

  /**
   * Announces the joins and leaves gathered since the last summary, if any,
   * to everyone: newcomers see their own arrival in it too.
   */
  summarize(): void {
    if (this.#presence.empty) return;
    this.publish({ ...this.#presence.take(this.#env.now(), this.size), room: this.name });
  }

  /** Forgets the joins and leaves gathered: the room is closing. */
  clearPresence(): void {
    this.#presence.clear();
  }

  /**
   * Sends an event to everyone in the room (but `except`), and to the hub's
   * observers. A member a message names gets it marked `mention: true`.
   */
  publish(event: ServerEvent, except?: Member): void {
    const named = event.type === "message" ? this.#mentioned(event) : undefined;
    if (named === undefined || event.type !== "message") {
      this.#env.deliverAll(this.#seats, event, except);
    } else {
      this.#env.deliverAll(this.#seats, event, except, named, { ...event, mention: true });
    }
    this.#env.observe(event);
  }

  /**
   * The members here a message names, by someone else (`common/mention.ts`):
   * worked out once per message from the words it holds, whatever the
   * room's size. Undefined if none.
   */
  #mentioned(m: ChatMessage): Set<Seat> | undefined {
    let named: Set<Seat> | undefined;
    for (const key of mentionKeys(m.text)) {
      const seat = this.#env.seatByKey(key);
      if (seat !== undefined && seat.nick !== m.from && this.#seats.has(seat)) {
        (named ??= new Set()).add(seat);
      }
    }
    return named;
  }

  /**
   * Messages as this room is called now: a message kept from an earlier
   * life of the room may name it as someone else typed it then.
   */
  named(messages: RoomMessage[]): ChatMessage[] {
    return messages.map((m) => m.room === this.name ? m : { ...m, room: this.name });
  }
}
