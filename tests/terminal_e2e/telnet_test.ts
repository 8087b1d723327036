/**
 * Debian's `telnet` (inetutils) in a real terminal (tmux) against a real
 * server: the same sign-in and a line each way as `nc`, Chinese both ways
 * (possible only because the server asks the client for BINARY: outside
 * binary mode this telnet takes the UTF-8 byte 0x9A in 亚 for ^Z and
 * suspends itself, see `telnet.ts`), and `/quit` ending the session.
 *
 * @module
 */

import assert from "node:assert/strict";
import { withServer } from "../kit/server.ts";
import { bounded } from "../kit/tmux.ts";
import { heard, member, saidRow, signIn, telnet } from "./clients.ts";

Deno.test("telnet: named, a line each way, 大家好 both ways, and /quit ends it", async () => {
  await withServer(async (server) => {
    await using alice = await member(server, "alice");
    await using term = await telnet(server);

    await term.waitFor(`Connected to ${server.tcp.hostname}.`);
    await term.waitFor("Welcome to the chat room.");
    await signIn(term, "dan");
    await bounded(alice.next("join", (e) => e.nick === "dan"), "dan's join");

    alice.send({ type: "say", text: "hi" });
    await term.waitFor(saidRow("alice", "hi"));
    await term.line("hello from telnet");
    await heard(alice, "dan", "hello from telnet");

    alice.send({ type: "say", text: "大家好" });
    await term.waitFor(saidRow("alice", "大家好"));
    await term.line("大家好，亚洲的朋友");
    await heard(alice, "dan", "大家好，亚洲的朋友");
    // Still in line with the server: not suspended, nothing lost or doubled.
    await term.line("after the Chinese");
    await heard(alice, "dan", "after the Chinese");
    const dans = alice.events.filter((e) => e.type === "message" && e.from === "dan").length;
    assert.equal(dans, 3);

    const from = await term.mark();
    await term.line("/quit");
    await term.waitFor("-- Bye!", from);
    await term.waitFor("Connection closed by foreign host.", from);
    await term.exited();
    const left = await bounded(alice.next("leave", (e) => e.nick === "dan"), "dan's leave");
    assert.equal(left.reason, "quit");
  });
});
