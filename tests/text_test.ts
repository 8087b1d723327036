import assert from "node:assert/strict";
import { applyErase, LineDecoder, type LineEvent } from "../server/transport/terminal/lines.ts";
import { checkMessage, MESSAGE_MAX, toOneLine } from "../common/message.ts";
import { checkNick, NICK_MAX, nickKey } from "../common/nick.ts";

const encoder = new TextEncoder();

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

function line(text: string): LineEvent {
  return { type: "line", text };
}

// checkNick

Deno.test("checkNick() accepts a Chinese nickname", () => {
  assert.deepEqual(checkNick("小明"), { ok: true, value: "小明" });
});

Deno.test("checkNick() normalizes full-width letters with NFKC", () => {
  assert.deepEqual(checkNick("ａｌｉｃｅ"), { ok: true, value: "alice" });
});

Deno.test("checkNick() trims surrounding whitespace", () => {
  assert.deepEqual(checkNick("  bob \t"), { ok: true, value: "bob" });
});

Deno.test("checkNick() accepts digits, '-' and '_' after the first character", () => {
  assert.deepEqual(checkNick("a_b-2"), { ok: true, value: "a_b-2" });
});

Deno.test("checkNick() refuses a nickname with a space", () => {
  const result = checkNick("bob smith");
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.code, "nick_invalid");
  assert.match(result.reason, /spaces/);
});

Deno.test("checkNick() refuses an empty nickname", () => {
  for (const raw of ["", "   "]) {
    const result = checkNick(raw);
    assert.equal(result.ok, false, JSON.stringify(raw));
    if (result.ok) continue;
    assert.equal(result.code, "nick_invalid");
  }
});

Deno.test("checkNick() refuses invisible characters with the 'invisible' reason", () => {
  const cases = {
    "zero width space U+200B": "ali\u200Bce",
    "right-to-left override U+202E": "ali\u202Ece",
    "Hangul filler U+3164": "ali\u3164ce",
    "Hangul filler alone": "\u3164",
  };
  for (const [name, raw] of Object.entries(cases)) {
    const result = checkNick(raw);
    assert.equal(result.ok, false, name);
    if (result.ok) continue;
    assert.equal(result.code, "nick_invalid", name);
    assert.match(result.reason, /invisible/, name);
  }
});

Deno.test("checkNick() refuses punctuation and symbols", () => {
  for (const raw of ["bob!", "a.b", "a@b", "<bob>", "a/b", "bob💻"]) {
    const result = checkNick(raw);
    assert.equal(result.ok, false, raw);
    if (result.ok) continue;
    assert.equal(result.code, "nick_invalid", raw);
  }
});

Deno.test("checkNick() accepts NICK_MAX characters and refuses NICK_MAX + 1", () => {
  assert.deepEqual(checkNick("x".repeat(NICK_MAX)), { ok: true, value: "x".repeat(NICK_MAX) });
  const result = checkNick("x".repeat(NICK_MAX + 1));
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.code, "nick_invalid");
  assert.match(result.reason, /too long/);
});

Deno.test("checkNick() counts code points, not UTF-16 units, against NICK_MAX", () => {
  // U+20000 is a CJK ideograph outside the BMP: two UTF-16 units each.
  const astral = "\u{20000}".repeat(NICK_MAX);
  assert.deepEqual(checkNick(astral), { ok: true, value: astral });
});

Deno.test("checkNick() refuses a reserved nickname in any case or width", () => {
  for (const raw of ["Server", "server", "SERVER", "ｓｅｒｖｅｒ", "Admin"]) {
    const result = checkNick(raw);
    assert.equal(result.ok, false, raw);
    if (result.ok) continue;
    assert.equal(result.code, "nick_invalid", raw);
    assert.match(result.reason, /reserved/, raw);
  }
});

Deno.test("checkNick() refuses a nickname starting with '-'", () => {
  const result = checkNick("-bob");
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.code, "nick_invalid");
  assert.match(result.reason, /start/);
});

// nickKey

Deno.test("nickKey() is the same for nicknames differing only in case", () => {
  assert.equal(nickKey("Alice"), nickKey("aLICE"));
  assert.equal(nickKey("Bob"), "bob");
});

Deno.test("nickKey() folds compatibility forms with NFKC", () => {
  assert.equal(nickKey("ＡＬＩＣＥ"), nickKey("alice"));
  assert.equal(nickKey("ﬁsh"), nickKey("fish"));
});

Deno.test("nickKey() keeps different nicknames apart", () => {
  assert.notEqual(nickKey("alice"), nickKey("alice2"));
  assert.notEqual(nickKey("小明"), nickKey("小红"));
});

// toOneLine

Deno.test("checkNick() refuses a nickname mixing alphabets, naming them", () => {
  for (const nick of ["аlice", "pаypal", "Ωmega", "ѕегvег1x"]) {
    const checked = checkNick(nick);
    assert.ok(!checked.ok, nick);
    assert.match(checked.reason, /^Nickname mixes alphabets \(/, nick);
  }
  const cyrillic = checkNick("аlice");
  assert.ok(!cyrillic.ok);
  assert.match(cyrillic.reason, /\(Cyrillic, Latin\)/);
});

Deno.test("checkNick() accepts one script, and the CJK mixes written every day", () => {
  for (
    const nick of ["Иван", "Αθηνά", "山田タロウ", "김철수", "Tom张", "ゆき_2", "José", "مرحبا"]
  ) {
    assert.equal(checkNick(nick).ok, true, nick);
  }
});

Deno.test("nickKey() folds look-alikes, so a copy of a nickname counts as taken", () => {
  const alice = nickKey("alice");
  for (const copy of ["AIice", "a1ice", "аlісе", "ALICE", "alIce"]) {
    assert.equal(nickKey(copy), alice, copy);
  }
  assert.equal(nickKey("rnike"), nickKey("mike"));
  assert.equal(nickKey("ѕегѵег"), "server", "all-Cyrillic look-alike of a reserved name");
  assert.equal(checkNick("ѕегѵег").ok, false);
  assert.notEqual(nickKey("ivan"), nickKey("иван"), "a real Russian name is not folded away");
  for (
    const [copy, of] of [["ΤΟΜ", "tom"], ["ΜΑΧ", "max"], ["ꓮꓡꓲꓚꓰ", "alice"], ["ᎪᏞᎥᏟᎬ", "alice"]]
  ) {
    assert.equal(nickKey(copy!), nickKey(of!), `${copy} as ${of}`);
  }
  assert.equal(nickKey("a\u0331lice"), nickKey("alice"), "a mark under a Latin letter");
  assert.notEqual(nickKey("José"), nickKey("Jose"), "an accent that shows stays");
  assert.notEqual(nickKey("राम"), nickKey("रम"), "a Devanagari vowel sign is spelling");
  for (const hidden of ["alice\u034f", "alice\u{e0100}", "al\u115fice"]) {
    assert.equal(checkNick(hidden).ok, false, JSON.stringify(hidden));
  }
});

Deno.test("toOneLine() removes CSI escape sequences", () => {
  assert.equal(toOneLine("a\x1b[31mred\x1b[0m b"), "ared b");
  assert.equal(toOneLine("x\x1b[2J\x1b[Hy"), "xy");
});

Deno.test("toOneLine() removes an OSC sequence ended by BEL or ST", () => {
  assert.equal(toOneLine("a\x1b]0;title\x07b"), "ab");
  assert.equal(toOneLine("a\x1b]0;title\x1b\\b"), "ab");
});

Deno.test("toOneLine() removes an 8-bit CSI sequence", () => {
  assert.equal(toOneLine("a\x9b2Jb"), "ab");
});

Deno.test("toOneLine() removes an unterminated OSC sequence to the end", () => {
  assert.equal(toOneLine("hello\x1b]0;evil title"), "hello");
});

Deno.test("toOneLine() turns CR, LF, tab and U+2028 into spaces", () => {
  assert.equal(toOneLine("a\rb\nc\td\u2028e"), "a b c d e");
  assert.equal(toOneLine("a\r\nb"), "a  b");
});

Deno.test("toOneLine() removes NUL, BEL and DEL", () => {
  assert.equal(toOneLine("a\x00b\x07c\x7fd"), "abcd");
});

Deno.test("toOneLine() removes bidi embeddings, overrides and isolates", () => {
  assert.equal(toOneLine("a\u202Eb\u202Ac\u2066d\u2069e"), "abcde");
});

Deno.test("toOneLine() leaves no escape or control character behind", () => {
  const out = toOneLine("\x1b\x1b[31m\x1bc\x9b\x1b]\x07\x90x\x9c\x1b");
  // deno-lint-ignore no-control-regex -- checking for control characters is the point
  assert.doesNotMatch(out, /[\x00-\x1f\x7f-\x9f]/);
});

Deno.test("toOneLine() keeps emoji ZWJ sequences whole", () => {
  assert.equal(toOneLine("coding 👩‍💻 now"), "coding 👩‍💻 now");
  assert.equal(toOneLine("👨‍👩‍👧‍👦"), "👨‍👩‍👧‍👦");
});

Deno.test("toOneLine() keeps CJK text", () => {
  assert.equal(toOneLine("你好，世界！こんにちは 안녕"), "你好，世界！こんにちは 안녕");
});

// checkMessage

Deno.test("checkMessage() trims and cleans an ordinary message", () => {
  assert.deepEqual(checkMessage("  hello\x1b[31m world \n"), { ok: true, value: "hello world" });
});

Deno.test("checkMessage() refuses an empty or whitespace-only message with text_empty", () => {
  for (const raw of ["", "   ", "\t\r\n", "\x1b[31m \x07"]) {
    const result = checkMessage(raw);
    assert.equal(result.ok, false, JSON.stringify(raw));
    if (result.ok) continue;
    assert.equal(result.code, "text_empty", JSON.stringify(raw));
  }
});

Deno.test("checkMessage() accepts MESSAGE_MAX characters and refuses one more", () => {
  const max = "a".repeat(MESSAGE_MAX);
  assert.deepEqual(checkMessage(max), { ok: true, value: max });
  const result = checkMessage(max + "a");
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.code, "text_too_long");
});

Deno.test("checkMessage() counts an astral character as one", () => {
  const max = "😀".repeat(MESSAGE_MAX);
  assert.deepEqual(checkMessage(max), { ok: true, value: max });
  const result = checkMessage(max + "😀");
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.code, "text_too_long");
});

Deno.test("checkMessage() refuses a 1 MB message quickly", () => {
  const huge = "x".repeat(1024 * 1024);
  const start = performance.now();
  const result = checkMessage(huge);
  const elapsed = performance.now() - start;
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.code, "text_too_long");
  assert.ok(elapsed < 1000, `took ${elapsed} ms`);
});

// LineDecoder

Deno.test("LineDecoder.push() splits lines at LF", () => {
  const decoder = new LineDecoder();
  assert.deepEqual(decoder.push(bytes("one\ntwo\n")), [line("one"), line("two")]);
});

Deno.test("LineDecoder.push() splits lines at CR", () => {
  const decoder = new LineDecoder();
  assert.deepEqual(decoder.push(bytes("one\rtwo\r")), [line("one"), line("two")]);
});

Deno.test("LineDecoder.push() treats CRLF as one line ending", () => {
  const decoder = new LineDecoder();
  assert.deepEqual(decoder.push(bytes("one\r\ntwo\r\n")), [line("one"), line("two")]);
});

Deno.test("LineDecoder.push() treats CR NUL as one line ending", () => {
  const decoder = new LineDecoder();
  assert.deepEqual(decoder.push(bytes("one\r\0two\r\0")), [line("one"), line("two")]);
});

Deno.test("LineDecoder.push() keeps an empty line between two LFs", () => {
  const decoder = new LineDecoder();
  assert.deepEqual(decoder.push(bytes("a\n\nb\n")), [line("a"), line(""), line("b")]);
});

Deno.test("LineDecoder.push() yields no extra empty line for CRLF split across pushes", () => {
  const decoder = new LineDecoder();
  assert.deepEqual(decoder.push(bytes("one\r")), [line("one")]);
  assert.deepEqual(decoder.push(bytes("\ntwo\r")), [line("two")]);
  assert.deepEqual(decoder.push(bytes("\0three\n")), [line("three")]);
});

Deno.test("LineDecoder.push() assembles a CJK character split across pushes", () => {
  const all = bytes("x世y\n");
  assert.equal(all.length, 6);
  for (let a = 0; a <= all.length; a++) {
    for (let b = a; b <= all.length; b++) {
      const decoder = new LineDecoder();
      const events = [
        ...decoder.push(all.subarray(0, a)),
        ...decoder.push(all.subarray(a, b)),
        ...decoder.push(all.subarray(b)),
      ];
      assert.deepEqual(events, [line("x世y")], `split at ${a}, ${b}`);
    }
  }
});

Deno.test("LineDecoder.push() turns invalid UTF-8 into U+FFFD", () => {
  const decoder = new LineDecoder();
  const events = decoder.push(Uint8Array.of(0x61, 0xff, 0xfe, 0x62, 0x0a));
  assert.deepEqual(events, [line("a\uFFFD\uFFFDb")]);
});

Deno.test("LineDecoder.push() accepts a line of exactly maxBytes", () => {
  const decoder = new LineDecoder(8);
  assert.deepEqual(decoder.push(bytes("12345678\n")), [line("12345678")]);
});

Deno.test("LineDecoder.push() reports a line over maxBytes once and keeps the next line", () => {
  const decoder = new LineDecoder(8);
  assert.deepEqual(decoder.push(bytes("123456789abcdef\nnext\n")), [
    { type: "too_long", limit: 8 },
    line("next"),
  ]);
});

Deno.test("LineDecoder.push() skips an overflowing line's remainder over several pushes", () => {
  const decoder = new LineDecoder(8);
  const events = [
    ...decoder.push(bytes("12345")),
    ...decoder.push(bytes("6789abcdef")),
    ...decoder.push(bytes("ghijklmnopqrstuvwxyz")),
    ...decoder.push(bytes("0123456789")),
    ...decoder.push(bytes("end\r\nnext\n")),
  ];
  assert.deepEqual(events, [{ type: "too_long", limit: 8 }, line("next")]);
});

Deno.test("LineDecoder.end() returns the unterminated last line", () => {
  const decoder = new LineDecoder();
  assert.deepEqual(decoder.push(bytes("first\nlast")), [line("first")]);
  assert.deepEqual(decoder.end(), [line("last")]);
});

Deno.test("LineDecoder.end() returns nothing after a terminated line", () => {
  const decoder = new LineDecoder();
  decoder.push(bytes("first\n"));
  assert.deepEqual(decoder.end(), []);
});

Deno.test("LineDecoder.push() applies backspace and DEL to the previous code point", () => {
  const decoder = new LineDecoder();
  assert.deepEqual(decoder.push(bytes("helo\bp\n")), [line("help")]);
  assert.deepEqual(decoder.push(bytes("ab\x7f\x7fcd\n")), [line("cd")]);
  assert.deepEqual(decoder.push(bytes("x世\x7f\n")), [line("x")]);
  assert.deepEqual(decoder.push(bytes("a😀\by\n")), [line("ay")]);
});

// applyErase

Deno.test("applyErase() removes each backspace or DEL with the code point before it", () => {
  assert.equal(applyErase("abc\b"), "ab");
  assert.equal(applyErase("abc\x7f\x7f"), "a");
  assert.equal(applyErase("ab\bc\x7fd"), "ad");
  assert.equal(applyErase("😀\b"), "");
  assert.equal(applyErase("世界\x7f"), "世");
});

Deno.test("applyErase() ignores erases with nothing before them", () => {
  assert.equal(applyErase("\b\x7fhi"), "hi");
});

Deno.test("applyErase() returns text without erases unchanged", () => {
  assert.equal(applyErase("plain 文字 👩‍💻"), "plain 文字 👩‍💻");
});
