/**
 * Durable history: a {@linkcode HistoryStore} in SQLite (`node:sqlite`).
 *
 * - WAL journal, `synchronous=NORMAL`: a message is in the database file's
 *   log before anyone is sent it, so a killed server loses nothing it
 *   delivered; only a power cut can lose the last moments.
 * - The file is held with an exclusive lock: a second server on the same file
 *   is refused at start instead of interleaving its writes.
 * - Ids are handed out in blocks reserved in the database ahead of use, so
 *   they stay strictly increasing across restarts and crashes, one sequence
 *   for every room and for private messages, which are never written here.
 * - Each room's messages are kept under its key (`roomKey`), with the name
 *   it was shown as; every read is a search of the index on
 *   `(room_key, id)`, so its cost does not grow with the number of rooms.
 * - Retention is per room and exact for readers: a read never returns more
 *   than the newest `keep` messages of a room. The store counts each room's
 *   rows (one `count(*)` the first time a room is written to, or read by
 *   a range, after a start); once a room holds {@linkcode TRIM_EVERY} more
 *   than `keep`, its oldest are deleted, at most {@linkcode TRIM_BATCH} at a time, so no
 *   message waits for a large delete and no append searches for the edge of
 *   the window (an `OFFSET keep` scan per trim cost a room of 10,000 as much
 *   as the insert itself). Until then the reads' limits hide the extra rows. Each room
 *   remembers the highest id its trims removed (`rooms.trimmed_to`), so
 *   "everything after id N" knows when some of it is gone.
 * - {@linkcode SqliteHistory.range} orders by id and filters by time (the
 *   clock may step back, ids never do), through the same index. The edge of
 *   the `keep` window, which it must not read past, is found from the
 *   oldest end with the room's row count (kept for the trims): a step of at
 *   most a trim's slack, where a search from the newest end walks `keep`
 *   rows (3 µs against 300 µs at 10,000 rows, on a warm database). A time
 *   bound is checked on each row the walk reaches: at 10,000 rows, a read
 *   that crosses the whole window to find 100 messages takes about 2 ms,
 *   against 0.1 ms for one bounded by id. No index on `ts` is kept:
 *   ordered by id, SQLite does not use one on `(room_key, ts)`, and a
 *   covering `(room_key, id, ts)` saved only half of those 2 ms, for a
 *   bigger index on every insert and a migration.
 * - {@linkcode SqliteHistory.search} walks each room's rows through the
 *   `(room_key, id)` index, newest first, from the edge of its `keep`
 *   window, with `instr` on `folded`: a needle found often stops after a
 *   few rows, one found nowhere reads every kept row of every room asked
 *   for (`bench/search.ts` measures both).
 * - A message's kind is its `action` column: 0 plain, 1 an action, 2 a
 *   notice. Notices came later and needed no migration; an older server
 *   reads one as a plain message.
 * - A room's topic is kept with its history (`rooms`), and outlives the
 *   room and the process.
 * - The schema carries a version (`PRAGMA user_version`) and is created and
 *   migrated here, in the transaction that takes the lock. Version 1 held one
 *   room; version 2 adds `messages.room_key` and `messages.room`, the index,
 *   and `rooms` (topic, `trimmed_to`). Migrating a version-1 file makes its
 *   messages `#lobby`'s and its `trimmed_to` `#lobby`'s: an existing
 *   `chat.db` opens and the lobby shows what it showed. Version 3 adds
 *   `messages.folded`, each text folded as nicknames are (`searchFold`), for
 *   {@linkcode SqliteHistory.search}; migrating fills it for every row
 *   there is (a registered SQL function runs the same fold). A file with a
 *   version newer than this code knows is refused, untouched.
 * - A retention trim that fails (a full disk) is logged, never reported as
 *   a failed append: the message was stored, and it was sent. A trim and the
 *   `trimmed_to` it moves are one transaction, so a gap is never forgotten.
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
import {
  type Backlog,
  type HistoryStore,
  newestOf,
  rangeLimit,
  type RangeQuery,
  type RoomMessage,
  searchFold,
  searchLimit,
} from "./history.ts";
import type { Topic } from "../../common/protocol.ts";
import { LOBBY } from "../../common/room.ts";
import { roomKey } from "../../common/room_key.ts";

/** The schema this code writes. */
export const SCHEMA_VERSION = 3;

/** Ids reserved per database write. */
const ID_BLOCK = 1000;
/** Rows past `keep` a room may hold before its oldest are deleted. */
const TRIM_EVERY = 64;
/** Most rows one trim deletes. */
const TRIM_BATCH = 512;
/**
 * Rooms whose rows are counted in memory: past this, the room first
 * counted is forgotten, so writing to rooms in a loop cannot grow memory.
 * A room forgotten is counted again (one `count(*)`) when next written to
 * or read by a range.
 */
const ROOMS_COUNTED = 10_000;
/** The `action` column of an action (`/me`); 0 is a plain message. */
const ACTION = 1;
/** The `action` column of a notice: kept there, so no schema change was needed. */
const NOTICE = 2;

/** `'text'` as an SQL string literal. */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** The room that every message of a version-1 file was said in. */
const LOBBY_KEY = literal(roomKey(LOBBY));

const MIGRATIONS: readonly string[] = [
  // 0 -> 1: one room.
  `CREATE TABLE messages (
     id INTEGER PRIMARY KEY,
     ts INTEGER NOT NULL,
     sender TEXT NOT NULL,
     text TEXT NOT NULL,
     action INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
   INSERT INTO meta (key, value) VALUES ('reserved_id', 0), ('trimmed_to', 0);`,
  // 1 -> 2: rooms. Adding a column with a constant default rewrites no row.
  `ALTER TABLE messages ADD COLUMN room_key TEXT NOT NULL DEFAULT ${LOBBY_KEY};
   ALTER TABLE messages ADD COLUMN room TEXT NOT NULL DEFAULT ${literal(LOBBY)};
   CREATE INDEX messages_room ON messages (room_key, id);
   CREATE TABLE rooms (
     key TEXT PRIMARY KEY,
     topic_text TEXT,
     topic_by TEXT,
     topic_ts INTEGER,
     trimmed_to INTEGER NOT NULL DEFAULT 0
   );
   INSERT INTO rooms (key, trimmed_to)
     SELECT ${LOBBY_KEY}, value FROM meta WHERE key = 'trimmed_to' AND value > 0;
   DELETE FROM meta WHERE key = 'trimmed_to';`,
  // 2 -> 3: search. Each message's text folded as nicknames are, filled in
  // for the rows there are by the fold registered on the connection.
  `ALTER TABLE messages ADD COLUMN folded TEXT NOT NULL DEFAULT '';
   UPDATE messages SET folded = chat_fold(text);`,
];

/** Thrown when the database cannot be used; the message is one line for the operator. */
export class StoreError extends Error {
  override name = "StoreError";
}

/** Room histories and topics in a SQLite file (or `:memory:`). */
export class SqliteHistory implements HistoryStore {
  readonly #db: DatabaseSync;
  readonly #keep: number;
  readonly #insert: StatementSync;
  readonly #recent: StatementSync;
  readonly #after: StatementSync;
  readonly #rangeUp: StatementSync;
  readonly #rangeDown: StatementSync;
  readonly #edge: StatementSync;
  readonly #search: StatementSync;
  readonly #stepEdge: StatementSync;
  readonly #stepSearch: StatementSync;
  readonly #room: StatementSync;
  readonly #setTopic: StatementSync;
  readonly #setMeta: StatementSync;
  readonly #count: StatementSync;
  readonly #trimBatch: StatementSync;
  readonly #trimDelete: StatementSync;
  readonly #setTrimmed: StatementSync;
  readonly #begin: StatementSync;
  readonly #commit: StatementSync;
  readonly #rollback: StatementSync;
  readonly #log: Logger;
  /** The `-lastid` file, or undefined for a database in memory. */
  readonly #lastIdFile: number | undefined;
  readonly #lastIdBytes = new Float64Array(1);
  /** Rows in the table, by room key, for the rooms written to or read since the start (some of them). */
  readonly #rows = new Map<string, number>();
  #next: number;
  #reserved: number;
  #closed = false;

  /**
   * Messages the database had stored and lost before this start (its
   * write-ahead log was damaged or removed): ids above `after`, up to and
   * including `upTo`. Undefined when nothing was lost.
   */
  readonly lost: { after: number; upTo: number } | undefined;

  /**
   * Opens (creating or migrating if needed) the database at `path`, keeping
   * the newest `keep` messages of each room. Throws {@linkcode StoreError}
   * if it cannot be used.
   */
  constructor(path: string, keep: number, log: Logger = SILENT) {
    this.#keep = Math.max(0, Math.floor(keep));
    this.#log = log;
    try {
      this.#db = new DatabaseSync(path);
    } catch (e) {
      throw new StoreError(`cannot open the database: ${reason(e).replace(`: ${path}`, "")}`);
    }
    try {
      // The migration to version 3 folds the stored texts with the code's own fold.
      this.#db.function("chat_fold", { deterministic: true }, (text) => searchFold(String(text)));
      this.#db.exec("PRAGMA busy_timeout = 0");
      this.#db.exec("PRAGMA locking_mode = EXCLUSIVE");
      this.#db.exec("PRAGMA journal_mode = WAL");
      this.#db.exec("PRAGMA synchronous = NORMAL");
      // Take the exclusive lock now: a second server fails here, not later.
      // A migration that fails midway is rolled back with the transaction.
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        this.#migrate();
        this.#db.exec("COMMIT");
      } catch (e) {
        if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
        throw e;
      }
      const columns = "id, ts, room, sender, text, action";
      this.#insert = this.#db.prepare(
        `INSERT INTO messages (id, ts, room_key, room, sender, text, action, folded)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      this.#recent = this.#db.prepare(
        `SELECT ${columns} FROM messages WHERE room_key = ? ORDER BY id DESC LIMIT ?`,
      );
      this.#after = this.#db.prepare(
        `SELECT ${columns} FROM messages WHERE room_key = ? AND id > ? ORDER BY id DESC LIMIT ?`,
      );
      // Every bound is always there: a side left open is bound to infinity.
      const range = `SELECT ${columns} FROM messages
         WHERE room_key = ? AND id > ? AND id < ? AND ts > ? AND ts < ?`;
      this.#rangeUp = this.#db.prepare(`${range} ORDER BY id LIMIT ?`);
      this.#rangeDown = this.#db.prepare(`${range} ORDER BY id DESC LIMIT ?`);
      this.#search = this.#db.prepare(
        `SELECT ${columns} FROM messages
         WHERE room_key = ? AND id >= ? AND instr(folded, ?) > 0 ORDER BY id DESC LIMIT ?`,
      );
      // A step: the lowest of the next `rows` ids (the index alone), then
      // the matches from there up.
      this.#stepEdge = this.#db.prepare(
        `SELECT min(id) AS low, count(*) AS n FROM (SELECT id FROM messages
         WHERE room_key = ? AND id >= ? AND id < ? ORDER BY id DESC LIMIT ?)`,
      );
      this.#stepSearch = this.#db.prepare(
        `SELECT ${columns} FROM messages
         WHERE room_key = ? AND id >= ? AND id < ? AND instr(folded, ?) > 0 ORDER BY id DESC LIMIT ?`,
      );
      this.#edge = this.#db.prepare(
        "SELECT id FROM messages WHERE room_key = ? ORDER BY id LIMIT 1 OFFSET ?",
      );
      this.#room = this.#db.prepare(
        "SELECT topic_text, topic_by, topic_ts, trimmed_to FROM rooms WHERE key = ?",
      );
      this.#setTopic = this.#db.prepare(
        `INSERT INTO rooms (key, topic_text, topic_by, topic_ts) VALUES (?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET
           topic_text = excluded.topic_text, topic_by = excluded.topic_by,
           topic_ts = excluded.topic_ts`,
      );
      this.#setMeta = this.#db.prepare("UPDATE meta SET value = ? WHERE key = ?");
      this.#count = this.#db.prepare("SELECT count(*) AS n FROM messages WHERE room_key = ?");
      this.#trimBatch = this.#db.prepare(
        `SELECT max(id) AS n FROM
           (SELECT id FROM messages WHERE room_key = ? ORDER BY id LIMIT ?)`,
      );
      this.#trimDelete = this.#db.prepare("DELETE FROM messages WHERE room_key = ? AND id <= ?");
      this.#setTrimmed = this.#db.prepare(
        `INSERT INTO rooms (key, trimmed_to) VALUES (?, ?)
         ON CONFLICT (key) DO UPDATE SET trimmed_to = max(trimmed_to, excluded.trimmed_to)`,
      );
      this.#begin = this.#db.prepare("BEGIN");
      this.#commit = this.#db.prepare("COMMIT");
      this.#rollback = this.#db.prepare("ROLLBACK");
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
      const reserved = this.#db.prepare("SELECT value FROM meta WHERE key = 'reserved_id'").get();
      this.#reserved = Math.max(int(reserved?.value ?? 0), maxId, stored);
      this.#next = this.#reserved + 1;
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

  append(key: string, m: RoomMessage): void {
    this.#insert.run(m.id, m.ts, key, m.room, m.from, m.text, kindOf(m), searchFold(m.text));
    // Stored: from here on, nothing may report it as not sent.
    try {
      // Counted first: range() finds the window's edge by the count.
      const rows = this.#counted(key);
      if (this.#lastIdFile !== undefined) {
        this.#lastIdBytes[0] = m.id;
        writeSync(this.#lastIdFile, this.#lastIdBytes, 0, 8, 0);
      }
      if (rows >= this.#keep + TRIM_EVERY) this.#trim(key, rows);
    } catch (e) {
      this.#log.error("cannot keep the history's bookkeeping", { error: errorText(e) });
    }
  }

  recent(key: string, count: number): RoomMessage[] {
    const n = this.#bound(count);
    return n > 0 ? this.#recent.all(key, n).map(toMessage).reverse() : [];
  }

  after(key: string, after: number, limit: number): Backlog<RoomMessage> {
    // One row more than may be returned: if it is there, something after
    // `after` is left out, past the limit or past the newest `keep`.
    const n = this.#bound(limit);
    const rows = this.#after.all(key, after, n + 1);
    const messages = rows.slice(0, n).map(toMessage).reverse();
    const trimmedTo = int(this.#room.get(key)?.trimmed_to ?? 0);
    return { messages, gap: rows.length > n || trimmedTo > after };
  }

  range(key: string, query: RangeQuery): RoomMessage[] {
    const limit = Math.min(rangeLimit(query.limit), this.#keep);
    if (limit === 0) return [];
    const { after, before } = query;
    // Never below the window's oldest message, whatever the bounds.
    const floor = this.#oldestKept(key);
    const afterId = Math.max(after !== undefined && "id" in after ? after.id : -1, floor - 1);
    const rows = (query.from === "oldest" ? this.#rangeUp : this.#rangeDown).all(
      key,
      afterId,
      before !== undefined && "id" in before ? before.id : Infinity,
      after !== undefined && "ts" in after ? after.ts : -Infinity,
      before !== undefined && "ts" in before ? before.ts : Infinity,
      limit,
    );
    const messages = rows.map(toMessage);
    return query.from === "oldest" ? messages : messages.reverse();
  }

  search(keys: readonly string[], folded: string, limit: number): RoomMessage[] {
    const n = Math.min(searchLimit(limit), this.#keep);
    if (n === 0) return [];
    // Room by room through its index, newest first, from the edge of its
    // window: each stops at `n` matches, or after its `keep` rows.
    const found = keys.map((key) =>
      this.#search.all(key, this.#oldestKept(key), folded, n).map(toMessage)
    );
    return newestOf(found, n);
  }

  searchStep(
    key: string,
    folded: string,
    limit: number,
    before: number | undefined,
    rows: number,
  ): { messages: RoomMessage[]; before: number | undefined } {
    const n = Math.min(searchLimit(limit), this.#keep);
    const floor = this.#oldestKept(key);
    const below = before ?? Infinity;
    const edge = this.#stepEdge.get(key, floor, below, Math.max(1, Math.floor(rows)));
    const low = edge?.low;
    if (n === 0 || typeof low !== "number") return { messages: [], before: undefined };
    const messages = this.#stepSearch.all(key, low, below, folded, n).map(toMessage);
    const more = Number(edge?.n) >= rows && low > floor;
    return { messages, before: more ? low : undefined };
  }

  topic(key: string): Topic | undefined {
    const row = this.#room.get(key);
    if (row === undefined || row.topic_text === null) return undefined;
    return { text: str(row.topic_text), by: str(row.topic_by), ts: int(row.topic_ts) };
  }

  setTopic(key: string, topic: Topic | undefined): void {
    if (topic === undefined) this.#setTopic.run(key, null, null, null);
    else this.#setTopic.run(key, topic.text, topic.by, topic.ts);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
    if (this.#lastIdFile !== undefined) closeSync(this.#lastIdFile);
  }

  /** How many of a room's messages a read may return when asked for `count`. */
  #bound(count: number): number {
    const n = Math.min(Math.floor(count), this.#keep);
    return n > 0 ? n : 0;
  }

  /**
   * Counts an append to room `key` and returns the rows it now holds: one
   * more than known, or, for a room not kept count of, counted (the row
   * just inserted included).
   */
  #counted(key: string): number {
    const known = this.#rows.get(key);
    if (known === undefined) return this.#rowsOf(key);
    this.#rows.set(key, known + 1);
    return known + 1;
  }

  /**
   * The rows room `key` holds: the count kept since the room was first
   * written to or read after the start, or counted now. At most
   * {@linkcode ROOMS_COUNTED} rooms are kept count of; one forgotten is
   * counted again when next needed.
   */
  #rowsOf(key: string): number {
    const known = this.#rows.get(key);
    if (known !== undefined) return known;
    if (this.#rows.size >= ROOMS_COUNTED) this.#rows.delete(this.#rows.keys().next().value!);
    const rows = int(this.#count.get(key)?.n ?? 0);
    this.#rows.set(key, rows);
    return rows;
  }

  /**
   * The id of room `key`'s oldest message within `keep`, found from the
   * oldest end (past `keep` there are at most a few trims' worth); 0 when
   * the room holds no more than `keep`.
   */
  #oldestKept(key: string): number {
    const excess = this.#rowsOf(key) - this.#keep;
    return excess > 0 ? int(this.#edge.get(key, excess)?.id ?? 0) : 0;
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
   * Deletes what is past room `key`'s retention, at most
   * {@linkcode TRIM_BATCH} rows per call: after `keep` is lowered, the
   * backlog goes over many appends. The rows and the room's `trimmed_to`
   * change together, or not at all.
   */
  #trim(key: string, rows: number): void {
    const excess = Math.min(rows - this.#keep, TRIM_BATCH);
    const cut = int(this.#trimBatch.get(key, excess)?.n ?? 0);
    this.#begin.run();
    try {
      const { changes } = this.#trimDelete.run(key, cut);
      this.#setTrimmed.run(key, cut);
      this.#commit.run();
      this.#rows.set(key, rows - Number(changes));
    } catch (e) {
      if (this.#db.isTransaction) this.#rollback.run();
      throw e;
    }
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

function toMessage(row: Record<string, unknown>): RoomMessage {
  const m: RoomMessage = {
    type: "message",
    id: int(row.id),
    ts: int(row.ts),
    room: str(row.room),
    from: str(row.sender),
    text: str(row.text),
  };
  const kind = int(row.action);
  if (kind === ACTION) m.action = true;
  else if (kind === NOTICE) m.notice = true;
  return m;
}

/** A message's `action` column. */
function kindOf(m: RoomMessage): number {
  return m.action ? ACTION : m.notice ? NOTICE : 0;
}
