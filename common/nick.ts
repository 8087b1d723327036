/**
 * What a nickname may be, and when two nicknames are the same person
 * ({@linkcode nickKey}). The page checks a name with the same rules before
 * it asks, and the server checks it again.
 *
 * Browser compatible: no Deno APIs.
 *
 * @module
 */

import type { Checked } from "./message.ts";

/** Longest nickname, in code points after NFKC normalization. */
export const NICK_MAX = 24;

/** Nicknames nobody may take, compared by {@linkcode nickKey}. */
export const RESERVED_NICKS: ReadonlySet<string> = new Set([
  "server",
  "system",
  "admin",
  "operator",
]);

/**
 * The identity of a nickname: two nicknames with the same key are the same
 * person, and the second is refused as taken. NFKC folds compatibility forms
 * (full-width letters, ligatures), lower-casing folds case, and then
 * characters that look alike on screen fold together (a skeleton, after
 * Unicode TS #39): Cyrillic "а" and Greek "α" as Latin "a"; "i", "I", "1"
 * and "l" all as "l"; "0" as "o"; "rn" as "m". So nobody can pose as "alice"
 * by taking "аlice" or "AIice". The nickname shown stays as its owner typed it.
 */
export function nickKey(nick: string): string {
  // Twice: capitals that look Latin but lower-case to something that does
  // not (Greek "Μ" to "μ"), then the lower-case look-alikes.
  const folded = fold(fold(nick.normalize("NFKC")).toLowerCase().normalize("NFKC"));
  return folded.replace(MARKS, "").replace(/rn/g, "m").replace(/vv/g, "w");
}

function fold(text: string): string {
  let out = "";
  for (const c of text) out += LOOKALIKE[c] ?? c;
  return out;
}

// Combining marks left on a Latin, Greek or Cyrillic letter after NFKC (a
// dot below, a macron under): hardly seen, so they must not make a copy of a
// name. ("é" composes to one letter and stays distinct from "e"; marks in
// scripts that spell with them, like Devanagari vowel signs, are kept.)
const MARKS = /(?<=[\p{Script=Latin}\p{Script=Greek}\p{Script=Cyrillic}]\p{M}*)\p{M}/gu;

/**
 * Characters (already lower-cased) that look like a Latin letter in common
 * fonts, and the letter. Errs on folding too much: the cost is only that two
 * nicknames count as one.
 */
const LOOKALIKE: Readonly<Record<string, string>> = {
  // Capitals whose lower case does not look like the Latin letter
  "Α": "a",
  "Β": "b",
  "Ε": "e",
  "Ζ": "z",
  "Η": "h",
  "Ι": "l",
  "Κ": "k",
  "Μ": "m",
  "Ν": "n",
  "Ο": "o",
  "Ρ": "p",
  "Τ": "t",
  "Υ": "y",
  "Χ": "x",
  "Ꭺ": "a",
  "Ᏼ": "b",
  "Ꮯ": "c",
  "Ꭰ": "d",
  "Ꭼ": "e",
  "Ꮐ": "g",
  "Ꮋ": "h",
  "Ꭵ": "l",
  "Ꭻ": "j",
  "Ꮶ": "k",
  "Ꮮ": "l",
  "Ꮇ": "m",
  "Ꮲ": "p",
  "Ꮪ": "s",
  "Ꭲ": "t",
  "Ꮩ": "v",
  "Ꮃ": "w",
  "Ꮓ": "z",
  // Lisu, which has no case
  "ꓮ": "a",
  "ꓐ": "b",
  "ꓚ": "c",
  "ꓓ": "d",
  "ꓰ": "e",
  "ꓝ": "f",
  "ꓖ": "g",
  "ꓧ": "h",
  "ꓲ": "l",
  "ꓙ": "j",
  "ꓗ": "k",
  "ꓡ": "l",
  "ꓟ": "m",
  "ꓠ": "n",
  "ꓳ": "o",
  "ꓑ": "p",
  "ꓣ": "r",
  "ꓢ": "s",
  "ꓔ": "t",
  "ꓴ": "u",
  "ꓦ": "v",
  "ꓪ": "w",
  "ꓫ": "x",
  "ꓬ": "y",
  "ꓜ": "z",
  // Digits
  "0": "o",
  "1": "l",
  // Latin letters that pass for others ("I" and "l" are one glyph in many fonts)
  "i": "l",
  "ı": "l",
  "ȷ": "j",
  "ℓ": "l",
  // Cyrillic
  "а": "a",
  "в": "b",
  "с": "c",
  "ԁ": "d",
  "е": "e",
  "ё": "e",
  "һ": "h",
  "н": "h",
  "і": "l",
  "ї": "l",
  "ј": "j",
  "к": "k",
  "ӏ": "l",
  "м": "m",
  "о": "o",
  "р": "p",
  "ԛ": "q",
  "г": "r",
  "ѕ": "s",
  "т": "t",
  "у": "y",
  "ѵ": "v",
  "ԝ": "w",
  "х": "x",
  "ү": "y",
  "ь": "b",
  // Greek
  "α": "a",
  "β": "b",
  "ε": "e",
  "η": "n",
  "ι": "l",
  "κ": "k",
  "ν": "v",
  "ο": "o",
  "ρ": "p",
  "τ": "t",
  "υ": "u",
  "χ": "x",
  "ζ": "z",
  // Armenian
  "օ": "o",
  "ս": "u",
  "հ": "h",
  "ո": "n",
};

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
  const nick = raw.normalize("NFKC").trim();
  const refuse = (reason: string) => ({
    ok: false as const,
    code: "nick_invalid" as const,
    reason,
  });
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
