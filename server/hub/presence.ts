/**
 * The presence batch: in a room past its presence limit, joins and leaves are
 * not announced one by one but gathered here and announced together, in one
 * {@linkcode PresenceEvent}, when the room summarizes (see `presenceLimit`
 * in `config.ts`'s `DEFAULTS` for why). Someone who comes and goes between two summaries is
 * never announced at all, and a summary names at most
 * {@linkcode PRESENCE_NAMES} of each while counting everyone.
 *
 * When a summary goes out, and what must wait for it, is the room's to say:
 * it asks {@linkcode PresenceBatch.owes} before a newcomer's first words and
 * summarizes before a live leave or a rename.
 *
 * @module
 */

import { PRESENCE_NAMES, type PresenceEvent } from "../../common/protocol.ts";
import { memberList, type Seat } from "./seat.ts";

/** Joins and leaves gathered since the last summary. */
export class PresenceBatch {
  readonly #limit: number;
  /** Seats that joined since the last summary, oldest first. */
  readonly #joined = new Set<Seat>();
  /** The first few who left since the last summary. */
  #left: string[] = [];
  /** How many left since the last summary. */
  #leaves = 0;

  /** `limit`: the most members for which joins and leaves are announced live. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /**
   * True if, with `size` members counting the one arriving or leaving, a
   * join or leave is gathered here instead of announced as it happens.
   */
  gathers(size: number): boolean {
    return size > this.#limit;
  }

  /** True if nothing was gathered since the last summary. */
  get empty(): boolean {
    return this.#joined.size === 0 && this.#leaves === 0;
  }

  /** True if the seat's join is gathered and not yet announced. */
  owes(seat: Seat): boolean {
    return this.#joined.has(seat);
  }

  /** Gathers a join. */
  join(seat: Seat): void {
    this.#joined.add(seat);
  }

  /** Gathers a leave; a seat that joined since the last summary is forgotten instead. */
  leave(seat: Seat): void {
    if (this.#joined.delete(seat)) return;
    this.#leaves++;
    if (this.#left.length < PRESENCE_NAMES) this.#left.push(seat.nick);
  }

  /**
   * The summary of what was gathered, at `ts` with `count` members here, and
   * a fresh start. Joins are named as the seats are called now.
   */
  take(ts: number, count: number): PresenceEvent {
    const event: PresenceEvent = {
      type: "presence",
      ts,
      joined: memberList(this.#joined, PRESENCE_NAMES),
      joins: this.#joined.size,
      left: this.#left,
      leaves: this.#leaves,
      count,
    };
    this.clear();
    return event;
  }

  /** Forgets everything gathered. */
  clear(): void {
    this.#joined.clear();
    this.#left = [];
    this.#leaves = 0;
  }
}
