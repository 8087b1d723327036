/**
 * One open connection as the server counts and lists it: its place against
 * `--max-per-ip` and `--max-clients` ({@linkcode ConnectionLimits}, which
 * hands them out) and its line in the operator's `/who`. A slot is taken as
 * the socket is accepted (`listener.ts`), whatever the transport, and freed
 * once, when the socket is closed; in between it follows the socket: an HTTP
 * connection that becomes a WebSocket hands it to its session
 * (`session.ts`), which owns it from then on and answers for it (its
 * nickname, its queued bytes, how to close it).
 *
 * So the list the console shows is the caps' own count: a connection cannot
 * be counted and not listed, or listed after it is gone.
 *
 * @module
 */

import type { Via } from "../../common/protocol.ts";
import { clientAddress, network } from "../address.ts";

/** Who answers for a connection: the socket's owner (its session, once it has one). */
export interface SlotOwner {
  /** The member's nickname, once it has joined. */
  readonly nick?: string | undefined;
  /** Bytes queued for the peer and not yet taken. */
  readonly backlog?: number;
  /** Ends the connection (its owner says goodbye its own way, if it has one). */
  close(): void;
}

/** One open connection, from accept to close: see the module doc. */
export class Slot {
  /** How it is connected: the port it came in on. */
  readonly via: Via;
  /** The peer's IP address, in one spelling (`clientAddress`). */
  readonly address: string;
  /** What it is counted under against `--max-per-ip`: its address, or an IPv6 address's /64. */
  readonly network: string;
  /** When it was accepted, in milliseconds since the epoch. */
  readonly since: number;
  readonly #now: () => number;
  readonly #free: (slot: Slot) => void;
  #owner: SlotOwner;
  #heard: number;
  #released = false;

  /** Made by `ConnectionLimits.open()`, which `free` tells when it is released. */
  constructor(
    via: Via,
    address: string,
    owner: SlotOwner,
    now: () => number,
    free: (slot: Slot) => void,
  ) {
    this.via = via;
    this.address = clientAddress(address);
    this.network = network(this.address);
    this.#owner = owner;
    this.#now = now;
    this.#free = free;
    this.since = this.#heard = now();
  }

  /** When the peer last asked for something (a command, a request); `since` if never. */
  get heard(): number {
    return this.#heard;
  }

  /** Its member's nickname, or undefined before it has joined. */
  get nick(): string | undefined {
    return this.#owner.nick;
  }

  /** Bytes queued for the peer and not yet taken. */
  get queued(): number {
    return this.#owner.backlog ?? 0;
  }

  /** False once released. */
  get open(): boolean {
    return !this.#released;
  }

  /** The peer asked for something just now. */
  heardFrom(): void {
    this.#heard = this.#now();
  }

  /** Hands the connection to a new owner (a socket to its session). */
  own(owner: SlotOwner): void {
    this.#owner = owner;
  }

  /** Ends the connection, as its owner ends it. */
  close(): void {
    this.#owner.close();
  }

  /** The socket is closed: frees its place. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#free(this);
  }
}
