/**
 * Search over real sockets: `search` frames, a terminal's `/search` and IRC's
 * `SEARCH`, against a server keeping its history in SQLite; what a search
 * may find (the rooms one is in, within `keep`), and what it costs.
 *
 * The stores' own searches (memory, SQLite, Redis) are tested in
 * `store_test.ts` and `redis_history_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { SEARCH_TEXT_MAX } from "../common/protocol.ts";
import { SqliteHistory } from "../server/history/sqlite.ts";
import { Hub, SEARCH_COST, SEARCH_STEP_ROWS } from "../server/hub/hub.ts";
import { MemoryHistory, type RoomMessage } from "../server/history/history.ts";
import { FakeMember } from "./kit/fake_member.ts";
import { connectIrc, numeric } from "./kit/irc_client.ts";
import { withServer } from "./kit/server.ts";
import { connectTcp } from "./kit/tcp_client.ts";
import { connectWs, type WsClient } from "./kit/ws_client.ts";

/** Says `text` in `room` from a page, and waits for it to come back. */
async function say(client: WsClient, text: string, room = "#lobby"): Promise<void> {
  client.send({ type: "say", text, room });
  await client.next("message", (m) => m.text === text);
}

Deno.test("search: a page, a terminal and an IRC client find their rooms' messages, folded, newest first", async () => {
  await withServer({ store: new SqliteHistory(":memory:", 10_000) }, async (server) => {
    await using alice = await connectWs(server, "alice");
    alice.send({ type: "enter", room: "#dev" });
    await alice.next("entered");
    await using bob = await connectTcp(server, "bob");
    await say(alice, "Deploy at 5", "#dev");
    await say(alice, "who broke the DEPLOY?");
    // Look-alikes as one: a full-width "ｄ", a Cyrillic "е" and "о".
    await say(alice, "ｄеplоy done", "#dev");
    await say(alice, "lunch?");

    alice.send({ type: "search", text: "  deploy ", label: "q1" });
    const found = await alice.next("search");
    assert.deepEqual(found.messages.map((m) => [m.room, m.from, m.text]), [
      ["#dev", "alice", "ｄеplоy done"],
      ["#lobby", "alice", "who broke the DEPLOY?"],
      ["#dev", "alice", "Deploy at 5"],
    ]);
    assert.equal(found.text, "deploy");
    assert.equal(found.label, "q1");
    const ids = found.messages.map((m) => m.id);
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a), "newest first");

    // bob is in #lobby only: #dev's lines are not his to find.
    await bob.send("/search DePlOy");
    const lines = await bob.readLinesUntil("-- End of search.");
    const head = lines.findIndex((l) => l.startsWith('-- 1 message found for "DePlOy"'));
    assert.ok(head >= 0, lines.join("\n"));
    assert.match(
      lines[head + 1]!,
      /^#lobby \[\d{4}-\d\d-\d\d \d\d:\d\d\] <alice> who broke the DEPLOY\?$/,
    );
    assert.equal(lines[head + 2], "-- End of search.");
    await bob.send("/search nothing like this");
    await bob.readUntil('-- No messages found for "nothing like this".');
    await bob.send("/search");
    await bob.readUntil("! Usage: /search TEXT");

    await using carol = await connectIrc(server, "carol");
    await carol.send("JOIN #dev");
    await carol.readUntil(numeric("366"));
    await carol.send("SEARCH dep loy");
    await carol.readUntil('NOTICE carol :-- No messages found for "dep loy".');
    await carol.send("SEARCH deploy done");
    const notices = await carol.readLinesUntil((l) => l.endsWith("-- End of search."));
    assert.deepEqual(notices.map((l) => l.replace(/\[[^\]]*\]/, "[T]")), [
      ':chat.local NOTICE carol :-- 1 message found for "deploy done", newest first:',
      ":chat.local NOTICE carol :#dev [T] <alice> ｄеplоy done",
      ":chat.local NOTICE carol :-- End of search.",
    ]);
    await carol.send("SEARCH");
    await carol.readUntil(numeric("461"));
  });
});

Deno.test("search: a long message found from IRC comes as NOTICEs within 512 bytes", async () => {
  await withServer({ store: new SqliteHistory(":memory:", 100) }, async (server) => {
    await using alice = await connectWs(server, "alice");
    const long = `needle ${"汉字 ".repeat(600)}`.trim();
    await say(alice, long);
    await using carol = await connectIrc(server, "carol");
    await carol.send("JOIN #lobby");
    await carol.readUntil(numeric("366"));
    await carol.send("SEARCH :needle");
    const lines = await carol.readLinesUntil((l) => l.endsWith("-- End of search."));
    const found = lines.filter((l) => l.includes(" NOTICE carol :") && !l.includes(":--"));
    assert.ok(found.length > 1, "split into several");
    for (const line of lines) assert.ok(new TextEncoder().encode(line).length + 2 <= 512, line);
  });
});

Deno.test("search: the text is bounded before any work, and so is the label", async () => {
  await withServer({ store: new SqliteHistory(":memory:", 100) }, async (server) => {
    await using alice = await connectWs(server, "alice");
    alice.send({ type: "search", text: "x".repeat(SEARCH_TEXT_MAX + 1) });
    assert.equal((await alice.next("error")).code, "text_too_long");
    alice.send({ type: "search", text: " \t ", label: "search:2" });
    const empty = await alice.next("error");
    assert.deepEqual([empty.code, empty.label], ["text_empty", "search:2"]);
    alice.send({ type: "search", text: "x", label: "y".repeat(65) });
    assert.equal((await alice.next("error")).code, "bad_message");
    alice.send({ type: "search", text: 42 });
    assert.equal((await alice.next("error")).code, "bad_message");
    // At the bound, with spaces around it: trimmed, then measured.
    alice.send({ type: "search", text: ` ${"x".repeat(SEARCH_TEXT_MAX)} ` });
    assert.deepEqual((await alice.next("search")).messages, []);
  });
});

Deno.test("search: a search costs the flood bucket SEARCH_COST lines", async () => {
  await withServer(
    { store: new SqliteHistory(":memory:", 100), floodBurst: 2 * SEARCH_COST, floodRate: 0.001 },
    async (server) => {
      await using alice = await connectWs(server, "alice");
      assert.ok(SEARCH_COST > 1);
      for (let i = 0; i < 2; i++) {
        alice.send({ type: "search", text: "x" });
        await alice.next("search");
      }
      alice.send({ type: "search", text: "x", label: "search:3" });
      const refused = await alice.next("error");
      assert.equal(refused.code, "rate_limited");
      // Said as a search, under its label: a page shows it where the answer would go.
      assert.match(refused.message, /^You are searching too fast; try again in \d+ s\.$/);
      assert.equal(refused.label, "search:3");
      alice.send({ type: "say", text: "and no line" });
      assert.equal((await alice.next("error")).code, "rate_limited");
      // The same burst holds 2 * SEARCH_COST lines.
      await using bob = await connectWs(server, "bob");
      for (let i = 0; i < 2 * SEARCH_COST; i++) await say(bob, `line ${i}`);
      bob.send({ type: "say", text: "one too many" });
      assert.equal((await bob.next("error")).code, "rate_limited");
    },
  );
});

Deno.test("Hub: searches share a server-wide time budget: they wait their turn past it, lines do not, and once in debt a new one is refused for a moment", async () => {
  const clock = { time: 1_000_000 };
  /** A store whose searches take 40 ms of the clock. */
  class SlowStore extends MemoryHistory {
    override search(keys: readonly string[], folded: string, limit: number): RoomMessage[] {
      clock.time += 40;
      return super.search(keys, folded, limit);
    }
  }
  const hub = new Hub({
    now: () => clock.time,
    store: new SlowStore(),
    searchBudget: { burst: 100, perSecond: 100 },
    floodBurst: 1e9,
    floodRate: 1e9,
  });
  const members = ["a", "b", "c", "d"].map((nick) => {
    const member = new FakeMember();
    assert.ok(hub.join(member, nick));
    return member;
  });
  for (const member of members) member.take();
  // Four at once: each is answered, one room at a time, the fourth once the
  // budget (100 ms, then 100 ms a second) has room again.
  const answers = members.map((member) => member.until("search"));
  const handled = members.map((member) => hub.handle(member, { type: "search", text: "x" }));
  hub.handle(members[3]!, { type: "say", text: "lines still go" });
  assert.equal(members[3]!.ofType("message").length, 1, "not behind the searches");
  await Promise.all(answers);
  assert.deepEqual(await Promise.all(handled), [true, true, true, true]);
  // 160 ms spent of 100: a new search is refused until the debt is paid.
  members[0]!.take();
  assert.equal(hub.handle(members[0]!, { type: "search", text: "x" }), false);
  assert.match(members[0]!.codes().join(), /rate_limited/);
  clock.time += 1_000;
  members[0]!.take();
  const again = members[0]!.until("search");
  assert.equal(await hub.handle(members[0]!, { type: "search", text: "x" }), true);
  await again;
});

Deno.test("Hub: a search reads one room at a time with turns of the event loop between, and refuses a text that folds past twice SEARCH_TEXT_MAX", async () => {
  const seen: string[] = [];
  const bob = new FakeMember();
  class WatchedStore extends MemoryHistory {
    override search(keys: readonly string[], folded: string, limit: number): RoomMessage[] {
      seen.push(`search ${keys.join(",")} (${folded.length})`);
      // A line that comes while the first room is read goes before the second.
      if (keys[0] === "#lobby") {
        setTimeout(() => hub?.handle(bob, { type: "say", text: "between" }));
      }
      return super.search(keys, folded, limit);
    }
  }
  const hub = new Hub({ store: new WatchedStore(), floodBurst: 1e9, floodRate: 1e9 });
  const alice = new FakeMember();
  assert.ok(hub.join(alice, "alice", undefined, undefined, ["#lobby", "#a", "#b"]));
  assert.ok(hub.join(bob, "bob"));
  hub.watch((e) => e.type === "message" && seen.push(`line ${e.text}`));
  // U+FDFA folds to 18 characters: 10 of it to 180, compared whole.
  const answer = alice.until("search");
  const searched = hub.handle(alice, { type: "search", text: "\uFDFA".repeat(10) });
  hub.handle(bob, { type: "say", text: "meanwhile" });
  await answer;
  assert.equal(await searched, true);
  assert.deepEqual(seen, [
    "line meanwhile",
    "search #lobby (180)",
    "line between",
    "search #a (180)",
    "search #b (180)",
  ]);
  assert.deepEqual(alice.ofType("search").map((e) => e.messages), [[]]);
  // 12 of it fold to 216: refused, not cut (a cut text finds lines without it).
  assert.equal(hub.handle(alice, { type: "search", text: "\uFDFA".repeat(12) }), false);
  assert.deepEqual(alice.codes(), ["text_too_long"]);
});

Deno.test("webSocketEndpoint(): history around an id answers it with its neighbours, under the label", async () => {
  await withServer({ store: new SqliteHistory(":memory:", 100) }, async (server) => {
    await using alice = await connectWs(server, "alice");
    for (let i = 0; i < 30; i++) await say(alice, `line ${i}`);
    const middle = alice.events.find((e) => e.type === "message" && e.text === "line 15");
    assert.ok(middle?.type === "message");
    alice.send({ type: "history", around: middle.id, count: 5, label: "ctx" });
    const around = await alice.next("history");
    assert.deepEqual(around.messages.map((m) => m.text), [
      "line 13",
      "line 14",
      "line 15",
      "line 16",
      "line 17",
    ]);
    assert.equal(around.label, "ctx");
    alice.send({ type: "history", around: middle.id, before: 3 });
    assert.equal((await alice.next("error")).code, "bad_message");
    alice.send({ type: "history", around: -1 });
    assert.equal((await alice.next("error")).code, "bad_message");
  });
});

Deno.test("SqliteHistory.searchStep() reads a room's kept window a few rows at a time and finds what search() finds", () => {
  const store = new SqliteHistory(":memory:", 40);
  try {
    // 50 lines (the oldest 10 past the window), every third one holds "needle".
    for (let i = 0; i < 50; i++) {
      const text = i % 3 === 0 ? `line ${i} needle` : `line ${i}`;
      store.append("#r", {
        type: "message",
        id: store.nextId(),
        ts: i,
        room: "#r",
        from: "a",
        text,
      });
    }
    const other = { type: "message" as const, ts: 1, room: "#other", from: "a", text: "needle" };
    store.append("#other", { ...other, id: store.nextId() });
    const whole = store.search(["#r"], "needle", 50).map((m) => m.text);
    const stepped: string[] = [];
    const reads: number[] = [];
    let before: number | undefined;
    do {
      const step = store.searchStep("#r", "needle", 50 - stepped.length, before, 7);
      stepped.push(...step.messages.map((m) => m.text));
      reads.push(step.messages.length);
      before = step.before;
    } while (before !== undefined);
    assert.deepEqual(stepped, whole);
    assert.equal(whole.length, 13, "in the window of 40: lines 12, 15, … 48");
    assert.equal(whole.at(-1), "line 12 needle");
    assert.equal(reads.length, 6, "40 rows, 7 at a time");
    // A limit stops a step's matches, not its rows.
    assert.deepEqual(
      store.searchStep("#r", "needle", 1, undefined, 10).messages.map((m) => m.text),
      [
        "line 48 needle",
      ],
    );
  } finally {
    store.close();
  }
});

Deno.test("Hub: a room the member leaves while its search is under way is not searched", async () => {
  const seen: string[] = [];
  const alice = new FakeMember();
  class WatchedStore extends MemoryHistory {
    override search(keys: readonly string[], folded: string, limit: number): RoomMessage[] {
      seen.push(keys.join(","));
      if (keys[0] === "#lobby") setTimeout(() => hub.handle(alice, { type: "part", room: "#a" }));
      return super.search(keys, folded, limit);
    }
  }
  const hub = new Hub({ store: new WatchedStore(), floodBurst: 1e9, floodRate: 1e9 });
  assert.ok(hub.join(alice, "alice", undefined, undefined, ["#lobby", "#a", "#b"]));
  const answer = alice.until("search");
  assert.equal(await hub.handle(alice, { type: "search", text: "x" }), true);
  await answer;
  assert.deepEqual(seen, ["#lobby", "#b"]);
});

Deno.test("Hub: a search of a SQLite store reads it a step of SEARCH_STEP_ROWS rows at a time, and finds the newest matches", async () => {
  const steps: number[] = [];
  class CountedStore extends SqliteHistory {
    override searchStep(
      key: string,
      folded: string,
      limit: number,
      before: number | undefined,
      rows: number,
    ) {
      steps.push(rows);
      return super.searchStep(key, folded, limit, before, rows);
    }
  }
  const store = new CountedStore(":memory:", 10_000);
  const hub = new Hub({ store, floodBurst: 1e9, floodRate: 1e9 });
  const alice = new FakeMember();
  assert.ok(hub.join(alice, "alice"));
  for (let i = 0; i < 600; i++) {
    hub.handle(alice, { type: "say", text: i % 100 === 0 ? `needle ${i}` : `hay ${i}` });
  }
  const answer = alice.until("search");
  assert.equal(await hub.handle(alice, { type: "search", text: "NEEDLE" }), true);
  const found = await answer;
  assert.deepEqual(
    found.messages.map((m) => m.text),
    [500, 400, 300, 200, 100, 0].map((i) => `needle ${i}`),
  );
  assert.deepEqual(steps, [SEARCH_STEP_ROWS, SEARCH_STEP_ROWS, SEARCH_STEP_ROWS]);
  hub.close("bye");
  store.close();
});

Deno.test("terminal: /search then /quit sent together (a pipe into nc) gets the search's answer before the goodbye", async () => {
  await withServer({ store: new SqliteHistory(":memory:", 100) }, async (server) => {
    await using zoe = await connectTcp(server, "zoe");
    await zoe.write("hello from nc 你好\r\n/search HELLO\r\n/quit bye\r\n");
    const lines = await zoe.readLinesUntil("-- Bye!");
    const found = lines.findIndex((l) => l.startsWith('-- 1 message found for "HELLO"'));
    assert.ok(found >= 0, JSON.stringify(lines));
    assert.match(lines[found + 1] ?? "", /<zoe> hello from nc 你好$/);
  });
});
