/**
 * Whether a message names someone: the rule behind the page's highlight and
 * room-list marker and the terminal's marked line and bell.
 *
 * A line mentions a nickname when the nickname appears in it as a word, in
 * any case and under the same look-alike folding as nicknames themselves
 * (`nickKey` in `nick.ts`): "Bob:", "BOB!" and "Воb" (with a Cyrillic "В")
 * name bob; "bobby" and "kebob" do not. A word is a run of letters, marks,
 * digits, "_" and "-" (what nicknames are made of), and any part of it
 * between dashes: "bob-ross" names bob, ross and bob-ross.
 *
 * The server works it out once per message, not once per member
 * ({@linkcode mentionKeys}: the nickname keys a text names, looked up in the
 * roster), and the hub sends a member named in a message a copy marked
 * `mention: true`; everyone else gets the message as it is. The page does
 * not fold (the look-alike table would weigh more than the whole page): it
 * reads the mark.
 *
 * Browser compatible: no Deno APIs.
 *
 * @module
 */

import { foldText, NAME_INPUT_MAX, NICK_MAX, nickKey } from "./nick.ts";
import type { ChatMessage } from "./protocol.ts";

/** Most dash-separated parts of one word looked at (a word of more counts as its first ones). */
const PARTS_MAX = 8;

/** What separates words: anything nicknames are not made of. */
const BETWEEN_WORDS = /[^\p{L}\p{M}\p{N}_-]+/u;

/** A word longer than this names nobody (however it folds, no nickname is that long). */
const WORD_MAX = NAME_INPUT_MAX;

/** The longest fold of a nickname ("m" folds to two letters): longer runs of parts are not looked up. */
const KEY_MAX = 2 * NICK_MAX;

/**
 * Most keys the dashed words of one message add (each word adds its own key
 * besides): a line of 2,000 characters made of dashed words would give
 * thousands, and names nobody past the first few.
 */
export const DASHED_KEYS_MAX = 256;

/** Most word folds kept: words recur, so most of a line is folded once. */
const FOLDS_MAX = 10_000;
const folds = new Map<string, string>();

function foldWord(word: string): string {
  let folded = folds.get(word);
  if (folded === undefined) {
    if (folds.size >= FOLDS_MAX) folds.clear();
    folded = foldText(word);
    folds.set(word, folded);
  }
  return folded;
}

let lastText: string | undefined;
let lastKeys: readonly string[] = [];

/**
 * The nickname keys `text` names as words (see the module doc), to look up
 * in a roster. The last text's keys are remembered, and each word's fold
 * (up to {@linkcode FOLDS_MAX} words), so a message costs a split and a few
 * lookups however often it is asked.
 */
export function mentionKeys(text: string): readonly string[] {
  if (text === lastText) return lastKeys;
  const keys: string[] = [];
  let dashed = 0;
  for (const word of text.split(BETWEEN_WORDS)) {
    if (word === "" || word.length > WORD_MAX) continue;
    const folded = foldWord(word);
    if (!folded.includes("-") || dashed >= DASHED_KEYS_MAX) {
      keys.push(folded);
      continue;
    }
    const parts = folded.split("-").filter((p) => p !== "").slice(0, PARTS_MAX);
    // Every run of consecutive parts: "a-b-c" gives a, b, c, a-b, b-c, a-b-c.
    for (let i = 0; i < parts.length && dashed < DASHED_KEYS_MAX; i++) {
      for (let j = i + 1; j <= parts.length && dashed < DASHED_KEYS_MAX; j++) {
        const key = parts.slice(i, j).join("-");
        if (key.length > KEY_MAX) break;
        keys.push(key);
        dashed++;
      }
    }
  }
  lastText = text;
  lastKeys = keys;
  return keys;
}

/** True when `text` names `nick` as a word (see the module doc). */
export function mentions(text: string, nick: string): boolean {
  return nick !== "" && mentionKeys(text).includes(nickKey(nick));
}

/**
 * Messages read back for member `nick` (a welcome's, a room's on entering,
 * a history reply's), each room message that names it, by someone else,
 * marked `mention: true` as it was marked when it was new: a page shown
 * them again (reloaded, back after a drop) highlights the same lines. The
 * array itself if none is; else a copy, the messages not marked shared.
 */
export function markMentions(messages: ChatMessage[], nick: string): ChatMessage[] {
  const key = nickKey(nick);
  let marked: ChatMessage[] | undefined;
  messages.forEach((m, i) => {
    if (m.mention || m.to !== undefined || m.from === nick) return;
    if (!mentionKeys(m.text).includes(key)) return;
    (marked ??= [...messages])[i] = { ...m, mention: true };
  });
  return marked ?? messages;
}
