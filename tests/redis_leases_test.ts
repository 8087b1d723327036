import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { type LeaseOptions, NickLeases } from "../server/bus/leases.ts";
import { RAISE_HEADROOM } from "../server/history/redis.ts";
import { RedisProxy } from "./kit/redis_proxy.ts";
import { RedisServer } from "./kit/redis_server.ts";

/** Nodes on one redis-server, all closed after `fn`. */
async function withNodes(
  count: number,
  options: Omit<LeaseOptions, "url">,
  fn: (nodes: NickLeases[], redis: RedisServer) => Promise<void>,
): Promise<void> {
  await using redis = await RedisServer.start();
  const nodes: NickLeases[] = [];
  try {
    for (let i = 0; i < count; i++) {
      nodes.push(await NickLeases.open({ url: redis.url, ...options }));
    }
    await fn(nodes, redis);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
}

Deno.test("NickLeases: 100 claims of one nickname at once, over 3 nodes, give it to exactly one", async () => {
  await withNodes(3, {}, async (nodes) => {
    const claims = Array.from({ length: 100 }, (_, i) => nodes[i % 3]!.claim("alice"));
    // A node's claims of a name it holds succeed (the hub lets one of its
    // joins claim a name at a time): one node won, every claim of the others failed.
    const results = await Promise.all(claims);
    const winners = new Set(results.flatMap((ok, i) => ok ? [i % 3] : []));
    assert.equal(winners.size, 1);
    assert.equal(
      results.filter(Boolean).length,
      results.filter((_, i) => winners.has(i % 3)).length,
    );
    const holders = nodes.filter((n) => n.holds("alice"));
    assert.equal(holders.length, 1);
    assert.equal(await nodes[0]!.owner("alice"), holders[0]!.node);
  });
});

Deno.test("NickLeases: a released nickname is free; only its owner can release it", async () => {
  await withNodes(2, {}, async ([a, b]) => {
    assert.equal(await a!.claim("bob"), true);
    assert.equal(await b!.claim("bob"), false);
    await b!.release("bob"); // not b's: nothing happens
    assert.equal(await a!.owner("bob"), a!.node);
    await a!.release("bob");
    assert.equal(await b!.claim("bob"), true);
    assert.equal(b!.size, 1);
  });
});

Deno.test("NickLeases.release(unsure): a name whose key another step set to this node is given up; another node's is not", async () => {
  await withNodes(2, {}, async ([a, b], server) => {
    const redis = new Redis(server.url);
    try {
      // As a take-over whose answer was lost: the key names b, which does not know it.
      await redis.set("chat:nick:carol", b!.node);
      await b!.release("carol");
      assert.equal(await b!.owner("carol"), b!.node, "not looked at unless unsure");
      await b!.release("carol", true);
      assert.equal(await b!.owner("carol"), undefined);
      assert.equal(await a!.claim("dave"), true);
      await b!.release("dave", true);
      assert.equal(await b!.owner("dave"), a!.node);
    } finally {
      redis.disconnect();
    }
  });
});

Deno.test("NickLeases.claim() asks Redis even for a name held here: taken over by another node since, it is refused", async () => {
  await withNodes(2, {}, async ([a, b], redis) => {
    assert.equal(await a!.claim("frank"), true);
    // Node b takes the name over (a member back there with its token: the
    // take-over script sets the key), and a hears of it only at its next renewal.
    const raw = new Redis(redis.url);
    try {
      await raw.set("chat:nick:frank", b!.node, "PX", 10_000);
    } finally {
      raw.disconnect();
    }
    b!.adopt("frank");
    assert.equal(await a!.claim("frank"), false);
    assert.equal(await b!.claim("frank"), true, "its own already: renewed");
    assert.equal(await a!.owner("frank"), b!.node);
    await a!.renew();
    assert.equal(a!.holds("frank"), false);
  });
});

Deno.test("NickLeases: a killed node is found dead by exactly one other, and its nicknames are free", async () => {
  const dead: { by: number; node: string }[] = [];
  const { promise: found, resolve } = Promise.withResolvers<void>();
  await using redis = await RedisServer.start();
  const fast = { url: redis.url, leaseMs: 300, renewMs: 30 };
  const victim = await NickLeases.open(fast);
  const others = await Promise.all([0, 1].map((by) =>
    NickLeases.open({
      ...fast,
      onDead: (node) => {
        dead.push({ by, node });
        resolve();
      },
    })
  ));
  try {
    assert.equal(await victim.claim("carol"), true);
    await victim.abandon(); // as kill -9: nothing released
    await found;
    assert.deepEqual(dead.map((d) => d.node), [victim.node]);
    // Its lease ended when it was found dead, and so did its nicknames'.
    assert.equal(await others[0]!.claim("carol"), true);
    // One more round of sweeps by both: nobody is told twice.
    await Promise.all(others.map((o) => o.renew()));
    assert.equal(dead.length, 1);
  } finally {
    await Promise.all(others.map((o) => o.close()));
  }
});

/**
 * A node that renews only when told to (as one paused past its lease), and
 * another that renews often; `found` settles once the other has found the
 * sleeper dead. Both closed after `fn`.
 */
async function withSleeper(
  redis: RedisServer,
  options: Pick<LeaseOptions, "onLost" | "onRevived">,
  fn: (sleeper: NickLeases, other: NickLeases, found: Promise<void>) => Promise<void>,
): Promise<void> {
  const { promise: found, resolve } = Promise.withResolvers<void>();
  const sleeper = await NickLeases.open({
    url: redis.url,
    leaseMs: 200,
    renewMs: 3_600_000,
    ...options,
  });
  const other = await NickLeases.open({
    url: redis.url,
    leaseMs: 200,
    renewMs: 20,
    onDead: () => resolve(),
  });
  try {
    await fn(sleeper, other, found);
  } finally {
    await Promise.all([sleeper.close(), other.close()]);
  }
}

Deno.test("NickLeases: a node back after its lease ended is fenced from a nickname taken since, and keeps the rest", async () => {
  await using redis = await RedisServer.start();
  const lost: string[][] = [];
  let revived = 0;
  // What the node is told, in order: the names it lost before its revival,
  // so that it never tells the others it holds a seat taken since.
  const told: string[] = [];
  let holdsDave = () => false;
  await withSleeper(redis, {
    onLost: (folds) => {
      lost.push(folds);
      told.push(`lost ${folds.join(",")}; still holds dave: ${holdsDave()}`);
    },
    onRevived: () => {
      revived++;
      told.push(`revived; still holds dave: ${holdsDave()}`);
    },
  }, async (sleeper, other, found) => {
    holdsDave = () => sleeper.holds("dave");
    assert.equal(await sleeper.claim("dave"), true);
    assert.equal(await sleeper.claim("erin"), true);
    await found;
    assert.equal(await other.claim("dave"), true, "free once the sleeper's lease ended");
    await sleeper.renew();
    assert.deepEqual(lost, [["dave"]]);
    assert.equal(revived, 1);
    assert.deepEqual(told, [
      "lost dave; still holds dave: false",
      "revived; still holds dave: false",
    ]);
    assert.equal(sleeper.holds("dave"), false);
    assert.equal(sleeper.holds("erin"), true);
    assert.equal(await other.owner("erin"), sleeper.node, "taken again, as nobody else had");
    assert.equal(await other.owner("dave"), other.node);
  });
});

Deno.test("NickLeases: renewing while Redis is down is told once, and works again once it is back", async () => {
  await using redis = await RedisServer.start();
  const errors: unknown[] = [];
  const node = await NickLeases.open({
    url: redis.url,
    renewMs: 3_600_000,
    commandTimeoutMs: 200,
    onError: (e) => errors.push(e),
  });
  try {
    assert.equal(await node.claim("frank"), true);
    await redis.stop();
    await node.renew();
    await node.renew();
    assert.equal(errors.length, 1);
    await redis.restart();
    await node.renew(); // the client reconnects by itself; one failure may still be in flight
    await node.renew();
    assert.equal(await node.owner("frank"), node.node, "kept across the Redis restart");
  } finally {
    await node.close();
  }
});

Deno.test("NickLeases: a name given up while Redis cannot answer is given up once it can, not held for nobody until its lease ends", async () => {
  await using redis = await RedisServer.start();
  const node = await NickLeases.open({ url: redis.url, renewMs: 3_600_000, commandTimeoutMs: 200 });
  const other = await NickLeases.open({ url: redis.url, renewMs: 3_600_000 });
  try {
    assert.equal(await node.claim("frank"), true);
    // Stopped, its data kept: the release never reaches it.
    await redis.stop();
    await assert.rejects(node.release("frank"));
    await redis.restart();
    await node.renew(); // the first may still meet the lost connection
    await node.renew();
    assert.equal(await node.owner("frank"), undefined);
    assert.equal(await other.claim("frank"), true, "free for another node at once");
    await node.renew();
    assert.equal(await node.owner("frank"), other.node, "and not taken back by a later renewal");
  } finally {
    await node.close();
    await other.close();
  }
});

Deno.test("NickLeases.back(): a renewal begun before Redis was found answering that fails after is not told; one begun after is", async () => {
  await using redis = await RedisServer.start();
  await using proxy = new RedisProxy(redis.port);
  const errors: unknown[] = [];
  const node = await NickLeases.open({
    url: proxy.url,
    renewMs: 3_600_000,
    commandTimeoutMs: 200,
    onError: (e) => errors.push(e),
  });
  /** A renewal whose command is held on its way to Redis until it times out; `back` between. */
  const slowRenewal = async (back: boolean) => {
    const slow = proxy.holdNextRequest(() => true);
    const renewal = node.renew();
    await slow.held;
    if (back) node.back();
    await renewal;
    slow.release();
  };
  try {
    // Another connection found Redis answering while the renewal was on its way.
    await slowRenewal(true);
    assert.deepEqual(errors, []);
    await slowRenewal(false);
    assert.equal(errors.length, 1);
  } finally {
    proxy.releaseAll();
    await node.close();
  }
});

Deno.test("NickLeases: a node found dead claims nothing before it renews, and is still told it was revived", async () => {
  await using redis = await RedisServer.start();
  let revived = 0;
  await withSleeper(redis, { onRevived: () => revived++ }, async (sleeper, _other, found) => {
    await found;
    // A newcomer's claim on the node is not its renewal: it does not
    // register the node again behind its back, nor take a name before the
    // renewal has said which of its own it lost.
    await assert.rejects(sleeper.claim("gina"), /^ReplyError: LOST this node is not registered/);
    await sleeper.renew();
    assert.equal(revived, 1, "told to announce its members again");
    assert.equal(await sleeper.claim("gina"), true);
  });
});

Deno.test("NickLeases.claim() on a Redis back without its data (its id counter below the node's position, or the node not listed) is refused, the loss marked", async () => {
  let position = 0;
  // No renewal by the clock meanwhile: this test renews.
  const options = { position: () => position, renewMs: 3_600_000 };
  await withNodes(2, options, async ([a, b], redis) => {
    assert.equal(await b!.claim("bob"), true);
    const raw = new Redis(redis.url);
    try {
      position = 50;
      await raw.flushall();
      // Bob's key is gone with the rest; b has not renewed yet.
      await assert.rejects(a!.claim("bob"), /^ReplyError: LOST Redis came back without its data/);
      const marked = await raw.xrange("chat:feed", "-", "+");
      assert.equal(marked[0]?.[1][0], "lost", "the raise is marked in the feed");
      assert.equal(Number(await raw.get("chat:id")), 50 + RAISE_HEADROOM);
      // The counter is past the position now; a is still not listed.
      await assert.rejects(a!.claim("bob"), /^ReplyError: LOST this node is not registered/);
      // b renews (as every node does when it reads the mark): bob is b's again.
      await b!.renew();
      await a!.renew();
      assert.equal(await a!.claim("bob"), false);
      assert.equal(await raw.get("chat:nick:bob"), b!.node);
    } finally {
      raw.disconnect();
    }
  });
});

Deno.test("NickLeases: a name whose member another registered node lists is not free, even once its key has expired", async () => {
  await withNodes(2, { renewMs: 3_600_000 }, async ([a, b], redis) => {
    const raw = new Redis(redis.url);
    try {
      assert.equal(await a!.claim("hank"), true);
      await raw.hset("chat:members", "hank", JSON.stringify({ nick: "hank", node: a!.node }));
      // As after Redis was down longer than the lease: the key is gone, the member is not.
      await raw.del("chat:nick:hank");
      assert.equal(await b!.claim("hank"), false);
      assert.equal(await a!.claim("hank"), true, "its own node may claim it");
      await raw.del("chat:nick:hank");
      // Its node gone (found dead), the name is free.
      await raw.zrem("chat:nodes", a!.node);
      assert.equal(await b!.claim("hank"), true);
      // A record that is not a member's does not hold a name.
      await raw.hset("chat:members", "ivan", "not json");
      assert.equal(await b!.claim("ivan"), true);
    } finally {
      raw.disconnect();
    }
  });
});

Deno.test("NickLeases: back from a Redis outage longer than the lease, a node finds nobody dead before the others have had a lease to renew", async () => {
  await using redis = await RedisServer.start();
  const dead: string[] = [];
  const manual = { url: redis.url, renewMs: 3_600_000, commandTimeoutMs: 200 };
  const a = await NickLeases.open({ ...manual, onDead: (node) => dead.push(node) });
  const b = await NickLeases.open(manual);
  const raw = new Redis(redis.url, { lazyConnect: true, retryStrategy: () => null });
  try {
    assert.equal(await b.claim("jill"), true);
    await redis.stop();
    await a.renew();
    await b.renew();
    await redis.restart();
    // What a Redis down for longer than the lease looks like once back:
    // every node's lease has ended, every nickname key expired.
    await raw.connect();
    await raw.zadd("chat:nodes", 1, a.node, 1, b.node);
    await raw.del("chat:nick:jill");
    // Until a's renewal has reached Redis (its client reconnects by itself).
    do await a.renew(); while (await raw.zscore("chat:nodes", a.node) === "1");
    assert.deepEqual(dead, [], "b is not found dead: it could not renew either");
    // Until b's renewal has reached Redis (its client may still be reconnecting).
    do await b.renew(); while (await a.owner("jill") !== b.node);
    await a.renew();
    assert.deepEqual(dead, []);
  } finally {
    raw.disconnect();
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("NickLeases.disown() stops renewing a name without giving it up: once its new owner lets it go, it is free", async () => {
  await withNodes(2, { renewMs: 3_600_000 }, async ([a, b], redis) => {
    const raw = new Redis(redis.url);
    try {
      assert.equal(await a!.claim("kim"), true);
      // Taken over by b (as a seat taken back there), which later lets it go.
      await raw.set("chat:nick:kim", b!.node, "PX", 10_000);
      await a!.disown("kim");
      assert.equal(await a!.owner("kim"), b!.node, "left as it is");
      await raw.del("chat:nick:kim");
      await a!.renew();
      assert.equal(await a!.owner("kim"), undefined, "not set again by a's renewal");
      assert.equal(await b!.claim("kim"), true);
      // Let go by its taker and set again by a's renewal before a heard of the take-over: given up.
      assert.equal(await a!.claim("lee"), true);
      await a!.disown("lee");
      assert.equal(await a!.owner("lee"), undefined);
    } finally {
      raw.disconnect();
    }
  });
});
