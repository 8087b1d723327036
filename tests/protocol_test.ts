import assert from "node:assert/strict";
import {
  type ClientMessage,
  encodeEvent,
  encodeFrame,
  MEMBER_ROOMS_MAX,
  parseClientMessage,
  parseServerFrame,
  type ServerEvent,
} from "../common/protocol.ts";

const TOPIC = { text: "Deploys at 5", by: "alice", ts: 999 };

/** One event of every type, with every optional field somewhere. */
const EVENTS: readonly ServerEvent[] = [
  {
    type: "welcome",
    nick: "alice",
    token: "secret",
    room: "#lobby",
    topic: TOPIC,
    members: [{ nick: "alice", via: "web" }, { nick: "小明", via: "terminal" }],
    memberCount: 70,
    rooms: [
      {
        room: "#lobby",
        topic: TOPIC,
        members: [{ nick: "alice", via: "web" }, { nick: "小明", via: "terminal" }],
        memberCount: 70,
        gap: true,
      },
      { room: "#中文", members: [] },
    ],
    history: [
      { type: "message", id: 1, ts: 1000, room: "#lobby", from: "bob", text: "hi" },
      { type: "message", id: 2, ts: 1001, room: "#中文", from: "bob", text: "waves", action: true },
      { type: "message", id: 3, ts: 1001, from: "bob", to: "alice", text: "psst" },
    ],
    gap: true,
  },
  { type: "message", id: 3, ts: 1002, room: "#lobby", from: "alice", text: "hello 世界" },
  { type: "message", id: 4, ts: 1003, from: "alice", to: "bob", text: "psst" },
  { type: "message", id: 4, ts: 1003, from: "alice", to: "bob", text: "psst", own: true },
  { type: "message", id: 5, ts: 1004, room: "#dev", from: "alice", text: "dances", action: true },
  { type: "message", id: 6, ts: 1004, room: "#dev", from: "ci", text: "build ok", notice: true },
  { type: "message", id: 7, ts: 1004, from: "ci", to: "bob", text: "yours broke", notice: true },
  { type: "join", room: "#lobby", ts: 1005, nick: "carol", via: "terminal" },
  { type: "leave", room: "#dev", ts: 1006, nick: "carol", via: "web", reason: "quit" },
  { type: "rename", ts: 1007, from: "bob", to: "bobby" },
  {
    type: "presence",
    room: "#lobby",
    ts: 1008,
    joined: [{ nick: "eve", via: "terminal" }],
    joins: 12,
    left: ["carol"],
    leaves: 1,
    count: 612,
  },
  { type: "members", room: "#dev", members: [{ nick: "alice", via: "web" }] },
  {
    type: "history",
    room: "#dev",
    messages: [
      { type: "message", id: 6, ts: 1009, room: "#dev", from: "bob", text: "old" },
      { type: "message", id: 8, ts: 1009, room: "#dev", from: "ci", text: "ok", notice: true },
    ],
  },
  { type: "notice", ts: 1008, text: "Server shutting down." },
  {
    type: "entered",
    room: "#dev",
    topic: TOPIC,
    members: [{ nick: "alice", via: "web" }],
    memberCount: 51,
    history: [{ type: "message", id: 7, ts: 1010, room: "#dev", from: "bob", text: "hey" }],
  },
  { type: "entered", room: "#new", members: [{ nick: "alice", via: "web" }], history: [] },
  { type: "parted", room: "#dev", reason: "part: bye" },
  {
    type: "rooms",
    rooms: [{ room: "#lobby", members: 3, topic: "Deploys at 5" }, { room: "#dev", members: 1 }],
    total: 1000,
  },
  { type: "topic", room: "#dev", topic: TOPIC },
  { type: "topic", room: "#dev" },
  { type: "topic", room: "#dev", topic: { text: "", by: "bob", ts: 1011 }, changed: true },
  { type: "error", code: "nick_taken", message: "Taken." },
  { type: "error", code: "frame_too_large", message: "Too big.", fatal: true },
  { type: "error", code: "room_invalid", message: "No spaces.", room: "#a b" },
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
    ['{"type":"history"}', { type: "history" }],
    ['{"type":"history","count":20}', { type: "history", count: 20 }],
    ['{"type":"enter","room":"#dev"}', { type: "enter", room: "#dev" }],
    ['{"type":"part"}', { type: "part" }],
    ['{"type":"rooms"}', { type: "rooms" }],
    ['{"type":"topic"}', { type: "topic" }],
    ['{"type":"quit"}', { type: "quit" }],
    ['{"type":"quit","text":"back soon"}', { type: "quit", text: "back soon" }],
  ];
  for (const [text, expected] of cases) {
    assert.deepEqual(parseClientMessage(text), { ok: true, value: expected }, text);
  }
});

Deno.test("parseClientMessage() reads the room of every frame that acts in one", () => {
  const cases: [string, ClientMessage][] = [
    ['{"type":"say","text":"hi","room":"#dev"}', { type: "say", text: "hi", room: "#dev" }],
    ['{"type":"me","text":"waves","room":"#dev"}', { type: "me", text: "waves", room: "#dev" }],
    ['{"type":"who","room":"#dev"}', { type: "who", room: "#dev" }],
    [
      '{"type":"history","count":5,"room":"#dev"}',
      { type: "history", count: 5, room: "#dev" },
    ],
    [
      '{"type":"part","room":"#dev","reason":"bye"}',
      { type: "part", room: "#dev", reason: "bye" },
    ],
    ['{"type":"topic","room":"#dev"}', { type: "topic", room: "#dev" }],
    [
      '{"type":"topic","room":"#dev","text":"Deploys at 5"}',
      { type: "topic", room: "#dev", text: "Deploys at 5" },
    ],
    ['{"type":"topic","room":"#dev","text":""}', { type: "topic", room: "#dev", text: "" }],
    [
      '{"type":"join","nick":"alice","token":"t","since":42,"rooms":["#lobby","#dev"]}',
      { type: "join", nick: "alice", token: "t", since: 42, rooms: ["#lobby", "#dev"] },
    ],
    ['{"type":"join","nick":"alice","rooms":[]}', { type: "join", nick: "alice", rooms: [] }],
  ];
  for (const [text, expected] of cases) {
    assert.deepEqual(parseClientMessage(text), { ok: true, value: expected }, text);
  }
});

Deno.test("parseClientMessage() ignores a room on frames that act in none", () => {
  assert.deepEqual(parseClientMessage('{"type":"msg","to":"bob","text":"x","room":"#dev"}'), {
    ok: true,
    value: { type: "msg", to: "bob", text: "x" },
  });
  assert.deepEqual(parseClientMessage('{"type":"rooms","room":"#dev"}'), {
    ok: true,
    value: { type: "rooms" },
  });
});

Deno.test("parseClientMessage() refuses a join whose since is not an id: negative, fractional, a string", () => {
  for (const since of ["-1", "1.5", '"7"', "1e300"]) {
    assertRefused(`{"type":"join","nick":"a","since":${since}}`, "bad_message", '"since"');
  }
  assert.deepEqual(parseClientMessage('{"type":"join","nick":"a","since":0}'), {
    ok: true,
    value: { type: "join", nick: "a", since: 0 },
  });
});

Deno.test("parseClientMessage() refuses a mistyped room or rooms list, naming the field", () => {
  assertRefused('{"type":"say","text":"hi","room":5}', "bad_message", '"room"');
  assertRefused('{"type":"enter"}', "bad_message", '"room"');
  assertRefused('{"type":"enter","room":["#dev"]}', "bad_message", '"room"');
  assertRefused('{"type":"part","room":null}', "bad_message", '"room"');
  assertRefused('{"type":"topic","room":"#dev","text":7}', "bad_message", '"text"');
  assertRefused('{"type":"join","nick":"a","rooms":"#dev"}', "bad_message", '"rooms"');
  assertRefused('{"type":"join","nick":"a","rooms":[1]}', "bad_message", '"rooms"');
  const many = JSON.stringify(Array.from({ length: MEMBER_ROOMS_MAX + 1 }, (_, i) => `#r${i}`));
  assertRefused(`{"type":"join","nick":"a","rooms":${many}}`, "bad_message", '"rooms"');
  const most = JSON.stringify(Array.from({ length: MEMBER_ROOMS_MAX }, (_, i) => `#r${i}`));
  assert.equal(parseClientMessage(`{"type":"join","nick":"a","rooms":${most}}`).ok, true);
  // The rooms asked about by name: as many as one may be in, strings.
  assertRefused('{"type":"rooms","names":"#dev"}', "bad_message", '"names"');
  assertRefused('{"type":"rooms","names":[1]}', "bad_message", '"names"');
  assertRefused(`{"type":"rooms","names":${many}}`, "bad_message", '"names"');
  assert.deepEqual(parseClientMessage(`{"type":"rooms","names":${most}}`), {
    ok: true,
    value: { type: "rooms", names: JSON.parse(most) },
  });
});

Deno.test("parseClientMessage() reads a history request's bounds by id and by time", () => {
  const cases: [string, ClientMessage][] = [
    ['{"type":"history","before":812}', { type: "history", before: 812 }],
    ['{"type":"history","after":0,"count":5}', { type: "history", after: 0, count: 5 }],
    [
      '{"type":"history","room":"#dev","afterTs":1700000000000,"before":900}',
      { type: "history", room: "#dev", afterTs: 1700000000000, before: 900 },
    ],
    [
      '{"type":"history","beforeTs":1700000000000,"after":12}',
      { type: "history", beforeTs: 1700000000000, after: 12 },
    ],
  ];
  for (const [text, expected] of cases) {
    assert.deepEqual(parseClientMessage(text), { ok: true, value: expected }, text);
  }
});

Deno.test("parseClientMessage() refuses a history bound that is not a non-negative integer, or two on one side", () => {
  for (const field of ["before", "after", "beforeTs", "afterTs"]) {
    for (const bad of ["-1", "1.5", '"12"', "null", "true", "[1]", "1e300", "9007199254740992"]) {
      assertRefused(`{"type":"history","${field}":${bad}}`, "bad_message", `"${field}"`);
    }
  }
  assertRefused('{"type":"history","before":5,"beforeTs":5}', "bad_message", '"beforeTs"');
  assertRefused('{"type":"history","after":5,"afterTs":5}', "bad_message", '"afterTs"');
});

Deno.test("parseClientMessage() reads notice on say and msg, and refuses it on me", () => {
  const cases: [string, ClientMessage][] = [
    ['{"type":"say","text":"hi","notice":true}', { type: "say", text: "hi", notice: true }],
    ['{"type":"say","text":"hi","notice":false}', { type: "say", text: "hi" }],
    [
      '{"type":"say","text":"hi","notice":true,"room":"#dev"}',
      { type: "say", text: "hi", notice: true, room: "#dev" },
    ],
    [
      '{"type":"msg","to":"bob","text":"hi","notice":true}',
      { type: "msg", to: "bob", text: "hi", notice: true },
    ],
    ['{"type":"me","text":"waves","notice":false}', { type: "me", text: "waves" }],
  ];
  for (const [text, expected] of cases) {
    assert.deepEqual(parseClientMessage(text), { ok: true, value: expected }, text);
  }
  assertRefused('{"type":"me","text":"waves","notice":true}', "bad_message", "notice");
  assertRefused('{"type":"say","text":"hi","notice":1}', "bad_message", '"notice"');
  assertRefused('{"type":"msg","to":"bob","text":"hi","notice":"yes"}', "bad_message", '"notice"');
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

Deno.test("parseServerFrame() refuses a message whose notice is not true or false", () => {
  const bad = '{"type":"message","id":1,"ts":1,"from":"a","text":"b","notice":"yes"}';
  assert.equal(parseServerFrame(bad).ok, false);
});

Deno.test("parseServerFrame() reads the operator's mark on a private message, and refuses a bad one", () => {
  const told = { type: "message", id: 7, ts: 1, from: "server", to: "bob", text: "hi" };
  assert.deepEqual(parseServerFrame(JSON.stringify({ ...told, operator: true })), {
    ok: true,
    value: [{ ...told, operator: true }],
  });
  assert.deepEqual(parseServerFrame(JSON.stringify({ ...told, operator: false })), {
    ok: true,
    value: [told],
  });
  assert.equal(parseServerFrame(JSON.stringify({ ...told, operator: "yes" })).ok, false);
});

Deno.test("parseServerFrame() round-trips every event type as a single object", () => {
  for (const event of EVENTS) {
    assert.deepEqual(parseServerFrame(JSON.stringify(event)), { ok: true, value: [event] });
  }
});

Deno.test("parseServerFrame() round-trips an array frame of every event type", () => {
  assert.deepEqual(parseServerFrame(encodeFrame(EVENTS)), { ok: true, value: [...EVENTS] });
});

Deno.test("parseServerFrame() reads a welcome without rooms (an older server) as in no listed room", () => {
  const parsed = parseServerFrame(
    '{"type":"welcome","nick":"a","token":"t","members":[],"history":[]}',
  );
  assert.deepEqual(parsed, {
    ok: true,
    value: [{ type: "welcome", nick: "a", token: "t", members: [], rooms: [], history: [] }],
  });
});

Deno.test("parseServerFrame() refuses room events with missing or mistyped fields", () => {
  const frames = [
    '{"type":"entered","members":[],"history":[]}',
    '{"type":"entered","room":"#a","members":[]}',
    '{"type":"parted","room":"#a"}',
    '{"type":"rooms","rooms":[{"room":"#a"}],"total":1}',
    '{"type":"rooms","rooms":[]}',
    '{"type":"topic"}',
    '{"type":"topic","room":"#a","topic":{"text":"x","by":"y"}}',
    '{"type":"topic","room":"#a","changed":"yes"}',
    '{"type":"welcome","nick":"a","token":"t","members":[],"rooms":[{"members":[]}],"history":[]}',
    '{"type":"message","id":1,"ts":1,"room":7,"from":"a","text":"b"}',
  ];
  for (const frame of frames) {
    const result = parseServerFrame(frame);
    assert.equal(result.ok, false, frame);
  }
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
