/**
 * How a busy log reads: consecutive lines from one sender are grouped (the
 * name shown once), and each new day starts with a separator. Pure: no DOM;
 * `main.ts` asks for each message as it is added to a room's log.
 *
 * @module
 */

import type { ChatMessage } from "../common/protocol.ts";

/** Lines more than this apart start a new group even from the same sender. */
export const GROUP_GAP_MS = 5 * 60_000;

/** What a log remembers of its last line, to group the next one with it. */
export interface LastLine {
  /** The sender of a plain message, or undefined after anything else (a join, an action, a divider). */
  from: string | undefined;
  ts: number;
}

/** The local calendar day of a time, as a comparable key. */
export function dayOf(ts: number): string {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

/** True for a plain room message that continues the group of `last`. */
export function continues(last: LastLine | undefined, m: ChatMessage): boolean {
  return last !== undefined && last.from !== undefined && plain(m) && m.from === last.from &&
    m.ts - last.ts >= 0 && m.ts - last.ts < GROUP_GAP_MS && dayOf(m.ts) === dayOf(last.ts);
}

/** True if a day separator goes before a line at `ts`: the first line, or one on a new day. */
export function newDay(last: LastLine | undefined, ts: number): boolean {
  return last === undefined || dayOf(last.ts) !== dayOf(ts);
}

/** What to remember of a message just shown. */
export function lastOf(m: ChatMessage): LastLine {
  return { from: plain(m) ? m.from : undefined, ts: m.ts };
}

/** "Today", "Yesterday", or the date in words ("Saturday, 5 December 2026"). */
export function dayLabel(ts: number, now: number): string {
  if (dayOf(ts) === dayOf(now)) return "Today";
  if (dayOf(ts) === dayOf(now - 86_400_000)) return "Yesterday";
  return new Date(ts).toLocaleDateString(undefined, {
    weekday: "long",
    day: "numeric",
    month: "long",
    year: "numeric",
  });
}

function plain(m: ChatMessage): boolean {
  return m.to === undefined && !m.action && !m.notice;
}
