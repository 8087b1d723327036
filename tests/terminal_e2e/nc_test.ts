/**
 * OpenBSD's `nc`, the README's first way in, in a real terminal (tmux)
 * against a real server, with a page's member (WebSocket) on the other
 * side: the greeting, a refused and then an accepted nickname, a line each
 * way, and who is here.
 *
 * @module
 */

import assert from "node:assert/strict";
import { withServer } from "../kit/server.ts";
import { heard, member, nc, saidRow, signIn } from "./clients.ts";
import { bounded } from "../kit/tmux.ts";

Deno.test("nc: greeted, named, and a line each way with a page's member", async () => {
  await withServer(async (server) => {
    await using alice = await member(server, "alice");
    await using term = await nc(server);

    await term.waitFor("Welcome to the chat room.");
    await term.waitFor("1 here: alice (web).");
    // A taken nickname is refused, and asked for again.
    let from = await term.mark();
    await term.waitFor(/^Your nickname:/);
    await term.line("ALICE");
    await term.waitFor(/^! .*alice/i, from);
    await term.waitFor("Your nickname:", from);
    await signIn(term, "bob");
    await term.waitFor("-- Hello bob! Here: alice (web). Type /help for commands.");
    const joined = await bounded(alice.next("join", (e) => e.nick === "bob"), "bob's join");
    assert.equal(joined.via, "terminal");

    alice.send({ type: "say", text: "hi" });
    await term.waitFor(saidRow("alice", "hi"));

    await term.line("hello from nc");
    await heard(alice, "bob", "hello from nc");

    from = await term.mark();
    await term.line("/who");
    await term.waitFor("-- 2 here: alice (web), bob (terminal)", from);
    // Its own line is shown once, as typed: the server does not echo it back.
    const mine = (await term.scrollback()).filter((row) => row.includes("hello from nc"));
    assert.deepEqual(mine, ["hello from nc"]);
  });
});
