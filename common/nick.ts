/**
 * What a nickname may be, and when two nicknames are the same person
 * ({@linkcode nickKey}). The page checks a name with the same rules before
 * it asks, and the server checks it again.
 *
 * Browser compatible: no Deno APIs.
 *
 * @module
 */

import { FOLDS } from "./confusables.ts";
import type { Checked } from "./message.ts";

/** Longest nickname, in code points after NFKC normalization. */
export const NICK_MAX = 24;

/** The nickname the server's operator speaks under (its console); nobody else can take it. */
export const SERVER_NICK = "server";

/** Nicknames nobody may take, compared by {@linkcode nickKey}. */
export const RESERVED_NICKS: ReadonlySet<string> = new Set([
  SERVER_NICK,
  "system",
  "admin",
  "operator",
]);

/**
 * Longest input, in UTF-16 code units, that is ever normalized or folded as
 * a name. A nickname of {@linkcode NICK_MAX} code points can be typed as at
 * most three code points each before NFKC composes them (a Hangul syllable
 * from its jamo), two units each: anything longer cannot be a nickname, so
 * it is refused, or matches nobody, before any work is done on it.
 */
export const NAME_INPUT_MAX = NICK_MAX * 6;

/** The key of every over-long name: no real nickname folds to it (they hold no NUL). */
const NOBODY = "\0";

/**
 * The identity of a nickname: two nicknames with the same key are the same
 * person, and the second is refused as taken. NFKC folds compatibility forms
 * (full-width letters, ligatures); then each character is folded by its
 * Unicode confusables skeleton (UTS #39) and case (see `confusables.ts`, and
 * `confusables.py` that generates it), so Cyrillic "а", Greek "α" and Latin
 * small capital "ᴀ" are "a", "m" is "rn", "0" is "o", and "I", "1" and "ǀ"
 * are "l". On top of the skeleton, "i" is "l" too and "vv" is "w" (in many
 * fonts they cannot be told apart), and combining marks typed after a Latin,
 * Greek or Cyrillic letter are dropped (a dot below is hardly seen); "é"
 * composes to one letter and stays distinct from "e". So nobody can pose as
 * "alice" by taking "аlice", "AIice" or "aɪice". The nickname shown stays as
 * its owner typed it.
 *
 * Linear in the length of `nick`, and bounded: a name longer than
 * {@linkcode NAME_INPUT_MAX} is not folded at all.
 */
export function nickKey(nick: string): string {
  if (nick.length > NAME_INPUT_MAX) return NOBODY;
  return foldText(nick);
}

/**
 * {@linkcode nickKey}'s folding of any text, unbounded (linear in its
 * length): what a mention of a nickname is looked for in (`mention.ts`).
 */
export function foldText(text: string): string {
  // Most text is ASCII: a table of 128 folds, with no normalizing (NFKC
  // leaves ASCII as it is) and no marks to look for.
  if (ASCII.test(text)) {
    const { odd, table } = asciiFolds();
    const folded = text.toLowerCase().replace(odd, (c) => table[c.charCodeAt(0)]!);
    return folded.replace(/i/g, "l").replace(/vv/g, "w");
  }
  let out = "";
  let afterLetter = false;
  for (const c of text.normalize("NFKC")) {
    if (MARK.test(c)) {
      if (!afterLetter) out += fold(c);
      continue;
    }
    afterLetter = LATIN_GREEK_CYRILLIC.test(c);
    out += fold(c);
  }
  return out.replace(/i/g, "l").replace(/vv/g, "w");
}

// Printable ASCII (the rest, controls included, takes the full path).
const ASCII = /^[\x20-\x7e]*$/;
let asciiTable: { odd: RegExp; table: string[] } | undefined;

/**
 * Each ASCII character's fold, as {@linkcode fold} gives it, and the lower
 * case characters whose fold is not themselves ("0" is "o", "m" is "rn"):
 * made on first use.
 */
function asciiFolds(): { odd: RegExp; table: string[] } {
  if (asciiTable === undefined) {
    const table = Array.from({ length: 128 }, (_, code) => fold(String.fromCharCode(code)));
    let odd = "";
    for (let code = 0; code < 128; code++) {
      const c = String.fromCharCode(code);
      if (c === c.toLowerCase() && table[code] !== c) {
        odd += `\\x${code.toString(16).padStart(2, "0")}`;
      }
    }
    asciiTable = { odd: new RegExp(`[${odd}]`, "g"), table };
  }
  return asciiTable;
}

/** One character's fold: from the generated table, else its lower case. */
function fold(c: string): string {
  return FOLD_TABLE.get(c.codePointAt(0)!) ?? c.toLowerCase();
}

const MARK = /^\p{M}$/u;
const LATIN_GREEK_CYRILLIC = /^[\p{Script=Latin}\p{Script=Greek}\p{Script=Cyrillic}]$/u;

/** {@linkcode FOLDS}, read once. */
const FOLD_TABLE: ReadonlyMap<number, string> = (() => {
  const table = new Map<number, string>();
  for (const pair of FOLDS.split(";")) {
    const colon = pair.indexOf(":");
    if (colon > 0) table.set(parseInt(pair.slice(0, colon), 16), pair.slice(colon + 1));
  }
  return table;
})();

/** {@linkcode RESERVED_NICKS} as keys, so their look-alikes are reserved too. */
const RESERVED_KEYS: ReadonlySet<string> = new Set([...RESERVED_NICKS].map((n) => nickKey(n)));

/**
 * Scripts told apart for the mixed-script rule. A letter in none of them
 * counts as "other", so scripts not listed are still one script each only
 * among themselves.
 */
const SCRIPTS = [
  "Latin",
  "Cyrillic",
  "Greek",
  "Armenian",
  "Georgian",
  "Cherokee",
  "Hebrew",
  "Arabic",
  "Devanagari",
  "Bengali",
  "Tamil",
  "Thai",
  "Lao",
  "Ethiopic",
  "Han",
  "Hiragana",
  "Katakana",
  "Bopomofo",
  "Hangul",
] as const;
type Script = typeof SCRIPTS[number] | "other";
const SCRIPT_TESTS = SCRIPTS.map((name) => [name, new RegExp(`\\p{Script=${name}}`, "u")] as const);
// Digits, "-", "_" and combining marks belong to no script of their own.
const SCRIPTLESS = /[\p{Script=Common}\p{Script=Inherited}]/u;

/**
 * Script mixes a nickname may use (UTS #39 "highly restrictive"): one script,
 * or the ones Japanese, Chinese and Korean are written with, plus Latin.
 */
const ALLOWED_MIXES: readonly ReadonlySet<Script>[] = [
  new Set(["Latin", "Han", "Hiragana", "Katakana"]),
  new Set(["Latin", "Han", "Bopomofo"]),
  new Set(["Latin", "Han", "Hangul"]),
];

/** The scripts of a nickname's letters. */
function scriptsOf(nick: string): Set<Script> {
  const found = new Set<Script>();
  for (const c of nick) {
    if (SCRIPTLESS.test(c)) continue;
    found.add(SCRIPT_TESTS.find(([, test]) => test.test(c))?.[0] ?? "other");
  }
  return found;
}

/** True if a nickname mixes scripts in a way only a look-alike would. */
function mixesScripts(nick: string): boolean {
  const scripts = scriptsOf(nick);
  if (scripts.size <= 1) return false;
  return !ALLOWED_MIXES.some((mix) => [...scripts].every((s) => mix.has(s)));
}

// Characters that render as nothing (or as blank) but are letters or marks by
// category, so the category checks below would let them through.
const INVISIBLE_LETTERS = /[\u115F\u1160\u3164\uFFA0\u17B4\u17B5\u180B-\u180F\uFE00-\uFE0F]/u;
const FORMAT_OR_CONTROL = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Default_Ignorable_Code_Point}]/u;
const SPACE = /[\p{Z}\s]/u;
const NICK_CHAR = /^[\p{L}\p{M}\p{N}_-]$/u;
const NICK_START = /^[\p{L}\p{N}_]/u;

/**
 * Checks a requested nickname and returns it normalized (NFKC, trimmed).
 *
 * Letters and digits of any script are allowed, with `-` and `_`; spaces,
 * punctuation, symbols, invisible and bidi control characters are refused
 * with a reason fit to show the user.
 */
export function checkNick(raw: string): Checked<"nick_invalid"> {
  const refuse = (reason: string) => ({
    ok: false as const,
    code: "nick_invalid" as const,
    reason,
  });
  // Before any work: no longer input can normalize to a nickname.
  if (raw.length > NAME_INPUT_MAX) {
    return refuse(`Nickname is too long (at most ${NICK_MAX} characters).`);
  }
  const nick = raw.normalize("NFKC").trim();
  if (nick === "") return refuse("Nickname is empty.");
  if (FORMAT_OR_CONTROL.test(nick) || INVISIBLE_LETTERS.test(nick)) {
    return refuse("Nickname contains invisible or control characters.");
  }
  if (SPACE.test(nick)) return refuse("Nickname cannot contain spaces.");
  const chars = [...nick];
  if (chars.length > NICK_MAX) {
    return refuse(`Nickname is too long (${chars.length} characters, at most ${NICK_MAX}).`);
  }
  const bad = chars.find((c) => !NICK_CHAR.test(c));
  if (bad !== undefined) {
    return refuse(`Nickname may only contain letters, digits, "-" and "_" (not "${bad}").`);
  }
  if (!NICK_START.test(nick)) return refuse("Nickname must start with a letter or a digit.");
  if (mixesScripts(nick)) {
    return refuse(
      `Nickname mixes alphabets (${
        [...scriptsOf(nick)].join(", ")
      }); use one, so it cannot pass for another.`,
    );
  }
  if (RESERVED_KEYS.has(nickKey(nick))) return refuse(`Nickname "${nick}" is reserved.`);
  return { ok: true, value: nick };
}
