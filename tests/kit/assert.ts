/**
 * Assertions the tests share beyond `node:assert/strict`.
 *
 * @module
 */

import assert from "node:assert/strict";

/** The element at `i` (negative counts from the end); fails if there is none. */
export function itemAt<T>(list: readonly T[], i: number): T {
  const item = list.at(i);
  assert.ok(item !== undefined, `no element at ${i} in a list of ${list.length}`);
  return item;
}

/** Asserts that every number is greater than the one before it. */
export function assertIncreasing(values: readonly number[]): void {
  values.forEach((value, i) => {
    if (i === 0) return;
    const before = itemAt(values, i - 1);
    assert.ok(value > before, `${value} after ${before}, at ${i}`);
  });
}
