/**
 * The SQLite schema of version 1 (one room, before rooms), exactly as the
 * code of that version wrote it (`git show 5058f6f:server/history/sqlite.ts`),
 * kept apart from the store's own migrations so that a test of the migration
 * does not change when they do. `user_version` is the caller's to set.
 *
 * @module
 */

/** The DDL of a version-1 database. */
export const SCHEMA_V1 = `CREATE TABLE messages (
     id INTEGER PRIMARY KEY,
     ts INTEGER NOT NULL,
     sender TEXT NOT NULL,
     text TEXT NOT NULL,
     action INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
   INSERT INTO meta (key, value) VALUES ('reserved_id', 0), ('trimmed_to', 0);`;
