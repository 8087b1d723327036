/**
 * The operator console's list of connections (`/who`, `/conns`), as the seed's
 * server window listed its clients: one row per connection, with who it is,
 * how and where from it is connected, since when, how long it has been
 * silent and what waits to be sent to it.
 *
 * ```
 * -- 3 connections: 2 joined, 1 not joined
 * --   NICK          VIA       ADDRESS    CONNECTED            IDLE   QUEUED
 * --   alice         web       127.0.0.1  09:58:01 (1h 02m)    4s     0 B
 * --   小明          terminal  10.0.0.7   10:59:40 (1m 20s)    1m 20s 1,204 B
 * --   (not joined)  irc       10.0.0.9   11:00:55 (5s)        5s     0 B
 * ```
 *
 * Pure: rows and the clock in, lines out. A row's text is a nickname (checked
 * when it was taken), an address and figures, so nothing in it can break a
 * line; columns are measured in terminal columns, so wide characters line up.
 * The rows are bounded ({@linkcode TABLE_ROWS}), so a server with thousands
 * of connections prints a screenful and a count of the rest.
 *
 * @module
 */

import type { Via } from "../common/protocol.ts";
import { clock, counted } from "../common/wording.ts";
import { columns, padColumns } from "./columns.ts";

/** One connection as the table shows it. */
export interface ConnectionRow {
  /** Undefined for a connection that has not joined. */
  nick: string | undefined;
  via: Via;
  /** Undefined for a member not connected to this server (another node's). */
  address: string | undefined;
  /** When it was accepted, in milliseconds since the epoch. */
  since: number | undefined;
  /** When its peer last asked for something. */
  heard: number | undefined;
  /** Bytes queued for it and not yet taken. */
  queued: number;
}

/** Most rows printed; the rest are counted. */
export const TABLE_ROWS = 50;

/** What an unjoined connection shows as its nickname. */
export const NOT_JOINED = "(not joined)";

const HEADERS = ["NICK", "VIA", "ADDRESS", "CONNECTED", "IDLE", "QUEUED"] as const;

/** "45s", "4m 05s", "3h 05m", "2d 03h": how long, to the unit that matters. */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const two = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${two(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d ${two(Math.floor(s / 3600) % 24)}h`;
}

/**
 * Joined connections first, by nickname, then the others, oldest first: the
 * order an operator looks for a name in, and the longest-silent at the top of
 * those that never said one.
 */
export function sortRows(rows: ConnectionRow[]): ConnectionRow[] {
  return rows.sort((a, b) => {
    if (a.nick !== undefined && b.nick !== undefined) {
      return a.nick.localeCompare(b.nick, "en", { sensitivity: "base" });
    }
    if (a.nick !== undefined || b.nick !== undefined) return a.nick === undefined ? 1 : -1;
    return (a.since ?? 0) - (b.since ?? 0);
  });
}

/**
 * The table's lines under `title`, each starting `--` as the console's
 * answers do: a header and at most `max` rows, then "… and N more".
 */
export function connectionTable(
  title: string,
  rows: readonly ConnectionRow[],
  now: number,
  max = TABLE_ROWS,
): string[] {
  const shown = rows.slice(0, max);
  const cells = shown.map((row) => [
    row.nick ?? NOT_JOINED,
    row.via,
    row.address ?? "-",
    row.since === undefined ? "-" : `${clock(row.since, true)} (${age(now - row.since)})`,
    row.heard === undefined ? "-" : age(now - row.heard),
    `${row.queued.toLocaleString("en-US")} B`,
  ]);
  const table = [[...HEADERS], ...cells];
  const widths = HEADERS.map((_, i) => Math.max(...table.map((r) => columns(r[i] ?? ""))));
  const lines = [
    `-- ${title}`,
    ...table.map((r) =>
      `--   ${
        r.map((cell, i) => i === r.length - 1 ? cell : padColumns(cell, widths[i]!)).join("  ")
      }`
    ),
  ];
  if (rows.length > shown.length) {
    lines.push(`--   … and ${counted(rows.length - shown.length, "more connection")}`);
  }
  return lines;
}
