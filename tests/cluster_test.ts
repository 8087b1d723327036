/**
 * Two nodes, one service: servers started here, each with its own
 * {@linkcode RedisCluster} on one real `redis-server`, over real sockets.
 */

import assert from "node:assert/strict";
import { RedisCluster } from "../server/bus/cluster.ts";
import { createLogger } from "../server/log.ts";
import { untilHealth, withNodes } from "./kit/cluster.ts";
import { RedisProxy } from "./kit/redis_proxy.ts";
import { RedisServer } from "./kit/redis_server.ts";
import { type ChatServer, startServer } from "./kit/server.ts";
import { connectWs, WsClient } from "./kit/ws_client.ts";
import { connectTcp, TcpClient } from "./kit/tcp_client.ts";
import { connectIrc, openIrc } from "./kit/irc_client.ts";

Deno.test("cluster: a page, a terminal and an IRC client on two nodes chat in #lobby", async () => {
  await withNodes(2, async ([a, b]) => {
    await using web = await connectWs(a!, "alice");
    await using term = await connectTcp(b!, "bob");
    await using irc = await connectIrc(a!, "carol");
    await irc.send("JOIN #lobby");
    await irc.readUntil((line) => / 366 carol #lobby /.test(line));
    await web.nextEvent((e) => e.type === "join" && e.nick === "carol");
    web.send({ type: "say", text: "from the page" });
    await term.readUntil((line) => line.includes("<alice> from the page"));
    await irc.readUntil((line) => line.includes("PRIVMSG #lobby :from the page"));
    await term.send("from the terminal");
    await web.nextEvent((e) => e.type === "message" && e.text === "from the terminal");
    await irc.readUntil((line) => line.includes("PRIVMSG #lobby :from the terminal"));
    await irc.send("PRIVMSG #lobby :from irc");
    await web.nextEvent((e) => e.type === "message" && e.text === "from irc" && e.from === "carol");
    await term.readUntil((line) => line.includes("<carol> from irc"));
    // Member lists are the service's, with how each is connected.
    web.send({ type: "who" });
    const who = await web.nextEvent((e) => e.type === "members");
    assert.ok(who.type === "members");
    assert.deepEqual(
      who.members.map((m) => `${m.nick}/${m.via}`).sort(),
      ["alice/web", "bob/terminal", "carol/irc"],
    );
  });
});

Deno.test("cluster: 100 concurrent joins of one nickname over two nodes give exactly one welcome", async () => {
  await withNodes(2, async (nodes) => {
    const clients = await Promise.all(
      Array.from({ length: 100 }, (_, i) => WsClient.open(nodes[i % 2]!)),
    );
    try {
      for (const client of clients) client.send({ type: "join", nick: "dup" });
      const answers = await Promise.all(
        clients.map((c) => c.nextEvent((e) => e.type === "welcome" || e.type === "error")),
      );
      assert.equal(answers.filter((e) => e.type === "welcome").length, 1);
      assert.ok(
        answers.every((e) =>
          e.type === "welcome" || (e.type === "error" && e.code === "nick_taken")
        ),
      );
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});

Deno.test("cluster: a terminal's lines after a /join still waiting on Redis go to that room, and /quit comes after them", async () => {
  await withNodes(2, async ([a, b]) => {
    await using web = await connectWs(a!, "alice");
    web.send({ type: "enter", room: "#dev" });
    await web.nextEvent((e) => e.type === "entered" && e.room === "#dev");
    await using term = await connectTcp(b!, "bob");
    // In one write: the lines after the /join are read while it waits on Redis.
    await term.write("/join #dev\r\nin dev\r\n/quit done\r\n");
    const lines = await term.readToEnd();
    assert.ok(lines.some((l) => l.startsWith("-- You joined #dev.")), JSON.stringify(lines));
    assert.equal(lines.at(-1), "-- Bye!");
    // What bob said came before alice's next line, which marks the end.
    web.send({ type: "say", room: "#dev", text: "end" });
    await web.nextEvent((e) => e.type === "message" && e.text === "end");
    const said = web.events.flatMap((e) =>
      e.type === "message" && e.from === "bob" ? [`${e.room} ${e.text}`] : []
    );
    assert.deepEqual(said, ["#dev in dev"], JSON.stringify({ lines, events: web.events }));
  });
});

Deno.test("cluster: an IRC client's lines past the hundred held while a JOIN waits on Redis are dropped, and it is told how many", async () => {
  await withNodes(2, async ([a, b]) => {
    await using web = await connectWs(a!, "alice");
    web.send({ type: "enter", room: "#dev" });
    await web.nextEvent((e) => e.type === "entered" && e.room === "#dev");
    await using irc = await connectIrc(b!, "carl");
    // In one write: all read while the JOIN waits on Redis.
    const said = Array.from({ length: 150 }, (_, i) => `PRIVMSG #dev :n${i}\r\n`);
    await irc.write(`JOIN #dev\r\n${said.join("")}`);
    const told = await irc.readUntil((line) => line.includes("were not carried out"));
    assert.match(
      told,
      /NOTICE carl :50 lines you sent while the server waited .* send them again\.$/,
    );
    // A line of his after the notice comes after every one of his carried out.
    await irc.send("PRIVMSG #dev :after");
    await web.nextEvent((e) => e.type === "message" && e.text === "after");
    const got = web.events.flatMap((e) =>
      e.type === "message" && e.from === "carl" ? [e.text] : []
    );
    assert.deepEqual(got, [...Array.from({ length: 100 }, (_, i) => `n${i}`), "after"]);
  });
});

Deno.test("cluster: the notice of an IRC client's dropped lines comes after the answer to the last held one, and not to one that quit", async () => {
  await withNodes(2, async ([, b]) => {
    await using irc = await connectIrc(b!, "carl");
    const said = Array.from({ length: 99 }, (_, i) => `PRIVMSG #dev :n${i}\r\n`);
    const extra = Array.from({ length: 5 }, (_, i) => `PRIVMSG #dev :x${i}\r\n`);
    // The hundredth line held waits on Redis in turn.
    await irc.write(`JOIN #dev\r\n${said.join("")}JOIN #ops\r\n${extra.join("")}`);
    const lines = await irc.readLinesUntil((line) => line.includes("were not carried out"));
    assert.ok(lines.some((l) => / 366 carl #ops /.test(l)), JSON.stringify(lines.slice(-3)));
    await using quitter = await connectIrc(b!, "dave");
    await quitter.write(`JOIN #dev\r\n${said.join("")}QUIT :bye\r\n${extra.join("")}`);
    const rest = await quitter.readToEnd();
    assert.match(rest.at(-1) ?? "", /ERROR :Closing link/);
    assert.ok(!rest.some((l) => l.includes("were not carried out")));
  });
});

Deno.test("cluster: piped terminal and IRC input that ends while its lines wait on Redis is carried out", async () => {
  await withNodes(2, async ([a, b]) => {
    await using web = await connectWs(a!, "alice");
    // As `printf 'bob\nfrom a pipe\n' | nc`: the join waits on Redis when the input ends.
    await using term = await TcpClient.open(b!);
    await term.write("bob\r\nfrom a pipe\r\n");
    await term.closeWrite();
    await using irc = await openIrc(b!);
    await irc.write("NICK carl\r\nUSER carl 0 * :Carl\r\nJOIN #lobby\r\nPRIVMSG #lobby :piped\r\n");
    await irc.closeWrite();
    // Each is let go once its lines are carried out; alice's line after marks the end.
    await term.readToEnd();
    await irc.readToEnd();
    web.send({ type: "say", text: "end" });
    await web.nextEvent((e) => e.type === "message" && e.text === "end");
    const said = web.events.flatMap((e) => e.type === "message" ? [`${e.from}: ${e.text}`] : []);
    assert.deepEqual(said.sort(), ["alice: end", "bob: from a pipe", "carl: piped"]);
  });
});

Deno.test("cluster: piped terminal input that ends with a quit still gets its goodbye", async () => {
  await withNodes(2, async ([a, b]) => {
    await using web = await connectWs(a!, "alice");
    // As `printf 'bob\nhello\n/quit bye\n' | nc`: the quit waits for the line, then the input ends.
    await using term = await TcpClient.open(b!);
    await term.write("bob\r\nhello\r\n/quit bye\r\n");
    await term.closeWrite();
    const lines = await term.readToEnd();
    assert.ok(lines.includes("-- Bye!"), JSON.stringify(lines));
    await web.nextEvent((e) => e.type === "leave" && e.nick === "bob" && e.reason === "quit: bye");
  });
});

Deno.test("cluster: piped IRC input that ends with a QUIT still gets its ERROR", async () => {
  await withNodes(2, async ([a, b]) => {
    await using web = await connectWs(a!, "alice");
    await using irc = await openIrc(b!);
    await irc.write(
      "NICK carl\r\nUSER carl 0 * :Carl\r\nJOIN #lobby\r\nPRIVMSG #lobby :hi\r\nQUIT :gone\r\n",
    );
    await irc.closeWrite();
    const lines = await irc.readToEnd();
    assert.ok(
      lines.some((l) => / ERROR :Closing link: Quit: gone$/.test(l)),
      JSON.stringify(lines),
    );
    await web.nextEvent((e) => e.type === "leave" && e.nick === "carl");
  });
});

Deno.test("cluster: a page's frames sent just before it closes, waiting on Redis, are carried out", async () => {
  await withNodes(2, async ([a, b]) => {
    await using web = await connectWs(a!, "alice");
    const page = await WsClient.open(b!);
    // Its join waits on Redis when the say and the close frame come.
    page.send({ type: "join", nick: "dora" });
    page.send({ type: "say", text: "sent, then closed" });
    await page.close();
    await web.nextEvent((e) => e.type === "leave" && e.nick === "dora");
    web.send({ type: "say", text: "end" });
    await web.nextEvent((e) => e.type === "message" && e.text === "end");
    const said = web.events.flatMap((e) => e.type === "message" ? [`${e.from}: ${e.text}`] : []);
    assert.deepEqual(said, ["dora: sent, then closed", "alice: end"]);
  });
});

Deno.test("cluster: a node that stops tells the others at once: its members leave, 'server shutting down'", async () => {
  await withNodes(2, async ([a, b]) => {
    await using web = await connectWs(a!, "alice");
    await using _bob = await connectTcp(b!, "bob");
    await web.nextEvent((e) => e.type === "join" && e.nick === "bob");
    await b!.shutdown();
    const left = await web.next("leave", (e) => e.nick === "bob");
    assert.equal(left.reason, "server shutting down");
    web.send({ type: "who" });
    const who = await web.next("members");
    assert.deepEqual(who.members.map((m) => m.nick), ["alice"]);
  });
});

Deno.test("cluster: a member kicked on one node cannot come back through another, under any name", async () => {
  await withNodes(2, async ([a, b]) => {
    await using watcher = await connectWs(b!, "watcher");
    await using mallory = await connectTcp(a!, "mallory");
    await watcher.nextEvent((e) => e.type === "join" && e.nick === "mallory");
    assert.ok(a!.hub.kick("mallory", "spam"));
    // The ban is told before the leave: b holds it once the leave is seen there.
    await watcher.next("leave", (e) => e.nick === "mallory");
    await mallory.readToEnd();
    for (const nick of ["mallory", "mallory2"]) {
      await using back = await TcpClient.open(b!);
      await back.readUntil("Your nickname: ");
      await back.send(nick);
      assert.match(await back.readUntil((line) => /kicked|Hello/.test(line)), /You were kicked/);
    }
  });
});

Deno.test("cluster: a node that cannot read the service's members as it starts tries again, and serves once Redis answers", async () => {
  await using redis = await RedisServer.start();
  await using proxy = new RedisProxy(redis.port);
  const failed = Promise.withResolvers<void>();
  const log = createLogger({
    level: "error",
    write: (line) => {
      if (line.includes("cannot read the service's members")) failed.resolve();
    },
  });
  // Opened, then cut off before its first read of the member list.
  const cluster = await RedisCluster.open({ url: proxy.url, keep: 100, commandTimeoutMs: 200 });
  proxy.block();
  const node = startServer({ cluster, log });
  try {
    await failed.promise;
    await untilHealth(node, 503);
    proxy.unblock();
    await untilHealth(node, 200);
    await using alice = await connectWs(node, "alice");
    alice.send({ type: "say", text: "in at last" });
    await alice.next("message", (m) => m.text === "in at last");
  } finally {
    await node.shutdown();
  }
});

/**
 * Runs `fn` on two nodes, `b` reaching Redis through `proxy` (which can hold
 * its feed's reads) and waiting 100 ms at most for its feed to reach an id.
 */
async function withLaggingNode(
  fn: (a: ChatServer, b: ChatServer, proxy: RedisProxy) => Promise<void>,
): Promise<void> {
  await using redis = await RedisServer.start();
  await using proxy = new RedisProxy(redis.port);
  const a = startServer({ cluster: await RedisCluster.open({ url: redis.url, keep: 100 }) });
  const b = startServer({
    cluster: await RedisCluster.open({ url: proxy.url, keep: 100, reachMs: 100 }),
  });
  try {
    await untilHealth(a, 200);
    await untilHealth(b, 200);
    await fn(a, b, proxy);
  } finally {
    await a.shutdown();
    await b.shutdown();
  }
}

/** The texts `client` was shown in `room`, in its welcome or entry and live, in order. */
function shownIn(client: WsClient, room: string): string[] {
  return client.events.flatMap((e) =>
    (e.type === "welcome" || e.type === "entered") && e.room === room
      ? e.history.map((m) => m.text)
      : e.type === "message" && e.room === room
      ? [e.text]
      : []
  );
}

Deno.test("cluster: a join while the node's feed lags past reach's bound shows each message once: the welcome up to the feed's position, the rest live", async () => {
  await withLaggingNode(async (a, b, proxy) => {
    await using bob = await connectWs(a, "bob");
    // b's read under way brings m1; the next one is held on its way.
    const held = proxy.holdNextRequest((request) => /xread/i.test(request));
    bob.send({ type: "say", text: "m1" });
    await held.held;
    bob.send({ type: "say", text: "m2" });
    await bob.next("message", (m) => m.text === "m2");
    await using carol = await connectWs(b, "carol");
    held.release();
    bob.send({ type: "say", text: "m3" });
    await carol.next("message", (m) => m.text === "m3");
    assert.deepEqual(shownIn(carol, "#lobby").filter((t) => /^m\d$/.test(t)), ["m1", "m2", "m3"]);
  });
});

Deno.test("cluster: entering a room while the node's feed lags shows each of its messages once", async () => {
  await withLaggingNode(async (a, b, proxy) => {
    await using bob = await connectWs(a, "bob");
    await using carol = await connectWs(b, "carol");
    bob.send({ type: "enter", room: "#dev" });
    await bob.next("entered");
    const held = proxy.holdNextRequest((request) => /xread/i.test(request));
    bob.send({ type: "say", room: "#dev", text: "d1" });
    await held.held;
    bob.send({ type: "say", room: "#dev", text: "d2" });
    await bob.next("message", (m) => m.text === "d2");
    carol.send({ type: "enter", room: "#dev" });
    await carol.next("entered");
    held.release();
    bob.send({ type: "say", room: "#dev", text: "d3" });
    await carol.next("message", (m) => m.text === "d3");
    assert.deepEqual(shownIn(carol, "#dev"), ["d1", "d2", "d3"]);
  });
});
