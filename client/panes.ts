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
import type { LastLine } from "./grouping.ts";

/** Most lines one room's log keeps. */
export const LOG_MAX = 1000;

/** How close to the end, in pixels, still counts as following the newest line. */
const FOLLOW_PX = 48;

/** One room's log and where it was scrolled to. */
export interface Pane {
  readonly log: HTMLOListElement;
  /** Where it was scrolled to when it was last hidden. */
  scrollTop: number;
  /** True while the reader follows the newest line: set by its scrolling, not by resizes. */
  following: boolean;
  /** Where the log was scrolled to when last looked at: a scroll above it is the reader going up. */
  top: number;
  /** True when lines came below what the reader was looking at. */
  newBelow: boolean;
  /** When the page last fetched this room's member list. */
  fetchedAt: number;
  /** Its last line, to group the next one with it and to see a new day (`grouping.ts`). */
  last: LastLine | undefined;
}

/** What the panes report to the page. */
export interface PaneHandlers {
  /** Whether the "new messages" marker should show, for the shown pane. */
  marker(show: boolean): void;
  /** The reader reached the top of the shown pane (scrolled, or wheeled up at it): older lines are wanted. */
  top?(): void;
}

/** How close to the top, in pixels, asks for older lines. */
const TOP_PX = 48;

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
      // `following` is kept by the reader's scrolling (see #adopt).
      last.scrollTop = last.log.scrollTop;
      last.log.hidden = true;
      last.log.removeAttribute("id");
    }
    this.#shown = next;
    next.log.hidden = false;
    next.log.id = "log";
    next.log.scrollTop = next.following ? next.log.scrollHeight : next.scrollTop;
    next.top = next.log.scrollTop;
    if (next.following) next.newBelow = false;
    this.#on.marker(next.newBelow);
  }

  /** Adds a line to a pane: the shown one follows it if the reader was at the end. */
  append(pane: Pane, item: HTMLLIElement): void {
    const log = pane.log;
    const inView = pane === this.#shown;
    // Whether the reader follows the newest line is what its scrolling said
    // last, not where the log stands now: a resize or a rotation moves the
    // end away without the reader doing anything.
    const follow = pane.following;
    log.append(item);
    while (log.childElementCount > LOG_MAX) log.firstElementChild?.remove();
    if (follow) {
      if (inView) atEnd(pane);
      return;
    }
    pane.newBelow = true;
    if (inView) this.#on.marker(true);
  }

  /**
   * Puts older lines at the top of a pane, oldest first, the reader's view
   * kept where it was: the lines it showed stay where they were on screen.
   */
  prepend(pane: Pane, items: readonly HTMLLIElement[]): void {
    const log = pane.log;
    const before = log.scrollHeight;
    log.prepend(...items);
    const grown = log.scrollHeight - before;
    log.scrollTop += grown;
    pane.top = log.scrollTop;
  }

  /** Jumps the shown pane to its newest line. */
  toEnd(): void {
    const pane = this.shown;
    pane.following = true;
    atEnd(pane);
    pane.newBelow = false;
    this.#on.marker(false);
  }

  #adopt(log: HTMLOListElement): Pane {
    const pane: Pane = {
      log,
      scrollTop: 0,
      following: true,
      top: 0,
      newBelow: false,
      fetchedAt: 0,
      last: undefined,
    };
    log.addEventListener("scroll", () => {
      if (pane !== this.#shown) return;
      // Up from where it was: the reader left the end (or a shorter log
      // clamped it, still at the end). At the end: following again. Lines
      // added since the page scrolled down change nothing.
      if (log.scrollTop < pane.top - 1 || following(log)) pane.following = following(log);
      pane.top = log.scrollTop;
      if (pane.following && pane.newBelow) {
        pane.newBelow = false;
        this.#on.marker(false);
      }
      if (log.scrollTop <= TOP_PX) this.#on.top?.();
    });
    // A log too short to scroll has no scroll to tell of: a wheel up at the top asks too.
    log.addEventListener("wheel", (e) => {
      if (pane === this.#shown && e.deltaY < 0 && log.scrollTop <= TOP_PX) this.#on.top?.();
    }, { passive: true });
    // Made smaller or larger (a resize, a phone turned, the keyboard shown):
    // a reader at the end stays at the end.
    new ResizeObserver(() => {
      if (pane === this.#shown && pane.following) atEnd(pane);
    }).observe(log);
    return pane;
  }
}

/** Scrolls a pane to its newest line, and remembers where that is (the browser may clamp it). */
function atEnd(pane: Pane): void {
  pane.log.scrollTop = pane.log.scrollHeight;
  pane.top = pane.log.scrollTop;
}

function following(log: HTMLElement): boolean {
  return log.scrollHeight - log.scrollTop - log.clientHeight < FOLLOW_PX;
}
