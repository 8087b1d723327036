import assert from "node:assert/strict";
import { complete, Recall, RECALL_MAX } from "../client/composer.ts";

Deno.test("Recall walks back through the lines sent, keeps the draft, and forgets past its bound", () => {
  const recall = new Recall();
  assert.equal(recall.up("draft"), undefined, "nothing sent yet");
  recall.push("one");
  recall.push("two");
  recall.push("two"); // not twice in a row
  recall.push("   "); // blank lines are not kept
  assert.equal(recall.up("half typed"), "two");
  assert.equal(recall.up("two"), "one");
  assert.equal(recall.up("one"), undefined, "the oldest");
  assert.equal(recall.down(), "two");
  assert.equal(recall.down(), "half typed", "past the newest: the draft back");
  assert.equal(recall.down(), undefined);
  for (let i = 0; i < RECALL_MAX + 10; i++) recall.push(`line ${i}`);
  let oldest = "";
  for (let line = recall.up(""); line !== undefined; line = recall.up(line)) oldest = line;
  assert.equal(oldest, "line 10");
});

Deno.test("complete() finds a nickname by prefix in any case, addressing at the start of the line", () => {
  const nicks = ["terry", "Teresa", "bob"];
  const at = (value: string) => ({ value, caret: value.length });
  const first = complete(at("te"), nicks, []);
  assert.deepEqual(first?.typed, { value: "Teresa: ", caret: 8 });
  // Tab again: the next match, then round again.
  const second = complete(first!.typed, nicks, [], first!.completing);
  assert.deepEqual(second?.typed, { value: "terry: ", caret: 7 });
  const third = complete(second!.typed, nicks, [], second!.completing);
  assert.equal(third?.typed.value, "Teresa: ");
  // In the middle of a line: a space, not a colon.
  assert.deepEqual(complete(at("thanks BO"), nicks, [])?.typed, {
    value: "thanks bob ",
    caret: 11,
  });
  // The caret mid-line: what follows stays.
  assert.deepEqual(
    complete({ value: "hi b and more", caret: 4 }, nicks, [])?.typed,
    { value: "hi bob and more", caret: 6 },
  );
  assert.equal(complete(at("zed"), nicks, []), undefined);
  assert.equal(complete(at("hello "), nicks, []), undefined, "no word before the caret");
});

Deno.test("complete() finds a room name after #", () => {
  const rooms = ["#lobby", "#dev", "#design"];
  assert.equal(
    complete({ value: "/join #de", caret: 9 }, ["devon"], rooms)?.typed.value,
    "/join #design ",
  );
  assert.equal(complete({ value: "#l", caret: 2 }, [], rooms)?.typed.value, "#lobby ");
});
