/**
 * What a room name may be. A room is `#` and 1 to {@linkcode ROOM_MAX}
 * characters: letters, digits and punctuation of any script (`#dev`,
 * `#c++`, `#中文`), but no space, comma, control, bidi or invisible
 * character.
 *
 * When two names are the same room is `room_key.ts`'s (`roomKey`): the
 * look-alike folding of nicknames, whose table is too big for the page's
 * bundle. The page matches the names the server sends with what was typed
 * by {@linkcode looseRoomKey} instead, which folds case and width only.
 *
 * Browser compatible: no Deno APIs.
 *
 * @module
 */

import type { Checked } from "./message.ts";

/** Longest room name after the `#`, in code points after NFKC normalization. */
export const ROOM_MAX = 32;

/** The room everyone lands in, and the one a frame without `room` means. */
export const LOBBY = "#lobby";

/**
 * Longest input, in UTF-16 code units, ever normalized or folded as a room
 * name: NFKC composes at most three code points into one, two units each,
 * so anything longer cannot be a room name and is refused before any work.
 */
export const ROOM_INPUT_MAX = (ROOM_MAX + 1) * 6;

// Characters that render as nothing (or as blank) but are letters, marks or
// symbols: the Hangul and Khitan fillers, and the blank braille pattern, a
// symbol that shows as a space (`#dev⠀` would pass for `#dev`, and fake a
// space in a name).
const INVISIBLE =
  /[\u115F\u1160\u3164\uFFA0\u17B4\u17B5\u180B-\u180F\uFE00-\uFE0F\u2800\u{16FE4}]/u;
const FORMAT_OR_CONTROL = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Default_Ignorable_Code_Point}]/u;
const SPACE = /[\p{Z}\s]/u;

/**
 * A room name with case and width folded (NFKC, lower case): how the page
 * tells whether a name the server sends is one it typed. Looser than the
 * server's `roomKey`, which decides; bounded like it.
 */
export function looseRoomKey(name: string): string {
  return name.length > ROOM_INPUT_MAX ? "#\0" : name.normalize("NFKC").toLowerCase();
}

/**
 * Checks a room name and returns it normalized (NFKC, trimmed), or why it
 * is refused, in words fit to show the user.
 */
export function checkRoom(raw: string): Checked<"room_invalid"> {
  const refuse = (reason: string) => ({
    ok: false as const,
    code: "room_invalid" as const,
    reason,
  });
  if (raw.length > ROOM_INPUT_MAX) {
    return refuse(`Room name is too long (at most ${ROOM_MAX} characters after the #).`);
  }
  const name = raw.normalize("NFKC").trim();
  if (!name.startsWith("#")) return refuse(`A room name starts with # (like ${LOBBY}).`);
  const rest = name.slice(1);
  if (rest === "") return refuse("Room name is empty: # and 1 to 32 characters.");
  if (FORMAT_OR_CONTROL.test(rest) || INVISIBLE.test(rest)) {
    return refuse("Room name contains invisible or control characters.");
  }
  if (SPACE.test(rest)) return refuse("Room name cannot contain spaces.");
  if (rest.includes(",")) return refuse("Room name cannot contain commas.");
  const length = [...rest].length;
  if (length > ROOM_MAX) {
    return refuse(`Room name is too long (${length} characters after the #, at most ${ROOM_MAX}).`);
  }
  return { ok: true, value: name };
}

/**
 * The ways to type the `#` that starts a room name: NFKC makes the
 * full-width `＃` (a Chinese or Japanese keyboard's) and the small `﹟` a `#`.
 */
export const ROOM_SIGN = /^[#\uFF03\uFE5F]/;

/**
 * A room name as a person types it in a command: `dev` means `#dev`, and
 * `＃dev` is `#dev` too, not `##dev`. Anything else is left for
 * {@linkcode checkRoom} to judge.
 */
export function typedRoom(text: string): string {
  const name = text.trim();
  return name === "" || ROOM_SIGN.test(name) ? name : `#${name}`;
}
