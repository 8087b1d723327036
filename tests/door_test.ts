import assert from "node:assert/strict";
import { Door } from "../server/hub/door.ts";
import { isClusterEvent } from "../server/hub/cluster.ts";
import { nickKey } from "../common/nick.ts";

Deno.test("Door.check() holds joins per address, then lets them in again", () => {
  const clock = { t: 0 };
  const door = new Door({ burst: 2, perSecond: 1 }, 60_000, () => clock.t);
  assert.equal(door.check("a", "10.0.0.1"), undefined);
  assert.equal(door.check("b", "10.0.0.1"), undefined);
  assert.deepEqual(door.check("c", "10.0.0.1"), {
    code: "rate_limited",
    message: "Too many joins from your address; try again in 1 s.",
    fatal: false,
  });
  assert.equal(door.check("d", "10.0.0.2"), undefined, "another address");
  assert.equal(door.check("e", undefined), undefined, "no address (the console, tests)");
  clock.t = 1_000;
  assert.equal(door.check("c", "10.0.0.1"), undefined);
});

Deno.test("Door.rename() holds nickname changes per address, from the joins' budget", () => {
  const clock = { t: 0 };
  const door = new Door({ burst: 2, perSecond: 1 }, 60_000, () => clock.t);
  assert.equal(door.check("a", "10.0.0.1"), undefined);
  assert.equal(door.rename("10.0.0.1"), undefined);
  // A name not had after all is given back.
  door.notRenamed("10.0.0.1");
  assert.equal(door.rename("10.0.0.1"), undefined);
  assert.deepEqual(door.rename("10.0.0.1"), {
    code: "rate_limited",
    message: "Too many joins and nickname changes from your address; try again in 1 s.",
    fatal: false,
  });
  assert.equal(door.check("b", "10.0.0.1")?.code, "rate_limited", "a join after them waits too");
  assert.equal(door.rename("10.0.0.2"), undefined, "another address");
  assert.equal(door.rename(undefined), undefined, "no address (the console, tests)");
  clock.t = 1_000;
  assert.equal(door.rename("10.0.0.1"), undefined);
});

Deno.test("Door.ban() turns away the nickname, its look-alikes and the address until the ban ends", () => {
  const clock = { t: 0 };
  const door = new Door({ burst: 100, perSecond: 100 }, 60_000, () => clock.t);
  door.ban(nickKey("bob"), "10.0.0.7");
  assert.equal(door.check(" BOB ", "10.0.0.8")?.code, "banned");
  assert.equal(door.check("bᴏb", "10.0.0.8")?.code, "banned");
  assert.equal(door.check("carol", "10.0.0.7")?.fatal, true);
  assert.equal(door.check("carol", "10.0.0.8"), undefined);
  clock.t = 60_000;
  assert.equal(door.check("bob", "10.0.0.7"), undefined);
  const none = new Door({ burst: 100, perSecond: 100 }, 0, () => clock.t);
  none.ban(nickKey("bob"), "10.0.0.7");
  assert.equal(none.check("bob", "10.0.0.7"), undefined, "a ban of 0 s is none");
});

Deno.test("Door counts an IPv6 address with its /64: the join rate and a kick's ban", () => {
  const clock = { t: 0 };
  const door = new Door({ burst: 2, perSecond: 1 }, 60_000, () => clock.t);
  assert.equal(door.check("a", "2001:db8::1"), undefined);
  assert.equal(door.check("b", "2001:db8::2"), undefined);
  assert.equal(door.check("c", "2001:db8::ffff:3")?.code, "rate_limited");
  assert.equal(door.check("d", "2001:db8:0:1::1"), undefined, "another /64");
  door.ban(undefined, "2001:db8:0:1::1");
  assert.equal(door.check("e", "2001:db8:0:1:abcd::9")?.code, "banned");
  assert.equal(door.check("f", "2001:db8:0:2::1"), undefined);
});

Deno.test("Door.ban() returns the ban for the other nodes, its address hashed; Door.keep() keeps one told", () => {
  const clock = { t: 0 };
  const here = new Door({ burst: 100, perSecond: 100 }, 60_000, () => clock.t);
  const ban = here.ban(nickKey("bob"), "2001:db8:0:1::b");
  assert.ok(ban !== undefined);
  assert.equal(ban.fold, "bob");
  assert.equal(ban.ms, 60_000);
  assert.match(ban.address ?? "", /^[0-9a-f]{64}$/);
  const there = new Door({ burst: 100, perSecond: 100 }, 0, () => clock.t);
  there.keep(ban);
  assert.equal(there.check("bob", "192.0.2.1")?.code, "banned");
  assert.equal(there.check("eve", "2001:db8:0:1::e")?.code, "banned");
  assert.equal(there.check("eve", "2001:db8:0:2::e"), undefined);
  clock.t = 60_000;
  assert.equal(there.check("bob", "2001:db8:0:1::b"), undefined, "over with its length");
  // A shorter ban told later does not shorten one held.
  clock.t = 0;
  there.keep({ fold: "bob", ms: 120_000 });
  there.keep({ fold: "bob", ms: 1_000 });
  clock.t = 60_000;
  assert.equal(there.check("bob", undefined)?.code, "banned");
  assert.equal(new Door({ burst: 1, perSecond: 1 }, 0, () => 0).ban("bob", "10.0.0.1"), undefined);
});

Deno.test("isClusterEvent() takes a ban with its length in bounds, and nothing else", () => {
  assert.ok(isClusterEvent({ op: "ban", node: "n", fold: "bob", address: "ab", ms: 60_000 }));
  assert.ok(isClusterEvent({ op: "ban", node: "n", address: "ab", ms: 1 }));
  for (
    const bad of [
      { op: "ban", node: "n", fold: "bob" },
      { op: "ban", node: "n", fold: 7, ms: 1 },
      { op: "ban", node: "n", address: null, ms: 1 },
      { op: "ban", node: "n", fold: "bob", ms: 0 },
      { op: "ban", node: "n", fold: "bob", ms: 86_400_001 },
      { op: "ban", node: "n", fold: "bob", ms: Number.NaN },
      { op: "ban", fold: "bob", ms: 1 },
    ]
  ) {
    assert.equal(isClusterEvent(bad), false, JSON.stringify(bad));
  }
});

Deno.test("isClusterEvent() takes a move with or without where Redis's ids were, a whole number", () => {
  const moved = { op: "moved", node: "n2", nick: "bob", via: "web" };
  assert.ok(isClusterEvent(moved));
  assert.ok(isClusterEvent({ ...moved, at: 41 }));
  for (const at of ["41", 4.5, Number.NaN, null, 2 ** 60, -1]) {
    assert.equal(isClusterEvent({ ...moved, at }), false, String(at));
  }
});
