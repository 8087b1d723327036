import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { type FeedMessage, FeedReader, RAISE_HEADROOM } from "../server/bus/feed.ts";
import type { ClusterEvent } from "../server/hub/cluster.ts";
import type { RoomMessage } from "../server/history/history.ts";
import { RedisHistory, type RedisHistoryOptions } from "../server/history/redis.ts";
import { RedisServer } from "./kit/redis_server.ts";
import { Waiters } from "./kit/waiters.ts";

function said(room: string, text: string): Omit<RoomMessage, "id"> {
  return { type: "message", ts: Date.now(), room, from: "alice", text };
}

/** A reader whose messages and state changes a test can wait for. */
class Heard {
  readonly messages: FeedMessage[] = [];
  readonly events: { event: ClusterEvent; id: number }[] = [];
  /** Every message and event, in the order handed on: texts, and `ev:<op>`. */
  readonly order: string[] = [];
  readonly states: boolean[] = [];
  /** What `onIdsLost` told: the counter as it was, the position, and the id raised to. */
  readonly idsLost: [number, number, number][] = [];
  /** How many times `onTrimmed` was called. */
  trimmed = 0;
  readonly #waiters = new Waiters();
  readonly reader: FeedReader;

  constructor(url: string, after: number) {
    this.reader = new FeedReader({
      url,
      after,
      retryMs: 20,
      onMessage: (m) => {
        this.messages.push(m);
        this.order.push(m.message.text);
        this.#waiters.wake();
      },
      onEvent: (event, id) => {
        this.events.push({ event, id });
        this.order.push(`ev:${event.op}`);
        this.#waiters.wake();
      },
      onState: (up) => {
        this.states.push(up);
        this.#waiters.wake();
      },
      onTrimmed: () => {
        this.trimmed++;
        return Promise.resolve();
      },
      onIdsLost: (was, position, from) => {
        this.idsLost.push([was, position, from]);
        this.order.push("lost");
      },
    });
  }

  texts(): string[] {
    return this.messages.map((m) => m.message.text);
  }

  count(n: number): Promise<true> {
    return this.#waiters.until(
      () => this.messages.length >= n || undefined,
      () => `for ${n} messages, heard ${JSON.stringify(this.texts())}`,
    );
  }

  heard(n: number): Promise<true> {
    return this.#waiters.until(
      () => this.order.length >= n || undefined,
      () => `for ${n} entries, heard ${JSON.stringify(this.order)}`,
    );
  }

  state(n: number): Promise<true> {
    return this.#waiters.until(
      () => this.states.length >= n || undefined,
      () => `for ${n} state changes, heard ${JSON.stringify(this.states)}`,
    );
  }

  async close(): Promise<void> {
    await this.reader.close();
    this.#waiters.end(new Error("closed"));
  }
}

/** Runs `fn` with a fresh redis-server, a store and a reader from the start, all closed after. */
async function withFeed(
  fn: (store: RedisHistory, heard: Heard, redis: RedisServer) => Promise<void>,
  options: Omit<RedisHistoryOptions, "keep"> = {},
): Promise<void> {
  await using redis = await RedisServer.start();
  const store = await RedisHistory.open(redis.url, { keep: 10, ...options });
  const heard = new Heard(redis.url, 0);
  try {
    await fn(store, heard, redis);
  } finally {
    await heard.close();
    await store.close();
  }
}

Deno.test("FeedReader hands on every room's messages once, in id order, with their room's key", async () => {
  await withFeed(async (store, heard, redis) => {
    const a = await store.append("#lobby", said("#lobby", "one"));
    await store.nextId(); // a private message's id: not in the feed
    const b = await store.append("#dev", said("#Dev", "two"));
    const c = await store.append("#lobby", said("#lobby", "three"));
    await heard.count(3);
    assert.deepEqual(heard.messages, [
      { key: "#lobby", message: a, gap: false },
      { key: "#dev", message: b, gap: false },
      { key: "#lobby", message: c, gap: false },
    ]);
    assert.equal(heard.reader.position, c.id);
    // A second reader from a position hears only what came after it.
    const late = new Heard(redis.url, b.id);
    try {
      await late.count(1);
      assert.deepEqual(late.texts(), ["three"]);
    } finally {
      await late.close();
    }
  });
});

Deno.test("FeedReader: after a Redis restart it reads on from its position, no gap and no duplicate, told once each way", async () => {
  await withFeed(async (store, heard, redis) => {
    await store.append("#r", said("#r", "before"));
    await heard.count(1);
    await redis.stop();
    await heard.state(1);
    assert.deepEqual(heard.states, [false]);
    await redis.restart();
    await store.append("#r", said("#r", "after 1"));
    await store.append("#r", said("#r", "after 2"));
    await heard.count(3);
    await heard.state(2);
    assert.deepEqual(heard.texts(), ["before", "after 1", "after 2"]);
    assert.deepEqual(heard.states, [false, true]);
    assert.ok(heard.messages.every((m) => !m.gap));
  });
});

Deno.test("FeedReader: a Redis back without its data has its id counter raised past the reader's position, so new messages are heard, the loss told by its mark and not as a gap", async () => {
  await withFeed(async (store, heard, redis) => {
    const before = await store.append("#r", said("#r", "before"));
    await store.append("#r", said("#r", "before 2"));
    await heard.count(2);
    await redis.stop("SIGKILL");
    await heard.state(1);
    for await (const entry of Deno.readDir(redis.dir)) {
      await Deno.remove(`${redis.dir}/${entry.name}`, { recursive: true });
    }
    await redis.restart();
    // Back: the reader looked (and raised the counter) before it says so.
    await heard.state(2);
    const after = await store.append("#r", said("#r", "after"));
    // Past what was read, and what another node may have read further on.
    assert.equal(after.id, before.id + 2 + RAISE_HEADROOM, "ids go on past what was read");
    await heard.count(3);
    assert.deepEqual(heard.order, ["before", "before 2", "lost", "after"]);
    assert.deepEqual(heard.idsLost, [[0, before.id + 1, before.id + 1 + RAISE_HEADROOM]]);
    // Lost, not trimmed: told by the mark, not as a gap, and the member
    // list (lost too) is not read again as if it stood for what was missed.
    assert.ok(heard.messages.every((m) => !m.gap), "no gap");
    assert.equal(heard.trimmed, 0);
  });
});

/**
 * A reader started at `after`, behind the node that raised the counter past
 * what it read ("three" the first message since): it hears the mark, then
 * "three" with the gap, and reads no member list.
 */
async function toldGapFrom(url: string, after: number): Promise<void> {
  const behind = new Heard(url, after);
  try {
    await behind.count(1);
    assert.deepEqual(behind.order, ["lost", "three"]);
    assert.equal(behind.messages[0]!.gap, true, "what it had not read is gone");
    assert.equal(behind.trimmed, 0);
  } finally {
    await behind.close();
  }
}

Deno.test("FeedReader: a reader behind the node that raised the counter of a Redis back without its data is told the gap, and reads no member list", async () => {
  let ahead = 0;
  await withFeed(async (store, heard, redis) => {
    const one = await store.append("#r", said("#r", "one"));
    ahead = (await store.append("#r", said("#r", "two"))).id;
    await heard.count(2);
    await redis.stop("SIGKILL");
    for await (const entry of Deno.readDir(redis.dir)) {
      await Deno.remove(`${redis.dir}/${entry.name}`, { recursive: true });
    }
    await redis.restart();
    // The store's node had read "two"; this reader had read only "one".
    await store.append("#r", said("#r", "three"));
    await toldGapFrom(redis.url, one.id);
  }, { position: () => ahead });
});

Deno.test("FeedReader: a reader behind the node that raised the counter of a Redis back from an older copy (some of the feed kept) is told the gap too", async () => {
  let ahead = 0;
  await withFeed(async (store, heard, redis) => {
    const zero = await store.append("#r", said("#r", "zero"));
    const one = await store.append("#r", said("#r", "one"));
    ahead = (await store.append("#r", said("#r", "two"))).id;
    await heard.count(3);
    // Back from a copy that has "zero" and not what came after it.
    const raw = new Redis(redis.url);
    try {
      await raw.xdel("chat:feed", `${one.id}-0`, `${ahead}-0`);
      await raw.set("chat:id", zero.id);
    } finally {
      raw.disconnect();
    }
    await store.append("#r", said("#r", "three"));
    await toldGapFrom(redis.url, one.id);
  }, { position: () => ahead });
});

Deno.test("FeedReader: a paused Redis holds the read; once it runs again, what was added is heard", async () => {
  await withFeed(async (store, heard, redis) => {
    await store.append("#r", said("#r", "one"));
    await heard.count(1);
    redis.pause();
    // Sent while Redis is paused: it waits in the socket, and is kept once Redis runs.
    const two = store.append("#r", said("#r", "two"));
    redis.resume();
    await two;
    await heard.count(2);
    assert.deepEqual(heard.texts(), ["one", "two"]);
  });
});

Deno.test("FeedReader: a node that was away past what the feed keeps is told of the gap", async () => {
  await using redis = await RedisServer.start();
  const store = await RedisHistory.open(redis.url, { keep: 10, feedKeep: 10 });
  try {
    const first = await store.append("#r", said("#r", "m0"));
    for (let i = 1; i < 300; i++) await store.append("#r", said("#r", `m${i}`));
    const heard = new Heard(redis.url, first.id);
    try {
      await heard.count(1);
      assert.equal(heard.messages[0]!.gap, true, "m0 and some after it were trimmed");
      assert.ok(heard.messages.slice(1).every((m) => !m.gap));
      const ids = heard.messages.map((m) => m.message.id);
      assert.deepEqual(ids, [...ids].sort((x, y) => x - y));
    } finally {
      await heard.close();
    }
    // Starting from a position still in the feed: no gap.
    const latest = (await store.recent("#r", 2))[0]!;
    const near = new Heard(redis.url, latest.id);
    try {
      await near.count(1);
      assert.deepEqual(near.messages.map((m) => [m.message.text, m.gap]), [["m299", false]]);
    } finally {
      await near.close();
    }
  } finally {
    await store.close();
  }
});

Deno.test("FeedReader reads a message written in one JSON field and one in six, and passes over a malformed one", async () => {
  await withFeed(async (store, heard, redis) => {
    const raw = new Redis(redis.url, { lazyConnect: true });
    await raw.connect();
    try {
      const entry = async (...fields: string[]) => {
        const id = await raw.incr("chat:id");
        await raw.xadd("chat:feed", `${id}-0`, ...fields);
      };
      await store.append("#r", said("#r", "one"));
      // As the first builds wrote a message: six fields.
      await entry("key", "#r", "ts", "5", "room", "#R", "from", "bob", "text", "six", "kind", "1");
      await entry("msg", JSON.stringify({ key: "#r", ts: 5, room: "#r", from: "bob", text: 7 }));
      await entry("msg", "{not json");
      const last = await store.append("#r", said("#r", "two"));
      await heard.heard(3);
      assert.deepEqual(heard.order, ["one", "six", "two"]);
      assert.equal(heard.reader.position, last.id);
    } finally {
      await raw.quit();
    }
  });
});

Deno.test("FeedReader hands on events in id order with the messages, and passes over malformed entries", async () => {
  await withFeed(async (store, heard, redis) => {
    const raw = new Redis(redis.url, { lazyConnect: true });
    await raw.connect();
    try {
      const event = async (value: string) => {
        const id = await raw.incr("chat:id");
        await raw.xadd("chat:feed", `${id}-0`, "ev", value);
        return id;
      };
      await store.append("#r", said("#r", "one"));
      const dead = await event(JSON.stringify({ op: "dead", node: "a", dead: "b" }));
      await event("{not json");
      await event(JSON.stringify({ op: "seat", node: "a" })); // no nick, via or rooms
      const id = await raw.incr("chat:id");
      await raw.xadd("chat:feed", `${id}-0`, "what", "ever");
      const last = await store.append("#r", said("#r", "two"));
      await heard.heard(3);
      assert.deepEqual(heard.order, ["one", "ev:dead", "two"]);
      assert.deepEqual(heard.events, [{ event: { op: "dead", node: "a", dead: "b" }, id: dead }]);
      assert.equal(heard.reader.position, last.id);
    } finally {
      await raw.quit();
    }
  });
});
