/**
 * Integration tests of the terminal transport: real TCP connections to a
 * server on 127.0.0.1, speaking as `nc` and `telnet` would.
 *
 * @module
 */

import assert from "node:assert/strict";
import { withServer } from "./kit/server.ts";
import { connectTcp, TcpClient } from "./kit/tcp_client.ts";
import { connectWs } from "./kit/ws_client.ts";
import { INPUT_RATE } from "../server/transport/io.ts";
import { BINARY, DO, DONT, IAC, SB, SE, WILL, WONT } from "../server/transport/terminal/telnet.ts";

const ECHO = 1;
const NAWS = 31;

/** A chat line as others see it: `[HH:MM] <nick> text`. */
function said(nick: string, text: string): (line: string) => boolean {
  // A line that names the reader is marked with a leading "!".
  return (line) => /^!?\[\d\d:\d\d\] /.test(line) && line.endsWith(`<${nick}> ${text}`);
}

/** A refusal, or the welcome that should not have come instead. */
function refusedOrWelcomed(line: string): boolean {
  return line.startsWith("! ") || line.includes("-- Hello");
}

Deno.test("serveTcp() greets, says who is here and asks for a nickname", async () => {
  await withServer(async (server) => {
    await using first = await TcpClient.open(server);
    const greeting = await first.readLinesUntil("Your nickname: ");
    assert.deepEqual(greeting, [
      "Welcome to the chat room.",
      "Nobody is here yet.",
      "Your nickname: ",
    ]);
    // Before the greeting, at most telnet option requests and a CR that
    // returns over them: nothing that stays on an nc user's screen.
    const data = new TextDecoder().decode(first.data);
    assert.ok(data.startsWith("Welcome") || data.startsWith("\rWelcome"), JSON.stringify(data));
    assert.ok(first.commands.every((c) => c.length === 3 && (c[1] === DO || c[1] === WILL)));
    await first.send("alice");
    assert.match(await first.readUntil("-- Hello"), /-- Hello alice! Nobody else is here yet\./);

    await using second = await TcpClient.open(server);
    const seen = await second.readLinesUntil("Your nickname: ");
    assert.deepEqual(seen, [
      "Welcome to the chat room.",
      "1 here: alice (terminal).",
      "Your nickname: ",
    ]);
  });
});

Deno.test("serveTcp() asks again with the reason when a nickname is invalid", async () => {
  await withServer(async (server) => {
    await using client = await TcpClient.open(server);
    await client.readUntil("Your nickname: ");
    await client.send("bad nick");
    assert.match(await client.readUntil(refusedOrWelcomed), /! Nickname cannot contain spaces\.$/);
    await client.readUntil("Your nickname: ");
    await client.send("server");
    assert.match(await client.readUntil(refusedOrWelcomed), /! Nickname "server" is reserved\.$/);
    await client.readUntil("Your nickname: ");
    await client.send("good_nick");
    assert.match(await client.readUntil("-- Hello"), /-- Hello good_nick!/);
    assert.deepEqual(server.hub.members(), [{ nick: "good_nick", via: "terminal" }]);
  });
});

Deno.test("serveTcp() refuses a nickname taken in another case and asks again", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    await using other = await TcpClient.open(server);
    await other.readUntil("Your nickname: ");
    await other.send("ALICE");
    assert.match(
      await other.readUntil(refusedOrWelcomed),
      /! Nickname "alice" is taken\. Try another\.$/,
    );
    await other.readUntil("Your nickname: ");
    await other.send("bob");
    assert.match(await other.readUntil("-- Hello"), /-- Hello bob! Here: alice \(terminal\)\./);
    await alice.readUntil("-- bob joined (terminal)");
    assert.deepEqual(server.hub.members().map((m) => m.nick), ["alice", "bob"]);
  });
});

Deno.test("serveTcp() shows one member's line to another as <nick> text, not to the sender", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    await using bob = await connectTcp(server, "bob");
    await alice.send("hi");
    assert.ok(said("alice", "hi")(await bob.readUntil("<alice>")));
    await bob.send("hello alice");
    const seen = await alice.readLinesUntil("<bob>");
    assert.ok(said("bob", "hello alice")(seen.at(-1) ?? ""));
    assert.ok(!alice.lines.some((l) => l.includes("<alice> hi")), "the sender sees no echo");
  });
});

Deno.test("serveTcp() accepts LF, CR, CRLF and telnet CR NUL line endings", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    await using bob = await connectTcp(server, "bob");
    // Each line ending is followed by a command, which only works if the
    // ending left nothing in front of it (a NUL would make it plain text).
    await alice.write("one\n/me two\rthree\r\n/me four\r\0/me five\r");
    await alice.write("\n/me six\r");
    await alice.write("\0/me seven\nend\n");
    const seen = await bob.readLinesUntil(said("alice", "end"));
    const texts = seen.filter((l) => l.includes("alice")).map((l) => l.replace(/^\[..:..\] /, ""));
    assert.deepEqual(texts, [
      "<alice> one",
      "* alice two",
      "<alice> three",
      "* alice four",
      "* alice five",
      "* alice six",
      "* alice seven",
      "<alice> end",
    ]);
  });
});

Deno.test("serveTcp() reassembles a character split across two writes", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    await using bob = await connectTcp(server, "bob");
    const bytes = new TextEncoder().encode("你好世界\r\n");
    await alice.write(bytes.subarray(0, 4));
    // A round trip through the server between the halves, so that it reads
    // the first half on its own.
    await bob.send("/who");
    await bob.readUntil("-- 2 here:");
    await alice.write(bytes.subarray(4));
    assert.ok(said("alice", "你好世界")(await bob.readUntil("<alice>")));
    assert.ok(!bob.lines.some((l) => l.includes("\uFFFD")));
  });
});

Deno.test("serveTcp() keeps telnet negotiation out of the room and refuses the options", async () => {
  await withServer(async (server) => {
    await using alice = await TcpClient.open(server);
    await using bob = await connectTcp(server, "bob");
    await alice.readUntil("Your nickname: ");
    // A telnet client's opening: options offered and requested before the first line.
    await alice.write(Uint8Array.of(IAC, DO, ECHO, IAC, WILL, NAWS, IAC, WILL, BINARY));
    await alice.write(new TextEncoder().encode("alice\r\n"));
    await alice.readUntil("-- Hello alice!");
    const bobCommands = bob.commands.length;
    // Mid-line negotiation and a window size subnegotiation (80 is "P").
    await alice.write(
      Uint8Array.of(
        ...new TextEncoder().encode("hel"),
        IAC,
        SB,
        NAWS,
        0,
        80,
        0,
        24,
        IAC,
        SE,
        ...new TextEncoder().encode("lo"),
        IAC,
        WILL,
        NAWS,
        IAC,
        DO,
        3,
        ...new TextEncoder().encode("\r\n"),
      ),
    );
    // The replies go out before anything the server says after reading them.
    await alice.send("/who");
    await alice.readUntil("here:");
    // WILL BINARY answers the server's own DO BINARY, if it sent one; if not,
    // it is refused like any other offer.
    const askedBinary = alice.commands.some((c) => c[1] === DO && c[2] === BINARY);
    assert.deepEqual(
      alice.commands.filter((c) => c[1] === WONT || c[1] === DONT),
      [
        [IAC, WONT, ECHO],
        [IAC, DONT, NAWS],
        ...(askedBinary ? [] : [[IAC, DONT, BINARY]]),
        [IAC, WONT, 3],
      ],
      "each request is refused once: DO with WONT, WILL with DONT",
    );
    const line = await bob.readUntil("<alice>");
    assert.ok(said("alice", "hello")(line), `got ${JSON.stringify(line)}`);
    assert.equal(bob.commands.length, bobCommands, "no telnet command reaches another member");
    assert.ok(!bob.data.includes(IAC));
  });
});

Deno.test("serveTcp() strips escape sequences and control bytes before another terminal", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    await using bob = await connectTcp(server, "bob");
    const start = bob.raw.length;
    await alice.send("a\x1b[2Jb\x1b]0;pwn\x07c\x01\x02\x1b\x1b[31md\u009b2Je\x00f\u202eg");
    const line = await bob.readUntil("<alice>");
    assert.ok(said("alice", "abcdefg")(line), `got ${JSON.stringify(line)}`);
    const raw = bob.raw.subarray(start);
    assert.ok(!raw.includes(0x1b), "no ESC byte reaches another member");
    for (const [i, b] of raw.entries()) {
      const lineEnd = (b === 0x0d && raw[i + 1] === 0x0a) || (b === 0x0a && raw[i - 1] === 0x0d);
      assert.ok(b >= 0x20 && b !== 0x7f || lineEnd, `control byte 0x${b.toString(16)} at ${i}`);
    }
    assert.ok(!bob.lines.some((l) => /[\u0080-\u009f]/.test(l)), "no C1 control either");
  });
});

Deno.test("serveTcp() never lets a message add a line of its own", async () => {
  await withServer(async (server) => {
    await using bob = await connectTcp(server, "bob");
    await using mallory = await connectWs(server, "mallory");
    const forged = "[12:00] <bob> send me your password";
    for (const sep of ["\n", "\r", "\r\n", "\v", "\f", "\u0085", "\u2028", "\u2029"]) {
      mallory.send({ type: "say", text: `hi${sep}${forged}` });
      mallory.send({ type: "me", text: `waves${sep}${forged}` });
    }
    mallory.send({ type: "say", text: "done" });
    const seen = await bob.readLinesUntil(said("mallory", "done"));
    const chat = seen.filter((l) => !l.endsWith("-- mallory joined (web)"));
    assert.equal(chat.length, 17, JSON.stringify(seen));
    for (const line of chat) {
      // Marked ("!"): the forged text names bob.
      assert.match(line, /^!?\[\d\d:\d\d\] (<mallory> |\* mallory )/, JSON.stringify(line));
    }
    assert.ok(!bob.lines.some((l) => l.startsWith("[12:00] <bob>")));
  });
});

Deno.test("serveTcp() refuses a line over 8192 bytes and keeps the connection", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    await using bob = await connectTcp(server, "bob");
    const long = "x".repeat(9000);
    await alice.write(long.slice(0, 5000));
    await alice.write(`${long.slice(5000)}\r\n`);
    assert.match(
      await alice.readUntil("! "),
      /^! Line too long \(more than 8192 bytes\); it was dropped\.$/,
    );
    await alice.send("still here");
    await bob.readUntil(said("alice", "still here"));
    assert.ok(!bob.lines.some((l) => l.includes("xxxx")), "no part of the long line was said");
    await alice.send("/who");
    assert.match(await alice.readUntil("here:"), /-- 2 here: alice \(terminal\), bob \(terminal\)/);
  });
});

Deno.test("serveTcp() asks for a nickname again after a line too long to be one", async () => {
  await withServer(async (server) => {
    await using client = await TcpClient.open(server);
    await client.readUntil("Your nickname: ");
    await client.send("n".repeat(9000));
    // /help before joining answers with the list and a new prompt: what is
    // in front of it shows whether the refusal came with a prompt of its own.
    await client.send("/help");
    const seen = await client.readLinesUntil((l) => l.includes("//TEXT"));
    assert.match(seen[0] ?? "", /! Line too long/);
    assert.equal(
      seen[1],
      "Your nickname: -- Type a line to say it in the current room. Commands:",
      JSON.stringify(seen),
    );
    await client.send("alice");
    await client.readUntil("-- Hello alice!");
  });
});

Deno.test("serveTcp() lets backspace and DEL erase what was typed", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    await using bob = await connectTcp(server, "bob");
    await alice.send("helo\blo wrold\x7f\x7f\x7f\x7forld 你\b好");
    const line = await bob.readUntil("<alice>");
    assert.ok(said("alice", "hello world 好")(line), `got ${JSON.stringify(line)}`);
  });
});

Deno.test("serveTcp() lets go of a member that stops reading instead of queueing without end", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    // A peer that joins and then never reads: a stalled terminal, or a bot.
    const stalled = await Deno.connect({ hostname: server.tcp.hostname, port: server.tcp.port });
    try {
      await stalled.write(new TextEncoder().encode("stalled\r\n"));
      await alice.readUntil("-- stalled joined (terminal)");
      // 24 MB of chat: more than the kernel buffers on both ends hold, so
      // most of it has nowhere to go but the server's memory.
      const batch = new TextEncoder().encode(`${"y".repeat(1998)}\r\n`.repeat(500));
      for (let i = 0; i < 24; i++) await alice.write(batch);
      await alice.send("/who");
      const who = await alice.readUntil("here:");
      assert.equal(who, "-- 1 here: alice (terminal)", "the stalled member is still queued for");
    } finally {
      stalled.close();
    }
  });
});

Deno.test("serveTcp() /who lists every member with how they are connected", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    await using carol = await connectWs(server, "carol");
    await alice.readUntil("-- carol joined (web)");
    await alice.send("/who");
    assert.equal(
      await alice.readUntil("here:"),
      "-- 2 here: alice (terminal), carol (web)",
    );
    await carol.close();
    await alice.readUntil("-- carol left (quit)");
    await alice.send("/names");
    assert.equal(await alice.readUntil("here:"), "-- 1 here: alice (terminal)");
  });
});

Deno.test("serveTcp() /me shows an action to everyone, but not back to the sender, whose terminal shows it typed", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    await using bob = await connectTcp(server, "bob");
    await alice.send("/me waves");
    assert.match(await bob.readUntil("* alice"), /^\[\d\d:\d\d\] \* alice waves$/);
    await alice.send("/me");
    // What alice got between her action and the usage line: no echo of it.
    const lines = await alice.readLinesUntil("! ");
    assert.equal(lines.at(-1), "! Usage: /me ACTION");
    assert.ok(!lines.some((l) => l.includes("* alice")), lines.join("\n"));
  });
});

Deno.test("serveTcp() /nick renames and everyone sees it", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    await using bob = await connectTcp(server, "bob");
    await alice.send("/nick alicia");
    assert.match(await bob.readUntil("is now known as"), /-- alice is now known as alicia$/);
    await alice.readUntil("-- alice is now known as alicia");
    await alice.send("hello again");
    await bob.readUntil(said("alicia", "hello again"));
    await alice.send("/nick BOB");
    assert.equal(
      await alice.readUntil((l) => l.startsWith("! ") || l.includes("known as")),
      '! Nickname "bob" is taken. Try another.',
    );
    assert.deepEqual(server.hub.members().map((m) => m.nick), ["alicia", "bob"]);
  });
});

Deno.test("serveTcp() /msg reaches only its target and the sender", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    await using bob = await connectTcp(server, "bob");
    await using carol = await connectTcp(server, "carol");
    await alice.send("/msg BOB the secret is 42");
    assert.match(
      await bob.readUntil("secret"),
      /^\[\d\d:\d\d\] \[private\] <alice> the secret is 42$/,
    );
    assert.match(
      await alice.readUntil("secret"),
      /^\[\d\d:\d\d\] \[private to bob\] <alice> the secret is 42$/,
    );
    await alice.send("public news");
    const before = await carol.readLinesUntil(said("alice", "public news"));
    assert.ok(!before.some((l) => l.includes("secret")), JSON.stringify(before));
    await alice.send("/msg nobody hello");
    assert.equal(await alice.readUntil("! "), '! Nobody called "nobody" is here.');
  });
});

Deno.test("serveTcp() /quit says goodbye, closes, and others see the member leave", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    await using bob = await connectTcp(server, "bob");
    await alice.readUntil("-- bob joined");
    await alice.send("/quit gotta go");
    assert.deepEqual(await alice.readToEnd(), ["-- Bye!"]);
    assert.ok(alice.eof);
    assert.match(await bob.readUntil("left"), /-- alice left \(quit: gotta go\)$/);
    assert.deepEqual(server.hub.members().map((m) => m.nick), ["bob"]);
  });
});

Deno.test("serveTcp() /help lists every command", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    await alice.send("/help");
    const help = await alice.readLinesUntil((l) => l.includes("/quit"));
    const commands = [
      "/join",
      "/part",
      "/rooms",
      "/topic",
      "/nick",
      "/who",
      "/me",
      "/msg",
      "/help",
    ];
    for (const command of [...commands, "/quit"]) {
      assert.ok(help.some((l) => l.startsWith(`--   ${command}`)), `${command} in ${help}`);
    }
    await alice.send("/frobnicate");
    assert.equal(
      await alice.readUntil("! "),
      "! Unknown command /frobnicate. Type /help for the list.",
    );
  });
});

Deno.test("serveTcp() ends every line it writes with CRLF", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    await using bob = await connectTcp(server, "bob");
    await bob.send("hi");
    await alice.readUntil("<bob> hi");
    await alice.send("/help");
    await alice.send("/who");
    await alice.send("/nope");
    await alice.send("/quit");
    await alice.readToEnd();
    const data = alice.data;
    // A CR alone may come first, to return over telnet option requests.
    const raw = data.subarray(data[0] === 0x0d && data[1] !== 0x0a ? 1 : 0);
    let lineEnds = 0;
    for (const [i, b] of raw.entries()) {
      if (b === 0x0a) {
        assert.equal(raw[i - 1], 0x0d, `LF at ${i} without CR`);
        lineEnds++;
      }
      if (b === 0x0d) assert.equal(raw[i + 1], 0x0a, `CR at ${i} without LF`);
    }
    assert.ok(lineEnds >= 15, `only ${lineEnds} lines`);
    assert.equal(raw.at(-1), 0x0a);
  });
});

Deno.test("serveTcp() turns invalid UTF-8 into U+FFFD", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    await using bob = await connectTcp(server, "bob");
    await alice.write(Uint8Array.of(0x61, 0xc3, 0x28, 0x62, 0x80, 0x63, 0xe4, 0xbd, 0x0d, 0x0a));
    const line = await bob.readUntil("<alice>");
    assert.ok(said("alice", "a\uFFFD(b\uFFFDc\uFFFD")(line), `got ${JSON.stringify(line)}`);
  });
});

Deno.test("serveTcp() marks lines that name you, and rings the bell only after /bell", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    await using bob = await connectTcp(server, "bob");
    const bells = () => alice.raw.filter((b) => b === 7).length;
    await bob.send("ALICE: are you there?");
    assert.match(await alice.readUntil("are you there"), /^!\[\d\d:\d\d\] <bob> ALICE: are you/);
    await bob.send("/msg alice psst");
    await alice.readUntil("psst");
    assert.equal(bells(), 0, "no bell unless asked");

    await alice.send("/bell");
    await alice.readUntil("-- The bell rings");
    await bob.send("hi аlice"); // a Cyrillic а: still her name
    await bob.send("/msg alice psst again");
    await bob.send("nobody named here");
    await alice.readUntil("nobody named here");
    await alice.send("/bell off");
    await alice.readUntil("-- No bell.");
    assert.equal(bells(), 2, "one for the mention, one for the private message");
    await bob.send("alice, one more");
    await alice.readUntil("one more");
    await alice.send("/who");
    await alice.readUntil("here:");
    assert.equal(bells(), 2, "none once off");
  });
});

Deno.test("serveTcp() /history more pages back from what /history showed, to the first message", async () => {
  await withServer(async (server) => {
    await using bob = await connectTcp(server, "bob");
    await using alice = await connectTcp(server, "alice");
    for (let i = 1; i <= 8; i++) await alice.send(`m${i}`);
    await bob.readUntil("<alice> m8");
    const page = async (command: string) => {
      await bob.send(command);
      const lines = await bob.readLinesUntil((l) =>
        l.startsWith("-- End of history") || l.startsWith("-- No ")
      );
      const heading = lines.find((l) => l.startsWith("-- ") && l.endsWith(":"));
      return [
        heading,
        ...lines.filter((l) => l.startsWith("(history)")).map((l) => l.replace(/^.*<alice> /, "")),
      ];
    };
    assert.deepEqual(await page("/history 3"), ["-- Last 3 messages:", "m6", "m7", "m8"]);
    assert.deepEqual(await page("/history more 3"), ["-- 3 earlier messages:", "m3", "m4", "m5"]);
    assert.deepEqual(await page("/history more"), ["-- 2 earlier messages:", "m1", "m2"]);
    await bob.send("/history more");
    assert.equal(
      await bob.readUntil((l) => l.startsWith("-- No ")),
      "-- No older messages in #lobby.",
    );
    await bob.send("/history more x");
    assert.equal(await bob.readUntil("! "), "! Usage: /history [more] [N], N a positive number");
  });
});

Deno.test("serveTcp() reads a connection flooding empty lines at INPUT_RATE's pace past its burst", async () => {
  // The default flood limit: a server that lifts it lifts this pace too (inputRate).
  await withServer({ floodBurst: 10, floodRate: 2 }, async (server) => {
    await using alice = await connectTcp(server, "alice");
    const { burst, perSecond } = INPUT_RATE;
    const over = 20;
    // The burst and a little more, then a question: answered at once, with them.
    const started = performance.now();
    await alice.write("\n".repeat(burst + over) + "/who\n");
    await alice.readUntil("here: alice (terminal)");
    // The next one waits until the lines past the burst are paid for.
    await alice.send("/who");
    await alice.readUntil("here: alice (terminal)");
    const took = performance.now() - started;
    const floor = ((over - 1) / perSecond) * 1000;
    assert.ok(took >= floor, `answered after ${took.toFixed(0)} ms, before ${floor} ms`);
  });
});
