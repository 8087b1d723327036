/**
 * Seeded generators of hostile input for the fuzz tests: byte streams for the
 * terminal port, text and binary frames for `/ws`, raw WebSocket wire bytes
 * (frames a browser would never send) for the same endpoint, and IRC lines
 * for the IRC port.
 *
 * Everything is derived from one 32-bit seed through {@linkcode Rng}, and
 * each case from its own seed ({@linkcode caseSeed}), so a failing case is
 * reproduced alone from the run's seed and its index, whatever ran beside it.
 * Generated input mixes pure random bytes with the nasties that have broken
 * chat servers before: invalid and overlong UTF-8, telnet commands cut at
 * chunk edges, terminal escapes, bidi and zero-width characters, lines at the
 * length caps, JSON of the wrong shape, room names that are look-alikes
 * of the honest members' rooms, refused, huge, or not strings at all, and
 * IRC lines with every command, tags and prefixes of every shape, CTCP,
 * NUL, lines at the 512-byte edge and HTTP requests.
 *
 * @module
 */

import { FRAME_MAX } from "../common/protocol.ts";
import { LINE_MAX_BYTES } from "../server/transport/terminal/lines.ts";
import { DO, DONT, IAC, SB, SE, WILL, WONT } from "../server/transport/terminal/telnet.ts";
import { concatBytes } from "../server/transport/io.ts";
import { Opcode } from "../server/transport/web/frames.ts";
import { encodeFrame, type FrameOptions, upgradeHeaders } from "./kit/raw_ws.ts";

/** A small, fast, seeded generator (xorshift32). Not for secrets. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    // xorshift is stuck at 0: fold the seed so no seed gives 0.
    this.#state = mix32(seed) || 0x9e3779b9;
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.u32() / 0x1_0000_0000;
  }

  /** An integer in [lo, hi], both included. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** One element of a non-empty list. */
  pick<T>(list: readonly T[]): T {
    if (list.length === 0) throw new RangeError("Cannot pick from an empty list");
    return list[this.int(0, list.length - 1)]!;
  }

  /** One item of a weighted list, chosen in proportion to its weight. */
  weighted<T>(list: readonly (readonly [weight: number, item: T])[]): T {
    let at = this.float() * list.reduce((sum, [w]) => sum + w, 0);
    for (const [w, item] of list) {
      at -= w;
      if (at < 0) return item;
    }
    const last = list.at(-1);
    if (last === undefined) throw new RangeError("Cannot pick from an empty list");
    return last[1];
  }

  /**
   * A size between 1 and `max`, spread over orders of magnitude: mostly
   * small, now and then near `max`.
   */
  size(max: number): number {
    return Math.max(1, Math.min(max, Math.floor(Math.exp(this.float() * Math.log(max + 1)))));
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

/** A 32-bit avalanche mix (MurmurHash3's finalizer), so nearby seeds give unrelated streams. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** The seed of case `index` in a run seeded with `seed`. */
export function caseSeed(seed: number, index: number): number {
  return mix32((seed ^ mix32(index + 0x632be5ab)) >>> 0);
}

/** What the generators may aim at: the names of the members they must not hurt, and their rooms. */
export interface Targets {
  /** Nicknames of the honest members: impersonated, whispered to, renamed into. */
  honest: readonly string[];
  /** The honest members' rooms (`#lobby`, `#dev`): entered under look-alike names, talked in, retitled. */
  rooms: readonly string[];
}

const encoder = new TextEncoder();

/** UTF-8 bytes of a string (a lone surrogate becomes U+FFFD, as any client sends it). */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

// ---------------------------------------------------------------------------
// Text

/** Pieces of text that screens, parsers and normalizers get wrong. */
const NASTY_TEXT: readonly string[] = [
  // Terminal escapes: clear, retitle, hyperlink, alternate screen, reset,
  // 8-bit CSI, an OSC and a DCS never terminated.
  "\x1b[2J\x1b[H",
  "\x1b]0;pwned\x07",
  "\x1b]8;;http://example.invalid\x1b\\click\x1b]8;;\x1b\\",
  "\x1b[?1049h",
  "\x1bc",
  "\x9b31mred",
  "\x1b]2;never ends",
  "\x1bPq#0;2;0;0;0",
  "\x1b[999999999999C",
  // Bidi embeddings, overrides and isolates; marks that are allowed.
  "\u202e",
  "\u202dabc\u202c",
  "\u2066\u2067\u2068\u2069",
  "\u200e\u200f",
  // Invisible: zero-width, word joiner, BOM, Hangul fillers, variation selector.
  "\u200b",
  "\u200c\u200d",
  "\u2060\ufeff",
  "\u3164\u115f\u1160\uffa0",
  "\ufe0f",
  // Line breaks that are not CR or LF.
  "\u2028\u2029\x85",
  "\v\f\t",
  // C0, DEL and C1 controls.
  "\x00\x01\x07\x08\x7f",
  "\x80\x9c\x9f",
  // Lone surrogates (sent as U+FFFD by any UTF-8 encoder), noncharacters,
  // private use.
  "\ud800",
  "\udfff",
  "\uffff\ufffe",
  "\ue000",
  // Stacked combining marks; characters NFKC expands a lot.
  "e\u0301\u0308\u0323\u0301\u0308\u0323",
  "\ufdfa\ufdfb",
  "\u3300",
  // Astral and joined emoji; CJK; right-to-left script.
  "\u{1f600}\u{1f44d}\u{1f3fd}",
  "\u{1f468}\u200d\u{1f469}\u200d\u{1f467}",
  "亚中文字",
  "\u05e9\u05dc\u05d5\u05dd",
  // Markup and quoting that must stay text.
  "<img src=x onerror=alert(1)>",
  "\"\\'`${x}",
  "%s%n%x",
];

/** Plain characters: the bulk of every text. */
const PLAIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,!?-_";

/** Random text of about `max` UTF-16 units at most, plain with nasty pieces. */
export function fuzzText(rng: Rng, max: number): string {
  const target = rng.size(max);
  let text = "";
  while (text.length < target) {
    if (rng.chance(0.25)) text += rng.pick(NASTY_TEXT);
    else {
      const run = rng.int(1, 16);
      for (let i = 0; i < run; i++) text += PLAIN[rng.int(0, PLAIN.length - 1)];
    }
  }
  return text.slice(0, Math.max(1, max));
}

/** A nickname that is valid and, thanks to `index`, not taken by another case. */
export function freshNick(rng: Rng, index: number): string {
  // The "_" keeps a rename to this plus a suffix from being another case's nickname.
  const tail = rng.pick(["", "x", "-y", "亚", "é", "ñ9"]);
  return `f${distinct(index)}_${tail}`;
}

/** Letters that no look-alike folding (see `nickKey`) maps onto one another. */
const DISTINCT = "abcdefghjkpqstuxyz";

/** `n` written with {@linkcode DISTINCT}: different numbers never fold together. */
function distinct(n: number): string {
  let out = "";
  do {
    out = DISTINCT[n % DISTINCT.length] + out;
    n = Math.floor(n / DISTINCT.length);
  } while (n > 0);
  return out;
}

/** Confusable, reserved, invisible, too long, or otherwise refused nicknames. */
export function hostileNick(rng: Rng, targets: Targets): string {
  const honest = rng.pick(targets.honest);
  return rng.pick([
    honest,
    honest.toUpperCase(),
    // Full-width forms fold to the same nickname under NFKC.
    [...honest].map((c) => /[!-~]/.test(c) ? String.fromCodePoint(c.codePointAt(0)! + 0xfee0) : c)
      .join(""),
    `${honest}\u200b`,
    `\u202e${honest}`,
    ` ${honest} `,
    // Homoglyphs: Cyrillic letters that look Latin. Valid and distinct.
    honest.replace(/o/g, "\u043e").replace(/e/g, "\u0435"),
    // Latin look-alikes of one alphabet (small capitals, IPA letters): the same name.
    honest.replace(/o/g, "\u1d0f").replace(/s/g, "\ua731").replace(/a/g, "\u0251")
      .replace(/l/g, "\u01c0").replace(/i/g, "\u026a"),
    // Long: marks by the thousand (the old fold was quadratic in them), a
    // look-alike name repeated past any bound.
    honest + "\u0301".repeat(rng.int(100, 30_000)),
    "\u0251\u1d0f".repeat(rng.int(13, 5_000)),
    "server",
    "ＡＤＭＩＮ",
    "Operator",
    "",
    " ",
    "\u3164",
    "a".repeat(24),
    "a".repeat(25),
    "\ufdfa".repeat(2),
    "-starts-with-dash",
    "has space",
    "semi;colon",
    "\x1b[31mred",
    "nul\x00byte",
    "\ud800lone",
    fuzzText(rng, 40),
  ]);
}

/** Latin letters as their full-width forms, which NFKC folds back. */
function fullWidth(text: string): string {
  return [...text].map((c) =>
    /[!-~]/.test(c) ? String.fromCodePoint(c.codePointAt(0)! + 0xfee0) : c
  )
    .join("");
}

/**
 * Room names: the honest rooms under look-alike spellings (the same room),
 * rooms the fuzzers share or make for themselves, and names that must be
 * refused: spaces, commas, bidi, zero-width and control characters, too
 * long by one or by tens of thousands, what NFKC expands, nothing at all.
 */
export function hostileRoom(rng: Rng, targets: Targets, self: string): string {
  const room = rng.pick(targets.rooms);
  const bare = room.slice(1);
  return rng.pick([
    room,
    room.toUpperCase(),
    // Typed without "#": a terminal's /join adds it, the protocol refuses it.
    bare,
    fullWidth(room),
    // Cyrillic look-alikes: the same room under the folding.
    room.replace(/o/g, "\u043e").replace(/e/g, "\u0435").replace(/d/g, "\u0501"),
    ` ${room} `,
    `${room}\u200b`,
    `#\u202e${bare}`,
    `${room}\u2066`,
    `#${bare}\u0301`,
    `${room} ${room}`,
    `${room},${room}`,
    "#",
    "##",
    "",
    " ",
    `#${"x".repeat(rng.pick([32, 33]))}`,
    `#${"亚".repeat(rng.pick([32, 33]))}`,
    `#${"\u{1f600}".repeat(rng.pick([32, 33]))}`,
    `#${"x".repeat(rng.int(200, 50_000))}`,
    `#${"\u0301".repeat(rng.int(100, 30_000))}`,
    // NFKC makes each of these 18 characters.
    `#${"\ufdfa".repeat(rng.int(1, 40))}`,
    "#\x1b[2J",
    "#\x1b]0;pwned\x07",
    "#nul\x00",
    "#\ud800",
    "#\u3164",
    "#\ufe0f",
    "#\u2028",
    "#中文",
    "#c++",
    "#__proto__",
    "#constructor",
    "#toString",
    // Rooms fuzzers meet in, and one of its own.
    `#r${distinct(rng.int(0, 40))}`,
    `#${self}`,
    `#${fuzzText(rng, 40)}`,
    fuzzText(rng, 40),
  ]);
}

/** JSON values where a room name (or a reason, a topic) belongs that are not strings. */
const NOT_A_STRING: readonly unknown[] = [
  42,
  null,
  true,
  [],
  ["#dev"],
  {},
  { toString: "#dev" },
  { length: 1e9 },
];

// ---------------------------------------------------------------------------
// Terminal byte streams

/** Byte sequences no UTF-8 decoder may accept. */
const BAD_UTF8: readonly (readonly number[])[] = [
  [0xc0, 0xaf], // overlong "/"
  [0xe0, 0x80, 0xaf], // overlong "/", 3 bytes
  [0xf0, 0x80, 0x80, 0xaf], // overlong "/", 4 bytes
  [0xc0, 0x80], // overlong NUL (Java's "modified UTF-8")
  [0xed, 0xa0, 0x80], // U+D800 as CESU-8
  [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80], // U+1F600 as a CESU-8 surrogate pair
  [0xed, 0xbf, 0xbf], // U+DFFF
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  [0xf8, 0x88, 0x80, 0x80, 0x80], // 5-byte form
  [0xfc, 0x84, 0x80, 0x80, 0x80, 0x80], // 6-byte form
  [0xfe],
  [0x80],
  [0xbf, 0xbf],
  [0xe4, 0xba], // 亚 cut short
  [0xf0, 0x9f, 0x98], // 😀 cut short
  [0xc2], // a lead byte and nothing
];

/** Line ends as terminals send them, and some they should not. */
const EOLS = ["\n", "\r\n", "\r", "\r\x00", "\n\r"] as const;

function eol(rng: Rng): string {
  return rng.pick(EOLS);
}

/** `/` commands with odd arguments. */
function commandLine(rng: Rng, targets: Targets, self: string): string {
  const honest = rng.pick(targets.honest);
  return rng.pick([
    "/nick",
    "/nick ",
    `/nick ${hostileNick(rng, targets)}`,
    `/nick ${self}`,
    `/nick ${self.toUpperCase()}`,
    `/nick ${self}2`,
    "/msg",
    "/msg nobody",
    "/msg nobody hello",
    `/msg ${self} note to self`,
    `/msg ${honest} ${fuzzText(rng, 200)}`,
    `/m ${honest}\u200b psst`,
    `/tell ${"x".repeat(300)} hi`,
    `/msg ${self}  `,
    "/history",
    "/history -1",
    "/history 0",
    "/history 1",
    "/history 999999",
    "/history 9999999",
    "/history 1e3",
    "/history 0x10",
    "/history NaN",
    `/history ${fuzzText(rng, 12)}`,
    "/who",
    "/names extra args",
    "/me",
    `/me ${fuzzText(rng, 300)}`,
    "/help",
    "/?",
    "/",
    "//",
    `//${fuzzText(rng, 100)}`,
    "/NICK",
    "/Quit",
    `/${fuzzText(rng, 60)}`,
    `/${"x".repeat(500)}`,
    `/join ${hostileRoom(rng, targets, self)}`,
    `/j ${hostileRoom(rng, targets, self)}`,
    `/enter ${hostileRoom(rng, targets, self)}`,
    "/join",
    "/join #",
    `/join ${rng.pick(targets.rooms)}`,
    "/part",
    `/part ${hostileRoom(rng, targets, self)}`,
    `/part ${hostileRoom(rng, targets, self)} ${fuzzText(rng, 300)}`,
    `/leave ${rng.pick(targets.rooms)} bye`,
    "/rooms",
    "/list",
    "/channels extra args",
    "/topic",
    `/topic ${fuzzText(rng, 400)}`,
    `/topic ${"t".repeat(rng.int(290, 3000))}`,
    "/quit",
    `/quit ${fuzzText(rng, 200)}`,
    "/bye \x1b[2J",
    "/exit",
  ]);
}

/** One kind of hostile piece of a terminal stream. */
type StreamPiece = (rng: Rng, targets: Targets, self: string) => Uint8Array;

const TCP_PIECES: readonly (readonly [number, StreamPiece])[] = [
  // Pure noise.
  [6, (rng) => rng.bytes(rng.size(2048))],
  // A chat line of hostile text.
  [8, (rng) => utf8(fuzzText(rng, 600) + eol(rng))],
  // Invalid UTF-8 in a line, at its start, middle or end.
  [5, (rng) => {
    const parts: Uint8Array[] = [];
    for (let i = rng.int(1, 6); i > 0; i--) {
      parts.push(utf8(fuzzText(rng, 20)), Uint8Array.from(rng.pick(BAD_UTF8)));
    }
    parts.push(utf8(eol(rng)));
    return concatBytes(parts);
  }],
  // Telnet commands.
  [6, telnetPiece],
  // CR/LF storms.
  [3, (rng) => {
    let storm = "";
    for (let i = rng.size(3000); i > 0; i--) storm += eol(rng);
    return utf8(storm);
  }],
  // Lines just under, at and over the line cap, in one- and three-byte characters.
  [3, (rng) => {
    const bytes = rng.pick([-2, -1, 0, 1, 2, 3, 100]) + LINE_MAX_BYTES;
    const wide = rng.chance(0.5);
    const body = wide
      ? "亚".repeat(Math.floor(bytes / 3)) + "x".repeat(bytes % 3)
      : "x".repeat(bytes);
    return utf8(body + eol(rng));
  }],
  // Backspace and DEL, more of them than there is text.
  [2, (rng) => utf8(`${fuzzText(rng, 8)}${"\b\x7f".repeat(rng.int(1, 12))}x${eol(rng)}`)],
  // Commands.
  [8, (rng, targets, self) => utf8(commandLine(rng, targets, self) + eol(rng))],
  // A run of nickname attempts (before joining they are nicknames; after, chat).
  [3, (rng, targets) => {
    let lines = "";
    for (let i = rng.size(40); i > 0; i--) lines += hostileNick(rng, targets) + eol(rng);
    return utf8(lines);
  }],
  // Escape sequences alone on a line.
  [3, (rng) => utf8(rng.pick(NASTY_TEXT) + rng.pick(NASTY_TEXT) + eol(rng))],
  // A tour of rooms: in and out, talking and retitling on the way.
  [5, (rng, targets, self) => {
    let lines = "";
    for (let i = rng.size(12); i > 0; i--) {
      lines += rng.weighted<() => string>([
        [3, () => `/join ${hostileRoom(rng, targets, self)}`],
        [2, () => `/join ${rng.pick(targets.rooms)}`],
        [2, () => rng.chance(0.5) ? "/part" : `/part ${hostileRoom(rng, targets, self)}`],
        [3, () => fuzzText(rng, 200)],
        [1, () => `/topic ${fuzzText(rng, 200)}`],
        [1, () => rng.pick(["/rooms", "/who", "/history 5", "/topic"])],
      ])() + eol(rng);
    }
    return utf8(lines);
  }],
];

function telnetPiece(rng: Rng): Uint8Array {
  const verb = () => rng.pick([WILL, WONT, DO, DONT]);
  switch (rng.int(0, 6)) {
    case 0: // An escaped 0xFF data byte, in a line.
      return Uint8Array.of(0x61, IAC, IAC, 0x62, 0x0a);
    case 1: { // Subnegotiation, terminated or not (then it swallows the rest).
      const body = rng.bytes(rng.size(300)).map((b) => b === IAC ? 0 : b);
      return rng.chance(0.5)
        ? concatBytes([Uint8Array.of(IAC, SB, rng.int(0, 255)), body, Uint8Array.of(IAC, SE)])
        : concatBytes([Uint8Array.of(IAC, SB, rng.int(0, 255)), body]);
    }
    case 2: { // Every option, with every verb or one.
      const all = rng.chance(0.5);
      const out: number[] = [];
      for (let option = 0; option < 256; option++) {
        for (const v of all ? [WILL, WONT, DO, DONT] : [verb()]) out.push(IAC, v, option);
      }
      return Uint8Array.from(out);
    }
    case 3: { // The same request over and over: answered once.
      const out: number[] = [];
      const v = verb();
      const option = rng.int(0, 255);
      for (let i = rng.size(200); i > 0; i--) out.push(IAC, v, option);
      return Uint8Array.from(out);
    }
    case 4: // IAC and one arbitrary byte (NOP, AYT, GA, IP, an undefined code).
      return Uint8Array.of(IAC, rng.pick([241, 243, 244, 246, 249, 0, 10, 13, 200]));
    case 5: // IAC in the middle of a UTF-8 character.
      return Uint8Array.of(0xe4, IAC, DO, 1, 0xba, 0x9a, 0x0a);
    default: // A lone IAC: whatever comes next is its command.
      return Uint8Array.of(IAC);
  }
}

/** How a terminal case ends. */
export type TcpEnding =
  /** The fuzzer shuts its side (`closeWrite`) and reads until the server closes. */
  | "eof"
  /** The fuzzer closes the socket outright once it was greeted, mid-stream, often mid-line. */
  | "abrupt";

/** One hostile terminal connection. */
export interface TcpCase {
  kind: "tcp";
  /** Everything the fuzzer sends. */
  bytes: Uint8Array;
  /** Offsets where a write ends and the next begins, ascending. */
  cuts: number[];
  ending: TcpEnding;
  /** For an abrupt ending, how many bytes are written before the close. */
  stopAt: number;
  /** The nickname its first line asks for, when that line must be accepted. */
  joinsAs?: string;
}

/**
 * How terminal streams start: with a valid nickname (most, so that the rest
 * is said in the room), with attempts at invalid ones, or with junk.
 */
const OPENINGS = [[6, "join"], [2, "attempts"], [2, "junk"]] as const;

/** Most bytes of a line that never ends. */
const ENDLESS_MAX = 400 * 1024;

/** Builds a terminal case. */
export function tcpCase(rng: Rng, index: number, targets: Targets): TcpCase {
  const parts: Uint8Array[] = [];
  const nick = freshNick(rng, index);
  const opening = rng.weighted(OPENINGS);
  if (opening === "join") parts.push(utf8(`${nick}${rng.pick(["\n", "\r\n", "\r\x00"])}`));
  if (opening === "attempts") {
    for (let i = rng.size(20); i > 0; i--) parts.push(utf8(hostileNick(rng, targets) + eol(rng)));
    if (rng.chance(0.5)) parts.push(utf8(`${nick}\n`));
  }
  for (let i = rng.size(12); i > 0; i--) parts.push(rng.weighted(TCP_PIECES)(rng, targets, nick));
  // Now and then a line that never ends: hundreds of KiB, then the end of the stream.
  if (rng.chance(0.01)) parts.push(utf8("y".repeat(rng.int(100 * 1024, ENDLESS_MAX))));
  // Or a last line without its end, cut short.
  else if (rng.chance(0.3)) parts.push(utf8(fuzzText(rng, 100)));
  const bytes = concatBytes(parts);
  const ending: TcpEnding = rng.chance(0.2) ? "abrupt" : "eof";
  const stopAt = ending === "abrupt" ? rng.int(1, bytes.length) : bytes.length;
  const tcp: TcpCase = { kind: "tcp", bytes, cuts: chunkCuts(rng, bytes), ending, stopAt };
  if (opening === "join") tcp.joinsAs = nick;
  return tcp;
}

/** Most writes one stream is split into: past them, the rest goes in one write. */
const MAX_WRITES = 64;

/**
 * Where to split a stream into writes: random sizes from one byte to tens of
 * KiB, and a cut right after some IAC and CR bytes, so commands and line ends
 * straddle reads.
 */
export function chunkCuts(rng: Rng, bytes: Uint8Array): number[] {
  const cuts = new Set<number>();
  const largest = rng.pick([4, 64, 4096, 65536]);
  for (let at = rng.size(largest); at < bytes.length && cuts.size < MAX_WRITES / 2;) {
    cuts.add(at);
    at += rng.size(largest);
  }
  for (let i = 0; i < bytes.length && cuts.size < MAX_WRITES; i++) {
    const b = bytes[i];
    if ((b === IAC || b === 0x0d) && rng.chance(0.3)) cuts.add(i + 1);
  }
  return [...cuts].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b);
}

/**
 * Every way a codec test cuts `bytes`: in two at each offset, then one byte
 * at a time; each with a label naming it, for a failure's message.
 */
export function* everyCut(bytes: Uint8Array): Generator<[how: string, chunks: Uint8Array[]]> {
  for (let cut = 0; cut <= bytes.length; cut++) {
    yield [`cut at byte ${cut}`, [bytes.subarray(0, cut), bytes.subarray(cut)]];
  }
  yield ["a byte at a time", Array.from(bytes, (b) => Uint8Array.of(b))];
}

// ---------------------------------------------------------------------------
// WebSocket frames

/** One frame for `/ws`: text, or binary bytes. */
export type WsFrame = string | Uint8Array;

/** How a WebSocket case ends. */
export type WsEnding =
  /** A last frame whose answer is known is sent and awaited, then the socket is closed. */
  | "sentinel"
  /** The socket is closed right after the last frame, without waiting for answers. */
  | "close";

/** One hostile WebSocket connection, through a real WebSocket client. */
export interface WsCase {
  kind: "ws";
  frames: WsFrame[];
  ending: WsEnding;
  /** The nickname its first frame joins as, when that join must be accepted. */
  joinsAs?: string;
}

/** A `say` frame padded to exactly `length` UTF-16 units. */
function sayOfLength(length: number, filler: string): string {
  const empty = JSON.stringify({ type: "say", text: "" });
  const room = Math.max(0, length - empty.length);
  const text = filler.repeat(Math.ceil(room / filler.length)).slice(0, room);
  return JSON.stringify({ type: "say", text }).padEnd(length, " ");
}

/** Nested arrays or objects, `depth` deep. */
function nested(depth: number, object: boolean): string {
  return object
    ? '{"a":'.repeat(depth) + "1" + "}".repeat(depth)
    : "[".repeat(depth) + "]".repeat(depth);
}

/** One frame, or a few that belong together (an enter and part loop). */
type FramePiece = (rng: Rng, targets: Targets, self: string) => WsFrame | WsFrame[];

/** A room name for a frame: mostly a hostile one, now and then not a string. */
function roomValue(rng: Rng, targets: Targets, self: string): unknown {
  return rng.chance(0.15) ? rng.pick(NOT_A_STRING) : hostileRoom(rng, targets, self);
}

/** A frame that acts in rooms: enter, part, rooms, topic, or a room frame with a hostile room. */
function roomFrame(rng: Rng, targets: Targets, self: string): WsFrame | WsFrame[] {
  const room = () => roomValue(rng, targets, self);
  const frame = (fields: Record<string, unknown>) => JSON.stringify(fields);
  switch (rng.int(0, 7)) {
    case 0:
      return frame({ type: "enter", room: room() });
    case 1: {
      const part: Record<string, unknown> = { type: "part" };
      if (rng.chance(0.8)) part.room = room();
      if (rng.chance(0.3)) {
        part.reason = rng.chance(0.8) ? fuzzText(rng, 300) : rng.pick(NOT_A_STRING);
      }
      return frame(part);
    }
    case 2:
      return rng.pick([
        '{"type":"rooms"}',
        '{"type":"rooms","room":"#dev"}',
        '{"type":"rooms","count":1e9}',
      ]);
    case 3: {
      const topic: Record<string, unknown> = { type: "topic" };
      if (rng.chance(0.8)) topic.room = rng.chance(0.5) ? rng.pick(targets.rooms) : room();
      if (rng.chance(0.7)) {
        topic.text = rng.pick<unknown>([
          fuzzText(rng, 400),
          "",
          "   ",
          "t".repeat(rng.int(290, 5000)),
          rng.pick(NOT_A_STRING),
        ]);
      }
      return frame(topic);
    }
    case 4:
      return frame({
        type: rng.pick(["say", "me", "who", "history"]),
        room: rng.chance(0.5) ? rng.pick(targets.rooms) : room(),
        text: fuzzText(rng, 200),
      });
    case 5: {
      // A join's rooms: too many, of the wrong type, repeated under look-alikes.
      const rooms = rng.pick<unknown>([
        Array.from({ length: rng.int(0, 25) }, room),
        [...targets.rooms, ...targets.rooms.map((r) => r.toUpperCase())],
        "#dev",
        null,
        {},
      ]);
      return frame({ type: "join", nick: self, rooms, since: rng.chance(0.5) ? 0 : undefined });
    }
    default: {
      // In and out of the same room, again and again.
      const name = rng.chance(0.5) ? rng.pick(targets.rooms) : hostileRoom(rng, targets, self);
      const loop: WsFrame[] = [];
      for (let i = rng.int(1, 10); i > 0; i--) {
        loop.push(frame({ type: "enter", room: name }), frame({ type: "part", room: name }));
      }
      return loop;
    }
  }
}

const WS_PIECES: readonly (readonly [number, FramePiece])[] = [
  // Chat of hostile text, sometimes right at the message cap.
  [8, (rng) => JSON.stringify({ type: rng.pick(["say", "me"]), text: fuzzText(rng, 500) })],
  [
    2,
    (rng) =>
      JSON.stringify({
        type: "say",
        text: rng.pick(["a", "亚", "😀"]).repeat(rng.pick([1999, 2000, 2001])),
      }),
  ],
  // Malformed JSON.
  [6, (rng) =>
    rng.pick([
      "",
      "{",
      '{"type":"say","text":"unterminated',
      '{"type":"say",}',
      "{'type':'say'}",
      '{"type":"say","text":"x"}garbage',
      "\ufeff" + '{"type":"who"}',
      "NaN",
      '{"type":"say","text":"\\ud800"', // cut
      "/* comment */ {}",
      new TextDecoder().decode(rng.bytes(rng.size(200))),
      fuzzText(rng, 200),
    ])],
  // Valid JSON of the wrong shape.
  [6, (rng) =>
    rng.pick([
      "null",
      "42",
      "1e999",
      '"say"',
      "true",
      "[]",
      '[{"type":"say","text":"in an array"}]',
      "{}",
      '{"type":null}',
      '{"type":["say"]}',
      '{"type":"say"}',
      '{"type":"say","text":123}',
      '{"type":"say","text":null}',
      '{"type":"say","text":["a"]}',
      '{"type":"say","text":{"toString":"x"}}',
      '{"type":"msg","to":5,"text":"x"}',
      '{"type":"nick","nick":{}}',
      '{"type":"history","count":"10"}',
      '{"type":"join","nick":"x","since":"5"}',
      '{"type":"join","nick":"x","token":7}',
      '{"type":"SAY","text":"case"}',
      '{"type":"say ","text":"space"}',
      `{"type":"${"t".repeat(5000)}"}`,
      '{"type":"say","text":"dup","text":"licate"}',
      '{"type":"say","text":"extra","admin":true,"from":"server","id":1}',
    ])],
  // Prototype pollution attempts.
  [3, (rng) =>
    rng.pick([
      '{"__proto__":{"type":"say","text":"polluted"}}',
      '{"type":"say","text":"x","__proto__":{"polluted":true}}',
      '{"constructor":{"prototype":{"polluted":true}},"type":"who"}',
      '{"type":"__proto__"}',
      '{"type":"constructor"}',
      '{"type":"toString"}',
      '{"type":"hasOwnProperty","nick":"x"}',
      '{"type":"join","nick":"__proto__"}',
      '{"type":"msg","to":"__proto__","text":"x"}',
      '{"type":"msg","to":"constructor","text":"x"}',
    ])],
  // Deep nesting, within the frame cap and beyond it.
  [2, (rng) => nested(rng.pick([100, 1000, 10_000, 16_000, 20_000]), rng.chance(0.5))],
  // Joins: storms, hostile nicknames, odd tokens and `since`.
  [5, (rng, targets) => {
    const join: Record<string, unknown> = { type: "join", nick: hostileNick(rng, targets) };
    if (rng.chance(0.3)) {
      join.token = rng.pick([
        "",
        "x".repeat(10_000),
        [...rng.bytes(16)].map((b) => b.toString(16)).join(""),
      ]);
    }
    if (rng.chance(0.4)) {
      join.since = rng.pick([-1, 0, 0.5, 1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER]);
    }
    return JSON.stringify(join);
  }],
  [
    2,
    (rng, _targets, self) =>
      JSON.stringify({ type: "join", nick: rng.chance(0.5) ? self : `${self}b` }),
  ],
  // Private messages to nobody, to oneself, to the honest.
  [4, (rng, targets, self) =>
    JSON.stringify({
      type: "msg",
      to: rng.pick([
        "nobody",
        self,
        self.toUpperCase(),
        rng.pick(targets.honest),
        ` ${rng.pick(targets.honest)} `,
        "",
        "x".repeat(1000),
        hostileNick(rng, targets),
      ]),
      text: fuzzText(rng, 200),
    })],
  // Renames into the honest, the invalid, the same.
  [
    3,
    (rng, targets, self) =>
      JSON.stringify({ type: "nick", nick: rng.chance(0.7) ? hostileNick(rng, targets) : self }),
  ],
  // Rooms: entering, leaving, listing, retitling, with hostile names and values.
  [10, roomFrame],
  // The heaviest request, back to back: a pipelined burst of them.
  [2, () => '{"type":"history","count":1000}'],
  // Member list and history, with odd counts.
  [3, (rng) => {
    if (rng.chance(0.3)) return '{"type":"who"}';
    const count = rng.pick([null, -1, 0, 0.5, 1, 1000, 1001, 1e9, -1e308, 1e308]);
    return JSON.stringify(count === null ? { type: "history" } : { type: "history", count });
  }],
  // Binary frames: noise, or a valid message that is not text.
  [3, (rng) => rng.chance(0.5) ? rng.bytes(rng.size(4096)) : utf8('{"type":"who"}')],
  // Frames around the frame cap, counted in UTF-16 units.
  [2, (rng) =>
    sayOfLength(
      FRAME_MAX + rng.pick([-2, -1, 0, 1, 2]),
      rng.pick(["a", "\\u0041", "亚", "\u{1f600}"]),
    )],
  // Huge strings, far over the cap (now and then).
  [
    1,
    (rng) =>
      rng.chance(0.2) ? "z".repeat(rng.int(64 * 1024, 1024 * 1024)) : sayOfLength(40_000, "b"),
  ],
];

/** Builds a WebSocket case. */
export function wsCase(rng: Rng, index: number, targets: Targets): WsCase {
  const nick = freshNick(rng, index);
  const frames: WsFrame[] = [];
  const joins = rng.chance(0.7);
  if (joins) {
    // Into #lobby, or into rooms of which some are refused (told after the welcome).
    const rooms = rng.chance(0.3)
      ? Array.from({ length: rng.int(0, 20) }, () => hostileRoom(rng, targets, nick))
      : undefined;
    const join = JSON.stringify({ type: "join", nick, rooms });
    // Within the frame cap, or it would not be a join at all.
    frames.push(join.length <= FRAME_MAX ? join : JSON.stringify({ type: "join", nick }));
  } else if (rng.chance(0.5)) frames.push(JSON.stringify({ type: "say", text: "before joining" }));
  for (let i = rng.size(20); i > 0; i--) {
    frames.push(...[rng.weighted(WS_PIECES)(rng, targets, nick)].flat());
  }
  const ws: WsCase = { kind: "ws", frames, ending: rng.chance(0.15) ? "close" : "sentinel" };
  if (joins) ws.joinsAs = nick;
  return ws;
}

// ---------------------------------------------------------------------------
// Raw WebSocket wire bytes

/** The parts of one frame on the wire, lies included. */
interface WireFrame extends Omit<FrameOptions, "mask"> {
  opcode: number;
  payload: Uint8Array;
  /** Clients must mask; an unmasked client frame is a protocol error. */
  masked: boolean;
}

/** Encodes a frame as a client would put it on the wire, its masking key drawn from `rng`. */
export function wireFrame(rng: Rng, f: WireFrame): Uint8Array {
  const { opcode, payload, masked, ...options } = f;
  return encodeFrame(opcode, payload, { ...options, mask: masked && rng.bytes(4) });
}

/** One hostile connection to `/ws` below the WebSocket API: its handshake and wire bytes. */
export interface RawWsCase {
  kind: "raw-ws";
  /** Headers of the upgrade request besides `Host` (valid ones, or not). */
  headers: string[];
  /** True when the headers are valid and must be answered with 101. */
  upgrades: boolean;
  /** Frame bytes sent after the handshake's answer. */
  bytes: Uint8Array;
  cuts: number[];
}

/** The key of RFC 6455's example handshake: any 16 bytes in base64 will do. */
const WS_KEY = "dGhlIHNhbXBsZSBub25jZQ==";

type WirePiece = (rng: Rng, self: string) => Uint8Array;

/** A frame with `payload`: final, no reserved bit, masked, unless `lies` says otherwise. */
function frame(
  rng: Rng,
  opcode: number,
  payload: Uint8Array,
  lies: Partial<WireFrame> = {},
): Uint8Array {
  return wireFrame(rng, { fin: true, rsv: 0, opcode, payload, masked: true, ...lies });
}

const WIRE_PIECES: readonly (readonly [number, WirePiece])[] = [
  // A valid join or chat, whole.
  [4, (rng, self) => frame(rng, Opcode.text, utf8(JSON.stringify({ type: "join", nick: self })))],
  [
    3,
    (rng) =>
      frame(rng, Opcode.text, utf8(JSON.stringify({ type: "say", text: fuzzText(rng, 200) }))),
  ],
  // A chat message in fragments, with pings between them.
  [3, (rng) => {
    const payload = utf8(JSON.stringify({ type: "say", text: `fragmented ${fuzzText(rng, 100)}` }));
    const parts: Uint8Array[] = [];
    for (let at = 0; at < payload.length;) {
      const end = Math.min(payload.length, at + rng.int(1, 16));
      const opcode = at === 0 ? Opcode.text : Opcode.continuation;
      parts.push(frame(rng, opcode, payload.subarray(at, end), { fin: end === payload.length }));
      if (rng.chance(0.3)) parts.push(frame(rng, Opcode.ping, rng.bytes(4)));
      at = end;
    }
    return concatBytes(parts);
  }],
  // Invalid UTF-8 in a text frame.
  [2, (rng) => {
    const bad = Uint8Array.from(rng.pick(BAD_UTF8));
    return frame(rng, Opcode.text, concatBytes([utf8('{"type":"say","text":"'), bad, utf8('"}')]));
  }],
  // Reserved bits, reserved opcodes, an unmasked frame.
  [2, (rng) => frame(rng, Opcode.text, utf8("{}"), { rsv: rng.int(1, 7) })],
  [2, (rng) => frame(rng, rng.pick([3, 4, 5, 6, 7, 11, 12, 13, 14, 15]), rng.bytes(rng.size(100)))],
  [1, (rng) => frame(rng, Opcode.text, utf8('{"type":"who"}'), { masked: false })],
  // Control frames that break the rules: fragmented, or longer than 125 bytes.
  [
    2,
    (rng) =>
      frame(
        rng,
        rng.pick([Opcode.ping, Opcode.pong, Opcode.close]),
        rng.bytes(rng.pick([0, 1, 125, 126, 1000])),
        {
          fin: rng.chance(0.5),
        },
      ),
  ],
  // Close frames with odd codes and reasons.
  [1, (rng) => {
    const code = Uint8Array.of(rng.int(0, 255), rng.int(0, 255));
    return frame(rng, Opcode.close, concatBytes([code, Uint8Array.from(rng.pick(BAD_UTF8))]));
  }],
  // A continuation with nothing to continue; a new message inside a fragmented one.
  [2, (rng) =>
    rng.chance(0.5) ? frame(rng, Opcode.continuation, utf8("}")) : concatBytes([
      frame(rng, Opcode.text, utf8("{"), { fin: false }),
      frame(rng, Opcode.binary, utf8("}")),
    ])],
  // Lengths: announced in a longer form than needed, or far more than is sent.
  [
    2,
    (rng) =>
      frame(rng, Opcode.text, utf8('{"type":"who"}'), { longForm: rng.pick([16, 64] as const) }),
  ],
  [1, (rng) =>
    frame(rng, Opcode.text, utf8('{"type":"say","text":"short'), {
      claim: rng.pick([200, 70_000, 2 ** 31, 2 ** 40, 2 ** 53 - 1]),
    })],
  // Noise.
  [2, (rng) => rng.bytes(rng.size(512))],
];

/** Builds a raw WebSocket case. */
export function rawWsCase(rng: Rng, index: number): RawWsCase {
  const good = upgradeHeaders(WS_KEY);
  const bad: readonly (readonly string[])[] = [
    good.filter((h) => !h.startsWith("Sec-WebSocket-Key")),
    good.map((h) => h.startsWith("Connection") ? "Connection: keep-alive" : h),
    [...good, `Origin: http://evil.invalid`],
  ];
  const upgrades = rng.chance(0.85);
  const self = freshNick(rng, index);
  const parts: Uint8Array[] = [];
  if (upgrades) {
    for (let i = rng.size(8); i > 0; i--) parts.push(rng.weighted(WIRE_PIECES)(rng, self));
  }
  const bytes = concatBytes(parts);
  return {
    kind: "raw-ws",
    headers: upgrades ? good : [...rng.pick(bad)],
    upgrades,
    bytes,
    cuts: chunkCuts(rng, bytes),
  };
}

// ---------------------------------------------------------------------------
// IRC lines

/** Every command the IRC port knows, some it does not, and spellings that are not commands. */
const IRC_COMMANDS: readonly string[] = [
  "JOIN",
  "PART",
  "PRIVMSG",
  "NOTICE",
  "NICK",
  "USER",
  "PASS",
  "CAP",
  "TOPIC",
  "NAMES",
  "WHO",
  "WHOIS",
  "WHOWAS",
  "LIST",
  "MODE",
  "ISON",
  "USERHOST",
  "AWAY",
  "CHATHISTORY",
  "PING",
  "PONG",
  "MOTD",
  "KICK",
  "INVITE",
  "OPER",
  "KILL",
  "TAGMSG",
  "BATCH",
  "WALLOPS",
  "ERROR",
  "001",
  "privmsg",
  "Join",
  // Not PRIVMSG: a dotless i that toUpperCase() would make one, full-width letters.
  "prıvmsg",
  "ＰＲＩＶＭＳＧ",
  "PRIVMSG\u200b",
];

/** Capabilities a client may ask for: ours, others', nonsense. */
const IRC_CAPS: readonly string[] = [
  "batch",
  "draft/chathistory",
  "echo-message",
  "message-tags",
  "server-time",
  "-server-time",
  "sasl",
  "multi-prefix",
  "draft/multiline",
  "",
  "-",
  "x".repeat(300),
];

/** A message reference for CHATHISTORY: valid, odd, or nonsense. */
function msgRef(rng: Rng): string {
  return rng.pick([
    "*",
    `msgid=${rng.int(0, 100_000)}`,
    `msgid=${rng.int(0, 100_000)}.${rng.int(1, 9)}`,
    "msgid=",
    "msgid=-1",
    `msgid=${"9".repeat(rng.int(15, 40))}`,
    "timestamp=2026-12-05T07:41:00.000Z",
    "timestamp=1970-01-01T00:00:00Z",
    "timestamp=9999-12-31T23:59:59.999999999Z",
    "timestamp=2026-02-30T00:00:00Z",
    "timestamp=now",
    `timestamp=${fuzzText(rng, 40)}`,
    fuzzText(rng, 20),
  ]);
}

/** One parameter of a command: a room, a nickname, a number, a reference or text. */
function ircParam(rng: Rng, targets: Targets, self: string): string {
  return rng.weighted<() => string>([
    [4, () => hostileRoom(rng, targets, self)],
    [3, () => rng.pick(targets.rooms)],
    [2, () => Array.from({ length: rng.int(2, 30) }, () => rng.pick(targets.rooms)).join(",")],
    [3, () => hostileNick(rng, targets)],
    [2, () => rng.pick([...targets.honest, self])],
    [1, () => `${rng.pick(targets.honest)},${rng.pick(targets.rooms)},nobody`],
    [2, () => `${rng.int(-5, 2000)}`],
    [1, () => rng.pick(["*", "0", "+b", "-b", "+o", "b", "LS", "REQ", "END", "302", ":", "::"])],
    [2, () => msgRef(rng)],
    [3, () => fuzzText(rng, 60)],
  ])();
}

/** Up to about `bytes` of IRCv3 tags: valid, escaped, duplicated, malformed. */
function ircTags(rng: Rng, bytes: number): string {
  const tags: string[] = [];
  let size = 1;
  while (size < bytes) {
    const tag = rng.pick([
      `+draft/reply=${rng.int(1, 1000)}`,
      `time=2026-12-05T07:41:00.000Z`,
      `msgid=${rng.int(1, 1000)}`,
      `batch=h${rng.int(1, 9)}`,
      `+x=${"\\s\\:\\\\\\r\\n\\".slice(0, rng.int(0, 12))}`,
      "+typing=active",
      "",
      "=",
      "novalue",
      "a=b=c",
      `${"k".repeat(rng.int(250, 300))}=v`,
      `+y=${fuzzText(rng, 40).replace(/[ ;\r\n\0]/g, "_")}`,
    ]);
    tags.push(tag);
    size += tag.length + 1;
  }
  return `@${tags.join(";")}`;
}

/** A source prefix a client has no business sending: servers ignore it, or should. */
function ircSource(rng: Rng, targets: Targets): string {
  return rng.pick([
    `:${rng.pick(targets.honest)}!irc@chat.local`,
    ":chat.local",
    ":",
    `:${hostileNick(rng, targets).replace(/ /g, "_")}`,
    `:${fuzzText(rng, 30).replace(/ /g, "_")}`,
  ]);
}

/** A CTCP body: a request, an action, one never closed, an empty one. */
function ctcpText(rng: Rng): string {
  return rng.pick([
    "\x01VERSION\x01",
    `\x01PING ${rng.int(0, 1e9)}\x01`,
    "\x01TIME\x01",
    `\x01ACTION ${fuzzText(rng, 200)}\x01`,
    "\x01ACTION\x01",
    `\x01ACTION ${fuzzText(rng, 50)}`,
    "\x01\x01",
    "\x01",
    "\x01DCC SEND file 2130706433 6667 100\x01",
    `\x01${fuzzText(rng, 40)}\x01`,
    `before\x01VERSION\x01after`,
  ]);
}

/**
 * A PRIVMSG (or NOTICE) of one- to four-byte characters whose line is a few
 * bytes either side of the 512-byte cap, CRLF included.
 */
function edgeLine(rng: Rng, targets: Targets): string {
  const head = `${rng.pick(["PRIVMSG", "NOTICE"])} ${rng.pick(targets.rooms)} :`;
  const total = 512 + rng.pick([-3, -2, -1, 0, 1, 2, 3, 100]);
  const filler = rng.pick(["x", "亚", "\u{1f600}", "e\u0301"]);
  const room = total - 2 - utf8(head).length;
  const body = filler.repeat(Math.floor(room / utf8(filler).length));
  return head + body + "y".repeat(room - utf8(body).length);
}

/** One line (without its end) of a hostile IRC stream. */
type IrcLine = (rng: Rng, targets: Targets, self: string) => string;

const IRC_LINES: readonly (readonly [number, IrcLine])[] = [
  // Any command with any parameters, now and then more than 15 of them.
  [10, (rng, targets, self) => {
    const params = Array.from(
      { length: rng.int(0, rng.chance(0.1) ? 20 : 4) },
      () => ircParam(rng, targets, self),
    );
    const trailing = rng.chance(0.5) ? ` :${fuzzText(rng, 200)}` : "";
    return `${rng.pick(IRC_COMMANDS)} ${params.join(" ")}${trailing}`;
  }],
  // Chat to the honest members' rooms and to them, with text of every kind.
  [
    8,
    (rng, targets, self) =>
      `${rng.pick(["PRIVMSG", "NOTICE"])} ${ircParam(rng, targets, self)} :${fuzzText(rng, 400)}`,
  ],
  // CTCP, to rooms and to members.
  [
    5,
    (rng, targets, self) =>
      `${rng.pick(["PRIVMSG", "NOTICE"])} ${
        rng.pick([...targets.rooms, ...targets.honest, self])
      } :${ctcpText(rng)}`,
  ],
  // Tags before the command, within the 8191 bytes they may take and past them.
  [4, (rng, targets, self) => {
    const size = rng.chance(0.2) ? 8191 + rng.pick([-2, -1, 0, 1, 2, 500]) : rng.size(400);
    return `${ircTags(rng, size)} PRIVMSG ${rng.pick(targets.rooms)} :tagged ${self}`;
  }],
  // A source prefix, impersonating the honest or the server.
  [3, (rng, targets) => `${ircSource(rng, targets)} PRIVMSG ${rng.pick(targets.rooms)} :spoof`],
  // Lines at the 512-byte edge.
  [4, (rng, targets) => edgeLine(rng, targets)],
  // NUL and other controls inside a line.
  [3, (rng, targets) =>
    rng.pick([
      `PRIVMSG ${rng.pick(targets.rooms)} :nul\x00here`,
      "NICK nul\x00nick",
      "\x00PRIVMSG #lobby :hi",
      `TOPIC ${rng.pick(targets.rooms)} :\x1b[2J\x07\x02bold\x0304red`,
      `PART ${rng.pick(targets.rooms)} :\u202ebidi\x1b]0;title\x07`,
      `AWAY :\x1b[31m${fuzzText(rng, 100)}`,
      `QUIT :\x00\x1b[2J`,
    ])],
  // CHATHISTORY of every shape.
  [4, (rng, targets) => {
    const sub = rng.pick(["LATEST", "BEFORE", "AFTER", "BETWEEN", "AROUND", "TARGETS", "latest"]);
    const target = rng.pick([...targets.rooms, ...targets.honest, "#nowhere", "*"]);
    const limit = rng.pick(["10", "0", "-1", "100", "1000000", "1e3", "x", ""]);
    return `CHATHISTORY ${sub} ${target} ${msgRef(rng)} ${
      sub === "BETWEEN" ? `${msgRef(rng)} ` : ""
    }${limit}`;
  }],
  // Capability negotiation at any time.
  [3, (rng) =>
    rng.pick([
      "CAP LS 302",
      "CAP LS",
      `CAP REQ :${Array.from({ length: rng.int(0, 6) }, () => rng.pick(IRC_CAPS)).join(" ")}`,
      "CAP END",
      "CAP LIST",
      `CAP ${fuzzText(rng, 20)}`,
      "CAP",
    ])],
  // Rooms, in and out; renames; the lists.
  [5, (rng, targets, self) =>
    rng.pick([
      `JOIN ${hostileRoom(rng, targets, self).replace(/ /g, ",")}`,
      `JOIN ${rng.pick(targets.rooms)}`,
      "JOIN 0",
      `PART ${rng.pick(targets.rooms)} :${fuzzText(rng, 100)}`,
      `NICK ${hostileNick(rng, targets).replace(/ /g, "_")}`,
      `NICK ${self}${rng.pick(["", "2", "_"])}`,
      `TOPIC ${rng.pick(targets.rooms)} :${fuzzText(rng, 400)}`,
      `WHO ${rng.pick(targets.rooms)}`,
      `NAMES ${rng.pick(targets.rooms)}`,
      `WHOIS ${rng.pick(targets.honest)}`,
      `MODE ${rng.pick(targets.rooms)} ${rng.pick(["", "+b", "b", "+o x", "+i"])}`,
      "LIST",
    ])],
  // An HTTP request line after registration: only an unknown command there.
  [1, (rng) => rng.pick(["GET / HTTP/1.1", "POST / HTTP/1.1", "OPTIONS * HTTP/1.1"])],
];

/** Line ends: CRLF mostly, and LF, CR, and nothing between two lines. */
function ircEol(rng: Rng): string {
  return rng.weighted([[8, "\r\n"], [2, "\n"], [1, "\r"], [1, "\r\n\r\n"]]);
}

/** One hostile IRC connection. */
export interface IrcCase {
  kind: "irc";
  /** Everything the fuzzer sends. */
  bytes: Uint8Array;
  /** Offsets where a write ends and the next begins, ascending. */
  cuts: number[];
  ending: TcpEnding;
  /** For an abrupt ending, how many bytes are written before the close. */
  stopAt: number;
  /** The nickname its opening registers, when that must be accepted. */
  registersAs?: string;
  /** True when its first line is an HTTP request: it must be cut off with nothing said. */
  http: boolean;
}

/** How IRC streams start: registering (most), trying refused nicknames, or with junk. */
const IRC_OPENINGS = [[6, "register"], [2, "attempts"], [1, "junk"], [1, "http"]] as const;

/** Builds an IRC case. */
export function ircCase(rng: Rng, index: number, targets: Targets): IrcCase {
  const nick = freshNick(rng, index);
  const opening = rng.weighted(IRC_OPENINGS);
  const lines: string[] = [];
  if (opening === "register") {
    const negotiate = rng.chance(0.6);
    if (negotiate) lines.push("CAP LS 302");
    if (negotiate && rng.chance(0.7)) {
      const caps = Array.from({ length: rng.int(1, 5) }, () => rng.pick(IRC_CAPS.slice(0, 5)));
      lines.push(`CAP REQ :${caps.join(" ")}`);
    }
    if (rng.chance(0.2)) lines.push(`PASS ${fuzzText(rng, 20).replace(/ /g, "_")}`);
    lines.push(`NICK ${nick}`, `USER ${nick} 0 * :${fuzzText(rng, 40)}`);
    if (negotiate) lines.push("CAP END");
  } else if (opening === "attempts") {
    for (let i = rng.size(10); i > 0; i--) {
      lines.push(`NICK ${hostileNick(rng, targets).replace(/[ \r\n]/g, "_")}`);
    }
    lines.push(`USER x 0 * :${fuzzText(rng, 20)}`);
    if (rng.chance(0.5)) lines.push(`NICK ${nick}`);
  } else if (opening === "http") {
    lines.push(rng.pick(["GET / HTTP/1.1", "POST /ws HTTP/1.1", "HEAD / HTTP/1.0"]));
    lines.push("Host: 127.0.0.1", "", `NICK ${nick}`);
  } else {
    lines.push(`JOIN ${rng.pick(targets.rooms)}`, `PRIVMSG ${rng.pick(targets.rooms)} :early`);
  }
  const parts: Uint8Array[] = [utf8(lines.map((line) => `${line}\r\n`).join(""))];
  for (let i = rng.size(16); i > 0; i--) {
    const piece = rng.weighted<() => Uint8Array>([
      [20, () => utf8(rng.weighted(IRC_LINES)(rng, targets, nick) + ircEol(rng))],
      // Invalid UTF-8 inside a line.
      [3, () =>
        concatBytes([
          utf8(`PRIVMSG ${rng.pick(targets.rooms)} :bad `),
          Uint8Array.from(rng.pick(BAD_UTF8)),
          utf8(` utf8${ircEol(rng)}`),
        ])],
      // Noise; a line that never ends (now and then).
      [2, () => rng.bytes(rng.size(1024))],
      [1, () => utf8(rng.chance(0.1) ? "z".repeat(rng.int(10_000, 100_000)) : "\r\n".repeat(100))],
    ])();
    parts.push(piece);
  }
  if (rng.chance(0.2)) parts.push(utf8(`QUIT :${fuzzText(rng, 100)}\r\n`));
  const bytes = concatBytes(parts);
  const ending: TcpEnding = rng.chance(0.2) ? "abrupt" : "eof";
  const stopAt = ending === "abrupt" ? rng.int(1, bytes.length) : bytes.length;
  const irc: IrcCase = {
    kind: "irc",
    bytes,
    cuts: chunkCuts(rng, bytes),
    ending,
    stopAt,
    http: opening === "http",
  };
  if (opening === "register") irc.registersAs = nick;
  return irc;
}

/** Any fuzz case. */
export type FuzzCase = TcpCase | WsCase | RawWsCase | IrcCase;

/**
 * Case `index` of a run seeded with `seed`: a terminal stream, WebSocket
 * frames, raw WebSocket bytes, or IRC lines. The same seed and index give
 * the same case.
 */
export function fuzzCase(seed: number, index: number, targets: Targets): FuzzCase {
  const rng = new Rng(caseSeed(seed, index));
  const kind = rng.weighted<FuzzCase["kind"]>([
    [40, "tcp"],
    [30, "ws"],
    [10, "raw-ws"],
    [20, "irc"],
  ]);
  if (kind === "tcp") return tcpCase(rng, index, targets);
  if (kind === "ws") return wsCase(rng, index, targets);
  if (kind === "irc") return ircCase(rng, index, targets);
  return rawWsCase(rng, index);
}
