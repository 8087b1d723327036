/**
 * How members and presence read in words, the same on a terminal, in the
 * operator console and in the page: "alice (web), bob (terminal)", "3 joined
 * (612 here)", "09:58".
 *
 * Browser compatible: no Deno APIs.
 *
 * @module
 */

import type { MemberInfo, PresenceEvent } from "./protocol.ts";

/** "1 room", "3 rooms", "1,000 connections": a count and its noun, in the plural unless one. */
export function counted(n: number, noun: string): string {
  return `${n.toLocaleString("en-US")} ${noun}${n === 1 ? "" : "s"}`;
}

/** `HH:MM` in the server's local time; `HH:MM:SS` with `seconds`. */
export function clock(ts: number, seconds = false): string {
  const d = new Date(ts);
  const minutes = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return seconds ? `${minutes}:${pad(d.getSeconds())}` : minutes;
}

/** `YYYY-MM-DD HH:MM` in the local time: when a line found by a search, maybe long ago, was said. */
export function dateClock(ts: number): string {
  const d = new Date(ts);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(ts)}`;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/**
 * "alice (web), bob (terminal)"; past `max` names, "…, and 9,970 more (/who
 * lists all)", counting `unlisted` members not in `members` as more too.
 */
export function memberList(members: readonly MemberInfo[], max = Infinity, unlisted = 0): string {
  const shown = members.length > max ? members.slice(0, max) : members;
  const rest = members.length - shown.length + unlisted;
  return andMore(shown.map(nickAndVia), rest, " (/who lists all)");
}

/** "alice (web)". */
function nickAndVia(m: MemberInfo): string {
  return `${m.nick} (${m.via})`;
}

/** "a, b, c", or "a, b, c, and 1,234 more" and the hint. */
function andMore(names: readonly string[], more: number, hint = ""): string {
  const listed = names.join(", ");
  return more <= 0 ? listed : `${listed}, and ${more.toLocaleString("en")} more${hint}`;
}

/**
 * A presence summary in words: "alice (web), bob (terminal) joined; carol
 * left (612 here)", or, when more came than it names, "1,957 joined (alice
 * (web), …, and 1,947 more)". For terminals and the page alike.
 */
export function presenceText(event: PresenceEvent): string {
  const parts: string[] = [];
  if (event.joins > 0) parts.push(`${some(event.joined.map(nickAndVia), event.joins)} joined`);
  if (event.leaves > 0) parts.push(`${some(event.left, event.leaves)} left`);
  return `${parts.join("; ")} (${event.count.toLocaleString("en")} here)`;
}

/** The names, or how many there were and the first few names. */
function some(names: readonly string[], total: number): string {
  if (total <= names.length) return names.join(", ");
  return `${total.toLocaleString("en")} (${andMore(names, total - names.length)})`;
}
