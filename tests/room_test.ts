/**
 * Unit tests of {@linkcode Room} on its own, without a hub: who is in it and
 * the member lists it caches (they were the roster's before rooms), its
 * topic, and what it reads from and writes to the store under its key.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type ServerEvent, type Via, WELCOME_MEMBERS } from "../common/protocol.ts";
import { MemoryHistory } from "../server/history/history.ts";
import { TokenBucket } from "../server/hub/flood.ts";
import { Room, type RoomEnv } from "../server/hub/room.ts";
import { Seat } from "../server/hub/seat.ts";
import { FakeMember } from "./kit/fake_member.ts";

/** A room `#Dev` (key `#dev`) over a memory store, and what it showed the observers. */
function setup(options: { presenceLimit?: number; store?: MemoryHistory } = {}) {
  const store = options.store ?? new MemoryHistory();
  const observed: ServerEvent[] = [];
  const seats = new Map<string, Seat>();
  const env: RoomEnv = {
    store,
    now: () => 7_000,
    history: 3,
    presenceLimit: options.presenceLimit ?? 100,
    deliverAll(to, event, except, named, marked) {
      for (const seat of to) {
        if (seat.member !== except) seat.member.send(named?.has(seat) ? marked ?? event : event);
      }
    },
    observe: (event) => observed.push(event),
    seatByKey: (key) => seats.get(key),
  };
  const room = new Room(env, "#Dev", "#dev", undefined);
  return { room, store, observed };
}

/** A seat for `nick` on a fake connection, in no room. */
function seat(nick: string, via: Via = "web"): Seat {
  const bucket = new TokenBucket({ burst: 1, perSecond: 1 }, () => 0);
  return new Seat(new FakeMember(via), nick, `token-${nick}`, bucket);
}

/** What a seat's connection has received since last asked, forgotten. */
function take(s: Seat): ServerEvent[] {
  assert.ok(s.member instanceof FakeMember);
  return s.member.take();
}

Deno.test("Room.enter() seats in order and records the room in the seat; leave() undoes it", () => {
  const { room } = setup();
  const alice = seat("alice");
  const bob = seat("bob", "terminal");
  room.enter(alice);
  room.enter(bob);
  assert.equal(room.size, 2);
  assert.ok(room.has(alice) && room.has(bob));
  assert.deepEqual([...room], [alice, bob]);
  assert.equal(alice.rooms.get("#dev"), room);
  assert.deepEqual(room.members(), [{ nick: "alice", via: "web" }, {
    nick: "bob",
    via: "terminal",
  }]);
  // Entering is silent: the hub sends the state first, then announces.
  assert.deepEqual(take(alice), []);
  room.leave(alice, "part");
  assert.equal(room.has(alice), false);
  assert.equal(alice.rooms.has("#dev"), false);
  assert.deepEqual(take(bob), [
    { type: "leave", room: "#Dev", ts: 7_000, nick: "alice", via: "web", reason: "part" },
  ]);
  room.leave(alice, "part");
  assert.deepEqual(take(bob), [], "idempotent");
});

Deno.test("Room.members() is the same array until someone enters, leaves or changed() is called", () => {
  const { room } = setup();
  const alice = seat("alice");
  room.enter(alice);
  const first = room.members();
  assert.equal(room.members(), first);
  const bob = seat("bob");
  const changes: (() => void)[] = [
    () => room.enter(bob),
    () => room.changed(), // the hub renamed a seat, or moved it to another connection
    () => room.leave(alice, "quit"),
  ];
  let before = first;
  for (const change of changes) {
    change();
    const after = room.members();
    assert.notEqual(after, before);
    assert.equal(room.members(), after);
    before = after;
  }
  assert.deepEqual(before.map((m) => m.nick), ["bob"]);
});

Deno.test("Room.state() lists the first WELCOME_MEMBERS, kept while newcomers enter past them", () => {
  const { room } = setup();
  const seats = Array.from({ length: WELCOME_MEMBERS }, (_, i) => seat(`m${i}`));
  for (const s of seats) room.enter(s);
  const full = room.state();
  assert.equal(full.members.length, WELCOME_MEMBERS);
  assert.equal(full.memberCount, undefined, "all listed");
  room.enter(seat("late"));
  const more = room.state();
  assert.equal(more.members, full.members, "a newcomer past the first few changes nothing");
  assert.equal(more.memberCount, WELCOME_MEMBERS + 1);
  assert.equal(room.members().length, WELCOME_MEMBERS + 1);
  room.leave(seats[0]!, "quit");
  const after = room.state().members;
  assert.notEqual(after, full.members);
  assert.deepEqual(after[0], { nick: "m1", via: "web" });
  assert.deepEqual(after.at(-1), { nick: "late", via: "web" });
  seats[1]!.renameTo("renamed");
  room.changed();
  assert.equal(room.state().members[0]?.nick, "renamed");
});

Deno.test("Room.post() stores under the room's key, then delivers to everyone in it and the observers", () => {
  const { room, store, observed } = setup();
  const alice = seat("alice");
  const bob = seat("bob");
  room.enter(alice);
  room.enter(bob);
  const posted = room.post("alice", "hi", "plain", alice);
  const expected = { type: "message", id: 1, ts: 7_000, room: "#Dev", from: "alice", text: "hi" };
  assert.deepEqual(posted, expected);
  assert.deepEqual(store.recent("#dev", 10), [expected]);
  assert.deepEqual(store.recent("#Dev", 10), [], "kept under the key, not the name");
  assert.deepEqual(take(alice), [expected]);
  assert.deepEqual(take(bob), [expected]);
  assert.deepEqual(observed, [expected]);
});

Deno.test("Room.recent() and backlog() name messages as the room is called now", () => {
  const store = new MemoryHistory();
  store.append("#dev", {
    type: "message",
    id: store.nextId(),
    ts: 1,
    room: "#DEV",
    from: "a",
    text: "old",
  });
  const { room } = setup({ store });
  assert.deepEqual(room.recent(10).map((m) => m.room), ["#Dev"]);
  assert.deepEqual(room.backlog(0).messages.map((m) => [m.room, m.text]), [["#Dev", "old"]]);
});

Deno.test("Room.backlog() is the last `history` without since, and everything after since with it", () => {
  const { room } = setup();
  for (const text of ["a", "b", "c", "d", "e"]) room.post("x", text, "plain");
  assert.deepEqual(room.backlog(undefined), {
    messages: room.recent(3),
    gap: false,
  });
  assert.deepEqual(room.backlog(undefined).messages.map((m) => m.text), ["c", "d", "e"]);
  const after = room.backlog(1);
  assert.deepEqual(after.messages.map((m) => m.text), ["b", "c", "d", "e"]);
  assert.equal(after.gap, false);
  // A since above every id handed out is not ours: the recent ones, and a gap.
  const foreign = room.backlog(99);
  assert.deepEqual(foreign.messages.map((m) => m.text), ["c", "d", "e"]);
  assert.equal(foreign.gap, true);
});

Deno.test("Room.backlog() reports a gap when retention dropped some after since", () => {
  const { room } = setup({ store: new MemoryHistory(2) });
  for (const text of ["a", "b", "c", "d"]) room.post("x", text, "plain");
  const backlog = room.backlog(1);
  assert.deepEqual(backlog.messages.map((m) => m.text), ["c", "d"]);
  assert.equal(backlog.gap, true);
  assert.equal(room.backlog(0).gap, true, "a and b are gone");
  assert.equal(room.backlog(2).gap, false, "b was seen: nothing missed is gone");
});

Deno.test("Room.setTopic() keeps the topic in the store and tells everyone here; empty clears it", () => {
  const { room, store, observed } = setup();
  const alice = seat("alice");
  room.enter(alice);
  assert.deepEqual(room.topicEvent(), { type: "topic", room: "#Dev" });
  room.setTopic("Deploys at 5", "alice");
  const topic = { text: "Deploys at 5", by: "alice", ts: 7_000 };
  assert.deepEqual(room.topic, topic);
  assert.deepEqual(store.topic("#dev"), topic);
  assert.deepEqual(take(alice), [{ type: "topic", room: "#Dev", topic, changed: true }]);
  assert.deepEqual(room.topicEvent(), { type: "topic", room: "#Dev", topic });
  assert.deepEqual(room.state().topic, topic);
  room.setTopic("", "bob");
  assert.equal(room.topic, undefined);
  assert.equal(store.topic("#dev"), undefined);
  assert.deepEqual(take(alice), [{
    type: "topic",
    room: "#Dev",
    topic: { text: "", by: "bob", ts: 7_000 },
    changed: true,
  }]);
  assert.equal("topic" in room.state(), false);
  assert.equal(observed.length, 2);
});

Deno.test("Room: past its presence limit, joins and leaves wait for summarize(), named with the room", () => {
  const { room } = setup({ presenceLimit: 1 });
  const alice = seat("alice");
  room.enter(alice);
  room.announce(alice);
  assert.deepEqual(take(alice), [], "one's own join is not sent to oneself");
  const bob = seat("bob");
  room.enter(bob);
  room.announce(bob);
  assert.deepEqual(take(alice), [], "gathered");
  room.summarize();
  const summary = {
    type: "presence",
    room: "#Dev",
    ts: 7_000,
    joined: [{ nick: "bob", via: "web" }],
    joins: 1,
    left: [],
    leaves: 0,
    count: 2,
  };
  assert.deepEqual(take(alice), [summary]);
  assert.deepEqual(take(bob), [summary]);
  room.summarize();
  assert.deepEqual(take(alice), [], "nothing more owed");
});
