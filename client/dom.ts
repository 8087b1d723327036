/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * The page's building blocks: elements made with text nodes only (never
 * HTML), times, and message bodies whose links are elements with checked
 * `http(s)` addresses.
 *
 * @module
 */

import { clock } from "../common/wording.ts";
import { linkify } from "./format.ts";

/** The element `selector` finds, of the expected type, or a clear failure at start. */
export function $<T extends HTMLElement>(selector: string, type: new () => T): T {
  const found = document.querySelector(selector);
  if (!(found instanceof type)) {
    throw new TypeError(`Cannot start the page: ${selector} is missing`);
  }
  return found;
}

/** A new element with a class and, optionally, text (as a text node). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A button that is a button (not a submit) with a class and, optionally, text. */
export function button(className: string, text?: string): HTMLButtonElement {
  const node = el("button", className, text);
  node.type = "button";
  return node;
}

/** `HH:MM`, with the exact time for machines. */
export function stamp(ts: number): HTMLTimeElement {
  const time = el("time", "time", clock(ts));
  time.dateTime = new Date(ts).toISOString();
  return time;
}

/** Message text, with http(s) addresses as links that open apart from the page. */
export function body(text: string): HTMLSpanElement {
  const span = el("span", "text");
  for (const part of linkify(text)) {
    if (part.kind === "text") {
      span.append(part.text);
    } else {
      const a = el("a", "", part.text);
      a.href = part.href;
      a.rel = "noopener noreferrer";
      a.target = "_blank";
      span.append(a);
    }
  }
  return span;
}
