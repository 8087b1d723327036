/**
 * The soak's report: one Markdown table of what the run did and measured,
 * then the problems, if any, with examples.
 *
 * @module
 */

import type { Memory } from "../measure.ts";
import { check, emptyCheck } from "./checks.ts";
import { ledger, totals } from "./ledger.ts";
import {
  MIX_MOVERS,
  MOVE_EVERY_S,
  OBSERVERS_TCP,
  OBSERVERS_WS,
  type Options,
  roomName,
  ROOMS_PER_MEMBER,
  STAY_SPREAD,
} from "./options.ts";
import type { Kind, Peer, Style } from "./peer.ts";
import type { Round } from "./population.ts";
import { problemCount, PROBLEMS, problemsOf, showProblems } from "./problems.ts";

/** Memory readings and CPU times, for the report. */
export interface Readings {
  before: Memory;
  /** One per round: the observers are still there at its end. */
  rounds: Round[];
  /** After the last round, when the observers have left too. */
  after: Memory;
  serverCpu: number;
  ownCpu: number;
  seconds: number;
}

/** A count with thousands separated: 12,345. */
export function count(n: number): string {
  return n.toLocaleString("en");
}

/** KiB as MiB, one decimal. */
export function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}

/** Join times of those who got in, as "p50 / p99 / max ms". */
function joinTimes(peers: Peer[]): string {
  const ms = peers.map((p) => p.joinMs).filter((t) => !Number.isNaN(t));
  ms.sort((a, b) => a - b);
  const at = (q: number) =>
    (ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? NaN).toFixed(0);
  return `${at(0.5)} / ${at(0.99)} / ${at(1)} ms`;
}

/** Prints the report; true if nothing was lost or duplicated and nothing went wrong. */
export function report(options: Options, peers: Peer[], r: Readings): boolean {
  const observers = emptyCheck();
  const churners = emptyCheck();
  for (const peer of peers) check(peer, peer.observer ? observers : churners);
  const accepted = ledger.filter((s) => s.accepted).length;
  const byKind = (kind: Kind) => peers.filter((p) => p.kind === kind && !p.observer).length;
  const byStyle = (style: Style) => peers.filter((p) => p.style === style && !p.observer).length;
  const errors = problemCount();
  const breakdown = PROBLEMS.filter((p) => problemsOf(p) > 0)
    .map((p) => `${p} ${problemsOf(p)}`).join(", ");
  const [low, high] = STAY_SPREAD.map((k) => Math.round(k * options.stay));
  const movers = peers.filter((p) => p.moves > 0).length;
  const moves = peers.reduce((n, p) => n + p.moves, 0);
  const first = r.rounds[0];
  const highest = Math.max(...r.rounds.map((round) => round.highest));
  const rows: [string, string][] = [
    [
      "run",
      `${options.seconds} s${options.rounds > 1 ? ` × ${options.rounds} rounds` : ""}, ${
        count(options.members)
      } members at peak, ${options.rate} messages/s offered, stays ${low}–${high} s`,
    ],
    [
      "members who came and went",
      `${count(peers.length - OBSERVERS_WS - OBSERVERS_TCP)}: ${count(byKind("ws"))} WebSocket, ` +
      `${count(byKind("raw"))} WebSocket on a bare socket, ${count(byKind("tcp"))} terminal`,
    ],
    [
      "how they left",
      `${count(byStyle("close"))} clean close, ${count(byStyle("quit"))} /quit, ` +
      `${count(byStyle("drop"))} dropped connection`,
    ],
    [
      "rooms",
      `${count(options.rooms)} (${roomName(0)}${
        options.rooms > 1 ? `, ${roomName(1)}–${roomName(options.rooms - 1)}` : ""
      }); each member in 1 to ${ROOMS_PER_MEMBER}; ${MIX_MOVERS} in 10 move every ` +
      `${MOVE_EVERY_S[0]}–${MOVE_EVERY_S[1]} s: ${count(movers)} moved, ${count(moves)} moves`,
    ],
    [
      "stays in a room begun / ended (welcome or entered / parted)",
      `${count(totals.entered)} / ${count(totals.parted)}`,
    ],
    [
      "observers, there all along",
      `${OBSERVERS_WS} WebSocket, ${OBSERVERS_TCP} terminal, each in a third of the rooms`,
    ],
    [
      "messages sent / accepted",
      `${count(ledger.length)} / ${count(accepted)}` +
      (accepted < ledger.length ? " (the rest: their sender was cut off first)" : ""),
    ],
    [
      "chat messages / presence events received",
      `${count(totals.delivered)} / ${count(totals.presence)}`,
    ],
    [
      "time to join, p50 / p99 / max: WebSocket; terminal",
      `${joinTimes(peers.filter((p) => p.kind !== "tcp"))}; ${
        joinTimes(peers.filter((p) => p.kind === "tcp"))
      }`,
    ],
    ["deliveries owed: observers / others", `${count(observers.owed)} / ${count(churners.owed)}`],
    ["**lost**: observers / others", `**${count(observers.lost)}** / **${count(churners.lost)}**`],
    [
      "duplicated: observers / others",
      `${count(observers.duplicated)} / ${count(churners.duplicated)}`,
    ],
    [
      "**from a room the member was not in**, or under another room's name: observers / others",
      `**${count(observers.strays)}** / **${count(churners.strays)}**`,
    ],
    [
      "out of order: observers / others",
      `${count(observers.disordered)} / ${count(churners.disordered)}`,
    ],
    ["**errors**", `**${errors}**${breakdown ? ` (${breakdown})` : ""}`],
    [
      "server RSS: before / at peak / after (VmRSS)",
      `${mib(r.before.rss)} / ${first ? mib(first.peak.rss) : "?"} (${
        count(first?.peakMembers ?? 0)
      } members) / ${mib(r.after.rss)} MiB`,
    ],
    ...(options.rounds > 1
      ? [[
        "server RSS after each round (observers still in)",
        `${r.rounds.map((round) => mib(round.after.rss)).join(" / ")} MiB`,
      ] as [string, string]]
      : []),
    ["server RSS: highest sampled / VmHWM", `${mib(highest)} / ${mib(r.after.hwm)} MiB`],
    [
      "server CPU (user + system)",
      `${r.serverCpu.toFixed(1)} s, ${(100 * r.serverCpu / r.seconds).toFixed(0)}% of one core`,
    ],
    [
      "load generator CPU (user + system)",
      `${r.ownCpu.toFixed(1)} s, ${(100 * r.ownCpu / r.seconds).toFixed(0)}% of one core`,
    ],
  ];
  console.log(`## Soak\n\n| measure | value |\n| --- | --- |`);
  for (const [name, value] of rows) console.log(`| ${name} | ${value} |`);
  showProblems();
  const clean = [observers, churners].every((c) =>
    c.lost + c.duplicated + c.strays + c.disordered === 0
  );
  return clean && errors === 0;
}
