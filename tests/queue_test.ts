import assert from "node:assert/strict";
import { Pending, Queue } from "../server/queue.ts";

Deno.test("Queue takes from its front, keeps its last, and stays in order past the compaction", () => {
  const queue = new Queue<number>();
  assert.deepEqual(queue.last(), undefined);
  for (let i = 0; i < 5000; i++) queue.push(i);
  assert.deepEqual(queue.last(), 4999);
  for (let i = 0; i < 3000; i++) assert.deepEqual(queue.shift(), i);
  assert.deepEqual([queue.first(), queue.last(), queue.length], [3000, 4999, 2000]);
  for (let i = 3000; i < 5000; i++) assert.deepEqual(queue.shift(), i);
  assert.deepEqual([queue.shift(), queue.last(), queue.length], [undefined, undefined, 0]);
});

/** A piece of work to settle by hand. */
function work(): { promise: Promise<void>; settle: () => void } {
  const { promise, resolve } = Promise.withResolvers<void>();
  return { promise, settle: resolve };
}

/** Whether `promise` has settled once the microtasks queued now have run. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(() => settled = true, () => settled = true);
  // The next turn of the event loop (no time waited): every microtask queued before it has run.
  await new Promise<void>((tick) => setTimeout(tick, 0));
  return settled;
}

Deno.test("Pending settles as of when it was asked: the work added before, not after, in any order of settling", async () => {
  const pending = new Pending();
  assert.deepEqual(pending.settled(), undefined);
  const [a, b, c] = [work(), work(), work()];
  pending.add(a.promise);
  pending.add(b.promise);
  const firstTwo = pending.settled()!;
  assert.ok(pending.settled() === firstTwo, "asked twice with nothing added between: one promise");
  pending.add(c.promise);
  const all = pending.settled()!;
  b.settle();
  assert.deepEqual(await isSettled(firstTwo), false, "a is still under way");
  c.settle();
  assert.deepEqual(await isSettled(firstTwo), false);
  assert.deepEqual(pending.busy, true);
  a.settle();
  assert.deepEqual(await isSettled(firstTwo), true);
  assert.deepEqual(await isSettled(all), true);
  assert.deepEqual(pending.busy, false);
  assert.deepEqual(pending.settled(), undefined);
});

Deno.test("Pending does not wait for work added after it was asked, and takes a rejection as settling", async () => {
  const pending = new Pending();
  const [a, b] = [work(), work()];
  pending.add(a.promise);
  const first = pending.settled()!;
  pending.add(b.promise);
  a.settle();
  assert.deepEqual(await isSettled(first), true, "b, added after, is not waited for");
  assert.deepEqual(pending.busy, true);
  const failing = Promise.reject(new Error("refused"));
  failing.catch(() => {});
  pending.add(failing);
  const rest = pending.settled()!;
  b.settle();
  assert.deepEqual(await isSettled(rest), true);
  assert.deepEqual(pending.busy, false);
});
