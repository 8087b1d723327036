import assert from "node:assert/strict";
import {
  age,
  type ConnectionRow,
  connectionTable,
  NOT_JOINED,
  sortRows,
  TABLE_ROWS,
} from "../server/console_table.ts";
import { columns } from "../server/columns.ts";

const NOW = new Date(2026, 11, 5, 12, 0, 0).getTime();

function row(
  nick: string | undefined,
  sinceSecondsAgo: number,
  extra: Partial<ConnectionRow> = {},
) {
  const since = NOW - sinceSecondsAgo * 1000;
  return {
    nick,
    via: "web",
    address: "10.0.0.1",
    since,
    heard: since,
    queued: 0,
    ...extra,
  } as const;
}

Deno.test("age() says how long to the unit that matters", () => {
  assert.deepEqual(
    [0, 45_999, 245_000, 11_100_000, 2 * 86_400_000 + 3 * 3_600_000, -5].map(age),
    ["0s", "45s", "4m 05s", "3h 05m", "2d 03h", "0s"],
  );
});

Deno.test("connectionTable() lines up its columns, wide nicknames included", () => {
  const lines = connectionTable("3 connections:", [
    row("alice", 3_720, { heard: NOW - 4_000, queued: 1_204 }),
    row("小明", 80, { via: "terminal", address: "10.0.0.7" }),
    row(undefined, 5, { via: "irc", address: "2001:db8::1" }),
  ], NOW);
  assert.deepEqual(lines, [
    "-- 3 connections:",
    "--   NICK          VIA       ADDRESS      CONNECTED          IDLE    QUEUED",
    "--   alice         web       10.0.0.1     10:58:00 (1h 02m)  4s      1,204 B",
    "--   小明          terminal  10.0.0.7     11:58:40 (1m 20s)  1m 20s  0 B",
    `--   ${NOT_JOINED}  irc       2001:db8::1  11:59:55 (5s)      5s      0 B`,
  ]);
  // 小明 is four columns: padded with two spaces fewer than its length says.
  assert.equal(
    columns(lines[3]!.slice(0, lines[3]!.indexOf("terminal"))),
    lines[2]!.indexOf("web"),
  );
});

Deno.test("connectionTable() shows a member of another node with dashes", () => {
  const lines = connectionTable("1 in #dev:", [
    { nick: "bob", via: "irc", address: undefined, since: undefined, heard: undefined, queued: 0 },
  ], NOW);
  assert.match(lines[2] ?? "", /^-- {3}bob +irc +- +- +- +0 B$/);
});

Deno.test("connectionTable() prints at most TABLE_ROWS rows and counts the rest", () => {
  const rows = Array.from({ length: 1_234 }, (_, i) => row(`m${i}`, i));
  const lines = connectionTable("many:", rows, NOW);
  assert.equal(lines.length, 2 + TABLE_ROWS + 1);
  assert.equal(lines.at(-1), "--   … and 1,184 more connections");
  assert.equal(
    connectionTable("one more:", rows.slice(0, TABLE_ROWS + 1), NOW).at(-1),
    "--   … and 1 more connection",
  );
});

Deno.test("sortRows() puts members first by nickname, any case, then the unjoined oldest first", () => {
  const sorted = sortRows([
    row(undefined, 5, { address: "new" }),
    row("bob", 1),
    row(undefined, 50, { address: "old" }),
    row("Alice", 2),
    row("carol", 3),
  ]);
  assert.deepEqual(sorted.map((r) => r.nick ?? r.address), ["Alice", "bob", "carol", "old", "new"]);
});
