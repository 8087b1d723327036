/**
 * Unit tests of {@linkcode BoundedLog}, the list of recent messages kept in
 * memory within a bound: by {@linkcode MemoryHistory} for a room, and by each
 * seat for its private messages.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ChatMessage } from "../common/protocol.ts";
import { BoundedLog } from "../server/history/history.ts";

function message(id: number): ChatMessage {
  return { type: "message", id, ts: id, from: "alice", text: `m${id}` };
}

/** A log of `keep` into which messages with ids 1..`count` were pushed. */
function filled(keep: number, count: number): BoundedLog {
  const log = new BoundedLog(keep);
  for (let id = 1; id <= count; id++) log.push(message(id));
  return log;
}

Deno.test("BoundedLog.push() drops the oldest past the bound", () => {
  const log = filled(3, 5);
  assert.deepEqual(log.recent(10).map((m) => m.id), [3, 4, 5]);
  assert.deepEqual(log.recent(2).map((m) => m.id), [4, 5]);
  assert.deepEqual(log.recent(0), []);
});

Deno.test("BoundedLog.after() reports a gap exactly when a message after the id was dropped", () => {
  const log = filled(3, 5);
  assert.deepEqual(log.after(1), { messages: [3, 4, 5].map(message), gap: true });
  assert.deepEqual(log.after(2), { messages: [3, 4, 5].map(message), gap: false });
  assert.deepEqual(log.after(4), { messages: [message(5)], gap: false });
  assert.deepEqual(log.after(5), { messages: [], gap: false });
});

Deno.test("BoundedLog.after() gives the last limit messages and a gap when more are newer", () => {
  const log = filled(10, 5);
  assert.deepEqual(log.after(0, 2), { messages: [4, 5].map(message), gap: true });
  assert.deepEqual(log.after(3, 2), { messages: [4, 5].map(message), gap: false });
  assert.deepEqual(log.after(0, 0), { messages: [], gap: true });
  assert.equal(log.after(0).messages.length, 5, "no limit by default");
});

Deno.test("BoundedLog.after() reports no gap when nothing was dropped", () => {
  const log = filled(3, 3);
  assert.deepEqual(log.after(0), { messages: [1, 2, 3].map(message), gap: false });
  assert.deepEqual(new BoundedLog(3).after(0), { messages: [], gap: false });
});
