/**
 * Tests of history as members see it: a rejoin with `since` replays what was
 * missed (with `gap` when some of it is gone), a rejoin with the seat's token
 * replays its private messages too, `/history` and the `history` request show
 * recent room messages, and a message that cannot be stored is not sent.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type HistoryStore, MemoryHistory, type RoomMessage } from "../server/history/history.ts";
import { type ChatMessage, LOBBY, type ServerEvent } from "../common/protocol.ts";
import { createLogger, type Logger } from "../server/log.ts";
import { Hub } from "../server/hub/hub.ts";
import { SqliteHistory } from "../server/history/sqlite.ts";
import { assertIncreasing, itemAt } from "./kit/assert.ts";
import { FakeMember } from "./kit/fake_member.ts";
import { type ChatOptions, withServer } from "./kit/server.ts";
import { connectTcp, type LineMatch, type TcpClient } from "./kit/tcp_client.ts";
import { connectWs, joinWs, WsClient } from "./kit/ws_client.ts";

/** What a message is, without its id and time. */
function gist(m: ChatMessage): string {
  return `${m.from}${m.action ? " (action)" : ""}${m.to ? ` to ${m.to}` : ""}: ${m.text}`;
}

/** The histories the server is run with: the default, and SQLite. */
const HISTORIES: readonly (readonly [string, () => ChatOptions])[] = [
  ["MemoryHistory", () => ({})],
  ["SqliteHistory", () => ({ store: new SqliteHistory(":memory:", 10_000) })],
];

for (const [store, options] of HISTORIES) {
  Deno.test(`Hub.join() with since replays exactly the missed messages, then live ones once (${store})`, async () => {
    await withServer(options(), async (server) => {
      await using term = await connectTcp(server, "term");
      await using bob = await connectWs(server, "bob");
      const first = await WsClient.open(server);
      await using _first = first;
      await joinWs(first, "alice");
      await term.send("seen by alice");
      const lastId = (await first.next("message")).id;
      await bob.next("message", (m) => m.id === lastId);
      await first.close();
      await term.readUntil("-- alice left");

      // Missed: over TCP and WebSocket, plain and actions, and a private
      // message between others. Each is awaited before the next, so that
      // their order does not depend on which connection the server reads first.
      const missed: ChatMessage[] = [];
      const said = async () => missed.push(await bob.next("message"));
      await term.send("one from the terminal");
      await said();
      bob.send({ type: "say", text: "two from the page" });
      await said();
      await term.send("/me three");
      await said();
      bob.send({ type: "me", text: "four" });
      await said();
      await term.send("/msg bob not for alice");
      await bob.next("message", (m) => m.to === "bob");
      await term.send("五 from the terminal");
      await said();
      assert.deepEqual(missed.map(gist), [
        "term: one from the terminal",
        "bob: two from the page",
        "term (action): three",
        "bob (action): four",
        "term: 五 from the terminal",
      ]);

      await using back = await WsClient.open(server);
      const welcome = await joinWs(back, "alice", { since: lastId });
      assert.deepEqual(welcome.history, missed);
      assert.equal(welcome.gap, undefined);

      bob.send({ type: "say", text: "live" });
      const live = await back.next("message");
      assert.equal(live.text, "live");
      bob.send({ type: "say", text: "later" });
      assert.equal((await back.next("message")).text, "later");
      const received = back.events.filter((e) => e.type === "message");
      assert.deepEqual(received.map((m) => m.text), ["live", "later"], "each once");
      assert.ok(!welcome.history.some((m) => m.id === live.id));
    });
  });
}

/** Says `count` messages as `client` and waits until it has them all back. */
async function sayMany(client: WsClient, count: number, prefix: string): Promise<ChatMessage[]> {
  for (let i = 1; i <= count; i++) client.send({ type: "say", text: `${prefix}${i}` });
  const said: ChatMessage[] = [];
  while (said.length < count) said.push(await client.next("message"));
  return said;
}

const SMALL_RETENTION: readonly (readonly [string, () => HistoryStore, number])[] = [
  ["MemoryHistory", () => new MemoryHistory(5), 20],
  // SQLite trims every 64 messages: miss enough for a trim to happen.
  ["SqliteHistory", () => new SqliteHistory(":memory:", 5), 150],
];

for (const [store, history, missedCount] of SMALL_RETENTION) {
  Deno.test(`Hub.join() with since sets gap when retention removed missed messages (${store})`, async () => {
    await withServer({ store: history() }, async (server) => {
      await using bob = await connectWs(server, "bob");
      const seen = itemAt(await sayMany(bob, 1, "seen"), 0);
      const missed = await sayMany(bob, missedCount, "m");

      await using alice = await WsClient.open(server);
      const welcome = await joinWs(alice, "alice", { since: seen.id });
      assert.equal(welcome.gap, true);
      const n = welcome.history.length;
      assert.ok(n >= 5 && n < missedCount, `${n} messages replayed`);
      assert.deepEqual(welcome.history, missed.slice(-n), "the newest of the missed, in order");
    });
  });
}

Deno.test("Hub.join() with the seat's token and since replays private messages sent to the ghost", async () => {
  await withServer({ store: new SqliteHistory(":memory:", 10_000) }, async (server) => {
    await using term = await connectTcp(server, "term");
    await using bob = await connectWs(server, "bob");
    // The old connection stays open, as a dropped one the server has not
    // noticed yet would.
    const ghost = await WsClient.open(server);
    await using _ghost = ghost;
    const first = await joinWs(ghost, "alice");
    bob.send({ type: "msg", to: "alice", text: "psst, already seen" });
    bob.send({ type: "say", text: "seen" });
    const lastId = (await ghost.next("message", (m) => m.text === "seen")).id;

    bob.send({ type: "msg", to: "alice", text: "psst from the page" });
    // Each awaited before the next, so the order does not depend on which
    // connection the server reads first.
    await bob.next("message", (m) => m.text === "psst from the page");
    await term.send("public");
    await term.send("/msg alice psst from the terminal");
    await term.send("/msg bob not for alice");
    await term.readUntil("[private to bob]");
    const sent = await ghost.next("message", (m) => m.to === "alice" && m.from === "term");
    assert.equal(sent.text, "psst from the terminal");

    await using back = await WsClient.open(server);
    const welcome = await joinWs(back, "alice", { token: first.token, since: lastId });
    assert.deepEqual(welcome.history.map(gist), [
      "bob to alice: psst from the page",
      "term: public",
      "term to alice: psst from the terminal",
    ]);
    assertIncreasing(welcome.history.map((m) => m.id));
    assert.equal(welcome.gap, undefined);
    await ghost.closed;

    // For the others, alice never left.
    bob.send({ type: "say", text: "welcome back" });
    assert.equal((await back.next("message")).text, "welcome back");
    const presence = bob.events.filter((e) => e.type === "join" || e.type === "leave");
    assert.deepEqual(presence.map((e) => `${e.type} ${e.nick}`), ["join alice"]);
  });
});

Deno.test("a private message is marked own for its sender only, and stays so in a replay after a rename", async () => {
  await withServer({}, async (server) => {
    await using bob = await connectWs(server, "bob");
    const first = await WsClient.open(server);
    await using _first = first;
    const welcomed = await joinWs(first, "pat");
    const lastId = welcomed.history.at(-1)?.id ?? 0;
    first.send({ type: "msg", to: "bob", text: "hello bob" });
    const echoed = await first.next("message", (m) => m.text === "hello bob");
    const received = await bob.next("message", (m) => m.text === "hello bob");
    assert.equal(echoed.own, true, "the sender's copy");
    assert.equal(received.own, undefined, "the recipient's copy");
    bob.send({ type: "msg", to: "pat", text: "hi pat" });
    assert.equal((await first.next("message", (m) => m.text === "hi pat")).own, undefined);

    first.send({ type: "nick", nick: "pat2" });
    await first.next("rename", (e) => e.to === "pat2");
    await using back = await WsClient.open(server);
    const welcome = await joinWs(back, "pat2", { token: welcomed.token, since: lastId });
    const privates = welcome.history.filter((m) => m.to !== undefined);
    assert.deepEqual(privates.map((m) => [gist(m), m.own ?? false]), [
      ["pat to bob: hello bob", true],
      ["bob to pat: hi pat", false],
    ]);
  });
});

/** `(history) [HH:MM] ` */
const HISTORY_PREFIX = /^\(history\) \[\d\d:\d\d\] /;

/** Sends a command and returns the lines of its answer, up to the one matching `end`. */
async function ask(term: TcpClient, line: string, end: LineMatch): Promise<string[]> {
  await term.send(line);
  return await term.readLinesUntil(end);
}

Deno.test("serveTcp() answers /history N with the last N room messages, framed", async () => {
  await withServer({}, async (server) => {
    await using term = await connectTcp(server, "term");
    await using web = await connectWs(server, "web");
    await term.readUntil("-- web joined (web)");
    assert.deepEqual(await ask(term, "/history", "-- No messages yet."), ["-- No messages yet."]);

    await sayMany(web, 3, "m");
    web.send({ type: "msg", to: "term", text: "secret" });
    await term.readUntil("[private] <web> secret");
    await term.send("my own words");
    await web.next("message", (m) => m.from === "term");
    web.send({ type: "me", text: "waves" });
    await term.readUntil("* web waves");

    const three = await ask(term, "/history 3", "-- End of history.");
    assert.equal(three.length, 5, JSON.stringify(three));
    assert.equal(three[0], "-- Last 3 messages:");
    assert.deepEqual(three.slice(1, 4).map((l) => l.replace(HISTORY_PREFIX, "")), [
      "<web> m3",
      "<term> my own words",
      "* web waves",
    ]);
    assert.equal(three[4], "-- End of history.");

    const all = await ask(term, "/history", "-- End of history.");
    assert.equal(all[0], "-- Last 5 messages:");
    assert.deepEqual(all.slice(1, -1).map((l) => l.replace(HISTORY_PREFIX, "")), [
      "<web> m1",
      "<web> m2",
      "<web> m3",
      "<term> my own words",
      "* web waves",
    ], "every room message, and no private one");

    assert.deepEqual(await ask(term, "/history 1", "-- End of history."), [
      "-- Last message:",
      all.at(-2),
      "-- End of history.",
    ]);
  });
});

Deno.test("serveTcp() answers /history with a bad count with its usage", async () => {
  await withServer({}, async (server) => {
    await using term = await connectTcp(server, "term");
    await term.send("something said");
    for (const bad of ["abc", "0", "-2", "3x"]) {
      const lines = await ask(term, `/history ${bad}`, (l) => l.startsWith("! "));
      assert.deepEqual(lines, ["! Usage: /history [more] [N], N a positive number"], bad);
    }
    // Still connected and joined.
    assert.equal((await ask(term, "/history 1", "-- End of history."))[0], "-- Last message:");
  });
});

Deno.test("webSocketEndpoint() answers a history request with the last count room messages", async () => {
  await withServer({}, async (server) => {
    await using web = await connectWs(server, "web");
    await using other = await connectWs(server, "other");
    const said = await sayMany(web, 3, "m");
    web.send({ type: "msg", to: "other", text: "secret" });
    await other.next("message", (m) => m.to === "other");

    other.send({ type: "history", count: 2 });
    const two = await other.next("history");
    assert.deepEqual(two.messages, said.slice(-2));

    other.send({ type: "history" });
    const all = await other.next("history");
    assert.deepEqual(all.messages, said, "every room message, and no private one");
  });
});

/** A history whose writes fail while `failing` is set, as a full disk would. */
class FailingHistory extends MemoryHistory {
  failing = false;

  override append(key: string, message: RoomMessage): void {
    if (this.failing) throw new Error("disk I/O error");
    super.append(key, message);
  }
}

/** A logger of errors only, and the lines it wrote. */
function errorLog(): { log: Logger; printed: string[] } {
  const printed: string[] = [];
  return { log: createLogger({ level: "error", write: (line) => printed.push(line) }), printed };
}

Deno.test("Hub.handle() refuses say with storage_failed and delivers nothing when the store cannot append", () => {
  const history = new FailingHistory();
  const { log, printed } = errorLog();
  const room = new Hub({ store: history, log });
  const alice = new FakeMember();
  const bob = new FakeMember("terminal");
  assert.equal(room.join(alice, "alice"), true);
  assert.equal(room.join(bob, "bob"), true);
  alice.take();
  bob.take();
  const observed: ServerEvent[] = [];
  room.watch((e) => observed.push(e));

  history.failing = true;
  assert.equal(room.handle(alice, { type: "say", text: "lost" }), false);
  assert.equal(room.handle(alice, { type: "me", text: "lost too" }), false);
  assert.equal(room.announce("lost as well"), false);
  assert.equal(printed.length, 3, JSON.stringify(printed));
  assert.match(printed[0]!, /level=error msg="cannot store a message" error=/);
  const refusals = alice.take();
  assert.deepEqual(refusals.map((e) => e.type === "error" && e.code), [
    "storage_failed",
    "storage_failed",
  ]);
  assert.deepEqual(bob.take(), []);
  assert.deepEqual(observed, []);
  assert.deepEqual(history.recent(LOBBY, 10), []);

  history.failing = false;
  assert.equal(room.handle(alice, { type: "say", text: "kept" }), true);
  const [delivered] = bob.take();
  assert.ok(delivered?.type === "message" && delivered.text === "kept");
  assert.deepEqual(history.recent(LOBBY, 10), [delivered]);
});

Deno.test("startChat() passes the given history to the room and closes it at shutdown", async () => {
  const history = new SqliteHistory(":memory:", 10_000);
  await withServer({ store: history, history: 2 }, async (server) => {
    await using web = await connectWs(server, "web");
    const said = await sayMany(web, 3, "m");
    assert.deepEqual(history.recent(LOBBY, 10), said);
    await using late = await WsClient.open(server);
    assert.deepEqual((await joinWs(late, "late")).history, said.slice(-2), "history");
  });
  assert.throws(() => history.recent(LOBBY, 1), "the store is closed");
});

/** A history whose reads fail while `failing` is set. */
class UnreadableHistory extends MemoryHistory {
  failing = false;

  override recent(key: string, count: number): RoomMessage[] {
    if (this.failing) throw new Error("disk I/O error");
    return super.recent(key, count);
  }
}

Deno.test("Hub.join() refuses with storage_failed, seating nobody, when the history cannot be read", () => {
  const history = new UnreadableHistory();
  const { log, printed } = errorLog();
  const room = new Hub({ store: history, log });
  const alice = new FakeMember();
  assert.equal(room.join(alice, "alice"), true);
  alice.take();
  history.failing = true;
  const bob = new FakeMember();
  assert.equal(room.join(bob, "bob"), false);
  assert.equal(printed.length, 1);
  assert.match(printed[0]!, /msg="cannot read the history" error="disk I\/O error"/);
  assert.deepEqual(bob.take().map((e) => e.type === "error" ? e.code : e.type), ["storage_failed"]);
  assert.deepEqual(alice.take(), []);
  assert.deepEqual(room.members().map((m) => m.nick), ["alice"]);
  assert.equal(room.handle(alice, { type: "history" }), false);
  assert.deepEqual(alice.take().map((e) => e.type === "error" ? e.code : e.type), [
    "storage_failed",
  ]);
});

Deno.test("Hub.join() treats a since above every id issued as unknown: recent history and a gap", () => {
  const room = new Hub({ store: new MemoryHistory() });
  const alice = new FakeMember();
  room.join(alice, "alice");
  room.handle(alice, { type: "say", text: "one" });
  room.handle(alice, { type: "say", text: "two" });
  const bob = new FakeMember();
  assert.equal(room.join(bob, "bob", undefined, 999), true);
  const [welcome] = bob.take();
  assert.ok(welcome?.type === "welcome");
  assert.deepEqual(welcome.history.map((m) => m.text), ["one", "two"]);
  assert.equal(welcome.gap, true);
});

Deno.test("Hub.join() reports a gap when more private messages were missed than a seat keeps", () => {
  const room = new Hub({ store: new MemoryHistory(), floodBurst: 1000, floodRate: 1000 });
  const alice = new FakeMember();
  const bob = new FakeMember();
  room.join(alice, "alice");
  room.join(bob, "bob");
  const [welcome] = alice.take();
  assert.ok(welcome?.type === "welcome");
  for (let i = 0; i < 150; i++) room.handle(bob, { type: "msg", to: "alice", text: `p${i}` });
  const again = new FakeMember();
  assert.equal(room.join(again, "alice", welcome.token, 0), true);
  const [rejoined] = again.take();
  assert.ok(rejoined?.type === "welcome");
  assert.equal(rejoined.history.length, 100);
  assert.equal(rejoined.history[0]?.text, "p50");
  assert.equal(rejoined.gap, true);
});
