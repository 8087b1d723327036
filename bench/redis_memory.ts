/**
 * What Redis keeps for a room, measured: one room filled to `--keep`'s
 * default (10,000 messages) through {@linkcode RedisHistory}, once with
 * ordinary lines (60 ASCII characters) and once with the longest (2,000
 * characters of four bytes each), on a `redis-server` of its own
 * (`tests/kit/redis_server.ts`); `MEMORY USAGE` of the room's log, its
 * folded texts and `chat:feed`, which holds the same messages. The README's
 * figures on Redis's memory come from here:
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-env --allow-run --allow-net=127.0.0.1 bench/redis_memory.ts
 * ```
 *
 * @module
 */

import { Redis } from "ioredis";
import { RedisHistory } from "../server/history/redis.ts";
import { RedisServer } from "../tests/kit/redis_server.ts";

const KEEP = 10_000;

const shapes = [
  { name: "ordinary lines (60 characters)", text: (i: number) => `${i} `.padEnd(60, "chat ") },
  // The longest a message may be: 2,000 characters (code points) of four bytes each.
  {
    name: "longest lines (2,000 characters, 😀)",
    text: (i: number) => `${i}${"😀".repeat(2_000 - String(i).length)}`,
  },
];

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

for (const shape of shapes) {
  await using redis = await RedisServer.start();
  const store = await RedisHistory.open(redis.url, { keep: KEEP });
  const raw = new Redis(redis.url);
  try {
    for (let at = 0; at < KEEP; at += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          store.append("#room", {
            type: "message",
            ts: Date.now(),
            room: "#room",
            from: "alice",
            text: shape.text(at + j),
          })),
      );
    }
    const usage = async (key: string) => Number(await raw.memory("USAGE", key, "SAMPLES", 0));
    const log = await usage("chat:log:#room");
    const folded = await usage("chat:folded:#room");
    const feed = await usage("chat:feed");
    const per = (log + folded) / KEEP;
    console.log(
      `${shape.name}: a room of ${KEEP} messages ${mib(log + folded)} (log ${mib(log)}, ` +
        `folded ${mib(folded)}; ${(per / 1024).toFixed(2)} KiB a message); ` +
        `chat:feed with the same ${KEEP}: ${mib(feed)}, so ${
          mib(feed * 10)
        } at its 100,000 entries`,
    );
  } finally {
    raw.disconnect();
    await store.close();
  }
}
