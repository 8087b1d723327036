/**
 * Limits that keep one connection from spoiling the service for the others:
 * the slow-consumer rule, and a counter of open connections, per address (an
 * IPv6 address's /64: `../address.ts`) and in total, which is also their list
 * (`slot.ts`). Pure: the clock is passed in. `session.ts` applies them to
 * every connection of every transport.
 *
 * @module
 */

import type { Via } from "../../common/protocol.ts";
import { counted } from "../../common/wording.ts";
import { type Config, DEFAULTS } from "../config.ts";
import { network } from "../address.ts";
import { Slot, type SlotOwner } from "./slot.ts";

/**
 * Bytes waiting to be sent to one member above which it is watched: a reader
 * that keeps up takes even a big burst or a long `/history` in milliseconds.
 */
export const QUEUE_SOFT_BYTES = 1024 * 1024;

/**
 * Bytes waiting for one member above which it is disconnected, unless the
 * peer took some of them since its queue passed the soft bound. Above the
 * largest reply a member can ask for (a welcome or `/history` of 1,000
 * messages of 2,000 CJK characters, 6.1 MB).
 */
export const QUEUE_HARD_BYTES = 8 * 1024 * 1024;

/** Bytes waiting for one member above which it is disconnected however it keeps up, so memory stays bounded. */
export const QUEUE_CEILING_BYTES = 16 * 1024 * 1024;

/** How long a member's queue may stay above the soft bound without the peer taking any of it. */
export const QUEUE_GRACE_MS = 5_000;

/**
 * The slow-consumer rule, the same for every transport. A member has
 * stopped reading, and is let go, once its outgoing queue:
 *
 * - stays above {@linkcode QUEUE_SOFT_BYTES} for {@linkcode QUEUE_GRACE_MS}
 *   without the peer taking any of it;
 * - passes {@linkcode QUEUE_HARD_BYTES} while the peer has taken none of it
 *   since the queue passed the soft bound (what it sends does not count: a
 *   peer pipelining `/history 1000` without reading sends all the while);
 * - or passes {@linkcode QUEUE_CEILING_BYTES}.
 *
 * A reader taking a long reply slowly but steadily is not let go, nor one
 * taking a big burst as it comes. The kernel tells what was taken only in
 * steps (a socket is writable again once a third of its buffer is free:
 * 1.4 MB on loopback), so a page reading 4.5 MB a second can seem to take
 * nothing for 300 ms, while a burst queues megabytes more: with 3,000 lines
 * of 2,000 CJK characters sent at once, such a page was more than 8 MB
 * behind, and was cut off at the hard bound. A peer that never reads takes
 * what its socket's buffers hold while its queue is still small, and then
 * nothing. (The member sending such a burst is held to what it reads
 * itself: `Session.readOn`.)
 */
export class SendQueueWatch {
  readonly #now: () => number;
  /** When the queue passed the soft bound, or last had some taken since; undefined while below. */
  #overSince: number | undefined;
  /** Whether the peer took some since the queue passed the soft bound. */
  #taking = false;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Some of the queue was taken by the peer: the grace starts over. */
  progress(): void {
    if (this.#overSince === undefined) return;
    this.#overSince = this.#now();
    this.#taking = true;
  }

  /** Given the bytes waiting now, true if the member must be disconnected. */
  tooSlow(queued: number): boolean {
    if (queued <= QUEUE_SOFT_BYTES) {
      this.#overSince = undefined;
      this.#taking = false;
      return false;
    }
    if (queued > QUEUE_CEILING_BYTES) return true;
    if (queued > QUEUE_HARD_BYTES && !this.#taking) return true;
    const now = this.#now();
    this.#overSince ??= now;
    return now - this.#overSince > QUEUE_GRACE_MS;
  }
}

/** Settings for {@linkcode ConnectionLimits}, named as in {@linkcode Config}. */
export type ConnectionCaps = Pick<Config, "maxPerIp" | "maxClients">;

/** The open connections, as the operator's console reads them. */
export type ConnectionList = Iterable<Slot> & Pick<ConnectionLimits, "from" | "total">;

/**
 * Counts open connections, every transport together, and lists them: each
 * is a {@linkcode Slot}, held from accept to close.
 */
export class ConnectionLimits {
  readonly #caps: ConnectionCaps;
  readonly #now: () => number;
  /** Open connections by the network they count under (`network()`). */
  readonly #byNetwork = new Map<string, Set<Slot>>();
  #total = 0;

  /** `now`, the clock of each slot's times. */
  constructor(caps: Partial<ConnectionCaps> = {}, now: () => number = Date.now) {
    this.#caps = {
      maxPerIp: caps.maxPerIp ?? DEFAULTS.maxPerIp,
      maxClients: caps.maxClients ?? DEFAULTS.maxClients,
    };
    this.#now = now;
  }

  /** Open connections now. */
  get total(): number {
    return this.#total;
  }

  /**
   * Counts a new connection from `address`, on the `via` port, which `owner`
   * closes. Returns its slot, whose release frees it (idempotent), or a
   * sentence for the client saying why it is refused.
   */
  open(address: string, via: Via, owner: SlotOwner): Slot | string {
    const mine = this.#byNetwork.get(network(address));
    if (this.#total >= this.#caps.maxClients) {
      return `The server is full (${
        counted(this.#caps.maxClients, "connection")
      }). Try again later.`;
    }
    if ((mine?.size ?? 0) >= this.#caps.maxPerIp) {
      return `Too many connections from your address (at most ${this.#caps.maxPerIp}).`;
    }
    const slot = new Slot(via, address, owner, this.#now, (gone) => this.#free(gone));
    if (mine) mine.add(slot);
    else this.#byNetwork.set(slot.network, new Set([slot]));
    this.#total++;
    return slot;
  }

  /** Every open connection, those of one network together, each network's in the order accepted. */
  *[Symbol.iterator](): IterableIterator<Slot> {
    for (const slots of this.#byNetwork.values()) yield* slots;
  }

  /**
   * The open connections counted with `address` (an address, or a network
   * as `network()` writes it): its network's, in the order accepted.
   */
  from(address: string): Slot[] {
    return [...this.#byNetwork.get(network(address)) ?? []];
  }

  #free(slot: Slot): void {
    const mine = this.#byNetwork.get(slot.network);
    if (!mine?.delete(slot)) return;
    this.#total--;
    if (mine.size === 0) this.#byNetwork.delete(slot.network);
  }
}
