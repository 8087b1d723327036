/**
 * Who is seated server-wide, found by connection or by nickname: one
 * nickname per person, wherever they sit (each room keeps its own seats in
 * order, with their lists: `room.ts`), as ssh-chat's `chat/room.go` hands
 * membership to `chat/set.go`. Every change goes through
 * {@linkcode Roster.add}, {@linkcode Roster.takeBack},
 * {@linkcode Roster.rename} or {@linkcode Roster.remove}, so both indexes
 * stay in step.
 *
 * @module
 */

import type { Checked } from "../../common/message.ts";
import { checkNick, nickKey } from "../../common/nick.ts";
import type { Member, Seat } from "./seat.ts";

/** The seats, in the order they were taken, indexed by connection and nickname. */
export class Roster {
  /** In order of joining: a `Map` keeps insertion order. */
  readonly #byMember = new Map<Member, Seat>();
  readonly #byKey = new Map<string, Seat>();
  /** Seats of members of other nodes (`cluster.ts`). */
  #remotes = 0;

  /** How many seats are taken. */
  get size(): number {
    return this.#byMember.size;
  }

  /** The seat a connection holds, if any. */
  seatOf(member: Member): Seat | undefined {
    return this.#byMember.get(member);
  }

  /** The seat under a nickname as typed: any case or look-alike of it, spaces around ignored. */
  /** The seat whose nickname folds to `key` (`nickKey`), if any. */
  byKey(key: string): Seat | undefined {
    return this.#byKey.get(key);
  }

  find(nick: string): Seat | undefined {
    return this.#byKey.get(nickKey(nick.trim()));
  }

  /**
   * The nickname a member may go by, normalized, or why not: it breaks the
   * nickname rules, or another seat holds it. The seat's `token` lets a
   * rejoin claim the nickname its seat holds; a member's own nickname in
   * another case is its to take.
   */
  claim(requested: string, member: Member, token?: string): Checked<"nick_invalid" | "nick_taken"> {
    const nick = checkNick(requested);
    if (!nick.ok) return nick;
    const holder = this.find(nick.value);
    if (holder && holder.member !== member && (token === undefined || token !== holder.token)) {
      return {
        ok: false,
        code: "nick_taken",
        reason: `Nickname "${holder.nick}" is taken. Try another.`,
      };
    }
    return nick;
  }

  /** The seats in the order they were taken. */
  [Symbol.iterator](): IterableIterator<Seat> {
    return this.#byMember.values();
  }

  /** Seats a newcomer last. Its nickname must be free (the caller has checked). */
  /** How many seats are of members of other nodes. */
  get remotes(): number {
    return this.#remotes;
  }

  add(seat: Seat): void {
    if (seat.member.remote) this.#remotes++;
    this.#byMember.set(seat.member, seat);
    this.#byKey.set(seat.key, seat);
  }

  /**
   * Moves a seat to another connection (a rejoin with its token), under a
   * new `token`. The old connection no longer holds it; the seat counts as
   * taken last.
   */
  takeBack(seat: Seat, member: Member, token: string): void {
    this.#byMember.delete(seat.member);
    this.#remotes += (member.remote ? 1 : 0) - (seat.member.remote ? 1 : 0);
    seat.moveTo(member, token);
    this.#byMember.set(member, seat);
  }

  /** Gives a seat another nickname. It must be free, or a case variant of the seat's own. */
  rename(seat: Seat, nick: string): void {
    this.#byKey.delete(seat.key);
    seat.renameTo(nick);
    this.#byKey.set(seat.key, seat);
  }

  /** Frees a seat and its nickname. Idempotent. */
  remove(seat: Seat): void {
    if (this.#byMember.get(seat.member) !== seat) return;
    if (seat.member.remote) this.#remotes--;
    this.#byMember.delete(seat.member);
    this.#byKey.delete(seat.key);
  }
}
