/**
 * Unit tests of the hub's `history` request with bounds (the paging that
 * IRC's CHATHISTORY needs: before and after an id or a time) and of
 * notices, said to a room or privately, with fake members; then one real
 * WebSocket, to see a bad bound refused as the parser refuses any bad field.
 *
 * @module
 */

import assert from "node:assert/strict";
import type {
  ChatMessage,
  ClientMessage,
  HistoryRequest,
  ServerEvent,
} from "../common/protocol.ts";
import { MemoryHistory, type RoomMessage } from "../server/history/history.ts";
import { SqliteHistory } from "../server/history/sqlite.ts";
import { Hub, type HubOptions, REPLAY_MAX } from "../server/hub/hub.ts";
import { itemAt } from "./kit/assert.ts";
import { FakeMember } from "./kit/fake_member.ts";
import { withServer } from "./kit/server.ts";
import { connectWs } from "./kit/ws_client.ts";

/**
 * A hub with a clock the test sets by hand, and no flood limit unless
 * asked: a burst never spent (a slow rate, so that the clock stepping back
 * takes few tokens away).
 */
function setup(options: HubOptions = {}) {
  const clock = { time: 1_000 };
  const hub = new Hub({
    now: () => clock.time,
    floodBurst: 1e9,
    floodRate: 1,
    ...options,
  });
  return { hub, clock };
}

/** Joins a fresh member in `rooms` (default `#lobby`) and forgets its welcome. */
function join(hub: Hub, nick: string, rooms?: string[]): FakeMember {
  const member = new FakeMember();
  assert.equal(hub.join(member, nick, undefined, undefined, rooms), true, `join ${nick}`);
  member.take();
  return member;
}

/** Asks the hub, expecting it to go ahead; returns what the member was sent. */
function ok(hub: Hub, member: FakeMember, message: ClientMessage): ServerEvent[] {
  assert.equal(hub.handle(member, message), true, JSON.stringify(message));
  return member.take();
}

/** The messages of the one `history` event a request was answered with. */
function history(
  hub: Hub,
  member: FakeMember,
  request: Omit<HistoryRequest, "type">,
) {
  const events = ok(hub, member, { type: "history", ...request });
  assert.equal(events.length, 1, JSON.stringify(events));
  const [event] = events;
  assert.ok(event?.type === "history", JSON.stringify(event));
  return event;
}

/** The ids of what a `history` request was answered with. */
function ids(
  hub: Hub,
  member: FakeMember,
  request: Omit<HistoryRequest, "type">,
) {
  return history(hub, member, request).messages.map((m) => m.id);
}

/** Says `n` messages in `room`, a second apart on the hub's clock; returns them. */
function talk(hub: Hub, clock: { time: number }, member: FakeMember, n: number, room?: string) {
  const said: ChatMessage[] = [];
  for (let i = 0; i < n; i++) {
    clock.time += 1_000;
    const message: ClientMessage = room === undefined
      ? { type: "say", text: `m${i}` }
      : { type: "say", text: `m${i}`, room };
    const [event] = ok(hub, member, message);
    assert.ok(event?.type === "message", JSON.stringify(event));
    said.push(event);
  }
  return said;
}

Deno.test("Hub.handle() history with before sends the count messages closest to it, oldest first", () => {
  const { hub, clock } = setup();
  const alice = join(hub, "alice", ["#lobby", "#dev"]);
  const all = talk(hub, clock, alice, 30).map((m) => m.id);
  talk(hub, clock, alice, 5, "#dev");
  const answer = history(hub, alice, { before: itemAt(all, 20), count: 5 });
  assert.equal(answer.room, "#lobby");
  assert.deepEqual(answer.messages.map((m) => m.id), all.slice(15, 20));
  // The default count is 50: all that there is before it.
  assert.deepEqual(ids(hub, alice, { before: itemAt(all, 20) }), all.slice(0, 20));
  assert.deepEqual(ids(hub, alice, { before: itemAt(all, 0) }), []);
  // With after too, still the ones closest to before.
  assert.deepEqual(ids(hub, alice, { after: itemAt(all, 2), before: itemAt(all, 20), count: 3 }), [
    ...all.slice(17, 20),
  ]);
});

Deno.test("Hub.handle() history with only after sends the count messages closest to it, oldest first", () => {
  const { hub, clock } = setup();
  const alice = join(hub, "alice");
  const all = talk(hub, clock, alice, 30).map((m) => m.id);
  assert.deepEqual(ids(hub, alice, { after: itemAt(all, 9), count: 5 }), all.slice(10, 15));
  assert.deepEqual(ids(hub, alice, { after: itemAt(all, 9) }), all.slice(10));
  assert.deepEqual(ids(hub, alice, { after: itemAt(all, -1) }), []);
  // Without bounds, as before: the last count.
  assert.deepEqual(ids(hub, alice, { count: 5 }), all.slice(-5));
});

Deno.test("Hub.handle() history bounds by time with beforeTs and afterTs, and mixed with ids", () => {
  const { hub, clock } = setup();
  const alice = join(hub, "alice");
  const said = talk(hub, clock, alice, 10);
  const all = said.map((m) => m.id);
  const ts = (i: number) => itemAt(said, i).ts;
  assert.deepEqual(ids(hub, alice, { beforeTs: ts(5), count: 2 }), all.slice(3, 5));
  assert.deepEqual(ids(hub, alice, { afterTs: ts(5), count: 2 }), all.slice(6, 8));
  assert.deepEqual(ids(hub, alice, { afterTs: ts(1), before: itemAt(all, 5) }), all.slice(2, 5));
  assert.deepEqual(ids(hub, alice, { after: itemAt(all, 1), beforeTs: ts(5), count: 2 }), [
    ...all.slice(3, 5),
  ]);
  // The clock steps back: times filter, ids still order.
  clock.time = ts(0) - 500;
  const stepped = talk(hub, clock, alice, 1).map((m) => m.id);
  assert.deepEqual(ids(hub, alice, { afterTs: ts(8) }), [itemAt(all, 9)]);
  assert.deepEqual(ids(hub, alice, { beforeTs: ts(1) }), [itemAt(all, 0), ...stepped]);
  assert.deepEqual(ids(hub, alice, { beforeTs: ts(1), count: 1 }), stepped);
});

Deno.test("Hub.handle() history caps count at REPLAY_MAX and reads never past keep", async () => {
  const { hub, clock } = setup({ store: new MemoryHistory(REPLAY_MAX + 100) });
  const alice = join(hub, "alice");
  const all = talk(hub, clock, alice, REPLAY_MAX + 50).map((m) => m.id);
  assert.deepEqual(ids(hub, alice, { after: 0, count: 5000 }), all.slice(0, REPLAY_MAX));
  const dir = await Deno.makeTempDir();
  const store = new SqliteHistory(`${dir}/chat.db`, 10);
  try {
    const { hub, clock } = setup({ store });
    const bob = join(hub, "bob");
    const kept = talk(hub, clock, bob, 30).map((m) => m.id).slice(-10);
    assert.deepEqual(ids(hub, bob, { after: 0, count: 3 }), kept.slice(0, 3));
    assert.deepEqual(ids(hub, bob, { before: itemAt(kept, 0) }), []);
    assert.deepEqual(ids(hub, bob, { afterTs: 0, before: itemAt(kept, 2) }), kept.slice(0, 2));
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Hub.handle() history with bounds costs flood tokens by count, as without", () => {
  const { hub, clock } = setup({ floodBurst: 10, floodRate: 0.001 });
  const alice = join(hub, "alice");
  talk(hub, clock, alice, 3);
  // 7 tokens left: 1,000 messages cost 10, refused; 100 cost 1.
  assert.equal(hub.handle(alice, { type: "history", before: 3, count: 1000 }), false);
  assert.equal(alice.take()[0]?.type, "error");
  for (let i = 0; i < 7; i++) {
    assert.equal(hub.handle(alice, { type: "history", afterTs: 0, count: 100 }), true, `${i}`);
  }
  assert.equal(hub.handle(alice, { type: "history", after: 0, count: 1 }), false);
});

/** A history whose range reads fail. */
class UnreadableRanges extends MemoryHistory {
  override range(): RoomMessage[] {
    throw new Error("disk I/O error");
  }
}

Deno.test("Hub.handle() history with bounds refuses with storage_failed when the store cannot read", () => {
  const { hub } = setup({ store: new UnreadableRanges() });
  const alice = join(hub, "alice");
  assert.equal(hub.handle(alice, { type: "history", before: 5 }), false);
  const events = alice.take();
  assert.deepEqual(events.map((e) => e.type === "error" ? [e.code, e.room] : e.type), [
    ["storage_failed", "#lobby"],
  ]);
  assert.equal(alice.closed, 0);
});

Deno.test("Hub.handle() say with notice sends and stores a notice; msg with notice a private one", () => {
  const { hub, clock } = setup();
  const alice = join(hub, "alice");
  const bob = join(hub, "bob");
  alice.take();
  clock.time = 5_000;
  const [notice] = ok(hub, alice, { type: "say", text: "build ok", notice: true });
  assert.deepEqual(notice, {
    type: "message",
    id: 1,
    ts: 5_000,
    room: "#lobby",
    from: "alice",
    text: "build ok",
    notice: true,
  });
  assert.deepEqual(bob.take(), [notice]);
  assert.deepEqual(history(hub, bob, {}).messages, [notice]);
  const [whisper] = ok(hub, alice, { type: "msg", to: "bob", text: "yours broke", notice: true });
  const received = {
    type: "message",
    id: 2,
    ts: 5_000,
    from: "alice",
    to: "bob",
    text: "yours broke",
    notice: true,
  };
  assert.deepEqual(whisper, { ...received, own: true });
  assert.deepEqual(bob.take(), [received]);
  // Plain ones carry no flag.
  const [plain] = ok(hub, alice, { type: "say", text: "hi", notice: false });
  assert.ok(plain?.type === "message" && !("notice" in plain) && !("action" in plain));
  const [action] = ok(hub, alice, { type: "me", text: "waves" });
  assert.ok(action?.type === "message" && action.action === true && !("notice" in action));
});

Deno.test("Hub.join() with since replays a notice as a notice", () => {
  const { hub } = setup();
  const alice = join(hub, "alice");
  ok(hub, alice, { type: "say", text: "first" });
  ok(hub, alice, { type: "say", text: "deploying", notice: true });
  const carol = new FakeMember();
  assert.equal(hub.join(carol, "carol", undefined, 1), true);
  const [welcome] = carol.ofType("welcome");
  assert.deepEqual(welcome?.history.map((m) => [m.text, m.notice]), [["deploying", true]]);
});

Deno.test("webSocketEndpoint() refuses a bad history bound with bad_message and stays open", async () => {
  await withServer(async (server) => {
    await using alice = await connectWs(server, "alice");
    alice.send({ type: "say", text: "one" });
    const one = await alice.next("message");
    alice.send({ type: "say", text: "two", notice: true });
    const two = await alice.next("message");
    assert.equal(two.notice, true);
    for (const bad of [-1, 1.5, "3"]) {
      alice.send({ type: "history", before: bad });
      const error = await alice.next("error");
      assert.equal(error.code, "bad_message");
      assert.match(error.message, /"before"/);
    }
    alice.send({ type: "history", after: 0, afterTs: 0 });
    assert.equal((await alice.next("error")).code, "bad_message");
    alice.send({ type: "me", text: "waves", notice: true });
    assert.equal((await alice.next("error")).code, "bad_message");
    alice.send({ type: "history", before: two.id });
    assert.deepEqual((await alice.next("history")).messages, [one]);
    alice.send({ type: "history", after: one.id });
    assert.deepEqual((await alice.next("history")).messages, [two]);
  });
});

Deno.test("Hub: what a member is sent again (a welcome, entering a room, a history reply) marks the lines that name it, as they were marked live", () => {
  const { hub } = setup();
  const alice = new FakeMember();
  assert.equal(hub.join(alice, "alice", undefined, undefined, ["#lobby", "#dev"]), true);
  const first = alice.take().find((e) => e.type === "welcome");
  assert.ok(first?.type === "welcome");
  const bob = join(hub, "bob", ["#lobby", "#dev"]);
  ok(hub, bob, { type: "say", text: "ALICE: lunch?" });
  ok(hub, bob, { type: "say", text: "nobody named" });
  ok(hub, alice, { type: "say", text: "alice says alice" });
  ok(hub, bob, { type: "say", text: "in dev, alice", room: "#dev" });
  alice.take();
  const marked = (messages: readonly ChatMessage[]) =>
    messages.map((m) => `${m.text}${m.mention ? " !" : ""}`);
  const lobby = ["ALICE: lunch? !", "nobody named", "alice says alice"];
  assert.deepEqual(marked(history(hub, alice, {}).messages), lobby);
  // Bob is named in none of them.
  assert.deepEqual(marked(history(hub, bob, {}).messages).filter((t) => t.endsWith("!")), []);
  // Entering a room again.
  const [entered] = ok(hub, alice, { type: "enter", room: "#dev" });
  assert.ok(entered?.type === "entered", JSON.stringify(entered));
  assert.deepEqual(marked(entered.history), ["in dev, alice !"]);
  // A welcome: another member named carol joins, and is named in nothing.
  const carol = new FakeMember();
  assert.equal(hub.join(carol, "carol", undefined, undefined, ["#lobby"]), true);
  const welcome = carol.take().find((e) => e.type === "welcome");
  assert.ok(welcome?.type === "welcome");
  assert.deepEqual(marked(welcome.history), ["ALICE: lunch?", "nobody named", "alice says alice"]);
  // Alice back with her token: her welcome marks what names her.
  const again = new FakeMember();
  assert.equal(hub.join(again, "alice", first.token, undefined, ["#lobby", "#dev"]), true);
  const back = again.take().find((e) => e.type === "welcome");
  assert.ok(back?.type === "welcome");
  assert.deepEqual(marked(back.history), [...lobby, "in dev, alice !"]);
});
