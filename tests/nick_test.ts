import assert from "node:assert/strict";
import { checkNick, NAME_INPUT_MAX, NICK_MAX, nickKey } from "../common/nick.ts";

// checkNick

Deno.test("checkNick() accepts a Chinese nickname", () => {
  assert.deepEqual(checkNick("小明"), { ok: true, value: "小明" });
});

Deno.test("checkNick() normalizes full-width letters with NFKC", () => {
  assert.deepEqual(checkNick("ａｌｉｃｅ"), { ok: true, value: "alice" });
});

Deno.test("checkNick() trims surrounding whitespace", () => {
  assert.deepEqual(checkNick("  bob \t"), { ok: true, value: "bob" });
});

Deno.test("checkNick() accepts digits, '-' and '_' after the first character", () => {
  assert.deepEqual(checkNick("a_b-2"), { ok: true, value: "a_b-2" });
});

Deno.test("checkNick() refuses a nickname with a space", () => {
  const result = checkNick("bob smith");
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.code, "nick_invalid");
  assert.match(result.reason, /spaces/);
});

Deno.test("checkNick() refuses an empty nickname", () => {
  for (const raw of ["", "   "]) {
    const result = checkNick(raw);
    assert.equal(result.ok, false, JSON.stringify(raw));
    if (result.ok) continue;
    assert.equal(result.code, "nick_invalid");
  }
});

Deno.test("checkNick() refuses invisible characters with the 'invisible' reason", () => {
  const cases = {
    "zero width space U+200B": "ali\u200Bce",
    "right-to-left override U+202E": "ali\u202Ece",
    "Hangul filler U+3164": "ali\u3164ce",
    "Hangul filler alone": "\u3164",
  };
  for (const [name, raw] of Object.entries(cases)) {
    const result = checkNick(raw);
    assert.equal(result.ok, false, name);
    if (result.ok) continue;
    assert.equal(result.code, "nick_invalid", name);
    assert.match(result.reason, /invisible/, name);
  }
});

Deno.test("checkNick() refuses punctuation and symbols", () => {
  for (const raw of ["bob!", "a.b", "a@b", "<bob>", "a/b", "bob💻"]) {
    const result = checkNick(raw);
    assert.equal(result.ok, false, raw);
    if (result.ok) continue;
    assert.equal(result.code, "nick_invalid", raw);
  }
});

Deno.test("checkNick() accepts NICK_MAX characters and refuses NICK_MAX + 1", () => {
  assert.deepEqual(checkNick("x".repeat(NICK_MAX)), { ok: true, value: "x".repeat(NICK_MAX) });
  const result = checkNick("x".repeat(NICK_MAX + 1));
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.code, "nick_invalid");
  assert.match(result.reason, /too long/);
});

Deno.test("checkNick() counts code points, not UTF-16 units, against NICK_MAX", () => {
  // U+20000 is a CJK ideograph outside the BMP: two UTF-16 units each.
  const astral = "\u{20000}".repeat(NICK_MAX);
  assert.deepEqual(checkNick(astral), { ok: true, value: astral });
});

Deno.test("checkNick() refuses a reserved nickname in any case or width", () => {
  for (const raw of ["Server", "server", "SERVER", "ｓｅｒｖｅｒ", "Admin"]) {
    const result = checkNick(raw);
    assert.equal(result.ok, false, raw);
    if (result.ok) continue;
    assert.equal(result.code, "nick_invalid", raw);
    assert.match(result.reason, /reserved/, raw);
  }
});

Deno.test("checkNick() refuses a nickname starting with '-'", () => {
  const result = checkNick("-bob");
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.code, "nick_invalid");
  assert.match(result.reason, /start/);
});

// nickKey

Deno.test("nickKey() is the same for nicknames differing only in case", () => {
  assert.equal(nickKey("Alice"), nickKey("aLICE"));
  assert.equal(nickKey("Bob"), "bob");
});

Deno.test("nickKey() folds compatibility forms with NFKC", () => {
  assert.equal(nickKey("ＡＬＩＣＥ"), nickKey("alice"));
  assert.equal(nickKey("ﬁsh"), nickKey("fish"));
});

Deno.test("nickKey() keeps different nicknames apart", () => {
  assert.notEqual(nickKey("alice"), nickKey("alice2"));
  assert.notEqual(nickKey("小明"), nickKey("小红"));
});

// toOneLine

Deno.test("checkNick() refuses a nickname mixing alphabets, naming them", () => {
  for (const nick of ["аlice", "pаypal", "Ωmega", "ѕегvег1x"]) {
    const checked = checkNick(nick);
    assert.ok(!checked.ok, nick);
    assert.match(checked.reason, /^Nickname mixes alphabets \(/, nick);
  }
  const cyrillic = checkNick("аlice");
  assert.ok(!cyrillic.ok);
  assert.match(cyrillic.reason, /\(Cyrillic, Latin\)/);
});

Deno.test("checkNick() accepts one script, and the CJK mixes written every day", () => {
  for (
    const nick of ["Иван", "Αθηνά", "山田タロウ", "김철수", "Tom张", "ゆき_2", "José", "مرحبا"]
  ) {
    assert.equal(checkNick(nick).ok, true, nick);
  }
});

Deno.test("nickKey() folds look-alikes, so a copy of a nickname counts as taken", () => {
  const alice = nickKey("alice");
  for (const copy of ["AIice", "a1ice", "аlісе", "ALICE", "alIce"]) {
    assert.equal(nickKey(copy), alice, copy);
  }
  assert.equal(nickKey("rnike"), nickKey("mike"));
  assert.equal(nickKey("ѕегѵег"), "server", "all-Cyrillic look-alike of a reserved name");
  assert.equal(checkNick("ѕегѵег").ok, false);
  assert.notEqual(nickKey("ivan"), nickKey("иван"), "a real Russian name is not folded away");
  for (
    const [copy, of] of [["ΤΟΜ", "tom"], ["ΜΑΧ", "max"], ["ꓮꓡꓲꓚꓰ", "alice"], ["ᎪᏞᎥᏟᎬ", "alice"]]
  ) {
    assert.equal(nickKey(copy!), nickKey(of!), `${copy} as ${of}`);
  }
  assert.equal(nickKey("a\u0331lice"), nickKey("alice"), "a mark under a Latin letter");
  assert.notEqual(nickKey("José"), nickKey("Jose"), "an accent that shows stays");
  assert.notEqual(nickKey("राम"), nickKey("रम"), "a Devanagari vowel sign is spelling");
  for (const hidden of ["alice\u034f", "alice\u{e0100}", "al\u115fice"]) {
    assert.equal(checkNick(hidden).ok, false, JSON.stringify(hidden));
  }
});

Deno.test("nickKey() folds the look-alikes an attacker registered beside real names", () => {
  // Each was accepted as a new nickname while the real one was here.
  const copies: [copy: string, of: string][] = [
    ["ɑdmin", "admin"],
    ["ɡreɡ", "greg"],
    ["pauǀ", "paul"],
    ["bᴏb", "bob"],
    ["ᴄoᴡ", "cow"],
    ["aɪice", "alice"],
    ["alɩce", "alice"],
    ["wiǀǀ", "will"],
    ["ᴏꜱᴄᴀʀ", "oscar"],
    ["ꜱerver", "server"],
    // Lower-case Cherokee is the same name as its capitals, which fold to Latin.
    ["ꮮꭵꮯꭼ", "lice"],
    ["ꮊꮮꭵꮯꭼ", "ꮊꮮꭵꮯꭼ".toUpperCase()],
  ];
  for (const [copy, of] of copies) assert.equal(nickKey(copy), nickKey(of), `${copy} as ${of}`);
});

Deno.test("checkNick() refuses look-alikes of the reserved names", () => {
  for (const copy of ["ꜱerver", "ɑdmin", "ꜱyꜱtem", "ᴏperatᴏr", "SERVER"]) {
    const result = checkNick(copy);
    assert.equal(result.ok, false, copy);
    if (!result.ok) assert.match(result.reason, /reserved/, copy);
  }
});

Deno.test("nickKey() keeps real names of other alphabets apart from Latin ones", () => {
  assert.notEqual(nickKey("иван"), nickKey("ivan"));
  assert.notEqual(nickKey("小明"), nickKey("小朋"));
  assert.notEqual(nickKey("José"), nickKey("Jose"));
  assert.notEqual(nickKey("bob"), nickKey("bab"));
});

Deno.test("nickKey() of an over-long name does no work and matches no nickname", () => {
  // 32,000 combining marks fit one WebSocket frame; the old fold was
  // quadratic in them (1.3 s of CPU per private message to such a name).
  const marks = "\u0301".repeat(32_000);
  const key = nickKey(`a${marks}`);
  assert.equal(key, nickKey(`b${marks}`), "every over-long name has one key");
  assert.notEqual(key, nickKey("a"));
  const ok = checkNick("x".repeat(NICK_MAX));
  assert.ok(ok.ok);
  assert.notEqual(key, nickKey(ok.value));
  assert.match(checkNick(`a${marks}`).ok ? "" : "too long", /too long/);
});

Deno.test("nickKey() and checkNick() stay linear on the worst input that is folded", () => {
  // The longest inputs still folded, of the characters that cost most: marks
  // after a Latin letter, look-alikes, astral letters. 20,000 rounds take a
  // few milliseconds each way; a quadratic fold takes seconds here.
  const worst = [
    "a" + "\u0301".repeat(NAME_INPUT_MAX - 1),
    "ɑ".repeat(NAME_INPUT_MAX),
    "\u{1D41A}".repeat(NAME_INPUT_MAX / 2),
    "a\u0301".repeat(NAME_INPUT_MAX / 2),
  ];
  const deadline = performance.now() + 2_000;
  for (let round = 0; round < 5_000; round++) {
    for (const input of worst) {
      nickKey(input);
      checkNick(input);
    }
  }
  assert.ok(performance.now() < deadline, "20,000 worst-case folds took more than 2 s");
});
