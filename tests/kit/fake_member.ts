/**
 * A member with no connection behind it, for tests of the room and what
 * drives it: it keeps what it is sent and counts how often it is closed.
 *
 * @module
 */

import type { ServerEvent, Via } from "../../common/protocol.ts";
import type { Member } from "../../server/hub/seat.ts";
import type { EventOf } from "./ws_client.ts";

/** A {@linkcode Member} that records every event and every close. */
export class FakeMember implements Member {
  /** Every event sent and not yet taken, in order. */
  readonly events: ServerEvent[] = [];
  /** How many times it was closed. */
  closed = 0;

  /** The peer's address, as a transport gives it (none by default). */
  readonly address?: string;

  constructor(readonly via: Via = "web", address?: string) {
    if (address !== undefined) this.address = address;
  }

  send(event: ServerEvent): void {
    this.events.push(event);
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
