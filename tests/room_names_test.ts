/**
 * Unit tests of room names (`common/room.ts`): which names are refused and
 * why, which are one room ({@linkcode roomKey}), and that an over-long input
 * is refused before any normalization or folding work.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  checkRoom,
  LOBBY,
  looseRoomKey,
  ROOM_INPUT_MAX,
  ROOM_MAX,
  typedRoom,
} from "../common/room.ts";
import { roomKey } from "../common/room_key.ts";

/** The reason a name is refused; fails if it is accepted. */
function refused(name: string): string {
  const checked = checkRoom(name);
  assert.ok(!checked.ok, `${JSON.stringify(name)} accepted as ${JSON.stringify(checked)}`);
  assert.equal(checked.code, "room_invalid");
  return checked.reason;
}

/** The name as accepted; fails if it is refused. */
function accepted(name: string): string {
  const checked = checkRoom(name);
  assert.ok(checked.ok, `${JSON.stringify(name)} refused: ${JSON.stringify(checked)}`);
  return checked.value;
}

Deno.test("roomKey() folds case and look-alikes: #Dev, #dev and #ԁev are one room", () => {
  const key = roomKey("#dev");
  for (const name of ["#Dev", "#DEV", "#ԁev", "#ｄｅｖ", "#dEv"]) {
    assert.equal(roomKey(accepted(name)), key, name);
  }
  assert.notEqual(roomKey("#dev2"), key);
  assert.notEqual(roomKey("#de"), key);
  assert.equal(roomKey(LOBBY), roomKey("#Lobby"));
  assert.ok(key.startsWith("#"));
});

Deno.test("checkRoom() accepts letters, digits and punctuation of any script", () => {
  for (
    const name of ["#lobby", "#dev", "#c++", "#中文", "#日本語-チャット", "#a", "#über_café", "#1"]
  ) {
    assert.equal(accepted(name), name, name);
  }
  assert.notEqual(roomKey("#中文"), roomKey("#中"), "CJK names are not folded together");
});

Deno.test("checkRoom() returns the name NFKC-normalized and trimmed", () => {
  assert.equal(accepted("  #dev  "), "#dev");
  assert.equal(accepted("#ｄｅｖ"), "#dev");
  assert.equal(accepted("#cafe\u0301"), "#café");
});

Deno.test("checkRoom() refuses spaces, commas, control, bidi and invisible characters, saying which", () => {
  assert.match(refused("#a b"), /spaces/);
  assert.match(refused("#a\u3000b"), /spaces/, "ideographic space");
  assert.match(refused("#a\u00A0b"), /spaces/, "no-break space");
  assert.match(refused("#a,b"), /commas/);
  assert.match(refused("#a\tb"), /invisible or control/);
  assert.match(refused("#a\x07b"), /invisible or control/);
  assert.match(refused("#a\x1b[31mb"), /invisible or control/);
  assert.match(refused("#a\nb"), /invisible or control/);
  for (const c of ["\u202E", "\u202A", "\u2066", "\u200F"]) {
    assert.match(refused(`#a${c}b`), /invisible or control/, `bidi U+${c.codePointAt(0)}`);
  }
  for (const c of ["\u200B", "\u3164", "\u2060", "\uFEFF", "\u115F", "\uFE0F"]) {
    assert.match(refused(`#a${c}b`), /invisible or control/, `U+${c.codePointAt(0)}`);
  }
  assert.match(refused("#\u3164"), /invisible or control/, "a Hangul filler alone");
});

Deno.test("checkRoom() refuses an empty name and one without #", () => {
  assert.match(refused("#"), /empty/);
  assert.match(refused("  #  "), /empty/);
  assert.match(refused(""), /starts with #/);
  assert.match(refused("dev"), /starts with #/);
  assert.match(refused("@dev"), /starts with #/);
});

Deno.test("checkRoom() accepts 32 characters after the # and refuses 33, counting code points", () => {
  assert.equal(ROOM_MAX, 32);
  assert.equal(accepted(`#${"a".repeat(32)}`), `#${"a".repeat(32)}`);
  assert.match(refused(`#${"a".repeat(33)}`), /too long \(33 characters after the #, at most 32\)/);
  // Astral characters count one each, not two UTF-16 units.
  assert.equal([...accepted(`#${"😀".repeat(32)}`)].length, 33);
  assert.match(refused(`#${"😀".repeat(33)}`), /too long/);
  assert.equal([...accepted(`#${"中".repeat(32)}`)].length, 33);
  // Counted after normalization: a letter and its combining accent are one.
  assert.equal(accepted(`#${"e\u0301".repeat(32)}`), `#${"é".repeat(32)}`);
});

Deno.test("checkRoom() and roomKey() refuse an over-long input before normalizing it", () => {
  const long = `#${"a".repeat(ROOM_INPUT_MAX)}`;
  const huge = `#${"\uFDFA".repeat(100_000)}`; // NFKC would make each one 18 characters
  const normalize = String.prototype.normalize;
  let calls = 0;
  String.prototype.normalize = function (this: string, form?: string) {
    calls++;
    return normalize.call(this, form);
  };
  try {
    assert.match(refused(long), /too long/);
    assert.match(refused(huge), /too long/);
    assert.equal(roomKey(long), roomKey(huge), "the key of nowhere");
    assert.equal(calls, 0, "nothing normalized");
    accepted(`#${"a".repeat(32)}`);
    assert.ok(calls > 0, "a name within bounds is normalized");
  } finally {
    String.prototype.normalize = normalize;
  }
  // Just within the input bound, a name that normalizes short enough is checked as usual.
  const padded = `#dev${" ".repeat(ROOM_INPUT_MAX - 4)}`;
  assert.equal(padded.length, ROOM_INPUT_MAX);
  assert.equal(accepted(padded), "#dev");
  assert.match(refused(`${padded} `), /too long/);
});

Deno.test("roomKey() of an over-long name is no real room's key", () => {
  const nowhere = roomKey(`#${"x".repeat(ROOM_INPUT_MAX + 1)}`);
  for (const name of ["#", "#x", `#${"x".repeat(32)}`, LOBBY]) {
    assert.notEqual(roomKey(name), nowhere, name);
  }
});

Deno.test("typedRoom() adds the # a person leaves out, and leaves the rest to checkRoom()", () => {
  assert.equal(typedRoom("dev"), "#dev");
  assert.equal(typedRoom("  dev "), "#dev");
  assert.equal(typedRoom("#dev"), "#dev");
  assert.equal(typedRoom(""), "");
  assert.equal(typedRoom("   "), "");
  assert.equal(typedRoom("a b"), "#a b");
  assert.match(refused(typedRoom("a b")), /spaces/);
});

Deno.test("looseRoomKey() folds case and width only: the page's match of names the server sends", () => {
  assert.equal(looseRoomKey("#Dev"), looseRoomKey("#dev"));
  assert.equal(looseRoomKey("#ｄｅｖ"), looseRoomKey("#dev"));
  assert.notEqual(looseRoomKey("#ԁev"), looseRoomKey("#dev"));
  assert.equal(looseRoomKey("#" + "x".repeat(ROOM_INPUT_MAX)), "#\0");
});
