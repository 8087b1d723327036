/**
 * Unit tests of {@linkcode PresenceBatch}: what it gathers past the presence
 * limit, what cancels out, what a summary names and counts, and its fresh
 * start after each summary.
 *
 * @module
 */

import assert from "node:assert/strict";
import { PRESENCE_NAMES, type Via } from "../common/protocol.ts";
import { TokenBucket } from "../server/hub/flood.ts";
import { PresenceBatch } from "../server/hub/presence.ts";
import { Seat } from "../server/hub/seat.ts";

function seat(nick: string, via: Via = "web"): Seat {
  const bucket = new TokenBucket({ burst: 1, perSecond: 1 }, () => 0);
  return new Seat({ via, send() {}, close() {} }, nick, `token-${nick}`, bucket);
}

Deno.test("PresenceBatch.gathers() is true only past the limit, counting the one who comes or goes", () => {
  const batch = new PresenceBatch(2);
  assert.equal(batch.gathers(1), false);
  assert.equal(batch.gathers(2), false);
  assert.equal(batch.gathers(3), true);
});

Deno.test("PresenceBatch.take() summarizes joins and leaves, oldest first, then starts afresh", () => {
  const batch = new PresenceBatch(0);
  assert.equal(batch.empty, true);
  const [alice, bob, carol] = [seat("alice"), seat("bob", "terminal"), seat("carol")];
  batch.join(alice);
  batch.join(bob);
  batch.leave(carol);
  assert.equal(batch.empty, false);
  assert.deepEqual(batch.take(5_000, 7), {
    type: "presence",
    ts: 5_000,
    joined: [{ nick: "alice", via: "web" }, { nick: "bob", via: "terminal" }],
    joins: 2,
    left: ["carol"],
    leaves: 1,
    count: 7,
  });
  assert.equal(batch.empty, true);
  assert.equal(batch.owes(alice), false);
  batch.leave(alice);
  assert.deepEqual(batch.take(6_000, 6).left, ["alice"], "the last summary's names are not kept");
});

Deno.test("PresenceBatch.leave() forgets a seat that joined since the last summary", () => {
  const batch = new PresenceBatch(0);
  const alice = seat("alice");
  batch.join(alice);
  assert.equal(batch.owes(alice), true);
  batch.leave(alice);
  assert.equal(batch.owes(alice), false);
  assert.equal(batch.empty, true, "came and went: nothing to announce");
});

Deno.test("PresenceBatch.take() names at most PRESENCE_NAMES of each and counts all", () => {
  const batch = new PresenceBatch(0);
  const many = PRESENCE_NAMES + 5;
  for (let i = 0; i < many; i++) batch.join(seat(`j${i}`));
  for (let i = 0; i < many; i++) batch.leave(seat(`l${i}`));
  const summary = batch.take(1, many);
  assert.equal(summary.joined.length, PRESENCE_NAMES);
  assert.equal(summary.joins, many);
  assert.equal(summary.left.length, PRESENCE_NAMES);
  assert.equal(summary.leaves, many);
  assert.equal(summary.left[0], "l0");
});

Deno.test("PresenceBatch.take() names a gathered join as the seat is called now", () => {
  const batch = new PresenceBatch(0);
  const alice = seat("alice");
  batch.join(alice);
  alice.renameTo("alice2");
  alice.moveTo({ via: "terminal", send() {}, close() {} }, "token-2");
  assert.deepEqual(batch.take(1, 1).joined, [{ nick: "alice2", via: "terminal" }]);
});

Deno.test("PresenceBatch.clear() forgets everything gathered", () => {
  const batch = new PresenceBatch(0);
  batch.join(seat("alice"));
  batch.leave(seat("bob"));
  batch.clear();
  assert.equal(batch.empty, true);
  batch.leave(seat("carol"));
  const summary = batch.take(1, 0);
  assert.deepEqual([summary.joins, summary.left, summary.leaves], [0, ["carol"], 1]);
});
