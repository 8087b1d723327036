import assert from "node:assert/strict";
import { AA, BACKGROUNDS, contrast, hsl, nickColor } from "../client/colors.ts";

Deno.test("contrast() and hsl() agree with known values", () => {
  assert.equal(contrast("#000000", "#ffffff"), 21);
  assert.equal(contrast("#777777", "#777777"), 1);
  assert.equal(hsl(0, 1, 0.5), "#ff0000");
  assert.equal(hsl(120, 1, 0.25), "#008000");
});

Deno.test("nickColor() is stable, spread over hues, and AA on every background of its scheme", () => {
  assert.equal(nickColor("alice", "light"), nickColor("alice", "light"));
  const nicks = Array.from({ length: 300 }, (_, i) => `member${i}`).concat([
    "小红",
    "alice",
    "Bob",
  ]);
  for (const scheme of ["light", "dark"] as const) {
    const colors = new Set<string>();
    for (const nick of nicks) {
      const color = nickColor(nick, scheme);
      colors.add(color);
      for (const bg of BACKGROUNDS[scheme]) {
        assert.ok(contrast(color, bg) >= AA, `${nick} ${color} on ${bg}: ${contrast(color, bg)}`);
      }
    }
    assert.ok(colors.size > 100, `${colors.size} colours for ${nicks.length} nicknames`);
  }
  assert.notEqual(nickColor("alice", "light"), nickColor("alicf", "light"));
});
