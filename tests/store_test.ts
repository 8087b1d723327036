/**
 * Unit tests of the history stores: {@linkcode SqliteHistory} on real files
 * in a temporary directory, and {@linkcode MemoryHistory}, held to the same
 * {@linkcode HistoryStore} contract: one id sequence, each room's history
 * and topic apart, retention per room and exact for readers, a gap exactly
 * when something of the room is left out. SQLite's own: durability across
 * restarts and kills, the schema and its migration from version 1.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { createLogger } from "../server/log.ts";
import {
  type Bound,
  type HistoryStore,
  MemoryHistory,
  RANGE_MAX,
  type RangeQuery,
  type RoomMessage,
  SEARCH_MAX,
} from "../server/history/history.ts";
import type { ChatMessage, Topic } from "../common/protocol.ts";
import { LOBBY } from "../common/room.ts";
import { roomKey } from "../common/room_key.ts";
import { SCHEMA_VERSION, SqliteHistory, StoreError } from "../server/history/sqlite.ts";
import { foldText } from "../common/nick.ts";
import { Hub } from "../server/hub/hub.ts";
import { FakeMember } from "./kit/fake_member.ts";
import { assertIncreasing, itemAt } from "./kit/assert.ts";
import { withTempDir } from "./kit/temp_dir.ts";
import { SCHEMA_V1 } from "./kit/schema_v1.ts";
import { Rng } from "./fuzz.ts";

/** The lobby's key, under which most tests write. */
const LOBBY_KEY = roomKey(LOBBY);

/**
 * Takes a new id from `store`, appends a message with it to `room` (under
 * the room's key) and returns the message.
 */
function say(store: HistoryStore, text: string, room = LOBBY, action = false): RoomMessage {
  const m: RoomMessage = {
    type: "message",
    id: store.nextId(),
    ts: 1_700_000_000_000 + text.length,
    room,
    from: "alice",
    text,
  };
  if (action) m.action = true;
  store.append(roomKey(room), m);
  return m;
}

/**
 * Like {@linkcode say}, at time `ts` (tests of time bounds set the clock
 * themselves), plain or as a notice.
 */
function sayAt(
  store: HistoryStore,
  ts: number,
  room = LOBBY,
  kind: "plain" | "notice" = "plain",
): RoomMessage {
  const m: RoomMessage = {
    type: "message",
    id: store.nextId(),
    ts,
    room,
    from: "bob",
    text: `at ${ts}`,
  };
  if (kind === "notice") m.notice = true;
  store.append(roomKey(room), m);
  return m;
}

/** Appends `n` messages to `room`; returns their ids. */
function fill(store: HistoryStore, n: number, room = LOBBY): number[] {
  return Array.from({ length: n }, (_, i) => say(store, `m${i}`, room).id);
}

function ids(messages: readonly ChatMessage[]): number[] {
  return messages.map((m) => m.id);
}

/** Asserts that `fn` throws a StoreError whose message matches `pattern`. */
function assertStoreError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof StoreError, `a StoreError, not ${e}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes("\n"), `one line: ${JSON.stringify(e.message)}`);
    return true;
  });
}

/** Opens a SqliteHistory, runs `fn` with it and closes it. */
function withSqlite<T>(path: string, keep: number, fn: (store: SqliteHistory) => T): T {
  const store = new SqliteHistory(path, keep);
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

/** Runs `fn` with a plain connection to the (closed) database at `path`. */
function withDb<T>(path: string, fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(path);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

function userVersion(path: string): number {
  return withDb(path, (db) => {
    const version = db.prepare("PRAGMA user_version").get()?.user_version;
    assert.equal(typeof version, "number");
    return Number(version);
  });
}

/** Rows in the (closed) database at `path`, of room `key` or of all rooms. */
function rowsIn(path: string, key?: string): number {
  return withDb(path, (db) => {
    const row = key === undefined
      ? db.prepare("SELECT count(*) AS n FROM messages").get()
      : db.prepare("SELECT count(*) AS n FROM messages WHERE room_key = ?").get(key);
    return Number(row?.n);
  });
}

const storeUrl = new URL("../server/history/sqlite.ts", import.meta.url).href;

/**
 * In another process: opens the store at `path`, takes `taken` ids, appends
 * messages to the lobby with the first `appended` of them (the rest are used
 * as private messages would be, never stored), reports them and is killed
 * with SIGKILL, never having closed the store. Returns the ids it took.
 */
async function killedWriter(path: string, taken: number, appended: number): Promise<number[]> {
  const code = `
    const { SqliteHistory } = await import(${JSON.stringify(storeUrl)});
    const store = new SqliteHistory(${JSON.stringify(path)}, 10000);
    const ids = [];
    for (let i = 0; i < ${taken}; i++) ids.push(store.nextId());
    for (const id of ids.slice(0, ${appended})) {
      store.append(${JSON.stringify(LOBBY_KEY)}, {
        type: "message", id, ts: id, room: ${JSON.stringify(LOBBY)}, from: "writer", text: "m" + id,
      });
    }
    console.log(JSON.stringify(ids));
    // Wait for the kill.
    await Deno.stdin.read(new Uint8Array(1));
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (!text.includes("\n")) {
      const { value, done } = await stdout.read();
      if (done) break;
      text += value;
    }
  } finally {
    kill(child);
    const status = await child.status;
    await child.stdin.close();
    while (!(await stdout.read()).done) { /* drain */ }
    const errors = await stderr;
    assert.equal(status.signal, "SIGKILL", `the writer was killed, not exited: ${errors}`);
  }
  const parsed: unknown = JSON.parse(text);
  assert.ok(Array.isArray(parsed), text);
  return parsed.map((v: unknown) => {
    assert.equal(typeof v, "number");
    return Number(v);
  });
}

/** Sends SIGKILL, unless the child has exited already (having failed). */
function kill(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
  }
}

/** Makes a store with a retention of `keep`, keeping its files (if any) in `dir`. */
type MakeStore = (dir: string, keep: number) => HistoryStore;

/** Both stores, for the tests of the contract they share. */
const STORES: readonly (readonly [string, MakeStore])[] = [
  ["MemoryHistory", (_dir, keep) => new MemoryHistory(keep)],
  ["SqliteHistory", (dir, keep) => new SqliteHistory(`${dir}/contract.db`, keep)],
];

/** Runs `fn` with a store from `make`, closing it and removing its files after. */
async function withStore(
  make: MakeStore,
  keep: number,
  fn: (store: HistoryStore) => void,
): Promise<void> {
  await withTempDir((dir) => {
    const store = make(dir, keep);
    try {
      fn(store);
    } finally {
      store.close();
    }
  });
}

// The contract, held against both stores.

for (const [name, make] of STORES) {
  Deno.test(`${name}.nextId() hands out one strictly increasing sequence for all rooms`, async () => {
    await withStore(make, 5, (store) => {
      assert.equal(store.lastId(), 0);
      const taken: number[] = [];
      for (let i = 0; i < 30; i++) {
        taken.push(say(store, `m${i}`, ["#a", "#b", "#中文"][i % 3]).id);
        // Ids no message uses, as private messages take them.
        if (i % 4 === 0) taken.push(store.nextId());
      }
      assert.ok(itemAt(taken, 0) > 0);
      assertIncreasing(taken);
      assert.equal(store.lastId(), itemAt(taken, -1));
    });
  });

  Deno.test(`${name}.recent() and after() return only the room's messages, under its key`, async () => {
    await withStore(make, 100, (store) => {
      const said: Record<string, RoomMessage[]> = { "#dev": [], [LOBBY]: [], "#中文": [] };
      for (let i = 0; i < 12; i++) {
        // "#Dev" is "#dev" under another spelling: one room, shown as typed.
        const room = ["#dev", LOBBY, "#中文", "#Dev"][i % 4]!;
        said[roomKey(room) === roomKey("#dev") ? "#dev" : room]!.push(say(store, `m${i}`, room));
      }
      for (const [room, messages] of Object.entries(said)) {
        const key = roomKey(room);
        assert.deepEqual(store.recent(key, 100), messages, room);
        assert.deepEqual(store.after(key, 0, 100), { messages, gap: false }, room);
        assert.deepEqual(store.recent(key, 2), messages.slice(-2), room);
      }
      assert.deepEqual(ids(store.recent(roomKey("#DEV"), 100)), ids(said["#dev"]!));
      assert.deepEqual(store.recent(roomKey("#dev"), 100).map((m) => m.room).slice(0, 4), [
        "#dev",
        "#Dev",
        "#dev",
        "#Dev",
      ]);
      assert.deepEqual(store.recent(roomKey("#empty"), 100), []);
      assert.deepEqual(store.after(roomKey("#empty"), 0, 100), { messages: [], gap: false });
    });
  });

  Deno.test(`${name} round-trips text, sender, time, room and the action flag`, async () => {
    await withStore(make, 100, (store) => {
      const said = [
        say(store, "hello", "#dev"),
        say(store, "waves", "#dev", true),
        say(store, "你好，世界！こんにちは 🌏", "#dev"),
        say(store, `quotes " ' \\ and %_ and ; DROP TABLE messages;`, "#dev"),
      ];
      assert.deepEqual(store.recent(roomKey("#dev"), 10), said);
      assert.equal(store.recent(roomKey("#dev"), 10)[0]?.action, undefined, "no flag when plain");
    });
  });

  Deno.test(`${name}.recent() returns the last count messages, oldest first`, async () => {
    await withStore(make, 100, (store) => {
      assert.deepEqual(store.recent(LOBBY_KEY, 5), []);
      const all = fill(store, 6);
      assert.deepEqual(ids(store.recent(LOBBY_KEY, 3)), all.slice(-3));
      assert.deepEqual(ids(store.recent(LOBBY_KEY, 100)), all);
      assert.deepEqual(store.recent(LOBBY_KEY, 0), []);
      assert.deepEqual(store.recent(LOBBY_KEY, -1), []);
    });
  });

  Deno.test(`${name}.after() returns the last limit messages and a gap when more are newer`, async () => {
    await withStore(make, 100, (store) => {
      const all = fill(store, 20);
      fill(store, 5, "#other");
      const last5 = store.after(LOBBY_KEY, 0, 5);
      assert.deepEqual(ids(last5.messages), all.slice(-5));
      assert.equal(last5.gap, true);
      assert.deepEqual(store.after(LOBBY_KEY, itemAt(all, 9), 10), {
        messages: store.recent(LOBBY_KEY, 10),
        gap: false,
      });
      const last9 = store.after(LOBBY_KEY, itemAt(all, 9), 9);
      assert.deepEqual(ids(last9.messages), all.slice(-9));
      assert.equal(last9.gap, true);
      assert.deepEqual(store.after(LOBBY_KEY, itemAt(all, -1), 10), { messages: [], gap: false });
      // A limit of 0 returns nothing, and says whether anything was there.
      assert.deepEqual(store.after(LOBBY_KEY, itemAt(all, -2), 0), { messages: [], gap: true });
      assert.deepEqual(store.after(LOBBY_KEY, itemAt(all, -1), 0), { messages: [], gap: false });
    });
  });

  Deno.test(`${name} keeps keep messages per room, exactly, before any trim too`, async () => {
    const keep = 10;
    await withStore(make, keep, (store) => {
      // Fewer than a trim's worth past keep: what SQLite still holds, the
      // reads leave out all the same.
      const busy: number[] = [];
      const quiet: number[] = [];
      for (let i = 0; i < 40; i++) {
        busy.push(say(store, `b${i}`, "#busy").id);
        if (i % 10 === 0) quiet.push(say(store, `q${i}`, "#quiet").id);
        const seen = Math.min(busy.length, keep);
        assert.deepEqual(ids(store.recent(roomKey("#busy"), 1000)), busy.slice(-seen));
        assert.deepEqual(ids(store.after(roomKey("#busy"), 0, 1000).messages), busy.slice(-seen));
      }
      assert.deepEqual(store.after(roomKey("#busy"), 0, 1000).gap, true);
      // Up to the newest keep: nothing left out. One more back: one is.
      assert.deepEqual(store.after(roomKey("#busy"), itemAt(busy, -keep - 1), 1000), {
        messages: store.recent(roomKey("#busy"), keep),
        gap: false,
      });
      const missed = store.after(roomKey("#busy"), itemAt(busy, -keep - 2), 1000);
      assert.deepEqual(ids(missed.messages), busy.slice(-keep));
      assert.equal(missed.gap, true);
      // Another room's retention is its own.
      assert.deepEqual(ids(store.recent(roomKey("#quiet"), 1000)), quiet);
      assert.equal(store.after(roomKey("#quiet"), 0, 1000).gap, false);
    });
  });

  Deno.test(`${name}.after() reports a gap exactly when retention removed a message of the room`, async () => {
    await withStore(make, 10, (store) => {
      const quiet = say(store, "early", "#quiet");
      fill(store, 200);
      const kept = ids(store.recent(LOBBY_KEY, 1000));
      const oldest = itemAt(kept, 0);
      assert.ok(oldest > quiet.id + 1, "retention removed the first messages");
      // Seen up to just before the oldest kept: nothing missing.
      assert.deepEqual(store.after(LOBBY_KEY, oldest - 1, 1000), {
        messages: store.recent(LOBBY_KEY, 1000),
        gap: false,
      });
      // One more back, and that one is gone.
      const missed = store.after(LOBBY_KEY, oldest - 2, 1000);
      assert.deepEqual(ids(missed.messages), kept);
      assert.equal(missed.gap, true);
      // The lobby's losses are not the quiet room's: its one message is there.
      assert.deepEqual(store.after(roomKey("#quiet"), 0, 1000), { messages: [quiet], gap: false });
    });
  });

  Deno.test(`${name}.topic() is each room's, set, replaced and cleared by setTopic()`, async () => {
    await withStore(make, 10, (store) => {
      const dev: Topic = { text: "Builds and 中文 🌏 ' \\", by: "alice", ts: 1_700_000_000_123 };
      assert.equal(store.topic(roomKey("#dev")), undefined);
      store.setTopic(roomKey("#dev"), dev);
      assert.deepEqual(store.topic(roomKey("#dev")), dev);
      assert.deepEqual(store.topic(roomKey("#Dev")), dev, "one room under both spellings");
      assert.equal(store.topic(LOBBY_KEY), undefined, "no other room's");
      const lobby: Topic = { text: "Welcome", by: "bob", ts: 2 };
      store.setTopic(LOBBY_KEY, lobby);
      const replaced: Topic = { text: "Releases", by: "carol", ts: 3 };
      store.setTopic(roomKey("#dev"), replaced);
      assert.deepEqual(store.topic(roomKey("#dev")), replaced);
      store.setTopic(roomKey("#dev"), undefined);
      assert.equal(store.topic(roomKey("#dev")), undefined);
      store.setTopic(roomKey("#never"), undefined);
      assert.equal(store.topic(roomKey("#never")), undefined);
      assert.deepEqual(store.topic(LOBBY_KEY), lobby);
    });
  });

  // range(): the read behind `history` with bounds and IRC's CHATHISTORY.

  Deno.test(`${name}.range() takes the oldest or the newest of the matches by id, oldest first`, async () => {
    await withStore(make, 100, (store) => {
      const all: number[] = [];
      for (let i = 0; i < 20; i++) {
        all.push(say(store, `m${i}`).id);
        say(store, `o${i}`, "#other");
      }
      const at = (i: number) => ({ id: itemAt(all, i) });
      const range = (query: RangeQuery) => ids(store.range(LOBBY_KEY, query));
      // LATEST: no bounds.
      assert.deepEqual(range({ limit: 3, from: "newest" }), all.slice(-3));
      assert.deepEqual(range({ limit: 3, from: "oldest" }), all.slice(0, 3));
      assert.deepEqual(range({ limit: 100, from: "newest" }), all);
      // BEFORE and AFTER: strictly, the ones closest to the bound.
      assert.deepEqual(range({ before: at(10), limit: 3, from: "newest" }), all.slice(7, 10));
      assert.deepEqual(range({ after: at(10), limit: 3, from: "oldest" }), all.slice(11, 14));
      assert.deepEqual(range({ before: at(10), limit: 3, from: "oldest" }), all.slice(0, 3));
      assert.deepEqual(range({ after: at(10), limit: 3, from: "newest" }), all.slice(-3));
      // An id no message of the room has (another room's) bounds all the same.
      const between = itemAt(all, 10) + 1;
      assert.deepEqual(
        range({ before: { id: between }, limit: 2, from: "newest" }),
        all.slice(9, 11),
      );
      assert.deepEqual(
        range({ after: { id: between }, limit: 2, from: "oldest" }),
        all.slice(11, 13),
      );
      // BETWEEN, from either end; fewer than the limit.
      const inner = all.slice(5, 15);
      assert.deepEqual(
        range({ after: at(4), before: at(15), limit: 4, from: "oldest" }),
        inner.slice(0, 4),
      );
      assert.deepEqual(
        range({ after: at(4), before: at(15), limit: 4, from: "newest" }),
        inner.slice(-4),
      );
      assert.deepEqual(range({ after: at(4), before: at(15), limit: 50, from: "newest" }), inner);
      // Whole messages, as recent() returns them.
      assert.deepEqual(
        store.range(LOBBY_KEY, { limit: 5, from: "newest" }),
        store.recent(LOBBY_KEY, 5),
      );
    });
  });

  Deno.test(`${name}.range() filters by time but orders by id, when the clock stepped back`, async () => {
    await withStore(make, 100, (store) => {
      // The clock steps back after the third message.
      const m = [100, 200, 300, 150, 250, 400].map((ts) => sayAt(store, ts));
      fill(store, 3, "#other");
      const range = (query: RangeQuery) => ids(store.range(LOBBY_KEY, query));
      const id = (...at: number[]) => at.map((i) => m[i]!.id);
      assert.deepEqual(range({ after: { ts: 180 }, limit: 10, from: "oldest" }), id(1, 2, 4, 5));
      assert.deepEqual(range({ after: { ts: 180 }, limit: 2, from: "oldest" }), id(1, 2));
      assert.deepEqual(range({ after: { ts: 180 }, limit: 2, from: "newest" }), id(4, 5));
      assert.deepEqual(range({ before: { ts: 260 }, limit: 10, from: "newest" }), id(0, 1, 3, 4));
      assert.deepEqual(range({ before: { ts: 260 }, limit: 2, from: "newest" }), id(3, 4));
      assert.deepEqual(range({ before: { ts: 260 }, limit: 2, from: "oldest" }), id(0, 1));
      // Strictly: a message at the bound's very time is not in.
      assert.deepEqual(range({ after: { ts: 300 }, limit: 10, from: "oldest" }), id(5));
      assert.deepEqual(range({ before: { ts: 150 }, limit: 10, from: "oldest" }), id(0));
      assert.deepEqual(
        range({ after: { ts: 100 }, before: { ts: 300 }, limit: 10, from: "oldest" }),
        id(1, 3, 4),
      );
      // Mixed: after an id, before a time; and the other way round.
      assert.deepEqual(
        range({ after: { id: m[1]!.id }, before: { ts: 300 }, limit: 10, from: "newest" }),
        id(3, 4),
      );
      assert.deepEqual(
        range({ after: { ts: 150 }, before: { id: m[4]!.id }, limit: 1, from: "oldest" }),
        id(1),
      );
      assert.deepEqual(
        range({ after: { ts: 150 }, before: { id: m[4]!.id }, limit: 1, from: "newest" }),
        id(2),
      );
    });
  });

  Deno.test(`${name}.range() returns nothing when nothing matches`, async () => {
    await withStore(make, 100, (store) => {
      const all = [100, 200, 300].map((ts) => sayAt(store, ts).id);
      const none = (query: RangeQuery, key = LOBBY_KEY) => {
        assert.deepEqual(store.range(key, query), [], JSON.stringify(query));
      };
      for (const from of ["oldest", "newest"] as const) {
        none({ limit: 10, from }, roomKey("#empty"));
        none({ after: { id: itemAt(all, -1) }, limit: 10, from });
        none({ before: { id: itemAt(all, 0) }, limit: 10, from });
        none({ after: { ts: 300 }, limit: 10, from });
        none({ before: { ts: 100 }, limit: 10, from });
        none({ after: { id: itemAt(all, 1) }, before: { id: itemAt(all, 1) }, limit: 10, from });
        none({ after: { id: itemAt(all, 2) }, before: { id: itemAt(all, 0) }, limit: 10, from });
        none({ after: { ts: 150 }, before: { ts: 200 }, limit: 10, from });
        none({ limit: 0, from });
        none({ limit: -5, from });
        none({ after: { id: Number.NaN }, limit: 10, from });
      }
    });
  });

  Deno.test(`${name}.range() never returns a message past keep, before any trim and after`, async () => {
    const keep = 10;
    await withStore(make, keep, (store) => {
      const quiet = fill(store, 3, "#quiet");
      const all: number[] = [];
      // 40 first: SQLite still holds the 30 past keep; then 200: trimmed.
      for (const n of [40, 200]) {
        for (let i = 0; i < n; i++) all.push(sayAt(store, 1000 + all.length).id);
        const kept = all.slice(-keep);
        const range = (query: RangeQuery) => ids(store.range(LOBBY_KEY, query));
        assert.deepEqual(range({ limit: 1000, from: "oldest" }), kept, `${n}`);
        assert.deepEqual(range({ limit: 3, from: "oldest" }), kept.slice(0, 3));
        assert.deepEqual(range({ after: { id: 0 }, limit: 3, from: "oldest" }), kept.slice(0, 3));
        assert.deepEqual(range({ after: { ts: 0 }, limit: 3, from: "oldest" }), kept.slice(0, 3));
        assert.deepEqual(
          range({ before: { id: itemAt(kept, 2) }, limit: 5, from: "newest" }),
          kept.slice(0, 2),
        );
        // Bounds outside the window: what is left of it, or nothing.
        const gone = itemAt(all, -keep - 5);
        assert.deepEqual(range({ before: { id: gone }, limit: 5, from: "newest" }), []);
        assert.deepEqual(
          range({ before: { ts: 1000 + all.length - keep }, limit: 5, from: "newest" }),
          [],
        );
        assert.deepEqual(
          range({ after: { id: gone }, limit: 4, from: "oldest" }),
          kept.slice(0, 4),
        );
        assert.deepEqual(range({ after: { id: gone }, limit: 4, from: "newest" }), kept.slice(-4));
        assert.deepEqual(
          range({ after: { id: gone }, before: { id: itemAt(kept, 1) }, limit: 4, from: "oldest" }),
          kept.slice(0, 1),
        );
        // The limit is clamped to keep.
        assert.deepEqual(range({ limit: 1e9, from: "newest" }), kept);
      }
      // Another room's retention is its own.
      assert.deepEqual(ids(store.range(roomKey("#quiet"), { limit: 1000, from: "oldest" })), quiet);
    });
  });

  Deno.test(`${name}.range() returns at most RANGE_MAX, however much is asked and kept`, async () => {
    await withStore(make, RANGE_MAX + 500, (store) => {
      const all = fill(store, RANGE_MAX + 200);
      assert.deepEqual(
        ids(store.range(LOBBY_KEY, { limit: 5000, from: "oldest" })),
        all.slice(0, RANGE_MAX),
      );
      assert.deepEqual(
        ids(store.range(LOBBY_KEY, { limit: Infinity, from: "newest" })),
        all.slice(-RANGE_MAX),
      );
    });
  });

  Deno.test(`${name}.range() agrees with a plain filter of the kept messages (seeded)`, async () => {
    const rng = new Rng(0x5eed + name.length);
    const keep = 12;
    await withStore(make, keep, (store) => {
      const said = new Map<string, RoomMessage[]>([[LOBBY_KEY, []], [roomKey("#dev"), []]]);
      const bound = (messages: readonly RoomMessage[]): Bound | undefined => {
        const m = messages.length > 0 ? rng.pick(messages) : undefined;
        const nudge = rng.int(-1, 1);
        switch (rng.int(0, 2)) {
          case 0:
            return undefined;
          case 1:
            return { id: (m?.id ?? rng.int(0, 50)) + nudge };
          default:
            return { ts: (m?.ts ?? rng.int(0, 5000)) + nudge };
        }
      };
      for (let i = 0; i < 300; i++) {
        const room = rng.pick([LOBBY, "#dev"]);
        // A clock that mostly goes forward, and now and then steps back.
        const m = sayAt(store, 1000 + i * 10 + rng.int(-40, 10), room);
        said.get(roomKey(room))!.push(m);
        for (let q = 0; q < 3; q++) {
          const key = rng.pick([...said.keys()]);
          const kept = said.get(key)!.slice(-keep);
          const query: RangeQuery = {
            limit: rng.int(-1, keep + 2),
            from: rng.pick(["oldest", "newest"]),
          };
          const after = bound(said.get(key)!);
          const before = bound(said.get(key)!);
          if (after) query.after = after;
          if (before) query.before = before;
          const matches = kept.filter((m) =>
            (after === undefined || ("id" in after ? m.id > after.id : m.ts > after.ts)) &&
            (before === undefined || ("id" in before ? m.id < before.id : m.ts < before.ts))
          );
          const n = Math.max(0, query.limit);
          const expected = query.from === "oldest"
            ? matches.slice(0, n)
            : matches.slice(Math.max(0, matches.length - n));
          assert.deepEqual(
            store.range(key, query),
            n === 0 ? [] : expected,
            JSON.stringify({ i, query }),
          );
        }
      }
    });
  });

  Deno.test(`${name}.search() finds folded text in the rooms asked, newest first, at most the limit`, async () => {
    await withStore(make, 100, (store) => {
      const deploy = say(store, "Deploy at 5", "#dev");
      say(store, "lunch?", "#dev");
      const lobby = say(store, "who broke the DEPLOY?");
      // Look-alikes as one: a Cyrillic "е" and "о", a full-width "ｄ".
      const lookAlike = say(store, "ｄеplоy done", "#dev");
      const elsewhere = say(store, "deploy in ops", "#ops");
      const keys = [roomKey("#dev"), LOBBY_KEY];
      assert.deepEqual(ids(store.search(keys, foldText("deploy"), 50)), [
        lookAlike.id,
        lobby.id,
        deploy.id,
      ]);
      assert.ok(!ids(store.search(keys, foldText("deploy"), 50)).includes(elsewhere.id));
      assert.deepEqual(ids(store.search(keys, foldText("DEPLOY"), 2)), [lookAlike.id, lobby.id]);
      assert.deepEqual(store.search(keys, foldText("nowhere"), 50), []);
      assert.deepEqual(store.search([], foldText("deploy"), 50), []);
      assert.deepEqual(store.search(keys, foldText("deploy"), 0), []);
      // Each message as it was said, room name included.
      assert.deepEqual(store.search([roomKey("#ops")], foldText("ops"), 50), [elsewhere]);
    });
  });

  Deno.test(`${name}.search() returns at most SEARCH_MAX, and never a message past keep`, async () => {
    await withStore(make, 100, (store) => {
      for (let i = 0; i < 300; i++) say(store, `match ${i}`);
      const found = store.search([LOBBY_KEY], foldText("match"), 1000);
      assert.equal(found.length, SEARCH_MAX);
      assert.equal(found[0]?.text, "match 299");
      // The 100 kept are 200 to 299: 19 and 190 to 199 may still be rows, never found.
      const old = store.search([LOBBY_KEY], foldText("match 19"), 50);
      assert.deepEqual(old.map((m) => m.text), [], "199 and 190s are past keep");
      assert.deepEqual(
        store.search([LOBBY_KEY], foldText("match 20"), 50).map((m) => m.text),
        ["match 209", "match 208", "match 207", "match 206", "match 205", "match 204"]
          .concat(["match 203", "match 202", "match 201", "match 200"]),
      );
    });
  });

  Deno.test(`${name} round-trips the notice flag, apart from the action flag`, async () => {
    await withStore(make, 100, (store) => {
      const said = [
        sayAt(store, 1, "#dev", "notice"),
        say(store, "waves", "#dev", true),
        sayAt(store, 3, "#dev"),
      ];
      assert.equal(said[0]!.notice, true);
      assert.deepEqual(store.recent(roomKey("#dev"), 10), said);
      assert.deepEqual(store.after(roomKey("#dev"), 0, 10).messages, said);
      assert.deepEqual(store.range(roomKey("#dev"), { limit: 10, from: "oldest" }), said);
      const [notice, action, plain] = store.recent(roomKey("#dev"), 10);
      assert.equal(notice?.action, undefined);
      assert.equal(action?.notice, undefined);
      assert.equal(plain?.notice, undefined);
    });
  });
}

// MemoryHistory's own.

Deno.test("MemoryHistory forgets the room written to least recently past its bound, with a gap", () => {
  const store = new MemoryHistory(10, 2);
  const a = say(store, "a", "#a");
  const b = say(store, "b", "#b");
  say(store, "a again", "#a");
  const c = say(store, "c", "#c");
  assert.deepEqual(store.recent(roomKey("#b"), 10), [], "#b was forgotten");
  assert.equal(store.after(roomKey("#b"), 0, 10).gap, true, "and a reader is told");
  assert.equal(store.after(roomKey("#b"), b.id, 10).gap, false);
  assert.deepEqual(ids(store.recent(roomKey("#a"), 10)), [a.id, c.id - 1]);
  assert.deepEqual(store.recent(roomKey("#c"), 10), [c]);
});

Deno.test("MemoryHistory forgets the topic set least recently past its bound", () => {
  const store = new MemoryHistory(10, 2);
  const topic = (text: string): Topic => ({ text, by: "alice", ts: 1 });
  store.setTopic(roomKey("#a"), topic("a"));
  store.setTopic(roomKey("#b"), topic("b"));
  store.setTopic(roomKey("#a"), topic("a2"));
  store.setTopic(roomKey("#c"), topic("c"));
  assert.equal(store.topic(roomKey("#b")), undefined);
  assert.deepEqual(store.topic(roomKey("#a")), topic("a2"));
  assert.deepEqual(store.topic(roomKey("#c")), topic("c"));
});

// SqliteHistory's own: durability, the schema, failures.

Deno.test("SqliteHistory.nextId() hands out strictly increasing ids past a reserved block", async () => {
  await withTempDir((dir) => {
    withSqlite(`${dir}/chat.db`, 100, (store) => {
      const taken = Array.from({ length: 2500 }, () => store.nextId());
      assert.ok(itemAt(taken, 0) > 0);
      assertIncreasing(taken);
    });
  });
});

Deno.test("SqliteHistory.nextId() keeps increasing across rooms after close and reopen, never reusing an id", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/chat.db`;
    const all: number[] = [];
    // Sessions that take a few ids, none, and more than a reserved block.
    for (const [taken, appended] of [[3, 2], [0, 0], [1, 1], [1500, 10], [2, 0]] as const) {
      withSqlite(path, 100, (store) => {
        const session = Array.from({ length: taken }, () => store.nextId());
        session.slice(session.length - appended).forEach((id, i) => {
          const room = i % 2 === 0 ? "#dev" : LOBBY;
          store.append(roomKey(room), {
            type: "message",
            id,
            ts: id,
            room,
            from: "a",
            text: `m${id}`,
          });
        });
        all.push(...session);
      });
    }
    assertIncreasing(all);
    withSqlite(path, 100, (store) => {
      const next = store.nextId();
      assert.ok(next > Math.max(...all), `${next} after ${Math.max(...all)}`);
      const stored = [...store.recent(LOBBY_KEY, 100), ...store.recent(roomKey("#dev"), 100)];
      assert.equal(stored.length, 13);
    });
  });
});

Deno.test("SqliteHistory.nextId() keeps increasing after retention deleted rows and a reopen", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/chat.db`;
    const before = withSqlite(path, 10, (store) => fill(store, 200));
    assert.ok(rowsIn(path) < 200, "retention deleted rows");
    withSqlite(path, 10, (store) => {
      const next = say(store, "after reopen").id;
      assert.ok(next > itemAt(before, -1), `${next} after ${before.at(-1)}`);
      assert.deepEqual(ids(store.recent(LOBBY_KEY, 2)), [before.at(-1), next]);
    });
  });
});

Deno.test("SqliteHistory.nextId() keeps increasing after the process is killed without close()", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/chat.db`;
    const first = await killedWriter(path, 5, 5);
    assertIncreasing(first);
    // Past a reserved block of ids, so the reservation itself is written
    // mid-run; the newest ids are in no stored message.
    const second = await killedWriter(path, 1200, 3);
    assertIncreasing([...first, ...second]);
    withSqlite(path, 10000, (store) => {
      assert.deepEqual(
        ids(store.recent(LOBBY_KEY, 100)),
        [...first, ...second.slice(0, 3)],
        "appended messages survive the kill",
      );
      const next = store.nextId();
      assert.ok(next > itemAt(second, -1), `${next} after ${second.at(-1)}`);
    });
  });
});

Deno.test("SqliteHistory keeps each room's messages and topic across a reopen", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/chat.db`;
    const topic: Topic = { text: "Builds ' and 中文", by: "alice", ts: 1_700_000_000_000 };
    const said = withSqlite(path, 100, (store) => {
      const said = [
        say(store, "hello", "#Dev"),
        say(store, "hi"),
        say(store, "waves", "#dev", true),
      ];
      store.setTopic(roomKey("#dev"), topic);
      store.setTopic(LOBBY_KEY, { text: "soon gone", by: "bob", ts: 1 });
      store.setTopic(LOBBY_KEY, undefined);
      return said;
    });
    withSqlite(path, 100, (store) => {
      assert.deepEqual(store.recent(roomKey("#dev"), 10), [said[0], said[2]]);
      assert.deepEqual(store.recent(LOBBY_KEY, 10), [said[1]]);
      assert.deepEqual(store.topic(roomKey("#dev")), topic);
      assert.equal(store.topic(LOBBY_KEY), undefined, "a cleared topic stays cleared");
    });
  });
});

Deno.test("SqliteHistory leaves rows past keep until a trim, which stays within its room", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/chat.db`;
    withSqlite(path, 10, (store) => {
      fill(store, 40, "#pending");
      assert.equal(store.recent(roomKey("#pending"), 1000).length, 10);
    });
    // The rows the reads left out above are still in the file: the
    // exactness is the reads', not the trim's.
    assert.equal(rowsIn(path, roomKey("#pending")), 40);
    // A room past keep by more than the slack (here: keep was lowered) is
    // trimmed on its first append after the start.
    withSqlite(path, 1000, (store) => fill(store, 60, "#pending"));
    assert.equal(rowsIn(path, roomKey("#pending")), 100);
    withSqlite(path, 10, (store) => {
      const quiet = fill(store, 3, "#quiet");
      for (let i = 0; i < 200; i++) {
        say(store, `m${i}`, ["#a", "#b"][i % 2]);
        assert.ok(store.recent(roomKey("#a"), 1000).length <= 10);
      }
      // The first message after the start trims a room.
      say(store, "trim now", "#pending");
      assert.deepEqual(ids(store.recent(roomKey("#quiet"), 10)), quiet);
    });
    assert.equal(rowsIn(path, roomKey("#quiet")), 3);
    assert.ok(rowsIn(path, roomKey("#pending")) <= 10, "trimmed on its first append");
    for (const room of ["#a", "#b"]) {
      const rows = rowsIn(path, roomKey(room));
      assert.ok(rows >= 10 && rows <= 10 + 64, `${rows} rows of ${room} in the file`);
    }
  });
});

Deno.test("SqliteHistory remembers each room's gap across a reopen", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/chat.db`;
    const quiet = withSqlite(path, 10, (store) => say(store, "early", "#quiet"));
    const all = withSqlite(path, 10, (store) => fill(store, 200));
    withSqlite(path, 10, (store) => {
      assert.equal(store.after(LOBBY_KEY, 0, 1000).gap, true, "the gap is remembered");
      const lastSeen = itemAt(all, -5);
      assert.deepEqual(store.after(LOBBY_KEY, lastSeen, 1000), {
        messages: store.recent(LOBBY_KEY, 4),
        gap: false,
      });
      assert.deepEqual(store.after(roomKey("#quiet"), 0, 1000), { messages: [quiet], gap: false });
    });
    // Deleted, not only hidden: what is left is within a trim of keep.
    const rows = rowsIn(path, LOBBY_KEY);
    assert.ok(rows >= 10 && rows <= 10 + 64, `${rows} rows in the file`);
  });
});

Deno.test("SqliteHistory creates a fresh file with schema version 3, read through an index per room", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/fresh.db`;
    withSqlite(path, 100, (store) => say(store, "hi"));
    assert.equal(SCHEMA_VERSION, 3);
    assert.equal(userVersion(path), 3);
    // Opening it again does not migrate it again, and keeps what it holds.
    withSqlite(path, 100, (store) => assert.equal(store.recent(LOBBY_KEY, 10).length, 1));
    assert.equal(userVersion(path), 3);
    withDb(path, (db) => {
      const plan = db.prepare(
        `EXPLAIN QUERY PLAN SELECT id, ts, room, sender, text, action FROM messages
         WHERE room_key = ? AND id > ? ORDER BY id DESC LIMIT ?`,
      ).all("#dev", 0, 10).map((row) => String(row.detail));
      assert.ok(
        plan.some((d) => /USING INDEX messages_room \(room_key=\? AND (rowid|id)>\?\)/.test(d)),
        plan.join("\n"),
      );
      assert.ok(!plan.some((d) => /SCAN|TEMP B-TREE/.test(d)), plan.join("\n"));
    });
  });
});

Deno.test("SqliteHistory migrates a version-1 file: its messages are #lobby's, its ids and gap go on", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/chat.db`;
    const old = [
      { id: 5, ts: 1_600_000_000_005, sender: "alice", text: "first kept", action: 0 },
      { id: 7, ts: 1_600_000_000_007, sender: "bob", text: "waves", action: 1 },
      { id: 9, ts: 1_600_000_000_009, sender: "carol", text: "你好 ' \\ 🌏", action: 0 },
    ];
    withDb(path, (db) => {
      db.exec("PRAGMA journal_mode = WAL");
      db.exec(SCHEMA_V1);
      const insert = db.prepare(
        "INSERT INTO messages (id, ts, sender, text, action) VALUES (?, ?, ?, ?, ?)",
      );
      for (const m of old) insert.run(m.id, m.ts, m.sender, m.text, m.action);
      // Ids up to 1500 were reserved; messages up to 4 were trimmed.
      db.exec("UPDATE meta SET value = 1500 WHERE key = 'reserved_id'");
      db.exec("UPDATE meta SET value = 4 WHERE key = 'trimmed_to'");
      db.exec("PRAGMA user_version = 1");
    });
    const expected: RoomMessage[] = old.map((m) => {
      const message: RoomMessage = {
        type: "message",
        id: m.id,
        ts: m.ts,
        room: LOBBY,
        from: m.sender,
        text: m.text,
      };
      if (m.action === 1) message.action = true;
      return message;
    });
    withSqlite(path, 100, (store) => {
      assert.equal(LOBBY_KEY, "#lobby");
      assert.deepEqual(store.recent(LOBBY_KEY, 100), expected);
      assert.deepEqual(store.after(LOBBY_KEY, 4, 100), { messages: expected, gap: false });
      assert.deepEqual(store.after(LOBBY_KEY, 3, 100), { messages: expected, gap: true });
      assert.deepEqual(store.recent(roomKey("#dev"), 100), []);
      assert.equal(store.after(roomKey("#dev"), 0, 100).gap, false, "the lobby's gap only");
      assert.equal(store.topic(LOBBY_KEY), undefined);
      assert.equal(store.lastId(), 1500);
      const next = say(store, "after the migration");
      assert.equal(next.id, 1501, "ids go on above the reserved ones");
      assert.deepEqual(store.recent(LOBBY_KEY, 100), [...expected, next]);
      // Its old messages are searchable, folded by the migration.
      assert.deepEqual(store.search([LOBBY_KEY], foldText("FIRST"), 50), [expected[0]]);
      assert.deepEqual(store.search([LOBBY_KEY], foldText("你好"), 50), [expected[2]]);
    });
    assert.equal(userVersion(path), 3);
    withSqlite(path, 100, (store) => {
      assert.equal(store.recent(LOBBY_KEY, 100).length, 4);
      assert.equal(store.after(LOBBY_KEY, 3, 100).gap, true, "the gap survives a reopen");
      assert.ok(store.nextId() > 1501);
    });
  });
});

Deno.test("SqliteHistory refuses a file with a newer schema version with StoreError", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/future.db`;
    withDb(path, (db) => db.exec("PRAGMA user_version = 99"));
    assertStoreError(() => new SqliteHistory(path, 100), /99/);
    assert.equal(userVersion(path), 99, "the file is left as it was");
  });
});

Deno.test("SqliteHistory refuses a corrupt file with StoreError and leaves it alone", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/corrupt.db`;
    const bytes = crypto.getRandomValues(new Uint8Array(8192));
    await Deno.writeFile(path, bytes);
    assertStoreError(() => new SqliteHistory(path, 100), /cannot (use|open) the database/);
    assert.deepEqual(await Deno.readFile(path), bytes);
  });
});

Deno.test("SqliteHistory refuses a path in a missing directory with StoreError", async () => {
  await withTempDir(async (dir) => {
    const missing = `${dir}/missing`;
    assertStoreError(() => new SqliteHistory(`${missing}/chat.db`, 100), /cannot open/);
    await assert.rejects(Deno.stat(missing), Deno.errors.NotFound);
  });
});

Deno.test("SqliteHistory refuses a file another SqliteHistory holds with a 'locked' StoreError", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/chat.db`;
    withSqlite(path, 100, (first) => {
      const before = say(first, "before");
      assertStoreError(() => new SqliteHistory(path, 100), /locked/);
      // The holder is not disturbed by the refused attempt.
      const after = say(first, "after");
      assert.deepEqual(first.recent(LOBBY_KEY, 10), [before, after]);
    });
    // Once closed, the file can be opened again.
    withSqlite(path, 100, (second) => assert.equal(second.recent(LOBBY_KEY, 10).length, 2));
  });
});

Deno.test("SqliteHistory.close() is idempotent", async () => {
  await withTempDir((dir) => {
    const store = new SqliteHistory(`${dir}/chat.db`, 100);
    store.close();
    store.close();
  });
});

Deno.test("SqliteHistory works on :memory:, one database per store", () => {
  const a = new SqliteHistory(":memory:", 5);
  const b = new SqliteHistory(":memory:", 5);
  try {
    const said = [say(a, "one"), say(a, "two", LOBBY, true)];
    assert.deepEqual(a.recent(LOBBY_KEY, 10), said);
    assert.deepEqual(a.after(LOBBY_KEY, itemAt(said, 0).id, 10), {
      messages: [said[1]],
      gap: false,
    });
    assert.deepEqual(b.recent(LOBBY_KEY, 10), []);
    assertIncreasing(fill(a, 100));
    assert.equal(a.after(LOBBY_KEY, 0, 1000).gap, true);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("SqliteHistory.nextId() hands out no id whose reservation failed to be stored", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/chat.db`;
    withSqlite(path, 100, () => {});
    // From the second block on, reserving fails, as on a full disk.
    withDb(path, (db) =>
      db.exec(`CREATE TRIGGER full BEFORE UPDATE ON meta
               WHEN NEW.key = 'reserved_id' AND NEW.value >= 2000
               BEGIN SELECT RAISE(ABORT, 'disk full'); END`));
    const taken: number[] = [];
    withSqlite(path, 100, (store) => {
      for (let i = 0; i < 1000; i++) taken.push(store.nextId());
      assert.throws(() => store.nextId(), /disk full/);
      assert.throws(() => store.nextId(), /disk full/);
    });
    withDb(path, (db) => db.exec("DROP TRIGGER full"));
    withSqlite(path, 100, (store) => assert.ok(store.nextId() > Math.max(...taken)));
  });
});

Deno.test("SqliteHistory.append() keeps a stored message stored when the retention trim fails", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/chat.db`;
    withSqlite(path, 10, () => {});
    // Deleting fails, as it can on a full disk; inserting still works.
    withDb(path, (db) =>
      db.exec(
        `CREATE TRIGGER full BEFORE DELETE ON messages BEGIN SELECT RAISE(ABORT, 'disk full'); END`,
      ));
    const lines: string[] = [];
    const log = createLogger({ level: "error", write: (line) => lines.push(line) });
    const store = new SqliteHistory(path, 10, log);
    const taken: number[] = [];
    try {
      for (let i = 0; i < 200; i++) {
        // Would throw, and the room would tell the sender "Not sent", if a
        // trim failure were an append failure.
        taken.push(say(store, `m${i}`).id);
      }
      assert.deepEqual(ids(store.recent(LOBBY_KEY, 1000)), taken.slice(-10));
      assert.ok(lines.some((l) => l.includes("disk full")), lines.join("\n"));
      assert.deepEqual(store.after(LOBBY_KEY, itemAt(taken, -11), 1000), {
        messages: store.recent(LOBBY_KEY, 10),
        gap: false,
      });
    } finally {
      store.close();
    }
    assert.equal(rowsIn(path, LOBBY_KEY), 200, "every message stored");
    withDb(path, (db) => {
      const row = db.prepare("SELECT trimmed_to FROM rooms WHERE key = ?").get(LOBBY_KEY);
      assert.equal(row, undefined, "a trim rolled back moves no trimmed_to");
    });
  });
});

Deno.test("SqliteHistory.lost says which stored messages a damaged write-ahead log dropped", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/chat.db`;
    withSqlite(path, 10_000, () => {});
    const taken = await killedWriter(path, 200, 200);
    // The writer died without a checkpoint: its messages are in the WAL.
    // Cut the log short, as a damaged disk or a careless copy would.
    const wal = `${path}-wal`;
    const size = Deno.statSync(wal).size;
    assert.ok(size > 0, "the killed writer left a write-ahead log");
    Deno.truncateSync(wal, Math.floor(size / 2));
    const lines: string[] = [];
    const log = createLogger({ level: "error", write: (line) => lines.push(line) });
    const store = new SqliteHistory(path, 10_000, log);
    try {
      const kept = ids(store.recent(LOBBY_KEY, 1000));
      assert.ok(kept.length < taken.length, "the cut log lost messages");
      const last = Math.max(...taken);
      assert.deepEqual(store.lost, { after: Math.max(0, ...kept), upTo: last });
      assert.ok(lines.some((l) => l.includes("lost messages")), lines.join("\n"));
      assert.ok(store.nextId() > last, "no id is handed out twice");
    } finally {
      store.close();
    }
  });
});

Deno.test("SqliteHistory.lost is undefined after a clean restart and after a kill", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/chat.db`;
    withSqlite(path, 10_000, (store) => say(store, "x", "#dev"));
    withSqlite(path, 10_000, (store) => assert.equal(store.lost, undefined));
    await killedWriter(path, 50, 20);
    withSqlite(path, 10_000, (store) => assert.equal(store.lost, undefined));
  });
});

Deno.test("SqliteHistory (--keep 3) shows a joiner 3 after a restart, however many rows wait for a trim", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/keep3.db`;
    withSqlite(path, 3, (store) => fill(store, 6));
    assert.equal(rowsIn(path), 6, "fewer than a trim's slack past keep: still there");
    withSqlite(path, 3, (store) => {
      const hub = new Hub({ store, history: 100 });
      const member = new FakeMember();
      assert.ok(hub.join(member, "late"));
      const welcome = member.ofType("welcome")[0];
      assert.deepEqual(welcome?.history.map((m) => m.text), ["m3", "m4", "m5"]);
      assert.equal(store.after(LOBBY_KEY, 0, 100).messages.length, 3);
    });
  });
});

Deno.test("SqliteHistory.range() stays within keep after a reopen, before any write", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/chat.db`;
    // 40 rows under a keep of 10, none trimmed yet; then 100 under 1000.
    const pending = withSqlite(path, 10, (store) => fill(store, 40, "#pending"));
    const big = withSqlite(path, 1000, (store) => fill(store, 100, "#big"));
    assert.equal(rowsIn(path), 140);
    withSqlite(path, 10, (store) => {
      const oldest = (key: string) => ids(store.range(key, { limit: 1000, from: "oldest" }));
      assert.deepEqual(oldest(roomKey("#pending")), pending.slice(-10));
      assert.deepEqual(oldest(roomKey("#big")), big.slice(-10), "keep lowered at the reopen");
      // The count taken by the read goes on with the writes.
      const more = fill(store, 5, "#big");
      assert.deepEqual(oldest(roomKey("#big")), [...big, ...more].slice(-10));
    });
  });
});

Deno.test("SqliteHistory keeps a notice as 2 in the action column, and reads it back after a reopen", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/chat.db`;
    const said = withSqlite(path, 100, (store) => [
      sayAt(store, 1),
      say(store, "waves", LOBBY, true),
      sayAt(store, 3, LOBBY, "notice"),
    ]);
    withDb(path, (db) => {
      const kinds = db.prepare("SELECT action FROM messages ORDER BY id").all().map((r) =>
        r.action
      );
      assert.deepEqual(kinds, [0, 1, 2]);
    });
    withSqlite(path, 100, (store) => assert.deepEqual(store.recent(LOBBY_KEY, 10), said));
  });
});

Deno.test("SqliteHistory.range() reads through the room's index, ordered by it, at 10,000 rows", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/chat.db`;
    withSqlite(path, 10_000, (store) => {
      const all = fill(store, 10_050);
      const first = store.range(LOBBY_KEY, { after: { ts: 0 }, limit: 2, from: "oldest" });
      assert.deepEqual(ids(first), all.slice(-10_000, -9_998));
    });
    withDb(path, (db) => {
      const plan = (sql: string, ...args: number[]) =>
        db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all("#lobby", ...args).map((r) => String(r.detail));
      const range = `SELECT id, ts, room, sender, text, action FROM messages
        WHERE room_key = ? AND id > ? AND id < ? AND ts > ? AND ts < ?`;
      for (
        const steps of [
          plan(`${range} ORDER BY id LIMIT ?`, 0, 1e9, 0, 1e15, 10),
          plan(`${range} ORDER BY id DESC LIMIT ?`, 0, 1e9, 0, 1e15, 10),
          plan("SELECT id FROM messages WHERE room_key = ? ORDER BY id LIMIT 1 OFFSET ?", 50),
        ]
      ) {
        assert.ok(
          steps.some((d) => /USING (COVERING )?INDEX messages_room/.test(d)),
          steps.join("\n"),
        );
        assert.ok(
          !steps.some((d) => /SCAN messages\b(?! USING)|TEMP B-TREE/.test(d)),
          steps.join("\n"),
        );
      }
    });
  });
});
