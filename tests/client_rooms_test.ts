import assert from "node:assert/strict";
import {
  applyPresence,
  cleanRooms,
  hashFor,
  joinRooms,
  memberJoined,
  memberLeft,
  readRemembered,
  rememberedText,
  roomFromHash,
  RoomSet,
  Seen,
} from "../client/rooms.ts";
import type { ChatMessage, MemberInfo, RoomState } from "../common/protocol.ts";

const alice: MemberInfo = { nick: "alice", via: "web" };
const bob: MemberInfo = { nick: "bob", via: "terminal" };

function state(room: string, members: MemberInfo[] = [alice], extra: Partial<RoomState> = {}) {
  return { room, members, ...extra };
}

let nextId = 1;
function said(room: string | undefined, from: string, text: string): ChatMessage {
  const m: ChatMessage = { type: "message", id: nextId++, ts: 1_700_000_000_000, from, text };
  if (room !== undefined) m.room = room;
  return m;
}

function threeRooms(): RoomSet {
  const rooms = new RoomSet();
  rooms.enter(state("#lobby"));
  rooms.enter(state("#dev"));
  rooms.enter(state("#中文"));
  return rooms;
}

Deno.test("RoomSet.enter() keeps the order entered and shows the first room", () => {
  const rooms = threeRooms();
  assert.deepEqual(rooms.names(), ["#lobby", "#dev", "#中文"]);
  assert.equal(rooms.current?.name, "#lobby");
  assert.equal(rooms.size, 3);
});

Deno.test("RoomSet.get() finds a room by its name in any case or width", () => {
  const rooms = threeRooms();
  assert.equal(rooms.get("#DEV")?.name, "#dev");
  assert.equal(rooms.get("#ＤＥＶ")?.name, "#dev");
  // Look-alikes are the server's to fold (the table is too big for the page):
  // the server answers "#ԁev" with the room's own name, "#dev".
  assert.equal(rooms.get("#ԁev"), undefined);
  assert.equal(rooms.get("#ops"), undefined);
});

Deno.test("RoomSet.enter() of a room it has refreshes members and topic, keeps unread", () => {
  const rooms = threeRooms();
  rooms.route(said("#dev", "bob", "one"), "alice", true);
  const topic = { text: "Deploys at 5", by: "bob", ts: 1 };
  const dev = rooms.enter(state("#Dev", [alice, bob], { topic, memberCount: 7 }));
  assert.deepEqual(rooms.names(), ["#lobby", "#Dev", "#中文"], "same place, the server's spelling");
  assert.equal(dev.unread, 1);
  assert.deepEqual(dev.topic, topic);
  assert.deepEqual(dev.members, [alice, bob]);
  assert.equal(dev.here, 7);
});

Deno.test("RoomSet.route() counts a message unread only in a room not shown", () => {
  const rooms = threeRooms();
  const inDev = rooms.route(said("#dev", "bob", "hi"), "alice", true);
  assert.equal(inDev?.room.name, "#dev");
  assert.equal(inDev?.unread, true);
  const inLobby = rooms.route(said("#lobby", "bob", "hi"), "alice", true);
  assert.equal(inLobby?.unread, false);
  assert.equal(rooms.get("#dev")?.unread, 1);
  assert.equal(rooms.get("#lobby")?.unread, 0);
});

Deno.test("RoomSet.route() counts neither the page's own lines nor a first welcome's past", () => {
  const rooms = threeRooms();
  rooms.route(said("#dev", "alice", "mine"), "alice", true);
  rooms.route(said("#dev", "bob", "before you came"), "alice", false);
  assert.equal(rooms.get("#dev")?.unread, 0);
});

Deno.test("RoomSet.route() marks a message the server marked as naming the page's member", () => {
  const rooms = threeRooms();
  const mark = (m: ChatMessage): ChatMessage => ({ ...m, mention: true });
  // Unmarked, a line naming the member is no mention: the server decides (look-alikes folded).
  assert.equal(rooms.route(said("#dev", "bob", "ALICE: look"), "alice", false)?.mention, false);
  const routed = rooms.route(mark(said("#dev", "bob", "ALICE: look")), "alice", true);
  assert.equal(routed?.mention, true);
  assert.equal(rooms.get("#dev")?.mention, true);
  assert.deepEqual(rooms.totals(), { unread: 1, mention: true });
  // In the room shown the line is marked, the room is not.
  const here = rooms.route(mark(said("#lobby", "bob", "alice?")), "alice", true);
  assert.equal(here?.mention, true);
  assert.equal(rooms.get("#lobby")?.mention, false);
  // Naming yourself is no mention.
  assert.equal(
    rooms.route(mark(said("#lobby", "alice", "alice here")), "alice", true)?.mention,
    false,
  );
});

Deno.test("RoomSet.route() puts a private message in the room shown, and drops other rooms'", () => {
  const rooms = threeRooms();
  rooms.select("#dev");
  const routed = rooms.route({ ...said(undefined, "bob", "psst"), to: "alice" }, "alice", true);
  assert.equal(routed?.room.name, "#dev");
  assert.equal(routed?.unread, false);
  assert.equal(rooms.route(said("#elsewhere", "bob", "x"), "alice", true), undefined);
  assert.equal(new RoomSet().route(said(undefined, "bob", "psst"), "alice", true), undefined);
});

Deno.test("RoomSet.select() shows a room and clears its unread count and mention", () => {
  const rooms = threeRooms();
  rooms.route(said("#dev", "bob", "alice!"), "alice", true);
  rooms.route(said("#dev", "bob", "again"), "alice", true);
  assert.equal(rooms.get("#dev")?.unread, 2);
  assert.equal(rooms.select("#DEV")?.name, "#dev");
  assert.equal(rooms.current?.name, "#dev");
  assert.equal(rooms.get("#dev")?.unread, 0);
  assert.equal(rooms.get("#dev")?.mention, false);
  assert.equal(rooms.select("#nowhere"), undefined);
  assert.equal(rooms.current?.name, "#dev", "a room not joined changes nothing");
});

Deno.test("RoomSet.leave() of the room shown shows the one before it, else the one after", () => {
  const rooms = threeRooms();
  rooms.select("#dev");
  rooms.route(said("#lobby", "bob", "while away"), "alice", true);
  assert.equal(rooms.leave("#Dev")?.name, "#dev");
  assert.equal(rooms.current?.name, "#lobby");
  assert.equal(rooms.current?.unread, 0, "shown now, so read");
  rooms.leave("#lobby");
  assert.equal(rooms.current?.name, "#中文");
  rooms.leave("#中文");
  assert.equal(rooms.current, undefined);
  assert.equal(rooms.leave("#中文"), undefined);
});

Deno.test("RoomSet.leave() of another room keeps the room shown", () => {
  const rooms = threeRooms();
  rooms.select("#中文");
  rooms.leave("#dev");
  assert.equal(rooms.current?.name, "#中文");
  assert.deepEqual(rooms.names(), ["#lobby", "#中文"]);
});

Deno.test("RoomSet.keepOnly() drops the rooms the server no longer has us in", () => {
  const rooms = threeRooms();
  rooms.select("#dev");
  const gone = rooms.keepOnly(["#LOBBY", "#dev"]);
  assert.deepEqual(gone.map((r) => r.name), ["#中文"]);
  assert.deepEqual(rooms.names(), ["#lobby", "#dev"]);
  assert.equal(rooms.current?.name, "#dev");
});

Deno.test("RoomSet.step() moves up and down the sidebar, wrapping around", () => {
  const rooms = threeRooms();
  assert.equal(rooms.step(1)?.name, "#dev");
  assert.equal(rooms.step(-1)?.name, "#中文");
  rooms.select("#中文");
  assert.equal(rooms.step(1)?.name, "#lobby");
  assert.equal(rooms.step(-4)?.name, "#dev");
  assert.equal(new RoomSet().step(1), undefined);
});

Deno.test("RoomSet.rename() renames in every room's list and says where", () => {
  const rooms = new RoomSet();
  rooms.enter(state("#lobby", [alice, bob]));
  rooms.enter(state("#dev", [alice]));
  rooms.enter(state("#ops", [bob]));
  const where = rooms.rename("bob", "robert");
  assert.deepEqual(where.map((r) => r.name), ["#lobby", "#ops"]);
  assert.deepEqual(rooms.get("#ops")?.members, [{ nick: "robert", via: "terminal" }]);
  assert.deepEqual(rooms.rename("nobody", "x"), []);
});

Deno.test("memberJoined() and memberLeft() keep the list and the count", () => {
  const rooms = new RoomSet();
  const room = rooms.enter(state("#big", [alice], { memberCount: 40 }));
  memberJoined(room, bob);
  assert.deepEqual(room.members, [alice, bob]);
  assert.equal(room.here, 41);
  memberJoined(room, bob);
  assert.equal(room.here, 41, "someone listed already is not one more");
  memberLeft(room, "alice");
  assert.deepEqual(room.members, [bob]);
  assert.equal(room.here, 40);
  const small = rooms.enter(state("#small", []));
  memberLeft(small, "ghost");
  assert.equal(small.here, 0);
});

Deno.test("applyPresence() applies who left, then who joined, and takes the count", () => {
  const rooms = new RoomSet();
  const room = rooms.enter(state("#big", [alice, bob]));
  applyPresence(room, {
    type: "presence",
    ts: 0,
    joined: [{ nick: "carol", via: "web" }, bob],
    joins: 2,
    left: ["bob"],
    leaves: 1,
    count: 90,
  });
  assert.deepEqual(room.members.map((m) => m.nick), ["alice", "carol", "bob"]);
  assert.equal(room.here, 90);
});

Deno.test("Seen.first() is true once per message, and forgets the oldest past its bound", () => {
  const seen = new Seen(2);
  const [a, b, c] = [said("#x", "a", "1"), said("#x", "a", "2"), said("#x", "a", "3")];
  assert.equal(seen.first(a), true);
  assert.equal(seen.first(a), false);
  assert.equal(
    seen.first({ ...a, ts: a.ts + 1 }),
    true,
    "a new database's id 1 is another message",
  );
  assert.equal(seen.first(b), true);
  assert.equal(seen.first(c), true);
  assert.equal(seen.first(a), true, "forgotten: the bound is 2");
  seen.clear();
  assert.equal(seen.first(c), true);
});

Deno.test("cleanRooms() keeps valid names, each room once, at most 20", () => {
  assert.deepEqual(cleanRooms(["#dev", "#Dev", "dev", "#a b", 7, null, "#ＤＥＶ", "#ops"]), [
    "#dev",
    "#ops",
  ]);
  const many = Array.from({ length: 30 }, (_, i) => `#r${i}`);
  assert.equal(cleanRooms(many).length, 20);
});

Deno.test("readRemembered() reads back what rememberedText() stored", () => {
  const rooms = threeRooms();
  rooms.select("#dev");
  assert.deepEqual(readRemembered(rememberedText(rooms)), {
    rooms: ["#lobby", "#dev", "#中文"],
    shown: "#dev",
  });
  assert.deepEqual(readRemembered(rememberedText(new RoomSet())), { rooms: [] });
});

Deno.test("readRemembered() treats anything unreadable as nothing remembered", () => {
  for (
    const text of [null, "", "{", "[]", "42", '"#dev"', '{"rooms":"#dev"}', "x".repeat(100_000)]
  ) {
    assert.deepEqual(readRemembered(text), { rooms: [] }, String(text).slice(0, 20));
  }
  assert.deepEqual(readRemembered('{"rooms":["#dev","bad room",1],"shown":"#DEV"}'), {
    rooms: ["#dev"],
    shown: "#dev",
  });
  assert.deepEqual(readRemembered('{"rooms":["#dev"],"shown":"#ops"}'), { rooms: ["#dev"] });
});

Deno.test("joinRooms() asks for the remembered rooms, or #lobby, and the room in the address", () => {
  assert.deepEqual(joinRooms([]), ["#lobby"]);
  assert.deepEqual(joinRooms([], "#dev"), ["#lobby", "#dev"]);
  assert.deepEqual(joinRooms(["#dev", "#ops"]), ["#dev", "#ops"]);
  assert.deepEqual(joinRooms(["#dev", "#ops"], "#OPS"), ["#dev", "#ops"]);
  assert.deepEqual(joinRooms(["#dev"], "no room"), ["#dev"]);
  const full = Array.from({ length: 20 }, (_, i) => `#r${i}`);
  assert.deepEqual(joinRooms(full, "#one-more"), full);
});

Deno.test("roomFromHash() reads the room an address names, and hashFor() writes it", () => {
  assert.equal(roomFromHash(""), undefined);
  assert.equal(roomFromHash("#"), undefined);
  assert.equal(roomFromHash("#dev"), "#dev");
  assert.equal(roomFromHash("#%23dev"), "#dev");
  assert.equal(roomFromHash("#%E4%B8%AD%E6%96%87"), "#中文");
  assert.equal(roomFromHash("#%E4"), "#%E4", "not percent-encoding: kept as it is");
  for (const room of ["#dev", "#中文", "#c++", "#a#b", "#100%", "#é?&="]) {
    assert.equal(roomFromHash(hashFor(room)), room, room);
  }
  assert.equal(hashFor("#dev"), "#dev");
  const long = roomFromHash(`#${"x".repeat(5000)}`);
  assert.equal(long?.length, 5000, "too long to be a room: left for checkRoom to refuse");
});
