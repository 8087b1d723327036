import assert from "node:assert/strict";
import {
  byteLength,
  ctcp,
  escapeTagValue,
  formatLine,
  INPUT_MAX,
  type IrcMessage,
  LINE_MAX,
  parseCtcp,
  parseLine,
  parseServerTime,
  serverTime,
  splitText,
  stripFormatting,
  TAG_KEY_MAX,
  TAGS_MAX,
  tooLong,
  unescapeTagValue,
} from "../server/transport/irc/message.ts";
import { caseSeed, Rng } from "./fuzz.ts";

const encoder = new TextEncoder();

/** A message as parseLine returns it, built from plain parts for deepEqual. */
function msg(
  command: string,
  params: string[],
  extra: { tags?: [string, string][]; source?: string } = {},
): IrcMessage {
  const m: IrcMessage = { tags: new Map(extra.tags ?? []), command, params };
  if (extra.source !== undefined) m.source = extra.source;
  return m;
}

// --- parseLine ---------------------------------------------------------------

Deno.test("parseLine() reads command, middles and a trailing parameter with spaces", () => {
  assert.deepEqual(
    parseLine("PRIVMSG #lobby :hello  world "),
    msg("PRIVMSG", ["#lobby", "hello  world "]),
  );
  assert.deepEqual(parseLine("NICK alice"), msg("NICK", ["alice"]));
  assert.deepEqual(parseLine("QUIT"), msg("QUIT", []));
  assert.deepEqual(parseLine("USER u 0 * :Real Name"), msg("USER", ["u", "0", "*", "Real Name"]));
});

Deno.test("parseLine() upper-cases the command in ASCII only and keeps numerics", () => {
  assert.equal(parseLine("privMsg #a b")?.command, "PRIVMSG");
  assert.equal(parseLine(":srv 001 alice :Welcome")?.command, "001");
  // A dotless ı would turn into I with toUpperCase(): no command may be spelled that way.
  assert.equal(parseLine("prıvmsg #a b")?.command, "PRıVMSG");
});

Deno.test("parseLine() reads the source and leaves it out when empty", () => {
  assert.deepEqual(
    parseLine(":nick!user@host PRIVMSG #a :hi"),
    msg("PRIVMSG", ["#a", "hi"], { source: "nick!user@host" }),
  );
  assert.deepEqual(parseLine(": PING x"), msg("PING", ["x"]));
});

Deno.test("parseLine() takes several spaces as one separator, before and after the command", () => {
  assert.deepEqual(
    parseLine("@a=1   :src   PRIVMSG   #a    b   :c  d"),
    msg("PRIVMSG", ["#a", "b", "c  d"], { tags: [["a", "1"]], source: "src" }),
  );
  assert.deepEqual(parseLine("   JOIN #a   "), msg("JOIN", ["#a"]));
});

Deno.test("parseLine() reads an empty trailing parameter and a lone colon in it", () => {
  assert.deepEqual(parseLine("TOPIC #a :"), msg("TOPIC", ["#a", ""]));
  assert.deepEqual(parseLine("PRIVMSG #a ::)"), msg("PRIVMSG", ["#a", ":)"]));
  assert.deepEqual(parseLine("PRIVMSG #a :"), msg("PRIVMSG", ["#a", ""]));
});

Deno.test("parseLine() gives the rest of the line to the 15th parameter", () => {
  const words = Array.from({ length: 17 }, (_, i) => `p${i + 1}`);
  const parsed = parseLine(`CMD ${words.join(" ")}`);
  assert.equal(parsed?.params.length, 15);
  assert.equal(parsed?.params[13], "p14");
  assert.equal(parsed?.params[14], "p15 p16 p17");
  const colon = parseLine(`CMD ${words.slice(0, 14).join(" ")} :last one`);
  assert.equal(colon?.params[14], "last one");
  const fifteen = parseLine(`CMD ${words.slice(0, 15).join(" ")}`);
  assert.deepEqual(fifteen?.params, words.slice(0, 15));
});

Deno.test("parseLine() reads tags: flags, empty values, escapes, last duplicate wins", () => {
  const parsed = parseLine("@a=b;c;+d=x\\:y;e=;vendor.example/f=1\\s2\\\\3;a=again :s CMD");
  assert.deepEqual(
    parsed,
    msg("CMD", [], {
      source: "s",
      tags: [["a", "again"], ["c", ""], ["+d", "x;y"], ["e", ""], ["vendor.example/f", "1 2\\3"]],
    }),
  );
});

Deno.test("parseLine() skips empty tags and tags with an invalid or overlong name", () => {
  const long = "k".repeat(TAG_KEY_MAX + 1);
  const parsed = parseLine(`@;;=v;a_b=1;é=1;+;x\x00=1;${long}=1;${long.slice(1)}=ok;ok=1 PING`);
  assert.deepEqual([...parsed?.tags.keys() ?? []], [long.slice(1), "ok"]);
  assert.equal(parseLine("@; PING")?.command, "PING");
});

Deno.test("parseLine() returns undefined for blank lines and lines without a command", () => {
  for (
    const line of [
      "",
      " ",
      "   ",
      "@",
      "@ ",
      "@a=b",
      "@a=b ",
      ":",
      ": ",
      ":src",
      ":src   ",
      "@a :src",
      "@a :src ",
    ]
  ) {
    assert.equal(parseLine(line), undefined, JSON.stringify(line));
  }
});

Deno.test("unescapeTagValue() follows IRCv3: known escapes, unknown ones, a trailing backslash", () => {
  assert.equal(unescapeTagValue("a\\:b\\sc\\\\d\\re\\nf"), "a;b c\\d\re\nf");
  assert.equal(unescapeTagValue("\\b\\x\\"), "bx");
  assert.equal(unescapeTagValue("\\"), "");
  assert.equal(unescapeTagValue("\\\\\\"), "\\");
  assert.equal(unescapeTagValue("\\😀"), "😀");
  assert.equal(escapeTagValue("a;b c\\d\re\nf\0"), "a\\:b\\sc\\\\d\\re\\nf\\s");
});

// --- lengths -----------------------------------------------------------------

Deno.test("byteLength() equals TextEncoder's count, lone surrogates included", () => {
  const samples = [
    "",
    "a",
    "é",
    "你好",
    "😀",
    "👨‍👩‍👧",
    "\ud800",
    "a\udc00b",
    "\ud83d\ud83d\ude00",
    "\u07ff\u0800",
  ];
  for (const s of samples) assert.equal(byteLength(s), encoder.encode(s).length, JSON.stringify(s));
  const rng = new Rng(0xb17e);
  for (let i = 0; i < 500; i++) {
    const s = randomText(rng, rng.size(40));
    assert.equal(byteLength(s), encoder.encode(s).length, JSON.stringify(s));
  }
});

Deno.test("tooLong() allows 510 bytes after the tags (512 with CRLF) and no more", () => {
  assert.equal(LINE_MAX, 512);
  assert.equal(INPUT_MAX, TAGS_MAX + LINE_MAX);
  const head = "PRIVMSG #a :";
  const line = (bytes: number) => head + "x".repeat(bytes - head.length);
  assert.equal(tooLong(line(509)), false); // 511 with CRLF
  assert.equal(tooLong(line(510)), false); // 512 with CRLF
  assert.equal(tooLong(line(511)), true); // 513 with CRLF
  // Counted in bytes: 170 CJK characters are 510 bytes, 171 are 513.
  assert.equal(tooLong("PRIVMSG #a :" + "你".repeat(166)), false);
  assert.equal(tooLong("PRIVMSG #a :" + "你".repeat(167)), true);
  assert.equal(tooLong("@a=b " + line(510)), false);
  assert.equal(tooLong("@a=b " + line(511)), true);
});

Deno.test("tooLong() allows a tag section of 8191 bytes with its @ and space, and no more", () => {
  const tags = (bytes: number) => `@k=${"v".repeat(bytes - 4)} `; // "@k=" + value + " "
  assert.equal(byteLength(tags(TAGS_MAX)), TAGS_MAX);
  assert.equal(tooLong(tags(TAGS_MAX) + "PING x"), false);
  assert.equal(tooLong(tags(TAGS_MAX + 1) + "PING x"), true);
  assert.equal(tooLong(`@k=${"v".repeat(TAGS_MAX)}`), true);
  // Both at their limit is the longest line a decoder must take.
  const longest = tags(TAGS_MAX) + "PRIVMSG #a :" + "x".repeat(510 - 12);
  assert.equal(tooLong(longest), false);
  assert.equal(byteLength(longest) + 2, INPUT_MAX);
});

// --- formatLine --------------------------------------------------------------

Deno.test("formatLine() puts a colon before a last parameter only when it needs one", () => {
  assert.equal(formatLine({ command: "PRIVMSG", params: ["#a", "hi"] }), "PRIVMSG #a hi");
  assert.equal(
    formatLine({ command: "PRIVMSG", params: ["#a", "hi there"] }),
    "PRIVMSG #a :hi there",
  );
  assert.equal(formatLine({ command: "PRIVMSG", params: ["#a", ""] }), "PRIVMSG #a :");
  assert.equal(formatLine({ command: "PRIVMSG", params: ["#a", ":)"] }), "PRIVMSG #a ::)");
  assert.equal(formatLine({ command: "PING", params: [] }), "PING");
  assert.equal(
    formatLine({ source: "irc.test", command: "001", params: ["alice", "Welcome, alice"] }),
    ":irc.test 001 alice :Welcome, alice",
  );
});

Deno.test("formatLine() turns CR, LF and NUL in the text into spaces, so no line is injected", () => {
  const line = formatLine({ command: "PRIVMSG", params: ["#a", "hi\r\nQUIT :bye\0"] });
  assert.equal(line, "PRIVMSG #a :hi  QUIT :bye ");
  assert.deepEqual(parseLine(line)?.params, ["#a", "hi  QUIT :bye "]);
});

Deno.test("formatLine() keeps middles, source and command one word each", () => {
  const line = formatLine({
    source: "a b\r\n",
    command: "@X",
    params: ["", "x y", ":z", "\n", "last"],
  });
  assert.equal(line, ":a_b__ _X * x_y _z _ last");
  assert.deepEqual(
    parseLine(line),
    msg("_X", ["*", "x_y", "_z", "_", "last"], { source: "a_b__" }),
  );
  assert.equal(formatLine({ source: "", command: "PING", params: ["x"] }), "PING x");
});

Deno.test("formatLine() escapes tag values, writes an empty value as the bare key, drops bad keys", () => {
  const tags: [string, string][] = [
    ["time", "2026-12-05T07:41:00.123Z"],
    ["+draft/reply", ""],
    ["msgid", "a;b c\\d\r\n"],
    ["bad key", "x"],
    ["", "y"],
    ["x=y", "z"],
  ];
  const line = formatLine({ tags, source: "n!u@h", command: "PRIVMSG", params: ["#a", "hi"] });
  assert.equal(
    line,
    "@time=2026-12-05T07:41:00.123Z;+draft/reply;msgid=a\\:b\\sc\\\\d\\r\\n :n!u@h PRIVMSG #a hi",
  );
  assert.deepEqual([...parseLine(line)?.tags ?? []], tags.slice(0, 3));
  assert.equal(formatLine({ tags: [["bad key", "x"]], command: "PING", params: [] }), "PING");
  assert.equal(formatLine({ tags: undefined, command: "PING", params: [] }), "PING");
});

// --- round trip and fuzz -----------------------------------------------------

// Pieces that have broken IRC parsers: separators, escapes, controls, wide text.
const ATOMS = [
  "a",
  "Z",
  "0",
  " ",
  "  ",
  ":",
  "@",
  ";",
  "=",
  "\\",
  "\\s",
  "\r",
  "\n",
  "\0",
  "\x01",
  "\x03",
  "\t",
  "#",
  "!",
  "é",
  "你",
  "😀",
  "👨‍👩‍👧",
  "e\u0301",
  "\ud800",
  "\udfff",
];

function randomText(rng: Rng, atoms: number): string {
  let s = "";
  for (let i = 0; i < atoms; i++) s += rng.pick(ATOMS);
  return s;
}

const KEY_CHARS = "abcz09-./";

function randomKey(rng: Rng): string {
  if (rng.chance(0.1)) return randomText(rng, rng.int(0, 3)); // mostly invalid
  let key = rng.chance(0.3) ? "+" : "";
  for (let n = rng.int(1, 8); n > 0; n--) key += rng.pick([...KEY_CHARS]);
  return key;
}

/** What formatLine promises to keep of a message: the model the round trip is checked against. */
function sanitised(m: {
  tags: [string, string][];
  source: string;
  command: string;
  params: string[];
}): IrcMessage {
  const word = (s: string) => {
    if (s === "") return "*";
    const safe = s.replace(/[\0\r\n ]/g, "_");
    return safe.startsWith(":") ? "_" + safe.slice(1) : safe;
  };
  const valid = m.tags.filter(([k]) => /^\+?[-./0-9A-Za-z]+$/.test(k));
  const tags = new Map(valid.map(([k, v]) => [k, v.replaceAll("\0", " ")]));
  const params = m.params.map((p, i) =>
    i < m.params.length - 1 ? word(p) : p.replace(/[\0\r\n]/g, " ")
  );
  const out: IrcMessage = { tags, command: m.command, params };
  if (m.source !== "") out.source = word(m.source);
  return out;
}

Deno.test("parseLine(formatLine(m)) gives m back, sanitised, for 3,000 random messages (seeded)", () => {
  const seed = 0x1dc;
  for (let index = 0; index < 3000; index++) {
    const rng = new Rng(caseSeed(seed, index));
    const m = {
      tags: Array.from({ length: rng.int(0, 4) }, (): [string, string] => [
        randomKey(rng),
        randomText(rng, rng.int(0, 6)),
      ]),
      source: rng.chance(0.5) ? randomText(rng, rng.int(0, 4)) : "",
      command: rng.pick(["PRIVMSG", "NOTICE", "001", "353", "JOIN", "TAGMSG"]),
      params: Array.from({ length: rng.int(0, 15) }, () => randomText(rng, rng.int(0, 8))),
    };
    const line = formatLine(m);
    assert.ok(!/[\0\r\n]/.test(line), `seed ${seed}, case ${index}: ${JSON.stringify(line)}`);
    assert.deepEqual(
      parseLine(line),
      sanitised(m),
      `seed ${seed}, case ${index}: ${JSON.stringify(line)}`,
    );
  }
});

Deno.test("parseLine() never throws and keeps its shape on random lines (seeded)", () => {
  const seed = 0xf022;
  for (let index = 0; index < 3000; index++) {
    const rng = new Rng(caseSeed(seed, index));
    const line = rng.chance(0.3)
      ? String.fromCharCode(...rng.bytes(rng.size(600)))
      : randomText(rng, rng.size(80));
    const parsed = parseLine(line);
    if (parsed === undefined) continue;
    const where = `seed ${seed}, case ${index}: ${JSON.stringify(line)}`;
    assert.ok(parsed.command !== "" && !parsed.command.includes(" "), where);
    assert.ok(parsed.params.length <= 15, where);
    parsed.params.slice(0, -1).forEach((p) => assert.ok(p !== "" && !p.includes(" "), where));
    assert.doesNotThrow(() => tooLong(line), where);
  }
});

Deno.test("parseLine() and tooLong() take huge hostile lines in one pass", () => {
  // Quadratic work on any of these would take minutes, not milliseconds.
  const n = 200_000;
  const lines = [
    "@" + ";".repeat(n) + " PING",
    "@" + "a=\\;".repeat(n / 4) + " PING",
    "@" + "a".repeat(n) + " PING",
    "CMD" + " ".repeat(n) + "x",
    "CMD " + "a ".repeat(n / 2),
    ":" + "x".repeat(n),
    "@" + "\\".repeat(n),
    " ".repeat(n),
  ];
  for (const line of lines) {
    parseLine(line);
    tooLong(line);
  }
  assert.equal(parseLine("@" + "a=\\;".repeat(n / 4) + " PING")?.tags.get("a"), "");
});

// --- stripFormatting ---------------------------------------------------------

Deno.test("stripFormatting() removes style codes and colour numbers but no other text", () => {
  const cases: [string, string][] = [
    [
      "\x02bold\x02 \x1Ditalic\x1D \x1Funder\x1F \x1Estrike\x1E \x11mono\x11 \x16rev\x16\x0F",
      "bold italic under strike mono rev",
    ],
    ["\x0304,12x", "x"],
    ["\x034x", "x"],
    ["\x0304x", "x"],
    ["\x03123", "3"],
    ["\x03,5", ",5"],
    ["\x031,", ","],
    ["\x031,x", ",x"],
    ["\x0301,023", "3"],
    ["\x03x", "x"],
    ["\x03", ""],
    ["\x04FF0000red", "red"],
    ["\x04ff0000,00FF00x", "x"],
    ["\x04ff00,x", "ff00,x"],
    ["\x04ABCDEF,12x", ",12x"],
    ["\x01ACTION waves\x01", "\x01ACTION waves\x01"],
    ["plain 1,2 text", "plain 1,2 text"],
    ["你好\x02😀\x02", "你好😀"],
  ];
  for (const [input, output] of cases) {
    assert.equal(stripFormatting(input), output, JSON.stringify(input));
  }
});

// --- CTCP --------------------------------------------------------------------

Deno.test("parseCtcp() reads a command and its arguments, closing \\x01 or not", () => {
  assert.deepEqual(parseCtcp("\x01ACTION waves hello\x01"), {
    command: "ACTION",
    args: "waves hello",
  });
  assert.deepEqual(parseCtcp("\x01action waves"), { command: "ACTION", args: "waves" });
  assert.deepEqual(parseCtcp("\x01VERSION\x01"), { command: "VERSION", args: "" });
  assert.deepEqual(parseCtcp("\x01PING 123\x01 trailing"), { command: "PING", args: "123" });
  assert.deepEqual(parseCtcp("\x01ACTION  two\x01"), { command: "ACTION", args: " two" });
  for (const text of ["", "ACTION x", " \x01ACTION", "\x01", "\x01\x01", "\x01 ACTION"]) {
    assert.equal(parseCtcp(text), undefined, JSON.stringify(text));
  }
});

Deno.test("ctcp() writes a message parseCtcp() reads back, with no \\x01 inside", () => {
  assert.equal(ctcp("ACTION", "waves"), "\x01ACTION waves\x01");
  assert.equal(ctcp("VERSION", ""), "\x01VERSION\x01");
  assert.equal(ctcp("ACTION", "a\x01b"), "\x01ACTION ab\x01");
  assert.deepEqual(parseCtcp(ctcp("ACTION", "x\x01 y")), { command: "ACTION", args: "x y" });
});

// --- splitText ---------------------------------------------------------------

/** Checks what every split promises, and returns the pieces. */
function checkedSplit(text: string, maxBytes: number): string[] {
  const pieces = splitText(text, maxBytes);
  const where = `${JSON.stringify(text)} at ${maxBytes}`;
  for (const piece of pieces) {
    assert.ok(byteLength(piece) <= maxBytes, where);
    assert.ok(piece !== "" || text === "", where);
    if (text.isWellFormed()) assert.ok(piece.isWellFormed(), where);
  }
  // Only separating spaces are dropped, at most one between two pieces.
  let ends = new Set([0]);
  pieces.forEach((piece, i) => {
    const next = new Set<number>();
    for (const at of ends) {
      if (text.startsWith(piece, at)) next.add(at + piece.length);
      if (i > 0 && text[at] === " " && text.startsWith(piece, at + 1)) {
        next.add(at + 1 + piece.length);
      }
    }
    ends = next;
  });
  assert.ok(ends.has(text.length), `${where}: ${JSON.stringify(pieces)}`);
  return pieces;
}

Deno.test("splitText() returns a text that fits as it is", () => {
  assert.deepEqual(splitText("", 10), [""]);
  assert.deepEqual(splitText("hello", 5), ["hello"]);
  assert.deepEqual(splitText("你好", 6), ["你好"]);
});

Deno.test("splitText() cuts at the last space in the second half and drops it", () => {
  assert.deepEqual(checkedSplit("aaaa bbbb cccc dddd", 10), ["aaaa bbbb", "cccc dddd"]);
  assert.deepEqual(checkedSplit("the quick brown fox jumps", 12), [
    "the quick",
    "brown fox",
    "jumps",
  ]);
  // A space in the first half is not worth a short piece: cut hard.
  assert.deepEqual(checkedSplit("ab cdefghijklmnop", 10), ["ab cdefghi", "jklmnop"]);
  assert.deepEqual(checkedSplit("x".repeat(25), 10), [
    "x".repeat(10),
    "x".repeat(10),
    "x".repeat(5),
  ]);
});

Deno.test("splitText() never cuts inside a character, a surrogate pair or a grapheme", () => {
  assert.deepEqual(checkedSplit("你好世界再见", 7), ["你好", "世界", "再见"]);
  assert.deepEqual(checkedSplit("😀😀😀", 9), ["😀😀", "😀"]);
  const family = "👨‍👩‍👧"; // 18 bytes, one grapheme
  assert.deepEqual(checkedSplit(`ab${family}${family}`, 20), ["ab" + family, family]);
  const accented = "e\u0301"; // 3 bytes, one grapheme
  assert.deepEqual(checkedSplit(accented.repeat(4), 7), [accented.repeat(2), accented.repeat(2)]);
});

Deno.test("splitText() cuts a grapheme longer than the limit between code points", () => {
  const zalgo = "a" + "\u0301".repeat(10); // 21 bytes, one grapheme
  assert.deepEqual(checkedSplit(zalgo, 8), [
    "a\u0301\u0301\u0301",
    "\u0301".repeat(4),
    "\u0301".repeat(3),
  ]);
  const family = "👨‍👩‍👧";
  assert.deepEqual(checkedSplit(family, 8), ["👨\u200d", "👩\u200d", "👧"]);
  assert.throws(() => splitText("abcdef", 3), RangeError);
  assert.throws(() => splitText("abcdef", NaN), RangeError);
});

Deno.test("splitText() brings a 2,000-character message under an IRC line in few pieces", () => {
  const words = Array.from({ length: 400 }, (_, i) => ["chat", "你好", "😀", "naïve"][i % 4]).join(
    " ",
  );
  const pieces = checkedSplit(words, 400);
  assert.ok(pieces.length <= Math.ceil(byteLength(words) / 200), String(pieces.length));
  assert.equal(pieces.join(" "), words);
  const cjk = "你".repeat(2000);
  assert.equal(checkedSplit(cjk, 400).length, Math.ceil(6000 / 399));
});

Deno.test("splitText() keeps its promises on random text (seeded)", () => {
  const seed = 0x5b1;
  for (let index = 0; index < 1500; index++) {
    const rng = new Rng(caseSeed(seed, index));
    checkedSplit(randomText(rng, rng.size(120)), rng.int(4, 40));
  }
});

// --- server-time -------------------------------------------------------------

Deno.test("serverTime() writes IRCv3 server-time with milliseconds", () => {
  assert.equal(serverTime(Date.UTC(2026, 11, 5, 7, 41, 0, 123)), "2026-12-05T07:41:00.123Z");
  assert.equal(serverTime(0), "1970-01-01T00:00:00.000Z");
  assert.throws(() => serverTime(NaN), RangeError);
});

Deno.test("parseServerTime() reads what serverTime() writes, with or without milliseconds", () => {
  const ms = Date.UTC(2026, 11, 5, 7, 41, 0, 123);
  assert.equal(parseServerTime(serverTime(ms)), ms);
  assert.equal(parseServerTime("2026-12-05T07:41:00Z"), ms - 123);
  assert.equal(parseServerTime("2026-12-05T07:41:00.1Z"), ms - 23);
  assert.equal(parseServerTime("2026-12-05T07:41:00.123456Z"), ms);
  assert.equal(parseServerTime("2024-02-29T23:59:59.999Z"), Date.UTC(2024, 1, 29, 23, 59, 59, 999));
  assert.equal(parseServerTime("0050-01-01T00:00:00Z"), new Date("0050-01-01T00:00:00Z").getTime());
});

Deno.test("parseServerTime() refuses anything but an existing UTC date and time", () => {
  for (
    const text of [
      "",
      "2026-12-05",
      "2026-12-05T07:41Z",
      "2026-12-05T07:41:00",
      "2026-12-05T07:41:00+00:00",
      "2026-12-05 07:41:00Z",
      "2026-12-05t07:41:00z",
      "2026-13-05T07:41:00Z",
      "2026-00-05T07:41:00Z",
      "2026-02-29T07:41:00Z",
      "2026-04-31T07:41:00Z",
      "2026-12-00T07:41:00Z",
      "2026-12-05T24:00:00Z",
      "2026-12-05T07:60:00Z",
      "2026-12-05T07:41:60Z",
      "2026-12-05T07:41:00.Z",
      "2026-12-05T07:41:00.1234567890Z",
      "+02026-12-05T07:41:00Z",
      "２０２６-12-05T07:41:00Z",
      " 2026-12-05T07:41:00Z",
      "2026-12-05T07:41:00Z\n",
      "1".repeat(100_000),
      "now",
    ]
  ) {
    assert.equal(parseServerTime(text), undefined, JSON.stringify(text));
  }
});
