import assert from "node:assert/strict";
import { applyErase, LineDecoder, type LineEvent } from "../server/transport/terminal/lines.ts";

const encoder = new TextEncoder();

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

function line(text: string): LineEvent {
  return { type: "line", text };
}

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
