import assert from "node:assert/strict";
import { checkMessage, MESSAGE_MAX, toOneLine } from "../common/message.ts";

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
