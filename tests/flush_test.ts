import assert from "node:assert/strict";
import { FlushScheduler, WriteGate } from "../server/transport/flush.ts";
import { encodeFrame, type ServerEvent } from "../common/protocol.ts";

Deno.test("FlushScheduler runs what was scheduled in one later round, after this turn", async () => {
  const scheduler = new FlushScheduler();
  const ran: string[] = [];
  scheduler.schedule(() => ran.push("a"));
  await Promise.resolve();
  scheduler.schedule(() => ran.push("b"));
  assert.deepEqual(ran, [], "not in this turn, microtasks included");
  await scheduler.settled();
  assert.deepEqual(ran, ["a", "b"]);
  await scheduler.settled(); // nothing waiting: settles at once
});

Deno.test("FlushScheduler keeps flushing the others when one throws", async () => {
  const scheduler = new FlushScheduler();
  const ran: string[] = [];
  const quiet = console.error;
  console.error = () => {};
  try {
    scheduler.schedule(() => {
      throw new Error("boom");
    });
    scheduler.schedule(() => ran.push("after"));
    await scheduler.settled();
  } finally {
    console.error = quiet;
  }
  assert.deepEqual(ran, ["after"]);
});

Deno.test("encodeFrame() frames one event bare and several as an array, reusing only an identical batch", () => {
  const a: ServerEvent = { type: "notice", ts: 1, text: "a" };
  const b: ServerEvent = { type: "notice", ts: 2, text: "b" };
  const c: ServerEvent = { type: "notice", ts: 3, text: "c" };
  assert.equal(encodeFrame([a]), JSON.stringify(a));
  assert.equal(encodeFrame([a, b]), JSON.stringify([a, b]));
  assert.equal(encodeFrame([a, b]), JSON.stringify([a, b]), "the same events in a new array");
  assert.equal(encodeFrame([a, c]), JSON.stringify([a, c]), "same length, other events");
  assert.equal(encodeFrame([b, a]), JSON.stringify([b, a]), "same events, other order");
});

/** A socket whose writes end only when the test says so. */
class HeldWriter {
  readonly pending: { bytes: Uint8Array; done: (n: number) => void }[] = [];
  readonly started = Promise.withResolvers<void>();
  write(bytes: Uint8Array): Promise<number> {
    const { promise, resolve } = Promise.withResolvers<number>();
    this.pending.push({ bytes, done: resolve });
    this.started.resolve();
    return promise;
  }
  /** Ends the oldest write still under way. */
  finish(): void {
    const w = this.pending.shift();
    assert.ok(w, "a write is under way");
    w.done(w.bytes.length);
  }
}

const one = new Uint8Array(1);

Deno.test("WriteGate lets `limit` writes be under way at once, and the next ones in the order they came", async () => {
  const gate = new WriteGate(2, 1_000_000);
  const sockets = [new HeldWriter(), new HeldWriter(), new HeldWriter(), new HeldWriter()];
  const written = sockets.map((s) => gate.write(s, one));
  await Promise.resolve();
  assert.deepEqual(sockets.map((s) => s.pending.length), [1, 1, 0, 0]);
  assert.equal(gate.open, 2);
  assert.equal(gate.waiting, 2);

  sockets[1]!.finish();
  assert.equal(await written[1], 1);
  await Promise.resolve();
  assert.deepEqual(
    sockets.map((s) => s.pending.length),
    [1, 0, 1, 0],
    "the first waiting went first",
  );

  // A new write does not jump the queue while one waits.
  const late = gate.write(sockets[1]!, one);
  await Promise.resolve();
  assert.equal(sockets[1]!.pending.length, 0);

  sockets[0]!.finish();
  sockets[2]!.finish();
  await Promise.all([written[0], written[2]]);
  await Promise.resolve();
  assert.deepEqual(sockets.map((s) => s.pending.length), [0, 1, 0, 1]);
  sockets[3]!.finish();
  sockets[1]!.finish();
  assert.deepEqual(await Promise.all([written[3], late]), [1, 1]);
  assert.equal(gate.open, 0);
  assert.equal(gate.waiting, 0);
});

Deno.test("WriteGate gives back the slot of a write that failed", async () => {
  const gate = new WriteGate(1, 1_000_000);
  const failing = { write: () => Promise.reject(new Deno.errors.BrokenPipe("gone")) };
  await assert.rejects(gate.write(failing, one), Deno.errors.BrokenPipe);
  const next = new HeldWriter();
  const p = gate.write(next, one);
  await Promise.resolve();
  assert.equal(next.pending.length, 1, "the slot was free again");
  next.finish();
  await p;
});

Deno.test("WriteGate: writes to peers that stopped reading stop holding slots after stuckMs", async () => {
  let now = 0;
  const gate = new WriteGate(2, 50, () => now);
  const stuck = [new HeldWriter(), new HeldWriter()];
  const never = stuck.map((s) => gate.write(s, one));
  const reader = new HeldWriter();
  const waiting = gate.write(reader, one);
  await Promise.resolve();
  assert.equal(reader.pending.length, 0, "both slots are held");
  // The gate looks again after stuckMs by itself (a real timer), and finds them stuck.
  now = 51;
  await reader.started.promise;
  assert.equal(gate.open, 1, "only the reader's write counts");
  reader.finish();
  await waiting;
  // The stuck writes still end normally, and give back nothing twice.
  for (const s of stuck) s.finish();
  await Promise.all(never);
  assert.equal(gate.open, 0);
});
