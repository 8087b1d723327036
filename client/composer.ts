/**
 * What the message box does from the keyboard, as a terminal's shell or an
 * IRC client does it: Up and Down walk back through the lines sent
 * ({@linkcode Recall}), Tab completes the word before the caret with a
 * nickname, or with a room name when it starts with `#` ({@linkcode complete};
 * Tab again gives the next match). Pure: no DOM; `main.ts` wires the keys.
 *
 * @module
 */

/** Most lines {@linkcode Recall} keeps. */
export const RECALL_MAX = 100;

/** The lines sent, newest last, to walk back through. */
export class Recall {
  readonly #lines: string[] = [];
  /** Where the walk is: `#lines.length` when not walking. */
  #at = 0;
  /** What was typed before the walk began, given back past the newest line. */
  #draft = "";

  /** Remembers a line sent (not twice in a row), and ends any walk. */
  push(line: string): void {
    if (line.trim() !== "" && this.#lines.at(-1) !== line) {
      this.#lines.push(line);
      if (this.#lines.length > RECALL_MAX) this.#lines.shift();
    }
    this.#at = this.#lines.length;
    this.#draft = "";
  }

  /** The line before the one shown (Up), keeping `current` as the draft on the first step; undefined at the oldest. */
  up(current: string): string | undefined {
    if (this.#at === 0) return undefined;
    if (this.#at === this.#lines.length) this.#draft = current;
    return this.#lines[--this.#at];
  }

  /** The line after the one shown (Down), then the draft; undefined when not walking. */
  down(): string | undefined {
    if (this.#at >= this.#lines.length) return undefined;
    this.#at++;
    return this.#at === this.#lines.length ? this.#draft : this.#lines[this.#at];
  }
}

/** The box's text and where the caret is. */
export interface Typed {
  value: string;
  caret: number;
}

/** A completion under way: Tab again steps through its matches. */
export interface Completing {
  /** The text before the word, the word as typed, and the text after the caret. */
  before: string;
  typed: string;
  after: string;
  matches: string[];
  index: number;
}

/**
 * Completes the word before the caret: a nickname, or a room name if the
 * word starts with `#`, by a case-insensitive prefix. A nickname that is the
 * first word gets ": " after it (as IRC clients address someone). With
 * `previous` (what the last Tab did, if the box still shows its result), the
 * next match instead. Undefined if nothing matches.
 */
export function complete(
  typed: Typed,
  nicks: readonly string[],
  rooms: readonly string[],
  previous?: Completing,
): { typed: Typed; completing: Completing } | undefined {
  let state = previous;
  if (state === undefined) {
    const head = typed.value.slice(0, typed.caret);
    const word = /[^\s]*$/.exec(head)?.[0] ?? "";
    if (word === "") return undefined;
    const pool = word.startsWith("#") ? rooms : nicks;
    const lower = word.toLowerCase();
    const matches = [...new Set(pool)]
      .filter((c) => c.toLowerCase().startsWith(lower))
      .sort((a, b) => a.localeCompare(b));
    if (matches.length === 0) return undefined;
    state = {
      before: head.slice(0, head.length - word.length),
      typed: word,
      after: typed.value.slice(typed.caret),
      matches,
      index: 0,
    };
  } else {
    state = { ...state, index: (state.index + 1) % state.matches.length };
  }
  const match = state.matches[state.index]!;
  const addressed = state.before === "" && !match.startsWith("#") ? ": " : " ";
  const inserted = match + (state.after.startsWith(" ") ? "" : addressed);
  const value = state.before + inserted + state.after;
  return { typed: { value, caret: state.before.length + inserted.length }, completing: state };
}
