/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * One log per room, each its own `<ol>`, of which only the shown room's is
 * in view (and carries the id `log`). A hidden log is never announced by a
 * screen reader, and showing one announces nothing: only lines added to
 * the shown room are read out, as before rooms.
 *
 * A hidden element loses its scroll position, so each pane remembers it:
 * where the reader was, or that they were following the newest line (then
 * a room shown again opens at its newest line). A log holds at most
 * {@linkcode LOG_MAX} lines; the oldest go first.
 *
 * @module
 */

import { el } from "./dom.ts";

/** Most lines one room's log keeps. */
export const LOG_MAX = 1000;

/** How close to the end, in pixels, still counts as following the newest line. */
const FOLLOW_PX = 48;

/** One room's log and where it was scrolled to. */
export interface Pane {
  readonly log: HTMLOListElement;
  /** Where it was scrolled to when it was last hidden. */
  scrollTop: number;
  /** True when it was following the newest line. */
  following: boolean;
  /** True when lines came below what the reader was looking at. */
  newBelow: boolean;
  /** When the page last fetched this room's member list. */
  fetchedAt: number;
}

/** What the panes report to the page. */
export interface PaneHandlers {
  /** Whether the "new messages" marker should show, for the shown pane. */
  marker(show: boolean): void;
}

/** The panes of every room, in one container, one shown at a time. */
export class Panes {
  readonly #box: HTMLElement;
  readonly #on: PaneHandlers;
  readonly #panes = new Map<string, Pane>();
  #shown: Pane | undefined;

  /**
   * `box` holds the logs; `nowhere` is the log shown in no room (it
   * keeps its place in the page for the notices and private messages
   * that come while the page is in none).
   */
  constructor(box: HTMLElement, nowhere: HTMLOListElement, handlers: PaneHandlers) {
    this.#box = box;
    this.#on = handlers;
    this.#panes.set("", this.#adopt(nowhere));
    this.show("");
  }

  /** The pane of room `key` ("" for no room), made on first use. */
  pane(key: string): Pane {
    let pane = this.#panes.get(key);
    if (pane === undefined) {
      const log = el("ol", "log");
      log.setAttribute("aria-label", "Messages");
      log.setAttribute("aria-live", "polite");
      log.setAttribute("aria-relevant", "additions");
      log.tabIndex = 0;
      log.hidden = true;
      this.#box.append(log);
      pane = this.#adopt(log);
      this.#panes.set(key, pane);
    }
    return pane;
  }

  /** The pane in view. */
  get shown(): Pane {
    return this.#shown ?? this.pane("");
  }

  /** Drops room `key`'s pane and its lines. */
  drop(key: string): void {
    const pane = this.#panes.get(key);
    if (key === "" || pane === undefined) return;
    if (pane === this.#shown) this.show("");
    pane.log.remove();
    this.#panes.delete(key);
  }

  /** Shows room `key`'s pane where it was left. */
  show(key: string): void {
    const next = this.pane(key);
    const last = this.#shown;
    if (next === last) return;
    if (last !== undefined) {
      last.scrollTop = last.log.scrollTop;
      last.following = following(last.log);
      last.log.hidden = true;
      last.log.removeAttribute("id");
    }
    this.#shown = next;
    next.log.hidden = false;
    next.log.id = "log";
    next.log.scrollTop = next.following ? next.log.scrollHeight : next.scrollTop;
    if (next.following) next.newBelow = false;
    this.#on.marker(next.newBelow);
  }

  /** Adds a line to a pane: the shown one follows it if the reader was at the end. */
  append(pane: Pane, item: HTMLLIElement): void {
    const log = pane.log;
    const inView = pane === this.#shown;
    const follow = inView ? following(log) : pane.following;
    log.append(item);
    while (log.childElementCount > LOG_MAX) log.firstElementChild?.remove();
    if (follow) {
      if (inView) log.scrollTop = log.scrollHeight;
      return;
    }
    pane.newBelow = true;
    if (inView) this.#on.marker(true);
  }

  /** Jumps the shown pane to its newest line. */
  toEnd(): void {
    const pane = this.shown;
    pane.log.scrollTop = pane.log.scrollHeight;
    pane.newBelow = false;
    this.#on.marker(false);
  }

  #adopt(log: HTMLOListElement): Pane {
    const pane: Pane = { log, scrollTop: 0, following: true, newBelow: false, fetchedAt: 0 };
    log.addEventListener("scroll", () => {
      if (pane === this.#shown && following(log) && pane.newBelow) {
        pane.newBelow = false;
        this.#on.marker(false);
      }
    });
    return pane;
  }
}

function following(log: HTMLElement): boolean {
  return log.scrollHeight - log.scrollTop - log.clientHeight < FOLLOW_PX;
}
