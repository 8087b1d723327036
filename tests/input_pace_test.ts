import assert from "node:assert/strict";
import { byteUnits, INPUT_RATE, InputPace, inputRate, lineUnits } from "../server/transport/io.ts";

const utf8 = (text: string) => new TextEncoder().encode(text);

Deno.test("InputPace.charge() lets the burst in at once, then paces the rest", () => {
  const pace = new InputPace({ burst: 10, perSecond: 5 });
  assert.equal(pace.charge(10, 0), 0);
  // One past the burst waits a unit's time (200 ms); the debt carries on.
  assert.equal(pace.charge(1, 0), 200);
  assert.equal(pace.charge(3, 100), 700);
  // Paid up as time passes: after a quiet spell, the whole burst again.
  assert.equal(pace.charge(10, 60_000), 0);
  // A flood in one read waits as long as it is over the burst.
  assert.equal(pace.charge(1_000, 120_000), (1_000 - 10) * 200);
});

Deno.test("lineUnits() counts line ends (CRLF once) and each 8 KiB, byteUnits() the size", () => {
  assert.equal(lineUnits(utf8("")), 0);
  assert.equal(lineUnits(utf8("hello")), 1);
  assert.equal(lineUnits(utf8("a\r\nb\r\nc\r\n")), 4);
  assert.equal(lineUnits(utf8("a\rb\rc\r")), 4);
  assert.equal(lineUnits(utf8("\n".repeat(500))), 501);
  assert.equal(lineUnits(new Uint8Array(16 * 1024)), 2);
  assert.equal(byteUnits(1), 1);
  assert.equal(byteUnits(8 * 1024 + 1), 2);
});

Deno.test("inputRate() is INPUT_RATE at the default flood limit, and lifted with it", () => {
  assert.deepEqual(inputRate({ burst: 10, perSecond: 2 }), INPUT_RATE);
  assert.deepEqual(inputRate({ burst: 1e9, perSecond: 1e9 }), { burst: 5e10, perSecond: 2.5e10 });
});
