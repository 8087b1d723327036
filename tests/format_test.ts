import assert from "node:assert/strict";
import { linkify } from "../client/format.ts";

Deno.test("linkify() makes http and https addresses links and keeps the rest as text", () => {
  assert.deepEqual(linkify("see https://deno.com/ and http://x.test/a?b=1#c now"), [
    { kind: "text", text: "see " },
    { kind: "link", text: "https://deno.com/", href: "https://deno.com/" },
    { kind: "text", text: " and " },
    { kind: "link", text: "http://x.test/a?b=1#c", href: "http://x.test/a?b=1#c" },
    { kind: "text", text: " now" },
  ]);
});

Deno.test("linkify() leaves trailing punctuation out of a link, but keeps a balanced parenthesis", () => {
  assert.deepEqual(linkify("(https://a.test/x)."), [
    { kind: "text", text: "(" },
    { kind: "link", text: "https://a.test/x", href: "https://a.test/x" },
    { kind: "text", text: ")." },
  ]);
  assert.deepEqual(linkify("https://en.test/wiki/A_(b),"), [
    { kind: "link", text: "https://en.test/wiki/A_(b)", href: "https://en.test/wiki/A_(b)" },
    { kind: "text", text: "," },
  ]);
});

Deno.test("linkify() links no other scheme", () => {
  for (
    const text of ["javascript:alert(1)", "data:text/html,<b>x</b>", "ftp://a.test/", "<https:>"]
  ) {
    assert.deepEqual(linkify(text), [{ kind: "text", text }], text);
  }
});
