import assert from "node:assert/strict";
import type { ChatMessage } from "../common/protocol.ts";
import { continues, dayLabel, GROUP_GAP_MS, lastOf, newDay } from "../client/grouping.ts";

const noon = new Date(2026, 11, 5, 12, 0).getTime();

function said(from: string, ts: number, extra: Partial<ChatMessage> = {}): ChatMessage {
  return { type: "message", id: 1, ts, room: "#lobby", from, text: "hi", ...extra };
}

Deno.test("continues() groups plain lines of one sender within a few minutes on one day", () => {
  const last = lastOf(said("bob", noon));
  assert.equal(continues(last, said("bob", noon + 60_000)), true);
  assert.equal(continues(last, said("alice", noon + 60_000)), false, "another sender");
  assert.equal(continues(last, said("bob", noon + GROUP_GAP_MS)), false, "too long after");
  assert.equal(continues(last, said("bob", noon + 1, { action: true })), false, "an action");
  assert.equal(continues(last, said("bob", noon + 1, { to: "alice" })), false, "private");
  assert.equal(
    continues(lastOf(said("bob", noon, { notice: true })), said("bob", noon + 1)),
    false,
  );
  assert.equal(
    continues({ from: undefined, ts: noon }, said("bob", noon + 1)),
    false,
    "after a join",
  );
  assert.equal(continues(undefined, said("bob", noon)), false);
  const late = new Date(2026, 11, 5, 23, 59).getTime();
  assert.equal(
    continues(lastOf(said("bob", late)), said("bob", late + 2 * 60_000)),
    false,
    "midnight",
  );
});

Deno.test("newDay() and dayLabel() start each day with a separator that names it", () => {
  assert.equal(newDay(undefined, noon), true);
  assert.equal(newDay(lastOf(said("bob", noon)), noon + 3_600_000), false);
  assert.equal(newDay(lastOf(said("bob", noon)), noon + 86_400_000), true);
  assert.equal(dayLabel(noon, noon + 60_000), "Today");
  assert.equal(dayLabel(noon, noon + 86_400_000), "Yesterday");
  assert.match(dayLabel(noon, noon + 3 * 86_400_000), /2026/);
});
