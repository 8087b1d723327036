/**
 * Unit tests of {@linkcode Roster}: seats found by connection and by
 * nickname, nicknames claimed, renamed and freed, and seats taken back. The
 * member lists are each room's now: `room_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Via } from "../common/protocol.ts";
import { TokenBucket } from "../server/hub/flood.ts";
import { Roster } from "../server/hub/roster.ts";
import { Seat } from "../server/hub/seat.ts";
import { FakeMember } from "./kit/fake_member.ts";

/** Seats a fresh connection under `nick` with token `token-<nick>`. */
function seat(roster: Roster, nick: string, via: Via = "web"): Seat {
  const bucket = new TokenBucket({ burst: 1, perSecond: 1 }, () => 0);
  const taken = new Seat(new FakeMember(via), nick, `token-${nick}`, bucket);
  roster.add(taken);
  return taken;
}

Deno.test("Roster.find() finds a seat by its nickname in any case or look-alike, spaces ignored", () => {
  const roster = new Roster();
  const alice = seat(roster, "alice");
  for (const nick of ["alice", "ALICE", " Alice ", "ａｌｉｃｅ", "аlice", "AIice"]) {
    assert.equal(roster.find(nick), alice, nick);
  }
  assert.equal(roster.find("bob"), undefined);
  assert.equal(roster.seatOf(alice.member), alice);
  assert.equal(roster.seatOf(new FakeMember()), undefined);
  assert.equal(roster.size, 1);
});

Deno.test("Roster.claim() refuses an invalid nickname and one another seat holds", () => {
  const roster = new Roster();
  const alice = seat(roster, "alice");
  const stranger = new FakeMember();
  const invalid = roster.claim("bob smith", stranger);
  assert.ok(!invalid.ok && invalid.code === "nick_invalid");
  const taken = roster.claim("ALICE", stranger);
  assert.ok(!taken.ok && taken.code === "nick_taken");
  assert.match(taken.reason, /"alice" is taken/);
  assert.deepEqual(roster.claim(" ｂｏｂ ", stranger), { ok: true, value: "bob" });
  assert.deepEqual(roster.claim("Alice", alice.member), { ok: true, value: "Alice" }, "its own");
});

Deno.test("Roster.claim() lets the seat's token claim its nickname, and no other token", () => {
  const roster = new Roster();
  seat(roster, "alice");
  const rejoin = new FakeMember();
  assert.deepEqual(roster.claim("alice", rejoin, "token-alice"), { ok: true, value: "alice" });
  const wrong = roster.claim("alice", rejoin, "token-bob");
  assert.ok(!wrong.ok && wrong.code === "nick_taken");
});

Deno.test("Roster.rename() moves the seat to the new nickname and frees the old one", () => {
  const roster = new Roster();
  const alice = seat(roster, "alice");
  seat(roster, "bob");
  roster.rename(alice, "carol");
  assert.equal(alice.nick, "carol");
  assert.equal(roster.find("carol"), alice);
  assert.equal(roster.find("alice"), undefined);
  assert.deepEqual([...roster].map((s) => s.nick), ["carol", "bob"], "its place is kept");
  roster.rename(alice, "Carol");
  assert.equal(roster.find("carol")?.nick, "Carol");
});

Deno.test("Roster.takeBack() moves a seat to another connection, with all it holds but its token", () => {
  const roster = new Roster();
  const alice = seat(roster, "alice");
  seat(roster, "bob");
  const old = alice.member;
  const bucket = alice.bucket;
  alice.strikes = 3;
  const again = new FakeMember("terminal");
  roster.takeBack(alice, again, "token-2");
  assert.equal(roster.seatOf(old), undefined);
  assert.equal(roster.seatOf(again), alice);
  assert.equal(roster.find("alice"), alice);
  assert.equal(alice.member, again);
  assert.equal(alice.token, "token-2", "a new token with the seat");
  assert.equal(alice.bucket, bucket);
  assert.equal(alice.strikes, 0, "strikes were the old connection's");
  assert.equal(roster.size, 2);
  assert.deepEqual(
    [...roster],
    [roster.find("bob"), alice],
    "a seat taken back counts as taken last",
  );
});

Deno.test("Roster.remove() frees the seat and its nickname, and is idempotent", () => {
  const roster = new Roster();
  const alice = seat(roster, "alice");
  const bob = seat(roster, "bob");
  roster.remove(alice);
  roster.remove(alice);
  assert.equal(roster.size, 1);
  assert.equal(roster.seatOf(alice.member), undefined);
  assert.equal(roster.find("alice"), undefined);
  assert.deepEqual([...roster], [bob]);
  assert.deepEqual(roster.claim("alice", new FakeMember()), { ok: true, value: "alice" });
});
