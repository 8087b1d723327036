/**
 * Integration tests of the WebSocket transport: real sockets on `/ws` of a
 * server on 127.0.0.1, alone and together with terminal members.
 *
 * @module
 */

import assert from "node:assert/strict";
import { httpUrl, withServer } from "./kit/server.ts";
import { connectTcp, TcpClient } from "./kit/tcp_client.ts";
import { connectWs, joinWs, WsClient } from "./kit/ws_client.ts";
import { encodeFrame, RawWebSocket } from "./kit/raw_ws.ts";
import { Opcode } from "../server/transport/web/frames.ts";

Deno.test("webSocketEndpoint() answers join with a welcome holding members and history", async () => {
  await withServer(async (server) => {
    await using watcher = await connectWs(server, "watcher");
    await using alice = await connectTcp(server, "alice");
    await alice.send("earlier words");
    // Once the watcher has it, the message is in the room's history.
    await watcher.next("message");
    await using bob = await WsClient.open(server);
    const welcome = await joinWs(bob, "bob");
    assert.equal(welcome.nick, "bob");
    assert.deepEqual(welcome.members, [
      { nick: "watcher", via: "web" },
      { nick: "alice", via: "terminal" },
      { nick: "bob", via: "web" },
    ]);
    assert.equal(welcome.history.length, 1);
    const [m] = welcome.history;
    assert.equal(m?.from, "alice");
    assert.equal(m?.text, "earlier words");
    assert.equal(m?.to, undefined);
    assert.equal(typeof m?.id, "number");
    const joined = await watcher.next("join", (e) => e.nick === "bob");
    assert.equal(joined.via, "web");
    await alice.readUntil("-- bob joined (web)");
  });
});

Deno.test("webSocketEndpoint() delivers say to every web member as a message event", async () => {
  await withServer(async (server) => {
    await using a = await connectWs(server, "a");
    await using b = await connectWs(server, "b");
    await using c = await connectWs(server, "c");
    const before = Date.now();
    a.send({ type: "say", text: "  hello, web  " });
    const got = await b.next("message");
    assert.equal(got.from, "a");
    assert.equal(got.text, "hello, web");
    assert.equal(got.to, undefined);
    assert.ok(Number.isInteger(got.id) && got.id > 0, `id ${got.id}`);
    assert.ok(got.ts >= before - 1000 && got.ts <= Date.now() + 1000, `ts ${got.ts}`);
    assert.deepEqual(await c.next("message"), got);
    assert.deepEqual(await a.next("message"), got, "the sender gets its own message back");
    a.send({ type: "say", text: "second" });
    const second = await b.next("message");
    assert.ok(second.id > got.id, "ids increase");
  });
});

Deno.test("webSocketEndpoint() bridges terminal and web members both ways", async () => {
  await withServer(async (server) => {
    await using term = await connectTcp(server, "term");
    await using web = await connectWs(server, "web");
    await term.readUntil("-- web joined (web)");
    await term.send("hello from the terminal");
    const fromTerm = await web.next("message");
    assert.equal(fromTerm.from, "term");
    assert.equal(fromTerm.text, "hello from the terminal");
    web.send({ type: "say", text: "hello from the page" });
    assert.match(
      await term.readUntil("<web>"),
      /^\[\d\d:\d\d\] <web> hello from the page$/,
    );
    web.send({ type: "me", text: "waves" });
    assert.match(await term.readUntil("* web"), /^\[\d\d:\d\d\] \* web waves$/);
    await term.send("/me nods");
    const action = await web.next("message", (m) => m.from === "term");
    assert.equal(action.text, "nods");
    assert.equal(action.action, true);

    // Three lines in one write are said in one turn: one frame, three events.
    await term.write("one\ntwo\nthree\n");
    await web.next("message", (m) => m.text === "three");
    const fromTermAll = web.events.filter((e) => e.type === "message" && e.from === "term");
    assert.deepEqual(
      fromTermAll.map((e) => e.type === "message" ? e.text : ""),
      ["hello from the terminal", "nods", "one", "two", "three"],
    );
  });
});

Deno.test("webSocketEndpoint() delivers a private message only to its target and sender", async () => {
  await withServer(async (server) => {
    await using term = await connectTcp(server, "term");
    await using web = await connectWs(server, "web");
    await using third = await connectWs(server, "third");
    await using thirdTerm = await connectTcp(server, "thirdterm");

    web.send({ type: "msg", to: "TERM", text: "web to term" });
    assert.match(
      await term.readUntil("web to term"),
      /^\[\d\d:\d\d\] \[private\] <web> web to term$/,
    );
    const echo = await web.next("message");
    assert.equal(echo.to, "term");
    assert.equal(echo.from, "web");
    assert.equal(echo.text, "web to term");

    await term.send("/msg web term to web");
    const got = await web.next("message");
    assert.deepEqual(
      { from: got.from, to: got.to, text: got.text },
      { from: "term", to: "web", text: "term to web" },
    );
    assert.match(
      await term.readUntil("term to web"),
      /^\[\d\d:\d\d\] \[private to web\] <term> term to web$/,
    );

    // The others see the next public message, and nothing private before it.
    web.send({ type: "say", text: "public" });
    await third.next("message", (m) => m.text === "public");
    assert.ok(
      third.events.every((e) => e.type !== "message" || e.to === undefined),
      JSON.stringify(third.events),
    );
    const seen = await thirdTerm.readLinesUntil("<web> public");
    assert.ok(!seen.some((l) => /private|to web|to term/.test(l)), JSON.stringify(seen));

    web.send({ type: "msg", to: "ghost", text: "anyone?" });
    const refused = await web.next("error");
    assert.equal(refused.code, "no_such_nick");

    await using late = await WsClient.open(server);
    const { history } = await joinWs(late, "late");
    assert.deepEqual(history.map((m) => m.text), ["public"], "private messages are not history");
  });
});

Deno.test("webSocketEndpoint() answers malformed JSON with bad_json and keeps the socket", async () => {
  await withServer(async (server) => {
    await using a = await connectWs(server, "a");
    a.sendRaw("{not json");
    const error = await a.next("error");
    assert.equal(error.code, "bad_json");
    assert.notEqual(error.fatal, true);
    a.sendRaw(JSON.stringify({ type: "shout", text: "x" }));
    assert.equal((await a.next("error")).code, "bad_message");
    a.sendRaw(JSON.stringify({ type: "say", text: 42 }));
    assert.equal((await a.next("error")).code, "bad_message");
    a.send({ type: "say", text: "still here" });
    assert.equal((await a.next("message")).text, "still here");
  });
});

Deno.test("webSocketEndpoint() refuses empty, too long and oversized messages", async () => {
  await withServer(async (server) => {
    await using a = await connectWs(server, "a");
    await using b = await connectWs(server, "b");
    a.send({ type: "say", text: " \x1b[2J\t " });
    assert.equal((await a.next("error")).code, "text_empty");
    a.send({ type: "say", text: "z".repeat(2001) });
    assert.equal((await a.next("error")).code, "text_too_long");
    a.sendRaw(JSON.stringify({ type: "say", text: "z".repeat(40000) }));
    assert.equal((await a.next("error")).code, "frame_too_large");
    const longest = "字".repeat(2000);
    a.send({ type: "say", text: longest });
    assert.equal((await b.next("message")).text, longest);
    assert.equal(b.events.filter((e) => e.type === "message").length, 1, "nothing refused got out");
  });
});

Deno.test("webSocketEndpoint() answers a binary frame with binary_frame and keeps the socket", async () => {
  await withServer(async (server) => {
    await using a = await connectWs(server, "a");
    a.sendRaw(new TextEncoder().encode(JSON.stringify({ type: "say", text: "bin" })).buffer);
    assert.equal((await a.next("error")).code, "binary_frame");
    a.send({ type: "say", text: "text works" });
    const message = await a.next("message");
    assert.equal(message.text, "text works");
    assert.ok(!a.events.some((e) => e.type === "message" && e.text === "bin"));
  });
});

Deno.test("webSocketEndpoint() refuses anything but join before joining", async () => {
  await withServer(async (server) => {
    await using observer = await connectWs(server, "observer");
    await using a = await WsClient.open(server);
    a.send({ type: "say", text: "too early" });
    assert.equal((await a.next("error")).code, "not_joined");
    a.send({ type: "who" });
    assert.equal((await a.next("error")).code, "not_joined");
    const welcome = await joinWs(a, "late");
    assert.deepEqual(welcome.history, [], "nothing was said");
    a.send({ type: "join", nick: "again" });
    assert.equal((await a.next("error")).code, "already_joined");
    a.send({ type: "say", text: "now" });
    assert.equal((await observer.next("message")).text, "now");
  });
});

Deno.test("webSocketEndpoint() refuses a taken nickname and lets the socket join as another", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    await using web = await WsClient.open(server);
    await assert.rejects(joinWs(web, "Alice"), /nick_taken/);
    await assert.rejects(joinWs(web, "no spaces"), /nick_invalid/);
    const welcome = await joinWs(web, "alice2");
    assert.equal(welcome.nick, "alice2");
    await alice.readUntil("-- alice2 joined (web)");
    assert.deepEqual(server.hub.members().map((m) => m.nick), ["alice", "alice2"]);
  });
});

Deno.test("webSocketEndpoint() carries a Chinese nickname across both transports", async () => {
  await withServer(async (server) => {
    await using ming = await connectWs(server, "小明");
    await using hong = await connectTcp(server, "小红");
    assert.ok(
      hong.lines.some((l) => l.includes("-- Hello 小红! Here: 小明 (web).")),
      `${hong.lines}`,
    );
    const joined = await ming.next("join");
    assert.deepEqual([joined.nick, joined.via], ["小红", "terminal"]);

    await hong.send("你好，小明");
    const fromHong = await ming.next("message");
    assert.deepEqual([fromHong.from, fromHong.text], ["小红", "你好，小明"]);
    ming.send({ type: "say", text: "你好，小红" });
    // It names 小红: her line is marked.
    assert.match(await hong.readUntil("<小明>"), /^!\[\d\d:\d\d\] <小明> 你好，小红$/);

    await hong.send("/msg 小明 悄悄话");
    const whisper = await ming.next("message", (m) => m.to !== undefined);
    assert.deepEqual([whisper.from, whisper.to, whisper.text], ["小红", "小明", "悄悄话"]);
    ming.send({ type: "msg", to: "小红", text: "收到" });
    assert.match(await hong.readUntil("收到"), /^\[\d\d:\d\d\] \[private\] <小明> 收到$/);

    await hong.send("/who");
    assert.equal(await hong.readUntil("here:"), "-- 2 here: 小明 (web), 小红 (terminal)");
    ming.send({ type: "nick", nick: "大明" });
    assert.match(await hong.readUntil("known as"), /-- 小明 is now known as 大明$/);
  });
});

Deno.test("webSocketEndpoint() tells the others when a web member closes its socket", async () => {
  await withServer(async (server) => {
    await using a = await connectWs(server, "a");
    await using term = await connectTcp(server, "term");
    await using b = await connectWs(server, "b");
    await a.next("join", (e) => e.nick === "b");
    const close = await b.close();
    assert.equal(close.wasClean, true);
    const leave = await a.next("leave");
    assert.deepEqual(
      { nick: leave.nick, via: leave.via, reason: leave.reason },
      { nick: "b", via: "web", reason: "quit" },
    );
    await term.readUntil("-- b left (quit)");
    assert.deepEqual(server.hub.members().map((m) => m.nick), ["a", "term"]);
  });
});

Deno.test("webSocketEndpoint() shows a newcomer the last 100 messages", async () => {
  await withServer(async (server) => {
    await using talker = await connectWs(server, "talker");
    for (let i = 1; i <= 105; i++) talker.send({ type: "say", text: `m${i}` });
    await talker.next("message", (m) => m.text === "m105");
    await using newcomer = await WsClient.open(server);
    const { history } = await joinWs(newcomer, "newcomer");
    assert.equal(history.length, 100);
    assert.deepEqual(
      history.map((m) => m.text),
      Array.from({ length: 100 }, (_, i) => `m${i + 6}`),
    );
    assert.ok(history.every((m, i) => i === 0 || m.id > (history[i - 1]?.id ?? Infinity)));

    await using term = await TcpClient.open(server);
    await term.readUntil("Your nickname: ");
    await term.send("term");
    assert.match(await term.readUntil("-- Last"), /^-- Last 100 messages:$/);
    const shown = await term.readLinesUntil("-- End of history.");
    assert.equal(shown.length, 101);
    assert.match(shown[0] ?? "", /<talker> m6$/);
    assert.match(shown[99] ?? "", /<talker> m105$/);
  });
});

Deno.test("ChatServer.shutdown() sends a notice to every member and closes them", async () => {
  await withServer(async (server) => {
    await using web = await connectWs(server, "web");
    await using term = await connectTcp(server, "term");
    await using waiting = await TcpClient.open(server);
    await using idle = await WsClient.open(server);
    await waiting.readUntil("Your nickname: ");
    await web.next("join", (e) => e.nick === "term");

    await server.shutdown("Back in five minutes.");

    const notice = await web.next("notice");
    assert.equal(notice.text, "Back in five minutes.");
    const closed = await web.closed;
    assert.equal(closed.code, 1001);
    const rest = await term.readToEnd();
    assert.ok(rest.some((l) => /^\[\d\d:\d\d\] -!- Back in five minutes\.$/.test(l)), `${rest}`);
    assert.ok(term.eof);
    await waiting.readToEnd();
    assert.ok(waiting.eof, "a terminal still choosing a nickname is closed too");
    assert.equal((await idle.closed).code, 1001, "a socket that never joined is closed too");
    await assert.rejects(TcpClient.open(server), Deno.errors.ConnectionRefused);
  });
});

Deno.test("webSocketEndpoint() lets a rejoin with the welcome's token take the seat back", async () => {
  await withServer(async (server) => {
    await using term = await connectTcp(server, "term");
    const first = await WsClient.open(server);
    await using _first = first;
    const welcome = await joinWs(first, "alice");
    await term.readUntil("-- alice joined (web)");

    // Someone else with the nickname but not the token is refused.
    await using other = await WsClient.open(server);
    other.send({ type: "join", nick: "alice", token: "guess" });
    assert.equal((await other.next("error")).code, "nick_taken");

    // The same person from a new connection, with the token: the old one is closed.
    await using second = await WsClient.open(server);
    second.send({ type: "join", nick: "alice", token: welcome.token });
    assert.equal((await second.next("welcome")).nick, "alice");
    await first.closed;
    second.send({ type: "say", text: "back again" });
    // The terminal member sees the message and no leave or join before it.
    const lines = await term.readLinesUntil("<alice> back again");
    assert.deepEqual(lines.filter((l) => l.includes("--")), []);
  });
});

Deno.test("a room past the presence limit announces joins and leaves in a summary, on both transports", async () => {
  await withServer({ presenceLimit: 1, presenceEveryMs: 20 }, async (server) => {
    await using alice = await connectWs(server, "alice");
    await using bob = await connectTcp(server, "bob");
    const summary = await alice.next("presence");
    assert.deepEqual(summary.joined, [{ nick: "bob", via: "terminal" }]);
    assert.equal(summary.joins, 1);
    assert.equal(summary.count, 2);
    assert.match(await bob.readUntil("joined"), /-- bob \(terminal\) joined \(2 here\)$/);
    await bob.send("/quit");
    const next = await alice.next("presence");
    assert.deepEqual({ left: next.left, leaves: next.leaves, count: next.count }, {
      left: ["bob"],
      leaves: 1,
      count: 1,
    });
    assert.deepEqual(alice.events.filter((e) => e.type === "join" || e.type === "leave"), []);
  });
});

Deno.test("webSocketEndpoint(): a page closed without /quit (close code 1001) is told as 'closed the page'", async () => {
  await withServer(async (server) => {
    await using a = await connectWs(server, "a");
    await using term = await connectTcp(server, "term");
    const tab = await RawWebSocket.connect(server.http);
    try {
      await tab.send({ type: "join", nick: "tab" });
      await a.next("join", (e) => e.nick === "tab");
      // What a browser sends when its tab is closed.
      await tab.closeCleanly(1001);
    } finally {
      tab.close();
    }
    const leave = await a.next("leave");
    assert.deepEqual([leave.nick, leave.reason], ["tab", "closed the page"]);
    await term.readUntil("-- tab left (closed the page)");
  });
});

Deno.test("webSocketEndpoint(): a page closed and reloaded takes its seat back with its token: no leave, no join, its private messages again", async () => {
  await withServer(async (server) => {
    await using a = await connectWs(server, "a");
    await using term = await connectTcp(server, "term");
    const tab = await RawWebSocket.connect(server.http);
    let token: string | undefined;
    try {
      await tab.send({ type: "join", nick: "tab" });
      token = /"token":"([^"]+)"/.exec(await tab.receiveUntil('"welcome"'))?.[1];
      a.send({ type: "msg", to: "tab", text: "before the reload" });
      await tab.receiveUntil("before the reload");
      await tab.closeCleanly(1001); // what a browser sends as it reloads the page
    } finally {
      tab.close();
    }
    assert.ok(token);
    // Once its connection is closed, while its seat waits: a private message
    // to it is refused, not kept for a reload that may not come.
    const webConnections = async () => {
      const body = await (await fetch(httpUrl(server, "/metrics"))).text();
      return /^chat_connections\{via="web"\} (\d+)$/m.exec(body)?.[1];
    };
    while (await webConnections() !== "1");
    a.send({ type: "msg", to: "tab", text: "while it reloads" });
    const answer = await a.nextEvent((e) =>
      e.type === "error" || (e.type === "message" && e.text === "while it reloads")
    );
    assert.deepEqual(
      answer.type === "error" ? [answer.code, answer.message] : answer,
      ["no_such_nick", "Not delivered: tab closed the page a moment ago; try again in a moment."],
    );
    await using again = await WsClient.open(server);
    const back = await joinWs(again, "tab", { token });
    assert.deepEqual(
      back.history.filter((m) => m.to !== undefined).map((m) => [m.from, m.to, m.text]),
      [["a", "tab", "before the reload"]],
      "the private messages its seat keeps",
    );
    again.send({ type: "say", text: "after the reload" });
    await a.next("message", (m) => m.text === "after the reload");
    await term.readUntil("<tab> after the reload");
    assert.deepEqual(
      a.events.filter((e) => (e.type === "join" || e.type === "leave") && e.nick === "tab")
        .map((e) => e.type),
      ["join"],
      "the others saw its first join only",
    );
    assert.ok(!term.lines.some((l) => l.includes("tab left")), term.lines.join("\n"));
  });
});

Deno.test("webSocketEndpoint(): a closed page's name is free for a join without its token: its seat goes at once", async () => {
  await withServer(async (server) => {
    await using a = await connectWs(server, "a");
    const tab = await RawWebSocket.connect(server.http);
    try {
      await tab.send({ type: "join", nick: "tab" });
      await tab.receiveUntil('"welcome"');
      await a.next("join", (e) => e.nick === "tab");
      await tab.closeCleanly(1001);
    } finally {
      tab.close();
    }
    // Once its connection is closed, while its seat waits for a reload, a
    // new tab asks for the name.
    const webConnections = async () => {
      const body = await (await fetch(httpUrl(server, "/metrics"))).text();
      return /^chat_connections\{via="web"\} (\d+)$/m.exec(body)?.[1];
    };
    while (await webConnections() !== "1");
    await using fresh = await WsClient.open(server);
    await joinWs(fresh, "TAB");
    const leave = await a.next("leave", (e) => e.nick === "tab");
    assert.equal(leave.reason, "closed the page");
    await a.next("join", (e) => e.nick === "TAB");
  });
});

Deno.test("webSocketEndpoint(): a quit frame leaves with its message, and the server closes the socket", async () => {
  await withServer(async (server) => {
    await using a = await connectWs(server, "a");
    await using b = await connectWs(server, "b");
    await a.next("join", (e) => e.nick === "b");
    b.send({ type: "quit", text: "back tomorrow" });
    const leave = await a.next("leave");
    assert.deepEqual([leave.nick, leave.reason], ["b", "quit: back tomorrow"]);
    const closed = await b.closed;
    assert.equal(closed.wasClean, true, "closed by the server, with a handshake");
    assert.deepEqual(server.hub.members().map((m) => m.nick), ["a"]);
  });
});

Deno.test("webSocketEndpoint(): a join sent in the same packet as the upgrade request is answered", async () => {
  await withServer(async (server) => {
    await using a = await connectWs(server, "a");
    const join = encodeFrame(
      Opcode.text,
      new TextEncoder().encode('{"type":"join","nick":"hasty"}'),
    );
    const hasty = await RawWebSocket.connect(server.http, { after: join });
    try {
      const welcome = JSON.parse(await hasty.receive() ?? "null");
      assert.equal(welcome?.type, "welcome", JSON.stringify(welcome));
      await a.next("join", (e) => e.nick === "hasty");
    } finally {
      hasty.close();
    }
  });
});
