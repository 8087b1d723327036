/**
 * The IRC port over real sockets (issue #14): registration with and
 * without IRCv3 capabilities, every command and error numeric, IRCv3 tags
 * and CHATHISTORY, and IRC members chatting with pages (`/ws`) and
 * terminals in `#lobby` and another room. Exact numerics are read with a
 * line client (`kit/irc_client.ts`); what a real client library makes of
 * the server is checked with irc-framework (`kit/irc_framework.ts`).
 *
 * Every wait is on what a client received, never on a clock: to show that
 * something did not arrive, a `PING` is sent after it and the lines before
 * its `PONG` are all there is ({@linkcode drain}); a page is sent a marker
 * message the same way.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type ChatMessage, LOBBY, type ServerEvent } from "../common/protocol.ts";
import { roomKey } from "../common/room_key.ts";
import { NAME_INPUT_MAX } from "../common/nick.ts";
import { MemoryHistory } from "../server/history/history.ts";
import { Hub } from "../server/hub/hub.ts";
import { serveIrc } from "../server/transport/irc/irc.ts";
import { ConnectionLimits } from "../server/transport/limits.ts";
import { byteLength, LINE_MAX } from "../server/transport/irc/message.ts";
import { itemAt } from "./kit/assert.ts";
import {
  ALL_CAPS,
  command,
  connectIrc,
  drain,
  isNumeric,
  numeric,
  openIrc,
  parse,
  registerIrc,
  type TcpClient,
} from "./kit/irc_client.ts";
import { FrameworkClient } from "./kit/irc_framework.ts";
import { type Listening, UNLIMITED, withServer } from "./kit/server.ts";
import { connectTcp } from "./kit/tcp_client.ts";
import { withTempDir } from "./kit/temp_dir.ts";
import { WsClient } from "./kit/ws_client.ts";

/** The server's name in IRC, as `startChat()` sets it by default. */
const SERVER = "chat.local";

/** Opens a page's socket and joins as `nick` in `rooms`; fails if refused. */
async function page(
  at: Pick<Listening, "http">,
  nick: string,
  rooms: readonly string[] = [LOBBY],
): Promise<WsClient> {
  const client = await WsClient.open(at);
  try {
    client.send({ type: "join", nick, rooms });
    const answer = await client.nextEvent((e) => e.type === "welcome" || e.type === "error");
    if (answer.type !== "welcome") {
      throw new Error(`${nick} was refused: ${JSON.stringify(answer)}`);
    }
    return client;
  } catch (e) {
    await client.close();
    throw e;
  }
}

/** Says `text` in `room` from a page and waits until it is back: everyone in the room has it. */
async function say(client: WsClient, room: string, text: string): Promise<ChatMessage> {
  client.send({ type: "say", room, text });
  return await client.next("message", (m) => m.room === room && m.text === text);
}

let pageMarkers = 0;

/**
 * Every event a page got up to a private marker it sends itself: what the
 * server sent it before handling the marker, so also what it did not send.
 */
async function pageDrain(client: WsClient, nick: string): Promise<ServerEvent[]> {
  const marker = `page-marker-${++pageMarkers}`;
  const from = client.events.length;
  client.send({ type: "msg", to: nick, text: marker });
  await client.next("message", (m) => m.text === marker && m.from === nick);
  return client.events.slice(from).filter((e) => !(e.type === "message" && e.text === marker));
}

/** Joins `rooms` from an IRC line client and waits for each one's end of NAMES. */
async function join(client: TcpClient, ...rooms: string[]): Promise<void> {
  await client.send(`JOIN ${rooms.join(",")}`);
  for (const room of rooms) {
    await client.readUntil((line) => {
      const m = parse(line);
      return m.command === "366" && m.params[1] === room;
    });
  }
}

/** The parameters after the client's nickname of a numeric reply. */
function args(line: string): string[] {
  return parse(line).params.slice(1);
}

/** The last parameter of a line: a PRIVMSG's text, a numeric's words. */
function trailing(line: string): string {
  return parse(line).params.at(-1) ?? "";
}

/** The lines of `lines` that are the numeric `code`. */
function numerics(lines: readonly string[], code: string): string[] {
  return lines.filter((line) => isNumeric(line, code));
}

// ---------------------------------------------------------------------------
// Registration

Deno.test("serveIrc() registers a client without CAP: PASS, NICK, USER, then 001 to 005 and 422", async () => {
  await withServer(async (server) => {
    await using client = await openIrc(server);
    await client.send("PASS anything");
    await client.send("NICK alice");
    await client.send("USER alice 0 * :Alice Liddell");
    const lines = await client.readLinesUntil(numeric("422"));
    const commands = lines.map((line) => parse(line).command);
    assert.deepEqual(commands.filter((c) => c !== "005"), ["001", "002", "003", "004", "422"]);
    assert.deepEqual(commands.slice(0, 4), ["001", "002", "003", "004"]);
    for (const line of lines) {
      const m = parse(line);
      assert.equal(m.source, SERVER, line);
      assert.equal(m.params[0], "alice", line);
      assert.ok(byteLength(line) + 2 <= LINE_MAX, `over 512 bytes: ${line}`);
    }
    // "chat" is the default --network: not "Welcome to the chat chat".
    assert.equal(trailing(itemAt(lines, 0)), "Welcome to the chat network, alice");
    const tokens = numerics(lines, "005").flatMap((line) => args(line).slice(0, -1));
    const value = (name: string) =>
      tokens.find((t) => t === name || t.startsWith(`${name}=`))?.split("=")[1];
    assert.equal(value("CHANTYPES"), "#");
    assert.equal(value("NETWORK"), "chat");
    assert.equal(value("CASEMAPPING"), "ascii");
    assert.equal(value("NICKLEN"), "24");
    assert.ok(Number(value("CHANNELLEN")) >= 33, `CHANNELLEN=${value("CHANNELLEN")}`);
    assert.equal(value("TOPICLEN"), "300");
    assert.ok(tokens.some((t) => t.startsWith("PREFIX")), "PREFIX");
    assert.ok(tokens.includes("UTF8ONLY"), "UTF8ONLY");
    for (const line of numerics(lines, "005")) {
      assert.equal(trailing(line), "are supported by this server");
    }
    assert.deepEqual(server.hub.whois("alice"), { nick: "alice", via: "irc", rooms: [] });
  });
});

Deno.test("serveIrc() holds registration until CAP END, and acknowledges or refuses a CAP REQ whole", async () => {
  await withServer(async (server) => {
    await using client = await openIrc(server);
    await client.send("CAP LS 302");
    const ls = parse(await client.readUntil(command("CAP")));
    assert.deepEqual(ls.params.slice(0, 2), ["*", "LS"]);
    assert.deepEqual(itemAt(ls.params, -1).split(" ").sort(), [...ALL_CAPS].sort());
    await client.send("NICK bob");
    await client.send("USER bob 0 * :Bob");
    assert.deepEqual(await drain(client), [], "registered before CAP END");

    await client.send("CAP REQ :server-time no-such-cap");
    const nak = parse(await client.readUntil(command("CAP")));
    assert.deepEqual(nak.params, ["*", "NAK", "server-time no-such-cap"]);
    await client.send("CAP REQ :server-time message-tags");
    const ack = parse(await client.readUntil(command("CAP")));
    assert.deepEqual(ack.params, ["*", "ACK", "server-time message-tags"]);
    await client.send("CAP REQ :-message-tags");
    await client.readUntil(command("CAP"));
    await client.send("CAP LIST");
    const list = parse(await client.readUntil(command("CAP")));
    assert.deepEqual(list.params, ["*", "LIST", "server-time"]);
    assert.deepEqual(await drain(client), [], "registered before CAP END");
    assert.equal(server.hub.whois("bob"), undefined);

    await client.send("CAP END");
    const welcome = await client.readLinesUntil(numeric("422"));
    assert.equal(parse(itemAt(welcome, 0)).command, "001");
    assert.equal(server.hub.whois("bob")?.via, "irc");
    // Asked again once registered: the nickname, not "*".
    await client.send("CAP LIST");
    assert.deepEqual(parse(await client.readUntil(command("CAP"))).params, [
      "bob",
      "LIST",
      "server-time",
    ]);
  });
});

Deno.test("serveIrc() shows the --motd file as 375, 372 and 376, at registration and on MOTD", async () => {
  await withTempDir(async (dir) => {
    const motd = `${dir}/motd.txt`;
    await Deno.writeTextFile(motd, "Welcome to the test network.\nBe kind.\n");
    await withServer({ motd }, async (server) => {
      await using client = await openIrc(server);
      await registerIrc(client, "carol");
      const lines = client.lines;
      const tail = lines.slice(lines.findIndex((line) => isNumeric(line, "375")));
      assert.deepEqual(tail.map((line) => [parse(line).command, trailing(line)]), [
        ["375", `- ${SERVER} Message of the day - `],
        ["372", "- Welcome to the test network."],
        ["372", "- Be kind."],
        ["376", "End of /MOTD command."],
      ]);
      assert.deepEqual(numerics(lines, "422"), []);
      await client.send("MOTD");
      const again = await client.readLinesUntil(numeric("376"));
      assert.deepEqual(again.map((line) => parse(line).command), ["375", "372", "372", "376"]);
    });
  });
});

Deno.test("serveIrc() refuses a nickname with 432 or 433 as every transport does, and takes another", async () => {
  await withServer(async (server) => {
    await using alice = await page(server, "alice");
    await using client = await openIrc(server);
    await client.send("NICK ALICE");
    await client.send("USER x 0 * :X");
    const taken = args(await client.readUntil(numeric("433")));
    assert.deepEqual(taken.slice(0, 1), ["ALICE"]);
    assert.match(itemAt(taken, -1), /taken/);
    for (const nick of ["server", "a".repeat(25), "-dash", "ａｌｉｃｅ"]) {
      await client.send(`NICK ${nick}`);
      const refused = await client.readUntil((line) =>
        isNumeric(line, "432") || isNumeric(line, "433") || isNumeric(line, "001")
      );
      assert.ok(!isNumeric(refused, "001"), `${nick} was taken: ${refused}`);
      assert.equal(args(refused)[0], nick, refused);
    }
    await client.send("NICK");
    assert.equal(trailing(await client.readUntil(numeric("431"))), "No nickname given");
    await client.send("NICK bob");
    await client.readUntil(numeric("001"));
    assert.equal(server.hub.whois("bob")?.via, "irc");

    // Once registered, the same rules, and the old name is kept.
    await client.send("NICK Alice");
    assert.equal(args(await client.readUntil(numeric("433")))[0], "Alice");
    await client.send("NICK a:b");
    assert.equal(args(await client.readUntil(numeric("432")))[0], "a:b");
    assert.equal(server.hub.whois("bob")?.nick, "bob");
    assert.deepEqual(await pageDrain(alice, "alice"), []);
  });
});

Deno.test("serveIrc() answers a nickname change past its address's join rate with 438, and keeps the name", async () => {
  await withServer({ joinRate: 1, maxPerIp: 2 }, async (server) => {
    await using client = await openIrc(server);
    await client.send("NICK bob");
    await client.send("USER x 0 * :X");
    await client.readUntil(numeric("001"));
    await client.send("NICK bobby");
    await client.readUntil((line) => parse(line).command === "NICK");
    await client.send("NICK robert");
    const refused = args(await client.readUntil(numeric("438")));
    assert.equal(refused[0], "robert");
    assert.match(itemAt(refused, -1), /^Too many joins and nickname changes from your address/);
    assert.equal(server.hub.whois("bobby")?.via, "irc");
  });
});

Deno.test("serveIrc() closes a connection not registered within the join timeout, with ERROR", async () => {
  await withServer({ joinTimeout: 0.2 }, async (server) => {
    await using nickOnly = await openIrc(server);
    await nickOnly.send("NICK slow");
    await using negotiating = await openIrc(server);
    await negotiating.send("CAP LS 302");
    await negotiating.send("NICK slower");
    await negotiating.send("USER slower 0 * :S");
    for (const client of [nickOnly, negotiating]) {
      const rest = await client.readToEnd();
      assert.equal(rest.at(-1), `:${SERVER} ERROR :Closing link: not registered within 0.2 s`);
    }
    assert.equal(server.hub.whois("slower"), undefined);
  });
});

Deno.test("serveIrc() answers commands before registration with 451, and USER or PASS after with 462", async () => {
  await withServer(async (server) => {
    await using client = await openIrc(server);
    for (const line of ["JOIN #lobby", "PRIVMSG #lobby :hi", "WHOIS alice", "LIST"]) {
      await client.send(line);
      assert.deepEqual(args(await client.readUntil(numeric("451"))), ["You have not registered"]);
    }
    await client.send("USER few");
    assert.deepEqual(args(await client.readUntil(numeric("461"))).slice(0, 1), ["USER"]);
    await registerIrc(client, "dave");
    await client.send("USER dave 0 * :Dave");
    assert.equal(trailing(await client.readUntil(numeric("462"))), "You may not reregister");
    await client.send("PASS secret");
    await client.readUntil(numeric("462"));
    for (const name of ["JOIN", "PART", "TOPIC", "MODE", "CHATHISTORY", "PING"]) {
      await client.send(name);
      const refused = args(await client.readUntil(numeric("461")));
      assert.deepEqual(refused, [name, "Not enough parameters"]);
    }
    await client.send("FROBNICATE now");
    assert.deepEqual(args(await client.readUntil(numeric("421"))), [
      "FROBNICATE",
      "Unknown command",
    ]);
    await client.send("WHOIS");
    await client.readUntil(numeric("431"));
  });
});

Deno.test("serveIrc() answers a loop of CAP LS, PING or unregistered commands only up to its local bucket", async () => {
  await withServer(async (server) => {
    for (const line of ["CAP LS 302", "PING x", "PRIVMSG #lobby :hi"]) {
      await using client = await openIrc(server);
      await client.write(`${line}\r\n`.repeat(300) + "QUIT\r\n");
      const rest = (await client.readToEnd()).map(parse);
      const answers = rest.filter((m) => m.command !== "263" && m.command !== "ERROR");
      // The bucket's burst (80), then at most one "try again" a second.
      assert.ok(answers.length <= 80, `${line}: ${answers.length} answers`);
      assert.ok(answers.length >= 70, `${line}: ${answers.length} answers`);
      assert.ok(rest.filter((m) => m.command === "263").length <= 2, line);
    }
  });
});

Deno.test("serveIrc() cuts off an HTTP request at its first line, answering nothing", async () => {
  await withServer(async (server) => {
    for (const request of ["GET / HTTP/1.1", "POST / HTTP/1.1", "get /index.html HTTP/1.0"]) {
      await using client = await openIrc(server);
      await client.write(`${request}\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\nNICK x\r\n`);
      await client.readToEnd();
      assert.equal(client.raw.length, 0, `${request}: ${JSON.stringify(client.unread)}`);
    }
    // After registration "GET" is only an unknown command.
    await using client = await connectIrc(server, "erin");
    await client.send("GET / HTTP/1.1");
    await client.readUntil(numeric("421"));
  });
});

// ---------------------------------------------------------------------------
// Channels

Deno.test("serveIrc() JOINs several channels at once, PARTs with a reason, and JOIN 0 leaves them all", async () => {
  await withServer(async (server) => {
    await using carol = await page(server, "carol", [LOBBY, "#dev"]);
    await using alice = await connectIrc(server, "alice");
    await alice.send("JOIN #lobby,#dev,#ops");
    const joined = await alice.readLinesUntil((line) =>
      isNumeric(line, "366") && line.includes("#ops")
    );
    const joins = joined.filter(command("JOIN")).map((line) => parse(line));
    assert.deepEqual(joins.map((m) => [m.source, m.params]), [
      [`alice!irc@${SERVER}`, ["#lobby"]],
      [`alice!irc@${SERVER}`, ["#dev"]],
      [`alice!irc@${SERVER}`, ["#ops"]],
    ]);
    assert.deepEqual(
      numerics(joined, "353").map((line) => args(line)),
      [["=", "#lobby", "carol alice"], ["=", "#dev", "carol alice"], ["=", "#ops", "alice"]],
    );
    for (const room of [LOBBY, "#dev"]) {
      const seen = await carol.next("join", (e) => e.room === room);
      assert.deepEqual([seen.nick, seen.via], ["alice", "irc"]);
    }
    assert.deepEqual(server.hub.whois("alice")?.rooms, [LOBBY, "#dev", "#ops"]);

    // Joining a channel one is in says nothing; a name without # is 403.
    await alice.send("JOIN #LOBBY");
    assert.deepEqual(await drain(alice), []);
    await alice.send("JOIN lobby,#");
    const bad = await drain(alice);
    assert.deepEqual(bad.map((line) => [parse(line).command, args(line)[0]]), [
      ["403", "lobby"],
      ["403", "#"],
    ]);

    await alice.send("PART #dev :see you later");
    const part = parse(await alice.readUntil(command("PART")));
    assert.deepEqual([part.source, part.params], [`alice!irc@${SERVER}`, [
      "#dev",
      "see you later",
    ]]);
    const left = await carol.next("leave", (e) => e.room === "#dev");
    assert.deepEqual([left.nick, left.via, left.reason], ["alice", "irc", "part: see you later"]);
    await alice.send("PART #dev");
    assert.deepEqual(args(await alice.readUntil(numeric("442"))), [
      "#dev",
      "You're not on that channel",
    ]);

    await alice.send("JOIN 0");
    const parts = (await drain(alice)).map((line) => parse(line));
    assert.deepEqual(parts.map((m) => [m.command, m.params[0]]), [["PART", "#lobby"], [
      "PART",
      "#ops",
    ]]);
    await carol.next("leave", (e) => e.room === LOBBY && e.nick === "alice");
    assert.deepEqual(server.hub.whois("alice")?.rooms, []);
    assert.deepEqual([...server.hub.rooms()].map((r) => r.name).sort(), ["#dev", LOBBY]);
  });
});

Deno.test("serveIrc() sends PRIVMSG and NOTICE to a channel and to a nick, across every transport", async () => {
  await withServer(async (server) => {
    await using carol = await page(server, "carol");
    await using dave = await connectTcp(server, "dave");
    await using alice = await connectIrc(server, "alice");
    await using bob = await connectIrc(server, "bob", { caps: ["echo-message"] });
    await join(alice, LOBBY);
    await join(bob, LOBBY);

    await alice.send("PRIVMSG #lobby :hello all");
    const heard = await carol.next("message", (m) => m.text === "hello all");
    assert.deepEqual([heard.from, heard.room, heard.to], ["alice", LOBBY, undefined]);
    await dave.readUntil((line) => line.endsWith("<alice> hello all"));
    const line = parse(await bob.readUntil(command("PRIVMSG", "alice")));
    assert.deepEqual([line.source, line.params], [`alice!irc@${SERVER}`, [LOBBY, "hello all"]]);
    // Without echo-message the sender is not sent its own line; with it, it is.
    assert.deepEqual((await drain(alice)).filter(command("PRIVMSG")), []);
    await bob.send("PRIVMSG #lobby :echoed");
    const echoed = parse(await bob.readUntil(command("PRIVMSG", "bob")));
    assert.deepEqual(echoed.params, [LOBBY, "echoed"]);

    await alice.send("NOTICE #lobby :a notice");
    const notice = await carol.next("message", (m) => m.text === "a notice");
    assert.equal(notice.notice, true);
    await dave.readUntil((line) => line.endsWith("-alice- a notice"));
    assert.deepEqual(parse(await bob.readUntil(command("NOTICE", "alice"))).params, [
      LOBBY,
      "a notice",
    ]);

    // Private, both ways, with a page and a terminal.
    await alice.send("PRIVMSG carol :psst carol");
    const whisper = await carol.next("message", (m) => m.text === "psst carol");
    assert.deepEqual([whisper.from, whisper.to, whisper.room], ["alice", "carol", undefined]);
    carol.send({ type: "msg", to: "alice", text: "psst alice" });
    assert.deepEqual(parse(await alice.readUntil(command("PRIVMSG", "carol"))).params, [
      "alice",
      "psst alice",
    ]);
    await alice.send("PRIVMSG dave :psst dave");
    await dave.readUntil((line) => line.endsWith("[private] <alice> psst dave"));
    await dave.send("/msg alice psst from dave");
    const fromDave = parse(await alice.readUntil(command("PRIVMSG", "dave")));
    assert.deepEqual([fromDave.source, fromDave.params], [`dave!terminal@${SERVER}`, [
      "alice",
      "psst from dave",
    ]]);
    await alice.send("NOTICE bob :private notice");
    assert.deepEqual(parse(await bob.readUntil(command("NOTICE", "alice"))).params, [
      "bob",
      "private notice",
    ]);
    // To two targets at once; a target written again, in any case or look-alike, is sent once.
    await alice.send("PRIVMSG carol,bob,CAROL :to both");
    await carol.next("message", (m) => m.text === "to both" && m.to === "carol");
    await bob.readUntil((line) => trailing(line) === "to both");
    await alice.send("PRIVMSG #lobby,#LOBBY,#\u04c0obby :once");
    await bob.readUntil((line) => trailing(line) === "once");
    // A nickname that folds as a channel does (＃lobby, with a full-width sign) is not that channel.
    await alice.send("PRIVMSG \uff03lobby,#lobby :not a nick");
    await bob.readUntil((line) => trailing(line) === "not a nick");
    assert.deepEqual(args(await alice.readUntil(command("401"))), [
      "\uff03lobby",
      "No such nick/channel",
    ]);
    await alice.send("PRIVMSG carol :barrier");
    await carol.next("message", (m) => m.text === "barrier");
    assert.equal(
      carol.events.filter((e) => e.type === "message" && e.text === "to both").length,
      1,
    );
    assert.equal(carol.events.filter((e) => e.type === "message" && e.text === "once").length, 1);

    // The refusals.
    const refusals: [string, string, string[]][] = [
      ["PRIVMSG nobody :x", "401", ["nobody", "No such nick/channel"]],
      ["PRIVMSG #dev :x", "404", ["#dev", "Cannot send to channel"]],
      ["PRIVMSG", "411", ["No recipient given (PRIVMSG)"]],
      ["NOTICE", "411", ["No recipient given (NOTICE)"]],
      ["PRIVMSG #lobby", "412", ["No text to send"]],
      ["PRIVMSG #lobby :", "412", ["No text to send"]],
      ["PRIVMSG #lobby :   ", "412", ["No text to send"]],
    ];
    for (const [sent, code, params] of refusals) {
      await alice.send(sent);
      const got = await drain(alice);
      assert.deepEqual(got.map((l) => [parse(l).command, args(l)]), [[code, params]], sent);
    }
    // Two different names too long to be anyone's: each is answered.
    const [long1, long2] = ["x".repeat(NAME_INPUT_MAX + 1), "y".repeat(NAME_INPUT_MAX + 1)];
    await alice.send(`PRIVMSG ${long1},${long2} :x`);
    const unknown = (await drain(alice)).filter(command("401"));
    assert.equal(unknown.length, 2, unknown.join("\n"));
    // A NOTICE is never answered by an error (RFC 2812), to nobody or nowhere.
    await alice.send("NOTICE nobody :x");
    await alice.send("NOTICE #dev :x");
    assert.deepEqual(await drain(alice), []);
    assert.ok(!carol.events.some((e) => e.type === "message" && e.text === "x"));
  });
});

Deno.test("serveIrc() delivers a PRIVMSG a client sends itself, once, with or without echo-message", async () => {
  await withServer(async (server) => {
    await using plain = await connectIrc(server, "plain");
    await using echo = await connectIrc(server, "echo", { caps: ["echo-message"] });
    for (const [client, nick] of [[plain, "plain"], [echo, "echo"]] as const) {
      await client.send(`PRIVMSG ${nick} :note to self`);
      const got = (await drain(client)).filter(command("PRIVMSG"));
      assert.deepEqual(got.map((line) => [parse(line).source, ...parse(line).params]), [
        [`${nick}!irc@${SERVER}`, nick, "note to self"],
      ], nick);
    }
  });
});

Deno.test("serveIrc() ignores the source a client puts on its line: it speaks as itself", async () => {
  await withServer(async (server) => {
    await using carol = await page(server, "carol");
    await using alice = await connectIrc(server, "alice");
    await join(alice, LOBBY);
    await alice.send(":carol!web@chat.local PRIVMSG #lobby :spoofed");
    const got = await carol.next("message", (m) => m.text === "spoofed");
    assert.equal(got.from, "alice");
  });
});

Deno.test("serveIrc() renames with NICK, and renames cross to pages and terminals and back", async () => {
  await withServer(async (server) => {
    await using carol = await page(server, "carol");
    await using dave = await connectTcp(server, "dave");
    await using alice = await connectIrc(server, "alice");
    await join(alice, LOBBY);
    await alice.send("NICK alice2");
    const nick = parse(await alice.readUntil(command("NICK")));
    assert.deepEqual([nick.source, nick.params], [`alice!irc@${SERVER}`, ["alice2"]]);
    const renamed = await carol.next("rename");
    assert.deepEqual([renamed.from, renamed.to], ["alice", "alice2"]);
    await dave.readUntil((line) => line.endsWith("-- alice is now known as alice2"));
    await alice.send("PRIVMSG #lobby :new name");
    assert.equal((await carol.next("message", (m) => m.text === "new name")).from, "alice2");

    carol.send({ type: "nick", nick: "carol2" });
    const fromPage = parse(await alice.readUntil(command("NICK", "carol")));
    assert.deepEqual([fromPage.source, fromPage.params], [`carol!web@${SERVER}`, ["carol2"]]);
    await dave.send("/nick dave2");
    const fromTerminal = parse(await alice.readUntil(command("NICK", "dave")));
    assert.deepEqual([fromTerminal.source, fromTerminal.params], [`dave!terminal@${SERVER}`, [
      "dave2",
    ]]);
    // Numerics now address the new nickname.
    await alice.send("FOO");
    assert.equal(parse(await alice.readUntil(numeric("421"))).params[0], "alice2");
  });
});

Deno.test("serveIrc() QUIT closes with ERROR and others see one QUIT, whichever channels they share", async () => {
  await withServer(async (server) => {
    await using carol = await page(server, "carol", [LOBBY, "#dev"]);
    await using dave = await connectTcp(server, "dave");
    await using bob = await connectIrc(server, "bob");
    await join(bob, LOBBY, "#dev");
    await using alice = await connectIrc(server, "alice");
    await join(alice, LOBBY, "#dev");
    await alice.send("QUIT :bye now");
    const rest = await alice.readToEnd();
    assert.equal(rest.at(-1), `:${SERVER} ERROR :Closing link: Quit: bye now`);
    for (const room of [LOBBY, "#dev"]) {
      const left = await carol.next("leave", (e) => e.nick === "alice" && e.room === room);
      assert.equal(left.reason, "quit: bye now");
    }
    await dave.readUntil((line) => line.endsWith("-- alice left (quit: bye now)"));
    const quit = parse(await bob.readUntil(command("QUIT", "alice")));
    assert.deepEqual([quit.source, quit.params], [`alice!irc@${SERVER}`, ["Quit: bye now"]]);
    assert.deepEqual((await drain(bob)).filter(command("QUIT")), [], "a second QUIT");

    // Others leaving: a page closing, a terminal's /quit.
    await carol.close();
    const lost = parse(await bob.readUntil(command("QUIT", "carol")));
    assert.equal(lost.source, `carol!web@${SERVER}`);
    await dave.send("/quit gone fishing");
    const gone = parse(await bob.readUntil(command("QUIT", "dave")));
    assert.deepEqual([gone.source, gone.params], [`dave!terminal@${SERVER}`, [
      "Quit: gone fishing",
    ]]);
    // A QUIT before registration closes too.
    await using early = await openIrc(server);
    await early.send("QUIT");
    assert.deepEqual(await early.readToEnd(), [`:${SERVER} ERROR :Closing link: Quit`]);
  });
});

Deno.test("serveIrc() tells one QUIT for a member leaving shared channels at different instants", async () => {
  // Each room's leave is stamped with its own time: here, each a millisecond later.
  let clock = Date.now();
  const hub = new Hub({ now: () => clock++, ...UNLIMITED });
  const irc = serveIrc(hub, { hostname: "127.0.0.1", port: 0, limits: new ConnectionLimits() });
  try {
    await using bob = await connectIrc({ irc: irc.addr }, "bob");
    await join(bob, "#a", "#b", "#c");
    await using alice = await connectIrc({ irc: irc.addr }, "alice");
    await join(alice, "#a", "#b", "#c");
    await alice.send("QUIT :bye");
    await alice.readToEnd();
    const quits = (await drain(bob)).filter(command("QUIT"));
    assert.deepEqual(quits, [`:alice!irc@${SERVER} QUIT :Quit: bye`]);
  } finally {
    hub.close("done");
    await irc.close();
  }
});

Deno.test("serveIrc() answers PING with PONG, PINGs a silent client and drops one that does not answer", async () => {
  await withServer({ ircPingMs: 150 }, async (server) => {
    await using watcher = await connectIrc(server, "watcher");
    await join(watcher, LOBBY);
    await watcher.send("PING :are you there");
    const pong = parse(await watcher.readUntil(command("PONG")));
    assert.deepEqual([pong.source, pong.params], [SERVER, [SERVER, "are you there"]]);
    await watcher.send("PING");
    await watcher.readUntil(numeric("461"));
    // The watcher answers every PING; the silent one answers none.
    const answering = (async () => {
      for (let i = 0; i < 3; i++) {
        const ping = parse(await watcher.readUntil(command("PING")));
        // No source, as ngircd and ergo send it.
        assert.deepEqual([ping.source, ping.params], [undefined, [SERVER]]);
        await watcher.send(`PONG :${ping.params[0]}`);
      }
    })();
    await using silent = await connectIrc(server, "silent");
    await join(silent, LOBBY);
    const rest = await silent.readToEnd();
    assert.ok(rest.some(command("PING")), `no PING before the drop: ${rest.join(" | ")}`);
    const quit = parse(await watcher.readUntil(command("QUIT", "silent")));
    assert.deepEqual(quit.params, ["connection lost: no answer"]);
    await answering;
    assert.equal(server.hub.whois("silent"), undefined);
    assert.equal(server.hub.whois("watcher")?.via, "irc");
    await drain(watcher);
  });
});

Deno.test("serveIrc() answers a JOIN of a room past 50 members with all its NAMES, before the replay and the next reply", async () => {
  await withServer({ maxPerIp: 100 }, async (server) => {
    const terminals: TcpClient[] = [];
    try {
      for (let i = 0; i < 60; i++) terminals.push(await connectTcp(server, `t${i}`));
      await using carol = await page(server, "carol");
      await say(carol, LOBBY, "said before");
      await using alice = await connectIrc(server, "alice", { caps: ["batch", "server-time"] });
      // Pipelined, as clients send them: the JOIN and the next command in one write.
      await alice.write("JOIN #lobby\r\nPING :next\r\n");
      const lines = await alice.readLinesUntil(command("PONG"));
      const order = lines.map((line) => parse(line).command);
      assert.deepEqual(order.slice(0, 1), ["JOIN"]);
      const end = order.indexOf("366");
      assert.ok(end > 0, `no 366 before the next reply: ${order.join(" ")}`);
      assert.ok(order.slice(1, end).every((c) => c === "353"), order.join(" "));
      assert.ok(order.indexOf("BATCH") > end, `the replay before NAMES: ${order.join(" ")}`);
      const names = numerics(lines, "353").flatMap((line) => trailing(line).split(" "));
      assert.equal(names.length, 62);
      assert.deepEqual(
        new Set(names),
        new Set([...terminals.map((_, i) => `t${i}`), "carol", "alice"]),
      );
    } finally {
      for (const terminal of terminals) await terminal.close();
    }
  });
});

Deno.test("serveIrc() reads and sets TOPIC (331, 332, 333), and topics cross both ways", async () => {
  await withServer(async (server) => {
    await using bob = await page(server, "bob", [LOBBY, "#dev"]);
    await using dave = await connectTcp(server, "dave");
    await dave.send("/join #dev");
    await dave.readUntil("-- Lines you type now go to #dev.");
    await using alice = await connectIrc(server, "alice");
    await join(alice, "#dev");
    await alice.send("TOPIC #dev");
    assert.deepEqual(args(await alice.readUntil(numeric("331"))), ["#dev", "No topic is set"]);
    await alice.send("TOPIC #dev :Deploys at 5");
    const set = parse(await alice.readUntil(command("TOPIC")));
    assert.deepEqual([set.source, set.params], [`alice!irc@${SERVER}`, ["#dev", "Deploys at 5"]]);
    const seen = await bob.next("topic", (e) => e.changed === true);
    assert.deepEqual([seen.room, seen.topic?.text, seen.topic?.by], [
      "#dev",
      "Deploys at 5",
      "alice",
    ]);
    await dave.readUntil((line) => line.endsWith("-- alice set the topic: Deploys at 5"));
    await alice.send("TOPIC #dev");
    const [topic, by] = [
      await alice.readUntil(numeric("332")),
      await alice.readUntil(numeric("333")),
    ];
    assert.deepEqual(args(topic), ["#dev", "Deploys at 5"]);
    // The setter with its host while it is here (irssi shows "set by alice [irc@chat.local]").
    assert.deepEqual(args(by).slice(0, 2), ["#dev", "alice!irc@chat.local"]);
    assert.ok(Math.abs(Number(args(by)[2]) - Date.now() / 1000) < 60, by);

    // Set from a page and from a terminal: IRC sees who set it.
    bob.send({ type: "topic", room: "#dev", text: "Deploys at 6" });
    const fromPage = parse(await alice.readUntil(command("TOPIC", "bob")));
    assert.deepEqual([fromPage.source, fromPage.params], [`bob!web@${SERVER}`, [
      "#dev",
      "Deploys at 6",
    ]]);
    await dave.send("/topic Deploys at 7");
    const fromTerminal = parse(await alice.readUntil(command("TOPIC", "dave")));
    assert.deepEqual(fromTerminal.params, ["#dev", "Deploys at 7"]);

    // A newcomer is told the topic as it joins.
    await using carol = await connectIrc(server, "carol");
    await carol.send("JOIN #dev");
    const joined = await carol.readLinesUntil(numeric("366"));
    assert.deepEqual(joined.map((line) => parse(line).command), [
      "JOIN",
      "332",
      "333",
      "353",
      "366",
    ]);
    assert.equal(trailing(itemAt(joined, 1)), "Deploys at 7");

    // Formatting is taken out; a channel one is not in is 442.
    await alice.send("TOPIC #dev :\x02bold\x02 \x0304red\x03 move");
    await bob.next("topic", (e) => e.topic?.text === "bold red move");
    await alice.send("TOPIC #lobby :not mine");
    assert.deepEqual(args(await alice.readUntil(numeric("442"))).slice(0, 1), [LOBBY]);
  });
});

Deno.test("serveIrc() lists a channel with NAMES (353, 366) and WHO (352, 315), saying how each is connected", async () => {
  await withServer(async (server) => {
    await using carol = await page(server, "carol");
    await using dave = await connectTcp(server, "dave");
    await using alice = await connectIrc(server, "alice");
    await join(alice, LOBBY);
    await alice.send("NAMES #lobby");
    const names = await alice.readLinesUntil(numeric("366"));
    assert.deepEqual(names.map((line) => args(line)), [
      ["=", LOBBY, "carol dave alice"],
      [LOBBY, "End of /NAMES list."],
    ]);
    await alice.send("NAMES #elsewhere");
    assert.deepEqual((await drain(alice)).map((line) => args(line)), [[
      "#elsewhere",
      "End of /NAMES list.",
    ]]);

    await alice.send("WHO #lobby");
    const who = await alice.readLinesUntil(numeric("315"));
    assert.deepEqual(who.map((line) => [parse(line).command, ...args(line)]), [
      ["352", LOBBY, "web", SERVER, SERVER, "carol", "H", "0 carol (web)"],
      ["352", LOBBY, "terminal", SERVER, SERVER, "dave", "H", "0 dave (terminal)"],
      ["352", LOBBY, "irc", SERVER, SERVER, "alice", "H", "0 alice (IRC)"],
      ["315", LOBBY, "End of /WHO list."],
    ]);
    await alice.send("WHO dave");
    assert.deepEqual((await drain(alice)).map((line) => [parse(line).command, ...args(line)]), [
      ["352", "*", "terminal", SERVER, SERVER, "dave", "H", "0 dave (terminal)"],
      ["315", "dave", "End of /WHO list."],
    ]);
    await alice.send("WHO nobody");
    assert.deepEqual((await drain(alice)).map((line) => parse(line).command), ["315"]);
    // The page and the terminal see the IRC member as such.
    carol.send({ type: "who" });
    const members = await carol.next("members");
    assert.deepEqual(members.members.map((m) => `${m.nick} ${m.via}`), [
      "carol web",
      "dave terminal",
      "alice irc",
    ]);
    await dave.send("/who");
    await dave.readUntil("-- 3 here: carol (web), dave (terminal), alice (irc)");
  });
});

Deno.test("serveIrc() answers WHOIS with 311, 319, 312 and 318, saying web, terminal or IRC", async () => {
  await withServer(async (server) => {
    await using _carol = await page(server, "carol", [LOBBY, "#dev"]);
    await using _dave = await connectTcp(server, "dave");
    await using alice = await connectIrc(server, "alice");
    const cases: [string, string, string, string][] = [
      ["carol", "web", "carol (web)", "connected from a web browser"],
      ["dave", "terminal", "dave (terminal)", "connected from a terminal (nc/telnet)"],
      ["alice", "irc", "alice (IRC)", "connected from an IRC client"],
    ];
    for (const [nick, user, real, how] of cases) {
      await alice.send(`WHOIS ${nick.toUpperCase()}`);
      const lines = await alice.readLinesUntil(numeric("318"));
      const by = (code: string) => args(itemAt(numerics(lines, code), 0));
      assert.deepEqual(by("311"), [nick, user, SERVER, "*", real]);
      assert.deepEqual(by("312"), [nick, SERVER, how]);
      assert.deepEqual(by("318"), [nick, "End of /WHOIS list."]);
    }
    await alice.send("WHOIS carol");
    const rooms = await alice.readLinesUntil(numeric("318"));
    assert.deepEqual(args(itemAt(numerics(rooms, "319"), 0)), ["carol", `${LOBBY} #dev`]);
    // The two-parameter form (server, nick) too; an unknown nick is 401 and 318.
    await alice.send(`WHOIS ${SERVER} dave`);
    await alice.readUntil((line) => isNumeric(line, "311") && args(line)[0] === "dave");
    await alice.readUntil(numeric("318"));
    await alice.send("WHOIS nobody");
    assert.deepEqual((await drain(alice)).map((line) => [parse(line).command, args(line)[0]]), [
      ["401", "nobody"],
      ["318", "nobody"],
    ]);
  });
});

Deno.test("serveIrc() LISTs the live channels (321, 322, 323) with their sizes and topics", async () => {
  await withServer(async (server) => {
    await using carol = await page(server, "carol", [LOBBY, "#dev"]);
    carol.send({ type: "topic", room: "#dev", text: "Deploys" });
    await carol.next("topic", (e) => e.changed === true);
    await using alice = await connectIrc(server, "alice");
    await join(alice, LOBBY);
    await alice.send("LIST");
    const list = await alice.readLinesUntil(numeric("323"));
    assert.deepEqual(list.map((line) => [parse(line).command, ...args(line)]), [
      ["321", "Channel", "Users  Name"],
      ["322", LOBBY, "2", ""],
      ["322", "#dev", "1", "Deploys"],
      ["323", "End of /LIST"],
    ]);
    // Those named alone, however spelled; one that is not live is not listed.
    await alice.send("LIST #DEV,#nowhere");
    const named = await alice.readLinesUntil(numeric("323"));
    assert.deepEqual(named.map((line) => [parse(line).command, ...args(line)]), [
      ["321", "Channel", "Users  Name"],
      ["322", "#dev", "1", "Deploys"],
      ["323", "End of /LIST"],
    ]);
  });
});

Deno.test("serveIrc() answers MODE for a channel (324, 329, 368, 482) and for oneself (221, 502)", async () => {
  await withServer(async (server) => {
    await using _carol = await page(server, "carol");
    await using alice = await connectIrc(server, "alice");
    await join(alice, LOBBY);
    const replies: [string, string[][]][] = [
      ["MODE #lobby", [["324", LOBBY, "+n"], ["329", LOBBY]]],
      ["MODE #LOBBY b", [["368", LOBBY, "End of channel ban list"]]],
      ["MODE #lobby +b", [["368", LOBBY, "End of channel ban list"]]],
      ["MODE #lobby +o carol", [["482", LOBBY, "You're not channel operator"]]],
      ["MODE #elsewhere", [["403", "#elsewhere", "No such channel"]]],
      ["MODE alice", [["221", "+i"]]],
      ["MODE alice +i", []],
      ["MODE carol", [["502", "Can't change mode for other users"]]],
    ];
    for (const [sent, want] of replies) {
      await alice.send(sent);
      const got = (await drain(alice)).map((line) => [parse(line).command, ...args(line)]);
      // 329's creation time is the server's start: checked apart.
      assert.deepEqual(got.map((r) => r[0] === "329" ? r.slice(0, 2) : r), want, sent);
      const created = got.find((r) => r[0] === "329");
      if (created) assert.ok(Math.abs(Number(created[2]) - Date.now() / 1000) < 600);
    }
  });
});

Deno.test("serveIrc() answers ISON, USERHOST and AWAY (305, 306, and 301 to whoever writes)", async () => {
  await withServer(async (server) => {
    await using _carol = await page(server, "carol");
    await using _dave = await connectTcp(server, "dave");
    await using alice = await connectIrc(server, "alice");
    await using bob = await connectIrc(server, "bob");
    await alice.send("ISON carol nobody DAVE bob");
    assert.deepEqual(args(await alice.readUntil(numeric("303"))), ["carol dave bob"]);
    await alice.send("ISON :carol nobody");
    assert.deepEqual(args(await alice.readUntil(numeric("303"))), ["carol"]);
    await alice.send("USERHOST carol dave bob nobody");
    assert.deepEqual(args(await alice.readUntil(numeric("302"))), [
      `carol=+web@${SERVER} dave=+terminal@${SERVER} bob=+irc@${SERVER}`,
    ]);

    await bob.send("AWAY :at lunch");
    assert.deepEqual(args(await bob.readUntil(numeric("306"))), [
      "You have been marked as being away",
    ]);
    await alice.send("PRIVMSG bob :are you there?");
    assert.deepEqual(args(await alice.readUntil(numeric("301"))), ["bob", "at lunch"]);
    await bob.readUntil((line) => trailing(line) === "are you there?");
    await alice.send("NOTICE bob :no answer wanted");
    assert.deepEqual(numerics(await drain(alice), "301"), [], "301 to a NOTICE");
    await alice.send("WHOIS bob");
    const whois = await alice.readLinesUntil(numeric("318"));
    assert.deepEqual(args(itemAt(numerics(whois, "301"), 0)), ["bob", "at lunch"]);
    await alice.send("USERHOST bob");
    assert.deepEqual(args(await alice.readUntil(numeric("302"))), [`bob=-irc@${SERVER}`]);
    await alice.send("WHO bob");
    assert.equal(args(await alice.readUntil(numeric("352")))[5], "G");
    // And in a channel's list: G for bob, H for the others.
    await alice.send("JOIN #lobby");
    await alice.readUntil(numeric("366"));
    await bob.send("JOIN #lobby");
    await alice.readUntil(command("JOIN", "bob"));
    await alice.send("WHO #lobby");
    const flags = (await alice.readLinesUntil(numeric("315"))).filter(numeric("352"))
      .map((line) => `${args(line)[4]} ${args(line)[5]}`);
    assert.deepEqual(flags, ["carol H", "dave H", "alice H", "bob G"]);
    await bob.send("AWAY");
    assert.deepEqual(args(await bob.readUntil(numeric("305"))), [
      "You are no longer marked as being away",
    ]);
    await alice.send("PRIVMSG bob :back?");
    assert.deepEqual(numerics(await drain(alice), "301"), []);
    assert.equal(server.hub.whois("bob")?.away, undefined);
  });
});

// ---------------------------------------------------------------------------
// IRCv3

Deno.test("serveIrc() tags messages with server-time and msgid (the message's id) where negotiated", async () => {
  await withServer(async (server) => {
    await using carol = await page(server, "carol");
    await using tagged = await connectIrc(server, "tagged", {
      caps: ["server-time", "message-tags"],
    });
    await using timed = await connectIrc(server, "timed", { caps: ["server-time"] });
    await using plain = await connectIrc(server, "plain", { caps: [] });
    for (const client of [tagged, timed, plain]) await join(client, LOBBY);
    const said = await say(carol, LOBBY, "tag me");
    const time = new Date(said.ts).toISOString();
    const lines = await Promise.all(
      [tagged, timed, plain].map((c) => c.readUntil(command("PRIVMSG"))),
    );
    const [a, b, c] = lines.map((line) => parse(line));
    assert.deepEqual(Object.fromEntries(a?.tags ?? []), { time, msgid: `${said.id}` });
    assert.deepEqual(Object.fromEntries(b?.tags ?? []), { time });
    assert.deepEqual(Object.fromEntries(c?.tags ?? []), {});
    for (const m of [a, b, c]) assert.deepEqual(m?.params, [LOBBY, "tag me"]);

    // echo-message: the sender's own line comes back with the id others see.
    await using echo = await connectIrc(server, "echo", { caps: ["echo-message", "message-tags"] });
    await join(echo, LOBBY);
    await echo.send("PRIVMSG #lobby :echo me");
    const back = parse(await echo.readUntil(command("PRIVMSG", "echo")));
    const heard = await carol.next("message", (m) => m.text === "echo me");
    assert.equal(back.tags.get("msgid"), `${heard.id}`);
    await echo.send("PRIVMSG carol :privately");
    const privately = parse(await echo.readUntil((line) => trailing(line) === "privately"));
    assert.deepEqual([privately.source?.split("!")[0], privately.params[0]], ["echo", "carol"]);
  });
});

/** A store holding `texts` said in #lobby by "old", a minute apart, from `start`; returns the messages. */
function storeWith(texts: readonly string[], start: number): {
  store: MemoryHistory;
  said: ChatMessage[];
} {
  const store = new MemoryHistory();
  const said = texts.map((text, i) => {
    const message = {
      type: "message" as const,
      id: store.nextId(),
      ts: start + i * 60_000,
      room: LOBBY,
      from: "old",
      text,
    };
    store.append(roomKey(LOBBY), message);
    return message;
  });
  return { store, said };
}

Deno.test("serveIrc() replays a channel's history on JOIN: in a chathistory batch with server-time, else with the time in the text", async () => {
  const start = Date.UTC(2026, 11, 5, 7, 41);
  const { store } = storeWith(["first", "second", "third"], start);
  await withServer({ store }, async (server) => {
    await using plain = await connectIrc(server, "plain");
    await plain.send("JOIN #lobby");
    const bare = (await plain.readLinesUntil((l) => trailing(l).includes("third")))
      .filter(command("PRIVMSG"));
    assert.deepEqual(bare.map((line) => [parse(line).source, ...parse(line).params]), [
      // Its author is gone: how it was connected is not kept, so no user or host is made up.
      ["old", LOBBY, "[2026-12-05 07:41] first"],
      ["old", LOBBY, "[2026-12-05 07:42] second"],
      ["old", LOBBY, "[2026-12-05 07:43] third"],
    ]);
    assert.ok(bare.every((line) => !line.startsWith("@")));

    await using timed = await connectIrc(server, "timed", { caps: ["server-time"] });
    await timed.send("JOIN #lobby");
    const stamped = (await timed.readLinesUntil((l) => trailing(l) === "third"))
      .filter(command("PRIVMSG")).map((line) => parse(line));
    assert.deepEqual(stamped.map((m) => [m.tags.get("time"), m.params[1]]), [
      ["2026-12-05T07:41:00.000Z", "first"],
      ["2026-12-05T07:42:00.000Z", "second"],
      ["2026-12-05T07:43:00.000Z", "third"],
    ]);

    await using batched = await connectIrc(server, "batched", { caps: [...ALL_CAPS] });
    await batched.send("JOIN #lobby");
    const joined = await batched.readLinesUntil(command("BATCH"));
    const names = joined.findIndex(numeric("366"));
    assert.ok(names > 0, "NAMES before the replay");
    const open = parse(itemAt(joined, -1));
    assert.equal(open.params.length, 3);
    const [ref = "", type, target] = open.params;
    assert.match(ref, /^\+\S+$/);
    assert.deepEqual([type, target], ["chathistory", LOBBY]);
    const inside = await batched.readLinesUntil(command("BATCH"));
    assert.deepEqual(parse(itemAt(inside, -1)).params, [`-${ref.slice(1)}`]);
    const messages = inside.slice(0, -1).map((line) => parse(line));
    assert.deepEqual(messages.map((m) => [m.tags.get("batch"), m.tags.get("msgid"), m.params[1]]), [
      [ref.slice(1), "1", "first"],
      [ref.slice(1), "2", "second"],
      [ref.slice(1), "3", "third"],
    ]);
  });
});

Deno.test("serveIrc() answers CHATHISTORY AFTER msgid= with exactly the messages missed while away", async () => {
  await withServer(async (server) => {
    await using carol = await page(server, "carol");
    const caps = [...ALL_CAPS];
    let alice = await connectIrc(server, "alice", { caps });
    let last: string | undefined;
    try {
      await join(alice, LOBBY);
      for (const text of ["one", "two", "three"]) await say(carol, LOBBY, text);
      const seen = await alice.readUntil((line) => trailing(line) === "three");
      last = parse(seen).tags.get("msgid");
      await alice.send("QUIT :brb");
      await alice.readToEnd();
    } finally {
      await alice.close();
    }
    const missed = [];
    for (const text of ["four", "five", "six"]) missed.push(await say(carol, LOBBY, text));
    alice = await connectIrc(server, "alice", { caps });
    try {
      await join(alice, LOBBY);
      await drain(alice);
      await alice.send(`CHATHISTORY AFTER #lobby msgid=${last} 50`);
      const lines = await alice.readLinesUntil((line) => /^:\S+ BATCH -/.test(line));
      const open = parse(itemAt(lines, 0));
      assert.deepEqual(open.params.slice(1), ["chathistory", LOBBY]);
      const got = lines.slice(1, -1).map((line) => parse(line));
      assert.deepEqual(
        got.map((m) => [m.tags.get("msgid"), m.params[1]]),
        missed.map((m) => [`${m.id}`, m.text]),
      );
      assert.ok(got.every((m) => m.tags.get("batch") === open.params[0]?.slice(1)));
    } finally {
      await alice.close();
    }
  });
});

Deno.test("serveIrc() answers CHATHISTORY LATEST, BEFORE, AFTER and BETWEEN by msgid= and timestamp=", async () => {
  const start = Date.UTC(2026, 0, 1, 12, 0);
  const texts = Array.from({ length: 10 }, (_, i) => `m${i + 1}`);
  const { store, said } = storeWith(texts, start);
  const id = (n: number) => itemAt(said, n - 1).id;
  const at = (n: number) => new Date(itemAt(said, n - 1).ts).toISOString();
  await withServer({ store }, async (server) => {
    await using alice = await connectIrc(server, "alice", { caps: [...ALL_CAPS] });
    await join(alice, LOBBY);
    await drain(alice);
    /** The texts of a CHATHISTORY answer, checking it is one chathistory batch. */
    const history = async (request: string, target = LOBBY): Promise<string[]> => {
      await alice.send(request);
      const lines = await drain(alice);
      if (lines.length === 0) return ["(nothing)"];
      const first = parse(itemAt(lines, 0));
      if (first.command !== "BATCH") return [lines.join(" | ")];
      assert.deepEqual(first.params.slice(1), ["chathistory", target], request);
      assert.deepEqual(parse(itemAt(lines, -1)).params, [`-${first.params[0]?.slice(1)}`]);
      return lines.slice(1, -1).map((line) => trailing(line));
    };
    const m = (...ns: number[]) => ns.map((n) => `m${n}`);
    const cases: [string, string[]][] = [
      ["CHATHISTORY LATEST #lobby * 3", m(8, 9, 10)],
      ["CHATHISTORY LATEST #lobby * 100", m(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)],
      [`CHATHISTORY LATEST #lobby msgid=${id(7)} 10`, m(8, 9, 10)],
      [`CHATHISTORY LATEST #lobby msgid=${id(2)} 2`, m(9, 10)],
      [`CHATHISTORY LATEST #lobby timestamp=${at(8)} 10`, m(9, 10)],
      [`CHATHISTORY BEFORE #lobby msgid=${id(5)} 2`, m(3, 4)],
      [`CHATHISTORY BEFORE #lobby msgid=${id(2)} 10`, m(1)],
      [`CHATHISTORY BEFORE #lobby timestamp=${at(4)} 10`, m(1, 2, 3)],
      [`CHATHISTORY AFTER #lobby msgid=${id(5)} 2`, m(6, 7)],
      [`CHATHISTORY AFTER #lobby msgid=${id(10)} 10`, []],
      [`CHATHISTORY AFTER #LOBBY timestamp=${at(9)} 10`, m(10)],
      [`CHATHISTORY BETWEEN #lobby msgid=${id(2)} msgid=${id(6)} 10`, m(3, 4, 5)],
      [`CHATHISTORY BETWEEN #lobby msgid=${id(2)} msgid=${id(9)} 2`, m(3, 4)],
      [`CHATHISTORY BETWEEN #lobby msgid=${id(9)} msgid=${id(2)} 2`, m(7, 8)],
      [`CHATHISTORY BETWEEN #lobby timestamp=${at(2)} timestamp=${at(6)} 10`, m(3, 4, 5)],
      [`CHATHISTORY BETWEEN #lobby timestamp=${at(6)} timestamp=${at(2)} 10`, m(3, 4, 5)],
    ];
    for (const [request, want] of cases) assert.deepEqual(await history(request), want, request);

    // Refusals: standard replies (FAIL), never a disconnect.
    const fails: [string, string[]][] = [
      ["CHATHISTORY AFTER #lobby msgid=abc 10", ["INVALID_PARAMS", "AFTER", LOBBY]],
      ["CHATHISTORY AFTER #lobby timestamp=yesterday 10", ["INVALID_PARAMS", "AFTER", LOBBY]],
      [`CHATHISTORY AFTER #lobby msgid=${id(1)} 0`, ["INVALID_PARAMS", "AFTER", LOBBY]],
      [`CHATHISTORY AFTER #lobby msgid=${id(1)} many`, ["INVALID_PARAMS", "AFTER", LOBBY]],
      ["CHATHISTORY AROUND #lobby * 10", ["INVALID_PARAMS", "AROUND", LOBBY]],
      ["CHATHISTORY LATEST #elsewhere * 10", ["INVALID_TARGET", "LATEST", "#elsewhere"]],
    ];
    for (const [request, want] of fails) {
      await alice.send(request);
      const got = (await drain(alice)).map((line) => parse(line));
      assert.deepEqual(got.map((f) => [f.command, ...f.params.slice(0, 4)]), [[
        "FAIL",
        "CHATHISTORY",
        ...want,
      ]], request);
    }
    // A private conversation has no kept history: an empty batch.
    assert.deepEqual(await history("CHATHISTORY LATEST carol * 10", "carol"), []);
  });
});

Deno.test("serveIrc() answers CHATHISTORY without batch as bare lines, capped at CHATHISTORY=100", async () => {
  const texts = Array.from({ length: 120 }, (_, i) => `n${i + 1}`);
  const { store } = storeWith(texts, Date.UTC(2026, 0, 2));
  await withServer({ store, history: 5 }, async (server) => {
    await using alice = await connectIrc(server, "alice", { caps: ["server-time"] });
    await join(alice, LOBBY);
    await drain(alice);
    await alice.send("CHATHISTORY LATEST #lobby * 1000");
    const lines = await drain(alice);
    assert.equal(lines.length, 100);
    assert.ok(lines.every(command("PRIVMSG")));
    assert.deepEqual([trailing(itemAt(lines, 0)), trailing(itemAt(lines, -1))], ["n21", "n120"]);
    // Nothing to answer (a private conversation, TARGETS) is no line at all, not an empty one.
    const before = alice.raw.length;
    await alice.send("CHATHISTORY LATEST carol * 10");
    await alice.send("CHATHISTORY TARGETS timestamp=2026-01-01T00:00:00Z * 10");
    assert.deepEqual(await drain(alice), []);
    const raw = new TextDecoder().decode(alice.raw.subarray(before));
    assert.ok(!raw.startsWith("\r\n") && !raw.includes("\r\n\r\n"), JSON.stringify(raw));
  });
});

// ---------------------------------------------------------------------------
// With pages and terminals

Deno.test("serveIrc() members chat with a page and a terminal in #lobby and in another room", async () => {
  await withServer(async (server) => {
    await using carol = await page(server, "carol", [LOBBY, "#dev"]);
    await using dave = await connectTcp(server, "dave");
    await dave.send("/join #dev");
    await dave.readUntil("-- Lines you type now go to #dev.");
    await using alice = await connectIrc(server, "alice");
    await join(alice, LOBBY, "#dev");
    const joins = carol.events.filter((e) => e.type === "join" && e.nick === "alice");
    assert.deepEqual(joins.map((e) => e.type === "join" && [e.room, e.via]), [
      [LOBBY, "irc"],
      ["#dev", "irc"],
    ]);
    // The terminal shows #lobby's join labeled, #dev's (its current room) not.
    await dave.readUntil((line) => line.endsWith("[#lobby] -- alice joined (irc)"));
    await dave.readUntil((line) => /^\[\d\d:\d\d\] -- alice joined \(irc\)$/.test(line));

    for (const room of [LOBBY, "#dev"]) {
      await alice.send(`PRIVMSG ${room} :from irc to ${room}`);
      const got = await carol.next("message", (m) => m.text === `from irc to ${room}`);
      assert.deepEqual([got.from, got.room], ["alice", room]);
      const label = room === "#dev" ? "" : `[${room}] `;
      await dave.readUntil((line) => line.endsWith(`${label}<alice> from irc to ${room}`));

      await say(carol, room, `from the page to ${room}`);
      const fromPage = parse(
        await alice.readUntil((l) => trailing(l) === `from the page to ${room}`),
      );
      assert.deepEqual([fromPage.source, fromPage.params[0]], [`carol!web@${SERVER}`, room]);
    }
    await dave.send("said in dev");
    const fromTerminal = parse(await alice.readUntil((l) => trailing(l) === "said in dev"));
    assert.deepEqual([fromTerminal.source, fromTerminal.params[0]], [
      `dave!terminal@${SERVER}`,
      "#dev",
    ]);
    await dave.send("/join #lobby");
    await dave.readUntil("-- Lines you type now go to #lobby.");
    await dave.send("said in the lobby");
    const inLobby = parse(await alice.readUntil((l) => trailing(l) === "said in the lobby"));
    assert.deepEqual(inLobby.params[0], LOBBY);

    // An action, both ways.
    await alice.send("PRIVMSG #dev :\x01ACTION waves\x01");
    const waved = await carol.next("message", (m) => m.text === "waves");
    assert.deepEqual([waved.action, waved.room], [true, "#dev"]);
    await dave.readUntil((line) => line.endsWith("[#dev] * alice waves"));
    carol.send({ type: "me", room: LOBBY, text: "nods" });
    assert.deepEqual(parse(await alice.readUntil((l) => l.includes("nods"))).params, [
      LOBBY,
      "\x01ACTION nods\x01",
    ]);

    // Joins and parts of pages and terminals reach IRC.
    await dave.send("/part #dev");
    const parted = parse(await alice.readUntil(command("PART", "dave")));
    assert.deepEqual([parted.source, parted.params[0]], [`dave!terminal@${SERVER}`, "#dev"]);
    carol.send({ type: "enter", room: "#ops" });
    await carol.next("entered");
    await alice.send("JOIN #ops");
    await alice.readUntil(numeric("366"));
    await using erin = await page(server, "erin", ["#ops"]);
    const entered = parse(await alice.readUntil(command("JOIN", "erin")));
    assert.deepEqual([entered.source, entered.params], [`erin!web@${SERVER}`, ["#ops"]]);
    await erin.close();
    await alice.readUntil(command("QUIT", "erin"));
  });
});

Deno.test("serveIrc() passes CTCP other than ACTION between IRC clients only", async () => {
  await withServer(async (server) => {
    await using carol = await page(server, "carol");
    await using dave = await connectTcp(server, "dave");
    await using alice = await connectIrc(server, "alice");
    await using bob = await connectIrc(server, "bob");
    await join(alice, LOBBY);
    await join(bob, LOBBY);
    await alice.send("PRIVMSG bob :\x01VERSION\x01");
    const request = parse(await bob.readUntil(command("PRIVMSG", "alice")));
    assert.deepEqual([request.source, request.params], [`alice!irc@${SERVER}`, [
      "bob",
      "\x01VERSION\x01",
    ]]);
    await bob.send("NOTICE alice :\x01VERSION irssi 1.4\x01");
    const reply = parse(await alice.readUntil(command("NOTICE", "bob")));
    assert.deepEqual(reply.params, ["alice", "\x01VERSION irssi 1.4\x01"]);
    await alice.send("PRIVMSG #lobby :\x01PING 12345\x01");
    assert.deepEqual(parse(await bob.readUntil(command("PRIVMSG", "alice"))).params, [
      LOBBY,
      "\x01PING 12345\x01",
    ]);
    // A page may send one (protocol.ts): it is named as a page's member.
    carol.send({ type: "ctcp", to: "alice", text: "TIME" });
    const fromPage = parse(await alice.readUntil(command("PRIVMSG", "carol")));
    assert.deepEqual([fromPage.source, fromPage.params], [`carol!web@${SERVER}`, [
      "alice",
      "\x01TIME\x01",
    ]]);
    // To a page or a terminal it goes nowhere, without an error.
    await alice.send("PRIVMSG carol :\x01TIME\x01");
    await alice.send("PRIVMSG dave :\x01CLIENTINFO\x01");
    assert.deepEqual(await drain(alice), []);
    await alice.send("PRIVMSG #lobby :after the CTCPs");
    await carol.next("message", (m) => m.text === "after the CTCPs");
    await dave.readUntil((line) => line.endsWith("<alice> after the CTCPs"));
    const ctcpSeen = carol.events.filter((e) =>
      e.type === "message" && /PING|TIME|12345/.test(e.text)
    );
    assert.deepEqual(ctcpSeen, []);
    assert.ok(
      !dave.lines.some((line) => /PING|TIME|CLIENTINFO/.test(line) || line.includes("\x01")),
      dave.lines.join("\n"),
    );
  });
});

// ---------------------------------------------------------------------------
// Text

Deno.test("serveIrc() replaces invalid UTF-8 and strips formatting codes before pages and terminals", async () => {
  await withServer(async (server) => {
    await using carol = await page(server, "carol");
    await using dave = await connectTcp(server, "dave");
    await using alice = await connectIrc(server, "alice");
    await join(alice, LOBBY);
    const bytes = new Uint8Array([
      ...new TextEncoder().encode("PRIVMSG #lobby :ab"),
      0xff,
      0xc0,
      0xaf,
      ...new TextEncoder().encode("cd 亚\r\n"),
    ]);
    await alice.write(bytes);
    const bad = await carol.next("message", (m) => m.text.startsWith("ab"));
    assert.match(bad.text, /^ab\ufffd+cd 亚$/);
    await alice.send(
      "PRIVMSG #lobby :\x02bold\x02 \x0304,01red\x03 \x1ditalic\x1d \x1funder\x1f \x0fplain",
    );
    const clean = await carol.next("message", (m) => m.text.startsWith("bold"));
    assert.equal(clean.text, "bold red italic under plain");
    await dave.readUntil((line) => line.endsWith("<alice> bold red italic under plain"));
    await alice.send("PRIVMSG #lobby :\x01ACTION \x02shouts\x02\x01");
    assert.equal((await carol.next("message", (m) => m.action === true)).text, "shouts");
  });
});

/**
 * The next PRIVMSGs `client` gets, as lines and texts, until their texts
 * joined with `separator` are as long as `text`: the pieces it was split into.
 */
async function pieces(
  client: TcpClient,
  text: string,
  separator = "",
): Promise<{ lines: string[]; texts: string[] }> {
  const lines: string[] = [];
  const texts: string[] = [];
  while (texts.join(separator).length < text.length) {
    const line = await client.readUntil(command("PRIVMSG"));
    lines.push(line);
    texts.push(trailing(line));
  }
  return { lines, texts };
}

/** The bytes of a line as it is sent, without its tags: what the 512-byte rule counts. */
function untagged(line: string): number {
  return byteLength(line.startsWith("@") ? line.slice(line.indexOf(" ") + 1) : line) + 2;
}

Deno.test("serveIrc() splits a 2,000-character web message into PRIVMSGs of at most 512 bytes", async () => {
  await withServer(async (server) => {
    await using carol = await page(server, "carol");
    await using plain = await connectIrc(server, "plain");
    await using tagged = await connectIrc(server, "tagged", { caps: [...ALL_CAPS] });
    await join(plain, LOBBY);
    await join(tagged, LOBBY);
    // No spaces: cut only between characters, and the pieces are the text.
    const texts = [
      "亚".repeat(2000),
      "a😀".repeat(666) + "zz",
      "e\u0301".repeat(1000),
      "👨‍👩‍👧".repeat(400),
      "x".repeat(2000),
    ];
    for (const text of texts) {
      const said = await say(carol, LOBBY, text);
      for (const client of [plain, tagged]) {
        const { lines, texts: got } = await pieces(client, text);
        assert.ok(lines.length > 1, "one line");
        for (const line of lines) assert.ok(untagged(line) <= LINE_MAX, `${untagged(line)} bytes`);
        assert.equal(got.join(""), text, `${text.slice(0, 10)}…: the pieces are not the text`);
        for (const piece of got) assert.ok(piece.isWellFormed(), "cut inside a character");
        if (client === tagged) {
          const ids = lines.map((line) => parse(line).tags.get("msgid"));
          assert.deepEqual(ids, ids.map((_, i) => i === 0 ? `${said.id}` : `${said.id}.${i + 1}`));
        }
      }
    }
    // Graphemes stay whole where they fit: no piece starts with a combining mark.
    const marks = await say(carol, LOBBY, "e\u0301".repeat(999) + "ok");
    const cut = await pieces(plain, marks.text);
    assert.ok(cut.texts.every((t) => !t.startsWith("\u0301")), cut.texts.join(" | "));
    // With spaces: cut at a space, which is dropped, as clients do.
    const words = Array.from({ length: 400 }, (_, i) => `w${i}`).join(" ").slice(0, 1996) + " END";
    await say(carol, LOBBY, words);
    const spaced = await pieces(plain, words, " ");
    assert.ok(spaced.lines.every((line) => untagged(line) <= LINE_MAX));
    assert.equal(spaced.texts.join(" "), words);
    // An action too, each piece a whole CTCP ACTION, the first ones filled to the last byte.
    for (const action of ["亚".repeat(1990) + "ENDACT", "x".repeat(1994) + "ENDACT"]) {
      carol.send({ type: "me", room: LOBBY, text: action });
      const acts = (await plain.readLinesUntil((line) => line.includes("ENDACT"))).filter(
        command("PRIVMSG"),
      );
      assert.ok(acts.length > 1);
      for (const line of acts) {
        assert.ok(untagged(line) <= LINE_MAX, `${untagged(line)} bytes: ${line.slice(0, 80)}…`);
        const text = trailing(line);
        assert.ok(text.startsWith("\x01ACTION ") && text.endsWith("\x01"), JSON.stringify(text));
        assert.ok(!text.slice(1, -1).includes("\x01"), JSON.stringify(text));
      }
      assert.equal(acts.map((line) => trailing(line).slice(8, -1)).join(""), action);
    }
  });
});

Deno.test("serveIrc() answers an over-long line with 417 and reads on; tags may take 8191 bytes more", async () => {
  await withServer(async (server) => {
    await using carol = await page(server, "carol");
    await using alice = await connectIrc(server, "alice");
    await join(alice, LOBBY);
    const head = "PRIVMSG #lobby :";
    // 510 bytes and CRLF: the longest line; one byte more is too long.
    await alice.send(head + "a".repeat(510 - head.length));
    await carol.next("message", (m) => m.text === "a".repeat(510 - head.length));
    await alice.send(head + "b".repeat(511 - head.length));
    assert.deepEqual(args(await alice.readUntil(numeric("417"))), ["Input line was too long"]);
    await alice.send(head + "亚".repeat(200));
    await alice.readUntil(numeric("417"));
    // Far too long, in one write: 417 all the same, and the next line is read.
    await alice.write(head + "c".repeat(20_000) + "\r\nPRIVMSG #lobby :still here\r\n");
    await alice.readUntil(numeric("417"));
    await carol.next("message", (m) => m.text === "still here");
    // Tags: up to 8191 bytes of them besides the 512.
    const tags = (bytes: number) => `@+x=${"t".repeat(bytes - 5)} `;
    await alice.send(tags(8191) + head + "tagged");
    await carol.next("message", (m) => m.text === "tagged");
    await alice.send(tags(8192) + head + "too many tags");
    await alice.readUntil(numeric("417"));
    assert.deepEqual(await drain(alice), []);
    assert.ok(!carol.events.some((e) => e.type === "message" && /^[bc]+$|too many/.test(e.text)));
    assert.equal(server.hub.whois("alice")?.via, "irc");
  });
});

Deno.test("serveIrc() keeps every line within 512 bytes, cutting what it echoes and words too long in bytes", async () => {
  await withServer(async (server) => {
    await using carol = await page(server, "carol", [LOBBY, "#dev"]);
    await using alice = await connectIrc(server, "alice");
    await join(alice, LOBBY, "#dev");
    // What a client sent, echoed in a refusal: an unknown command, a nickname, a channel, a target.
    const echoed = [
      "X".repeat(490),
      `NICK ${"n".repeat(480)}`,
      `JOIN ${"j".repeat(480)}`,
      `PART #${"p".repeat(470)}`,
      `PRIVMSG ${"t".repeat(470)} :x`,
      `WHOIS ${"w".repeat(490)}`,
      `WHO ${"v".repeat(490)}`,
      `CAP REQ :${"c亚".repeat(120)}`,
      `CHATHISTORY LATEST #${"h".repeat(450)} * 10`,
    ];
    for (const line of echoed) await alice.send(line);
    const refusals = await drain(alice);
    assert.ok(refusals.length >= echoed.length, refusals.join("\n"));
    // Words that fit the hub in characters but not IRC in bytes.
    carol.send({ type: "topic", room: "#dev", text: "😀".repeat(300) });
    await alice.readUntil(command("TOPIC", "carol"));
    await alice.send("TOPIC #dev");
    await alice.readUntil(numeric("333"));
    await alice.send("LIST");
    await alice.readUntil(numeric("323"));
    carol.send({ type: "away", text: "亚".repeat(200) });
    carol.send({ type: "who" });
    await carol.next("members");
    await alice.send("WHOIS carol");
    await alice.readUntil(numeric("301"));
    carol.send({ type: "part", room: "#dev", reason: "😀".repeat(1000) });
    await alice.readUntil(command("PART", "carol"));
    carol.send({ type: "ctcp", to: "alice", text: `VERSION ${"😀".repeat(1000)}` });
    await alice.readUntil((line) => line.includes("VERSION"));
    for (const line of alice.lines) {
      assert.ok(
        byteLength(line) + 2 <= LINE_MAX,
        `${byteLength(line) + 2} bytes: ${line.slice(0, 60)}…`,
      );
      assert.ok(line.isWellFormed(), "cut inside a character");
      parse(line);
    }
    // Cut, not dropped: the topic is there, as much of it as fits.
    const shown = alice.lines.find((line) => isNumeric(line, "332")) ?? "";
    assert.match(trailing(shown), /^(?:😀){100,}$/u);
  });
});

// ---------------------------------------------------------------------------
// Limits

Deno.test("serveIrc() takes a connect burst of JOIN, MODE and WHO as no flood; chat, NICK and TOPIC share one bucket", async () => {
  await withServer({ floodBurst: 5, floodRate: 0.001 }, async (server) => {
    await using carol = await page(server, "carol");
    await using alice = await openIrc(server);
    const rooms = Array.from({ length: 19 }, (_, i) => `#r${i + 1}`);
    // As irssi or WeeChat send it: registration, then each channel, its MODE and WHO.
    const burst = [
      "CAP LS 302",
      "NICK alice",
      "USER alice 0 * :Alice",
      "CAP REQ :server-time",
      "CAP END",
      "JOIN #lobby",
      ...rooms.map((room) => `JOIN ${room}`),
      ...[LOBBY, ...rooms].flatMap((room) => [`MODE ${room}`, `WHO ${room}`, `MODE ${room} b`]),
      "LIST",
    ];
    await alice.write(burst.map((line) => `${line}\r\n`).join(""));
    const lines = await drain(alice);
    assert.deepEqual(lines.filter((line) => / NOTICE /.test(line) || line.includes("ERROR")), []);
    assert.equal(numerics(lines, "366").length, 20);
    assert.equal(numerics(lines, "315").length, 20);
    assert.equal(numerics(lines, "324").length, 20);
    assert.equal(numerics(lines, "323").length, 1);

    // Chat pays: five lines, then refusals, also for NICK, TOPIC and NOTICE.
    for (let i = 1; i <= 5; i++) await alice.send(`PRIVMSG #lobby :line ${i}`);
    await carol.next("message", (m) => m.text === "line 5");
    for (
      const line of ["PRIVMSG #lobby :line 6", "NICK alice2", "TOPIC #lobby :t", "NOTICE #lobby :n"]
    ) {
      await alice.send(line);
      const refused = await drain(alice);
      assert.equal(refused.length, 1, `${line}: ${refused.join(" | ")}`);
      const m = parse(itemAt(refused, 0));
      // A NICK refused for its pace is ERR_NICKTOOFAST, about the name asked for.
      const nick = line.startsWith("NICK");
      assert.deepEqual(
        [m.command, m.params[0], ...(nick ? [m.params[1]] : [])],
        nick ? ["438", "alice", "alice2"] : ["NOTICE", "alice"],
        line,
      );
      assert.match(itemAt(m.params, -1), /slow down|too fast|flood/i);
    }
    const after = await pageDrain(carol, "carol");
    assert.deepEqual(
      after.filter((e) => e.type === "message" || e.type === "rename" || e.type === "topic"),
      [],
    );
    assert.equal(server.hub.whois("alice")?.nick, "alice");
  });
});

Deno.test("serveIrc() tells a kicked member why in a NOTICE, then closes with an ERROR", async () => {
  await withServer({}, async (server) => {
    await using alice = await connectIrc(server, "alice");
    await alice.send("JOIN #lobby");
    await alice.readUntil(" 366 ");
    assert.equal(server.hub.kick("alice", "rude"), true);
    const rest = (await alice.readToEnd()).map(parse);
    assert.deepEqual(rest.map((m) => [m.command, ...m.params]).slice(-2), [
      ["NOTICE", "alice", "You were kicked by the server: rude."],
      ["ERROR", "Closing link: You were kicked by the server: rude."],
    ]);
  });
});

Deno.test("serveIrc() counts IRC connections in the same per-address cap as pages and terminals", async () => {
  await withServer({ maxPerIp: 3 }, async (server) => {
    await using carol = await page(server, "carol");
    await using dave = await connectTcp(server, "dave");
    await using _alice = await connectIrc(server, "alice");
    await using refused = await openIrc(server);
    const rest = await refused.readToEnd();
    assert.equal(rest.length, 1, rest.join(" | "));
    assert.match(itemAt(rest, 0), /^ERROR :Closing link: .*too many/i);
    // Once one goes, an IRC client gets in: as soon as the server has
    // released the slot, which it does after telling the others.
    await dave.close();
    await carol.next("leave", (e) => e.nick === "dave");
    let bob: TcpClient | undefined;
    for (let attempt = 0; bob === undefined && attempt < 100; attempt++) {
      const client = await openIrc(server);
      await client.send("NICK bob");
      await client.send("USER bob 0 * :Bob");
      const first = await client.readUntil(() => true);
      if (first.startsWith("ERROR ")) await client.close();
      else bob = client;
    }
    assert.ok(bob !== undefined, "the slot was never released");
    await using _bob = bob;
    await bob.readUntil(numeric("422"));
    assert.equal(server.hub.whois("bob")?.via, "irc");
    assert.equal(carol.events.filter((e) => e.type === "error").length, 0);
  });
});

// ---------------------------------------------------------------------------
// A real client library

Deno.test("irc-framework registers with IRCv3, joins, chats with a page and a terminal, and reads CHATHISTORY", async () => {
  await withServer(async (server) => {
    await using carol = await page(server, "carol", [LOBBY, "#dev"]);
    await using dave = await connectTcp(server, "dave");
    const before = await say(carol, LOBBY, "before anyone");
    await using alice = await FrameworkClient.connect(server, "alice", {
      caps: ["draft/chathistory"],
      echo: true,
    });
    assert.deepEqual([...alice.client.network.cap.enabled].sort(), [...ALL_CAPS].sort());
    alice.client.join(LOBBY);
    const names = await alice.next("userlist", (e) => e.channel === LOBBY);
    assert.deepEqual(names.users.map((u) => u.nick), ["carol", "dave", "alice"]);
    // The replay, in a chathistory batch, with its time and id.
    const replayed = await alice.next("privmsg", (e) => e.message === "before anyone");
    assert.deepEqual([replayed.nick, replayed.ident, replayed.target], ["carol", "web", LOBBY]);
    assert.equal(replayed.batch?.type, "chathistory");
    assert.equal(replayed.time, before.ts);
    assert.equal(replayed.tags.msgid, `${before.id}`);
    await alice.next("batch end chathistory");
    alice.client.join("#dev");
    await alice.next("join", (e) => e.nick === "alice" && e.channel === "#dev");

    alice.client.say(LOBBY, "hello from irc-framework");
    const heard = await carol.next("message", (m) => m.text === "hello from irc-framework");
    assert.deepEqual([heard.from, heard.room], ["alice", LOBBY]);
    await dave.readUntil((line) => line.endsWith("<alice> hello from irc-framework"));
    const echoed = await alice.next("privmsg", (e) => e.message === "hello from irc-framework");
    assert.equal(echoed.tags.msgid, `${heard.id}`);

    const inDev = await say(carol, "#dev", "page in dev");
    const got = await alice.next("privmsg", (e) => e.message === "page in dev");
    assert.deepEqual([got.nick, got.ident, got.target, got.time], [
      "carol",
      "web",
      "#dev",
      inDev.ts,
    ]);
    await dave.send("terminal in lobby");
    const fromDave = await alice.next("privmsg", (e) => e.message === "terminal in lobby");
    assert.deepEqual([fromDave.nick, fromDave.ident, fromDave.target], ["dave", "terminal", LOBBY]);

    carol.send({ type: "msg", to: "alice", text: "private to alice" });
    const whisper = await alice.next("privmsg", (e) => e.message === "private to alice");
    assert.equal(whisper.target, "alice");
    alice.client.say("carol", "private to carol");
    const back = await carol.next("message", (m) => m.text === "private to carol");
    assert.deepEqual([back.from, back.to], ["alice", "carol"]);
    alice.client.action("#dev", "waves");
    assert.equal((await carol.next("message", (m) => m.action === true)).text, "waves");

    // CHATHISTORY by raw line: one batch, oldest first.
    alice.client.raw("CHATHISTORY", "LATEST", LOBBY, "*", "10");
    const batch = await alice.next("batch end chathistory");
    assert.deepEqual(batch.params, [LOBBY]);
    const lines = alice.lines.filter((line) => line.includes(`batch=${batch.id}`));
    assert.deepEqual(lines.map((line) => trailing(line)), [
      "before anyone",
      "hello from irc-framework",
      "terminal in lobby",
    ]);

    alice.client.setTopic("#dev", "set by irc-framework");
    const topic = await carol.next("topic", (e) => e.changed === true);
    assert.deepEqual([topic.topic?.text, topic.topic?.by], ["set by irc-framework", "alice"]);
    carol.send({ type: "nick", nick: "carol2" });
    const renamed = await alice.next("nick", (e) => e.nick === "carol");
    assert.equal(renamed.new_nick, "carol2");
    alice.client.part("#dev", "leaving dev");
    const left = await carol.next("leave", (e) => e.nick === "alice" && e.room === "#dev");
    assert.equal(left.reason, "part: leaving dev");
  });
});

Deno.test("irc-framework clients exchange private messages and CTCP, see renames and QUIT", async () => {
  await withServer(async (server) => {
    await using alice = await FrameworkClient.connect(server, "alice");
    await using bob = await FrameworkClient.connect(server, "bob");
    for (const client of [alice, bob]) {
      client.client.join(LOBBY);
      await client.next("join", (e) => e.nick === client.client.user.nick);
    }
    alice.client.say("bob", "hi bob");
    const hi = await bob.next("privmsg", (e) => e.message === "hi bob");
    assert.deepEqual([hi.nick, hi.ident, hi.target], ["alice", "irc", "bob"]);
    bob.client.notice("alice", "hi alice");
    assert.equal((await alice.next("notice", (e) => e.nick === "bob")).message, "hi alice");
    alice.client.ctcpRequest("bob", "VERSION");
    const request = await bob.next("ctcp request", (e) => e.nick === "alice");
    assert.equal(request.type, "VERSION");
    bob.client.ctcpResponse("alice", "VERSION", "bob's client 1.0");
    const response = await alice.next("ctcp response", (e) => e.nick === "bob");
    assert.equal(response.message, "VERSION bob's client 1.0");
    bob.client.changeNick("robert");
    const renamed = await alice.next("nick", (e) => e.nick === "bob");
    assert.equal(renamed.new_nick, "robert");
    await bob.close();
    const quit = await alice.next("quit", (e) => e.nick === "robert");
    assert.equal(quit.message, "Quit: done");
  });
});

Deno.test("serveIrc() ends a connection the server closes with an ERROR line naming why, and takes TAGMSG without a 421", async () => {
  await withServer({ floodBurst: 2, floodRate: 0.001 }, async (server) => {
    await using alice = await connectIrc(server, "alice");
    await alice.send("TAGMSG #lobby");
    assert.deepEqual(await drain(alice), []);
    // Past the flood limit FLOOD_STRIKES times, the hub disconnects the member.
    await alice.write("PRIVMSG alice :x\r\n".repeat(30));
    const rest = await alice.readToEnd();
    const last = parse(itemAt(rest, -1));
    assert.deepEqual([last.command, last.params], [
      "ERROR",
      ["Closing link: Disconnected for flooding."],
    ]);
  });
});
