import assert from "node:assert/strict";
import { FlushScheduler } from "../server/transport/flush.ts";
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
