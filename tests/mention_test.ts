import assert from "node:assert/strict";
import { DASHED_KEYS_MAX, markMentions, mentionKeys, mentions } from "../common/mention.ts";
import type { ChatMessage } from "../common/protocol.ts";

Deno.test("mentions() finds a nickname as a word, in any case", () => {
  assert.equal(mentions("bob: lunch?", "bob"), true);
  assert.equal(mentions("thanks, BOB!", "bob"), true);
  assert.equal(mentions("ask Bob", "bob"), true);
  assert.equal(mentions("@bob", "bob"), true);
  assert.equal(mentions("bob-ross paints", "bob"), true, "a dash ends a word");
  assert.equal(mentions("bobby is here", "bob"), false);
  assert.equal(mentions("kebob", "bob"), false);
  assert.equal(mentions("bob_2 says", "bob"), false, "_ is part of a word");
  assert.equal(mentions("bob2", "bob"), false);
  assert.equal(mentions("malice aforethought", "alice"), false);
  assert.equal(mentions("ask jean-luc now", "jean-luc"), true, "a nickname with a dash");
  assert.equal(mentions("ask jean-luc-picard", "luc-picard"), true, "any run of its parts");
  assert.equal(mentions("ask jean-luc now", "jean-lu"), false);
  assert.equal(mentions("", "bob"), false);
  assert.equal(mentions("anything", ""), false);
});

Deno.test("mentions() folds look-alikes as nicknames are folded", () => {
  assert.equal(mentions("Воb, see this", "bob"), true, "Cyrillic В and о");
  assert.equal(mentions("hi аlice", "alice"), true, "Cyrillic а");
  assert.equal(mentions("hi AIice", "alice"), true, "capital I for l");
  assert.equal(mentions("ｂｏｂ: full width", "bob"), true);
  assert.equal(mentions("rnary?", "mary"), true, "rn for m");
  assert.equal(mentions("hey Alice", "AIice"), true, "the nickname's own look-alikes fold too");
});

Deno.test("mentions() works for CJK names and in CJK text", () => {
  assert.equal(mentions("小明 你好", "小明"), true);
  assert.equal(mentions("@小明：开会", "小明"), true);
  // CJK has no spaces between words: a name glued to other letters is not a mention.
  assert.equal(mentions("小明天来", "小明"), false);
});

Deno.test("mentions() stays linear on a long line with many near misses", () => {
  const text = "bobb ".repeat(400) + "bob";
  assert.equal(mentions(text, "bob"), true);
  assert.equal(mentions("bobb ".repeat(400), "bob"), false);
});

Deno.test("mentionKeys() stays bounded on a line built to make many keys", () => {
  const hostile = Array.from({ length: 125 }, (_, j) => `a${j}-b-c-d-e-f-g-h`).join(" ").slice(
    0,
    2000,
  );
  const keys = mentionKeys(hostile);
  // One key per word, and the dashed runs of parts up to the bound.
  assert.ok(keys.length <= 125 + DASHED_KEYS_MAX, `${keys.length} keys`);
  assert.equal(mentions("see a0-b here", "a0-b"), true, "a real one still found");
});

Deno.test("markMentions() marks the room messages that name a member, by others, as they were marked live", () => {
  const m = (
    id: number,
    from: string,
    text: string,
    extra: Partial<ChatMessage> = {},
  ): ChatMessage => ({
    type: "message",
    id,
    ts: 0,
    room: "#lobby",
    from,
    text,
    ...extra,
  });
  const messages: ChatMessage[] = [
    m(1, "bob", "hello all"),
    m(2, "bob", "ALICE: lunch?"),
    m(3, "alice", "alice here"),
    { type: "message", id: 4, ts: 0, from: "bob", text: "аlice, look", to: "alice" },
    m(5, "eve", "ask Alice-Smith"),
  ];
  const marked = markMentions(messages, "alice");
  assert.deepEqual(marked.map((x) => x.mention === true), [false, true, false, false, true]);
  // The others are the very same objects, and the input is left as it was.
  assert.equal(marked[0], messages[0]);
  assert.equal(messages[1]!.mention, undefined);
  const none = [m(1, "bob", "nothing here")];
  assert.equal(markMentions(none, "alice"), none);
});
