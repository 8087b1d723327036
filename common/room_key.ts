/**
 * When two room names are the same room: under the same look-alike folding
 * as nicknames (`nickKey`), so `#Dev`, `#dev` and `#ԁev` (Cyrillic "ԁ") are
 * one room, shown as the first to enter it typed it (but `#lobby`, always
 * so). The server's rule; the
 * page, which cannot carry the folding table, uses `looseRoomKey`.
 *
 * Browser compatible: no Deno APIs.
 *
 * @module
 */

import { nickKey } from "./nick.ts";
import { ROOM_INPUT_MAX } from "./room.ts";

/** The key of every over-long name: no real room folds to it (they hold no NUL). */
const NOWHERE = "#\0";

/**
 * The identity of a room: two names with the same key are one room. Linear
 * in the length of `name`, and bounded: an over-long name is not folded.
 */
export function roomKey(name: string): string {
  if (name.length > ROOM_INPUT_MAX) return NOWHERE;
  return `#${nickKey(name.normalize("NFKC").replace(/^#/, ""))}`;
}
