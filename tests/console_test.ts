import assert from "node:assert/strict";
import { operate } from "../server/console.ts";
import type { ServerEvent } from "../common/protocol.ts";
import { Hub, SERVER_NICK } from "../server/hub/hub.ts";
import { FakeMember } from "./kit/fake_member.ts";

/** A room with alice (web) and bob (terminal), and a console printing into `printed`. */
function setup(): {
  room: Hub;
  alice: FakeMember;
  bob: FakeMember;
  printed: string[];
  run: (line: string) => void;
} {
  const room = new Hub({ now: () => 1_000 });
  const alice = new FakeMember("web");
  const bob = new FakeMember("terminal");
  assert.equal(room.join(alice, "alice"), true);
  assert.equal(room.join(bob, "bob"), true);
  alice.events.length = 0;
  bob.events.length = 0;
  const printed: string[] = [];
  const run = (line: string) => operate(room, line, (l) => printed.push(l));
  return { room, alice, bob, printed, run };
}

Deno.test("operate() announces plain text to the room as server", () => {
  const { alice, bob, printed, run } = setup();
  run("  hello everyone  ");
  const expected: ServerEvent[] = [
    { type: "message", id: 1, ts: 1_000, from: SERVER_NICK, text: "hello everyone" },
  ];
  assert.deepEqual(alice.events, expected);
  assert.deepEqual(bob.events, expected);
  assert.deepEqual(printed, []);
});

Deno.test("operate() announces '//text' as '/text'", () => {
  const { alice, run } = setup();
  run("//who is there");
  assert.deepEqual(alice.events.map((e) => e.type === "message" ? e.text : e.type), [
    "/who is there",
  ]);
});

Deno.test("operate() ignores an empty line", () => {
  const { alice, printed, run } = setup();
  run("   ");
  assert.deepEqual(alice.events, []);
  assert.deepEqual(printed, []);
});

Deno.test("operate() prints the members for /who", () => {
  const { alice, printed, run } = setup();
  run("/who");
  assert.equal(printed.length, 1);
  const [line = ""] = printed;
  assert.ok(line.includes("alice (web)"), line);
  assert.ok(line.includes("bob (terminal)"), line);
  assert.ok(line.includes("2"), line);
  assert.deepEqual(alice.events, []);
});

Deno.test("operate() says so when /who finds nobody", () => {
  const printed: string[] = [];
  operate(new Hub(), "/who", (l) => printed.push(l));
  assert.equal(printed.length, 1);
  assert.match(printed[0] ?? "", /nobody/i);
});

Deno.test("operate() kicks a member with /kick NICK WHY", () => {
  const { room, alice, bob, printed, run } = setup();
  run("/kick bob flooding the room");
  assert.equal(bob.closed, 1);
  assert.equal(room.nickOf(bob), undefined);
  assert.deepEqual(room.members().map((m) => m.nick), ["alice"]);
  const kicked = bob.events.find((e) => e.type === "error");
  assert.ok(kicked?.type === "error" && kicked.code === "kicked" && kicked.fatal === true);
  assert.match(kicked.message, /flooding the room/);
  const leave = alice.events.find((e) => e.type === "leave");
  assert.ok(leave?.type === "leave");
  assert.equal(leave.nick, "bob");
  assert.match(leave.reason, /flooding the room/);
  assert.equal(alice.closed, 0);
  assert.deepEqual(printed, []);
});

Deno.test("operate() prints an error for /kick of an unknown nickname", () => {
  const { room, alice, bob, printed, run } = setup();
  run("/kick nobody");
  assert.equal(printed.length, 1);
  assert.match(printed[0] ?? "", /^!/);
  assert.ok(printed[0]?.includes("nobody"), printed[0]);
  assert.equal(room.size, 2);
  assert.equal(alice.closed + bob.closed, 0);
  assert.deepEqual(alice.events, []);
});

Deno.test("operate() prints usage for /kick without a nickname", () => {
  const { room, printed, run } = setup();
  run("/kick");
  assert.equal(printed.length, 1);
  assert.match(printed[0] ?? "", /^! Usage/);
  assert.equal(room.size, 2);
});

Deno.test("operate() prints an error for an unknown command", () => {
  const { alice, printed, run } = setup();
  run("/dance now");
  assert.equal(printed.length, 1);
  assert.match(printed[0] ?? "", /^!/);
  assert.ok(printed[0]?.includes("/dance"), printed[0]);
  assert.deepEqual(alice.events, []);
});
