/**
 * A member's seat: the connection ({@linkcode Member}) and what belongs to
 * the person in it rather than to the connection, the nickname, the token
 * that proves a rejoin is theirs, the private messages kept for that rejoin,
 * and the flood bucket. A rejoin with the token moves the seat to the new
 * connection, and all of it goes along.
 *
 * It is its own thing, apart from any room, because it outlives one: a
 * person has one seat, one nickname, one token, one bucket and one set of
 * private messages, and sits in many rooms ({@linkcode Seat.rooms}); a seat
 * taken back keeps them.
 *
 * @module
 */

import {
  MEMBER_ROOMS_MAX,
  type MemberInfo,
  type ServerEvent,
  type Via,
} from "../../common/protocol.ts";
import { nickKey } from "../../common/nick.ts";
import { BoundedLog } from "../history/history.ts";
import { Pending } from "../queue.ts";
import type { TokenBucket } from "./flood.ts";
import type { Room } from "./room.ts";

/** A connection as the hub sees it: something that can be sent events and closed. */
export interface Member {
  /** How the member is connected, shown to others. */
  readonly via: Via;
  /** Where it connects from, for the log. */
  readonly address?: string;
  /** True for a member connected to another node of the service (`cluster.ts`). */
  readonly remote?: boolean;
  /**
   * True while its page is closed and its seat kept for a reload (`session.ts`):
   * it is sent nothing until the reload takes the seat back.
   */
  readonly parting?: boolean;
  /** Delivers an event. Must not throw and must not block. */
  send(event: ServerEvent): void;
  /** Ends the connection after what was sent. Idempotent. */
  close(): void;
}

/** Private messages kept per seat (in memory only) for a rejoin to replay. */
export const PRIVATE_KEEP = 100;

/**
 * Requests an IRC client may make without paying as it connects: entering
 * its rooms and asking each one's member list, topic and history, three
 * times the rooms it may be in.
 */
export const CONNECT_CREDIT = 3 * MEMBER_ROOMS_MAX;

/**
 * One person's place under one nickname. The nickname and the connection
 * change only through the {@linkcode Roster} that holds the seat, so that
 * its indexes follow.
 */
export class Seat {
  #member: Member;
  #nick: string;
  #key: string;
  #token: string;
  /** Recent private messages to or from this seat, for a rejoin with `since`. */
  readonly privates: BoundedLog = new BoundedLog(PRIVATE_KEEP);
  /** Flood control for what the member sends. */
  readonly bucket: TokenBucket;
  /** Refusals for flooding since the last accepted action. */
  strikes = 0;
  /**
   * What the member may still ask without paying from its bucket: the rooms,
   * lists and topics an IRC client asks for as it connects (it joins its
   * channels one by one after registering, and asks each one's WHO and
   * MODE). A page names its rooms in its `join`, and a terminal has none to
   * rejoin, so theirs is 0. Spent once, never refilled; chat and leaving
   * rooms never draw on it, so a join-and-part loop is flooding all the same.
   */
  credit: number;
  /** Set while the member says it is away (IRC's `AWAY`), with why. */
  away: string | undefined;
  /** The rooms it is in, by key, in the order entered. Only a {@linkcode Room} changes it. */
  readonly rooms = new Map<string, Room>();
  /** What it said that is still on its way to the store (`--redis`), each settling once stored or refused. */
  readonly posting = new Pending();
  /**
   * What it said that is still waiting for its id from Redis (room lines
   * and private messages), each settling once it has one or was refused: a
   * private message takes its id after these (`--redis`).
   */
  readonly numbering = new Pending();
  /**
   * What a room line it says waits for before it goes to Redis (`--redis`):
   * its private messages' hand-on and what was told of it (a part, a join,
   * a topic, a nickname, away), each settling once Redis has it or refused
   * it. Ids, and so every node's order, follow the order it did things in.
   */
  readonly ahead = new Pending();
  /** The id of the last room message it said that was stored (`--redis`). */
  lastPosted = 0;
  /**
   * The last of its lines this node was last waited on to show (`Hub.posting`),
   * and that wait: settled once the feed brought it here, or gave up.
   */
  shown: { to: number; done: Promise<void> } = { to: 0, done: Promise.resolve() };
  /**
   * The ids of the private messages from other nodes kept for it while its
   * page was closed (`Member.parting`, `--redis`), at most as many as
   * {@linkcode privates} holds: a reload that takes the seat back on
   * another node is handed them.
   */
  readonly kept = new Set<number>();

  constructor(member: Member, nick: string, token: string, bucket: TokenBucket) {
    this.#member = member;
    this.#nick = nick;
    this.#key = nickKey(nick);
    this.#token = token;
    this.bucket = bucket;
    this.credit = member.via === "irc" ? CONNECT_CREDIT : 0;
  }

  /**
   * Given only to this member (in `welcome`): proof that a rejoin is theirs.
   * A new one with every take-back, so a token seen once (in a log, over a
   * shoulder, by a connection that has since lost the seat) opens it no more.
   */
  get token(): string {
    return this.#token;
  }

  /** The connection in the seat now. */
  get member(): Member {
    return this.#member;
  }

  /** The nickname as its owner typed it (normalized). */
  get nick(): string {
    return this.#nick;
  }

  /** The nickname's identity: see `nickKey`. */
  get key(): string {
    return this.#key;
  }

  /** Changes the nickname. Only the roster calls it, re-indexing the seat. */
  renameTo(nick: string): void {
    this.#nick = nick;
    this.#key = nickKey(nick);
  }

  /**
   * Puts another connection in the seat, with a new token: a rejoin with the
   * old one. Strikes are the old connection's; the bucket stays, so a rejoin
   * buys no tokens. Only the roster calls it, re-indexing the seat.
   */
  moveTo(member: Member, token: string): void {
    this.#member = member;
    this.#token = token;
    this.strikes = 0;
    this.kept.clear();
  }
}

/** The first `max` seats as a member list shows them. */
export function memberList(seats: Iterable<Seat>, max = Infinity): MemberInfo[] {
  const list: MemberInfo[] = [];
  for (const seat of seats) {
    if (list.length >= max) break;
    list.push({ nick: seat.nick, via: seat.member.via });
  }
  return list;
}
