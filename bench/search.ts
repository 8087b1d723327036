/**
 * What a search costs: 20 rooms of 10,000 messages each (`--keep`'s
 * default, the most a room keeps), searched for a word found nowhere (every
 * kept message of every room is read) and for one in about one message in
 * ten (each room stops at its 50 newest matches), in each history store:
 * memory, SQLite (a file) and Redis (a `redis-server` of its own, from
 * `tests/kit/redis_server.ts`). The README's search figures come from here:
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-env --allow-run --allow-net=127.0.0.1 bench/search.ts
 * ```
 *
 * `--rooms N`, `--messages N` and `--runs N` change the shape.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { foldText } from "../common/nick.ts";
import { SEARCH_RESULTS } from "../common/protocol.ts";
import {
  type AsyncHistoryStore,
  type HistoryStore,
  MemoryHistory,
  type RoomMessage,
} from "../server/history/history.ts";
import { RedisHistory } from "../server/history/redis.ts";
import { SqliteHistory } from "../server/history/sqlite.ts";
import { RedisServer } from "../tests/kit/redis_server.ts";

/** Words the messages are made of; "lunch" is in about one in ten. */
const WORDS = ["deploy", "review", "the", "build", "is", "green", "again", "ok", "see", "PR"];
const COMMON = "lunch";
const NOWHERE = "zebra crossing";

/** One store under test: its name, how to add a message, how to search. */
interface Subject {
  name: string;
  append(key: string, message: Omit<RoomMessage, "id">): Promise<void> | void;
  search(keys: readonly string[], folded: string): Promise<RoomMessage[]> | RoomMessage[];
  close(): Promise<void> | void;
}

function syncSubject(name: string, store: HistoryStore): Subject {
  return {
    name,
    append: (key, m) => store.append(key, { ...m, id: store.nextId() }),
    search: (keys, folded) => store.search(keys, folded, SEARCH_RESULTS),
    close: () => store.close(),
  };
}

function asyncSubject(name: string, store: AsyncHistoryStore, after: () => Promise<void>): Subject {
  return {
    name,
    append: async (key, m) => void await store.append(key, m),
    search: (keys, folded) => store.search(keys, folded, SEARCH_RESULTS),
    close: async () => {
      await store.close();
      await after();
    },
  };
}

/** A deterministic message text: a few words, "lunch" in one in ten. */
function text(i: number): string {
  const words = Array.from(
    { length: 6 + (i % 7) },
    (_, j) => WORDS[(i * 7 + j * 3) % WORDS.length],
  );
  if (i % 10 === 3) words.splice(2, 0, COMMON);
  return `${words.join(" ")} #${i}`;
}

async function fill(subject: Subject, rooms: number, messages: number): Promise<void> {
  const batch = 500;
  for (let r = 0; r < rooms; r++) {
    const key = `#room${r}`;
    for (let i = 0; i < messages; i += batch) {
      const pending = [];
      for (let j = i; j < Math.min(messages, i + batch); j++) {
        pending.push(subject.append(key, {
          type: "message",
          ts: 1_700_000_000_000 + j,
          room: key,
          from: "bench",
          text: text(j),
        }));
      }
      await Promise.all(pending);
    }
  }
}

/** Median and worst of `runs` searches for `needle` over every room, in milliseconds. */
async function measure(
  subject: Subject,
  keys: readonly string[],
  needle: string,
  runs: number,
): Promise<{ median: number; max: number; found: number }> {
  const folded = foldText(needle);
  let found = (await subject.search(keys, folded)).length; // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    found = (await subject.search(keys, folded)).length;
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)]!, max: times.at(-1)!, found };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      rooms: { type: "string", default: "20" },
      messages: { type: "string", default: "10000" },
      runs: { type: "string", default: "21" },
    },
  });
  const rooms = Number(values.rooms);
  const messages = Number(values.messages);
  const runs = Number(values.runs);
  const keys = Array.from({ length: rooms }, (_, r) => `#room${r}`);
  const dir = await Deno.makeTempDir({ prefix: "chat_search_bench_" });
  const redis = await RedisServer.start();
  const subjects: (() => Promise<Subject>)[] = [
    () => Promise.resolve(syncSubject("memory", new MemoryHistory(messages))),
    () => Promise.resolve(syncSubject("SQLite", new SqliteHistory(`${dir}/bench.db`, messages))),
    async () =>
      asyncSubject(
        "Redis",
        await RedisHistory.open(redis.url, { keep: messages }),
        () => redis.stop(),
      ),
  ];
  console.log(
    `${rooms} rooms × ${messages.toLocaleString("en")} messages, median (max) of ${runs} searches`,
  );
  console.log("| store | no match | common match (50 found) | fill |");
  console.log("| --- | --- | --- | --- |");
  try {
    for (const make of subjects) {
      const subject = await make();
      try {
        const start = performance.now();
        await fill(subject, rooms, messages);
        const filled = (performance.now() - start) / 1000;
        const none = await measure(subject, keys, NOWHERE, runs);
        const common = await measure(subject, keys, COMMON, runs);
        if (none.found !== 0 || common.found !== SEARCH_RESULTS) {
          throw new Error(`${subject.name} found ${none.found} and ${common.found}`);
        }
        const ms = (r: { median: number; max: number }) =>
          `${r.median.toFixed(1)} ms (${r.max.toFixed(1)})`;
        console.log(
          `| ${subject.name} | ${ms(none)} | ${ms(common)} | ${filled.toFixed(1)} s |`,
        );
      } finally {
        await subject.close();
      }
    }
  } finally {
    await redis[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
}
