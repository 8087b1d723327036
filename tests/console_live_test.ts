/**
 * The operator's console against a real server, over real sockets: a
 * private message from the operator reaching a terminal, a page and an IRC
 * client; `/who` listing every connection with its address and age, those
 * not joined too; `/conns` and `/kick` by address.
 *
 * @module
 */

import assert from "node:assert/strict";
import { operate } from "../server/console.ts";
import type { ChatServer } from "../server/app.ts";
import { withServer } from "./kit/server.ts";
import { connectTcp, TcpClient } from "./kit/tcp_client.ts";
import { connectWs } from "./kit/ws_client.ts";
import { connectIrc, numeric, parse } from "./kit/irc_client.ts";
import { dial } from "./kit/socket.ts";
import { startMain } from "./kit/main_process.ts";

/** The console of `server`: each command's lines. */
function consoleOf(server: ChatServer): (line: string) => string[] {
  const target = { hub: server.hub, connections: server.connections };
  return (line) => {
    const printed: string[] = [];
    operate(target, line, (l) => printed.push(l));
    return printed;
  };
}

/** A connection to the HTTP port that asked for `/healthz` and now idles, kept alive. */
async function idleHttp(server: ChatServer): Promise<TcpClient> {
  const client = new TcpClient(await dial(server.http));
  await client.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  await client.readUntil("ok");
  return client;
}

/**
 * One connection of each kind: alice on a page, a terminal member (`nick`),
 * carol on IRC, a terminal asked its nickname, and a page's idle HTTP socket.
 */
async function everyKind(server: ChatServer, nick: string) {
  const alice = await connectWs(server, "alice");
  const bob = await connectTcp(server, nick);
  const carol = await connectIrc(server, "carol");
  const shy = await TcpClient.open(server);
  await shy.readUntil("Your nickname: ");
  const page = await idleHttp(server);
  return {
    alice,
    bob,
    carol,
    shy,
    page,
    async [Symbol.asyncDispose]() {
      await Promise.all([alice, bob, carol, shy, page].map((c) => c.close()));
    },
  };
}

Deno.test("IRC: the operator's lines come from server!operator@, a member's from how it is connected, a gone author's from its nickname alone", async () => {
  await withServer(async (server) => {
    await using bob = await connectTcp(server, "bob");
    await using gone = await connectTcp(server, "gone");
    await using carol = await connectIrc(server, "carol");
    await carol.send("JOIN #lobby");
    await carol.readUntil(numeric("366"));
    const run = consoleOf(server);
    run("/say #lobby hello from the console");
    await carol.readUntil(":server!operator@chat.local PRIVMSG #lobby :hello from the console");
    // Its topic too, as set and as asked for (irssi: "set by server [operator@chat.local]").
    run("/topic #lobby set by the console");
    await carol.readUntil(":server!operator@chat.local TOPIC #lobby :set by the console");
    await carol.send("TOPIC #lobby");
    const setter = parse(await carol.readUntil(numeric("333"))).params;
    assert.deepEqual(setter.slice(1, 3), ["#lobby", "server!operator@chat.local"]);
    await bob.send("hi from a terminal");
    await carol.readUntil(":bob!terminal@chat.local PRIVMSG #lobby :hi from a terminal");
    await gone.send("said before going");
    await carol.readUntil((l) => l.endsWith(":said before going"));
    await gone.send("/quit");
    await carol.readUntil((l) => l.startsWith(":gone!terminal@chat.local QUIT"));

    // Replayed on a join: the same sources, the gone one without a user or host.
    await using dave = await connectIrc(server, "dave");
    await dave.send("JOIN #lobby");
    const replay = await dave.readLinesUntil((l) => l.endsWith("] said before going"));
    const sources = replay.filter((l) => l.includes(" PRIVMSG #lobby ")).map((l) =>
      l.split(" ")[0]
    );
    assert.deepEqual(sources, [":server!operator@chat.local", ":bob!terminal@chat.local", ":gone"]);
  });
});

Deno.test("console /msg reaches a terminal, a page and an IRC member, marked as from the operator", async () => {
  await withServer(async (server) => {
    await using bob = await connectTcp(server, "bob");
    await using alice = await connectWs(server, "alice");
    await using carol = await connectIrc(server, "carol");
    const run = consoleOf(server);

    const echo = run("/msg bob stop flooding, please");
    assert.equal(echo.length, 1);
    assert.match(
      echo[0] ?? "",
      /^\[\d\d:\d\d\] \[private to bob\] <server> stop flooding, please$/,
    );
    await bob.readUntil((line) =>
      /^\[\d\d:\d\d\] \[private, from the operator\] <server> stop flooding, please$/.test(line)
    );

    assert.equal(run("/msg ALICE 你好 alice").length, 1);
    const told = await alice.next("message");
    assert.deepEqual(
      { from: told.from, to: told.to, text: told.text, operator: told.operator, room: told.room },
      { from: "server", to: "alice", text: "你好 alice", operator: true, room: undefined },
    );

    run("/msg carol hello irc");
    await carol.readUntil(":server!operator@chat.local PRIVMSG carol :hello irc");

    // Nobody else saw any of it, and nothing of it went to #lobby's history.
    alice.send({ type: "history", count: 10 });
    const history = await alice.next("history");
    assert.deepEqual(history.messages, []);
    assert.ok(!alice.events.some((e) => e.type === "message" && e.to === "bob"));

    assert.deepEqual(run("/msg nobody hi"), [
      '! Nothing was sent: Nobody called "nobody" is here.',
    ]);
    assert.deepEqual(run("/msg bob"), ["! Usage: /msg NICK TEXT"]);
  });
});

Deno.test("console /who lists every connection with address and age, those not joined too", async () => {
  await withServer(async (server) => {
    await using kinds = await everyKind(server, "小明");
    const { bob } = kinds;
    await bob.send("/join #dev");
    await bob.readUntil("-- Lines you type now go to #dev.");
    const run = consoleOf(server);

    const all = run("/who");
    assert.equal(all[0], "-- 5 connections: 3 joined, 2 not joined");
    assert.match(all[1] ?? "", /^-- {3}NICK +VIA +ADDRESS +CONNECTED +IDLE +QUEUED$/);
    const row =
      /^-- {3}(\S+(?: joined\))?) +(web|terminal|irc) +127\.0\.0\.1 +\d\d:\d\d:\d\d \(\d+s\) +\d+s +[\d,]+ B$/;
    const rows = all.slice(2).map((line) => {
      const [, nick, via] = row.exec(line) ?? [];
      assert.ok(nick && via, `a row: ${line}`);
      return `${nick} ${via}`;
    });
    assert.deepEqual(rows, [
      "alice web",
      "carol irc",
      "小明 terminal",
      // Not joined, oldest first: the terminal that was asked its nickname, the page's socket.
      "(not joined) terminal",
      "(not joined) web",
    ]);
    // The columns line up, 小明 being two columns a character.
    const at = (line: string) => line.indexOf("127.0.0.1");
    const widths = all.slice(2).map((line) => [...line.slice(0, at(line))].length);
    assert.equal(widths[2], (widths[0] ?? 0) - 2, JSON.stringify(all));

    const dev = run("/who #dev");
    assert.equal(dev[0], "-- 1 in #dev:");
    assert.match(dev[2] ?? "", /^-- {3}小明 +terminal +127\.0\.0\.1 /);
    assert.equal(dev.length, 3);

    const conns = run("/conns 127.0.0.1");
    assert.equal(conns[0], "-- 5 connections from 127.0.0.1:");
    assert.equal(conns.length, 7);
    assert.deepEqual(run("/conns 10.9.9.9"), ["-- No connections from 10.9.9.9."]);
    assert.match(run("/conns alice")[0] ?? "", /^! Usage: \/conns ADDRESS/);
  });
});

Deno.test("console /kick ADDRESS closes every connection from it, joined or not, and bans it", async () => {
  await withServer(async (server) => {
    await using kinds = await everyKind(server, "bob");
    const { alice, bob, carol, shy, page } = kinds;
    const run = consoleOf(server);

    assert.deepEqual(run("/kick 127.0.0.1 cleaning up"), [
      "-- Closed 5 connections from 127.0.0.1 (3 members kicked).",
    ]);
    const closed = await alice.closed;
    assert.ok(closed.code >= 1000);
    const kicked = alice.events.find((e) => e.type === "error");
    assert.ok(kicked?.type === "error" && kicked.code === "kicked");
    assert.match(kicked.message, /cleaning up/);
    assert.ok((await bob.readToEnd()).some((l) => l.includes("cleaning up")));
    const ircLines = await carol.readToEnd();
    assert.ok(ircLines.some((l) => / ERROR :.*cleaning up/.test(l)), JSON.stringify(ircLines));
    await shy.readToEnd();
    await page.readToEnd();
    // The page's socket may still be waiting on its closing handshake: never a negative queue.
    for (const line of run("/who").slice(2)) assert.doesNotMatch(line, / -\d+ B$/, line);

    // The address may not join again for --kick-ban, under any name.
    await using again = await TcpClient.open(server);
    await again.readUntil("Your nickname: ");
    await again.send("dave");
    await again.readUntil((line) => line.includes("You were kicked"));
  });
});

Deno.test("main.ts with standard input not a terminal: the console is off, said once in the log, and reads nothing", async () => {
  const stderr: string[] = [];
  await using server = await startMain({
    db: ":memory:",
    input: "hello from a pipe\n/help\n/msg alice psst\n",
    onStderr: (line) => stderr.push(line),
  });
  await server.output(/msg="console off"/);
  await using alice = await connectWs(server.address, "alice");
  // A round trip after the log line: a console that had read the pipe would have spoken by now.
  alice.send({ type: "history", count: 10 });
  const history = await alice.next("history");
  assert.deepEqual(history.messages, []);
  assert.ok(!alice.events.some((e) => e.type === "message"), JSON.stringify(alice.events));
  await alice.close();
  const { status, stdout } = await server.stop("SIGTERM");
  assert.equal(status.code, 0);
  const off = stdout.split("\n").filter((line) => line.includes("console off"));
  assert.equal(off.length, 1, stdout);
  assert.match(
    off[0] ?? "",
    /level=info msg="console off" why="standard input is not a terminal"$/,
  );
  // Standard output holds the banner and log lines, nothing of a console.
  for (const line of stdout.split("\n").filter((l) => l !== "")) {
    assert.match(line, /^(chat: (page|terminal|irc|health) |ts=\S+ level=)/, line);
  }
  assert.doesNotMatch(stdout, /hello from a pipe|psst|Operator console|<server>/);
  assert.doesNotMatch(stderr.join("\n"), /console|hello from a pipe|psst/, stderr.join("\n"));
});
