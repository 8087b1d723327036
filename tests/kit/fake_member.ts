/**
 * A member with no connection behind it, for tests of the room and what
 * drives it: it keeps what it is sent and counts how often it is closed.
 *
 * @module
 */

import type { ServerEvent, Via } from "../../common/protocol.ts";
import type { Member } from "../../server/hub/seat.ts";
import type { EventOf } from "./ws_client.ts";
import { Waiters } from "./waiters.ts";

/** A {@linkcode Member} that records every event and every close. */
export class FakeMember implements Member {
  /** Every event sent and not yet taken, in order. */
  readonly events: ServerEvent[] = [];
  /** How many times it was closed. */
  closed = 0;

  /** The peer's address, as a transport gives it (none by default). */
  readonly address?: string;
  readonly #waiters = new Waiters();

  constructor(readonly via: Via = "web", address?: string) {
    if (address !== undefined) this.address = address;
  }

  send(event: ServerEvent): void {
    this.events.push(event);
    this.#waiters.wake();
  }

  /** Waits for an event of `type` (matching `where`) among those not taken, received or to come. */
  until<T extends ServerEvent["type"]>(
    type: T,
    where: (event: EventOf<T>) => boolean = () => true,
  ): Promise<EventOf<T>> {
    return this.#waiters.until(
      () => this.ofType(type).find(where),
      () => `an event ${type}; events: ${JSON.stringify(this.events)}`,
    );
  }

  close(): void {
    this.closed++;
  }

  /** Returns and forgets everything received so far. */
  take(): ServerEvent[] {
    return this.events.splice(0);
  }

  /** The events of `type` received so far. */
  ofType<T extends ServerEvent["type"]>(type: T): EventOf<T>[] {
    return this.events.filter((e): e is EventOf<T> => e.type === type);
  }

  /** The codes of the errors received so far. */
  codes(): string[] {
    return this.events.flatMap((e) => e.type === "error" ? [e.code] : []);
  }
}
