/**
 * Rooms from a terminal (issue #13), typed into a real `nc` in tmux: `/join`
 * enters a room and makes it current, plain lines go to the current room
 * only, lines from another room carry its name, `/join` of a room one is in
 * switches to it, and `/rooms`, `/topic`, `/who`, `/part` and `/help` say
 * what the README says they do. Page members (WebSocket) in one room or both
 * are the other side: what each is sent, and not sent, is checked.
 *
 * @module
 */

import assert from "node:assert/strict";
import { withServer } from "../kit/server.ts";
import { bounded } from "../kit/tmux.ts";
import { heard, member, nc, saidRow, signIn, texts } from "./clients.ts";

Deno.test("nc: /join, the current room, labels from the other, and back", async () => {
  await withServer(async (server) => {
    await using alice = await member(server, "alice"); // #lobby only
    await using carol = await member(server, "carol", "#dev"); // #lobby and #dev
    await using term = await nc(server);
    await signIn(term, "bob");

    let from = await term.mark();
    await term.line("/join #dev");
    await term.waitFor("-- You joined #dev. Here: carol (web).", from);
    await term.waitFor("-- Lines you type now go to #dev.", from);

    await term.line("only for dev");
    await heard(carol, "bob", "only for dev", "#dev");

    // In two rooms: #lobby's lines are labeled, the current room's are not.
    alice.send({ type: "say", text: "lobby news" });
    await term.waitFor(saidRow("alice", "lobby news", "#lobby"));
    carol.send({ type: "say", room: "#dev", text: "dev reply" });
    await term.waitFor(saidRow("carol", "dev reply"));

    from = await term.mark();
    await term.line("/join #lobby");
    await term.waitFor("-- Lines you type now go to #lobby.", from);
    await term.line("back in the lobby");
    await heard(alice, "bob", "back in the lobby");
    // alice was sent #lobby's line, so she would have been sent #dev's before it.
    assert.ok(!texts(alice).includes("only for dev"), `alice was sent: ${texts(alice)}`);
    carol.send({ type: "say", room: "#dev", text: "now labeled" });
    await term.waitFor(saidRow("carol", "now labeled", "#dev"));
  });
});

Deno.test("nc: /rooms, /topic, /who, /part and /help act on the current room", async () => {
  await withServer(async (server) => {
    await using alice = await member(server, "alice");
    await using carol = await member(server, "carol", "#dev");
    await using term = await nc(server);
    await signIn(term, "bob");
    let from = await term.mark();
    await term.line("/join #dev");
    await term.waitFor("-- Lines you type now go to #dev.", from);

    from = await term.mark();
    await term.line("/rooms");
    await term.waitFor("-- 2 rooms:", from);
    await term.waitFor("--   #lobby (3)", from);
    await term.waitFor("--   #dev (2)", from);

    from = await term.mark();
    await term.line("/topic Deploys at 5");
    await term.waitFor(/^\[\d\d:\d\d\] -- bob set the topic: Deploys at 5$/, from);
    const set = await bounded(carol.next("topic", (e) => e.changed === true), "the topic set");
    assert.equal(set.room, "#dev");
    assert.equal(set.topic?.text, "Deploys at 5");
    from = await term.mark();
    await term.line("/topic");
    await term.waitFor(/^-- Topic of #dev: Deploys at 5 \(set by bob, \d\d:\d\d\)$/, from);
    from = await term.mark();
    await term.line("/rooms");
    await term.waitFor("--   #dev (2): Deploys at 5", from);

    from = await term.mark();
    await term.line("/who");
    await term.waitFor("-- 2 here: carol (web), bob (terminal)", from);

    from = await term.mark();
    await term.line("/part");
    await term.waitFor("-- You left #dev.", from);
    await term.waitFor("-- Lines you type now go to #lobby.", from);
    const left = await bounded(carol.next("leave", (e) => e.nick === "bob"), "bob's leave");
    assert.equal(left.room, "#dev");
    await term.line("in the lobby again");
    await heard(alice, "bob", "in the lobby again");
    from = await term.mark();
    await term.line("/who");
    await term.waitFor("-- 3 here: alice (web), carol (web), bob (terminal)", from);

    from = await term.mark();
    await term.line("/help");
    for (const command of ["/join #ROOM", "/part [#ROOM] [WHY]", "/rooms", "/topic [TEXT]"]) {
      await term.waitFor(new RegExp(`^--   ${command.replace(/[[\]]/g, "\\$&")} +\\S`), from);
    }
    await term.waitFor("-- You are in #lobby; lines you type go to #lobby.", from);
  });
});
