import assert from "node:assert/strict";
import { CONSOLE_HELP, operate } from "../server/console.ts";
import { ConsolePrompt, runPrompt } from "../server/console_tty.ts";
import { ConnectionLimits } from "../server/transport/limits.ts";
import type { ServerEvent } from "../common/protocol.ts";
import { Hub } from "../server/hub/hub.ts";
import { SERVER_NICK } from "../common/nick.ts";
import { FakeMember } from "./kit/fake_member.ts";
import { FakeBus, FakeCluster } from "./kit/fake_cluster.ts";

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
  const target = { hub: room, connections: new ConnectionLimits() };
  const run = (line: string) => operate(target, line, (l) => printed.push(l));
  return { room, alice, bob, printed, run };
}

Deno.test("operate() announces plain text to the room as server", () => {
  const { alice, bob, printed, run } = setup();
  run("  hello everyone  ");
  const expected: ServerEvent[] = [
    {
      type: "message",
      id: 1,
      ts: 1_000,
      room: "#lobby",
      from: SERVER_NICK,
      text: "hello everyone",
    },
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

Deno.test("operate() lists a room's members for /who #ROOM, and every connection for /who", () => {
  const { alice, printed, run } = setup();
  run("/who #lobby");
  assert.equal(printed[0], "-- 2 in #lobby:");
  assert.match(printed[1] ?? "", /NICK +VIA +ADDRESS +CONNECTED +IDLE +QUEUED/);
  assert.deepEqual(printed.slice(2).map((l) => l.split(/\s+/).slice(1, 3)), [
    ["alice", "web"],
    ["bob", "terminal"],
  ]);
  printed.length = 0;
  run("/who");
  assert.deepEqual(printed, ["-- No connections."], "a bare hub: nobody connected here");
  assert.deepEqual(alice.events, []);
});

Deno.test("operate() says so when /who #ROOM finds nobody, and refuses /who with a nickname", () => {
  const printed: string[] = [];
  const target = { hub: new Hub(), connections: new ConnectionLimits() };
  operate(target, "/who #lobby", (l) => printed.push(l));
  operate(target, "/who bob", (l) => printed.push(l));
  assert.deepEqual(printed, ["-- Nobody is in #lobby.", "! Usage: /who [#ROOM]"]);
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

/** `setup()` with bob also in `#dev`, and carol in `#dev` only. */
function withDev() {
  const world = setup();
  const { room: hub, bob } = world;
  assert.equal(hub.handle(bob, { type: "enter", room: "#dev" }), true);
  const carol = new FakeMember("web");
  assert.equal(hub.join(carol, "carol", undefined, undefined, ["#dev"]), true);
  for (const m of [world.alice, bob, carol]) m.take();
  return { ...world, carol };
}

Deno.test("operate() says /say #ROOM TEXT in that room only", () => {
  const { alice, bob, carol, printed, run } = withDev();
  run("/say #DEV deploy in 5");
  const expected: ServerEvent[] = [
    { type: "message", id: 1, ts: 1_000, room: "#dev", from: SERVER_NICK, text: "deploy in 5" },
  ];
  assert.deepEqual(bob.take(), expected);
  assert.deepEqual(carol.take(), expected);
  assert.deepEqual(alice.take(), [], "alice is in #lobby only");
  assert.deepEqual(printed, []);
});

Deno.test("operate() /say to a room nobody is in keeps it in that room's history", () => {
  const { room: hub, alice, printed, run } = setup();
  run("/say #empty note for later");
  assert.deepEqual(printed, []);
  assert.deepEqual(alice.take(), []);
  assert.equal(hub.room("#empty"), undefined, "not made live");
  hub.handle(alice, { type: "enter", room: "#empty" });
  const [entered] = alice.ofType("entered");
  assert.deepEqual(entered?.history.map((m) => [m.room, m.from, m.text]), [
    ["#empty", SERVER_NICK, "note for later"],
  ]);
});

Deno.test("operate() refuses /say with a bad room name or no text, and says nothing", () => {
  const { alice, printed, run } = setup();
  run("/say #a\u202Eb hi");
  run("/say #lobby");
  run("/say hello");
  assert.equal(printed.length, 3, JSON.stringify(printed));
  assert.match(printed[0] ?? "", /^! Nothing was said: the room name or the message is not valid/);
  assert.match(printed[1] ?? "", /^! Usage: \/say #ROOM TEXT/);
  assert.match(printed[2] ?? "", /^! Usage: \/say #ROOM TEXT/);
  assert.deepEqual(alice.events, []);
});

Deno.test("operate() sets a room's topic with /topic #ROOM TEXT and shows it without TEXT", () => {
  const { alice, bob, carol, printed, run } = withDev();
  run("/topic #dev Deploys at 5");
  const topic = { text: "Deploys at 5", by: SERVER_NICK, ts: 1_000 };
  const expected: ServerEvent[] = [{ type: "topic", room: "#dev", topic, changed: true }];
  assert.deepEqual(bob.take(), expected);
  assert.deepEqual(carol.take(), expected);
  assert.deepEqual(alice.take(), []);
  run("/topic #dev");
  assert.deepEqual(printed, ["-- Topic of #dev: Deploys at 5 (set by server)"]);
  run("/topic #lobby");
  assert.match(printed[1] ?? "", /^-- #lobby has no topic/);
  run("/topic");
  assert.match(printed[2] ?? "", /^! Usage: \/topic #ROOM/);
  run("/topic #bad,name hello");
  assert.match(printed[3] ?? "", /^! The topic was not set/);
});

Deno.test("operate() lists the live rooms, biggest first, with /rooms", () => {
  const { room: hub, printed, run } = withDev();
  hub.setTopic("#dev", "Deploys at 5");
  run("/rooms");
  assert.deepEqual(printed, ["-- 2 rooms:", "--   #lobby (2)", "--   #dev (2): Deploys at 5"]);
  const empty: string[] = [];
  operate({ hub: new Hub(), connections: new ConnectionLimits() }, "/rooms", (l) => empty.push(l));
  assert.deepEqual(empty, ["-- No live rooms."]);
});

Deno.test("operate() lists a named room's members with /who #ROOM", () => {
  const { printed, run } = withDev();
  run("/who #DEV");
  run("/who #nowhere");
  assert.equal(printed[0], "-- 2 in #dev:");
  assert.deepEqual(printed.slice(2, 4).map((l) => l.split(/\s+/)[1]), ["bob", "carol"]);
  assert.equal(printed[4], "-- Nobody is in #nowhere.");
});

Deno.test("operate() /kick takes a member out of every room it is in", () => {
  const { room: hub, alice, bob, carol, run } = withDev();
  run("/kick bob spam");
  assert.equal(bob.closed, 1);
  assert.deepEqual(alice.ofType("leave").map((e) => [e.room, e.nick]), [["#lobby", "bob"]]);
  assert.deepEqual(carol.ofType("leave").map((e) => [e.room, e.nick]), [["#dev", "bob"]]);
  assert.deepEqual(hub.members("#dev").map((m) => m.nick), ["carol"]);
  assert.deepEqual(hub.members().map((m) => m.nick), ["alice"]);
});

Deno.test("operate() prints the console's commands for /help", () => {
  const { printed, run } = setup();
  run("/help");
  assert.deepEqual(printed, [...CONSOLE_HELP]);
  assert.ok(CONSOLE_HELP.some((l) => l.includes("/say #ROOM TEXT")));
});

/** A screen that keeps what is written, and is 80 columns wide. */
class FakeScreen {
  written = "";
  write(text: string): void {
    this.written += text;
  }
  columns(): number {
    return 80;
  }
  /** What was written, as rows a terminal would show (the last state of each). */
  rows(): string[] {
    return this.written.split("\r\n").map((row) =>
      (row.split("\r").at(-1) ?? "").replaceAll("\x1b[K", "")
    );
  }
}

Deno.test("runPrompt() shows every room's events above the prompt, labeling those not in #lobby", async () => {
  const { room: hub, bob } = withDev();
  const screen = new FakeScreen();
  const prompt = new ConsolePrompt(screen);
  const input = new TransformStream<Uint8Array, Uint8Array>();
  const target = { hub, connections: new ConnectionLimits() };
  const running = runPrompt(target, input.readable, prompt, { interrupt() {} });
  const writer = input.writable.getWriter();
  const keys = (text: string) => writer.write(new TextEncoder().encode(text));
  await keys("/who #d");
  hub.handle(bob, { type: "say", text: "in the lobby" });
  // What was typed is drawn again under the line that came.
  assert.ok(screen.written.endsWith("in the lobby\r\n\r> /who #d\x1b[K\r\x1b[9C"));
  hub.handle(bob, { type: "say", text: "in dev", room: "#dev" });
  await keys("ev\r\x04");
  await running;
  const rows = screen.rows().filter((row) => !row.startsWith("chat: console"));
  assert.match(rows[0] ?? "", /^\[\d\d:\d\d\] <bob> in the lobby$/);
  assert.match(rows[1] ?? "", /^\[\d\d:\d\d\] \[#dev\] <bob> in dev$/);
  assert.equal(rows[2], "> /who #dev", "the line entered stays on screen");
  assert.equal(rows[3], "-- 2 in #dev:");
  assert.ok(screen.written.endsWith("\r\x1b[K"), "the prompt is cleared when the console ends");
  hub.handle(bob, { type: "say", text: "after" });
  assert.ok(!screen.written.includes("after"), "nothing is shown once it has ended");
  await writer.close().catch(() => {});
});

Deno.test("runPrompt() shows what a command prints once Redis has answered: /msg with --redis", async () => {
  const bus = new FakeBus();
  const hub = new Hub({ cluster: new FakeCluster(bus, "n0") });
  await hub.attach();
  const bob = new FakeMember();
  assert.ok(await hub.join(bob, "bob"));
  const screen = new FakeScreen();
  const prompt = new ConsolePrompt(screen);
  const input = new TransformStream<Uint8Array, Uint8Array>();
  const target = { hub, connections: new ConnectionLimits() };
  const running = runPrompt(target, input.readable, prompt, { interrupt() {} });
  const writer = input.writable.getWriter();
  await writer.write(new TextEncoder().encode("/msg bob psst\r"));
  await bus.settle();
  await writer.write(new TextEncoder().encode("\x04"));
  await running;
  assert.ok(
    screen.rows().some((row) => /^\[\d\d:\d\d\] \[private to bob\] <server> psst$/.test(row)),
    JSON.stringify(screen.rows()),
  );
  assert.deepEqual(bob.ofType("message").map((m) => m.text), ["psst"]);
  await writer.close().catch(() => {});
  await bus.settle();
});

Deno.test("runPrompt() calls interrupt for Ctrl-C typed as a key", async () => {
  const { room: hub } = setup();
  const prompt = new ConsolePrompt(new FakeScreen());
  const input = new TransformStream<Uint8Array, Uint8Array>();
  let interrupted = 0;
  const target = { hub, connections: new ConnectionLimits() };
  const running = runPrompt(target, input.readable, prompt, { interrupt: () => interrupted++ });
  const writer = input.writable.getWriter();
  await writer.write(new TextEncoder().encode("half a line\x03"));
  await writer.close();
  await running;
  assert.equal(interrupted, 1);
});

Deno.test("ConsolePrompt.around() clears the line being typed for another writer, then redraws it", () => {
  const screen = new FakeScreen();
  const prompt = new ConsolePrompt(screen);
  prompt.around(() => screen.write("before\n"));
  assert.equal(screen.written, "before\n", "nothing drawn before the prompt is shown");
  prompt.show();
  prompt.keys("ab");
  screen.written = "";
  prompt.around(() => screen.write("ts=1 level=info msg=join\n"));
  assert.equal(screen.written, "\r\x1b[Kts=1 level=info msg=join\n\r> ab\x1b[K\r\x1b[4C");
  screen.written = "";
  prompt.print(["a \x1b[2Jline"]);
  assert.equal(screen.written, "\r\x1b[Ka line\r\n\r> ab\x1b[K\r\x1b[4C", "printed safe");
});
