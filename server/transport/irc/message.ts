/**
 * The IRC line format, apart from any socket: parsing a client's line into a
 * message, writing a message as one line that no user text can break, and the
 * text helpers an IRC transport needs (formatting codes, CTCP, splitting a long
 * message into PRIVMSGs, IRCv3 server-time).
 *
 * Follows modern.ircdocs.horse and the IRCv3 message-tags spec, read the way
 * lenient servers (ergo, solanum) read them, because the clients we want
 * (irssi, WeeChat, HexChat, The Lounge) are not all strict: several spaces
 * between parameters are one, an empty tag or a tag with an invalid name is
 * skipped rather than failing the line, and the 15th parameter takes the rest
 * of the line as RFC 2812 says. Everything a client sends is hostile input:
 * parsing never throws, is linear in the line, and the length rules
 * ({@linkcode tooLong}) are separate so the transport can answer 417 instead
 * of disconnecting. Writing goes the other way: whatever the server passes,
 * {@linkcode formatLine} returns exactly one line with the same number of
 * parameters, so a nickname, topic or text can never inject a second line.
 *
 * @module
 */

/** One IRC message. */
export interface IrcMessage {
  /** IRCv3 tags, values unescaped; a tag without a value maps to "". */
  tags: ReadonlyMap<string, string>;
  /** The `:source` prefix, if any (servers ignore it from clients). */
  source?: string;
  /** Upper-cased (ASCII only); numerics stay digits. */
  command: string;
  /** At most {@linkcode PARAMS_MAX}; the last may be empty or contain spaces. */
  params: string[];
}

/** Longest line without tags, in bytes, CRLF included (RFC 1459). */
export const LINE_MAX = 512;
/** Longest tag section in bytes, its `@` and trailing space included (IRCv3 message-tags). */
export const TAGS_MAX = 8191;
/** Longest line a line decoder for IRC should accept, in bytes: tags plus line. */
export const INPUT_MAX = TAGS_MAX + LINE_MAX;
/** Most parameters in a message (RFC 2812); the last takes the rest of the line. */
export const PARAMS_MAX = 15;
/** Longest tag name kept by {@linkcode parseLine}; longer ones are skipped. */
export const TAG_KEY_MAX = 256;

// Loosely the spec's `['+'] [vendor '/'] key_name`, as ergo accepts it: the
// point is that a key can never carry `=`, `;`, a space or a control character.
const TAG_KEY = new RegExp(`^\\+?[-./0-9A-Za-z]{1,${TAG_KEY_MAX}}$`);
const UNESCAPES: Readonly<Record<string, string>> = {
  ":": ";",
  s: " ",
  "\\": "\\",
  r: "\r",
  n: "\n",
};
// NUL may not appear in a tag value even escaped: it is written as a space.
const ESCAPES: Readonly<Record<string, string>> = {
  ";": "\\:",
  " ": "\\s",
  "\\": "\\\\",
  "\r": "\\r",
  "\n": "\\n",
  "\0": "\\s",
};

/**
 * Parses one line (decoded, without CR or LF). Undefined when the line is
 * blank or has no command, e.g. only tags or only a source. Never throws.
 */
export function parseLine(line: string): IrcMessage | undefined {
  const n = line.length;
  let i = 0;
  let tags = new Map<string, string>();
  if (line.startsWith("@")) {
    const end = line.indexOf(" ");
    if (end < 0) return undefined;
    tags = parseTags(line.slice(1, end));
    i = end;
  }
  i = skipSpaces(line, i);
  let source: string | undefined;
  if (line.charCodeAt(i) === 0x3a /* : */) {
    const end = line.indexOf(" ", i);
    if (end < 0) return undefined;
    source = line.slice(i + 1, end);
    i = skipSpaces(line, end);
  }
  const commandEnd = wordEnd(line, i);
  const command = asciiUpper(line.slice(i, commandEnd));
  if (command === "") return undefined;
  const params: string[] = [];
  for (i = skipSpaces(line, commandEnd); i < n; i = skipSpaces(line, i)) {
    const colon = line.charCodeAt(i) === 0x3a;
    if (colon || params.length === PARAMS_MAX - 1) {
      params.push(line.slice(colon ? i + 1 : i));
      break;
    }
    const end = wordEnd(line, i);
    params.push(line.slice(i, end));
    i = end;
  }
  const message: IrcMessage = { tags, command, params };
  // An empty source (`: CMD`) is read as none, so formatLine can round-trip it.
  if (source) message.source = source;
  return message;
}

function parseTags(section: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const item of section.split(";")) {
    const eq = item.indexOf("=");
    const key = eq < 0 ? item : item.slice(0, eq);
    if (!TAG_KEY.test(key)) continue;
    tags.set(key, eq < 0 ? "" : unescapeTagValue(item.slice(eq + 1)));
  }
  return tags;
}

/** Undoes IRCv3 tag escaping: unknown escapes give the character, a lone final `\` is dropped. */
export function unescapeTagValue(value: string): string {
  if (!value.includes("\\")) return value;
  return value.replace(/\\([\s\S]?)/g, (_, c: string) => UNESCAPES[c] ?? c);
}

/** IRCv3 tag escaping of a value (NUL, which cannot be sent, becomes a space). */
export function escapeTagValue(value: string): string {
  return value.replace(/[;\\ \r\n\0]/g, (c) => ESCAPES[c] ?? c);
}

function skipSpaces(line: string, i: number): number {
  while (line.charCodeAt(i) === 0x20) i++;
  return i;
}

function wordEnd(line: string, i: number): number {
  const end = line.indexOf(" ", i);
  return end < 0 ? line.length : end;
}

// Only ASCII: `toUpperCase()` would make "prıvmsg" (dotless ı) a PRIVMSG.
function asciiUpper(text: string): string {
  return text.replace(/[a-z]+/g, (s) => s.toUpperCase());
}

/** UTF-8 length of `text`, a lone surrogate counted as the U+FFFD it is sent as. */
export function byteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && isLow(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function isLow(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/**
 * True if a client's line breaks the length rules: more than 510 bytes after
 * the tags (512 less CRLF), or a tag section over {@linkcode TAGS_MAX}. The
 * transport answers 417 and reads on. Measured on the decoded line.
 */
export function tooLong(line: string): boolean {
  let rest = line;
  if (line.startsWith("@")) {
    const space = line.indexOf(" ");
    const tagBytes = space < 0 ? byteLength(line) : byteLength(line.slice(0, space + 1));
    if (tagBytes > TAGS_MAX) return true;
    rest = space < 0 ? "" : line.slice(space + 1);
  }
  return byteLength(rest) > LINE_MAX - 2;
}

/** What {@linkcode formatLine} writes. */
export interface OutgoingMessage {
  /** Written in order; a duplicate key is written twice (a reader keeps the last). */
  tags?: Iterable<[string, string]> | undefined;
  /** Omitted when absent or empty. */
  source?: string | undefined;
  /** Sent as given: the caller upper-cases. */
  command: string;
  /** All but the last are middles: nicknames, channels, numbers. */
  params: readonly string[];
}

/**
 * Writes a message as one line, without CRLF. It stays one line whatever it
 * is given: CR, LF and NUL in the last parameter become spaces; the source,
 * command and middle parameters, which cannot hold a space, have CR, LF, NUL
 * and space replaced by `_`, a leading `:` by `_`, and are `*` if empty, so a
 * caller's mistake never shifts the parameters. Tags with an invalid name are
 * left out. Parameters past the 15th are read back as part of the 15th. The
 * length is the caller's business ({@linkcode splitText}).
 */
export function formatLine(m: OutgoingMessage): string {
  const parts: string[] = [];
  const tags: string[] = [];
  for (const [key, value] of m.tags ?? []) {
    if (TAG_KEY.test(key)) tags.push(value === "" ? key : `${key}=${escapeTagValue(value)}`);
  }
  if (tags.length > 0) parts.push(`@${tags.join(";")}`);
  if (m.source) parts.push(`:${middle(m.source)}`);
  const command = middle(m.command);
  parts.push(command.startsWith("@") ? `_${command.slice(1)}` : command);
  const last = m.params.length - 1;
  m.params.forEach((p, i) => parts.push(i < last ? middle(p) : trailing(p)));
  return parts.join(" ");
}

function middle(text: string): string {
  if (text === "") return "*";
  const safe = text.replace(/[\0\r\n ]/g, "_");
  return safe.startsWith(":") ? `_${safe.slice(1)}` : safe;
}

function trailing(text: string): string {
  const safe = text.replace(/[\0\r\n]/g, " ");
  return safe === "" || safe.includes(" ") || safe.startsWith(":") ? `:${safe}` : safe;
}

// Bold, italics, underline, strikethrough, monospace, reverse, reset; colour
// with `fg[,bg]` (a comma without a digit after it stays text); hex colour.
const FORMATTING =
  // deno-lint-ignore no-control-regex -- the control characters are the point
  /[\x02\x0f\x11\x16\x1d\x1e\x1f]|\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?/g;

/** Removes mIRC formatting codes and their colour numbers; CTCP's \x01 is left alone. */
export function stripFormatting(text: string): string {
  return text.replace(FORMATTING, "");
}

/** A CTCP request or reply: `\x01COMMAND args\x01`. */
export interface Ctcp {
  /** Upper-cased (ASCII only), e.g. `ACTION`, `VERSION`. */
  command: string;
  /** The rest after one space, possibly "". */
  args: string;
}

/**
 * Reads a CTCP message; the closing \x01 is optional, as some clients leave it
 * out. Undefined if `text` does not start with \x01 or names no command.
 */
export function parseCtcp(text: string): Ctcp | undefined {
  if (!text.startsWith("\x01")) return undefined;
  const close = text.indexOf("\x01", 1);
  const body = text.slice(1, close < 0 ? text.length : close);
  const space = body.indexOf(" ");
  const command = asciiUpper(space < 0 ? body : body.slice(0, space));
  if (command === "") return undefined;
  return { command, args: space < 0 ? "" : body.slice(space + 1) };
}

/** Writes a CTCP message; a \x01 in `args` would end it early, so it is removed. */
export function ctcp(command: string, args: string): string {
  const name = command.replaceAll("\x01", "").replaceAll(" ", "");
  const rest = args.replaceAll("\x01", "");
  return rest === "" ? `\x01${name}\x01` : `\x01${name} ${rest}\x01`;
}

let graphemes: Intl.Segmenter | undefined;

/**
 * Splits `text` into pieces of at most `maxBytes` UTF-8 bytes, so a long
 * message reaches IRC as several PRIVMSGs. Cuts between graphemes (a base with
 * its combining marks, a ZWJ emoji sequence), preferably at the last space in
 * the second half of the piece, which is then dropped as clients do; a
 * grapheme longer than `maxBytes` is cut between code points. Never returns an
 * empty piece unless `text` is empty. `maxBytes` must be at least 4 (one code
 * point); the caller subtracts its prefix (`:nick!user@host PRIVMSG #room :`)
 * from 510.
 */
export function splitText(text: string, maxBytes: number): string[] {
  if (!(maxBytes >= 4)) throw new RangeError(`Cannot split text into pieces of ${maxBytes} bytes`);
  if (byteLength(text) <= maxBytes) return [text];
  graphemes ??= new Intl.Segmenter(undefined, { granularity: "grapheme" });
  const pieces: string[] = [];
  let start = 0; // where the piece being built starts, in code units
  let bytes = 0; // its length in bytes
  let space = -1; // the last space in its second half, or -1
  let spaceBytes = 0; // the bytes before that space
  for (const { segment, index } of graphemes.segment(text)) {
    const size = byteLength(segment);
    if (bytes + size > maxBytes && space >= 0) {
      pieces.push(text.slice(start, space));
      start = space + 1;
      bytes -= spaceBytes + 1;
      space = -1;
    }
    // What is left after the space may still not take this grapheme.
    if (bytes + size > maxBytes && bytes > 0) {
      pieces.push(text.slice(start, index));
      start = index;
      bytes = 0;
    }
    if (size <= maxBytes) {
      if (segment === " " && bytes * 2 >= maxBytes) {
        space = index;
        spaceBytes = bytes;
      }
      bytes += size;
      continue;
    }
    // One grapheme too long for any piece: cut between code points.
    let at = index;
    for (const c of segment) {
      const n = byteLength(c);
      if (bytes + n > maxBytes) {
        pieces.push(text.slice(start, at));
        start = at;
        bytes = 0;
      }
      bytes += n;
      at += c.length;
    }
  }
  if (start < text.length) pieces.push(text.slice(start));
  return pieces;
}

/**
 * An IRCv3 server-time value, `2026-12-05T07:41:00.123Z`. Throws a RangeError
 * for a time a Date cannot hold.
 */
export function serverTime(ms: number): string {
  return new Date(ms).toISOString();
}

// Strict: UTC only (`Z`), seconds required, 1 to 9 fraction digits if any
// (what irssi, WeeChat or a bouncer may echo back in CHATHISTORY).
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/;

/**
 * Reads a server-time or CHATHISTORY `timestamp=` value to milliseconds since
 * the epoch (fraction beyond milliseconds truncated). Undefined for anything
 * but an existing UTC date and time in that form.
 */
export function parseServerTime(text: string): number | undefined {
  if (text.length > 40) return undefined;
  const match = TIMESTAMP.exec(text);
  if (!match) return undefined;
  // The regex guarantees the six fields; the defaults are for the type checker.
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = match.slice(1, 7).map(
    Number,
  );
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const ms = Number((match[7] ?? "").padEnd(3, "0").slice(0, 3));
  // Date.UTC maps years 0-99 to 1900-1999: set the year separately.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return date.getTime();
}
