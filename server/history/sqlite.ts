/**
 * Durable history: a {@linkcode HistoryStore} in SQLite (`node:sqlite`).
 *
 * - WAL journal, `synchronous=NORMAL`: a message is in the database file's
 *   log before anyone is sent it, so a killed server loses nothing it
 *   delivered; only a power cut can lose the last moments.
 * - The file is held with an exclusive lock: a second server on the same file
 *   is refused at start instead of interleaving its writes.
 * - Ids are handed out in blocks reserved in the database ahead of use, so
 *   they stay strictly increasing across restarts and crashes, for private
 *   messages too, which are never written here.
 * - Retention keeps the newest `keep` messages, trimming a few rows at a time
 *   as messages arrive, so the room never stalls on a large delete.
 * - The schema carries a version (`PRAGMA user_version`) and is created and
 *   migrated here.
 * - A retention trim that fails (a full disk) is logged, never reported as
 *   a failed append: the message was stored, and it was sent.
 * - Beside the database, `PATH-lastid` holds the id of the last message
 *   stored, written after each insert (a write to the page cache, like the
 *   WAL's own under `synchronous=NORMAL`). SQLite silently drops whatever
 *   follows a damaged or truncated write-ahead log; at start, a table whose
 *   newest message is older than that id has lost messages it had stored,
 *   and {@linkcode SqliteHistory.lost} says which, so the server can say so
 *   loudly. Ids then go on above it: none is handed out twice.
 *
 * @module
 */

import { closeSync, constants, openSync, readSync, writeSync } from "node:fs";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { errorText, type Logger, SILENT } from "../log.ts";
import type { Backlog, HistoryStore } from "./history.ts";
import type { ChatMessage } from "../../common/protocol.ts";

/** The schema this code writes. */
export const SCHEMA_VERSION = 1;

/** Ids reserved per database write. */
const ID_BLOCK = 1000;
/** Trim retention once every this many appends. */
const TRIM_EVERY = 64;
/** Most rows one trim deletes. */
const TRIM_BATCH = 512;

const MIGRATIONS: readonly string[] = [
  // 0 -> 1
  `CREATE TABLE messages (
     id INTEGER PRIMARY KEY,
     ts INTEGER NOT NULL,
     sender TEXT NOT NULL,
     text TEXT NOT NULL,
     action INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
   INSERT INTO meta (key, value) VALUES ('reserved_id', 0), ('trimmed_to', 0);`,
];

/** Thrown when the database cannot be used; the message is one line for the operator. */
export class StoreError extends Error {
  override name = "StoreError";
}

/** Room history in a SQLite file (or `:memory:`). */
export class SqliteHistory implements HistoryStore {
  readonly #db: DatabaseSync;
  readonly #keep: number;
  readonly #insert: StatementSync;
  readonly #recent: StatementSync;
  readonly #after: StatementSync;
  readonly #countAfter: StatementSync;
  readonly #setMeta: StatementSync;
  readonly #trimEdge: StatementSync;
  readonly #trimBatch: StatementSync;
  readonly #trimDelete: StatementSync;
  readonly #log: Logger;
  /** The `-lastid` file, or undefined for a database in memory. */
  readonly #lastIdFile: number | undefined;
  readonly #lastIdBytes = new Float64Array(1);
  #next: number;
  #reserved: number;
  #trimmedTo: number;
  #sinceTrim = 0;
  #closed = false;

  /**
   * Messages the database had stored and lost before this start (its
   * write-ahead log was damaged or removed): ids above `after`, up to and
   * including `upTo`. Undefined when nothing was lost.
   */
  readonly lost: { after: number; upTo: number } | undefined;

  /**
   * Opens (creating if needed) the database at `path`, keeping the newest
   * `keep` messages. Throws {@linkcode StoreError} if it cannot be used.
   */
  constructor(path: string, keep: number, log: Logger = SILENT) {
    this.#keep = keep;
    this.#log = log;
    try {
      this.#db = new DatabaseSync(path);
    } catch (e) {
      throw new StoreError(`cannot open the database: ${reason(e).replace(`: ${path}`, "")}`);
    }
    try {
      this.#db.exec("PRAGMA busy_timeout = 0");
      this.#db.exec("PRAGMA locking_mode = EXCLUSIVE");
      this.#db.exec("PRAGMA journal_mode = WAL");
      this.#db.exec("PRAGMA synchronous = NORMAL");
      // Take the exclusive lock now: a second server fails here, not later.
      this.#db.exec("BEGIN IMMEDIATE");
      this.#migrate();
      this.#db.exec("COMMIT");
      this.#insert = this.#db.prepare(
        "INSERT INTO messages (id, ts, sender, text, action) VALUES (?, ?, ?, ?, ?)",
      );
      this.#recent = this.#db.prepare(
        "SELECT id, ts, sender, text, action FROM messages ORDER BY id DESC LIMIT ?",
      );
      this.#after = this.#db.prepare(
        "SELECT id, ts, sender, text, action FROM messages WHERE id > ? ORDER BY id DESC LIMIT ?",
      );
      this.#countAfter = this.#db.prepare("SELECT count(*) AS n FROM messages WHERE id > ?");
      this.#setMeta = this.#db.prepare("UPDATE meta SET value = ? WHERE key = ?");
      this.#trimEdge = this.#db.prepare(
        "SELECT id FROM messages ORDER BY id DESC LIMIT 1 OFFSET ?",
      );
      this.#trimBatch = this.#db.prepare(
        "SELECT max(id) AS n FROM (SELECT id FROM messages WHERE id <= ? ORDER BY id LIMIT ?)",
      );
      this.#trimDelete = this.#db.prepare("DELETE FROM messages WHERE id <= ?");
      const maxId = int(this.#db.prepare("SELECT max(id) AS n FROM messages").get()?.n ?? 0);
      let stored = 0;
      if (path !== ":memory:" && path !== "") {
        this.#lastIdFile = openSync(`${path}-lastid`, constants.O_RDWR | constants.O_CREAT, 0o644);
        if (readSync(this.#lastIdFile, this.#lastIdBytes, 0, 8, 0) === 8) {
          stored = this.#lastIdBytes[0]!;
          if (!Number.isSafeInteger(stored) || stored < 0) stored = 0;
        }
      }
      if (stored > maxId) {
        this.lost = { after: maxId, upTo: stored };
        log.error("the database lost messages it had stored", {
          db: path,
          after: maxId,
          upTo: stored,
        });
      }
      this.#reserved = Math.max(this.#meta("reserved_id"), maxId, stored);
      this.#next = this.#reserved + 1;
      this.#trimmedTo = this.#meta("trimmed_to");
    } catch (e) {
      this.#db.close();
      if (this.#lastIdFile !== undefined) closeSync(this.#lastIdFile);
      const why = reason(e);
      throw new StoreError(
        /locked|busy/i.test(why)
          ? `the database is locked: is another chat server using it?`
          : `cannot use the database: ${why}`,
      );
    }
  }

  nextId(): number {
    if (this.#next > this.#reserved) {
      // Stored before it is used: if this write fails, no id of the block is
      // handed out, so none can be handed out again after a restart.
      const reserved = this.#next + ID_BLOCK - 1;
      this.#setMeta.run(reserved, "reserved_id");
      this.#reserved = reserved;
    }
    return this.#next++;
  }

  lastId(): number {
    return this.#next - 1;
  }

  append(m: ChatMessage): void {
    this.#insert.run(m.id, m.ts, m.from, m.text, m.action ? 1 : 0);
    // Stored: from here on, nothing may report it as not sent.
    try {
      if (this.#lastIdFile !== undefined) {
        this.#lastIdBytes[0] = m.id;
        writeSync(this.#lastIdFile, this.#lastIdBytes, 0, 8, 0);
      }
      if (++this.#sinceTrim >= TRIM_EVERY) {
        this.#sinceTrim = 0;
        this.#trim();
      }
    } catch (e) {
      this.#log.error("cannot keep the history's bookkeeping", { error: errorText(e) });
    }
  }

  recent(count: number): ChatMessage[] {
    return count > 0 ? this.#recent.all(count).map(toMessage).reverse() : [];
  }

  after(after: number, limit: number): Backlog {
    const messages = limit > 0 ? this.#after.all(after, limit).map(toMessage).reverse() : [];
    const newer = int(this.#countAfter.get(after)?.n ?? 0);
    return { messages, gap: this.#trimmedTo > after || newer > messages.length };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
    if (this.#lastIdFile !== undefined) closeSync(this.#lastIdFile);
  }

  #meta(key: string): number {
    return int(this.#db.prepare("SELECT value FROM meta WHERE key = ?").get(key)?.value ?? 0);
  }

  #migrate(): void {
    const version = int(this.#db.prepare("PRAGMA user_version").get()?.user_version ?? 0);
    if (version > SCHEMA_VERSION) {
      throw new StoreError(
        `the database has schema version ${version}; this server knows up to ${SCHEMA_VERSION}`,
      );
    }
    for (let v = version; v < SCHEMA_VERSION; v++) {
      this.#db.exec(MIGRATIONS[v]!);
      this.#db.exec(`PRAGMA user_version = ${v + 1}`);
    }
  }

  /**
   * Deletes what is past retention, at most {@linkcode TRIM_BATCH} rows per
   * call: after `keep` is lowered, the backlog goes over many appends.
   */
  #trim(): void {
    const edge = this.#trimEdge.get(this.#keep);
    if (edge === undefined) return;
    const cut = int(this.#trimBatch.get(int(edge.id), TRIM_BATCH)?.n ?? 0);
    this.#trimDelete.run(cut);
    this.#trimmedTo = Math.max(this.#trimmedTo, cut);
    this.#setMeta.run(this.#trimmedTo, "trimmed_to");
  }
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function int(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  throw new StoreError(`unexpected value in the database: ${String(v)}`);
}

function str(v: unknown): string {
  if (typeof v !== "string") throw new StoreError(`unexpected value in the database: ${String(v)}`);
  return v;
}

function toMessage(row: Record<string, unknown>): ChatMessage {
  const m: ChatMessage = {
    type: "message",
    id: int(row.id),
    ts: int(row.ts),
    from: str(row.sender),
    text: str(row.text),
  };
  if (int(row.action) === 1) m.action = true;
  return m;
}
