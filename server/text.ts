/**
 * Text rules shared by both transports: what a nickname may be, how long a
 * message or a terminal line may get, which characters never reach a screen,
 * and how a byte stream from a terminal becomes lines.
 *
 * Every piece of user text passes through here before it enters the room, so a
 * rule changed here changes for the page, for `nc` and for `telnet` at once.
 * Browser compatible: no Deno APIs.
 *
 * @module
 */

/** Longest nickname, in code points after NFKC normalization. */
export const NICK_MAX = 24;

/** Longest chat message, in code points after cleaning. */
export const MESSAGE_MAX = 2000;

/**
 * Longest terminal input line, in bytes before decoding. Room for a message of
 * {@linkcode MESSAGE_MAX} characters of CJK text (3 bytes each) plus a command.
 */
export const LINE_MAX_BYTES = 8192;

/**
 * Largest WebSocket text frame accepted, in UTF-16 code units. JSON escapes can
 * make a legal message several times longer than its text.
 */
export const FRAME_MAX = 32768;

/** Nicknames nobody may take, compared by {@linkcode nickKey}. */
export const RESERVED_NICKS: ReadonlySet<string> = new Set([
  "server",
  "system",
  "admin",
  "operator",
]);

/** The outcome of a text rule: the cleaned value, or why it was refused. */
export type Checked<T extends string> =
  | { ok: true; value: string }
  | { ok: false; code: T; reason: string };

/**
 * The identity of a nickname: two nicknames with the same key are the same
 * person, and the second is refused as taken. NFKC folds compatibility forms
 * (full-width letters, ligatures), lower-casing folds case, and then
 * characters that look alike on screen fold together (a skeleton, after
 * Unicode TS #39): Cyrillic "а" and Greek "α" as Latin "a"; "i", "I", "1"
 * and "l" all as "l"; "0" as "o"; "rn" as "m". So nobody can pose as "alice"
 * by taking "аlice" or "AIice". The nickname shown stays as its owner typed it.
 */
export function nickKey(nick: string): string {
  // Twice: capitals that look Latin but lower-case to something that does
  // not (Greek "Μ" to "μ"), then the lower-case look-alikes.
  const folded = fold(fold(nick.normalize("NFKC")).toLowerCase().normalize("NFKC"));
  return folded.replace(MARKS, "").replace(/rn/g, "m").replace(/vv/g, "w");
}

function fold(text: string): string {
  let out = "";
  for (const c of text) out += LOOKALIKE[c] ?? c;
  return out;
}

// Combining marks left on a Latin, Greek or Cyrillic letter after NFKC (a
// dot below, a macron under): hardly seen, so they must not make a copy of a
// name. ("é" composes to one letter and stays distinct from "e"; marks in
// scripts that spell with them, like Devanagari vowel signs, are kept.)
const MARKS = /(?<=[\p{Script=Latin}\p{Script=Greek}\p{Script=Cyrillic}]\p{M}*)\p{M}/gu;

/**
 * Characters (already lower-cased) that look like a Latin letter in common
 * fonts, and the letter. Errs on folding too much: the cost is only that two
 * nicknames count as one.
 */
const LOOKALIKE: Readonly<Record<string, string>> = {
  // Capitals whose lower case does not look like the Latin letter
  "Α": "a",
  "Β": "b",
  "Ε": "e",
  "Ζ": "z",
  "Η": "h",
  "Ι": "l",
  "Κ": "k",
  "Μ": "m",
  "Ν": "n",
  "Ο": "o",
  "Ρ": "p",
  "Τ": "t",
  "Υ": "y",
  "Χ": "x",
  "Ꭺ": "a",
  "Ᏼ": "b",
  "Ꮯ": "c",
  "Ꭰ": "d",
  "Ꭼ": "e",
  "Ꮐ": "g",
  "Ꮋ": "h",
  "Ꭵ": "l",
  "Ꭻ": "j",
  "Ꮶ": "k",
  "Ꮮ": "l",
  "Ꮇ": "m",
  "Ꮲ": "p",
  "Ꮪ": "s",
  "Ꭲ": "t",
  "Ꮩ": "v",
  "Ꮃ": "w",
  "Ꮓ": "z",
  // Lisu, which has no case
  "ꓮ": "a",
  "ꓐ": "b",
  "ꓚ": "c",
  "ꓓ": "d",
  "ꓰ": "e",
  "ꓝ": "f",
  "ꓖ": "g",
  "ꓧ": "h",
  "ꓲ": "l",
  "ꓙ": "j",
  "ꓗ": "k",
  "ꓡ": "l",
  "ꓟ": "m",
  "ꓠ": "n",
  "ꓳ": "o",
  "ꓑ": "p",
  "ꓣ": "r",
  "ꓢ": "s",
  "ꓔ": "t",
  "ꓴ": "u",
  "ꓦ": "v",
  "ꓪ": "w",
  "ꓫ": "x",
  "ꓬ": "y",
  "ꓜ": "z",
  // Digits
  "0": "o",
  "1": "l",
  // Latin letters that pass for others ("I" and "l" are one glyph in many fonts)
  "i": "l",
  "ı": "l",
  "ȷ": "j",
  "ℓ": "l",
  // Cyrillic
  "а": "a",
  "в": "b",
  "с": "c",
  "ԁ": "d",
  "е": "e",
  "ё": "e",
  "һ": "h",
  "н": "h",
  "і": "l",
  "ї": "l",
  "ј": "j",
  "к": "k",
  "ӏ": "l",
  "м": "m",
  "о": "o",
  "р": "p",
  "ԛ": "q",
  "г": "r",
  "ѕ": "s",
  "т": "t",
  "у": "y",
  "ѵ": "v",
  "ԝ": "w",
  "х": "x",
  "ү": "y",
  "ь": "b",
  // Greek
  "α": "a",
  "β": "b",
  "ε": "e",
  "η": "n",
  "ι": "l",
  "κ": "k",
  "ν": "v",
  "ο": "o",
  "ρ": "p",
  "τ": "t",
  "υ": "u",
  "χ": "x",
  "ζ": "z",
  // Armenian
  "օ": "o",
  "ս": "u",
  "հ": "h",
  "ո": "n",
};

/** {@linkcode RESERVED_NICKS} as keys, so their look-alikes are reserved too. */
const RESERVED_KEYS: ReadonlySet<string> = new Set([...RESERVED_NICKS].map((n) => nickKey(n)));

/**
 * Scripts told apart for the mixed-script rule. A letter in none of them
 * counts as "other", so scripts not listed are still one script each only
 * among themselves.
 */
const SCRIPTS = [
  "Latin",
  "Cyrillic",
  "Greek",
  "Armenian",
  "Georgian",
  "Cherokee",
  "Hebrew",
  "Arabic",
  "Devanagari",
  "Bengali",
  "Tamil",
  "Thai",
  "Lao",
  "Ethiopic",
  "Han",
  "Hiragana",
  "Katakana",
  "Bopomofo",
  "Hangul",
] as const;
type Script = typeof SCRIPTS[number] | "other";
const SCRIPT_TESTS = SCRIPTS.map((name) => [name, new RegExp(`\\p{Script=${name}}`, "u")] as const);
// Digits, "-", "_" and combining marks belong to no script of their own.
const SCRIPTLESS = /[\p{Script=Common}\p{Script=Inherited}]/u;

/**
 * Script mixes a nickname may use (UTS #39 "highly restrictive"): one script,
 * or the ones Japanese, Chinese and Korean are written with, plus Latin.
 */
const ALLOWED_MIXES: readonly ReadonlySet<Script>[] = [
  new Set(["Latin", "Han", "Hiragana", "Katakana"]),
  new Set(["Latin", "Han", "Bopomofo"]),
  new Set(["Latin", "Han", "Hangul"]),
];

/** The scripts of a nickname's letters. */
function scriptsOf(nick: string): Set<Script> {
  const found = new Set<Script>();
  for (const c of nick) {
    if (SCRIPTLESS.test(c)) continue;
    found.add(SCRIPT_TESTS.find(([, test]) => test.test(c))?.[0] ?? "other");
  }
  return found;
}

/** True if a nickname mixes scripts in a way only a look-alike would. */
function mixesScripts(nick: string): boolean {
  const scripts = scriptsOf(nick);
  if (scripts.size <= 1) return false;
  return !ALLOWED_MIXES.some((mix) => [...scripts].every((s) => mix.has(s)));
}

// Characters that render as nothing (or as blank) but are letters or marks by
// category, so the category checks below would let them through.
const INVISIBLE_LETTERS = /[\u115F\u1160\u3164\uFFA0\u17B4\u17B5\u180B-\u180F\uFE00-\uFE0F]/u;
const FORMAT_OR_CONTROL = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Default_Ignorable_Code_Point}]/u;
const SPACE = /[\p{Z}\s]/u;
const NICK_CHAR = /^[\p{L}\p{M}\p{N}_-]$/u;
const NICK_START = /^[\p{L}\p{N}_]/u;

/**
 * Checks a requested nickname and returns it normalized (NFKC, trimmed).
 *
 * Letters and digits of any script are allowed, with `-` and `_`; spaces,
 * punctuation, symbols, invisible and bidi control characters are refused
 * with a reason fit to show the user.
 */
export function checkNick(raw: string): Checked<"nick_invalid"> {
  const nick = raw.normalize("NFKC").trim();
  const refuse = (reason: string) => ({
    ok: false as const,
    code: "nick_invalid" as const,
    reason,
  });
  if (nick === "") return refuse("Nickname is empty.");
  if (FORMAT_OR_CONTROL.test(nick) || INVISIBLE_LETTERS.test(nick)) {
    return refuse("Nickname contains invisible or control characters.");
  }
  if (SPACE.test(nick)) return refuse("Nickname cannot contain spaces.");
  const chars = [...nick];
  if (chars.length > NICK_MAX) {
    return refuse(`Nickname is too long (${chars.length} characters, at most ${NICK_MAX}).`);
  }
  const bad = chars.find((c) => !NICK_CHAR.test(c));
  if (bad !== undefined) {
    return refuse(`Nickname may only contain letters, digits, "-" and "_" (not "${bad}").`);
  }
  if (!NICK_START.test(nick)) return refuse("Nickname must start with a letter or a digit.");
  if (mixesScripts(nick)) {
    return refuse(
      `Nickname mixes alphabets (${
        [...scriptsOf(nick)].join(", ")
      }); use one, so it cannot pass for another.`,
    );
  }
  if (RESERVED_KEYS.has(nickKey(nick))) return refuse(`Nickname "${nick}" is reserved.`);
  return { ok: true, value: nick };
}

// Terminal escape sequences, 7-bit and 8-bit forms (ECMA-48): CSI, the string
// commands (OSC, DCS, SOS, PM, APC) up to their terminator or the end of the
// text, and the short ESC sequences.
const ESCAPES = new RegExp(
  [
    "(?:\\x1b\\[|\\x9b)[0-?]*[ -/]*[@-~]?",
    "(?:\\x1b[\\]PX^_]|[\\x90\\x98\\x9d\\x9e\\x9f])[\\s\\S]*?(?:\\x07|\\x1b\\\\|\\x9c|$)",
    "\\x1b[ -/]*[0-~]?",
  ].join("|"),
  "g",
);
// Whitespace that would break a line or a column on a terminal.
const BREAKS = /[\t\n\v\f\r\x85\u2028\u2029]/g;
// Left after the two above: the rest of C0, DEL and C1.
// deno-lint-ignore no-control-regex -- removing control characters is the point
const CONTROLS = /[\x00-\x1f\x7f-\x9f]/g;
// Explicit bidi embeddings, overrides and isolates: they can reorder the rest
// of a line, including the nickname shown before the text.
const BIDI = /[\u202A-\u202E\u2066-\u2069]/g;

/**
 * Makes text safe to put on one line of anyone's screen: escape sequences and
 * control characters are removed, line and tab breaks become spaces, bidi
 * embeddings and overrides are removed.
 */
export function toOneLine(text: string): string {
  return text.replace(ESCAPES, "").replace(BREAKS, " ").replace(CONTROLS, "").replace(BIDI, "");
}

/**
 * The first `max` code points of `text` (never half a surrogate pair), with
 * "…" if it was longer: for quoting user text in an error message.
 */
export function clip(text: string, max: number): string {
  const chars = [...text.slice(0, max * 2)];
  return chars.length > max ? `${chars.slice(0, max).join("")}…` : chars.join("");
}

/**
 * Cleans a chat message with {@linkcode toOneLine} and trims it; refuses it
 * if nothing is left or it is longer than {@linkcode MESSAGE_MAX}.
 */
export function checkMessage(raw: string): Checked<"text_empty" | "text_too_long"> {
  // A cheap bound first, so a huge input is not cleaned before being refused.
  if (raw.length > MESSAGE_MAX * 8) {
    return tooLong(raw.length);
  }
  // A lone surrogate cannot be stored as UTF-8: make it U+FFFD now, so what
  // is delivered live is what the history replays.
  const text = toOneLine(raw).trim().toWellFormed();
  if (text === "") return { ok: false, code: "text_empty", reason: "Message is empty." };
  const length = codePoints(text);
  if (length > MESSAGE_MAX) return tooLong(length);
  return { ok: true, value: text };
}

function tooLong(length: number): Checked<"text_too_long"> {
  return {
    ok: false,
    code: "text_too_long",
    reason: `Message is too long (${length} characters, at most ${MESSAGE_MAX}).`,
  };
}

function codePoints(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff) n++;
  }
  return n;
}

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

  constructor(maxBytes: number = LINE_MAX_BYTES) {
    this.#max = maxBytes;
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
    return applyErase(text);
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
