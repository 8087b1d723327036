/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * The search box and its answers: a search of the rooms the page is in
 * (the server folds the text as nicknames are, and answers with the newest
 * 50), listed in a modal dialog, newest first; a click on one shows it in
 * its context (`history` with `around` its id, labeled so the answer is
 * told apart from a `/history`), highlighted, and from there the room.
 *
 * A `/search` typed in the message box answers here too.
 *
 * @module
 */

import type {
  ChatError,
  ChatMessage,
  ClientMessage,
  HistoryEvent,
  SearchEvent,
} from "../common/protocol.ts";
import { dateClock } from "../common/wording.ts";
import { body, button, el } from "./dom.ts";

/** Messages shown around a find: 10 before, the find, 10 after. */
const CONTEXT = 21;
/** What a context's `history` request is labeled with, before the message id. */
const CONTEXT_LABEL = "context:";

/** What the search panel asks of the page. */
export interface SearchHandlers {
  /** Sends a frame; false if it could not be (offline). */
  send(message: ClientMessage): boolean;
  /** Shows a room, entering it if need be. */
  go(room: string): void;
}

/** The search's elements. */
export interface SearchParts {
  form: HTMLFormElement;
  text: HTMLInputElement;
  dialog: HTMLDialogElement;
  note: HTMLElement;
  list: HTMLOListElement;
  back: HTMLButtonElement;
  goTo: HTMLButtonElement;
}

/** The search box, its results and a result's context. */
export class SearchPanel {
  readonly #parts: SearchParts;
  readonly #on: SearchHandlers;
  #asked = 0;
  #results: SearchEvent | undefined;
  /** The find whose context is shown or awaited. */
  #found: ChatMessage | undefined;

  constructor(parts: SearchParts, handlers: SearchHandlers) {
    this.#parts = parts;
    this.#on = handlers;
    parts.form.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = parts.text.value.trim();
      if (text !== "") this.ask(text);
    });
    parts.back.addEventListener("click", () => {
      if (this.#results) this.show(this.#results);
    });
    parts.goTo.addEventListener("click", () => {
      const room = this.#found?.room;
      parts.dialog.close();
      if (room !== undefined) this.#on.go(room);
    });
  }

  /** True while the dialog is open. */
  get isOpen(): boolean {
    return this.#parts.dialog.open;
  }

  /** Searches the page's rooms for `text`. */
  ask(text: string): void {
    const label = `search:${++this.#asked}`;
    this.#open("Searching…");
    if (!this.#on.send({ type: "search", text, label })) {
      this.#open("Offline: try again once online.");
    }
  }

  /**
   * Shows a search's answer: the page's own latest, or one to a `/search`
   * typed in the message box (unlabeled). An older answer is dropped.
   */
  show(event: SearchEvent): void {
    if (event.label !== undefined && event.label !== `search:${this.#asked}`) return;
    this.#results = event;
    this.#found = undefined;
    const n = event.messages.length;
    this.#open(
      n === 0
        ? `No messages found for "${event.text}".`
        : `${n} ${n === 1 ? "message" : "messages"} found for "${event.text}", newest first.`,
    );
    this.#parts.list.replaceChildren(...event.messages.map((m) => {
      const item = el("li", "");
      const pick = button("found");
      pick.append(...line(m, true));
      pick.addEventListener("click", () => this.#context(m));
      item.append(pick);
      return item;
    }));
    this.#parts.back.hidden = true;
    this.#parts.goTo.hidden = true;
  }

  /**
   * Takes a `history` answer if it is the context asked for here (true),
   * and shows it with the find highlighted.
   */
  take(event: HistoryEvent): boolean {
    if (!event.label?.startsWith(CONTEXT_LABEL)) return false;
    const found = this.#found;
    if (found === undefined || event.label !== `${CONTEXT_LABEL}${found.id}`) return true;
    const { list, note } = this.#parts;
    note.textContent = `In ${found.room ?? ""}, around ${found.from}'s line:`;
    let shown: HTMLLIElement | undefined;
    list.replaceChildren(...event.messages.map((m) => {
      const item = el("li", m.id === found.id ? "context found" : "context");
      item.dataset.id = String(m.id);
      item.append(...line(m, false));
      if (m.id === found.id) {
        item.setAttribute("aria-current", "true");
        shown = item;
      }
      return item;
    }));
    shown?.scrollIntoView({ block: "center" });
    return true;
  }

  /**
   * Takes a refusal of a request asked here (true): of the latest search,
   * or of a find's context, shown where the answer would have been.
   */
  refused(event: ChatError): boolean {
    const { label } = event;
    if (label === undefined) return false;
    if (label.startsWith(CONTEXT_LABEL)) {
      if (label === `${CONTEXT_LABEL}${this.#found?.id}`) {
        this.#parts.note.textContent = event.message;
      }
      return true;
    }
    if (!label.startsWith("search:")) return false;
    if (label === `search:${this.#asked}`) this.#open(event.message);
    return true;
  }

  /** Asks for the messages around a find. */
  #context(m: ChatMessage): void {
    if (m.room === undefined) return;
    this.#found = m;
    const { note, list, back, goTo } = this.#parts;
    note.textContent = "Loading…";
    list.replaceChildren();
    back.hidden = false;
    goTo.hidden = false;
    goTo.textContent = `Go to ${m.room}`;
    this.#on.send({
      type: "history",
      room: m.room,
      around: m.id,
      count: CONTEXT,
      label: `${CONTEXT_LABEL}${m.id}`,
    });
  }

  #open(note: string): void {
    const { dialog } = this.#parts;
    this.#parts.note.textContent = note;
    this.#parts.list.replaceChildren();
    this.#parts.back.hidden = true;
    this.#parts.goTo.hidden = true;
    if (!dialog.open) dialog.showModal();
  }
}

/** A message's parts as a line: when (with the date), where (for a find), who, what. */
function line(m: ChatMessage, withRoom: boolean): Node[] {
  const time = el("time", "time", dateClock(m.ts));
  time.dateTime = new Date(m.ts).toISOString();
  const parts: Node[] = [time];
  if (withRoom) parts.push(el("span", "where", m.room ?? ""));
  parts.push(el("span", "from", m.action ? `* ${m.from}` : m.from), body(m.text));
  return parts;
}
