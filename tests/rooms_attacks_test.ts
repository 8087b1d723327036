/**
 * Regression tests for attacks on rooms found from outside (the scripts
 * that found them are in `attack_notes/`): each test is one way a hostile
 * or careless member got something it should not, and fails if it comes
 * back.
 *
 * @module
 */

import assert from "node:assert/strict";
import { LOBBY, MEMBER_ROOMS_MAX } from "../common/protocol.ts";
import { checkRoom, typedRoom } from "../common/room.ts";
import { parseCommandLine } from "../common/commands.ts";
import { Hub, type HubOptions } from "../server/hub/hub.ts";
import { FakeMember } from "./kit/fake_member.ts";
import { connectTcp } from "./kit/tcp_client.ts";
import { withServer } from "./kit/server.ts";
import { type EventOf, joinWs, WsClient } from "./kit/ws_client.ts";

/** A hub with a fixed clock. */
function hubWith(options: HubOptions = {}): Hub {
  return new Hub({ now: () => 1_000, ...options });
}

/** Joins a fresh member in `rooms` and returns it with its welcome, the rest of what it was sent after. */
function joined(hub: Hub, nick: string, rooms?: string[]) {
  const member = new FakeMember();
  assert.equal(hub.join(member, nick, undefined, undefined, rooms), true, `join ${nick}`);
  const [welcome, ...after] = member.take();
  assert.ok(welcome?.type === "welcome", JSON.stringify(welcome));
  return { member, welcome: welcome as EventOf<"welcome">, after };
}

Deno.test("Hub.join() lands in #lobby even when --max-rooms other rooms are live", () => {
  const hub = hubWith({ maxRooms: MEMBER_ROOMS_MAX });
  // While #lobby is empty (a fresh start, a quiet night), one member takes
  // every room the cap allows.
  const rooms = Array.from({ length: MEMBER_ROOMS_MAX }, (_, i) => `#squat${i}`);
  const squatter = joined(hub, "squatter", rooms);
  assert.deepEqual(squatter.after, []);
  const newcomer = joined(hub, "newcomer");
  assert.equal(newcomer.welcome.room, LOBBY);
  assert.deepEqual(newcomer.welcome.rooms.map((r) => r.room), [LOBBY]);
  assert.deepEqual(newcomer.after, [], "no rooms_full");
  assert.deepEqual(hub.roomsOf(newcomer.member), [LOBBY]);
  // The lobby counts: no other room can be made while it is live.
  assert.equal(hub.handle(newcomer.member, { type: "enter", room: "#new" }), false);
  assert.deepEqual(newcomer.member.codes(), ["rooms_full"]);
  newcomer.member.take();
  // Parted and entered again, still at the cap.
  assert.equal(hub.handle(newcomer.member, { type: "part" }), true);
  assert.equal(hub.handle(newcomer.member, { type: "enter", room: LOBBY }), true);
  assert.deepEqual(hub.roomsOf(newcomer.member), [LOBBY]);
});

Deno.test("A terminal and a page land in #lobby while a squatter holds --max-rooms rooms", async () => {
  await withServer({ maxRooms: MEMBER_ROOMS_MAX }, async (server) => {
    await using squatter = await WsClient.open(server);
    const rooms = Array.from({ length: MEMBER_ROOMS_MAX }, (_, i) => `#squat${i}`);
    squatter.send({ type: "join", nick: "squatter", rooms });
    await squatter.next("welcome");
    await using page = await WsClient.open(server);
    const welcome = await joinWs(page, "page");
    assert.equal(welcome.room, LOBBY);
    await using term = await connectTcp(server, "term");
    await term.send("hello from the terminal");
    const heard = await page.next("message");
    assert.equal(heard.room, LOBBY);
    assert.equal(heard.text, "hello from the terminal");
    assert.equal(page.events.filter((e) => e.type === "error").length, 0);
  });
});

Deno.test("Hub: #lobby made again under a look-alike is still called #lobby, its history too", () => {
  const hub = hubWith();
  const first = joined(hub, "first");
  assert.equal(hub.handle(first.member, { type: "say", text: "before" }), true);
  assert.equal(hub.handle(first.member, { type: "part" }), true);
  assert.equal([...hub.rooms()].length, 0);
  // The lobby empties; a squatter makes it again first, spelled its own way.
  const squatter = joined(hub, "squatter", ["#1OBBY"]);
  assert.equal(squatter.welcome.room, LOBBY);
  assert.deepEqual(squatter.welcome.history.map((m) => m.room), [LOBBY]);
  const later = joined(hub, "later");
  assert.equal(later.welcome.room, LOBBY);
  assert.equal(hub.handle(squatter.member, { type: "say", room: "#ｌobby", text: "hi" }), true);
  const heard = later.member.ofType("message");
  assert.deepEqual(heard.map((m) => [m.room, m.text]), [[LOBBY, "hi"]]);
});

Deno.test("checkRoom() refuses a blank braille pattern or a Khitan filler: #dev plus one passed for #dev", () => {
  for (
    const name of ["#dev\u2800", "#de\u2800v", "#\u2800", "#lobby]\u2800<alice>", "#dev\u{16FE4}"]
  ) {
    const checked = checkRoom(name);
    assert.equal(checked.ok, false, JSON.stringify(name));
    assert.ok(!checked.ok && /invisible/.test(checked.reason));
  }
  // Over the wire: a clear refusal, and the member stays where it was.
  const hub = hubWith();
  const { member } = joined(hub, "alice", [LOBBY, "#dev"]);
  assert.equal(hub.handle(member, { type: "enter", room: "#dev\u2800" }), false);
  assert.deepEqual(member.codes(), ["room_invalid"]);
  assert.equal(member.closed, 0);
  assert.deepEqual(hub.roomsOf(member), [LOBBY, "#dev"]);
  assert.deepEqual([...hub.rooms()].map((r) => r.name), [LOBBY, "#dev"]);
});

Deno.test("parseCommandLine() takes a full-width ＃ as the # of a room in /join and /part", () => {
  for (const sign of ["\uFF03", "\uFE5F"]) {
    assert.deepEqual(parseCommandLine(`/join ${sign}dev`), {
      type: "send",
      message: { type: "enter", room: `${sign}dev` },
    });
    const entered = checkRoom(typedRoom(`${sign}dev`));
    assert.ok(entered.ok && entered.value === "#dev", JSON.stringify(entered));
    assert.deepEqual(parseCommandLine(`/part ${sign}dev gone home`), {
      type: "send",
      message: { type: "part", room: `${sign}dev`, reason: "gone home" },
    });
  }
  // A bare word is still the reason for leaving the current room, as in IRC.
  assert.deepEqual(parseCommandLine("/part dev"), {
    type: "send",
    message: { type: "part", reason: "dev" },
  });
});

Deno.test("A terminal's /join ＃dev enters #dev, and /part ＃dev leaves #dev, not the current room", async () => {
  await withServer(async (server) => {
    await using bob = await WsClient.open(server);
    bob.send({ type: "join", nick: "bob", rooms: [LOBBY, "#dev"] });
    await bob.next("welcome");
    await using ann = await connectTcp(server, "ann");
    await ann.send("/join \uFF03dev");
    assert.equal(await ann.readUntil("-- You joined"), "-- You joined #dev. Here: bob (web).");
    await ann.send("/join #lobby");
    await ann.readUntil("-- Lines you type now go to #lobby.");
    await ann.send("/part \uFF03dev");
    assert.equal(await ann.readUntil("-- You left"), "-- You left #dev.");
    await ann.send("/help");
    assert.equal(
      await ann.readUntil("lines you type go to"),
      "-- You are in #lobby; lines you type go to #lobby.",
    );
    const left = await bob.next("leave");
    assert.equal(left.room, "#dev");
  });
});
