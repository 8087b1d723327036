/**
 * The soak's report: one Markdown table of what the run did and measured,
 * then the problems, if any, with examples.
 *
 * @module
 */

import type { Memory } from "../measure.ts";
import { type Check, check, emptyCheck } from "./checks.ts";
import { ledger, totals } from "./ledger.ts";
import {
  MIX_MOVERS,
  MOVE_EVERY_S,
  observerCount,
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

/** Memory readings and CPU times, for the report; per node, in the nodes' order. */
export interface Readings {
  before: Memory[];
  /** One per round: the observers are still there at its end. */
  rounds: Round[];
  /** After the last round, when the observers have left too. */
  after: Memory[];
  serverCpu: number[];
  /** The `redis-server` under the nodes (`--nodes` 2 or more): its memory at the end, its CPU time. */
  redis: { after: Memory; cpu: number } | undefined;
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

/** `row` as a list of one row if `wanted`, else none: for rows only some runs have. */
function onlyIf(wanted: boolean, row: [string, string]): [string, string][] {
  return wanted ? [row] : [];
}

/** CPU seconds as "12.3 s, 45% of one core" over a run of `seconds`. */
function cpu(used: number, seconds: number): string {
  return `${used.toFixed(1)} s, ${(100 * used / seconds).toFixed(0)}% of one core`;
}

/** The rows about each node's memory and CPU: "server ..." when it is alone. */
function nodeRows(options: Options, r: Readings): [string, string][] {
  const rows: [string, string][] = [];
  for (let i = 0; i < options.nodes; i++) {
    const name = options.nodes > 1 ? `node ${i + 1}` : "server";
    const first = r.rounds[0];
    const before = r.before[i]!;
    const after = r.after[i]!;
    rows.push([
      `${name} RSS: before / at peak / after (VmRSS)`,
      `${mib(before.rss)} / ${first ? mib(first.peak[i]!.rss) : "?"} (${
        count(first?.peakMembers ?? 0)
      } members${options.nodes > 1 ? " on all nodes" : ""}) / ${mib(after.rss)} MiB`,
    ]);
    if (options.rounds > 1) {
      rows.push([
        `${name} RSS after each round (observers still in)`,
        `${r.rounds.map((round) => mib(round.after[i]!.rss)).join(" / ")} MiB`,
      ]);
    }
    const highest = Math.max(...r.rounds.map((round) => round.highest[i]!));
    rows.push([
      `${name} RSS: highest sampled / VmHWM`,
      `${mib(highest)} / ${mib(after.hwm)} MiB`,
    ]);
    rows.push([`${name} CPU (user + system)`, cpu(r.serverCpu[i]!, r.seconds)]);
  }
  if (r.redis) {
    rows.push([
      "redis-server RSS after / VmHWM; CPU (user + system)",
      `${mib(r.redis.after.rss)} / ${mib(r.redis.after.hwm)} MiB; ${cpu(r.redis.cpu, r.seconds)}`,
    ]);
  }
  return rows;
}

/** Prints the report; true if nothing was lost or duplicated and nothing went wrong. */
export function report(options: Options, peers: Peer[], r: Readings): boolean {
  const observers = emptyCheck();
  const churners = emptyCheck();
  // Each node's observers, checked apart too: together they must have every accepted message.
  const byNode: Check[] = Array.from({ length: options.nodes }, emptyCheck);
  for (const peer of peers) {
    check(peer, peer.observer ? observers : churners);
    if (peer.observer) check(peer, byNode[peer.node.index]!);
  }
  const accepted = ledger.filter((s) => s.accepted).length;
  const byKind = (kind: Kind) => peers.filter((p) => p.kind === kind && !p.observer).length;
  const byStyle = (style: Style) => peers.filter((p) => p.style === style && !p.observer).length;
  const errors = problemCount();
  const breakdown = PROBLEMS.filter((p) => problemsOf(p) > 0)
    .map((p) => `${p} ${problemsOf(p)}`).join(", ");
  const [low, high] = STAY_SPREAD.map((k) => Math.round(k * options.stay));
  const movers = peers.filter((p) => p.moves > 0).length;
  const moves = peers.reduce((n, p) => n + p.moves, 0);
  const several = options.nodes > 1;
  const onNode = (i: number) => peers.filter((p) => p.node.index === i && !p.observer).length;
  const nodes = Array.from({ length: options.nodes }, (_, i) => i);
  const rows: [string, string][] = [
    [
      "run",
      `${options.seconds} s${options.rounds > 1 ? ` × ${options.rounds} rounds` : ""}, ${
        count(options.members)
      } members at peak, ${options.rate} messages/s offered, stays ${low}–${high} s` +
      (several ? `, ${options.nodes} nodes over one Redis` : ""),
    ],
    [
      "members who came and went",
      `${count(peers.length - observerCount(options))}: ${count(byKind("ws"))} WebSocket, ` +
      `${count(byKind("raw"))} WebSocket on a bare socket, ${count(byKind("tcp"))} terminal`,
    ],
    ...onlyIf(several, [
      "members who came and went, by node",
      nodes.map((i) => count(onNode(i))).join(" / "),
    ]),
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
      `${OBSERVERS_WS} WebSocket, ${OBSERVERS_TCP} terminal, each in a third of the rooms` +
      (several ? `, on each node` : ""),
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
    ...onlyIf(several, [
      "observers' deliveries owed / lost, node by node",
      byNode.map((c, i) => `node ${i + 1}: ${count(c.owed)} / ${count(c.lost)}`).join("; "),
    ]),
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
    ...nodeRows(options, r),
    ["load generator CPU (user + system)", cpu(r.ownCpu, r.seconds)],
  ];
  console.log(`## Soak\n\n| measure | value |\n| --- | --- |`);
  for (const [name, value] of rows) console.log(`| ${name} | ${value} |`);
  showProblems();
  const clean = [observers, churners].every((c) =>
    c.lost + c.duplicated + c.strays + c.disordered === 0
  );
  return clean && errors === 0;
}
