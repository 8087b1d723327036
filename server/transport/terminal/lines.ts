/**
 * How a terminal's byte stream becomes lines of text: line ends of every
 * kind, UTF-8 decoded per line, erase characters applied, a bound on length.
 * Used by terminal connections and the operator console.
 *
 * @module
 */

/**
 * Longest terminal input line, in bytes before decoding. Room for a message of
 * {@linkcode MESSAGE_MAX} characters of CJK text (3 bytes each) plus a command.
 */
export const LINE_MAX_BYTES = 8192;

/** What a terminal user is told when {@linkcode LineDecoder} drops a line. */
export function lineTooLong(limit: number): string {
  return `Line too long (more than ${limit} bytes); it was dropped.`;
}

/** One event from {@linkcode LineDecoder.push}. */
export type LineEvent =
  | { type: "line"; text: string }
  | { type: "too_long"; limit: number };

const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;
const BS = 0x08;
const DEL = 0x7f;

/**
 * Turns a terminal's byte stream into lines of text.
 *
 * A line ends at LF, CR, CRLF or CR NUL (what telnet sends for a bare CR).
 * Lines are assembled as bytes and decoded whole, so a character split across
 * two reads arrives intact; invalid UTF-8 becomes U+FFFD. Backspace and DEL
 * erase the character before them, as a terminal in character mode expects.
 * A line longer than `maxBytes` is reported once and its remainder is skipped
 * without being buffered.
 */
export class LineDecoder {
  readonly #max: number;
  readonly #decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
  #buf: Uint8Array;
  #len = 0;
  #afterCR = false;
  #skipping = false;
  readonly #erase: boolean;

  /**
   * `erase: false` keeps backspace and DEL as they came (an IRC client's
   * lines are not typed at a terminal in character mode).
   */
  constructor(maxBytes: number = LINE_MAX_BYTES, { erase = true }: { erase?: boolean } = {}) {
    this.#max = maxBytes;
    this.#erase = erase;
    this.#buf = new Uint8Array(Math.min(256, maxBytes));
  }

  /** Feeds bytes; returns the lines (and overflow reports) they complete. */
  push(chunk: Uint8Array): LineEvent[] {
    const events: LineEvent[] = [];
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.#afterCR) {
        this.#afterCR = false;
        if (b === LF || b === NUL) {
          start = i + 1;
          continue;
        }
      }
      if (b !== LF && b !== CR) continue;
      this.#append(chunk, start, i, events);
      this.#afterCR = b === CR;
      start = i + 1;
      if (this.#skipping) this.#skipping = false;
      else events.push({ type: "line", text: this.#take() });
    }
    this.#append(chunk, start, chunk.length, events);
    return events;
  }

  /** Ends the stream: returns the unterminated last line, if any. */
  end(): LineEvent[] {
    if (this.#skipping || this.#len === 0) return [];
    return [{ type: "line", text: this.#take() }];
  }

  #append(chunk: Uint8Array, from: number, to: number, events: LineEvent[]): void {
    if (this.#skipping || from >= to) return;
    const n = to - from;
    if (this.#len + n > this.#max) {
      this.#len = 0;
      this.#skipping = true;
      events.push({ type: "too_long", limit: this.#max });
      return;
    }
    if (this.#len + n > this.#buf.length) {
      const grown = new Uint8Array(
        Math.min(this.#max, Math.max(this.#buf.length * 2, this.#len + n)),
      );
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
    }
    this.#buf.set(chunk.subarray(from, to), this.#len);
    this.#len += n;
  }

  #take(): string {
    const text = this.#decoder.decode(this.#buf.subarray(0, this.#len));
    this.#len = 0;
    return this.#erase ? applyErase(text) : text;
  }
}

/** Applies backspace and DEL: each removes itself and the code point before it. */
export function applyErase(text: string): string {
  if (!text.includes("\b") && !text.includes("\x7f")) return text;
  const out: string[] = [];
  for (const c of text) {
    const code = c.codePointAt(0);
    if (code === BS || code === DEL) out.pop();
    else out.push(c);
  }
  return out.join("");
}
