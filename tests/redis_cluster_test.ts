import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { isForwarded, RedisCluster, type RedisClusterOptions } from "../server/bus/cluster.ts";
import { RAISE_HEADROOM } from "../server/history/redis.ts";
import {
  type ClusterEvent,
  type ClusterSink,
  type Forwarded,
  type MemberRecord,
  SeatMoved,
  StoreRestarted,
  tokenHash,
} from "../server/hub/cluster.ts";
import { within } from "../server/deadline.ts";
import { errorText } from "../server/log.ts";
import type { RoomMessage } from "../server/history/history.ts";
import { RedisProxy } from "./kit/redis_proxy.ts";
import { RedisServer } from "./kit/redis_server.ts";
import { Waiters } from "./kit/waiters.ts";

/** One thing a sink was told, in order. */
type Told =
  | { message: RoomMessage; key: string; gap: boolean }
  | { event: ClusterEvent }
  | { forwarded: Forwarded }
  | { lost: string[] }
  | { revived: true }
  | { members: MemberRecord[] }
  | { state: boolean }
  | { idsLost: true };

/** A sink whose calls a test can wait for. */
class Sink implements ClusterSink {
  readonly told: Told[] = [];
  readonly #waiters = new Waiters();

  #push(told: Told): void {
    this.told.push(told);
    this.#waiters.wake();
  }

  message(key: string, message: RoomMessage, gap: boolean): void {
    this.#push({ key, message, gap });
  }
  event(event: ClusterEvent): void {
    this.#push({ event });
  }
  forwarded(forwarded: Forwarded): void {
    this.#push({ forwarded });
  }
  lost(folds: string[]): void {
    this.#push({ lost: folds });
  }
  revived(): void {
    this.#push({ revived: true });
  }
  members(records: MemberRecord[]): void {
    this.#push({ members: records });
  }
  state(up: boolean): void {
    this.#push({ state: up });
  }
  idsLost(): void {
    this.#push({ idsLost: true });
  }

  /** What came from the feed, as `m:<text>` and `e:<op>`. */
  feed(): string[] {
    return this.told.flatMap((t) =>
      "message" in t ? [`m:${t.message.text}`] : "event" in t ? [`e:${t.event.op}`] : []
    );
  }

  /** Waits until `n` things matching `which` were told. */
  count(n: number, which: (t: Told) => boolean = () => true): Promise<true> {
    return this.#waiters.until(
      () => this.told.filter(which).length >= n || undefined,
      () => `for ${n}, told ${JSON.stringify(this.told)}`,
    );
  }

  end(): void {
    this.#waiters.end(new Error("closed"));
  }
}

const fromFeed = (t: Told) => "message" in t || "event" in t;

function said(room: string, text: string): Omit<RoomMessage, "id"> {
  return { type: "message", ts: Date.now(), room, from: "alice", text };
}

function record(nick: string, node: string, token: string, rooms = ["#lobby"]): MemberRecord {
  return { nick, via: "web", node, rooms, token };
}

/** Runs `fn` on a plain connection to `redis`, closed after. */
async function direct<T>(redis: RedisServer, fn: (raw: Redis) => Promise<T>): Promise<T> {
  const raw = new Redis(redis.url, { lazyConnect: true });
  await raw.connect();
  try {
    return await fn(raw);
  } finally {
    await raw.quit();
  }
}

/** The node holding nickname `fold`, as Redis has it. */
function owner(redis: RedisServer, fold: string): Promise<string | null> {
  return direct(redis, (raw) => raw.get(`chat:nick:${fold}`));
}

/** Nodes on one redis-server, started with their sinks; all closed after `fn`. */
async function withNodes(
  count: number,
  options: Partial<RedisClusterOptions>,
  fn: (
    nodes: RedisCluster[],
    sinks: Sink[],
    redis: RedisServer,
    records: MemberRecord[][],
  ) => Promise<void>,
): Promise<void> {
  await using redis = await RedisServer.start();
  const nodes: RedisCluster[] = [];
  const sinks: Sink[] = [];
  const records: MemberRecord[][] = [];
  try {
    for (let i = 0; i < count; i++) {
      const node = await RedisCluster.open({ url: redis.url, keep: 10, ...options });
      nodes.push(node);
      const sink = new Sink();
      sinks.push(sink);
      records.push(await node.start(sink));
    }
    await fn(nodes, sinks, redis, records);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
    for (const sink of sinks) sink.end();
  }
}

/**
 * A node started behind a {@linkcode RedisProxy} (its commands time out
 * after 300 ms), with its sink; after `fn`, whatever the proxy holds is let
 * go and the node closed.
 */
async function withProxiedNode(
  fn: (node: RedisCluster, sink: Sink, proxy: RedisProxy, redis: RedisServer) => Promise<void>,
): Promise<void> {
  await using redis = await RedisServer.start();
  await using proxy = new RedisProxy(redis.port);
  const node = await RedisCluster.open({ url: proxy.url, keep: 10, commandTimeoutMs: 300 });
  const sink = new Sink();
  try {
    await node.start(sink);
    await fn(node, sink, proxy, redis);
  } finally {
    proxy.releaseAll();
    await node.close();
    sink.end();
  }
}

Deno.test("RedisCluster: tell and post on two nodes reach both sinks in one id order, each once; a later node starts from the member list", async () => {
  await withNodes(2, {}, async ([a, b], sinks, redis) => {
    const token = tokenHash("secret");
    const seat: ClusterEvent = {
      op: "seat",
      node: a!.node,
      nick: "Alice",
      via: "web",
      rooms: [{ room: "#lobby", key: "#lobby" }],
    };
    await a!.tell(seat, [["alice", record("Alice", a!.node, token)]]);
    const m = await b!.post("#lobby", said("#lobby", "hello"));
    await Promise.all(sinks.map((s) => s.count(2, fromFeed)));
    for (const sink of sinks) {
      assert.deepEqual(sink.feed(), ["e:seat", "m:hello"]);
      assert.deepEqual(sink.told[0], { event: seat });
    }
    await a!.reach(m.id);
    assert.equal(a!.position, m.id);
    assert.ok(a!.up);

    const c = await RedisCluster.open({ url: redis.url, keep: 10 });
    const sink = new Sink();
    try {
      const records = await c.start(sink);
      assert.deepEqual(records, [record("Alice", a!.node, token)]);
      assert.equal(c.position, m.id);
      await a!.tell({ op: "bye", node: a!.node, nick: "Alice", reason: "quit" }, [["alice", null]]);
      await sink.count(1, fromFeed);
      assert.deepEqual(sink.feed(), ["e:bye"], "only what came after its start");
      await b!.reach(c.position);
      assert.deepEqual(sinks[1]!.feed(), ["e:seat", "m:hello", "e:bye"]);
    } finally {
      await c.close();
      sink.end();
    }
    const again = new Sink();
    const d = await RedisCluster.open({ url: redis.url, keep: 10 });
    try {
      assert.deepEqual(await d.start(again), [], "bye removed the record");
    } finally {
      await d.close();
    }
  });
});

Deno.test("RedisCluster: a malformed event or member record in Redis is passed over", async () => {
  await withNodes(1, {}, async ([a], [sink], redis) => {
    await direct(redis, async (raw) => {
      await raw.hset("chat:members", "bad", "{not json", "worse", JSON.stringify({ nick: 1 }));
      const id = await raw.incr("chat:id");
      await raw.xadd("chat:feed", `${id}-0`, "ev", "{broken");
      const id2 = await raw.incr("chat:id");
      await raw.xadd("chat:feed", `${id2}-0`, "ev", JSON.stringify({ op: "nope", node: "x" }));
    });
    await a!.tell({ op: "dead", node: a!.node, dead: "z" });
    await sink!.count(1, fromFeed);
    assert.deepEqual(sink!.feed(), ["e:dead"]);
    const b = await RedisCluster.open({ url: redis.url, keep: 10 });
    try {
      assert.deepEqual(await b.start(new Sink()), []);
    } finally {
      await b.close();
    }
  });
});

Deno.test("RedisCluster.setTopic() keeps the topic before the event is in the feed", async () => {
  await withNodes(2, {}, async ([a, b], sinks) => {
    const topic = { text: "plans", by: "Alice", ts: 1 };
    await a!.setTopic("#dev", topic, {
      op: "topic",
      node: a!.node,
      room: { room: "#dev", key: "#dev", topic },
    });
    await sinks[1]!.count(1, fromFeed);
    assert.deepEqual(await b!.store.topic("#dev"), topic);
  });
});

Deno.test("RedisCluster.setTopic() refused for want of an answer is neither kept nor told later", async () => {
  await withProxiedNode(async (node, sink, proxy) => {
    const slow = proxy.holdNextRequest((request) => request.includes('"op":"topic"'));
    const topic = { text: "refused", by: "Alice", ts: 1 };
    const room = { room: "#dev", key: "#dev", topic };
    // Its telling is slow to reach Redis (a long script ahead of it): refused meanwhile.
    const refused = node.setTopic("#dev", topic, { op: "topic", node: node.node, room });
    await slow.held;
    await assert.rejects(refused, /timed out/i);
    slow.release();
    // It reaches Redis past its deadline: the next thing told is the first the feed brings.
    await node.tell({ op: "dead", node: node.node, dead: "z" });
    await sink.count(1, fromFeed);
    assert.deepEqual(sink.feed(), ["e:dead"]);
    assert.equal(await node.store.topic("#dev"), undefined);
  });
});

Deno.test("RedisCluster: claims conflict across nodes; takeOver moves a nickname with the right token only", async () => {
  await withNodes(2, { leaseMs: 2_000, renewMs: 3_600_000 }, async ([a, b], sinks, redis) => {
    assert.equal(await a!.claim("alice"), true);
    assert.equal(await b!.claim("alice"), false);
    assert.equal(await b!.holder("alice"), a!.node);
    assert.equal(await b!.holder("nobody"), undefined);
    const hash = tokenHash("right");
    const before = record("Alice", a!.node, hash, []);
    await a!.tell({ op: "seat", node: a!.node, nick: "Alice", via: "web", rooms: [] }, [[
      "alice",
      before,
    ]]);
    assert.equal(await b!.takeOver("alice", "wrong", "next"), undefined);
    assert.equal(await b!.takeOver("nobody", "right", "next"), null);
    // With the id counter as it was: the seat's event above is before it.
    assert.deepEqual(await b!.takeOver("alice", "right", "next"), { record: before, at: 1 });
    assert.equal(await owner(redis, "alice"), b!.node);
    // The old token takes it over no more (a second take-back at once loses); the new one does.
    assert.equal(await a!.takeOver("alice", "right", "other"), undefined);
    assert.equal(await owner(redis, "alice"), b!.node);
    assert.deepEqual((await b!.takeOver("alice", "next", "after"))?.record, {
      ...before,
      node: b!.node,
      token: tokenHash("next"),
    });
    // a finds out at its next renewal (until then it believes it holds it):
    // the nickname is lost to it, and the fence lets the member go.
    await a!.renew();
    await sinks[0]!.count(1, (t) => "lost" in t);
    assert.deepEqual(sinks[0]!.told.filter((t) => "lost" in t), [{ lost: ["alice"] }]);
    // b renews it as its own.
    await b!.renew();
    assert.equal(sinks[1]!.told.filter((t) => "lost" in t).length, 0);
    // Listed as b's member, the name is not free even once its key is gone.
    b!.release("alice");
    await b!.renew();
    assert.equal(await a!.claim("alice"), false, "listed on b");
    await b!.tell({ op: "bye", node: b!.node, nick: "Alice", reason: "quit" }, [["alice", null]]);
    assert.equal(await a!.claim("alice"), true, "released and gone from b");
    assert.equal(await owner(redis, "alice"), a!.node);
  });
});

Deno.test("RedisCluster: a node whose lease lapsed is not up until a renewal told it which names it lost", async () => {
  // Neither renews by itself: a stands for a node paused past its lease.
  await withNodes(2, { leaseMs: 600, renewMs: 3_600_000 }, async ([a, b], sinks, redis) => {
    const expiries = new Redis(redis.url, { lazyConnect: true });
    try {
      await expiries.connect();
      await direct(redis, (raw) => raw.config("SET", "notify-keyspace-events", "Ex"));
      const expired = new Promise<void>((resolve) =>
        expiries.on("message", (_channel: string, key: string) => {
          if (key === "chat:nick:alice") resolve();
        })
      );
      await expiries.subscribe("__keyevent@0__:expired");
      assert.equal(await a!.claim("alice"), true);
      assert.equal(a!.up, true);
      await expired;
      // Its lease over, alice is someone else's; a may not act for her.
      assert.equal(a!.up, false, "a's lease ended: a is fenced");
      assert.equal(a!.reachable, true);
      assert.equal(await b!.claim("alice"), true);
      // Its renewal tells it what it lost, and it acts again.
      await a!.renew();
      await sinks[0]!.count(1, (t) => "lost" in t);
      assert.deepEqual(sinks[0]!.told.filter((t) => "lost" in t), [{ lost: ["alice"] }]);
      assert.equal(a!.up, true);
    } finally {
      expiries.disconnect();
    }
  });
});

Deno.test("RedisCluster.takeOver() rewrites the record's node and token", async () => {
  await withNodes(2, {}, async ([a, b], _sinks, redis) => {
    const hash = tokenHash("t");
    await a!.tell({ op: "seat", node: a!.node, nick: "Bo", via: "irc", rooms: [] }, [[
      "bo",
      record("Bo", a!.node, hash, []),
    ]]);
    await b!.takeOver("bo", "t", "u");
    const c = await RedisCluster.open({ url: redis.url, keep: 10 });
    try {
      assert.deepEqual(await c.start(new Sink()), [record("Bo", b!.node, tokenHash("u"), [])]);
    } finally {
      await c.close();
    }
  });
});

Deno.test("RedisCluster.reconcile() removes this node's records of members gone, each told as a bye, and names the seats never told", async () => {
  await withNodes(2, {}, async ([a, b], sinks, redis) => {
    const hash = tokenHash("t");
    await a!.tell({ op: "seat", node: a!.node, nick: "Ann", via: "web", rooms: [] }, [[
      "ann",
      record("Ann", a!.node, hash, []),
    ]]);
    await a!.tell({ op: "seat", node: a!.node, nick: "Gone/1", via: "irc", rooms: [] }, [[
      "gone/1",
      record("Gone/1", a!.node, hash, []),
    ]]);
    await b!.tell({ op: "seat", node: b!.node, nick: "Bea", via: "web", rooms: [] }, [[
      "bea",
      record("Bea", b!.node, hash, []),
    ]]);
    // a's members now: Ann, and Cy whose seat was never told; Gone/1 left unheard.
    assert.deepEqual(await a!.reconcile(["ann", "cy"]), { missing: ["cy"], gone: ["Gone/1"] });
    await sinks[1]!.count(4, fromFeed);
    assert.deepEqual(sinks[1]!.feed(), ["e:seat", "e:seat", "e:seat", "e:bye"]);
    const bye = sinks[1]!.told.findLast((t) => "event" in t);
    assert.deepEqual(bye, {
      event: { op: "bye", node: a!.node, nick: "Gone/1", reason: "connection lost" },
    });
    const listed = await direct(redis, (raw) => raw.hkeys("chat:members"));
    assert.deepEqual(listed.sort(), ["ann", "bea"]);
    assert.deepEqual(
      await b!.reconcile([], new Map([["bea", "quit: later"]])),
      { missing: [], gone: ["Bea"] },
      "b's own: Bea, gone too",
    );
    await sinks[0]!.count(1, (t) => "event" in t && t.event.op === "bye" && t.event.nick === "Bea");
    assert.deepEqual(sinks[0]!.told.findLast((t) => "event" in t), {
      event: { op: "bye", node: b!.node, nick: "Bea", reason: "quit: later" },
    });
    assert.deepEqual(await direct(redis, (raw) => raw.hkeys("chat:members")), ["ann"]);
  });
});

Deno.test("RedisCluster.forward() reaches the other node's sink, checked; a malformed publish is passed over", async () => {
  await withNodes(2, {}, async ([a, b], sinks, redis) => {
    await direct(redis, async (raw) => {
      await raw.publish(`chat:to:${b!.node}`, "{nope");
      await raw.publish(
        `chat:to:${b!.node}`,
        JSON.stringify({ fold: "bob", event: { type: "x" } }),
      );
    });
    const forwarded: Forwarded = {
      fold: "bob",
      event: { type: "message", id: 7, ts: 1, from: "Alice", to: "Bob", text: "psst" },
    };
    assert.equal(await a!.forward(b!.node, forwarded), 1, "heard by b's listener");
    assert.equal(await a!.forward("gone", forwarded), 0, "nobody listens for a node that is gone");
    await sinks[1]!.count(1, (t) => "forwarded" in t);
    assert.deepEqual(sinks[1]!.told, [{ forwarded }]);
    assert.deepEqual(sinks[0]!.told, []);
  });
});

/**
 * Holds the write's answer (the first that `answer` matches), until the node has
 * given up waiting for it and asks Redis again: then lets both go. Resolves
 * with what the write came to ("refused" if the node gave up first).
 */
async function answeredLate(
  proxy: RedisProxy,
  matches: (request: string) => boolean,
  answer: RegExp,
  write: () => Promise<unknown>,
): Promise<string> {
  const late = proxy.holdNextAnswer((a) => answer.test(a));
  const outcome = write().then(() => "kept", (e) => `refused: ${errorText(e)}`);
  // Carried out, its answer held; the same request again is what asking looks like.
  await late.held;
  const again = proxy.holdNextRequest(matches);
  const first = await Promise.race([again.held.then(() => "asked again"), outcome]);
  again.release();
  late.release();
  return first === "asked again" ? await outcome : first;
}

Deno.test("RedisCluster: a line, a topic and a private message carried out in time whose answer comes late are kept and acknowledged, not refused", async () => {
  await withProxiedNode(async (node, sink, proxy, redis) => {
    const receiver = await RedisCluster.open({ url: redis.url, keep: 10 });
    const to = new Sink();
    try {
      await receiver.start(to);
      // Asked again, the append is the same script with the same text.
      assert.equal(
        await answeredLate(
          proxy,
          (r) => r.includes("late line"),
          /^\*2\r\n:\d{13}\r\n\*1\r\n/,
          () => node.post("#lobby", said("#lobby", "late line")),
        ),
        "kept",
      );
      const topic = { text: "late topic", by: "Alice", ts: 1 };
      const room = { room: "#dev", key: "#dev", topic };
      assert.equal(
        await answeredLate(
          proxy,
          (r) => r.includes("late topic"),
          /^:\d{13}\r\n$/,
          () => node.setTopic("#dev", topic, { op: "topic", node: node.node, room }),
        ),
        "kept",
      );
      const event = {
        type: "message" as const,
        id: 1,
        ts: 1,
        from: "ann",
        to: "bob",
        text: "psst",
      };
      assert.equal(
        await answeredLate(
          proxy,
          (r) => r.includes("psst"),
          /^:1\r\n$/,
          () => node.forward(receiver.node, { fold: "bob", event }),
        ),
        "kept",
      );
      // Each once.
      await sink.count(2, fromFeed);
      await to.count(1, (t) => "forwarded" in t);
      await node.tell({ op: "dead", node: node.node, dead: "z" });
      await sink.count(3, fromFeed);
      assert.deepEqual(sink.feed(), ["m:late line", "e:topic", "e:dead"]);
      assert.equal(to.told.filter((t) => "forwarded" in t).length, 1);
    } finally {
      await receiver.close();
      to.end();
    }
  });
});

Deno.test("RedisCluster.forward() refused for want of an answer is never delivered later", async () => {
  await withProxiedNode(async (sender, _sink, proxy, redis) => {
    const receiver = await RedisCluster.open({ url: redis.url, keep: 10 });
    const to = new Sink();
    try {
      await receiver.start(to);
      const message = (text: string) => ({
        fold: "bob",
        event: { type: "message" as const, id: 1, ts: 1, from: "ann", to: "bob", text },
      });
      // Slow to reach Redis (a long script ahead of it): refused meanwhile.
      const slow = proxy.holdNextRequest((request) => request.includes("refused text"));
      const refused = sender.forward(receiver.node, message("refused text"));
      await slow.held;
      await assert.rejects(refused, /timed out/i);
      slow.release();
      // It reaches Redis past its deadline: the next one is the first delivered.
      assert.equal(await sender.forward(receiver.node, message("delivered")), 1);
      await to.count(1, (t) => "forwarded" in t);
      assert.deepEqual(
        to.told.flatMap((t) =>
          "forwarded" in t && "event" in t.forwarded && t.forwarded.event.type === "message"
            ? [t.forwarded.event.text]
            : []
        ),
        ["delivered"],
      );
    } finally {
      await receiver.close();
      to.end();
    }
  });
});

Deno.test("RedisCluster.forward() whose answer was lost with its connection is sent again, delivered once and counted as the first run was", async () => {
  await withProxiedNode(async (sender, _sink, proxy, redis) => {
    const receiver = await RedisCluster.open({ url: redis.url, keep: 10 });
    const to = new Sink();
    try {
      await receiver.start(to);
      const message = (id: number, text: string) => ({
        fold: "bob",
        event: { type: "message" as const, id, ts: 1, from: "ann", to: "bob", text },
      });
      // The publish's answer (one subscriber heard it), cut: ioredis sends it again.
      proxy.cutNextAnswer((answer) => answer === ":1\r\n");
      assert.equal(await sender.forward(receiver.node, message(1, "psst")), 1);
      await proxy.cut.promise;
      assert.equal(await sender.forward(receiver.node, message(2, "next")), 1);
      await to.count(2, (t) => "forwarded" in t);
      assert.deepEqual(
        to.told.flatMap((t) =>
          "forwarded" in t && "event" in t.forwarded && t.forwarded.event.type === "message"
            ? [t.forwarded.event.text]
            : []
        ),
        ["psst", "next"],
      );
    } finally {
      await receiver.close();
      to.end();
    }
  });
});

Deno.test("RedisCluster: a command sent while Redis was lost that fails after it is found back does not tell it lost again", async () => {
  await withProxiedNode(async (node, sink, proxy) => {
    // One command times out: Redis is told lost.
    const first = proxy.holdNextRequest((request) => request.includes("#held-b"));
    const lost = node.room("#held-b", "#held-b");
    await first.held;
    await assert.rejects(lost, /timed out/i);
    assert.equal(node.up, false);
    // Another is sent meanwhile, and held on its way too.
    const second = proxy.holdNextRequest((request) => request.includes("#held-a"));
    const late = node.room("#held-a", "#held-a");
    first.release();
    await second.held;
    // Redis answers on another connection: found back (once the probe sent
    // at that answer, which raises the id counter, is answered too).
    await node.privateId();
    await sink.count(2, (t) => "state" in t);
    assert.equal(node.up, true);
    // The one sent before that fails now: it says nothing of Redis now.
    await assert.rejects(late, /timed out/i);
    assert.equal(node.up, true);
    assert.deepEqual(sink.told.filter((t) => "state" in t), [{ state: false }, { state: true }]);
  });
});

Deno.test("RedisCluster.ban() keeps a ban for its length and tells it; bans() reads what is left of it", async () => {
  await withNodes(2, {}, async ([a, b], [, sinkB]) => {
    await a!.ban({ fold: "bob", address: "ab12", ms: 60_000 });
    await sinkB!.count(1, fromFeed);
    assert.deepEqual(sinkB!.feed(), ["e:ban"]);
    const kept = await b!.bans();
    const byKind = kept.map((ban) =>
      ban.fold !== undefined ? `nick ${ban.fold}` : `address ${ban.address}`
    );
    assert.deepEqual(byKind.sort(), ["address ab12", "nick bob"]);
    assert.ok(kept.every((ban) => ban.ms > 50_000 && ban.ms <= 60_000), JSON.stringify(kept));
  });
});

Deno.test("isForwarded() accepts private messages, CTCP (to a member or a room) and kicks, and nothing else", () => {
  const message = { type: "message", id: 1, ts: 2, from: "a", to: "b", text: "t" };
  assert.equal(isForwarded({ fold: "b", event: message }), true);
  assert.equal(
    isForwarded({ fold: "b", event: { ...message, action: true, operator: false } }),
    true,
  );
  assert.equal(
    isForwarded({ fold: "b", event: { type: "ctcp", from: "a", text: "VERSION" } }),
    true,
  );
  assert.equal(isForwarded({ fold: "b", event: { ...message, to: undefined } }), false);
  assert.equal(isForwarded({ fold: "b", event: { ...message, id: "1" } }), false);
  assert.equal(isForwarded({ fold: "b", event: { ...message, notice: "yes" } }), false);
  assert.equal(isForwarded({ fold: 1, event: message }), false);
  assert.equal(isForwarded({ fold: "b", event: { type: "ctcp", from: "a" } }), false);
  assert.equal(
    isForwarded({ fold: "b", event: { type: "ctcp", from: "a", text: "x", reply: 1 } }),
    false,
  );
  assert.equal(isForwarded({ fold: "b", kick: "" }), true);
  assert.equal(isForwarded({ fold: "b", kick: 1 }), false);
  // Passed on by the node a member moved from.
  assert.equal(isForwarded({ fold: "b", event: message, passed: true }), true);
  assert.equal(isForwarded({ fold: "b", kick: "", passed: true }), true);
  assert.equal(isForwarded({ fold: "b", event: message, passed: 1 }), false);
  // The sender's own copy, passed on with its seat.
  assert.equal(isForwarded({ fold: "a", event: { ...message, own: true }, passed: true }), true);
  assert.equal(isForwarded({ fold: "a", event: { ...message, own: 1 }, passed: true }), false);
  assert.equal(isForwarded({ fold: "b" }), false);
  assert.equal(isForwarded(null), false);
  // A room's CTCP, for every IRC member of the room on that node.
  const roomCtcp = { type: "ctcp", from: "a", text: "VERSION", room: "#Dev" };
  assert.equal(isForwarded({ room: "#dev", event: roomCtcp }), true);
  assert.equal(isForwarded({ room: "#dev", event: message }), false);
  assert.equal(isForwarded({ room: "#dev", event: { ...roomCtcp, text: 1 } }), false);
  assert.equal(isForwarded({ room: 1, event: roomCtcp }), false);
});

Deno.test("RedisCluster: a node that stops renewing is found dead by the other, which removes its members in the feed's order", async () => {
  await using redis = await RedisServer.start();
  const fast = { url: redis.url, keep: 10, leaseMs: 300, renewMs: 30 };
  const victim = await RedisCluster.open(fast);
  const other = await RedisCluster.open(fast);
  const sink = new Sink();
  let closed = false;
  try {
    await victim.start(new Sink());
    await other.start(sink);
    const hash = tokenHash("x");
    await other.tell({ op: "seat", node: other.node, nick: "Keep", via: "web", rooms: [] }, [[
      "keep",
      record("Keep", other.node, hash),
    ]]);
    await victim.tell({ op: "seat", node: victim.node, nick: "Gone", via: "web", rooms: [] }, [[
      "gone",
      record("Gone", victim.node, hash),
    ]]);
    await victim.abandon();
    closed = true;
    await sink.count(1, (t) => "event" in t && t.event.op === "dead");
    assert.deepEqual(sink.feed(), ["e:seat", "e:seat", "e:dead"]);
    assert.deepEqual(sink.told.at(-1), {
      event: { op: "dead", node: other.node, dead: victim.node },
    });
    const late = await RedisCluster.open({ url: redis.url, keep: 10 });
    try {
      assert.deepEqual(await late.start(new Sink()), [record("Keep", other.node, hash)]);
    } finally {
      await late.close();
    }
  } finally {
    if (!closed) await victim.close();
    await other.close();
    sink.end();
  }
});

Deno.test("RedisCluster: across a Redis restart the state is told once each way, the feed resumes with no gap or repeat, and forwarding works again", async () => {
  const logged: string[] = [];
  await withNodes(
    1,
    { retryMs: 20, commandTimeoutMs: 500, log: (l) => logged.push(l) },
    async ([a], [sink], redis) => {
      await a!.post("#r", said("#r", "before"));
      await a!.tell({ op: "dead", node: a!.node, dead: "x" });
      await sink!.count(2, fromFeed);
      await redis.stop();
      await sink!.count(1, (t) => "state" in t);
      assert.equal(a!.up, false);
      await assert.rejects(a!.post("#r", said("#r", "lost")));
      await redis.restart();
      await sink!.count(2, (t) => "state" in t);
      assert.equal(a!.up, true);
      const m = await a!.post("#r", said("#r", "after"));
      await a!.tell({ op: "dead", node: a!.node, dead: "y" });
      await sink!.count(4, fromFeed);
      assert.deepEqual(sink!.feed(), ["m:before", "e:dead", "m:after", "e:dead"]);
      assert.ok(sink!.told.every((t) => !("gap" in t) || !t.gap));
      assert.deepEqual(sink!.told.filter((t) => "state" in t), [{ state: false }, {
        state: true,
      }]);
      assert.equal(logged.length, 2);
      // Saying why in an operator's words, not ioredis's advice about its options.
      assert.match(logged[0]!, /^Redis cannot be reached: /);
      assert.doesNotMatch(logged[0]!, /maxRetriesPerRequest/);
      assert.equal(logged[1], "Redis can be reached again");
      assert.ok(a!.position > m.id);
      // Its subscriber has subscribed again by itself: PUBLISH counts who heard.
      const forwarded: Forwarded = {
        fold: "alice",
        event: { type: "ctcp", from: "Bob", to: "Alice", text: "PING 1" },
      };
      await direct(redis, async (raw) => {
        while (await raw.publish(`chat:to:${a!.node}`, JSON.stringify(forwarded)) === 0) {
          // Not yet subscribed again: that one was heard by nobody.
        }
      });
      await sink!.count(1, (t) => "forwarded" in t);
      assert.deepEqual(sink!.told.filter((t) => "forwarded" in t), [{ forwarded }]);
    },
  );
});

Deno.test("RedisCluster.reach() resolves at the position, or after its wait; close() is idempotent", async () => {
  await withNodes(1, { reachMs: 50 }, async ([a], [sink]) => {
    const m = await a!.post("#r", said("#r", "one"));
    await a!.reach(m.id);
    assert.ok(a!.position >= m.id);
    await sink!.count(1);
    await a!.reach(m.id + 1000); // never comes: the wait ends it
    assert.equal(a!.position, m.id);
    const pending = a!.reach(m.id + 2000);
    await a!.close();
    await pending;
    await a!.close();
  });
});

Deno.test("RedisCluster: a Redis that stops answering is told lost when a command times out, and back once it answers, with nothing more sent", async () => {
  await withNodes(1, { retryMs: 20, commandTimeoutMs: 200 }, async ([a], [sink], redis) => {
    redis.pause();
    await assert.rejects(a!.tell({ op: "dead", node: a!.node, dead: "x" }), /timed out/);
    assert.equal(a!.up, false);
    redis.resume();
    await sink!.count(2, (t) => "state" in t);
    assert.deepEqual(sink!.told.filter((t) => "state" in t), [{ state: false }, { state: true }]);
    assert.equal(a!.up, true);
  });
});

Deno.test("RedisCluster: a read of the store that finds Redis gone has it told lost a timeout later, not at the next renewal", async () => {
  const options = { retryMs: 20, commandTimeoutMs: 200, renewMs: 60_000, leaseMs: 180_000 };
  await withNodes(1, options, async ([a], [sink], redis) => {
    redis.pause();
    await assert.rejects(a!.store.recent("#r", 10), /timed out/);
    // Asked at once whether Redis is there: it is not.
    const told = sink!.count(1, (t) => "state" in t);
    assert.ok(
      await within(told, 5_000),
      "told by the read's asking, not by a renewal a minute away",
    );
    assert.equal(a!.reachable, false);
    redis.resume();
    await sink!.count(2, (t) => "state" in t);
    assert.deepEqual(await a!.store.recent("#r", 10), []);
  });
});

Deno.test("RedisCluster: a read of the store whose answer is slow, with Redis there, is refused alone: the node stays reachable", async () => {
  await withProxiedNode(async (node, sink, proxy) => {
    await node.post("#r", said("#r", "a long read"));
    await sink.count(1, fromFeed);
    const slow = proxy.holdNextAnswer((answer) => answer.includes("a long read"));
    await assert.rejects(node.store.recent("#r", 10), /timed out/);
    await slow.held;
    // Behind the asking on the cluster's own connection: answered after it.
    assert.equal(await node.holder("nobody"), undefined);
    assert.equal(node.reachable, true);
    assert.deepEqual(sink.told.filter((t) => "state" in t), []);
  });
});

Deno.test("RedisCluster: ids are taken past the furthest any node had read, as the last renewal heard, though this node read less (a Redis back from an older copy)", async () => {
  await withNodes(1, { renewMs: 3_600_000 }, async ([a], [sink], redis) => {
    const one = await a!.post("#r", said("#r", "one"));
    await sink!.count(1, fromFeed);
    // Another node had read far past this one, as renewals keep it.
    const far = one.id + 500;
    await direct(redis, (raw) => raw.set("chat:read", far));
    await a!.renew();
    // Redis back from a copy older than that node's reading, newer than this one's.
    await direct(redis, (raw) => raw.set("chat:id", one.id + 100));
    const two = await a!.post("#r", said("#r", "two"));
    assert.equal(two.id, far + RAISE_HEADROOM + 1, "past what the other node read");
    await sink!.count(1, (t) => "idsLost" in t);
    await sink!.count(2, fromFeed);
    const last = sink!.told.findLast((t) => "message" in t);
    assert.ok(last && "message" in last && last.message.text === "two" && last.gap, "gap");
  });
});

Deno.test("RedisCluster.claim() on a Redis that lost its data is refused as StoreRestarted, Redis still taken as reachable", async () => {
  await withNodes(1, { renewMs: 3_600_000 }, async ([a], [sink], redis) => {
    await a!.post("#r", said("#r", "one"));
    await sink!.count(1, fromFeed);
    await direct(redis, (raw) => raw.flushall());
    await assert.rejects(a!.claim("zed"), StoreRestarted);
    assert.equal(a!.reachable, true);
    // The claim marked the loss: read, it has the node renew, and claims work again.
    await sink!.count(1, (t) => "idsLost" in t);
    await a!.renew();
    assert.equal(await a!.claim("zed"), true);
  });
});

Deno.test("RedisCluster: after Redis lost its data the member list is read again a lease later, not at once: a member whose node died meanwhile is gone from it", async () => {
  await withNodes(2, { leaseMs: 600, renewMs: 200 }, async ([a, b], [sink], redis) => {
    const seat: ClusterEvent = { op: "seat", node: b!.node, nick: "Bob", via: "web", rooms: [] };
    await b!.tell(seat, [["bob", record("Bob", b!.node, tokenHash("t"), [])]]);
    await sink!.count(1, (t) => "event" in t && t.event.op === "seat");
    await b!.abandon();
    await direct(redis, (raw) => raw.flushall());
    await a!.post("#r", said("#r", "after"));
    await sink!.count(1, (t) => "idsLost" in t);
    // Not as it is now (empty: it would have every other node's member leave).
    assert.equal(sink!.told.filter((t) => "members" in t).length, 0);
    await sink!.count(1, (t) => "members" in t);
    const [listed] = sink!.told.filter((t) => "members" in t);
    assert.deepEqual(listed, { members: [] }, "Bob, whose node died, is not listed");
  });
});

Deno.test("RedisCluster: a Redis back without its data is told back only once its id counter is past what the node read", async () => {
  await withNodes(1, {}, async ([a], [sink], redis) => {
    await a!.post("#r", said("#r", "one"));
    const two = await a!.post("#r", said("#r", "two"));
    await sink!.count(2, fromFeed);
    await redis.stop("SIGKILL");
    await sink!.count(1, (t) => "state" in t);
    for await (const entry of Deno.readDir(redis.dir)) {
      await Deno.remove(`${redis.dir}/${entry.name}`, { recursive: true });
    }
    await redis.restart();
    await sink!.count(2, (t) => "state" in t);
    // As soon as it is back, the next id is past what was read: none is
    // handed out twice, and what is said now is heard.
    assert.ok(Number(await direct(redis, (raw) => raw.get("chat:id"))) >= two.id);
    const three = await a!.post("#r", said("#r", "three"));
    assert.ok(three.id > two.id, `id ${three.id} after ${two.id}`);
    await sink!.count(3, fromFeed);
    assert.deepEqual(sink!.feed(), ["m:one", "m:two", "m:three"]);
  });
});

Deno.test("RedisCluster: each script that takes an id takes it past the node's position when Redis's counter is below it, and the raise is told in the feed's order", async () => {
  const warned: string[] = [];
  await withNodes(1, { warn: (m) => warned.push(m) }, async ([a], [sink], redis) => {
    const node = a!.node;
    const topic = { text: "plans", by: "Ann", ts: 1 };
    const seat: ClusterEvent = { op: "seat", node, nick: "Ann", via: "web", rooms: [] };
    const heard = (op: string) => (t: Told) => "event" in t && t.event.op === op;
    // Each as the first thing a Redis back without its data is sent
    // (ioredis sends again what was unanswered as it reconnects): a
    // counter taken from 0 gave ids every node had read past, never shown.
    const takers: [string, () => Promise<unknown>, (t: Told) => boolean][] = [
      ["post", () => a!.post("#r", said("#r", "kept")), (t) => "message" in t],
      [
        "tell",
        () => a!.tell(seat, [["ann", record("Ann", node, tokenHash("t"), [])]]),
        heard("seat"),
      ],
      ["ban", () => a!.ban({ fold: "eve", ms: 60_000 }), heard("ban")],
      [
        "topic",
        () =>
          a!.setTopic("#r", topic, { op: "topic", node, room: { room: "#r", key: "#r", topic } }),
        heard("topic"),
      ],
      ["reconcile", () => a!.reconcile([]), heard("bye")],
      ["private id", () => a!.privateId(), () => false],
      ["depart", () => a!.depart("stopping"), heard("dead")],
    ];
    await a!.post("#r", said("#r", "first"));
    await sink!.count(1, fromFeed);
    let lastLost = -1;
    for (const [name, take, told] of takers) {
      const position = a!.position;
      await direct(redis, (raw) => raw.del("chat:id"));
      const before = sink!.told.filter(told).length;
      await take();
      const counter = Number(await direct(redis, (raw) => raw.get("chat:id")));
      assert.equal(counter, position + RAISE_HEADROOM + 1, `${name}: past the position`);
      if (name !== "private id") await sink!.count(before + 1, told);
      // The mark under the id raised to, then the entry, both read.
      await a!.reach(counter - 1);
      assert.ok(a!.position >= counter - 1, `${name}: the mark is read`);
      // The sink is told of the raise (in the feed's order: before the entry).
      const lostAt = sink!.told.findLastIndex((t) => "idsLost" in t);
      assert.ok(lostAt > lastLost, `${name}: the sink is told`);
      if (name !== "private id") assert.ok(lostAt < sink!.told.findLastIndex(told), name);
      lastLost = lostAt;
    }
    assert.equal(sink!.told.filter((t) => "idsLost" in t).length, 7);
    assert.equal(warned.filter((w) => w.startsWith("Redis came back without")).length, 7);
    assert.match(
      warned.at(-1)!,
      /its ids were at 0, a node had read up to \d+\): ids go on from \d+/,
    );
  });
});

Deno.test("RedisCluster: a node back after its lease ended hears itself found dead, and is told to announce its members again", async () => {
  await using redis = await RedisServer.start();
  // It renews only when told to: as a node paused past its lease.
  const sleeper = await RedisCluster.open({
    url: redis.url,
    keep: 10,
    leaseMs: 200,
    renewMs: 3_600_000,
  });
  const asleep = new Sink();
  // Started before anyone can find it dead: it hears that from the feed.
  await sleeper.start(asleep);
  // A member of its own, whose record the one who finds it dead removes.
  const sam = record("Sam", sleeper.node, tokenHash("s"), []);
  await sleeper.tell({ op: "seat", node: sleeper.node, nick: "Sam", via: "web", rooms: [] }, [[
    "sam",
    sam,
  ]]);
  const other = await RedisCluster.open({ url: redis.url, keep: 10, leaseMs: 200, renewMs: 20 });
  try {
    await other.start(new Sink());
    await asleep.count(1, (t) => "event" in t && t.event.op === "dead");
    assert.deepEqual(asleep.told.filter((t) => "event" in t && t.event.op === "dead"), [{
      event: { op: "dead", node: other.node, dead: sleeper.node },
    }]);
    // A seat taken back on it before it renews does not register it behind its back (XX).
    await other.tell({ op: "seat", node: other.node, nick: "Hal", via: "web", rooms: [] }, [[
      "hal",
      record("Hal", other.node, tokenHash("t"), []),
    ]]);
    assert.ok(await sleeper.takeOver("hal", "t", "u"));
    await sleeper.renew();
    assert.deepEqual(asleep.told.at(-1), { revived: true });
  } finally {
    await Promise.all([sleeper.close(), other.close()]);
    asleep.end();
  }
});

Deno.test("RedisCluster: a node whose feed position was trimmed away while it was cut off is handed the member list, and not the events it stands for", async () => {
  // Each node waits 1 s before it reads again after losing Redis: the
  // feed is changed meanwhile.
  await withNodes(2, { retryMs: 1_000 }, async ([, b], [sa], redis) => {
    await b!.tell({ op: "seat", node: b!.node, nick: "x", via: "web", rooms: [] }, [
      ["x", record("x", b!.node, "h")],
    ]);
    await sa!.count(1, fromFeed);
    // Cut the feed readers off (the blocked XREADs), as a network would.
    await direct(redis, async (raw) => {
      const list = String(await raw.call("CLIENT", "LIST"));
      for (const line of list.split("\n")) {
        const id = /^id=(\d+) .* cmd=xread\b/.exec(line)?.[1];
        if (id) await raw.call("CLIENT", "KILL", "ID", id);
      }
    });
    await sa!.count(1, (t) => "state" in t && !t.state);
    await b!.tell({ op: "bye", node: b!.node, nick: "x", reason: "quit" }, [["x", null]]);
    await b!.tell({ op: "seat", node: b!.node, nick: "y", via: "web", rooms: [] }, [
      ["y", record("y", b!.node, "h")],
    ]);
    await b!.post("#lobby", said("#lobby", "after"));
    // Past what the feed keeps: only the last entry is left.
    await direct(redis, (raw) => raw.xtrim("chat:feed", "MAXLEN", 1));
    await sa!.count(1, (t) => "message" in t);
    const after = sa!.told.slice(sa!.told.findIndex((t) => "state" in t && !t.state));
    const members = after.find((t) => "members" in t);
    assert.ok(members && "members" in members, JSON.stringify(after));
    assert.deepEqual(members.members.map((r) => r.nick), ["y"]);
    // Neither the bye nor the seat it stands for, then the message, with its gap.
    assert.deepEqual(after.filter((t) => "event" in t), []);
    const message = after.find((t) => "message" in t);
    assert.ok(message && "message" in message && message.gap);
    assert.ok(after.indexOf(members) < after.indexOf(message));
  });
});

Deno.test("RedisCluster: a node still connected whose feed read comes after the entries it had not read were trimmed is told the gap, and reads the member list again", async () => {
  await using redis = await RedisServer.start();
  await using proxy = new RedisProxy(redis.port);
  const a = await RedisCluster.open({ url: redis.url, keep: 10 });
  // b's feed reads go through the proxy: one can be held on its way (b stalled, or busy).
  const b = await RedisCluster.open({ url: proxy.url, keep: 10 });
  const sb = new Sink();
  try {
    await a.start(new Sink());
    await b.start(sb);
    await a.post("#r", said("#r", "warm"));
    await sb.count(1, (t) => "message" in t);
    // b's next read, from "warm" or from "first", is held.
    const held = proxy.holdNextRequest((request) => /xread/i.test(request));
    await a.post("#r", said("#r", "first"));
    await held.held;
    await a.tell({ op: "seat", node: a.node, nick: "Zed", via: "web", rooms: [] }, [
      ["zed", record("Zed", a.node, "z", [])],
    ]);
    await a.post("#r", said("#r", "after"));
    // Past what the feed keeps: only the last entry is left.
    await direct(redis, (raw) => raw.xtrim("chat:feed", "MAXLEN", 1));
    held.release();
    await sb.count(1, (t) => "message" in t && t.message.text === "after");
    assert.deepEqual(
      sb.told.flatMap((t) =>
        "message" in t
          ? [`${t.message.text}${t.gap ? " (gap)" : ""}`]
          : "members" in t
          ? [`members: ${t.members.map((r) => r.nick).join(",")}`]
          : "event" in t
          ? [`event: ${t.event.op}`]
          : []
      ).filter((told) => told !== "first"),
      ["warm", "members: Zed", "after (gap)"],
    );
  } finally {
    await Promise.all([a.close(), b.close()]);
    sb.end();
  }
});

Deno.test("RedisCluster.tell() whose answer was lost with its connection is sent again and told once", async () => {
  await using redis = await RedisServer.start();
  await using proxy = new RedisProxy(redis.port);
  const teller = await RedisCluster.open({ url: proxy.url, keep: 10 });
  const listener = await RedisCluster.open({ url: redis.url, keep: 10 });
  const sink = new Sink();
  try {
    await teller.start(new Sink());
    await listener.start(sink);
    const seat = (nick: string) => ({
      op: "seat" as const,
      node: teller.node,
      nick,
      via: "web" as const,
      rooms: [],
    });
    await teller.tell(seat("one"));
    // The tell's answer: its id.
    proxy.cutNextAnswer((answer) => answer === ":2\r\n");
    await teller.tell(seat("two"));
    await proxy.cut.promise;
    await teller.tell(seat("three"));
    await sink.count(3, fromFeed);
    const nicks = sink.told.flatMap((t) =>
      "event" in t && t.event.op === "seat" ? [t.event.nick] : []
    );
    assert.deepEqual(nicks, ["one", "two", "three"]);
  } finally {
    await Promise.all([teller.close(), listener.close()]);
    sink.end();
  }
});

Deno.test("RedisCluster.privateId() takes a new id and names the feed's last entry before it", async () => {
  await withNodes(1, {}, async ([a]) => {
    assert.deepEqual(await a!.privateId(), { id: 1, after: 0 });
    const m = await a!.post("#r", said("#r", "x"));
    assert.equal(m.id, 2);
    assert.deepEqual(await a!.privateId(), { id: 3, after: 2 }, "a private id is no feed entry");
    await a!.tell({ op: "dead", node: a!.node, dead: "x" });
    assert.deepEqual(await a!.privateId(), { id: 5, after: 4 });
  });
});

Deno.test("RedisCluster.depart() removes every record of the node, those it no longer seats too, with one dead event and its reason", async () => {
  await withNodes(2, {}, async ([a, b], sinks, redis) => {
    const hash = tokenHash("t");
    for (const nick of ["Ann", "Ghost"]) {
      await a!.tell({ op: "seat", node: a!.node, nick, via: "web", rooms: [] }, [[
        nick.toLowerCase(),
        record(nick, a!.node, hash, []),
      ]]);
    }
    await b!.tell({ op: "seat", node: b!.node, nick: "Bea", via: "web", rooms: [] }, [[
      "bea",
      record("Bea", b!.node, hash, []),
    ]]);
    await a!.depart("server shutting down");
    await sinks[1]!.count(1, (t) => "event" in t && t.event.op === "dead");
    assert.deepEqual(sinks[1]!.told.findLast((t) => "event" in t), {
      event: { op: "dead", node: a!.node, dead: a!.node, reason: "server shutting down" },
    });
    assert.deepEqual(await direct(redis, (raw) => raw.hkeys("chat:members")), ["bea"]);
  });
});

Deno.test("RedisCluster: records of a node found dead but left behind are not listed by a node that starts, which removes them", async () => {
  await using redis = await RedisServer.start();
  // As a sweeper that lost Redis between finding a node dead and removing its records.
  await direct(
    redis,
    (raw) =>
      raw.hset("chat:members", "gus", JSON.stringify(record("Gus", "gone-node", tokenHash("t")))),
  );
  const node = await RedisCluster.open({ url: redis.url, keep: 10 });
  const sink = new Sink();
  try {
    assert.deepEqual(await node.start(sink), []);
    await sink.count(1, (t) => "event" in t);
    assert.deepEqual(sink.told, [{
      event: { op: "dead", node: node.node, dead: "gone-node" },
    }]);
    assert.deepEqual(await direct(redis, (raw) => raw.hkeys("chat:members")), []);
  } finally {
    await node.close();
    sink.end();
  }
});

Deno.test("RedisCluster.tell() about a member another live node has now is refused (SeatMoved); a record of a node gone is overwritten", async () => {
  await withNodes(2, {}, async ([a, b], _sinks, redis) => {
    const hash = tokenHash("t");
    const nodeOf = async (fold: string) =>
      JSON.parse(await direct(redis, (raw) => raw.hget("chat:members", fold)) ?? "null")?.node;
    await a!.tell({ op: "seat", node: a!.node, nick: "Dee", via: "web", rooms: [] }, [[
      "dee",
      record("Dee", a!.node, hash, []),
    ]]);
    assert.ok(await b!.takeOver("dee", "t", "u"));
    // a, not yet told, lets its old connection go: refused, nothing told.
    const before = await direct(redis, (raw) => raw.xlen("chat:feed"));
    await assert.rejects(
      a!.tell({ op: "bye", node: a!.node, nick: "Dee", reason: "connection lost" }, [[
        "dee",
        null,
      ]]),
      SeatMoved,
    );
    assert.equal(await nodeOf("dee"), b!.node);
    assert.equal(await direct(redis, (raw) => raw.xlen("chat:feed")), before);
    // A record of a node no longer live is anyone's to overwrite.
    await direct(
      redis,
      (raw) => raw.hset("chat:members", "eli", JSON.stringify(record("Eli", "gone-node", hash))),
    );
    await a!.tell({ op: "seat", node: a!.node, nick: "Eli", via: "web", rooms: [] }, [[
      "eli",
      record("Eli", a!.node, hash, []),
    ]]);
    assert.equal(await nodeOf("eli"), a!.node);
  });
});

Deno.test("RedisCluster: a nickname another node claimed is not written by a teller that lost it, nor taken over with a dead node's record", async () => {
  await withNodes(3, {}, async ([a, b, c], _sinks, redis) => {
    const hash = tokenHash("t");
    const nodeOf = async (fold: string) =>
      JSON.parse(await direct(redis, (raw) => raw.hget("chat:members", fold)) ?? "null")?.node;
    // Node a was found dead (its record not removed yet) and b claimed the name since.
    await direct(
      redis,
      (raw) => raw.hset("chat:members", "fay", JSON.stringify(record("Fay", "dead-node", hash))),
    );
    assert.equal(await b!.claim("fay"), true);
    // A take-back with the dead node's record's token: refused, nothing changed.
    assert.equal(await c!.takeOver("fay", "t", "u"), undefined);
    assert.equal(await c!.holder("fay"), b!.node);
    assert.equal(await nodeOf("fay"), "dead-node");
    // Node a, back, retells its member: refused (SeatMoved), nothing told.
    const before = await direct(redis, (raw) => raw.xlen("chat:feed"));
    await assert.rejects(
      a!.tell({ op: "seat", node: a!.node, nick: "Fay", via: "web", rooms: [] }, [[
        "fay",
        record("Fay", a!.node, hash, []),
      ]]),
      SeatMoved,
    );
    assert.equal(await direct(redis, (raw) => raw.xlen("chat:feed")), before);
    // Its holder's tell goes through; and one removing a record is never refused for the name.
    await b!.tell({ op: "seat", node: b!.node, nick: "Fay", via: "irc", rooms: [] }, [[
      "fay",
      record("Fay", b!.node, tokenHash("v"), []),
    ]]);
    assert.equal(await nodeOf("fay"), b!.node);
    await a!.tell({ op: "bye", node: a!.node, nick: "Gus", reason: "quit" }, [["gus", null]]);
  });
});

/**
 * A node that renews only when told to (its lease of 200 ms ends unless
 * the test renews it), and a finder behind `proxy` that looks for dead
 * nodes every 20 ms; neither started.
 */
async function stalledAndFinder(
  redis: RedisServer,
  proxy: RedisProxy,
): Promise<[RedisCluster, RedisCluster]> {
  const stalled = await RedisCluster.open({
    url: redis.url,
    keep: 10,
    leaseMs: 200,
    renewMs: 3_600_000,
  });
  const finder = await RedisCluster.open({ url: proxy.url, keep: 10, leaseMs: 200, renewMs: 20 });
  return [stalled, finder];
}

Deno.test("RedisCluster: a node found dead by a sweep whose answer was lost is found dead again a lease later", async () => {
  await using redis = await RedisServer.start();
  await using proxy = new RedisProxy(redis.port);
  // Found dead by the finder, whose answer is lost.
  const [gone, finder] = await stalledAndFinder(redis, proxy);
  // It watches the feed, and never sweeps: found dead by it first, the node
  // would never be named in the finder's answer, and nothing would be cut.
  const watcher = await RedisCluster.open({ url: redis.url, keep: 10, renewMs: 3_600_000 });
  const seen = new Sink();
  try {
    await gone.start(new Sink());
    await gone.tell({ op: "seat", node: gone.node, nick: "Ugo", via: "web", rooms: [] }, [[
      "ugo",
      record("Ugo", gone.node, tokenHash("u"), []),
    ]]);
    await watcher.start(seen);
    // The sweep's answer, naming the node found dead: cut, as a connection
    // lost then (ioredis sends the sweep again: it finds nothing left).
    const sweep = `*1\r\n$${gone.node.length}\r\n${gone.node}\r\n`;
    proxy.cutNextAnswer((answer) => answer === sweep);
    await finder.start(new Sink());
    assert.ok(await within(proxy.cut.promise, 10_000), "the sweep's answer naming it, cut");
    const dead = seen.count(1, (t) => "event" in t && t.event.op === "dead");
    assert.ok(await within(dead, 10_000), "found dead again");
    assert.deepEqual(seen.told.filter((t) => "event" in t && t.event.op === "dead"), [{
      event: { op: "dead", node: finder.node, dead: gone.node },
    }]);
    assert.deepEqual(await direct(redis, (raw) => raw.hkeys("chat:members")), []);
    assert.deepEqual(await direct(redis, (raw) => raw.zrange("chat:dead", 0, -1)), []);
  } finally {
    await Promise.all([gone.abandon(), finder.close(), watcher.close()]);
    seen.end();
  }
});

Deno.test("RedisCluster: a node registered again before its finder removes its records keeps them, and nobody is told it died", async () => {
  await using redis = await RedisServer.start();
  await using proxy = new RedisProxy(redis.port);
  const [back, finder] = await stalledAndFinder(redis, proxy);
  try {
    await back.start(new Sink());
    await back.tell({ op: "seat", node: back.node, nick: "Ugo", via: "web", rooms: [] }, [[
      "ugo",
      record("Ugo", back.node, tokenHash("u"), []),
    ]]);
    // The finder's removal of the node (the only command naming it) is slow to arrive...
    const removal = proxy.holdNextRequest((request) => request.includes(back.node));
    await finder.start(new Sink());
    await removal.held;
    // ...and the node renews meanwhile, as one back from a pause does: registered again.
    await direct(redis, (raw) => raw.zadd("chat:nodes", Date.now() + 60_000, back.node));
    removal.release();
    // A later command on the finder's connection is answered after the removal ran.
    await finder.privateId();
    assert.deepEqual(await direct(redis, (raw) => raw.hkeys("chat:members")), ["ugo"]);
    const feed = await direct(redis, (raw) => raw.xrange("chat:feed", "-", "+"));
    assert.deepEqual(feed.map(([, fields]) => JSON.parse(fields[1] ?? "{}").op), ["seat"]);
    assert.deepEqual(await direct(redis, (raw) => raw.zrange("chat:dead", 0, -1)), []);
  } finally {
    await Promise.all([back.abandon(), finder.close()]);
  }
});
