import assert from "node:assert/strict";
import type { ChatMessage, ServerEvent } from "../common/protocol.ts";
import { memberList } from "../common/wording.ts";
import { renderBytes, renderEvent } from "../server/transport/terminal/render.ts";

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

Deno.test("renderEvent() shows the echo of one's own private message with its recipient", () => {
  const text = only(renderEvent(message("alice", "psst", { to: "bob" }), "alice"));
  assert.ok(text.includes("[private to bob]"), text);
  assert.ok(text.includes("psst"), text);
});

Deno.test("renderEvent() shows an action as '* nick text', one's own included", () => {
  const action = message("alice", "waves", { action: true });
  assert.ok(only(renderEvent(action, "bob")).includes("* alice waves"));
  assert.ok(only(renderEvent(action, "alice")).includes("* alice waves"));
});

Deno.test("renderEvent() lists others and the history in a welcome", () => {
  const event: ServerEvent = {
    type: "welcome",
    nick: "alice",
    token: "t",
    members: [{ nick: "alice", via: "terminal" }, { nick: "bob", via: "web" }, {
      nick: "小明",
      via: "terminal",
    }],
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
      members: [{ nick: "alice", via: "web" }],
      history: [],
    },
    "alice",
  );
  assert.equal(lines.length, 1);
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
      members: [{ nick: evil, via: "web" }, { nick: `${evil}2`, via: "terminal" }],
      history: [message(evil, evil), message("bob", evil, { action: true })],
    },
    { type: "join", ts: TS, nick: evil, via: "web" },
    { type: "leave", ts: TS, nick: evil, via: "terminal", reason: evil },
    { type: "rename", ts: TS, from: evil, to: evil },
    { type: "members", members: [{ nick: evil, via: "web" }] },
    { type: "notice", ts: TS, text: evil },
    { type: "error", code: "bad_message", message: evil },
  ];
  for (const event of events) {
    for (const self of [undefined, "bob", evil]) {
      const lines = renderEvent(event, self);
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
  assert.equal(renderBytes(action, "alice"), renderBytes(action, "bob"));
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
