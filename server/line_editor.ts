/**
 * A one-line editor for the operator's console, as shells and linenoise have
 * it, so the operator can type while the rooms are busy: a line arriving
 * while one is being typed is printed above it, and the prompt and what was
 * typed are drawn again under it, the cursor where it was.
 *
 * Keys: printable text is inserted at the cursor; Backspace, Delete (and
 * Ctrl-D on a line that is not empty), ←/→ (Ctrl-B/Ctrl-F), Home/End
 * (Ctrl-A/Ctrl-E), Ctrl-U (erase to the start), Ctrl-K (to the end), Ctrl-W
 * (the word before), ↑/↓ (the lines entered before), Enter. Ctrl-D on an
 * empty line ends input; Ctrl-C (when it reaches the editor at all, not as
 * a signal) is an interrupt. The cursor moves by grapheme cluster and draws
 * by terminal columns (`columns.ts`), so 中文, accents and emoji edit as
 * one character each.
 *
 * A line longer than the terminal scrolls sideways, as linenoise's
 * single-line mode does: only the row the cursor is on is ever drawn, so
 * clearing it is one `\r` and `ESC [K`, and nothing typed is wrapped onto a
 * row that would then be left behind.
 *
 * Pure: keys in (decoded text, escape sequences split anywhere), events and
 * the escape sequences to draw out; the console (`console_tty.ts`) reads the
 * terminal and writes to it.
 *
 * @module
 */

import { toOneLine } from "../common/message.ts";
import { clusters, clusterWidth, columns } from "./columns.ts";

/** What a key press amounted to, beyond editing the line. */
export type EditorEvent =
  | { type: "line"; text: string }
  /** Ctrl-D on an empty line: no more input. */
  | { type: "eof" }
  /** Ctrl-C. */
  | { type: "interrupt" }
  /** A key that could do nothing (the line is full, nothing left to erase…): ring the bell. */
  | { type: "bell" };

/** Longest line, in UTF-16 units: a 2,000-character message and its command, with room. */
export const EDITOR_MAX = 8192;

/** Lines kept for ↑ and ↓. */
export const HISTORY_KEEP = 100;

/** Longest escape sequence waited for; anything longer is dropped. */
const ESCAPE_MAX = 16;

/** `ESC [` or `ESC O` and a final byte, with parameters: the keys sent as sequences. */
// deno-lint-ignore no-control-regex -- escape sequences are what is parsed
const SEQUENCE = /^\x1b(?:\[([0-9;]*)([~A-Za-z])|O([A-Za-z]))/;

/** A start of one, not yet complete. */
// deno-lint-ignore no-control-regex -- escape sequences are what is parsed
const PARTIAL = /^\x1b(?:\[[0-9;]*|O)?$/;

/** Alt and a key, or a sequence not known here: dropped whole. */
// deno-lint-ignore no-control-regex -- escape sequences are what is parsed
const UNKNOWN = /^\x1b[[O]?[0-9;]*[^]?/;

/** A run of text with no control character in it. */
// deno-lint-ignore no-control-regex -- controls are what ends a run
const TEXT = /^[^\x00-\x1f\x7f-\x9f]+/;

/** A one-line editor: see the module doc. */
export class LineEditor {
  readonly #prompt: string;
  readonly #max: number;
  #text = "";
  /** UTF-16 offset in `#text`, always at a cluster boundary. */
  #cursor = 0;
  /** The first cluster shown, when the line is wider than the terminal. */
  #scroll = 0;
  /** An escape sequence split across reads. */
  #pending = "";
  readonly #history: string[] = [];
  /** Where ↑/↓ are in the history: its length while on the line being typed. */
  #recall = 0;
  /** The line being typed, kept while ↑ shows older ones. */
  #draft = "";

  constructor(prompt: string, max = EDITOR_MAX) {
    this.#prompt = prompt;
    this.#max = max;
  }

  /** The line as typed so far. */
  get text(): string {
    return this.#text;
  }

  /** The cursor's place in {@linkcode text}, in UTF-16 units. */
  get cursor(): number {
    return this.#cursor;
  }

  /** Takes what was typed (any part of a key's bytes, or many keys); returns what it amounted to. */
  feed(input: string): EditorEvent[] {
    const events: EditorEvent[] = [];
    let rest = this.#pending + input;
    this.#pending = "";
    let typed = "";
    const flush = () => {
      if (typed !== "") this.#insert(typed, events);
      typed = "";
    };
    while (rest.length > 0) {
      const c = rest.charCodeAt(0);
      if (c >= 0x20 && c !== 0x7f && !(c >= 0x80 && c < 0xa0)) {
        // Plain text goes in at once, a paste as one insertion.
        const run = TEXT.exec(rest)![0];
        typed += run;
        rest = rest.slice(run.length);
        continue;
      }
      flush();
      if (c === 0x1b) {
        const sequence = SEQUENCE.exec(rest);
        if (sequence) {
          this.#key(sequence[3] ?? sequence[2] ?? "", sequence[1] ?? "", events);
          rest = rest.slice(sequence[0].length);
        } else if (PARTIAL.test(rest) && rest.length < ESCAPE_MAX) {
          this.#pending = rest;
          rest = "";
        } else {
          rest = rest.slice(UNKNOWN.exec(rest)![0].length);
        }
        continue;
      }
      this.#control(c, events);
      rest = rest.slice(1);
    }
    flush();
    return events;
  }

  /** What clears the row being typed on: the cursor to column 0, the row erased. */
  clear(): string {
    return "\r\x1b[K";
  }

  /**
   * What draws the prompt and the line on the cursor's row of a terminal
   * `width` columns wide, the cursor where it is in the line.
   */
  render(width: number): string {
    const prompt = columns(this.#prompt);
    // One column is kept free: a cursor past the last column would wrap.
    const room = Math.max(1, width - prompt - 1);
    const parts = clusters(this.#text);
    const widths = parts.map(clusterWidth);
    let at = 0;
    for (let offset = 0; offset < this.#cursor; at++) offset += parts[at]!.length;
    if (at < this.#scroll) this.#scroll = at;
    const span = (from: number, to: number) => widths.slice(from, to).reduce((a, b) => a + b, 0);
    while (span(this.#scroll, at) > room) this.#scroll++;
    let end = at;
    while (end < parts.length && span(this.#scroll, end + 1) <= room) end++;
    const column = prompt + span(this.#scroll, at);
    return `\r${this.#prompt}${parts.slice(this.#scroll, end).join("")}\x1b[K\r` +
      (column > 0 ? `\x1b[${column}C` : "");
  }

  /**
   * What prints `lines` where the row being typed on was, and draws it again
   * under them: what the console writes when output comes while typing.
   */
  above(lines: readonly string[], width: number): string {
    if (lines.length === 0) return "";
    return this.clear() + lines.map((line) => `${line}\r\n`).join("") + this.render(width);
  }

  #insert(typed: string, events: EditorEvent[]): void {
    // What could reorder or restyle the operator's own screen never enters the line.
    let text = toOneLine(typed);
    const room = this.#max - this.#text.length;
    if (text.length > room) {
      events.push({ type: "bell" });
      let fit = "";
      for (const cluster of clusters(text.slice(0, room + ESCAPE_MAX))) {
        if (fit.length + cluster.length > room) break;
        fit += cluster;
      }
      text = fit;
    }
    if (text === "") return;
    this.#text = this.#text.slice(0, this.#cursor) + text + this.#text.slice(this.#cursor);
    this.#cursor = this.#boundaryAtOrAfter(this.#cursor + text.length);
  }

  /** A key sent as a sequence: `final` its last character, `params` the numbers before it. */
  #key(final: string, params: string, events: EditorEvent[]): void {
    switch (final) {
      case "C":
        return this.#move(this.#next(), events);
      case "D":
        return this.#move(this.#previous(), events);
      case "H":
        this.#cursor = 0;
        return;
      case "F":
        this.#cursor = this.#text.length;
        return;
      case "A":
        return this.#recallLine(-1, events);
      case "B":
        return this.#recallLine(1, events);
      case "~":
        if (params === "1" || params === "7") this.#cursor = 0;
        else if (params === "4" || params === "8") this.#cursor = this.#text.length;
        else if (params === "3") this.#erase(this.#cursor, this.#next(), events);
        return;
    }
  }

  #control(c: number, events: EditorEvent[]): void {
    switch (c) {
      case 0x0d: // Enter (a raw terminal sends CR)
      case 0x0a: {
        const text = this.#text;
        if (text.trim() !== "" && this.#history.at(-1) !== text) {
          this.#history.push(text);
          if (this.#history.length > HISTORY_KEEP) this.#history.shift();
        }
        this.#recall = this.#history.length;
        this.#draft = "";
        this.#set("");
        events.push({ type: "line", text });
        return;
      }
      case 0x7f: // Backspace
      case 0x08:
        return this.#erase(this.#previous(), this.#cursor, events);
      case 0x04: // Ctrl-D
        if (this.#text === "") events.push({ type: "eof" });
        else this.#erase(this.#cursor, this.#next(), events);
        return;
      case 0x03: // Ctrl-C
        this.#set("");
        events.push({ type: "interrupt" });
        return;
      case 0x01: // Ctrl-A
        this.#cursor = 0;
        return;
      case 0x05: // Ctrl-E
        this.#cursor = this.#text.length;
        return;
      case 0x02: // Ctrl-B
        return this.#move(this.#previous(), events);
      case 0x06: // Ctrl-F
        return this.#move(this.#next(), events);
      case 0x15: // Ctrl-U
        return this.#erase(0, this.#cursor, events);
      case 0x0b: // Ctrl-K
        return this.#erase(this.#cursor, this.#text.length, events);
      case 0x17: { // Ctrl-W
        const before = this.#text.slice(0, this.#cursor);
        return this.#erase(before.replace(/\S*\s*$/, "").length, this.#cursor, events);
      }
      default:
        // Tab, Ctrl-L and the rest: nothing to do; the line is drawn again anyway.
        return;
    }
  }

  #set(text: string): void {
    this.#text = text;
    this.#cursor = text.length;
    this.#scroll = 0;
  }

  #move(to: number, events: EditorEvent[]): void {
    if (to === this.#cursor) events.push({ type: "bell" });
    this.#cursor = to;
  }

  #erase(from: number, to: number, events: EditorEvent[]): void {
    if (from >= to) return void events.push({ type: "bell" });
    this.#text = this.#text.slice(0, from) + this.#text.slice(to);
    this.#cursor = from;
  }

  /** ↑ (`step` -1) and ↓ (1): an older or newer line entered, then back to the one being typed. */
  #recallLine(step: number, events: EditorEvent[]): void {
    const to = this.#recall + step;
    if (to < 0 || to > this.#history.length) return void events.push({ type: "bell" });
    if (this.#recall === this.#history.length) this.#draft = this.#text;
    this.#recall = to;
    this.#set(to === this.#history.length ? this.#draft : this.#history[to]!);
  }

  /** Where the cluster before the cursor starts (the cursor itself at the start). */
  #previous(): number {
    let last = 0;
    for (const offset of this.#boundaries()) {
      if (offset >= this.#cursor) break;
      last = offset;
    }
    return last;
  }

  /** Where the cluster after the cursor ends (the cursor itself at the end). */
  #next(): number {
    for (const offset of this.#boundaries()) if (offset > this.#cursor) return offset;
    return this.#text.length;
  }

  /** `offset`, or the next cluster boundary after it (text typed after a cluster may join it). */
  #boundaryAtOrAfter(offset: number): number {
    for (const boundary of this.#boundaries()) if (boundary >= offset) return boundary;
    return this.#text.length;
  }

  /** The offsets where clusters start, and the end. */
  *#boundaries(): IterableIterator<number> {
    let offset = 0;
    yield offset;
    for (const cluster of clusters(this.#text)) yield offset += cluster.length;
  }
}
