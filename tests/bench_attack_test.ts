/**
 * The attack scenario's bookkeeping (`bench/attack.ts`): what it counts in
 * the pipeliner's frames and how it files the bystanders' round trips. The
 * scenario itself runs under `deno task bench --scenarios attack`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { occurrences, RoundTrips } from "../bench/attack.ts";

const encoder = new TextEncoder();

Deno.test("occurrences() counts a needle in bytes, each match once, in a view of a larger buffer", () => {
  const events = encoder.encode(
    'xx[{"type":"history","messages":[]},{"type":"error","code":"rate_limited"},' +
      '{"type":"history","messages":[]}]',
  );
  const view = events.subarray(2);
  assert.equal(occurrences(view, encoder.encode('"type":"history"')), 2);
  assert.equal(occurrences(view, encoder.encode('"code":"rate_limited"')), 1);
  assert.equal(occurrences(view, encoder.encode('"type":"welcome"')), 0);
  assert.equal(occurrences(encoder.encode("aaaa"), encoder.encode("aa")), 2);
  assert.equal(occurrences(view, new Uint8Array()), 0);
});

Deno.test("RoundTrips.echoed() files a round trip under the phase it was sent in", () => {
  const trips = new RoundTrips(2);
  trips.sent("a 1", 0, 100);
  trips.sent("a 2", 1, 200);
  trips.sent("a 3", 1, 300);
  // Sent before the phase changed, echoed after: it counts for phase 0.
  trips.echoed("a 1", 250);
  trips.echoed("a 2", 210);
  trips.echoed("a 2", 400);
  trips.echoed("never sent", 500);
  assert.deepEqual(trips.samples, [[150], [10]]);
  assert.equal(trips.unanswered(0), 0);
  assert.equal(trips.unanswered(1), 1);
});
