/**
 * What a chat message may be, and which characters never reach a screen:
 * every piece of user text passes through here before it enters a room, so a
 * rule changed here changes for the page, for terminals and for the log at
 * once.
 *
 * Browser compatible: no Deno APIs.
 *
 * @module
 */

/** Longest chat message, in code points after cleaning. */
export const MESSAGE_MAX = 2000;

/** The outcome of a text rule: the cleaned value, or why it was refused. */
export type Checked<T extends string> =
  | { ok: true; value: string }
  | { ok: false; code: T; reason: string };

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
