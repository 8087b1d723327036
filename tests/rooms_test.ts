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
import { clip } from "../common/message.ts";
import { MemoryHistory } from "../server/history/history.ts";
import { FLOOD_STRIKES, Hub, type HubOptions } from "../server/hub/hub.ts";
import { assertIncreasing, itemAt } from "./kit/assert.ts";
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
    for (const request of requests) refused(hub, alice, request, "room_invalid", clip(room, 40));
  }
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
