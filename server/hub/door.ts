/**
 * Who may come in: the checks a join passes before any nickname is looked
 * at. A kicked member's nickname and address are turned away for a while
 * (`--kick-ban`), and joins from one address are held to a rate
 * (`--max-per-ip` at once, then `--join-rate` a second), since a
 * join-and-quit loop costs every member a line each way. Pure: the clock is
 * passed in.
 *
 * It is the hub's, not a room's: with several rooms, a ban and the join rate
 * are about the person and the address, wherever they go. An address counts
 * as its network (an IPv6 address's /64: `../address.ts`), as the caps on
 * connections do. With several nodes a ban is the service's: the node that
 * bans tells the others ({@linkcode Ban}), which {@linkcode Door.keep} it;
 * the join rate stays each node's.
 *
 * @module
 */

import type { ErrorCode } from "../../common/protocol.ts";
import { nickKey } from "../../common/nick.ts";
import { network } from "../address.ts";
import { type Ban, BAN_MS_MAX, tokenHash } from "./cluster.ts";
import { KeyedBuckets, type Rate } from "./flood.ts";

/** Why a join is turned away: sent to the member as an `error`. */
export interface Refusal {
  code: ErrorCode;
  message: string;
  /** True when trying again at once cannot help: the connection is closed. */
  fatal: boolean;
}

/** What a ban keeps an address's network under: see {@linkcode Ban}. */
function addressKey(address: string): string {
  return tokenHash(network(address));
}

/** The door of the hub: see the module doc. */
export class Door {
  readonly #joins: KeyedBuckets;
  readonly #banMs: number;
  readonly #now: () => number;
  /** Until when a kicked nickname's key, or address, may not join. */
  readonly #bans = new Map<string, number>();

  /** `joins`: per address; `banMs`: how long a kick keeps one out (0: not at all). */
  constructor(joins: Rate, banMs: number, now: () => number) {
    this.#joins = new KeyedBuckets(joins, now);
    this.#banMs = banMs;
    this.#now = now;
  }

  /** Why a join under `nick` from `address` is turned away now, or undefined to let it in. */
  check(nick: string, address: string | undefined): Refusal | undefined {
    const from = address === undefined ? undefined : network(address);
    const banned = this.#bannedFor(nick, from);
    if (banned > 0) {
      const message = `You were kicked; you can come back in ${Math.ceil(banned / 1000)} s.`;
      return { code: "banned", message, fatal: true };
    }
    return this.#take(from, "joins");
  }

  /**
   * Why a new nickname for a member at `address` is turned away now, or
   * undefined to let it be: it costs what a join does, from the same
   * budget (given back by {@linkcode notRenamed} if the name is not had).
   * Each is told to every room the member is in, and with `--redis` to
   * every node with its rooms and their topics (tens of KB for a member of
   * twenty rooms), as a join is.
   */
  rename(address: string | undefined): Refusal | undefined {
    return this.#take(
      address === undefined ? undefined : network(address),
      "joins and nickname changes",
    );
  }

  /** Takes a join from network `from`'s budget (none: no limit), or says how long to wait for one. */
  #take(from: string | undefined, what: string): Refusal | undefined {
    if (from === undefined || this.#joins.take(from)) return undefined;
    const wait = Math.max(1, Math.ceil(this.#joins.wait(from) / 1000));
    const message = `Too many ${what} from your address; try again in ${wait} s.`;
    return { code: "rate_limited", message, fatal: false };
  }

  /** Gives back what {@linkcode rename} took for a name not had after all (another node's member holds it). */
  notRenamed(address: string | undefined): void {
    if (address !== undefined) this.#joins.refund(network(address), 1);
  }

  /**
   * Charges `address` for `joins` joins more than the one it made: for a
   * join that cost more than one (a long welcome), paid into debt that its
   * next joins wait out.
   */
  charge(address: string | undefined, joins: number): void {
    if (address === undefined || joins <= 0) return;
    this.#joins.spend(network(address), joins);
  }

  /**
   * Keeps a kicked member's nickname (by key) and address out for the ban's
   * length. Returns the ban, for the other nodes; undefined if bans are off.
   */
  ban(key: string | undefined, address: string | undefined): Ban | undefined {
    if (this.#banMs <= 0) return undefined;
    const ban: Ban = { ms: this.#banMs };
    if (key !== undefined) ban.fold = key;
    if (address !== undefined) ban.address = addressKey(address);
    this.keep(ban);
    return ban;
  }

  /** Keeps out what `ban` names for as long as it says: this node's, or one another node told. */
  keep(ban: Ban): void {
    const now = this.#now();
    for (const [entry, end] of this.#bans) if (end <= now) this.#bans.delete(entry);
    const end = now + Math.min(ban.ms, BAN_MS_MAX);
    const until = (entry: string) =>
      this.#bans.set(entry, Math.max(end, this.#bans.get(entry) ?? 0));
    if (ban.fold !== undefined) until(`nick:${ban.fold}`);
    if (ban.address !== undefined) until(`address:${ban.address}`);
  }

  /** Milliseconds a join under `nick` from network `from` must still wait after a kick; 0 if none. */
  #bannedFor(nick: string, from: string | undefined): number {
    if (this.#bans.size === 0) return 0;
    const now = this.#now();
    const byNick = this.#bans.get(`nick:${nickKey(nick.trim())}`) ?? 0;
    const byAddress = from === undefined ? 0 : this.#bans.get(`address:${addressKey(from)}`) ?? 0;
    return Math.max(0, byNick - now, byAddress - now);
  }
}
