/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * Desktop notifications, opted into: a button asks for the browser's
 * permission, and from then on (remembered in the browser) a line that
 * names you or a private message to you, arriving live while the tab is
 * hidden, shows a notification. Never for history replayed (the page only
 * asks for live messages) and never for your own lines. Clicking one brings
 * the tab forward and shows the room the line was said in.
 *
 * @module
 */

import { type ChatMessage, isOwn } from "../common/protocol.ts";

const OPT_IN_KEY = "chat.notify";

/** What the notifier asks of the page. */
export interface NotifyHandlers {
  /** Shows the room a clicked notification's line was said in (undefined: a private one). */
  show(room: string | undefined): void;
  /** Says why a click turned nothing on: the browser blocks this site's notifications. */
  blocked(): void;
}

/** The opt-in button and the notifications it allows. */
export class Notifier {
  readonly #button: HTMLButtonElement;
  readonly #on: NotifyHandlers;
  #wanted: boolean;

  constructor(button: HTMLButtonElement, handlers: NotifyHandlers) {
    this.#button = button;
    this.#on = handlers;
    this.#wanted = readOptIn();
    button.hidden = !("Notification" in globalThis);
    button.addEventListener("click", () => void this.#toggle());
    this.#draw();
  }

  /** True when notifications are wanted and allowed. */
  get on(): boolean {
    return this.#wanted && "Notification" in globalThis && Notification.permission === "granted";
  }

  /** Considers a live message that just arrived for `self`: notifies if it should. */
  consider(m: ChatMessage, self: string | undefined): void {
    if (!this.on || !document.hidden || self === undefined || isOwn(m, self)) return;
    const toMe = m.to !== undefined && m.to === self;
    if (!toMe && m.mention !== true) return;
    const title = toMe ? `${m.from} (private)` : `${m.from} in ${m.room ?? ""}`;
    const text = m.action ? `* ${m.from} ${m.text}` : m.text;
    const note = new Notification(title, { body: text, tag: `chat-${m.id}` });
    note.addEventListener("click", () => {
      globalThis.focus();
      this.#on.show(m.room);
      note.close();
    });
  }

  async #toggle(): Promise<void> {
    if (this.on) {
      this.#wanted = false;
    } else {
      const permission = Notification.permission === "granted"
        ? "granted"
        : await Notification.requestPermission();
      this.#wanted = permission === "granted";
      if (permission === "denied") this.#on.blocked();
    }
    try {
      localStorage.setItem(OPT_IN_KEY, this.#wanted ? "on" : "off");
    } catch {
      // No storage: asked again on the next visit.
    }
    this.#draw();
  }

  #draw(): void {
    const denied = "Notification" in globalThis && Notification.permission === "denied";
    this.#button.textContent = this.on ? "🔔 On" : "🔕 Notify me";
    this.#button.setAttribute("aria-pressed", String(this.on));
    this.#button.title = denied
      ? "Notifications are blocked in this browser's site settings"
      : this.on
      ? "Desktop notifications for mentions and private messages while the tab is hidden: click to stop"
      : "Show a desktop notification for mentions and private messages while the tab is hidden";
  }
}

function readOptIn(): boolean {
  try {
    return localStorage.getItem(OPT_IN_KEY) === "on";
  } catch {
    return false;
  }
}
