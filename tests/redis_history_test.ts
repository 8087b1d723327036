import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import { Redis } from "ioredis";
import {
  FOLDED_MAX,
  type RangeQuery,
  type RoomMessage,
  SEARCH_MAX,
  searchFold,
} from "../server/history/history.ts";
import { MESSAGE_MAX } from "../common/message.ts";
import { foldText } from "../common/nick.ts";
import {
  COMMAND_TIMEOUT_MS,
  connectRedis,
  RAISE_HEADROOM,
  RedisHistory,
  type RedisHistoryOptions,
  ROOM_IDLE_MS,
  SEARCH_STEP_BYTES,
  SEARCH_STEP_NEEDLE,
  SETTLE_WAIT,
  WRITE_WAIT,
} from "../server/history/redis.ts";
import { RedisProxy } from "./kit/redis_proxy.ts";
import { RedisServer } from "./kit/redis_server.ts";

type Said = Omit<RoomMessage, "id">;

function said(room: string, from: string, text: string, ts = 1_000): Said {
  return { type: "message", ts, room, from, text };
}

/** Runs `fn` with a store on a fresh redis-server, both closed after. */
async function withStore(
  keep: number,
  fn: (store: RedisHistory, redis: RedisServer) => Promise<void>,
  options: Omit<RedisHistoryOptions, "keep"> = {},
): Promise<void> {
  await using redis = await RedisServer.start();
  const store = await RedisHistory.open(redis.url, { keep, ...options });
  try {
    await fn(store, redis);
  } finally {
    await store.close();
  }
}

Deno.test("RedisHistory: one id sequence for every room and private message, kept per room", async () => {
  await withStore(100, async (store) => {
    assert.equal(await store.lastId(), 0);
    const a = await store.append("#lobby", said("#lobby", "alice", "hello"));
    const b = await store.append("#dev", said("#Dev", "bob", "hi", 2_000));
    const privateId = await store.nextId();
    const c = await store.append("#lobby", { ...said("#lobby", "bob", "waves"), action: true });
    assert.deepEqual([a.id, b.id, privateId, c.id], [1, 2, 3, 4]);
    assert.equal(await store.lastId(), 4);
    assert.deepEqual(await store.recent("#lobby", 10), [a, c]);
    assert.deepEqual(await store.recent("#dev", 10), [{ ...b, room: "#Dev" }]);
    assert.deepEqual(await store.recent("#nowhere", 10), []);
    const notice = await store.append("#dev", { ...said("#Dev", "bot", "fyi"), notice: true });
    assert.deepEqual((await store.recent("#dev", 1))[0], notice);
  });
});

Deno.test("RedisHistory.append() keeps appends of one turn together, in order, each in its room", async () => {
  await withStore(150, async (store, redis) => {
    const watcher = new Redis(redis.url);
    try {
      await watcher.config("RESETSTAT");
      // 250 at once: three runs of the script (100, 100, 50), ids in the order asked.
      const kept = await Promise.all(
        Array.from(
          { length: 250 },
          (_, i) => store.append(`#r${i % 3}`, said(`#r${i % 3}`, "a", `m${i}`)),
        ),
      );
      assert.deepEqual(kept.map((m) => m.id), Array.from({ length: 250 }, (_, i) => i + 1));
      assert.deepEqual(kept.map((m) => m.text), Array.from({ length: 250 }, (_, i) => `m${i}`));
      const runs = /cmdstat_eval:calls=(\d+)/.exec(await watcher.info("commandstats"))?.[1];
      assert.equal(runs, "3");
      for (let r = 0; r < 3; r++) {
        assert.deepEqual(
          await store.recent(`#r${r}`, 150),
          kept.filter((_, i) => i % 3 === r),
        );
      }
    } finally {
      watcher.disconnect();
    }
  });
});

Deno.test("RedisHistory.append() on a Redis that has not seen its script (a restart) is one round trip: nothing sent after it runs first", async () => {
  await withStore(10, async (store, redis) => {
    const watcher = new Redis(redis.url);
    try {
      await watcher.script("FLUSH");
      await watcher.config("RESETSTAT");
      assert.equal((await store.append("#r", said("#r", "a", "first"))).id, 1);
      const stats = await watcher.info("commandstats");
      // Run by its digest, it came back NOSCRIPT and went again in full:
      // what another node sent meanwhile ran before it.
      assert.equal(/cmdstat_evalsha:/.exec(stats), null, stats);
      assert.equal(/cmdstat_eval:calls=(\d+)/.exec(stats)?.[1], "1", stats);
      assert.equal(/failed_calls=[1-9]/.exec(stats), null, stats);
    } finally {
      watcher.disconnect();
    }
  });
});

Deno.test("RedisHistory: retention is exact, and a reader after a trimmed id is told of the gap", async () => {
  await withStore(3, async (store) => {
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push((await store.append("#r", said("#r", "a", `m${i}`))).id);
    const recent = await store.recent("#r", 100);
    assert.deepEqual(recent.map((m) => m.text), ["m2", "m3", "m4"], "never more than keep");
    // After m1 (trimmed ones are m0 and m1): nothing lost past it.
    assert.deepEqual(await store.after("#r", ids[1]!, 100), { messages: recent, gap: false });
    // After m0: m1 is gone.
    const afterFirst = await store.after("#r", ids[0]!, 100);
    assert.equal(afterFirst.gap, true);
    assert.deepEqual(afterFirst.messages.map((m) => m.text), ["m2", "m3", "m4"]);
    // More than the limit: the newest, and a gap.
    const limited = await store.after("#r", ids[2]!, 1);
    assert.deepEqual(limited.messages.map((m) => m.text), ["m4"]);
    assert.equal(limited.gap, true);
    assert.deepEqual(await store.after("#r", ids[4]!, 10), { messages: [], gap: false });
    assert.deepEqual(await store.after("#r", ids[2]!, 0), { messages: [], gap: true });
  });
});

Deno.test("RedisHistory: ranges by id or time, from either end, oldest first", async () => {
  await withStore(100, async (store) => {
    const m: RoomMessage[] = [];
    for (let i = 0; i < 6; i++) m.push(await store.append("#r", said("#r", "a", `m${i}`, 100 * i)));
    const texts = (ms: RoomMessage[]) => ms.map((x) => x.text);
    assert.deepEqual(
      texts(await store.range("#r", { after: { id: m[1]!.id }, limit: 2, from: "oldest" })),
      ["m2", "m3"],
    );
    assert.deepEqual(
      texts(await store.range("#r", { before: { id: m[5]!.id }, limit: 2, from: "newest" })),
      ["m3", "m4"],
    );
    assert.deepEqual(
      texts(
        await store.range("#r", {
          after: { ts: 100 },
          before: { ts: 500 },
          limit: 10,
          from: "oldest",
        }),
      ),
      ["m2", "m3", "m4"],
    );
    assert.deepEqual(
      texts(await store.range("#r", { after: { ts: 0 }, limit: 2, from: "newest" })),
      ["m4", "m5"],
    );
    assert.deepEqual(await store.range("#r", { limit: 0, from: "oldest" }), []);
  });
});

Deno.test("RedisHistory.range() takes bounds as far apart as the protocol allows", async () => {
  await withStore(10, async (store) => {
    await store.append("#r", said("#r", "a", "early", 1));
    const late = await store.append("#r", said("#r", "a", "late", 5));
    const before = { id: Number.MAX_SAFE_INTEGER };
    assert.deepEqual(
      await store.range("#r", { after: { ts: 2 }, before, limit: 10, from: "newest" }),
      [late],
    );
  });
});

Deno.test("RedisHistory: a range by time reads from its bounds, not every message before them", async () => {
  await withStore(5_000, async (store, redis) => {
    const watcher = new Redis(redis.url);
    try {
      // 2,000 long messages in #r, ts 1000 + i, their ids spread by another room's.
      const long = "x".repeat(1_000);
      const m: RoomMessage[] = [];
      for (let at = 0; at < 2_000; at += 100) {
        const batch = await Promise.all(Array.from({ length: 100 }, (_, j) => {
          const i = at + j;
          if (i % 7 === 0) store.append("#other", said("#other", "b", "other", 1_000 + i));
          return store.append("#r", said("#r", "a", `m${i} ${long}`, 1_000 + i));
        }));
        m.push(...batch);
      }
      const out = async () =>
        Number(/total_net_output_bytes:(\d+)/.exec(await watcher.info("stats"))?.[1]);
      const names = (ms: RoomMessage[]) => ms.map((x) => x.text.split(" ")[0]);
      const read = async (query: RangeQuery) => {
        const before = await out();
        const found = await store.range("#r", query);
        return { found: names(found), bytes: await out() - before };
      };
      // Older than every message, or later: nothing, and next to nothing read
      // (every message before the bound was read: 2 MB).
      for (
        const query of [
          { before: { ts: 500 }, limit: 1, from: "newest" },
          { after: { ts: 9_000 }, limit: 1000, from: "oldest" },
          { before: { ts: 1_000 }, after: { ts: 0 }, limit: 10, from: "oldest" },
        ] satisfies RangeQuery[]
      ) {
        const { found, bytes } = await read(query);
        assert.deepEqual(found, [], JSON.stringify(query));
        assert.ok(bytes < 20_000, `${JSON.stringify(query)}: ${bytes} bytes sent`);
      }
      {
        const { found, bytes } = await read({ before: { ts: 1_010 }, limit: 3, from: "newest" });
        assert.deepEqual(found, ["m7", "m8", "m9"]);
        assert.ok(bytes < 30_000, `${bytes} bytes sent`);
      }
      assert.deepEqual(
        (await read({ after: { ts: 1_010 }, before: { ts: 1_014 }, limit: 9, from: "oldest" }))
          .found,
        ["m11", "m12", "m13"],
      );
      assert.deepEqual(
        (await read({ after: { ts: 2_996 }, limit: 100, from: "oldest" })).found,
        ["m1997", "m1998", "m1999"],
      );
      assert.deepEqual(
        (await read({
          after: { ts: 2_500 },
          before: { id: m[1_503]!.id },
          limit: 9,
          from: "newest",
        }))
          .found,
        ["m1501", "m1502"],
      );
      assert.deepEqual(
        (await read({
          after: { id: m[1_995]!.id },
          before: { ts: 2_998 },
          limit: 9,
          from: "oldest",
        }))
          .found,
        ["m1996", "m1997"],
      );
      // Bounds at or below the room's first message: answered without a
      // read newest first (Redis walks the whole stream back for nothing).
      const reverse = async () =>
        Number(/cmdstat_xrevrange:calls=(\d+)/.exec(await watcher.info("commandstats"))?.[1] ?? 0);
      const walked = await reverse();
      for (
        const query of [
          { before: { ts: 500 }, limit: 5, from: "newest" },
          { before: { id: m[0]!.id }, limit: 5, from: "newest" },
          { before: { ts: 1_000 }, after: { id: 0 }, limit: 5, from: "newest" },
        ] satisfies RangeQuery[]
      ) {
        assert.deepEqual(await store.range("#r", query), [], JSON.stringify(query));
      }
      assert.equal(await reverse(), walked, "no XREVRANGE");
      // Bounds that leave nothing between them, or below the first id.
      for (const before of [0, 1]) {
        assert.deepEqual(
          await store.range("#r", { before: { id: before }, limit: 5, from: "newest" }),
          [],
        );
      }
      assert.deepEqual(
        await store.range("#r", { after: { id: 5 }, before: { id: 6 }, limit: 5, from: "newest" }),
        [],
      );
    } finally {
      watcher.disconnect();
    }
  });
});

Deno.test("RedisHistory: topics are kept and cleared", async () => {
  await withStore(10, async (store) => {
    assert.equal(await store.topic("#r"), undefined);
    await store.setTopic("#r", { text: "plans", by: "alice", ts: 42 });
    assert.deepEqual(await store.topic("#r"), { text: "plans", by: "alice", ts: 42 });
    await store.setTopic("#r", undefined);
    assert.equal(await store.topic("#r"), undefined);
  });
});

Deno.test("RedisHistory.room() keeps a room's first name, and gives its topic; a room left with neither messages nor topic is forgotten", async () => {
  await withStore(10, async (store, redis) => {
    const raw = new Redis(redis.url);
    const ttl = (key: string) => raw.pttl(`chat:room:${key}`);
    try {
      assert.deepEqual(await store.room("#zoo", "#Zoo"), { name: "#Zoo", topic: undefined });
      const left = await ttl("#zoo");
      assert.ok(left > 0 && left <= ROOM_IDLE_MS, `an empty room's hash expires: ${left}`);
      const topic = { text: "animals", by: "ann", ts: 5 };
      await store.setTopic("#zoo", topic);
      assert.equal(await ttl("#zoo"), -1, "kept once it has a topic");
      assert.deepEqual(await store.room("#zoo", "#ZOO"), { name: "#Zoo", topic });
      assert.equal(await ttl("#zoo"), -1);
      // One that gets a message is kept too.
      await store.room("#talk", "#talk");
      assert.ok(await ttl("#talk") > 0);
      await store.append("#talk", said("#talk", "a", "hi"));
      assert.equal(await ttl("#talk"), -1, "kept once it has a message");
      await store.room("#talk", "#talk");
      assert.equal(await ttl("#talk"), -1);
    } finally {
      raw.disconnect();
    }
  });
});

Deno.test("RedisHistory: a room whose name ends like another's keys (#a:log, #a:folded) keeps to its own", async () => {
  // Each squatter is given a topic and a trimmed log first (keep 2: slack
  // trims at 3 more), so that every kind of its keys exists in Redis.
  await withStore(2, async (store) => {
    for (const squatter of ["#a:log", "#a:folded", "#a:x:log"]) {
      await store.setTopic(squatter, { text: "mine", by: "mallory", ts: 1 });
      for (let i = 0; i < 6; i++) await store.append(squatter, said(squatter, "mallory", `s${i}`));
    }
    const kept = await store.append("#a", said("#a", "alice", "still here"));
    await store.append("#a:x", said("#a:x", "bob", "me too"));
    assert.deepEqual(await store.recent("#a", 10), [kept]);
    assert.deepEqual((await store.search(["#a"], foldText("still"), 10)).map((m) => m.text), [
      "still here",
    ]);
    assert.deepEqual((await store.recent("#a:x", 10)).map((m) => m.text), ["me too"]);
    assert.equal(await store.topic("#a"), undefined);
    assert.deepEqual((await store.recent("#a:log", 10)).map((m) => m.text), ["s4", "s5"]);
    assert.deepEqual(await store.topic("#a:folded"), { text: "mine", by: "mallory", ts: 1 });
  });
});

Deno.test("RedisHistory: ids continue and nothing kept is lost across a Redis restart", async () => {
  await withStore(10, async (store, redis) => {
    const before = await store.append("#r", said("#r", "a", "before"));
    await store.nextId();
    await redis.stop();
    // Asked for its outcome until it is sure not to be kept, then refused.
    await assert.rejects(store.append("#r", said("#r", "a", "while down")));
    await redis.restart();
    // The client reconnects by itself.
    const after = await store.append("#r", said("#r", "a", "after"));
    assert.ok(after.id > before.id + 1, `id ${after.id} after ${before.id} and one private`);
    assert.deepEqual((await store.recent("#r", 10)).map((m) => m.text), ["before", "after"]);
  }, { commandTimeoutMs: 300, retryMs: 50 });
});

Deno.test("RedisHistory: what first reaches a Redis back without its data takes ids past the node's position, the raise marked in the feed", async () => {
  let position = 0;
  await withStore(10, async (store, redis) => {
    await store.append("#r", said("#r", "a", "one"));
    position = (await store.append("#r", said("#r", "a", "two"))).id;
    await redis.stop("SIGKILL");
    for await (const entry of Deno.readDir(redis.dir)) {
      await Deno.remove(`${redis.dir}/${entry.name}`, { recursive: true });
    }
    await redis.restart();
    // Nothing else raised the counter (no feed reader here): these do.
    const [line, other] = await Promise.all([
      store.append("#r", said("#r", "a", "three")),
      store.append("#s", said("#s", "a", "four")),
    ]);
    const from = position + RAISE_HEADROOM;
    assert.deepEqual([line.id, other.id], [from + 1, from + 2], "past every id read");
    assert.equal(await store.nextId(), from + 3);
    await store.setTopicTold("#r", { text: "t", by: "a", ts: 1 }, "{}");
    assert.equal(await store.lastId(), from + 4);
    const raw = await connectRedis(redis.url);
    try {
      const feed = await raw.xrange("chat:feed", "-", "+");
      assert.deepEqual(feed[0], [`${from}-0`, ["lost", `0 ${position}`]], "the raise, marked");
      assert.deepEqual(feed.map(([id]) => id), [
        `${from}-0`,
        `${from + 1}-0`,
        `${from + 2}-0`,
        `${from + 4}-0`,
      ]);
    } finally {
      raw.disconnect();
    }
    // A counter at or past the position is left as it is.
    position = 0;
    assert.equal((await store.append("#r", said("#r", "a", "five"))).id, from + 5);
  }, { position: () => position });
});

Deno.test("RedisHistory: a counter lost while the feed kept entries past the raise takes ids past the feed's last", async () => {
  let position = 0;
  await withStore(10, async (store, redis) => {
    position = (await store.append("#r", said("#r", "a", "one"))).id;
    const raw = await connectRedis(redis.url);
    try {
      const far = position + 2 * RAISE_HEADROOM;
      await raw.xadd("chat:feed", `${far}-0`, "ev", "{}");
      await raw.del("chat:id");
      const line = await store.append("#r", said("#r", "a", "two"));
      assert.equal(line.id, far + RAISE_HEADROOM + 1);
      const [mark] = await raw.xrange("chat:feed", `${far + 1}`, "+", "COUNT", 1);
      assert.deepEqual(mark, [`${far + RAISE_HEADROOM}-0`, ["lost", `0 ${position}`]]);
    } finally {
      raw.disconnect();
    }
  }, { position: () => position });
});

Deno.test("RedisHistory.append() given up by the client while Redis was down is refused: asking for its outcome never carries it out", async () => {
  await withStore(10, async (store, redis) => {
    await store.append("#r", said("#r", "a", "zero"));
    await redis.stop();
    // Its reconnects refused, the client gives up what waits on the writes'
    // connection: a topic (never asked for again) says when, in turn.
    await assert.rejects(store.setTopic("#r", undefined));
    const one = assert.rejects(store.append("#r", said("#r", "a", "one")));
    await new Promise((sent) => setImmediate(sent)); // appends go out a turn later
    await assert.rejects(store.setTopic("#r", undefined)); // given up after "one"
    await redis.restart();
    // Asked for once Redis answers, still before its deadline: not carried out then,
    // after whatever was said since.
    await one;
    await store.append("#r", said("#r", "a", "two"));
    assert.deepEqual((await store.recent("#r", 10)).map((m) => m.text), ["zero", "two"]);
  }, { retryMs: 20 });
});

Deno.test("RedisHistory.append() whose answer was lost with its connection is sent again and kept once", async () => {
  await using redis = await RedisServer.start();
  await using proxy = new RedisProxy(redis.port);
  const store = await RedisHistory.open(proxy.url, { keep: 10 });
  const watcher = new Redis(redis.url);
  try {
    const one = await store.append("#r", said("#r", "a", "one"));
    proxy.cutNextAnswer();
    // Redis runs it, its answer is lost, and ioredis sends it again once it has reconnected.
    const two = await store.append("#r", said("#r", "a", "two"));
    await proxy.cut.promise;
    assert.equal(two.id, one.id + 1);
    assert.deepEqual((await store.recent("#r", 10)).map((m) => [m.id, m.text]), [
      [one.id, "one"],
      [two.id, "two"],
    ]);
    assert.equal(await watcher.xlen("chat:feed"), 2);
    assert.equal(await store.lastId(), two.id);
    const three = await store.append("#r", said("#r", "a", "three"));
    assert.equal(three.id, two.id + 1);
  } finally {
    watcher.disconnect();
    await store.close();
  }
});

Deno.test("RedisHistory: a write's receipt outlives the asking for its outcome, with every answer waited for", async () => {
  await withStore(10, async (store, redis) => {
    const watcher = new Redis(redis.url);
    try {
      await store.append("#r", said("#r", "a", "one"));
      const [receipt] = await watcher.keys("chat:receipt:*");
      assert.ok(receipt !== undefined);
      // Sent, waited for (WRITE_WAIT), asked again (SETTLE_WAIT) and waited for again: all in ms.
      const asking = COMMAND_TIMEOUT_MS * (WRITE_WAIT + SETTLE_WAIT + WRITE_WAIT);
      const left = await watcher.pttl(receipt);
      assert.ok(left > asking, `kept ${left} ms, asked for up to ${asking} ms`);
    } finally {
      watcher.disconnect();
    }
  });
});

Deno.test("RedisHistory.open() refuses a Redis it cannot reach, and warns when appendonly is off", async () => {
  await using redis = await RedisServer.start();
  const url = redis.url;
  await redis.stop();
  await assert.rejects(RedisHistory.open(url, { keep: 10 }));
  await redis.restart();
  const warnings: string[] = [];
  const probe = await RedisHistory.open(url, { keep: 10, warn: (w) => warnings.push(w) });
  await probe.close();
  assert.equal(warnings.length, 0, "the test server keeps an append-only file");
  const admin = new Redis(url);
  try {
    await admin.config("SET", "appendonly", "no");
  } finally {
    admin.disconnect();
  }
  const careless = await RedisHistory.open(url, { keep: 10, warn: (w) => warnings.push(w) });
  await careless.close();
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /appendonly off/);
});

Deno.test("RedisHistory: a Redis that stops answering refuses appends within the timeout, never keeps them later, and recovers", async () => {
  await using redis = await RedisServer.start();
  const store = await RedisHistory.open(redis.url, { keep: 10, commandTimeoutMs: 200 });
  try {
    const first = await store.append("#r", said("#r", "a", "first"));
    redis.pause();
    await assert.rejects(store.append("#r", said("#r", "a", "while paused")), /timed out/i);
    redis.resume();
    const next = await store.append("#r", said("#r", "a", "next"));
    assert.ok(next.id > first.id);
    // The refused one reached Redis, which ran it once it ran again: past its deadline, so not kept.
    assert.deepEqual((await store.recent("#r", 10)).map((m) => m.text), ["first", "next"]);
    assert.equal(next.id, first.id + 1);
  } finally {
    await store.close();
  }
});

Deno.test("RedisHistory: a write is not held behind a read on its way", async () => {
  await using redis = await RedisServer.start();
  await using proxy = new RedisProxy(redis.port);
  const store = await RedisHistory.open(proxy.url, { keep: 10, commandTimeoutMs: 300 });
  try {
    await store.append("#r", said("#r", "a", "first"));
    // A read slow on its way (as one behind megabytes of answers) holds
    // what follows it on its connection.
    const { held, release } = proxy.holdNextRequest((request) => /xrevrange/i.test(request));
    const reading = store.recent("#r", 10);
    await held;
    const second = await store.append("#r", said("#r", "a", "second"));
    assert.equal(second.text, "second");
    release();
    assert.deepEqual((await reading).map((m) => m.text), ["first", "second"]);
    assert.deepEqual((await store.recent("#r", 10)).map((m) => m.text), ["first", "second"]);
  } finally {
    proxy.releaseAll();
    await store.close();
  }
});

Deno.test("RedisHistory.append() that Redis runs past its deadline is refused by Redis, not kept", async () => {
  await using redis = await RedisServer.start();
  const store = await RedisHistory.open(redis.url, { keep: 10, commandTimeoutMs: 4_000 });
  const admin = new Redis(redis.url);
  try {
    // Writes wait 3.5 s: past the deadline (3 s), yet answered within the timeout (4 s).
    await admin.client("PAUSE", 3_500, "WRITE");
    await assert.rejects(store.append("#r", said("#r", "a", "late")), /^ReplyError: EXPIRED \d+/);
    const next = await store.append("#r", said("#r", "a", "next"));
    assert.equal(next.id, 1);
    assert.deepEqual((await store.recent("#r", 10)).map((m) => m.text), ["next"]);
  } finally {
    await admin.client("UNPAUSE");
    admin.disconnect();
    await store.close();
  }
});

Deno.test("RedisHistory.setTopic() refused for want of an answer is never carried out later", async () => {
  await using redis = await RedisServer.start();
  const store = await RedisHistory.open(redis.url, { keep: 10, commandTimeoutMs: 200 });
  try {
    const kept = { text: "kept", by: "a", ts: 1 };
    await store.setTopic("#r", kept);
    redis.pause();
    await assert.rejects(store.setTopic("#r", { text: "refused", by: "a", ts: 2 }), /timed out/i);
    await assert.rejects(store.setTopic("#s", undefined), /timed out/i);
    redis.resume();
    assert.deepEqual(await store.topic("#r"), kept);
    await store.setTopic("#r", undefined);
    assert.equal(await store.topic("#r"), undefined);
  } finally {
    await store.close();
  }
});

Deno.test("RedisHistory.search() finds folded text across the rooms asked, newest first, within keep", async () => {
  await withStore(100, async (store) => {
    const deploy = await store.append("#dev", said("#Dev", "alice", "Deploy at 5"));
    await store.append("#dev", said("#Dev", "bob", "lunch?"));
    const lobby = await store.append("#lobby", said("#lobby", "bob", "who broke the DEPLOY?"));
    // Look-alikes as one: a Cyrillic "е" and "о", a full-width "ｄ".
    const lookAlike = await store.append("#dev", said("#Dev", "carol", "ｄеplоy done"));
    await store.append("#ops", said("#ops", "dave", "deploy in ops"));
    const keys = ["#dev", "#lobby"];
    const found = await store.search(keys, foldText("deploy"), 50);
    assert.deepEqual(found, [lookAlike, lobby, deploy]);
    assert.deepEqual(await store.search(keys, foldText("DEPLOY"), 2), [lookAlike, lobby]);
    assert.deepEqual(await store.search(keys, foldText("nowhere"), 50), []);
    assert.deepEqual(await store.search([], foldText("deploy"), 50), []);
  });
  // Past keep: the stream holds only the newest, and at most SEARCH_MAX come back.
  await withStore(100, async (store) => {
    for (let i = 0; i < 300; i++) await store.append("#r", said("#r", "a", `match ${i}`));
    const found = await store.search(["#r"], foldText("match"), 1000);
    assert.equal(found.length, SEARCH_MAX);
    assert.equal(found[0]?.text, "match 299");
    assert.deepEqual(await store.search(["#r"], foldText("match 19"), 50), []);
    assert.equal((await store.search(["#r"], foldText("match 20"), 50)).length, 10);
  });
});

Deno.test("RedisHistory.search() reads at most keep entries of a room, a page at a time", async () => {
  await withStore(2_500, async (store) => {
    const first = await store.append("#r", said("#r", "a", "needle first"));
    for (let i = 0; i < 2_400; i++) await store.append("#r", said("#r", "a", `hay ${i}`));
    // Across three pages of the script's reads, to the oldest entry kept.
    assert.deepEqual(await store.search(["#r"], foldText("needle"), 50), [first]);
  });
});

Deno.test("RedisHistory.search() reads a room in runs of at most SEARCH_STEP_BYTES, fewer for a longer needle, each going on where the last stopped", async () => {
  await withStore(1_000, async (store, redis) => {
    const first = await store.append("#r", said("#r", "a", "needle at the start"));
    // 300 texts of 2,000 bytes: 600,000 bytes, past two runs of a short needle.
    const long = "a".repeat(MESSAGE_MAX);
    for (let i = 0; i < 300; i++) await store.append("#r", said("#r", "a", long));
    const last = await store.append("#r", said("#r", "a", "needle at the end"));
    const raw = new Redis(redis.url);
    const runs = async () => {
      const stats = await raw.info("commandstats");
      return Number(/cmdstat_eval:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    };
    try {
      const before = await runs();
      assert.deepEqual(await store.search(["#r"], foldText("needle"), 50), [last, first]);
      const short = await runs() - before;
      assert.equal(short, Math.ceil(600_000 / SEARCH_STEP_BYTES), "runs of a short needle");
      // A needle of 100 'a's and a 'b' (each text nearly matches it at every byte): shorter runs.
      const worst = await runs();
      assert.deepEqual(await store.search(["#r"], foldText("a".repeat(100) + "b"), 50), []);
      const needle = 101;
      assert.equal(
        await runs() - worst,
        Math.ceil(600_000 / Math.floor(SEARCH_STEP_BYTES * SEARCH_STEP_NEEDLE / needle)),
        "runs of a long needle",
      );
    } finally {
      raw.disconnect();
    }
  });
});

Deno.test("RedisHistory.search() reads at most searchBytes of folded text, its rooms sharing them; a text folds to at most FOLDED_MAX", async () => {
  await using redis = await RedisServer.start();
  const store = await RedisHistory.open(redis.url, { keep: 100, searchBytes: 20_000 });
  try {
    // ﷺ is one character and folds to eighteen: what is kept of it for search is bounded.
    const long = "ﷺ".repeat(MESSAGE_MAX);
    assert.equal(searchFold(long).length, FOLDED_MAX);
    await store.append("#r", said("#r", "a", "needle, long ago"));
    for (let i = 0; i < 10; i++) await store.append("#r", said("#r", "a", long));
    const recent = await store.append("#r", said("#r", "a", "needle, lately"));
    const raw = new Redis(redis.url);
    try {
      const folded = await raw.lrange("chat:folded:#r", 0, -1);
      assert.ok(folded.every((item) => item.length <= FOLDED_MAX + 10), "each folded text bounded");
    } finally {
      raw.disconnect();
    }
    // Ten long texts are more than 20,000 bytes: the old line is past what a search reads.
    assert.deepEqual(await store.search(["#r"], foldText("needle"), 50), [recent]);
    await store.append("#s", said("#s", "a", "needle elsewhere"));
    // Two rooms share the bytes: #r's share reaches less far still, #s is read whole.
    const both = await store.search(["#r", "#s"], foldText("needle"), 50);
    assert.deepEqual(both.map((m) => m.text), ["needle elsewhere", "needle, lately"]);
  } finally {
    await store.close();
  }
});

Deno.test("RedisHistory: reads stay within keep while the stream holds its slack, and after each trim", async () => {
  const keep = 10;
  await withStore(keep, async (store, redis) => {
    const watcher = new Redis(redis.url);
    try {
      const busy: RoomMessage[] = [];
      const quiet: RoomMessage[] = [];
      let longest = 0;
      for (let i = 0; i < 45; i++) {
        busy.push(await store.append("#busy", said("#busy", "a", `needle ${i}`, 1_000 + i)));
        if (i % 20 === 0) quiet.push(await store.append("#quiet", said("#quiet", "b", `q${i}`)));
        const kept = busy.slice(-keep);
        const at = `after ${busy.length} messages`;
        assert.deepEqual(await store.recent("#busy", 1000), kept, at);
        assert.deepEqual(
          await store.after("#busy", 0, 1000),
          { messages: kept, gap: busy.length > keep },
          at,
        );
        // Seen up to the one just before the window: nothing missing; one more back: a gap.
        if (busy.length > keep) {
          assert.deepEqual(
            await store.after("#busy", busy.at(-keep - 1)!.id, 1000),
            { messages: kept, gap: false },
            at,
          );
        }
        if (busy.length > keep + 1) {
          assert.equal((await store.after("#busy", busy.at(-keep - 2)!.id, 1000)).gap, true, at);
        }
        assert.deepEqual(await store.range("#busy", { limit: 1000, from: "oldest" }), kept, at);
        assert.deepEqual(
          await store.range("#busy", { after: { ts: 0 }, limit: 3, from: "oldest" }),
          kept.slice(0, 3),
          at,
        );
        if (kept.length > 2) {
          assert.deepEqual(
            await store.range("#busy", { before: { id: kept[2]!.id }, limit: 5, from: "newest" }),
            kept.slice(0, 2),
            at,
          );
        }
        assert.deepEqual(
          await store.search(["#busy"], foldText("needle"), 1000),
          kept.toReversed(),
          at,
        );
        longest = Math.max(longest, await watcher.xlen("chat:log:#busy"));
      }
      // The stream did hold more than keep, and was trimmed back (its slack is keep, here).
      assert.equal(longest, 2 * keep - 1);
      assert.ok(await watcher.xlen("chat:log:#busy") < 2 * keep - 1);
      assert.equal(
        await watcher.llen("chat:folded:#busy"),
        await watcher.xlen("chat:log:#busy"),
      );
      assert.deepEqual(await store.after("#quiet", 0, 1000), { messages: quiet, gap: false });
    } finally {
      watcher.disconnect();
    }
  });
});

Deno.test("connectRedis() rejects saying why: refused, a wrong password, a database Redis does not have, TLS it does not speak", async () => {
  await using redis = await RedisServer.start();
  const admin = await connectRedis(redis.url);
  try {
    await admin.call("CONFIG", "SET", "requirepass", "sekret");
    const at = `127.0.0.1:${redis.port}`;
    await assert.rejects(connectRedis(`redis://:wrong@${at}`), /WRONGPASS/);
    await assert.rejects(connectRedis(`redis://${at}`), /NOAUTH/);
    await assert.rejects(connectRedis(`redis://:sekret@${at}/99`), /DB index is out of range/);
    const three = await connectRedis(`redis://:sekret@${at}/3`, { retryMs: 250 });
    try {
      await three.set("k", "v");
      await admin.auth("sekret");
      await admin.select(3);
      assert.equal(await admin.get("k"), "v");
    } finally {
      three.disconnect();
    }
    // TLS asked of a Redis that does not speak it: said so, not only "timed out".
    await assert.rejects(
      connectRedis(`rediss://:sekret@${at}`, { connectTimeoutMs: 300 }),
      /rediss:\/\/ speaks TLS; does Redis, at that port\?/,
    );
    await redis.stop();
    await assert.rejects(connectRedis(`redis://${at}`), /ECONNREFUSED/);
  } finally {
    admin.disconnect();
  }
});
