/**
 * Whatever other members send, a terminal's screen shows text, never
 * commands: no escape sequence clears it, retitles it, colours it or rings
 * its bell; no carriage return or backspace overwrites a line; no line
 * break or bidi override forges one. Checked where it matters, on the
 * screens of a real `nc` and a real `telnet` in tmux, whose terminal
 * emulator would obey anything that got through, with hostile text from a
 * page's member (WebSocket) and from a terminal.
 *
 * @module
 */

import assert from "node:assert/strict";
import { withServer } from "../kit/server.ts";
import type { Terminal } from "../kit/tmux.ts";
import { heard, member, nc, saidRow, signIn, telnet } from "./clients.ts";

/** What the tests look at that a stray escape would change. */
async function state(term: Terminal): Promise<{ title: string; bell: string }> {
  const [title = "", bell = ""] = (await term.info("#{pane_title}\t#{window_bell_flag}"))
    .split("\t");
  return { title, bell };
}

/** Fails if the pane holds anything drawn with an attribute, or lost its first rows. */
async function plain(term: Terminal, first: string): Promise<void> {
  // -e: the screen with its attributes as escape sequences; plain text has none.
  const styled = await term.tmux("capture-pane", "-p", "-e", "-t", "main");
  assert.ok(!styled.includes("\u001b"), `styled cells on the screen:\n${JSON.stringify(styled)}`);
  // Not cleared: the greeting is still on the screen shown, not only in the scrollback.
  assert.ok((await term.screen()).includes(first), `the screen was cleared:\n${styled}`);
}

Deno.test("terminals: escapes and control characters from others never reach the screen raw", async () => {
  await withServer(async (server) => {
    await using alice = await member(server, "alice");
    await using bob = await nc(server);
    await using dan = await telnet(server);
    await signIn(bob, "bob");
    await signIn(dan, "dan");
    const before = [await state(bob), await state(dan)];
    assert.deepEqual(before.map((s) => s.bell), ["0", "0"]);

    const hostile: [sent: string, shown: string][] = [
      ["\u001b[2J boom", "boom"],
      ["\u001b]2;pwned\u0007titled", "titled"],
      ["ding\u0007dong", "dingdong"],
      ["secret\b\b\b\b\b\bpublic", "secretpublic"],
      ["first\rforged line", "first forged line"],
      ["two\nlines", "two lines"],
      ["\u202eevil", "evil"],
      ["\u001b[31mred\u001b[0m text", "red text"],
      ["\u009b2J c1", "c1"],
    ];
    for (const [text] of hostile) alice.send({ type: "say", text });
    alice.send({ type: "me", text: "\u001b[5mblinks" });
    alice.send({ type: "msg", to: "dan", text: "\u001b[2Jpsst" });
    alice.send({ type: "topic", room: "#lobby", text: "\u001b]0;t\u0007Deploys\u001b[K" });
    for (const term of [bob, dan]) {
      for (const [, shown] of hostile) await term.waitFor(saidRow("alice", shown));
      await term.waitFor(/^\[\d\d:\d\d\] \* alice blinks$/);
      await term.waitFor(/^\[\d\d:\d\d\] -- alice set the topic: Deploys$/);
    }
    await dan.waitFor(/^\[\d\d:\d\d\] \[private\] <alice> psst$/);

    // From a terminal too: nc passes what is typed, ESC and all.
    await bob.line("\u001b[2J\u001b]2;nc-pwned\u0007from bob\u0007");
    await heard(alice, "bob", "from bob");
    await dan.waitFor(saidRow("bob", "from bob"));

    for (const [i, term] of [bob, dan].entries()) {
      await plain(term, "Welcome to the chat room.");
      assert.deepEqual(await state(term), before[i]);
    }
    // No line was forged by a break, nor turned around by a bidi override.
    for (const term of [bob, dan]) {
      const rows = await term.scrollback();
      const forged = rows.filter((row) =>
        /^(forged|lines)\b|[\u202a-\u202e\u2066-\u2069]/.test(row)
      );
      assert.deepEqual(forged, []);
    }
  });
});
