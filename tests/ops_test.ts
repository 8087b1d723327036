/**
 * Integration tests of what an operator relies on: `/metrics`, the log, the
 * join timeout, slow consumers on both transports, and TLS.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { createLogger } from "../server/log.ts";
import { itemAt } from "./kit/assert.ts";
import { RawWebSocket, upgradeStatus } from "./kit/raw_ws.ts";
import { type ChatServer, httpUrl, withServer } from "./kit/server.ts";
import { dial } from "./kit/socket.ts";
import { connectTcp, TcpClient } from "./kit/tcp_client.ts";
import { connectWs, WsClient } from "./kit/ws_client.ts";

/** Scrapes `/metrics` into a map from `name{labels}` to value. */
async function scrape(server: ChatServer): Promise<Map<string, number>> {
  const response = await fetch(httpUrl(server, "/metrics"));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const values = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(match, `a sample line: ${JSON.stringify(line)}`);
    values.set(match[1]!, Number(match[2]));
  }
  return values;
}

Deno.test("GET /metrics counts members by transport, messages in and out, and refusals", async () => {
  await withServer(async (server) => {
    await using alice = await connectWs(server, "alice");
    await using bob = await connectTcp(server, "bob");
    await alice.next("join", (e) => e.nick === "bob");
    alice.send({ type: "say", text: "hi" });
    await bob.readUntil("<alice> hi");
    await bob.send("hello");
    await alice.next("message", (m) => m.from === "bob");
    alice.sendRaw("{nope");
    await alice.next("error", (e) => e.code === "bad_json");
    await bob.send("/msg nobody psst");
    await bob.readUntil("! Nobody");
    const status = await upgradeStatus(server.http, { origin: "https://evil.test" });
    assert.match(status, /^HTTP\/1\.1 403 /);

    const m = await scrape(server);
    assert.equal(m.get('chat_members{via="web"}'), 1);
    assert.equal(m.get('chat_members{via="terminal"}'), 1);
    assert.equal(m.get('chat_connections{via="web"}'), 1);
    assert.equal(m.get('chat_connections{via="terminal"}'), 1);
    assert.equal(m.get('chat_messages_received_total{via="web"}'), 1);
    assert.equal(m.get('chat_messages_received_total{via="terminal"}'), 1);
    // Both messages reach both members; the terminal does not show its own.
    assert.equal(m.get('chat_messages_sent_total{via="web"}'), 2);
    assert.equal(m.get('chat_messages_sent_total{via="terminal"}'), 2);
    assert.equal(m.get('chat_refusals_total{reason="bad_json"}'), 1);
    assert.equal(m.get('chat_refusals_total{reason="no_such_nick"}'), 1);
    assert.equal(m.get('chat_refusals_total{reason="cross_origin"}'), 1);
    assert.equal(m.get('chat_queued_bytes{via="terminal"}'), 0);
    assert.ok((m.get("process_resident_memory_bytes") ?? 0) > 1e6);
    assert.ok((m.get("chat_last_message_id") ?? 0) >= 2);
  });
});

Deno.test("the log has joins, leaves and refusals with addresses, and never chat text", async () => {
  const lines: string[] = [];
  const log = createLogger({ level: "debug", write: (line) => lines.push(line) });
  await withServer({ log }, async (server) => {
    await using alice = await connectWs(server, "alice");
    await using bob = await connectTcp(server, "bob");
    await alice.next("join", (e) => e.nick === "bob");
    alice.send({ type: "say", text: "the secret plan" });
    await bob.readUntil("the secret plan");
    await bob.send("/quit");
    await alice.next("leave", (e) => e.nick === "bob");
    await upgradeStatus(server.http, { origin: "https://evil.test" });
  });
  const find = (pattern: RegExp) => lines.find((l) => pattern.test(l));
  assert.ok(find(/level=info msg=join nick=alice via=web address=127\.0\.0\.1$/), lines.join("\n"));
  assert.ok(find(/level=info msg=join nick=bob via=terminal address=127\.0\.0\.1$/));
  assert.ok(find(/level=info msg=leave nick=bob via=terminal reason=quit$/));
  assert.ok(find(/level=warn msg="cross-origin WebSocket refused" origin=https:\/\/evil\.test /));
  assert.ok(find(/level=debug msg=connected via=terminal address=127\.0\.0\.1 tls=false$/));
  assert.ok(
    lines.every((l) => /^ts=\d{4}-\d\d-\d\dT[\d:.]+Z level=(debug|info|warn) msg=/.test(l)),
  );
  assert.ok(!lines.some((l) => l.includes("secret")), "chat text is not logged");
});

Deno.test("a terminal that gives no nickname within the join timeout is told and closed", async () => {
  await withServer({ joinTimeout: 0.05 }, async (server) => {
    await using alice = await connectTcp(server, "alice");
    await using idle = await TcpClient.open(server);
    const lines = await idle.readToEnd();
    assert.deepEqual(lines.slice(-2), ["Your nickname: ", "! No nickname after 0.05 s. Bye."]);
    // Joined before the timeout ran out: still here and chatting.
    await alice.send("/who");
    assert.equal(await alice.readUntil("here:"), "-- 1 here: alice (terminal)");
    const m = await scrape(server);
    assert.equal(m.get('chat_disconnects_total{reason="join_timeout"}'), 1);
    assert.equal(m.get('chat_connections{via="terminal"}'), 1);
  });
});

Deno.test("a socket that does not join within the join timeout gets a fatal error and is closed", async () => {
  await withServer({ joinTimeout: 0.05 }, async (server) => {
    await using alice = await connectWs(server, "alice");
    await using idle = await WsClient.open(server);
    const closed = await idle.closed;
    assert.equal(closed.code, 1001);
    assert.deepEqual(idle.events, [{
      type: "error",
      code: "join_timeout",
      message: "No join after 0.05 s.",
      fatal: true,
    }]);
    alice.send({ type: "who" });
    assert.deepEqual((await alice.next("members")).members, [{ nick: "alice", via: "web" }]);
  });
});

/** Sends `count` 2 KB messages from `from`; returns when `witness` has them all. */
async function pour(from: WsClient, witness: WsClient, first: number, count: number) {
  for (let i = first; i < first + count; i++) {
    from.send({ type: "say", text: `${i} ${"y".repeat(1990)}` });
  }
  const last = `${first + count - 1} `;
  await witness.next("message", (m) => m.text.startsWith(last));
}

for (const via of ["web", "terminal"] as const) {
  Deno.test(`a ${via} member that stops reading is disconnected; the others miss nothing`, async () => {
    await withServer(async (server) => {
      await using alice = await connectWs(server, "alice");
      await using bob = await connectWs(server, "bob");
      let stalled: Deno.Conn;
      let socket: RawWebSocket | undefined;
      if (via === "web") {
        socket = await RawWebSocket.connect(server.http);
        stalled = socket.conn;
        await socket.send({ type: "join", nick: "stalled" });
        await socket.receiveUntil('"welcome"');
      } else {
        stalled = await dial(server.tcp);
        await stalled.write(new TextEncoder().encode("stalled\r\n"));
      }
      try {
        await bob.next("join", (e) => e.nick === "stalled");
        // From here on nothing reads `stalled`: kernel buffers fill, then the
        // server's queue for it, until the bound (1 MiB) is passed.
        const BATCH = 250; // about 1 MB of frames
        let sent = 0;
        let left: string | undefined;
        // (If it never comes, the wait fails at shutdown; the loop says why first.)
        bob.next("leave", (e) => e.nick === "stalled").then((e) => left = e.reason, () => {});
        while (left === undefined) {
          assert.ok(sent < 100 * BATCH, "disconnected before 50 MB were queued for it");
          await pour(alice, bob, sent, BATCH);
          sent += BATCH;
        }
        assert.equal(left, "too slow: stopped reading");
        // Bob, who reads, got every message, in order.
        const texts = bob.events.flatMap((e) => e.type === "message" ? [e.text] : []);
        assert.deepEqual(texts.map((t) => Number(t.split(" ")[0])), [...Array(sent).keys()]);
        const m = await scrape(server);
        assert.equal(m.get(`chat_slow_consumer_disconnects_total{via="${via}"}`), 1);
        assert.equal(m.get('chat_disconnects_total{reason="slow_consumer"}'), 1);
        assert.equal(m.get(`chat_members{via="${via}"}`), via === "web" ? 2 : 0);
        if (socket) {
          // Reading again, it gets what was queued, then the server's close.
          await socket.receiveToEnd();
          assert.equal(socket.closeCode, 1008);
        }
      } finally {
        stalled.close();
      }
    });
  });
}

Deno.test("a page sending a burst it does not read back is read as it reads: not cut off, and every line reaches another member in order", async () => {
  await withServer(async (server) => {
    // One reader, on the page's transport: a second in this process (a
    // terminal's line parser) fell behind the 24 MB on a loaded machine and
    // was cut off as too slow, which is the server doing its job.
    await using alice = await connectWs(server, "alice");
    const page = await RawWebSocket.connect(server.http);
    let writing = Promise.resolve(true);
    try {
      await page.send({ type: "join", nick: "burst" });
      await page.receiveUntil('"welcome"');
      await alice.next("join", (e) => e.nick === "burst");
      // 24 MB of lines, three times the hard bound, each sent back to it,
      // written while it reads nothing.
      const N = 12_000;
      const frames = (from: number) =>
        [...Array(500).keys()].map((i) =>
          JSON.stringify({ type: "say", text: `${from + i} ${"z".repeat(1990)}` })
        );
      // Settles false if a write fails (the server cut it off).
      writing = (async () => {
        for (let from = 0; from < N; from += 500) await page.sendTexts(frames(from));
      })().then(() => true, () => false);
      await alice.next("message", (m) => m.text.startsWith("1000 "));
      // Held once 1 MiB waits for it (before, it was cut off at 8 MiB).
      let left: string | undefined;
      alice.next("leave", (e) => e.nick === "burst").then((e) => left = e.reason, () => {});
      while (((await scrape(server)).get('chat_input_held_total{via="web"}') ?? 0) < 1) {
        assert.equal(left, undefined, "cut off instead of held");
      }
      // Now it reads: what it sent comes back to it, to the last line.
      await page.receiveUntil(`"${N - 1} z`);
      assert.ok(await writing, "every line written");
      await alice.next("message", (m) => m.text.startsWith(`${N - 1} `));
      const texts = alice.events.flatMap((e) => e.type === "message" ? [e.text] : []);
      assert.deepEqual(texts.map((t) => Number(t.split(" ")[0])), [...Array(N).keys()]);
      const leaves = alice.events.filter((e) => e.type === "leave");
      assert.deepEqual(leaves, [], "nobody was cut off");
    } finally {
      page.close();
      await writing;
    }
  });
});

Deno.test("a long /history or a burst of long messages does not cut off members who read", async () => {
  await withServer({ maxPerIp: 100, maxClients: 100 }, async (server) => {
    // 30 members each send 10 messages of 2,000 CJK characters at once, as
    // flood control allows: about 1.8 MB for each member to take.
    const members = await Promise.all(
      [...Array(30).keys()].map((i) => connectWs(server, `m${i}`)),
    );
    await using terminal = await connectTcp(server, "reader");
    try {
      const long = "亚".repeat(1995);
      for (const [i, m] of members.entries()) {
        for (let j = 0; j < 10; j++) m.send({ type: "say", text: `${i}.${j} ${long}` });
      }
      for (const m of members) await m.next("message", (e) => e.text.startsWith("29.9 "));
      await terminal.readUntil("<m29> 29.9 ");
      // A history of 300 such messages: about 1.8 MB in one reply.
      await terminal.send("/history 300");
      const lines = await terminal.readLinesUntil("-- End of history.");
      assert.equal(lines.filter((l) => l.startsWith("(history) ")).length, 300);
      const ws = itemAt(members, 0);
      ws.send({ type: "history", count: 300 });
      assert.equal((await ws.next("history")).messages.length, 300);
      const m = await scrape(server);
      assert.equal(m.get('chat_disconnects_total{reason="slow_consumer"}'), undefined);
      assert.equal(m.get('chat_members{via="web"}'), 30);
    } finally {
      await Promise.all(members.map((m) => m.close()));
    }
  });
});

/** The certificate and key files, as `--cert` and `--key` name them. */
const TLS = {
  cert: fileURLToPath(new URL("fixtures/cert.pem", import.meta.url)),
  key: fileURLToPath(new URL("fixtures/key.pem", import.meta.url)),
};
const CA = Deno.readTextFileSync(new URL("fixtures/ca.pem", import.meta.url));

Deno.test("with a certificate, the page, /ws and the terminal port all speak TLS", async () => {
  await withServer({ tls: TLS }, async (server) => {
    const client = Deno.createHttpClient({ caCerts: [CA] });
    try {
      const response = await fetch(`https://127.0.0.1:${server.http.port}/healthz`, { client });
      assert.equal(await response.text(), "ok\n");
    } finally {
      client.close();
    }
    // Plain HTTP to the TLS port gets nothing it can use.
    await assert.rejects(fetch(httpUrl(server, "/healthz")));

    const tcp = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: server.tcp.port,
      caCerts: [CA],
    });
    const terminal = new TcpClient(tcp);
    const wss = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: server.http.port,
      caCerts: [CA],
    });
    try {
      await terminal.readUntil("Your nickname:");
      await terminal.send("bob");
      await terminal.readUntil("Hello bob!");
      const web = await RawWebSocket.upgrade(wss, `127.0.0.1:${server.http.port}`);
      await web.send({ type: "join", nick: "alice" });
      await web.receiveUntil('"welcome"');
      await terminal.send("over tls");
      assert.match(await web.receiveUntil("over tls"), /"from":"bob"/);
      await web.send({ type: "say", text: "and back" });
      await terminal.readUntil("<alice> and back");
    } finally {
      await terminal.close();
      wss.close();
    }
  });
});
