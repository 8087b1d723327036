/**
 * Unit tests of the history stores: {@linkcode SqliteHistory} on real files
 * in a temporary directory, and {@linkcode MemoryHistory}, held to the same
 * {@linkcode HistoryStore} contract.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { createLogger } from "../server/log.ts";
import { type HistoryStore, MemoryHistory } from "../server/history/history.ts";
import type { ChatMessage } from "../common/protocol.ts";
import { SCHEMA_VERSION, SqliteHistory, StoreError } from "../server/history/sqlite.ts";
import { assertIncreasing, itemAt } from "./kit/assert.ts";
import { withTempDir } from "./kit/temp_dir.ts";

/** Takes a new id from `store`, appends a message with it and returns the message. */
function say(store: HistoryStore, text: string, action = false): ChatMessage {
  const m: ChatMessage = {
    type: "message",
    id: store.nextId(),
    ts: 1_700_000_000_000 + text.length,
    from: "alice",
    text,
  };
  if (action) m.action = true;
  store.append(m);
  return m;
}

/** Appends `n` messages; returns their ids. */
function fill(store: HistoryStore, n: number): number[] {
  return Array.from({ length: n }, (_, i) => say(store, `m${i}`).id);
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

function userVersion(path: string): number {
  const db = new DatabaseSync(path);
  try {
    const version = db.prepare("PRAGMA user_version").get()?.user_version;
    assert.equal(typeof version, "number");
    return Number(version);
  } finally {
    db.close();
  }
}

const storeUrl = new URL("../server/history/sqlite.ts", import.meta.url).href;

/**
 * In another process: opens the store at `path`, takes `taken` ids, appends
 * messages with the first `appended` of them (the rest are used as private
 * messages would be, never stored), reports them and is killed with SIGKILL,
 * never having closed the store. Returns the ids it took.
 */
async function killedWriter(path: string, taken: number, appended: number): Promise<number[]> {
  const code = `
    const { SqliteHistory } = await import(${JSON.stringify(storeUrl)});
    const store = new SqliteHistory(${JSON.stringify(path)}, 10000);
    const ids = [];
    for (let i = 0; i < ${taken}; i++) ids.push(store.nextId());
    for (const id of ids.slice(0, ${appended})) {
      store.append({ type: "message", id, ts: id, from: "writer", text: "m" + id });
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

Deno.test("SqliteHistory.nextId() hands out strictly increasing ids", async () => {
  await withTempDir((dir) => {
    withSqlite(`${dir}/chat.db`, 100, (store) => {
      // Past one reserved block of ids, into the next.
      const taken = Array.from({ length: 2500 }, () => store.nextId());
      assert.ok(itemAt(taken, 0) > 0);
      assertIncreasing(taken);
    });
  });
});

Deno.test("SqliteHistory.nextId() keeps increasing after close and reopen, never reusing an id", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/chat.db`;
    const all: number[] = [];
    // Sessions that take a few ids, none, and more than a reserved block.
    for (const [taken, appended] of [[3, 2], [0, 0], [1, 1], [1500, 10], [2, 0]] as const) {
      withSqlite(path, 100, (store) => {
        const session = Array.from({ length: taken }, () => store.nextId());
        for (const id of session.slice(session.length - appended)) {
          store.append({ type: "message", id, ts: id, from: "a", text: `m${id}` });
        }
        all.push(...session);
      });
    }
    assertIncreasing(all);
    withSqlite(path, 100, (store) => {
      const next = store.nextId();
      assert.ok(next > Math.max(...all), `${next} after ${Math.max(...all)}`);
    });
  });
});

Deno.test("SqliteHistory.nextId() keeps increasing after retention deleted rows and a reopen", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/chat.db`;
    const before = withSqlite(path, 10, (store) => fill(store, 200));
    withSqlite(path, 10, (store) => {
      const kept = store.recent(1000);
      assert.ok(kept.length < 200, "retention deleted rows");
      const next = say(store, "after reopen").id;
      assert.ok(next > itemAt(before, -1), `${next} after ${before.at(-1)}`);
      assert.deepEqual(ids(store.recent(2)), [before.at(-1), next]);
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
        ids(store.recent(100)),
        [...first, ...second.slice(0, 3)],
        "appended messages survive the kill",
      );
      const next = store.nextId();
      assert.ok(next > itemAt(second, -1), `${next} after ${second.at(-1)}`);
    });
  });
});

Deno.test("SqliteHistory.append() round-trips text, sender, time and the action flag", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/chat.db`;
    const said = withSqlite(path, 100, (store) => {
      const said = [
        say(store, "hello"),
        say(store, "waves", true),
        say(store, "你好，世界！こんにちは 🌏"),
        say(store, `quotes " ' \\ and %_ and ; DROP TABLE messages;`),
      ];
      assert.deepEqual(store.recent(10), said);
      return said;
    });
    withSqlite(path, 100, (store) => {
      assert.deepEqual(store.recent(10), said, "after a reopen too");
      assert.equal(store.recent(10)[0]?.action, undefined, "no action flag on a plain message");
    });
  });
});

Deno.test("SqliteHistory.recent() returns the last n messages, oldest first", async () => {
  await withTempDir((dir) => {
    withSqlite(`${dir}/chat.db`, 100, (store) => {
      assert.deepEqual(store.recent(5), []);
      const all = fill(store, 6);
      assert.deepEqual(ids(store.recent(3)), all.slice(-3));
      assert.deepEqual(ids(store.recent(100)), all);
      assert.deepEqual(store.recent(0), []);
    });
  });
});

Deno.test("SqliteHistory.after() returns the messages after an id, oldest first", async () => {
  await withTempDir((dir) => {
    withSqlite(`${dir}/chat.db`, 100, (store) => {
      const all = fill(store, 5);
      assert.deepEqual(store.after(itemAt(all, 1), 10), {
        messages: store.recent(3),
        gap: false,
      });
      assert.deepEqual(store.after(itemAt(all, 4), 10), { messages: [], gap: false });
    });
  });
});

Deno.test("SqliteHistory keeps at most keep + 64 rows and reports the gap retention left", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/chat.db`;
    const all = withSqlite(path, 10, (store) => {
      const all: number[] = [];
      for (let i = 0; i < 200; i++) {
        all.push(say(store, `m${i}`).id);
        const kept = store.recent(1000).length;
        assert.ok(kept <= 10 + 64, `${kept} rows kept after ${i + 1} messages`);
      }
      assert.ok(store.recent(1000).length >= 10);
      assert.deepEqual(ids(store.recent(10)), all.slice(-10));
      assert.equal(store.after(0, 1000).gap, true);
      return all;
    });
    withSqlite(path, 10, (store) => {
      assert.equal(store.after(0, 1000).gap, true, "the gap is remembered across a reopen");
      const lastSeen = itemAt(all, -5);
      assert.deepEqual(store.after(lastSeen, 1000), {
        messages: store.recent(4),
        gap: false,
      });
    });
    const db = new DatabaseSync(path);
    try {
      const rows = Number(db.prepare("SELECT count(*) AS n FROM messages").get()?.n);
      assert.ok(rows >= 10 && rows <= 10 + 64, `${rows} rows in the file`);
    } finally {
      db.close();
    }
  });
});

Deno.test("SqliteHistory creates a fresh file with schema version 1", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/fresh.db`;
    withSqlite(path, 100, (store) => say(store, "hi"));
    assert.equal(SCHEMA_VERSION, 1);
    assert.equal(userVersion(path), 1);
    // Opening it again does not migrate it again, and keeps what it holds.
    withSqlite(path, 100, (store) => assert.equal(store.recent(10).length, 1));
    assert.equal(userVersion(path), 1);
  });
});

Deno.test("SqliteHistory refuses a file with a newer schema version with StoreError", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/future.db`;
    const db = new DatabaseSync(path);
    db.exec("PRAGMA user_version = 99");
    db.close();
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
      assert.deepEqual(first.recent(10), [before, after]);
    });
    // Once closed, the file can be opened again.
    withSqlite(path, 100, (second) => assert.equal(second.recent(10).length, 2));
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
    const said = [say(a, "one"), say(a, "two", true)];
    assert.deepEqual(a.recent(10), said);
    assert.deepEqual(a.after(itemAt(said, 0).id, 10), { messages: [said[1]], gap: false });
    assert.deepEqual(b.recent(10), []);
    assertIncreasing(fill(a, 100));
    assert.equal(a.after(0, 1000).gap, true);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("MemoryHistory.nextId() hands out strictly increasing ids", () => {
  const store = new MemoryHistory(5);
  const taken = fill(store, 50);
  assert.ok(itemAt(taken, 0) > 0);
  assertIncreasing(taken);
});

Deno.test("MemoryHistory keeps exactly keep messages and reports the gap retention left", () => {
  const store = new MemoryHistory(10);
  const all = fill(store, 200);
  assert.deepEqual(ids(store.recent(1000)), all.slice(-10));
  assert.equal(store.after(0, 1000).gap, true);
  assert.deepEqual(store.after(itemAt(all, -5), 1000), { messages: store.recent(4), gap: false });
});

for (const [name, make] of STORES) {
  Deno.test(`${name}.after() returns the last limit messages and a gap when more are newer`, async () => {
    await withStore(make, 100, (store) => {
      const all = fill(store, 20);
      const last5 = store.after(0, 5);
      assert.deepEqual(ids(last5.messages), all.slice(-5));
      assert.equal(last5.gap, true);
      assert.deepEqual(store.after(itemAt(all, 9), 10), { messages: store.recent(10), gap: false });
      const last9 = store.after(itemAt(all, 9), 9);
      assert.deepEqual(ids(last9.messages), all.slice(-9));
      assert.equal(last9.gap, true);
      assert.deepEqual(store.after(itemAt(all, -1), 10), { messages: [], gap: false });
    });
  });

  Deno.test(`${name}.after() reports a gap exactly when retention removed a message after the id`, async () => {
    await withStore(make, 10, (store) => {
      fill(store, 200);
      const kept = ids(store.recent(1000));
      const oldest = itemAt(kept, 0);
      assert.ok(oldest > 1, "retention removed the first messages");
      // Seen up to just before the oldest kept: nothing missing.
      assert.deepEqual(store.after(oldest - 1, 1000), {
        messages: store.recent(1000),
        gap: false,
      });
      // One more back, and that one is gone.
      const missed = store.after(oldest - 2, 1000);
      assert.deepEqual(ids(missed.messages), kept);
      assert.equal(missed.gap, true);
    });
  });
}

Deno.test("SqliteHistory.nextId() hands out no id whose reservation failed to be stored", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/chat.db`;
    withSqlite(path, 100, () => {});
    // From the second block on, reserving fails, as on a full disk.
    const db = new DatabaseSync(path);
    db.exec(`CREATE TRIGGER full BEFORE UPDATE ON meta
             WHEN NEW.key = 'reserved_id' AND NEW.value >= 2000
             BEGIN SELECT RAISE(ABORT, 'disk full'); END`);
    db.close();
    const taken: number[] = [];
    withSqlite(path, 100, (store) => {
      for (let i = 0; i < 1000; i++) taken.push(store.nextId());
      assert.throws(() => store.nextId(), /disk full/);
      assert.throws(() => store.nextId(), /disk full/);
    });
    const fixed = new DatabaseSync(path);
    fixed.exec("DROP TRIGGER full");
    fixed.close();
    withSqlite(path, 100, (store) => assert.ok(store.nextId() > Math.max(...taken)));
  });
});

Deno.test("SqliteHistory.append() keeps a stored message stored when the retention trim fails", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/chat.db`;
    withSqlite(path, 10, () => {});
    // Deleting fails, as it can on a full disk; inserting still works.
    const db = new DatabaseSync(path);
    db.exec(
      `CREATE TRIGGER full BEFORE DELETE ON messages BEGIN SELECT RAISE(ABORT, 'disk full'); END`,
    );
    db.close();
    const lines: string[] = [];
    const log = createLogger({ level: "error", write: (line) => lines.push(line) });
    const store = new SqliteHistory(path, 10, log);
    try {
      const ids: number[] = [];
      for (let i = 0; i < 200; i++) {
        const id = store.nextId();
        // Would throw, and the room would tell the sender "Not sent", if a
        // trim failure were an append failure.
        store.append({ type: "message", id, ts: id, from: "a", text: `m${id}` });
        ids.push(id);
      }
      assert.deepEqual(store.recent(1000).map((m) => m.id), ids);
      assert.ok(lines.some((l) => l.includes("disk full")), lines.join("\n"));
    } finally {
      store.close();
    }
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
      const kept = store.recent(1000).map((m) => m.id);
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
    withSqlite(path, 10_000, (store) => {
      const id = store.nextId();
      store.append({ type: "message", id, ts: id, from: "a", text: "x" });
    });
    withSqlite(path, 10_000, (store) => assert.equal(store.lost, undefined));
    await killedWriter(path, 50, 20);
    withSqlite(path, 10_000, (store) => assert.equal(store.lost, undefined));
  });
});
