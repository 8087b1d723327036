import assert from "node:assert/strict";
import {
  type ClientMessage,
  encodeEvent,
  encodeFrame,
  parseClientMessage,
  parseServerFrame,
  type ServerEvent,
} from "../common/protocol.ts";

/** One event of every type, with every optional field somewhere. */
const EVENTS: readonly ServerEvent[] = [
  {
    type: "welcome",
    nick: "alice",
    token: "secret",
    members: [{ nick: "alice", via: "web" }, { nick: "小明", via: "terminal" }],
    history: [
      { type: "message", id: 1, ts: 1000, from: "bob", text: "hi" },
      { type: "message", id: 2, ts: 1001, from: "bob", text: "waves", action: true },
    ],
  },
  { type: "message", id: 3, ts: 1002, from: "alice", text: "hello 世界" },
  { type: "message", id: 4, ts: 1003, from: "alice", to: "bob", text: "psst" },
  { type: "message", id: 5, ts: 1004, from: "alice", text: "dances", action: true },
  { type: "join", ts: 1005, nick: "carol", via: "terminal" },
  { type: "leave", ts: 1006, nick: "carol", via: "web", reason: "quit" },
  { type: "rename", ts: 1007, from: "bob", to: "bobby" },
  {
    type: "presence",
    ts: 1008,
    joined: [{ nick: "eve", via: "terminal" }],
    joins: 12,
    left: ["carol"],
    leaves: 1,
    count: 612,
  },
  { type: "members", members: [{ nick: "alice", via: "web" }] },
  { type: "notice", ts: 1008, text: "Server shutting down." },
  { type: "error", code: "nick_taken", message: "Taken." },
  { type: "error", code: "frame_too_large", message: "Too big.", fatal: true },
];

function assertRefused(text: string, code: "bad_json" | "bad_message", mention?: string): void {
  const result = parseClientMessage(text);
  assert.equal(result.ok, false, text);
  if (result.ok) return;
  assert.equal(result.code, code, text);
  assert.equal(typeof result.message, "string");
  if (mention !== undefined) assert.ok(result.message.includes(mention), result.message);
}

// parseClientMessage

Deno.test("parseClientMessage() parses every client message type", () => {
  const cases: [string, ClientMessage][] = [
    ['{"type":"join","nick":"alice"}', { type: "join", nick: "alice" }],
    ['{"type":"say","text":"hello"}', { type: "say", text: "hello" }],
    ['{"type":"me","text":"waves"}', { type: "me", text: "waves" }],
    ['{"type":"msg","to":"bob","text":"psst"}', { type: "msg", to: "bob", text: "psst" }],
    ['{"type":"nick","nick":"alice2"}', { type: "nick", nick: "alice2" }],
    ['{"type":"who"}', { type: "who" }],
  ];
  for (const [text, expected] of cases) {
    assert.deepEqual(parseClientMessage(text), { ok: true, value: expected }, text);
  }
});

Deno.test("parseClientMessage() refuses invalid JSON with bad_json", () => {
  for (const text of ["", "{", "{type:'join'}", '{"type":"say","text":"a"} x']) {
    assertRefused(text, "bad_json");
  }
});

Deno.test("parseClientMessage() refuses a JSON value that is not an object", () => {
  for (const text of ["[]", '[{"type":"who"}]', "42", "null", '"who"', "true"]) {
    assertRefused(text, "bad_message");
  }
});

Deno.test("parseClientMessage() refuses a wrong field type, naming the field", () => {
  assertRefused('{"type":"join","nick":5}', "bad_message", '"nick"');
  assertRefused('{"type":"join"}', "bad_message", '"nick"');
  assertRefused('{"type":"say","text":null}', "bad_message", '"text"');
  assertRefused('{"type":"me","text":["x"]}', "bad_message", '"text"');
  assertRefused('{"type":"msg","to":1,"text":"hi"}', "bad_message", '"to"');
  assertRefused('{"type":"msg","to":"bob","text":{}}', "bad_message", '"text"');
  assertRefused('{"type":"nick","nick":false}', "bad_message", '"nick"');
});

Deno.test("parseClientMessage() refuses an unknown or missing type with bad_message", () => {
  assertRefused('{"type":"shout","text":"hi"}', "bad_message", "shout");
  assertRefused('{"text":"hi"}', "bad_message", '"type"');
  assertRefused('{"type":7}', "bad_message", '"type"');
  assertRefused('{"type":"toString"}', "bad_message", "toString");
});

Deno.test("parseClientMessage() ignores extra fields", () => {
  assert.deepEqual(
    parseClientMessage('{"type":"say","text":"hi","extra":1,"to":"bob","nick":"x"}'),
    { ok: true, value: { type: "say", text: "hi" } },
  );
  assert.deepEqual(parseClientMessage('{"type":"who","members":[]}'), {
    ok: true,
    value: { type: "who" },
  });
});

// parseServerFrame

Deno.test("parseServerFrame() refuses a presence summary whose left list is not nicknames", () => {
  const bad = '{"type":"presence","ts":1,"joined":[],"joins":0,"left":[3],"leaves":1,"count":1}';
  const parsed = parseServerFrame(bad);
  assert.equal(parsed.ok, false);
});

Deno.test("parseServerFrame() round-trips every event type as a single object", () => {
  for (const event of EVENTS) {
    assert.deepEqual(parseServerFrame(JSON.stringify(event)), { ok: true, value: [event] });
  }
});

Deno.test("parseServerFrame() round-trips an array frame of every event type", () => {
  assert.deepEqual(parseServerFrame(encodeFrame(EVENTS)), { ok: true, value: [...EVENTS] });
});

Deno.test("parseServerFrame() refuses an unknown event type", () => {
  const result = parseServerFrame('{"type":"party","ts":1}');
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.code, "bad_message");
  assert.match(result.message, /party/);
});

Deno.test("parseServerFrame() refuses an unknown event inside an array frame", () => {
  const frame = `[${JSON.stringify(EVENTS[1])},{"type":"party"}]`;
  const result = parseServerFrame(frame);
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.code, "bad_message");
});

Deno.test("parseServerFrame() refuses an error event with an unknown code", () => {
  const result = parseServerFrame('{"type":"error","code":"oops","message":"x"}');
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.code, "bad_message");
  assert.match(result.message, /oops/);
});

Deno.test("parseServerFrame() refuses events with missing or mistyped fields", () => {
  const frames = [
    '{"type":"message","id":"1","ts":1,"from":"a","text":"b"}',
    '{"type":"message","id":1,"ts":1,"from":"a","text":"b","action":"yes"}',
    '{"type":"join","ts":1,"nick":"a","via":"carrier pigeon"}',
    '{"type":"welcome","nick":"a","members":{},"history":[]}',
    '{"type":"welcome","nick":"a","members":[],"history":[{"type":"join"}]}',
    '{"type":"leave","ts":1,"nick":"a","via":"web"}',
    "null",
  ];
  for (const frame of frames) {
    const result = parseServerFrame(frame);
    assert.equal(result.ok, false, frame);
    if (result.ok) continue;
    assert.equal(result.code, "bad_message", frame);
  }
});

Deno.test("parseServerFrame() refuses invalid JSON with bad_json", () => {
  const result = parseServerFrame("[{");
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.code, "bad_json");
});

// encodeEvent / encodeFrame

Deno.test("encodeEvent() serializes an event once and reuses the text", () => {
  const event: ServerEvent = { type: "notice", ts: 1, text: "first" };
  const first = encodeEvent(event);
  assert.deepEqual(JSON.parse(first), { type: "notice", ts: 1, text: "first" });
  // Mutating the object does not change the cached serialization.
  event.text = "second";
  assert.equal(encodeEvent(event), first);
  // A different object with the same content is serialized on its own.
  assert.equal(encodeEvent({ type: "notice", ts: 1, text: "second" }), JSON.stringify(event));
});

Deno.test("encodeFrame() sends one event as a plain object", () => {
  const event = EVENTS[1];
  assert.ok(event !== undefined);
  const frame = encodeFrame([event]);
  assert.equal(frame, JSON.stringify(event));
  assert.equal(Array.isArray(JSON.parse(frame)), false);
});

Deno.test("encodeFrame() sends several events as a JSON array", () => {
  const events = EVENTS.slice(4, 7);
  const frame = encodeFrame(events);
  const parsed: unknown = JSON.parse(frame);
  assert.ok(Array.isArray(parsed));
  assert.deepEqual(parsed, events);
});
