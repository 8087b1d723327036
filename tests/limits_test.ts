import assert from "node:assert/strict";
import {
  ConnectionLimits,
  QUEUE_CEILING_BYTES,
  QUEUE_GRACE_MS,
  QUEUE_HARD_BYTES,
  QUEUE_SOFT_BYTES,
  SendQueueWatch,
} from "../server/transport/limits.ts";
import { KeyedBuckets, TokenBucket } from "../server/hub/flood.ts";
import { Slot } from "../server/transport/slot.ts";
import { FLOOD_STRIKES, Hub } from "../server/hub/hub.ts";
import { MemoryHistory } from "../server/history/history.ts";
import { FakeMember } from "./kit/fake_member.ts";
import { withServer } from "./kit/server.ts";
import { connectTcp, TcpClient } from "./kit/tcp_client.ts";
import { WsClient } from "./kit/ws_client.ts";

Deno.test("TokenBucket.take() allows a burst, then the sustained rate", () => {
  const clock = { t: 0 };
  const bucket = new TokenBucket({ burst: 3, perSecond: 2 }, () => clock.t);
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [
    true,
    true,
    true,
    false,
  ]);
  assert.equal(bucket.wait(), 500);
  // The wait counts what time earned since the last take.
  clock.t = 300;
  assert.equal(bucket.wait(), 200);
  clock.t = 499;
  assert.equal(bucket.take(), false);
  clock.t = 1000; // 1 s after the burst: two tokens back
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take()], [true, true, false]);
  clock.t = 60_000; // a long pause refills only up to the burst
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [
    true,
    true,
    true,
    false,
  ]);
});

Deno.test("KeyedBuckets.take() keeps a bucket per key and forgets the full ones", () => {
  const clock = { t: 0 };
  const buckets = new KeyedBuckets({ burst: 2, perSecond: 1 }, () => clock.t);
  assert.deepEqual([buckets.take("a"), buckets.take("a"), buckets.take("a")], [true, true, false]);
  assert.equal(buckets.take("b"), true, "each key has its own");
  assert.equal(buckets.wait("a"), 1000);
  // Thousands of addresses that came once and went quiet are swept away.
  for (let i = 0; i < 5000; i++) buckets.take(`10.0.${i >> 8}.${i & 255}`);
  clock.t = 10_000;
  buckets.take("c");
  for (let i = 0; i < 4000; i++) buckets.take(`10.1.${i >> 8}.${i & 255}`);
  assert.ok(buckets.size < 5000, `swept: ${buckets.size} left`);
});

/** A socket's owner that closes nothing: these tests count, they do not close. */
const IDLE = { close() {} };

Deno.test("ConnectionLimits.open() caps per address and in total, and release frees once", () => {
  const limits = new ConnectionLimits({ maxPerIp: 2, maxClients: 3 });
  const open = (address: string) => limits.open(address, "terminal", IDLE);
  const a1 = open("10.0.0.1");
  const a2 = open("10.0.0.1");
  assert.ok(a1 instanceof Slot);
  assert.ok(a2 instanceof Slot);
  assert.match(String(open("10.0.0.1")), /Too many connections from your address/);
  const b1 = open("10.0.0.2");
  assert.ok(b1 instanceof Slot);
  assert.match(String(open("10.0.0.3")), /server is full/);
  a1.release();
  a1.release(); // idempotent: frees one slot, not two
  assert.equal(limits.total, 2);
  assert.ok(open("10.0.0.1") instanceof Slot);
  assert.match(String(open("10.0.0.4")), /server is full/);
});

Deno.test("ConnectionLimits.open() counts an IPv6 client with its /64, an IPv4-mapped one as IPv4", () => {
  const limits = new ConnectionLimits({ maxPerIp: 2, maxClients: 100 });
  const open = (address: string) => limits.open(address, "terminal", IDLE);
  // Two addresses of one /64 are one client's: a third from it is refused.
  assert.ok(open("2001:db8:0:1::a") instanceof Slot);
  assert.ok(open("2001:db8:0:1:ffff::b") instanceof Slot);
  assert.match(String(open("2001:db8:0:1::c")), /Too many connections from your address/);
  // The next /64 is another client's.
  assert.ok(open("2001:db8:0:2::a") instanceof Slot);
  assert.deepEqual(limits.from("2001:db8:0:1::99").map((s) => s.address), [
    "2001:db8:0:1::a",
    "2001:db8:0:1:ffff::b",
  ]);
  assert.equal(limits.from("2001:db8:0:1::/64").length, 2);
  // A server listening on :: sees IPv4 peers as ::ffff:a.b.c.d: one address, one count.
  const mapped = open("::ffff:10.0.0.1");
  assert.ok(mapped instanceof Slot);
  assert.equal(mapped.address, "10.0.0.1");
  assert.ok(open("10.0.0.1") instanceof Slot);
  assert.match(String(open("::FFFF:10.0.0.1")), /Too many connections from your address/);
  assert.ok(open("10.0.0.2") instanceof Slot, "IPv4 addresses are not grouped");
});

Deno.test("ConnectionLimits lists its open slots, by address, until each is released", () => {
  const clock = { t: 1_000 };
  const limits = new ConnectionLimits({ maxPerIp: 5, maxClients: 10 }, () => clock.t);
  const closed: string[] = [];
  const a = limits.open("10.0.0.1", "web", { close: () => closed.push("a") });
  clock.t = 2_000;
  const b = limits.open("10.0.0.2", "irc", { close: () => closed.push("b") });
  const c = limits.open("10.0.0.1", "terminal", { close: () => closed.push("c") });
  if (!(a instanceof Slot && b instanceof Slot && c instanceof Slot)) {
    throw new TypeError("refused");
  }
  assert.deepEqual([...limits].map((s) => [s.address, s.via, s.since]), [
    ["10.0.0.1", "web", 1_000],
    ["10.0.0.1", "terminal", 2_000],
    ["10.0.0.2", "irc", 2_000],
  ]);
  assert.deepEqual(limits.from("10.0.0.1"), [a, c]);
  assert.deepEqual(limits.from("10.9.9.9"), []);
  // A session takes the socket over: it answers for the nickname, the queue and the close.
  a.own({ nick: "alice", backlog: 12, close: () => closed.push("a's session") });
  clock.t = 5_000;
  a.heardFrom();
  assert.deepEqual([a.nick, a.queued, a.heard, c.nick, c.queued, c.heard], [
    "alice",
    12,
    5_000,
    undefined,
    0,
    2_000,
  ]);
  a.close();
  c.close();
  assert.deepEqual(closed, ["a's session", "c"]);
  a.release();
  assert.equal(a.open, false);
  assert.deepEqual(limits.from("10.0.0.1"), [c]);
  c.release();
  b.release();
  assert.deepEqual([...limits], []);
  assert.equal(limits.total, 0);
});

Deno.test("Hub.handle() refuses messages and renames over the rate, then disconnects a flooder", () => {
  const clock = { t: 0 };
  const room = new Hub({ now: () => clock.t, floodBurst: 2, floodRate: 1 });
  const alice = new FakeMember();
  const bob = new FakeMember();
  room.join(alice, "alice");
  room.join(bob, "bob");
  assert.equal(room.handle(alice, { type: "say", text: "one" }), true);
  assert.equal(room.handle(alice, { type: "nick", nick: "alice2" }), true);
  assert.equal(room.handle(alice, { type: "say", text: "three" }), false);
  assert.deepEqual(alice.codes(), ["rate_limited"]);
  // Asking who is here costs a token too.
  assert.equal(room.handle(alice, { type: "who" }), false);
  assert.deepEqual(alice.codes(), ["rate_limited", "rate_limited"]);
  // Others are unaffected.
  assert.equal(room.handle(bob, { type: "say", text: "bob speaks" }), true);
  clock.t = 1000;
  assert.equal(room.handle(alice, { type: "msg", to: "bob", text: "later" }), true);
  for (let i = 0; i < FLOOD_STRIKES; i++) room.handle(alice, { type: "say", text: `spam ${i}` });
  assert.equal(alice.closed, 1);
  assert.deepEqual(room.members().map((m) => m.nick), ["bob"]);
  const left = bob.events.find((e) => e.type === "leave");
  assert.equal(left?.type === "leave" && left.reason, "flooding");
  const texts = bob.events.flatMap((e) => e.type === "message" ? [e.text] : []);
  assert.deepEqual(texts, ["one", "bob speaks", "later"]);
});

Deno.test("Hub.handle() charges a history request by its size: pipelined ones are refused", () => {
  const clock = { t: 0 };
  const store = new MemoryHistory();
  const room = new Hub({ now: () => clock.t, floodBurst: 10, floodRate: 2, store });
  for (let i = 0; i < 1000; i++) room.announce(`line ${i} ${"長".repeat(200)}`);
  const attacker = new FakeMember();
  const bystander = new FakeMember();
  room.join(attacker, "attacker");
  room.join(bystander, "bystander");
  attacker.take();
  // Sixty back to back, as one pipelined burst: the first takes the whole burst.
  const served = Array.from(
    { length: 60 },
    () => room.handle(attacker, { type: "history", count: 1000 }),
  ).filter(Boolean).length;
  assert.equal(served, 1);
  assert.equal(attacker.events.filter((e) => e.type === "history").length, 1);
  // Twenty refusals in a row are flooding: the member is gone.
  assert.equal(attacker.closed, 1);
  // A small one costs one token; the bystander was never held back.
  assert.equal(room.handle(bystander, { type: "history", count: 20 }), true);
  assert.equal(room.handle(bystander, { type: "say", text: "still here" }), true);
});

Deno.test("serveTcp() tells a terminal over the per-address limit why, and lets the others be", async () => {
  await withServer({ maxPerIp: 2, maxClients: 100 }, async (server) => {
    await using a = await connectTcp(server, "a");
    await using b = await connectTcp(server, "b");
    await using c = await TcpClient.open(server);
    assert.match(
      await c.readUntil("!"),
      /^! Too many connections from your address \(at most 2\)\.$/,
    );
    await c.readToEnd();
    assert.equal(c.eof, true);
    // A web client from the same address is counted too, and told why.
    await using w = await WsClient.open(server);
    const refusal = await w.next("error");
    assert.deepEqual([refusal.code, refusal.fatal], ["too_many_connections", true]);
    assert.match(refusal.message, /Too many connections from your address \(at most 2\)/);
    await w.closed;
    // Once one leaves, there is room again.
    await a.close();
    await b.readUntil("-- a left");
    await using d = await TcpClient.open(server);
    await d.readUntil("Your nickname: ");
  });
});

Deno.test("serveTcp() refuses a terminal flooding the room and keeps the others chatting", async () => {
  await withServer({ floodBurst: 3, floodRate: 1 }, async (server) => {
    await using flooder = await connectTcp(server, "flooder");
    await using calm = await connectTcp(server, "calm");
    await flooder.write("a\nb\nc\nthe fourth line, \x1b[31mred\x1b[0m and far longer than forty\n");
    // It says which line of the paste it refused: its start, made safe to show.
    assert.equal(
      await flooder.readUntil("too fast"),
      '! You are sending too fast. Slow down (next in 1 s); that line was not sent: "the fourth line, red and far longer than…".',
    );
    await calm.readUntil("<flooder> c");
    await calm.send("still here");
    await flooder.readUntil("<calm> still here");
    const seen = calm.lines.filter((l) => l.includes("<flooder>"));
    assert.deepEqual(seen.map((l) => l.replace(/^\[\d\d:\d\d\] /, "")), [
      "<flooder> a",
      "<flooder> b",
      "<flooder> c",
    ]);
  });
});

Deno.test("SendQueueWatch lets a queue pass the soft bound for a moment, not for long or far", () => {
  const clock = { t: 0 };
  const watch = new SendQueueWatch(() => clock.t);
  assert.equal(watch.tooSlow(QUEUE_SOFT_BYTES), false);
  assert.equal(watch.tooSlow(QUEUE_SOFT_BYTES + 1), false, "a burst above the soft bound");
  clock.t = QUEUE_GRACE_MS;
  assert.equal(watch.tooSlow(QUEUE_SOFT_BYTES + 1), false, "still within the grace");
  assert.equal(watch.tooSlow(100), false, "drained: the clock starts over");
  clock.t += 1;
  assert.equal(watch.tooSlow(2 * QUEUE_SOFT_BYTES), false);
  clock.t += QUEUE_GRACE_MS;
  assert.equal(watch.tooSlow(2 * QUEUE_SOFT_BYTES), false, "exactly the grace");
  clock.t += 1;
  assert.equal(watch.tooSlow(2 * QUEUE_SOFT_BYTES), true, "above the soft bound for too long");
  assert.equal(
    new SendQueueWatch(() => 0).tooSlow(QUEUE_HARD_BYTES + 1),
    true,
    "past the hard bound",
  );
});

Deno.test("SendQueueWatch past the hard bound: cut off if the peer took nothing since the soft bound, not if it took some; never past the ceiling", () => {
  const clock = { t: 0 };
  const above = QUEUE_HARD_BYTES + 1;
  const stopped = new SendQueueWatch(() => clock.t);
  stopped.progress(); // taken while below the soft bound: says nothing of now
  assert.equal(stopped.tooSlow(QUEUE_SOFT_BYTES + 1), false);
  assert.equal(stopped.tooSlow(above), true, "nothing taken since the soft bound");

  const reading = new SendQueueWatch(() => clock.t);
  assert.equal(reading.tooSlow(QUEUE_SOFT_BYTES + 1), false);
  reading.progress();
  assert.equal(reading.tooSlow(above), false, "it took some: a burst it is reading");
  assert.equal(reading.tooSlow(QUEUE_CEILING_BYTES), false);
  assert.equal(reading.tooSlow(QUEUE_CEILING_BYTES + 1), true, "past the ceiling");
  assert.equal(reading.tooSlow(QUEUE_SOFT_BYTES), false, "drained");
  assert.equal(reading.tooSlow(above), true, "what it did before the soft bound no longer counts");
});

Deno.test("SendQueueWatch gives a reader that keeps taking a long reply all the time it needs", () => {
  const clock = { t: 0 };
  const watch = new SendQueueWatch(() => clock.t);
  assert.equal(watch.tooSlow(6 * QUEUE_SOFT_BYTES), false);
  for (let i = 0; i < 10; i++) {
    clock.t += QUEUE_GRACE_MS; // slow, but some is taken every grace period
    watch.progress();
    assert.equal(watch.tooSlow(5 * QUEUE_SOFT_BYTES), false, `after ${i + 1} periods`);
  }
  clock.t += QUEUE_GRACE_MS + 1; // and then nothing more is taken
  assert.equal(watch.tooSlow(5 * QUEUE_SOFT_BYTES), true);
});

Deno.test("ConnectionLimits: a full server says its cap in words that read right for one", () => {
  const one = new ConnectionLimits({ maxPerIp: 5, maxClients: 1 });
  assert.ok(one.open("10.0.0.1", "web", IDLE) instanceof Slot);
  assert.equal(
    one.open("10.0.0.2", "web", IDLE),
    "The server is full (1 connection). Try again later.",
  );
  const many = new ConnectionLimits({ maxPerIp: 5000, maxClients: 2000 });
  for (let i = 0; i < 2000; i++) many.open("10.0.0.1", "web", IDLE);
  assert.equal(
    many.open("10.0.0.2", "web", IDLE),
    "The server is full (2,000 connections). Try again later.",
  );
});
