/**
 * Unit tests of rooms as the hub runs them, with fake members: where a join
 * lands, entering and parting, who sees what of which room, the caps on
 * rooms, topics, the room list, renames, private messages, kicks and floods
 * across rooms, ids and resume across rooms, presence per room, and
 * shutdown. `hub_test.ts` tests the hub as one room (`#lobby`) sees it.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type ChatMessage,
  type ClientMessage,
  LOBBY,
  MEMBER_ROOMS_MAX,
  ROOMS_LISTED,
  type ServerEvent,
  type Via,
} from "../common/protocol.ts";
import { clip, toOneLine } from "../common/message.ts";
import { MemoryHistory } from "../server/history/history.ts";
import { FLOOD_STRIKES, Hub, type HubOptions } from "../server/hub/hub.ts";
import { assertIncreasing } from "./kit/assert.ts";
import { type EventOf, isType } from "./kit/ws_client.ts";
import { FakeMember } from "./kit/fake_member.ts";

/** A hub with a clock the test sets by hand and tokens `token-1`, `token-2`... */
function setup(options: HubOptions = {}) {
  const clock = { time: 1_000 };
  let tokens = 0;
  const hub = new Hub({
    now: () => clock.time,
    newToken: () => `token-${++tokens}`,
    ...options,
  });
  return { hub, clock };
}

/** Joins a fresh member in `rooms` (the default: `#lobby`) and forgets its welcome. */
function join(hub: Hub, nick: string, rooms?: string[], via: Via = "web"): FakeMember {
  const member = new FakeMember(via);
  assert.equal(hub.join(member, nick, undefined, undefined, rooms), true, `join ${nick}`);
  member.take();
  return member;
}

/** The one welcome a member was sent first; fails otherwise. */
function welcomeOf(member: FakeMember): EventOf<"welcome"> {
  const [welcome] = member.events;
  assert.ok(welcome?.type === "welcome", JSON.stringify(welcome));
  return welcome;
}

/** Asks the hub, expecting it to go ahead; returns what the member was sent. */
function ok(hub: Hub, member: FakeMember, message: ClientMessage): ServerEvent[] {
  assert.equal(hub.handle(member, message), true, JSON.stringify(message));
  return member.take();
}

/** Asks the hub, expecting exactly one refusal with `code` about `room`; the member stays. */
function refused(
  hub: Hub,
  member: FakeMember,
  message: ClientMessage,
  code: string,
  room?: string,
): EventOf<"error"> {
  assert.equal(hub.handle(member, message), false, JSON.stringify(message));
  const events = member.take();
  assert.equal(events.length, 1, JSON.stringify(events));
  const [error] = events;
  assert.ok(error?.type === "error", JSON.stringify(error));
  assert.equal(error.code, code);
  assert.equal(error.room, room);
  assert.equal(error.fatal, undefined, "never fatal");
  assert.ok(error.message.length > 0);
  assert.equal(member.closed, 0, "never a disconnect");
  return error;
}

/** The texts of the messages among `events`. */
function texts(events: readonly ServerEvent[]): string[] {
  return events.filter((e) => isType(e, "message")).map((e) => e.text);
}

/** The names of the live rooms, sorted. */
function live(hub: Hub): string[] {
  return [...hub.rooms()].map((r) => r.name).sort();
}

Deno.test("Hub.join() without rooms lands in #lobby exactly as before rooms", () => {
  const { hub } = setup();
  const alice = new FakeMember();
  assert.equal(hub.join(alice, "alice"), true);
  const welcome = welcomeOf(alice);
  assert.equal(welcome.room, LOBBY);
  assert.deepEqual(welcome.members, [{ nick: "alice", via: "web" }]);
  assert.deepEqual(welcome.rooms, [{ room: LOBBY, members: [{ nick: "alice", via: "web" }] }]);
  assert.deepEqual(hub.roomsOf(alice), [LOBBY]);
  assert.deepEqual(live(hub), [LOBBY]);
  alice.take();
  // A frame without a room acts in #lobby.
  const said = ok(hub, alice, { type: "say", text: "hi" });
  assert.deepEqual(said.map((e) => e.type === "message" && e.room), [LOBBY]);
  assert.deepEqual(ok(hub, alice, { type: "who" }), [
    { type: "members", room: LOBBY, members: [{ nick: "alice", via: "web" }] },
  ]);
});

Deno.test("Hub.join() with rooms enters each, welcomes with the first, and tells each room", () => {
  const { hub, clock } = setup();
  const lobbyist = join(hub, "lobbyist");
  const dev = join(hub, "dev", ["#dev"], "terminal");
  clock.time = 2_000;
  const alice = new FakeMember();
  assert.equal(hub.join(alice, "alice", undefined, undefined, ["#Dev", LOBBY]), true);
  const welcome = welcomeOf(alice);
  assert.equal(welcome.room, "#dev", "the room as its first member typed it");
  assert.deepEqual(welcome.members, [
    { nick: "dev", via: "terminal" },
    { nick: "alice", via: "web" },
  ]);
  assert.deepEqual(welcome.rooms.map((r) => [r.room, r.members.map((m) => m.nick)]), [
    ["#dev", ["dev", "alice"]],
    [LOBBY, ["lobbyist", "alice"]],
  ]);
  assert.deepEqual(hub.roomsOf(alice), ["#dev", LOBBY]);
  assert.deepEqual(dev.take(), [{
    type: "join",
    room: "#dev",
    ts: 2_000,
    nick: "alice",
    via: "web",
  }]);
  assert.deepEqual(lobbyist.take(), [
    { type: "join", room: LOBBY, ts: 2_000, nick: "alice", via: "web" },
  ]);
});

Deno.test("Hub.join() with rooms: [] seats a member in no room, seen by nobody", () => {
  const { hub } = setup();
  const lobbyist = join(hub, "lobbyist");
  const ghost = new FakeMember();
  assert.equal(hub.join(ghost, "ghost", undefined, undefined, []), true);
  const welcome = welcomeOf(ghost);
  assert.equal(welcome.room, undefined);
  assert.deepEqual(welcome.members, []);
  assert.deepEqual(welcome.rooms, []);
  assert.deepEqual(welcome.history, []);
  ghost.take();
  assert.deepEqual(lobbyist.take(), []);
  assert.equal(hub.size, 2);
  assert.deepEqual(hub.roomsOf(ghost), []);
  assert.equal(hub.nickOf(ghost), "ghost", "the nickname is held");
  refused(hub, ghost, { type: "say", text: "hi" }, "not_in_room", LOBBY);
  // Private messages need no room.
  assert.equal(hub.handle(ghost, { type: "msg", to: "lobbyist", text: "psst" }), true);
  assert.deepEqual(texts(lobbyist.take()), ["psst"]);
});

Deno.test("Hub.handle() enter makes a room and seats the member; the next to enter is announced there only", () => {
  const { hub, clock } = setup();
  const alice = join(hub, "alice");
  const lobbyist = join(hub, "lobbyist");
  alice.take();
  assert.deepEqual(ok(hub, alice, { type: "enter", room: "#Dev" }), [
    { type: "entered", room: "#Dev", members: [{ nick: "alice", via: "web" }], history: [] },
  ]);
  assert.deepEqual(live(hub), ["#Dev", LOBBY]);
  assert.deepEqual(hub.roomsOf(alice), [LOBBY, "#Dev"]);
  assert.deepEqual(lobbyist.take(), [], "nothing of #Dev reaches #lobby");

  clock.time = 3_000;
  const bob = join(hub, "bob", []);
  assert.deepEqual(ok(hub, bob, { type: "enter", room: "#dev" }), [{
    type: "entered",
    room: "#Dev",
    members: [{ nick: "alice", via: "web" }, { nick: "bob", via: "web" }],
    history: [],
  }]);
  assert.deepEqual(alice.take(), [{
    type: "join",
    room: "#Dev",
    ts: 3_000,
    nick: "bob",
    via: "web",
  }]);
  assert.deepEqual(lobbyist.take(), []);
  assert.deepEqual(hub.members("#dev").map((m) => m.nick), ["alice", "bob"]);
  assert.deepEqual(hub.members().map((m) => m.nick), ["alice", "lobbyist"]);
  assert.equal(hub.room("#ԁev")?.size, 2, "found by a look-alike");
});

Deno.test("Hub: a member in #dev only sees nothing of #lobby", () => {
  const { hub } = setup({ presenceLimit: 1 });
  const carol = join(hub, "carol", ["#dev"]);
  const alice = join(hub, "alice");
  const bob = join(hub, "bob"); // #lobby now past its presence limit: summaries
  const seen = [
    ...ok(hub, alice, { type: "say", text: "lobby talk" }),
    ...ok(hub, alice, { type: "me", text: "waves" }),
    ...ok(hub, alice, { type: "topic", room: LOBBY, text: "lobby topic" }),
  ];
  hub.summarize();
  hub.leave(bob, "quit");
  hub.summarize();
  assert.ok(hub.announce("lobby notice"));
  assert.deepEqual(carol.take(), []);
  // ...while #lobby saw all of it.
  assert.deepEqual(
    [...seen, ...alice.take()].map((e) => e.type),
    ["message", "message", "topic", "presence", "presence", "message"],
  );
});

Deno.test("Hub.handle() enter of a room one is in sends its state again and announces nothing", () => {
  const { hub } = setup();
  const alice = join(hub, "alice", ["#dev"]);
  const bob = join(hub, "bob", ["#dev"]);
  alice.take();
  ok(hub, bob, { type: "say", text: "earlier", room: "#dev" });
  alice.take();
  const [entered, ...rest] = ok(hub, bob, { type: "enter", room: "#DEV" });
  assert.deepEqual(rest, []);
  assert.ok(entered?.type === "entered");
  assert.equal(entered.room, "#dev");
  assert.deepEqual(entered.members.map((m) => m.nick), ["alice", "bob"]);
  assert.deepEqual(texts(entered.history), ["earlier"]);
  assert.deepEqual(alice.take(), []);
  assert.deepEqual(hub.roomsOf(bob), ["#dev"], "in it once");
  assert.equal(hub.room("#dev")?.size, 2);
});

Deno.test("Hub.handle() part tells the room and the member; an empty room leaves the list and keeps its history", () => {
  const { hub, clock } = setup();
  const alice = join(hub, "alice", [LOBBY, "#dev"]);
  const bob = join(hub, "bob", ["#dev"]);
  alice.take();
  ok(hub, bob, { type: "say", text: "kept", room: "#dev" });
  ok(hub, bob, { type: "topic", room: "#dev", text: "Deploys at 5" });
  alice.take();
  clock.time = 4_000;
  assert.deepEqual(ok(hub, bob, { type: "part", room: "#dev", reason: "bye" }), [
    { type: "parted", room: "#dev", reason: "part: bye" },
  ]);
  assert.deepEqual(alice.take(), [
    { type: "leave", room: "#dev", ts: 4_000, nick: "bob", via: "web", reason: "part: bye" },
  ]);
  assert.deepEqual(hub.roomsOf(bob), []);
  assert.equal(hub.nickOf(bob), "bob", "still seated, in no room");
  assert.deepEqual(ok(hub, alice, { type: "part", room: "#dev" }), [
    { type: "parted", room: "#dev", reason: "part" },
  ]);
  assert.deepEqual(live(hub), [LOBBY], "#dev is gone from the list");
  assert.equal(hub.room("#dev"), undefined);
  // Back in: what was said there, and its topic, are still there.
  const [entered] = ok(hub, bob, { type: "enter", room: "#dev" });
  assert.ok(entered?.type === "entered");
  assert.deepEqual(texts(entered.history), ["kept"]);
  assert.equal(entered.topic?.text, "Deploys at 5");
});

Deno.test("Hub.handle() part without a room leaves #lobby; part of a room one is not in is refused", () => {
  const { hub } = setup();
  const alice = join(hub, "alice", [LOBBY, "#dev"]);
  assert.deepEqual(ok(hub, alice, { type: "part" }), [
    { type: "parted", room: LOBBY, reason: "part" },
  ]);
  refused(hub, alice, { type: "part" }, "not_in_room", LOBBY);
  refused(hub, alice, { type: "part", room: "#other" }, "not_in_room", "#other");
  assert.deepEqual(hub.roomsOf(alice), ["#dev"]);
});

Deno.test("Hub: --max-rooms caps the live rooms with rooms_full, on enter and in join's rooms", () => {
  const { hub } = setup({ maxRooms: 2 });
  const alice = join(hub, "alice", [LOBBY, "#a"]);
  refused(hub, alice, { type: "enter", room: "#b" }, "rooms_full", "#b");
  assert.deepEqual(live(hub), ["#a", LOBBY]);
  // A live room can still be entered.
  const bob = join(hub, "bob", []);
  assert.equal(ok(hub, bob, { type: "enter", room: "#A" })[0]?.type, "entered");
  // In a join, the refusal comes after the welcome, and the rest goes ahead.
  const carol = new FakeMember();
  assert.equal(hub.join(carol, "carol", undefined, undefined, ["#new", "#a"]), true);
  const [welcome, error, ...rest] = carol.take();
  assert.deepEqual(rest, []);
  assert.ok(welcome?.type === "welcome" && error?.type === "error");
  assert.deepEqual(welcome.rooms.map((r) => r.room), ["#a"]);
  assert.equal(welcome.room, "#a");
  assert.equal(error.code, "rooms_full");
  assert.equal(error.room, "#new");
  assert.equal(carol.closed, 0);
  // Once a room empties, another can be made.
  for (const m of [alice, bob, carol]) ok(hub, m, { type: "part", room: "#a" });
  assert.equal(ok(hub, bob, { type: "enter", room: "#b" })[0]?.type, "entered");
  assert.deepEqual(live(hub), ["#b", LOBBY]);
});

Deno.test("Hub: a member may be in MEMBER_ROOMS_MAX rooms at once: too_many_rooms past that", () => {
  const { hub } = setup({ floodBurst: 100 });
  const names = Array.from({ length: MEMBER_ROOMS_MAX }, (_, i) => `#r${i}`);
  assert.equal(MEMBER_ROOMS_MAX, 20);
  const alice = join(hub, "alice", names);
  assert.deepEqual(hub.roomsOf(alice), names);
  refused(hub, alice, { type: "enter", room: "#one-more" }, "too_many_rooms", "#one-more");
  assert.equal(hub.room("#one-more"), undefined, "not made");
  assert.equal(ok(hub, alice, { type: "enter", room: "#r3" })[0]?.type, "entered", "one it is in");
  ok(hub, alice, { type: "part", room: "#r0" });
  assert.equal(ok(hub, alice, { type: "enter", room: "#one-more" })[0]?.type, "entered");
});

Deno.test("Hub.join() refuses with too_many_rooms, after the welcome, rooms past what a seat taken back can add", () => {
  const { hub } = setup();
  const names = Array.from({ length: MEMBER_ROOMS_MAX }, (_, i) => `#r${i}`);
  const first = new FakeMember();
  assert.equal(hub.join(first, "alice", undefined, undefined, names), true);
  const token = welcomeOf(first).token;
  const again = new FakeMember();
  assert.equal(hub.join(again, "alice", token, undefined, ["#extra", "#r5"]), true);
  const [welcome, error, ...rest] = again.take();
  assert.deepEqual(rest, []);
  assert.ok(welcome?.type === "welcome" && error?.type === "error");
  assert.deepEqual(welcome.rooms.map((r) => r.room), names, "the seat keeps its rooms");
  assert.equal(error.code, "too_many_rooms");
  assert.equal(error.room, "#extra");
  assert.equal(hub.room("#extra"), undefined);
});

Deno.test("Hub: a bad room name is refused with room_invalid naming it, never a disconnect", () => {
  const { hub } = setup({ floodBurst: 1000 });
  const alice = join(hub, "alice");
  const lobbyist = join(hub, "lobbyist");
  alice.take();
  const long = `#${"y".repeat(500)}`;
  const bad = ["#a b", "#a,b", "dev", "#", "#a\u202Eb", "#a\u200Bb", `#${"x".repeat(33)}`, long];
  for (const room of bad) {
    const requests: ClientMessage[] = [
      { type: "enter", room },
      { type: "say", text: "hi", room },
      { type: "me", text: "waves", room },
      { type: "who", room },
      { type: "history", room },
      { type: "part", room },
      { type: "topic", room },
      { type: "topic", room, text: "t" },
    ];
    const echoed = toOneLine(clip(room, 40));
    for (const request of requests) refused(hub, alice, request, "room_invalid", echoed);
  }
  // The name is echoed safe to show: no bidi override reaches a screen.
  assert.ok(!toOneLine(clip("#a\u202Eb", 40)).includes("\u202E"));
  assert.equal(clip(long, 40).length, 41, "a long name is echoed clipped");
  // In a join's rooms: after the welcome, and the good ones go ahead.
  const bob = new FakeMember();
  assert.equal(hub.join(bob, "bob", undefined, undefined, ["#a b", "#dev"]), true);
  const [welcome, error, ...rest] = bob.take();
  assert.deepEqual(rest, []);
  assert.ok(welcome?.type === "welcome" && error?.type === "error");
  assert.deepEqual(welcome.rooms.map((r) => r.room), ["#dev"]);
  assert.deepEqual([error.code, error.room], ["room_invalid", "#a b"]);
  assert.equal(bob.closed, 0);
  assert.deepEqual(lobbyist.take(), []);
  assert.deepEqual(live(hub), ["#dev", LOBBY]);
  assert.equal(ok(hub, alice, { type: "say", text: "still here" }).length, 1);
});

Deno.test("Hub.handle() refuses say into a room one is not in with not_in_room, delivering nothing", () => {
  const { hub } = setup();
  const alice = join(hub, "alice");
  const dev = join(hub, "dev", ["#dev"]);
  alice.take();
  const error = refused(
    hub,
    alice,
    { type: "say", text: "hi", room: "#DEV" },
    "not_in_room",
    "#DEV",
  );
  assert.match(error.message, /\/join #DEV/);
  refused(hub, alice, { type: "me", text: "x", room: "#dev" }, "not_in_room", "#dev");
  refused(hub, alice, { type: "who", room: "#dev" }, "not_in_room", "#dev");
  refused(hub, alice, { type: "history", room: "#dev" }, "not_in_room", "#dev");
  refused(hub, alice, { type: "say", text: "hi", room: "#nowhere" }, "not_in_room", "#nowhere");
  assert.deepEqual(dev.take(), []);
  assert.equal(hub.room("#nowhere"), undefined, "not made by a refused say");
});

Deno.test("Hub.handle() topic: query, set, clear; the change goes to the room only and is kept", () => {
  const store = new MemoryHistory();
  const { hub, clock } = setup({ store });
  const alice = join(hub, "alice", [LOBBY, "#dev"]);
  const bob = join(hub, "bob", ["#dev"]);
  const lobbyist = join(hub, "lobbyist");
  alice.take();
  assert.deepEqual(ok(hub, alice, { type: "topic", room: "#dev" }), [{
    type: "topic",
    room: "#dev",
  }]);
  clock.time = 5_000;
  const topic = { text: "Deploys at 5", by: "bob", ts: 5_000 };
  const changed: ServerEvent = { type: "topic", room: "#dev", topic, changed: true };
  assert.deepEqual(ok(hub, bob, { type: "topic", room: "#dev", text: "  Deploys at 5 " }), [
    changed,
  ]);
  assert.deepEqual(alice.take(), [changed]);
  assert.deepEqual(lobbyist.take(), [], "#lobby hears nothing of it");
  assert.deepEqual(store.topic("#dev"), topic, "kept in the store under the key");
  assert.deepEqual(ok(hub, alice, { type: "topic", room: "#Dev" }), [
    { type: "topic", room: "#dev", topic },
  ]);
  // Seen by whoever enters or joins it, and in the room list.
  const carol = new FakeMember();
  hub.join(carol, "carol", undefined, undefined, ["#dev"]);
  assert.deepEqual(welcomeOf(carol).topic, topic);
  assert.deepEqual(welcomeOf(carol).rooms[0]?.topic, topic);
  const [list] = ok(hub, lobbyist, { type: "rooms" });
  assert.ok(list?.type === "rooms");
  assert.equal(list.rooms.find((r) => r.room === "#dev")?.topic, "Deploys at 5");
  // A blank text clears it, and says who did.
  clock.time = 6_000;
  bob.take();
  ok(hub, alice, { type: "topic", room: "#dev", text: "   " });
  assert.deepEqual(bob.take(), [
    { type: "topic", room: "#dev", topic: { text: "", by: "alice", ts: 6_000 }, changed: true },
  ]);
  assert.equal(store.topic("#dev"), undefined);
  assert.deepEqual(ok(hub, bob, { type: "topic", room: "#dev" }), [{
    type: "topic",
    room: "#dev",
  }]);
  // Without a room, the topic is #lobby's; in a room one is not in, refused.
  assert.deepEqual(ok(hub, lobbyist, { type: "topic" }), [{ type: "topic", room: LOBBY }]);
  refused(hub, lobbyist, { type: "topic", room: "#dev", text: "mine" }, "not_in_room", "#dev");
  refused(
    hub,
    bob,
    { type: "topic", room: "#dev", text: "x".repeat(301) },
    "text_too_long",
    "#dev",
  );
  assert.equal(hub.room("#dev")?.topic, undefined);
});

Deno.test("Hub.setTopic() and announce() reach a room nobody is in through its history only", () => {
  const { hub } = setup();
  const alice = join(hub, "alice");
  assert.equal(hub.setTopic("#later", "Opens Monday"), true);
  assert.equal(hub.announce("first!", "#later"), true);
  assert.equal(hub.room("#later"), undefined, "not live");
  assert.equal(hub.setTopic("#a b", "x"), false);
  assert.equal(hub.announce("x", "#a,b"), false);
  assert.deepEqual(alice.take(), []);
  const [entered] = ok(hub, alice, { type: "enter", room: "#later" });
  assert.ok(entered?.type === "entered");
  assert.equal(entered.topic?.text, "Opens Monday");
  assert.equal(entered.topic?.by, "server");
  assert.deepEqual(texts(entered.history), ["first!"]);
});

Deno.test("Hub.handle() rooms lists the live rooms, biggest first, with their topics", () => {
  const { hub } = setup();
  const a = join(hub, "a", ["#small", "#big", "#mid"]);
  join(hub, "b", ["#big", "#mid"]);
  join(hub, "c", ["#big", "#aaa"]);
  hub.setTopic("#mid", "middling");
  a.take();
  assert.deepEqual(ok(hub, a, { type: "rooms" }), [{
    type: "rooms",
    rooms: [
      { room: "#big", members: 3 },
      { room: "#mid", members: 2, topic: "middling" },
      { room: "#aaa", members: 1 },
      { room: "#small", members: 1 },
    ],
    total: 4,
  }]);
});

Deno.test("Hub.handle() rooms in a server of 1,000 rooms lists ROOMS_LISTED, with the total, at a bounded cost", () => {
  const { hub } = setup({ floodBurst: 3, floodRate: 0.001 });
  // 50 members in 20 rooms each: 1,000 rooms, the default --max-rooms.
  for (let i = 0; i < 50; i++) {
    const names = Array.from({ length: MEMBER_ROOMS_MAX }, (_, j) => `#room-${i}-${j}`);
    if (i < 3) names[0] = "#popular";
    join(hub, `m${i}`, names);
  }
  assert.equal([...hub.rooms()].length, 50 * 20 - 2);
  const asker = join(hub, "asker", []);
  const [list] = ok(hub, asker, { type: "rooms" });
  assert.ok(list?.type === "rooms");
  assert.equal(list.total, 998);
  assert.equal(list.rooms.length, ROOMS_LISTED);
  assert.deepEqual(list.rooms[0], { room: "#popular", members: 3 });
  assert.ok(JSON.stringify(list).length < 64 * ROOMS_LISTED, "bounded in size");
  // Those named are found by name, however small and spelled: past the 200 biggest too.
  const [named] = ok(hub, asker, { type: "rooms", names: ["#ROOM-49-19", "#nowhere", "bad name"] });
  assert.deepEqual(named, {
    type: "rooms",
    rooms: [{ room: "#room-49-19", members: 1 }],
    total: 998,
  });
  // It costs by the number of rooms (one token per 500): the burst of 3 is spent.
  refused(hub, asker, { type: "rooms" }, "rate_limited");
  // And a full server refuses a new room.
  refused(hub, asker, { type: "enter", room: "#one-more" }, "rate_limited");
});

Deno.test("Hub: at --max-rooms, a new room is refused with rooms_full (1,000 rooms)", () => {
  const { hub } = setup();
  for (let i = 0; i < 50; i++) {
    join(hub, `m${i}`, Array.from({ length: MEMBER_ROOMS_MAX }, (_, j) => `#room-${i}-${j}`));
  }
  const late = join(hub, "late", []);
  refused(hub, late, { type: "enter", room: "#one-more" }, "rooms_full", "#one-more");
  assert.equal(ok(hub, late, { type: "enter", room: "#room-7-7" })[0]?.type, "entered");
});

Deno.test("Hub.handle() nick: the rename reaches once each member sharing a room, and self, and nobody else", () => {
  const { hub, clock } = setup();
  const alice = join(hub, "alice", [LOBBY, "#dev", "#x"]);
  const bob = join(hub, "bob", [LOBBY, "#dev"]);
  const carol = join(hub, "carol", ["#x"]);
  const dave = join(hub, "dave", ["#other"]);
  const nobody = join(hub, "nobody", []);
  for (const m of [alice, bob, carol]) m.take();
  clock.time = 7_000;
  const rename: ServerEvent = { type: "rename", ts: 7_000, from: "alice", to: "alicia" };
  assert.deepEqual(ok(hub, alice, { type: "nick", nick: "alicia" }), [rename]);
  assert.deepEqual(bob.take(), [rename], "once, though bob shares two rooms");
  assert.deepEqual(carol.take(), [rename]);
  assert.deepEqual(dave.take(), []);
  assert.deepEqual(nobody.take(), []);
  for (const room of [LOBBY, "#dev", "#x"]) {
    assert.ok(hub.members(room).some((m) => m.nick === "alicia"), room);
  }
});

Deno.test("Hub.handle() msg stays between two nicknames, in no room, whatever rooms they are in", () => {
  const { hub, clock } = setup();
  const alice = join(hub, "alice", ["#dev"]);
  const bob = join(hub, "bob", ["#other"]);
  const carol = join(hub, "carol", ["#dev", "#other"]);
  alice.take();
  bob.take();
  clock.time = 8_000;
  const psst: ServerEvent = {
    type: "message",
    id: 1,
    ts: 8_000,
    from: "alice",
    to: "bob",
    text: "psst",
  };
  assert.deepEqual(ok(hub, alice, { type: "msg", to: "BOB", text: "psst" }), [{
    ...psst,
    own: true,
  }]);
  assert.deepEqual(bob.take(), [psst]);
  assert.deepEqual(carol.take(), []);
  // Never in a room's history.
  for (const room of ["#dev", "#other"]) {
    const [history] = ok(hub, carol, { type: "history", room });
    assert.ok(history?.type === "history");
    assert.deepEqual(history.messages, [], room);
  }
});

Deno.test("Hub.kick() takes a member out of every room it is in, each told once", () => {
  const { hub } = setup();
  const bob = join(hub, "bob", [LOBBY, "#dev", "#solo"]);
  const alice = join(hub, "alice", [LOBBY, "#dev"]);
  const carol = join(hub, "carol", ["#dev"]);
  bob.take();
  alice.take();
  assert.equal(hub.kick("bob", "spam"), true);
  assert.equal(bob.closed, 1);
  assert.deepEqual(alice.ofType("leave").map((e) => [e.room, e.nick]), [[LOBBY, "bob"], [
    "#dev",
    "bob",
  ]]);
  assert.deepEqual(carol.ofType("leave").map((e) => [e.room, e.nick]), [["#dev", "bob"]]);
  assert.ok(alice.ofType("leave").every((e) => /spam/.test(e.reason)));
  assert.deepEqual(live(hub), ["#dev", LOBBY], "#solo was bob's alone");
  assert.deepEqual(hub.members("#dev").map((m) => m.nick), ["alice", "carol"]);
});

Deno.test("Hub.leave() takes a dropped member out of every room, each told once with its room", () => {
  const { hub } = setup();
  const bob = join(hub, "bob", [LOBBY, "#dev"]);
  const alice = join(hub, "alice", [LOBBY, "#dev"]);
  bob.take();
  hub.leave(bob, "connection lost");
  assert.deepEqual(alice.take().map((e) => e.type === "leave" && [e.room, e.nick, e.reason]), [
    [LOBBY, "bob", "connection lost"],
    ["#dev", "bob", "connection lost"],
  ]);
  assert.equal(hub.nickOf(bob), undefined);
});

Deno.test("Hub: one flood bucket covers every room: twenty rooms do not multiply the rate", () => {
  const { hub } = setup({ floodBurst: 5, floodRate: 0.001 });
  const names = Array.from({ length: MEMBER_ROOMS_MAX }, (_, i) => `#r${i}`);
  const alice = join(hub, "alice", names);
  for (const room of names.slice(0, 5)) ok(hub, alice, { type: "say", text: "hi", room });
  for (const room of names.slice(5, 10)) {
    refused(hub, alice, { type: "say", text: "hi", room }, "rate_limited");
  }
  refused(hub, alice, { type: "enter", room: "#new" }, "rate_limited");
  assert.equal(hub.room("#new"), undefined);
});

Deno.test("Hub: entering and leaving rooms in a loop is flooding: rate_limited, then disconnected", () => {
  const { hub } = setup({ floodBurst: 4, floodRate: 0.001 });
  const alice = join(hub, "alice", ["#loop"]);
  const watcher = join(hub, "watcher", ["#loop"]);
  alice.take();
  ok(hub, alice, { type: "part", room: "#loop" });
  ok(hub, alice, { type: "enter", room: "#loop" });
  ok(hub, alice, { type: "part", room: "#loop" });
  ok(hub, alice, { type: "enter", room: "#loop" });
  for (let strike = 1; strike < FLOOD_STRIKES; strike++) {
    const message: ClientMessage = strike % 2 ? { type: "part", room: "#loop" } : {
      type: "enter",
      room: "#loop",
    };
    refused(hub, alice, message, "rate_limited");
  }
  assert.equal(hub.handle(alice, { type: "part", room: "#loop" }), false);
  assert.deepEqual(alice.take(), [{
    type: "notice",
    ts: 1_000,
    text: "Disconnected for flooding.",
  }]);
  assert.equal(alice.closed, 1);
  assert.equal(hub.nickOf(alice), undefined);
  const leaves = watcher.ofType("leave");
  assert.deepEqual(leaves.at(-1) && [leaves.at(-1)?.room, leaves.at(-1)?.reason], [
    "#loop",
    "flooding",
  ]);
});

Deno.test("Hub: message ids strictly increase across rooms and private messages", () => {
  const { hub } = setup({ floodBurst: 100 });
  const alice = join(hub, "alice", [LOBBY, "#a", "#b"]);
  const bob = join(hub, "bob", [LOBBY, "#a", "#b"]);
  const carol = join(hub, "carol", [LOBBY, "#a", "#b"]);
  for (let i = 0; i < 10; i++) {
    ok(hub, alice, { type: "say", text: `a${i}`, room: "#a" });
    ok(hub, bob, { type: "say", text: `b${i}`, room: "#b" });
    ok(hub, alice, { type: "msg", to: "carol", text: `p${i}` });
    ok(hub, bob, { type: "me", text: `l${i}` });
    assert.ok(hub.announce(`s${i}`, "#a"));
  }
  const ids = carol.ofType("message").map((m) => m.id);
  assert.equal(ids.length, 50);
  assertIncreasing(ids);
  assert.equal(new Set(ids).size, 50);
});

/** Says `text` in `room` as `member`; returns the message as sent. */
function say(hub: Hub, member: FakeMember, text: string, room = LOBBY): ChatMessage {
  const [message] = ok(hub, member, { type: "say", text, room }).filter((e) =>
    isType(e, "message")
  );
  assert.ok(message?.type === "message");
  return message;
}

Deno.test("Hub.join() with since and rooms replays everything missed in every room, in id order, then live ones", () => {
  const { hub } = setup({ floodBurst: 100 });
  const bob = join(hub, "bob", [LOBBY, "#dev", "#other"]);
  const first = new FakeMember();
  hub.join(first, "alice", undefined, undefined, [LOBBY, "#dev"]);
  const seen = say(hub, bob, "seen", "#dev");
  hub.leave(first, "connection lost");
  const missed = [
    say(hub, bob, "m1", LOBBY),
    say(hub, bob, "m2", "#dev"),
    say(hub, bob, "m3", "#dev"),
    say(hub, bob, "m4", LOBBY),
  ];
  say(hub, bob, "elsewhere", "#other");
  const back = new FakeMember();
  assert.equal(hub.join(back, "alice", undefined, seen.id, [LOBBY, "#dev"]), true);
  const welcome = welcomeOf(back);
  assert.deepEqual(welcome.history, missed);
  assert.equal(welcome.gap, undefined);
  assert.ok(welcome.rooms.every((r) => r.gap === undefined));
  back.take();
  const live1 = say(hub, bob, "live", "#dev");
  const live2 = say(hub, bob, "live too", LOBBY);
  assert.deepEqual(back.ofType("message"), [live1, live2], "each once, none missed");
  assertIncreasing([...welcome.history, live1, live2].map((m) => m.id));
});

Deno.test("Hub.join() with since sets gap on the room whose missed messages retention dropped, only", () => {
  const { hub } = setup({ store: new MemoryHistory(3), floodBurst: 100 });
  const bob = join(hub, "bob", ["#busy", "#quiet"]);
  const seen = say(hub, bob, "seen", "#quiet");
  const busy = Array.from({ length: 10 }, (_, i) => say(hub, bob, `b${i}`, "#busy"));
  const quiet = say(hub, bob, "q", "#quiet");
  const alice = new FakeMember();
  assert.equal(hub.join(alice, "alice", undefined, seen.id, ["#busy", "#quiet"]), true);
  const welcome = welcomeOf(alice);
  assert.equal(welcome.gap, true);
  assert.deepEqual(welcome.rooms.map((r) => [r.room, r.gap ?? false]), [["#busy", true], [
    "#quiet",
    false,
  ]]);
  assert.deepEqual(welcome.history, [...busy.slice(-3), quiet].sort((a, b) => a.id - b.id));
});

Deno.test("Hub.join() with a seat's token keeps its rooms and replays all of them since `since`", () => {
  const { hub } = setup({ floodBurst: 100 });
  const bob = join(hub, "bob", [LOBBY, "#dev", "#x"]);
  const ghost = new FakeMember();
  hub.join(ghost, "alice", undefined, undefined, [LOBBY, "#dev", "#x"]);
  const token = welcomeOf(ghost).token;
  const seen = say(hub, bob, "seen", LOBBY);
  // The old connection stays open, as a dropped one not yet noticed would.
  const missed = [
    say(hub, bob, "d1", "#dev"),
    say(hub, bob, "x1", "#x"),
    // Alice's copy: the sender's is marked its own.
    ...ok(hub, bob, { type: "msg", to: "alice", text: "psst" }).filter((e) => isType(e, "message"))
      .map(({ own: _, ...received }) => received),
    say(hub, bob, "l1", LOBBY),
  ];
  bob.take();
  const again = new FakeMember("terminal");
  assert.equal(hub.join(again, "alice", token, seen.id), true);
  const welcome = welcomeOf(again);
  assert.deepEqual(welcome.rooms.map((r) => r.room), [LOBBY, "#dev", "#x"]);
  assert.deepEqual(welcome.history, missed);
  assert.deepEqual(hub.roomsOf(again), [LOBBY, "#dev", "#x"]);
  assert.equal(ghost.closed, 1);
  assert.deepEqual(bob.take(), [], "for the others, alice never left");
  // Live ones reach the new connection in every room, the old one no more.
  ghost.take();
  again.take();
  say(hub, bob, "now", "#x");
  assert.deepEqual(texts(again.take()), ["now"]);
  assert.deepEqual(ghost.take(), []);
  assert.deepEqual(hub.members("#x").map((m) => [m.nick, m.via]), [["bob", "web"], [
    "alice",
    "terminal",
  ]]);
});

Deno.test("Hub.summarize() sends each room its own presence summary past --presence-limit", () => {
  const { hub, clock } = setup({ presenceLimit: 1 });
  const alice = join(hub, "alice", [LOBBY, "#dev"]);
  const lobbyist = join(hub, "lobbyist"); // #lobby: 2, past the limit
  const bob = join(hub, "bob", ["#dev"]);
  const carol = join(hub, "carol", ["#dev"]);
  assert.deepEqual(alice.take(), [], "gathered, in both rooms");
  clock.time = 9_000;
  hub.summarize();
  const summaries = alice.ofType("presence");
  assert.deepEqual(summaries.map((e) => [e.room, e.joined.map((m) => m.nick), e.count]), [
    [LOBBY, ["lobbyist"], 2],
    ["#dev", ["bob", "carol"], 3],
  ]);
  assert.deepEqual(lobbyist.ofType("presence").map((e) => e.room), [LOBBY]);
  assert.deepEqual(bob.ofType("presence").map((e) => e.room), ["#dev"]);
  assert.deepEqual(carol.ofType("presence").map((e) => e.joined.map((m) => m.nick)), [
    ["bob", "carol"],
  ], "a newcomer sees its own arrival in the summary");
});

Deno.test("Hub.close() sends everyone one notice, in whatever rooms or none, and closes them", () => {
  const { hub, clock } = setup();
  const seen: ServerEvent[] = [];
  hub.watch((e) => seen.push(e));
  const members = [
    join(hub, "a"),
    join(hub, "b", ["#dev", "#x"]),
    join(hub, "c", []),
    join(hub, "d", [LOBBY, "#dev"]),
  ];
  for (const member of members) member.take();
  seen.length = 0;
  clock.time = 10_000;
  hub.close("Server shutting down.");
  const notice: ServerEvent = { type: "notice", ts: 10_000, text: "Server shutting down." };
  for (const member of members) {
    assert.deepEqual(member.take(), [notice]);
    assert.equal(member.closed, 1);
  }
  assert.deepEqual(seen, [notice]);
  assert.deepEqual(live(hub), []);
  assert.equal(hub.size, 0);
  const late = new FakeMember();
  assert.equal(hub.join(late, "late", undefined, undefined, ["#dev"]), false);
  assert.deepEqual(late.codes(), ["shutting_down"]);
});
