/**
 * Which rooms a terminal member is in, and which one is current: where its
 * plain lines go, and which room's lines are shown without a name. A
 * terminal has one screen for every room, so, as in irssi's single window,
 * a line from a room other than the current one carries the room's name
 * (`[#dev] <bob> hi`) while the member is in several; in one room, lines
 * look exactly as they did before there were rooms.
 *
 * It follows the events the member is sent (`welcome`, `entered`,
 * `parted`), so it never disagrees with the hub, and it keeps the names as
 * the hub sends them. Pure: no sockets.
 *
 * @module
 */

import { LOBBY, type ServerEvent } from "../../../common/protocol.ts";
import { roomKey } from "../../../common/room_key.ts";

/** The rooms a terminal member is in and the current one. */
export class RoomView {
  /** Names by key, in the order entered. */
  readonly #rooms = new Map<string, string>();
  #current: string | undefined;

  /** The room plain lines go to; `#lobby` before any room is known. */
  get current(): string {
    return this.#current ?? LOBBY;
  }

  /** True if the member is in no room at all (after parting the last one). */
  get nowhere(): boolean {
    return this.#rooms.size === 0;
  }

  /** Where the member is, in words: "-- You are in #lobby, #dev; lines you type go to #dev." */
  where(): string {
    if (this.nowhere) return "-- You are in no room: /join #ROOM to enter one.";
    return `-- You are in ${
      [...this.#rooms.values()].join(", ")
    }; lines you type go to ${this.current}.`;
  }

  /** The name of a room the member is in, by any spelling of it; undefined if not in it. */
  find(name: string): string | undefined {
    return this.#rooms.get(roomKey(name));
  }

  /** Makes a room the member is in current. */
  switchTo(name: string): void {
    this.#current = this.find(name) ?? this.#current;
  }

  /**
   * Follows an event sent to the member. Returns the room that became
   * current because of it, if the current room changed.
   */
  follow(event: ServerEvent): { current: string | undefined } | undefined {
    switch (event.type) {
      case "welcome":
        this.#rooms.clear();
        for (const state of event.rooms) this.#rooms.set(roomKey(state.room), state.room);
        this.#current = event.room;
        return undefined;
      case "entered":
        this.#rooms.set(roomKey(event.room), event.room);
        this.#current = event.room;
        return { current: event.room };
      case "parted": {
        const key = roomKey(event.room);
        this.#rooms.delete(key);
        if (this.#current === undefined || roomKey(this.#current) !== key) return undefined;
        // Back to the room entered last of those left.
        this.#current = [...this.#rooms.values()].at(-1);
        return { current: this.#current };
      }
      default:
        return undefined;
    }
  }

  /**
   * The name an event's lines carry: its room's, when the member is in
   * several and it is not the current one; otherwise none. A refusal is
   * never labeled: it answers the line just typed, and the room it names
   * may be one the member is not in, or a refused name that would show as
   * a room (`[#a b] ! Room name cannot contain spaces.`).
   */
  label(event: ServerEvent): string | undefined {
    if (
      this.#rooms.size <= 1 || event.type === "entered" || event.type === "parted" ||
      event.type === "error"
    ) {
      return undefined;
    }
    const room = "room" in event ? event.room : undefined;
    // The hub names a live room the same way in every event: no folding
    // needed, on the path of every line to every terminal.
    return room === this.#current ? undefined : room;
  }
}
