import assert from "node:assert/strict";
import { backoff, carriedText, readCarried } from "../client/connection.ts";

Deno.test("readCarried() reads back what carriedText() stored", () => {
  const said = JSON.stringify({ type: "say", text: "typed offline", room: "#dev" });
  const acted = JSON.stringify({ type: "me", text: "waves" });
  assert.deepEqual(
    readCarried(carriedText({ nick: "alice", token: "t0k", unsent: [said, acted] })),
    {
      nick: "alice",
      token: "t0k",
      unsent: [said, acted],
    },
  );
  assert.deepEqual(readCarried(carriedText({ nick: "小明", unsent: [] })), {
    nick: "小明",
    unsent: [],
  });
  const rooms = JSON.stringify({ rooms: ["#lobby", "#dev"], shown: "#dev" });
  assert.deepEqual(readCarried(carriedText({ nick: "bo", rooms, unsent: [] })), {
    nick: "bo",
    rooms,
    unsent: [],
  });
  assert.deepEqual(readCarried('{"nick":"bo","rooms":["#dev"],"unsent":[]}'), {
    nick: "bo",
    unsent: [],
  });
});

Deno.test("readCarried() treats anything unreadable as nothing carried", () => {
  const unreadable = [
    null,
    "",
    "{",
    "[]",
    "42",
    '"alice"',
    '{"token":"t"}',
    '{"nick":7}',
    '{"nick":"   "}',
    JSON.stringify({ nick: "bob", unsent: ["x".repeat(5 * 1024 * 1024)] }),
  ];
  for (const text of unreadable) {
    assert.equal(readCarried(text), undefined, String(text).slice(0, 20));
  }
  assert.deepEqual(readCarried('{"nick":"bob","token":5}'), { nick: "bob", unsent: [] });
  // Only lines said in a room are sent again, and only well-formed ones.
  const said = JSON.stringify({ type: "say", text: "hi" });
  const others = [
    JSON.stringify({ type: "history", count: 1000 }),
    JSON.stringify({ type: "enter", room: "#dev" }),
    JSON.stringify({ type: "say" }),
    "{",
    7,
  ];
  assert.deepEqual(readCarried(JSON.stringify({ nick: "bob", unsent: [...others, said] })), {
    nick: "bob",
    unsent: [said],
  });
});

Deno.test("backoff() grows from half a second to 15 s, with jitter in its upper half", () => {
  assert.equal(backoff(0, () => 0), 250);
  assert.equal(backoff(0, () => 1), 500);
  assert.equal(backoff(3, () => 0.5), 3000);
  assert.equal(backoff(20, () => 1), 15_000);
  assert.equal(backoff(20, () => 0), 7500);
});

Deno.test("readCarried() reads back the rooms' markers and the last id, and drops any that is not one", () => {
  const marks = [
    { room: "#lobby", unread: 3, mention: true },
    { room: "#dev", unread: 0, mention: false },
  ];
  assert.deepEqual(readCarried(carriedText({ nick: "al", unsent: [], seen: 42, marks })), {
    nick: "al",
    unsent: [],
    seen: 42,
    marks,
  });
  const odd = {
    nick: "al",
    unsent: [],
    seen: -1,
    marks: [
      { room: "#a", unread: -2, mention: true },
      { room: "#b", unread: 1.5, mention: false },
      { room: "#c", unread: 1, mention: "yes" },
      { room: 7, unread: 1, mention: true },
      { room: "#".repeat(100_000), unread: 1, mention: true },
      null,
      { room: "#ok", unread: 2, mention: false },
    ],
  };
  assert.deepEqual(readCarried(JSON.stringify(odd)), {
    nick: "al",
    unsent: [],
    marks: [{ room: "#ok", unread: 2, mention: false }],
  });
  // A member is in at most 20 rooms: past them, nothing is read.
  const many = Array.from(
    { length: 1000 },
    (_, i) => ({ room: `#r${i}`, unread: 1, mention: false }),
  );
  assert.equal(
    readCarried(JSON.stringify({ nick: "al", unsent: [], marks: many }))?.marks?.length,
    20,
  );
});
