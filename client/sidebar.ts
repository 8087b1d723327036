/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * The room sidebar and the room browser, drawn from `rooms.ts`'s state.
 *
 * The sidebar is updated in place, item by item, never rebuilt: a room
 * button that has keyboard focus keeps it while counts change around it.
 * Each room's button says in its accessible name what its badges show
 * ("#dev, 3 unread, mentions you").
 *
 * @module
 */

import type { RoomsEvent } from "../common/protocol.ts";
import { button, el } from "./dom.ts";
import type { RoomSet, RoomView } from "./rooms.ts";

/** What the sidebar asks of the page. */
export interface SidebarHandlers {
  /** Show this room. */
  show(room: RoomView): void;
  /** Leave this room. */
  leave(room: RoomView): void;
}

/** The sidebar's elements. */
export interface SidebarParts {
  list: HTMLUListElement;
  /** The narrow screen's drawer toggle, and its badge of unread lines in every room. */
  toggle: HTMLButtonElement;
  badge: HTMLElement;
}

/** The list of rooms, with unread counts and mention markers. */
export class Sidebar {
  readonly #parts: SidebarParts;
  readonly #on: SidebarHandlers;
  readonly #items = new Map<string, { item: HTMLLIElement; go: HTMLButtonElement }>();

  constructor(parts: SidebarParts, handlers: SidebarHandlers) {
    this.#parts = parts;
    this.#on = handlers;
  }

  /** Draws `rooms`: new ones added at the end, gone ones removed, every badge brought up to date. */
  draw(rooms: RoomSet): void {
    const list = rooms.list();
    const keys = new Set(list.map((r) => r.key));
    for (const [key, { item }] of this.#items) {
      if (keys.has(key)) continue;
      item.remove();
      this.#items.delete(key);
    }
    for (const room of list) {
      let entry = this.#items.get(room.key);
      if (entry === undefined) {
        entry = this.#item(room);
        this.#parts.list.append(entry.item);
        this.#items.set(room.key, entry);
      }
      drawRoom(room, entry.go, room === rooms.current);
    }
    const totals = rooms.totals();
    const badge = this.#parts.badge;
    badge.hidden = totals.unread === 0;
    badge.textContent = totals.mention ? `@${totals.unread}` : String(totals.unread);
    this.#parts.toggle.classList.toggle("mentioned", totals.mention);
    this.#parts.toggle.setAttribute(
      "aria-label",
      totals.unread === 0
        ? "Rooms"
        : `Rooms, ${totals.unread} unread${totals.mention ? ", mentions you" : ""}`,
    );
  }

  #item(room: RoomView): { item: HTMLLIElement; go: HTMLButtonElement } {
    const item = el("li", "room-item");
    const go = button("room");
    go.addEventListener("click", () => this.#on.show(room));
    const part = button("part", "×");
    part.setAttribute("aria-label", `Leave ${room.name}`);
    part.title = `Leave ${room.name}`;
    part.addEventListener("click", () => this.#on.leave(room));
    item.append(go, part);
    return { item, go };
  }
}

function drawRoom(room: RoomView, go: HTMLButtonElement, shown: boolean): void {
  if (shown) go.setAttribute("aria-current", "page");
  else go.removeAttribute("aria-current");
  go.classList.toggle("unread", room.unread > 0);
  const parts = [el("span", "name", room.name)];
  if (room.mention) parts.push(el("span", "mention", "@"));
  if (room.unread > 0) {
    parts.push(el("span", "badge", room.unread > 99 ? "99+" : String(room.unread)));
  }
  go.replaceChildren(...parts);
  const said = [room.name];
  if (room.unread > 0) said.push(`${room.unread} unread`);
  if (room.mention) said.push("mentions you");
  go.setAttribute("aria-label", said.join(", "));
}

/** What the room browser asks of the page. */
export interface BrowserHandlers {
  /** Ask the server for the room list (answered with a `rooms` event). */
  ask(): void;
  /** Show this room, entering it first if the page is not in it. */
  go(room: string): void;
  /** Whether the page is in this room. */
  isIn(room: string): boolean;
}

/** The room browser's elements. */
export interface BrowserParts {
  dialog: HTMLDialogElement;
  filter: HTMLInputElement;
  note: HTMLElement;
  list: HTMLUListElement;
}

/**
 * The live rooms, in a modal dialog (focus stays in it, Escape closes it):
 * name, how many are in each, topic, and a filter over names and topics.
 */
export class RoomBrowser {
  readonly #parts: BrowserParts;
  readonly #on: BrowserHandlers;
  #listed: RoomsEvent | undefined;

  constructor(parts: BrowserParts, handlers: BrowserHandlers) {
    this.#parts = parts;
    this.#on = handlers;
    parts.filter.addEventListener("input", () => {
      if (this.#listed) this.show(this.#listed);
    });
  }

  /** True while the dialog is open. */
  get isOpen(): boolean {
    return this.#parts.dialog.open;
  }

  /** Opens the dialog and asks for the list. */
  open(): void {
    const { dialog, filter, note, list } = this.#parts;
    this.#listed = undefined;
    note.textContent = "Loading…";
    list.replaceChildren();
    filter.value = "";
    if (!dialog.open) dialog.showModal();
    this.#on.ask();
  }

  /** Shows the server's answer, if the dialog is still open. */
  show(event: RoomsEvent): void {
    this.#listed = event;
    const { dialog, filter, note, list } = this.#parts;
    if (!dialog.open) return; // closed before the answer came
    const wanted = filter.value.trim().toLowerCase();
    const shown = event.rooms.filter((r) =>
      wanted === "" || r.room.toLowerCase().includes(wanted) ||
      (r.topic ?? "").toLowerCase().includes(wanted)
    );
    const total = event.total.toLocaleString("en");
    note.textContent = event.rooms.length < event.total
      ? `The ${event.rooms.length} biggest of ${total} rooms.`
      : `${total} ${event.total === 1 ? "room" : "rooms"}.`;
    if (wanted !== "" && event.rooms.length > 0) {
      note.textContent += shown.length === 0
        ? " None match."
        : ` ${shown.length.toLocaleString("en")} ${shown.length === 1 ? "matches" : "match"}.`;
    }
    list.replaceChildren(...shown.map((r) => {
      const item = el("li", "");
      const go = button("listed-room");
      const isIn = this.#on.isIn(r.room);
      const here = `${r.members.toLocaleString("en")} here`;
      go.append(
        el("span", "name", r.room),
        el("span", "here", here),
        el("span", "topic", r.topic ?? ""),
      );
      go.setAttribute(
        "aria-label",
        `${isIn ? "Show" : "Enter"} ${r.room}, ${here}${r.topic ? `: ${r.topic}` : ""}`,
      );
      go.classList.toggle("joined", isIn);
      go.addEventListener("click", () => {
        dialog.close();
        this.#on.go(r.room);
      });
      item.append(go);
      return item;
    }));
  }
}
