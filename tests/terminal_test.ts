import assert from "node:assert/strict";
import type { ChatMessage, ServerEvent } from "../common/protocol.ts";
import { memberList } from "../common/wording.ts";
import { renderBytes, renderEvent } from "../server/transport/terminal/render.ts";
import { RoomView } from "../server/transport/terminal/view.ts";

const TS = Date.UTC(2024, 0, 2, 3, 4, 5);

function message(from: string, text: string, extra: Partial<ChatMessage> = {}): ChatMessage {
  return { type: "message", id: 1, ts: TS, from, text, ...extra };
}

function only(lines: string[]): string {
  assert.equal(lines.length, 1, JSON.stringify(lines));
  return lines[0] ?? "";
}

Deno.test("renderEvent() shows another member's message as '<nick> text'", () => {
  const text = only(renderEvent(message("alice", "hello"), "bob"));
  assert.ok(text.includes("<alice> hello"), text);
});

Deno.test("renderEvent() shows the operator every message", () => {
  const text = only(renderEvent(message("alice", "hello"), undefined));
  assert.ok(text.includes("<alice> hello"), text);
});

Deno.test("renderEvent() renders one's own plain message as nothing", () => {
  assert.deepEqual(renderEvent(message("alice", "hello"), "alice"), []);
});

Deno.test("renderEvent() marks an incoming private message", () => {
  const text = only(renderEvent(message("alice", "psst", { to: "bob" }), "bob"));
  assert.ok(text.includes("[private] <alice> psst"), text);
});

Deno.test("renderEvent() shows a private action as an action, marked private", () => {
  const text = only(renderEvent(message("alice", "waves", { to: "bob", action: true }), "bob"));
  assert.match(text, /^\[\d\d:\d\d\] \[private\] \* alice waves$/);
  const echo = only(renderEvent(message("alice", "waves", { to: "bob", action: true }), "alice"));
  assert.match(echo, /\[private to bob\] \* alice waves$/);
});

Deno.test("renderEvent() shows the echo of one's own private message with its recipient", () => {
  const text = only(renderEvent(message("alice", "psst", { to: "bob" }), "alice"));
  assert.ok(text.includes("[private to bob]"), text);
  assert.ok(text.includes("psst"), text);
});

Deno.test("renderEvent() shows an action as '* nick text', but not back to the one who typed it", () => {
  const action = message("alice", "waves", { action: true });
  assert.ok(only(renderEvent(action, "bob")).includes("* alice waves"));
  // Its terminal already shows the `/me waves` typed, as it shows a plain line typed.
  assert.deepEqual(renderEvent(action, "alice"), []);
});

Deno.test("renderEvent() shows a notice as '-nick- text', one's own and private ones included", () => {
  const notice = message("alice", "build done", { notice: true, room: "#dev" });
  assert.match(only(renderEvent(notice, "bob")), /\] -alice- build done$/);
  assert.match(only(renderEvent(notice, "alice")), /\] -alice- build done$/);
  assert.match(only(renderEvent(notice, undefined)), /\] -alice- build done$/);
  assert.equal(renderBytes(notice, "alice"), renderBytes(notice, "bob"), "seen alike");
  const whisper = message("alice", "psst", { notice: true, to: "bob" });
  assert.match(only(renderEvent(whisper, "bob")), /\[private\] -alice- psst$/);
  assert.match(only(renderEvent(whisper, "alice")), /\[private to bob\] -alice- psst$/);
});

Deno.test("renderEvent() shows a private message marked own as sent, under a nickname since changed", () => {
  const sent = message("alice", "psst", { to: "bob", own: true });
  assert.match(only(renderEvent(sent, "alice2")), /\[private to bob\] <alice> psst$/);
  const received = message("bob", "hi", { to: "alice" });
  assert.match(only(renderEvent(received, "alice2")), /\[private\] <bob> hi$/);
});

Deno.test("renderEvent() lists others and the history in a welcome", () => {
  const event: ServerEvent = {
    type: "welcome",
    nick: "alice",
    token: "t",
    room: "#lobby",
    members: [{ nick: "alice", via: "terminal" }, { nick: "bob", via: "web" }, {
      nick: "小明",
      via: "terminal",
    }],
    rooms: [{ room: "#lobby", members: [] }],
    history: [message("bob", "first"), message("小明", "second"), message("alice", "third")],
  };
  const lines = renderEvent(event, "alice");
  const [greeting] = lines;
  assert.ok(greeting !== undefined);
  assert.ok(greeting.includes("bob (web)"), greeting);
  assert.ok(greeting.includes("小明 (terminal)"), greeting);
  assert.ok(!greeting.includes("alice (terminal)"), greeting);

  const start = lines.findIndex((l) => l.includes("Last 3 messages"));
  const end = lines.findIndex((l) => l.includes("End of history"));
  assert.ok(start > 0, JSON.stringify(lines));
  assert.equal(end, start + 4, JSON.stringify(lines));
  const history = lines.slice(start + 1, end);
  assert.ok(history[0]?.includes("<bob> first"), history[0]);
  assert.ok(history[1]?.includes("<小明> second"), history[1]);
  assert.ok(history[2]?.includes("third"), history[2]);
});

Deno.test("renderEvent() shows no history block in a welcome without history", () => {
  const lines = renderEvent(
    {
      type: "welcome",
      nick: "alice",
      token: "t",
      room: "#lobby",
      members: [{ nick: "alice", via: "web" }],
      rooms: [{ room: "#lobby", members: [{ nick: "alice", via: "web" }] }],
      history: [],
    },
    "alice",
  );
  assert.deepEqual(lines, ["-- Hello alice! Nobody else is here yet. Type /help for commands."]);
  assert.ok(!lines.some((l) => l.includes("End of history")));
});

// CR, LF, ESC and every other C0 or C1 control, and bidi overrides.
// deno-lint-ignore no-control-regex -- finding control characters is the point
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u202A-\u202E\u2066-\u2069]/;

Deno.test("renderEvent() never emits CR, LF or ESC, whatever the event holds", () => {
  const evil = "x\r\ny\x1b[2J\x1b]0;pwned\x07z\x9b31m\u202Eq\n\r\x85\x00";
  const events: ServerEvent[] = [
    message(evil, evil),
    message(evil, evil, { to: evil }),
    message(evil, evil, { action: true }),
    {
      type: "welcome",
      nick: evil,
      token: evil,
      room: evil,
      topic: { text: evil, by: evil, ts: TS },
      members: [{ nick: evil, via: "web" }, { nick: `${evil}2`, via: "terminal" }],
      rooms: [{ room: evil, members: [] }, { room: evil, members: [] }],
      history: [message(evil, evil), message("bob", evil, { action: true })],
      gap: true,
    },
    {
      type: "entered",
      room: evil,
      topic: { text: evil, by: evil, ts: TS },
      members: [{ nick: evil, via: "web" }],
      history: [message(evil, evil)],
    },
    { type: "parted", room: evil, reason: evil },
    { type: "rooms", rooms: [{ room: evil, members: 1, topic: evil }], total: 2 },
    { type: "topic", room: evil, topic: { text: evil, by: evil, ts: TS } },
    { type: "topic", room: evil, topic: { text: evil, by: evil, ts: TS }, changed: true },
    { type: "history", room: evil, messages: [message(evil, evil)] },
    { type: "join", ts: TS, nick: evil, via: "web" },
    { type: "leave", ts: TS, nick: evil, via: "terminal", reason: evil },
    { type: "rename", ts: TS, from: evil, to: evil },
    { type: "members", members: [{ nick: evil, via: "web" }] },
    { type: "notice", ts: TS, text: evil },
    { type: "error", code: "bad_message", message: evil },
  ];
  for (const event of events) {
    for (const self of [undefined, "bob", evil]) {
      const lines = [...renderEvent(event, self), ...renderEvent(event, self, evil)];
      assert.ok(event.type === "message" || lines.length > 0, event.type);
      for (const line of lines) {
        assert.doesNotMatch(line, UNSAFE, `${event.type}: ${JSON.stringify(line)}`);
      }
    }
  }
});

Deno.test("renderBytes() encodes what renderEvent() shows, sharing it where viewers see alike", () => {
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  const said = message("alice", "hello 你好");
  const forBob = renderBytes(said, "bob");
  assert.equal(decode(forBob), renderEvent(said, "bob").join("\r\n") + "\r\n");
  assert.equal(renderBytes(said, "carol"), forBob, "rendered once for every other viewer");
  assert.equal(renderBytes(said, "alice").length, 0, "the sender's own line is not echoed");
  const whisper = message("alice", "psst", { to: "bob" });
  assert.match(decode(renderBytes(whisper, "bob")), /\[private\] <alice> psst\r\n$/);
  assert.match(decode(renderBytes(whisper, "alice")), /\[private to bob\] <alice> psst\r\n$/);
  const action = message("alice", "waves", { action: true });
  assert.equal(renderBytes(action, "carol"), renderBytes(action, "bob"));
  assert.equal(renderBytes(action, "alice").length, 0, "nor the sender's own action");
});

Deno.test("memberList() names the first few of a big room and counts the rest", () => {
  const members = [...Array(1234).keys()].map((i) => ({ nick: `m${i}`, via: "web" as const }));
  assert.equal(memberList(members.slice(0, 2)), "m0 (web), m1 (web)");
  assert.equal(memberList(members.slice(0, 3), 3), "m0 (web), m1 (web), m2 (web)");
  assert.equal(memberList(members, 2), "m0 (web), m1 (web), and 1,232 more (/who lists all)");
});

Deno.test("renderEvent() shows a presence summary with names, or a count and the first names", () => {
  const line = only(renderEvent({
    type: "presence",
    ts: TS,
    joined: [{ nick: "alice", via: "web" }, { nick: "bob", via: "terminal" }],
    joins: 2,
    left: ["carol"],
    leaves: 1,
    count: 612,
  }, "dave"));
  assert.match(line, /-- alice \(web\), bob \(terminal\) joined; carol left \(612 here\)$/);
  const many = only(renderEvent({
    type: "presence",
    ts: TS,
    joined: [{ nick: "alice", via: "web" }],
    joins: 1957,
    left: [],
    leaves: 0,
    count: 12345,
  }, "dave"));
  assert.match(many, /-- 1,957 \(alice \(web\), and 1,956 more\) joined \(12,345 here\)$/);
});

Deno.test("renderEvent() puts a room's label after the time stamp, or first on a line without one", () => {
  const said = message("bob", "hi", { room: "#dev" });
  assert.match(only(renderEvent(said, "alice", "#dev")), /^\[\d\d:\d\d\] \[#dev\] <bob> hi$/);
  assert.match(only(renderEvent(said, "alice")), /^\[\d\d:\d\d\] <bob> hi$/, "unlabeled");
  const topic: ServerEvent = { type: "topic", room: "#dev" };
  assert.equal(
    only(renderEvent(topic, "alice", "#dev")),
    "[#dev] -- #dev has no topic; /topic TEXT sets one.",
  );
});

Deno.test("renderBytes() renders an event once labeled and once not, for every viewer alike", () => {
  const said = message("bob", "hi", { room: "#dev" });
  const plain = renderBytes(said, "alice");
  const labeled = renderBytes(said, "alice", "#dev");
  assert.notEqual(plain, labeled);
  assert.equal(renderBytes(said, "carol", "#dev"), labeled);
  assert.equal(renderBytes(said, "carol"), plain);
  assert.match(new TextDecoder().decode(labeled), /\[#dev\] <bob> hi\r\n$/);
});

Deno.test("renderEvent() says which rooms a welcome is in, and when it is in none", () => {
  const base = { type: "welcome" as const, nick: "alice", token: "t", members: [], history: [] };
  const several = renderEvent({
    ...base,
    room: "#lobby",
    rooms: [{ room: "#lobby", members: [] }, { room: "#dev", members: [] }],
  }, "alice");
  assert.ok(several.includes("-- You are in #lobby, #dev."), JSON.stringify(several));
  const none = renderEvent({ ...base, rooms: [] }, "alice");
  assert.ok(
    none.includes("-- You are in no room: /join #ROOM to enter one."),
    JSON.stringify(none),
  );
  const gap = renderEvent({ ...base, rooms: [], gap: true }, "alice");
  assert.ok(gap.includes("-- Some earlier messages are no longer kept."), JSON.stringify(gap));
});

Deno.test("renderEvent() shows entering and leaving a room, its topic and the room list", () => {
  const entered = renderEvent({
    type: "entered",
    room: "#dev",
    topic: { text: "Deploys at 5", by: "bob", ts: TS },
    members: [{ nick: "alice", via: "terminal" }, { nick: "bob", via: "web" }],
    history: [message("bob", "earlier", { room: "#dev" })],
  }, "alice");
  assert.match(entered[0] ?? "", /^-- You joined #dev\. Here: bob \(web\)\.$/);
  assert.match(entered[1] ?? "", /^-- Topic: Deploys at 5 \(set by bob, \d\d:\d\d\)$/);
  assert.ok(entered.some((l) => l.includes("(history)") && l.includes("<bob> earlier")));
  assert.equal(entered.at(-1), "-- Lines you type now go to #dev.");
  assert.deepEqual(renderEvent({ type: "parted", room: "#dev", reason: "part" }, "alice"), [
    "-- You left #dev.",
  ]);
  const set = { type: "topic", room: "#dev", changed: true } as const;
  assert.match(
    only(renderEvent({ ...set, topic: { text: "Deploys at 5", by: "bob", ts: TS } }, "alice")),
    /^\[\d\d:\d\d\] -- bob set the topic: Deploys at 5$/,
  );
  assert.match(
    only(renderEvent({ ...set, topic: { text: "", by: "bob", ts: TS } }, "alice")),
    /^\[\d\d:\d\d\] -- bob cleared the topic$/,
  );
  assert.deepEqual(
    renderEvent({
      type: "rooms",
      rooms: [{ room: "#lobby", members: 1200, topic: "welcome" }, { room: "#dev", members: 2 }],
      total: 1500,
    }, "alice"),
    [
      "-- 1,500 rooms; the 2 biggest:",
      "--   #lobby (1,200): welcome",
      "--   #dev (2)",
      "-- /join #ROOM to enter one.",
    ],
  );
  assert.deepEqual(renderEvent({ type: "rooms", rooms: [], total: 0 }, "alice"), [
    "-- No rooms yet: /join #ROOM makes one.",
  ]);
});

Deno.test("RoomView follows welcome, entered and parted, and labels only other rooms' lines", () => {
  const view = new RoomView();
  assert.equal(view.current, "#lobby", "before the welcome");
  view.follow({
    type: "welcome",
    nick: "alice",
    token: "t",
    room: "#lobby",
    members: [],
    rooms: [{ room: "#lobby", members: [] }],
    history: [],
  });
  const inDev = message("bob", "hi", { room: "#Dev" });
  const inLobby = message("bob", "hi", { room: "#lobby" });
  assert.equal(view.label(inLobby), undefined, "in one room, lines look as before rooms");
  assert.deepEqual(view.follow({ type: "entered", room: "#Dev", members: [], history: [] }), {
    current: "#Dev",
  });
  assert.equal(view.current, "#Dev");
  assert.equal(view.find("#ԁev"), "#Dev", "any spelling of it");
  assert.equal(view.label(inDev), undefined, "the current room");
  assert.equal(view.label(inLobby), "#lobby");
  assert.equal(view.label({ type: "rename", ts: TS, from: "a", to: "b" }), undefined);
  view.switchTo("#LOBBY");
  assert.equal(view.current, "#lobby");
  assert.equal(view.label(inDev), "#Dev");
  view.switchTo("#nowhere");
  assert.equal(view.current, "#lobby", "not a room it is in: no change");
  assert.deepEqual(view.follow({ type: "parted", room: "#lobby", reason: "part" }), {
    current: "#Dev",
  });
  assert.equal(view.label(inDev), undefined);
  assert.equal(view.follow({ type: "parted", room: "#lobby", reason: "part" }), undefined);
  view.follow({ type: "parted", room: "#dev", reason: "part" });
  assert.equal(view.nowhere, true);
});

Deno.test("renderEvent() marks a line the hub marked as naming the member (mention), for it alone", () => {
  const said = message("bob", "Alice: lunch?");
  const marked = message("bob", "Alice: lunch?", { mention: true });
  assert.match(only(renderEvent(marked, "alice")), /^!\[\d\d:\d\d\] <bob> Alice: lunch\?$/);
  assert.match(only(renderEvent(said, "carol")), /^\[\d\d:\d\d\] <bob> Alice: lunch\?$/);
  // In another room: the mark still comes first.
  assert.match(only(renderEvent(marked, "alice", "#dev")), /^!\[\d\d:\d\d\] \[#dev\] <bob> Alice/);
  // Rendered for the one it names, not shared with the others.
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  assert.notEqual(text(renderBytes(marked, "alice")), text(renderBytes(said, "carol")));
  assert.equal(renderBytes(said, "carol"), renderBytes(said, "dave"));
});

Deno.test("renderEvent() shows the operator's private message as from the operator, and its echo", () => {
  const told = message("server", "please stop", { to: "bob", operator: true });
  assert.match(
    only(renderEvent(told, "bob")),
    /^\[\d\d:\d\d\] \[private, from the operator\] <server> please stop$/,
  );
  // The console's own copy, as a member sees its own private message.
  assert.match(
    only(renderEvent(told, "server")),
    /^\[\d\d:\d\d\] \[private to bob\] <server> please stop$/,
  );
  const whisper = message("alice", "psst", { to: "bob" });
  assert.match(only(renderEvent(whisper, "bob")), /^\[\d\d:\d\d\] \[private\] <alice> psst$/);
});
