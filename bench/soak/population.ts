/**
 * The soak's population over one round: members ramp up to `--members` over
 * the first fifth of the run, churn (each stays a random 1/4 to 7/4 of
 * `--stay` and is replaced), and ramp down to zero over the last fifth;
 * each is in 1 to 3 of the `--rooms` rooms, and some (the movers) enter and
 * part rooms every few seconds while there; random members send `--rate`
 * messages a second in all, each to one of its rooms; each member goes to a
 * node picked at random; a progress line every ten seconds.
 *
 * @module
 */

import { type Memory, memoryKiB } from "../measure.ts";
import { ledger, totals } from "./ledger.ts";
import {
  MIX_MOVERS,
  MIX_RAW_WS,
  MIX_TCP,
  MOVE_EVERY_S,
  observerCount,
  type Options,
  RAMP_SHARE,
  roomName,
  ROOMS_PER_MEMBER,
  STAY_SPREAD,
} from "./options.ts";
import type { Peer } from "./peer.ts";
import { problemCount } from "./problems.ts";
import { count, mib } from "./report.ts";
import type { Node } from "./service.ts";
import { RawWsPeer, TcpPeer, WsPeer } from "./transports.ts";

/** How often the population is adjusted toward its target. */
const CONTROL_MS = 100;
/** Most members started in one adjustment, so a catch-up does not stampede. */
const SPAWN_MAX = 100;
/** How often senders are picked (`--rate` is spread over these ticks). */
const SEND_MS = 20;
/** How often a progress line is printed. */
const PROGRESS_MS = 10_000;
/** Wait after everyone has left before the last memory reading, for the GC. */
export const SETTLE_MS = 5_000;

/** What one round of {@linkcode drive} saw. */
export interface Round {
  /** Every member who came and went. */
  peers: Peer[];
  /** Each node's memory in the middle of the steady part, and who was there then. */
  peak: Memory[];
  peakMembers: number;
  /** Each node's highest VmRSS among the progress readings. */
  highest: number[];
  /** Each node's memory once everyone but the observers has left, after a settle. */
  after: Memory[];
}

/** The memory of every node now, in their order. */
export function memories(nodes: readonly Node[]): Promise<Memory[]> {
  return Promise.all(nodes.map((node) => memoryKiB(node.pid)));
}

/** The population at `t` seconds: up, steady, down to nothing. */
function target(options: Options, t: number): number {
  const ramp = options.seconds * RAMP_SHARE;
  const share = Math.min(1, t / ramp, (options.seconds - t) / ramp);
  return Math.max(0, Math.round(options.members * share));
}

/** Members started so far, over all rounds: each gets a fresh nickname. */
let spawned = 0;

/** 1 to {@linkcode ROOMS_PER_MEMBER} of the `count` rooms, at random. */
function someRooms(count: number): string[] {
  const names = Array.from({ length: count }, (_, i) => roomName(i));
  const picked: string[] = [];
  const n = Math.min(count, 1 + Math.floor(Math.random() * ROOMS_PER_MEMBER));
  while (picked.length < n) {
    const [name] = names.splice(Math.floor(Math.random() * names.length), 1);
    picked.push(name!);
  }
  return picked;
}

/**
 * The next member to come: out of every ten, the mix set by MIX_TCP and
 * MIX_RAW_WS; to a node at random (a turn would tie a kind to a node).
 */
function newcomer(nodes: readonly Node[], rooms: number): Peer {
  const n = spawned++;
  const mix = n % 10;
  const into = someRooms(rooms);
  const node = nodes[Math.floor(Math.random() * nodes.length)]!;
  if (mix < MIX_TCP) {
    // Every other terminal quits; the rest drop the connection.
    return new TcpPeer(`t${n}`, n % 20 < 10 ? "quit" : "drop", false, node, into);
  }
  if (mix < MIX_TCP + MIX_RAW_WS) return new RawWsPeer(`r${n}`, node, into);
  return new WsPeer(`w${n}`, false, node, into);
}

/** Does member number `n` move between rooms? Out of every ten, MIX_MOVERS, across the mix. */
function moves(n: number): boolean {
  return Math.floor(n / 10) % 10 < MIX_MOVERS;
}

/** Moves `peer` now and then while it is there. */
function keepMoving(peer: Peer, rooms: number): void {
  const [low, high] = MOVE_EVERY_S;
  peer.moveTimer = setTimeout(() => {
    if (peer.state !== "live") return;
    peer.move(rooms, ROOMS_PER_MEMBER, roomName);
    keepMoving(peer, rooms);
  }, (low + Math.random() * (high - low)) * 1000);
}

/** One progress line: where the run is, who is there, what was sent and received. */
function progressLine(
  label: string,
  options: Options,
  churners: Iterable<Peer>,
  rss: number[],
): string {
  let live = observerCount(options);
  let joining = 0;
  let leaving = 0;
  for (const peer of churners) {
    if (peer.state === "live") live++;
    else if (peer.state === "joining") joining++;
    else if (peer.state === "leaving") leaving++;
  }
  return `soak: ${label}  members ${count(live)} (+${joining} joining, ${leaving} leaving)  ` +
    `sent ${count(ledger.length)}  delivered ${count(totals.delivered)}  ` +
    `rss ${rss.map(mib).join(" + ")} MiB  ` +
    `problems ${problemCount()}`;
}

/** Runs one round of members against the nodes; resolves when all of them are done. */
export async function drive(
  options: Options,
  nodes: readonly Node[],
  round: number,
): Promise<Round> {
  const finished: Peer[] = [];
  const churners = new Set<Peer>();
  let peak: Promise<Memory[]> | undefined;
  let peakMembers = 0;
  const start = performance.now();
  const elapsed = () => (performance.now() - start) / 1000;
  const everyoneLeft = Promise.withResolvers<void>();

  const spawn = () => {
    const mover = moves(spawned);
    const peer = newcomer(nodes, options.rooms);
    churners.add(peer);
    peer.gone.then(() => {
      clearTimeout(peer.stayTimer);
      clearTimeout(peer.moveTimer);
      churners.delete(peer);
      finished.push(peer);
    });
    peer.join().then((ok) => {
      if (!ok) return;
      const [low, high] = STAY_SPREAD;
      const stay = options.stay * (low + Math.random() * (high - low));
      peer.stayTimer = setTimeout(() => {
        clearTimeout(peer.moveTimer);
        peer.leave();
      }, stay * 1000);
      if (mover) keepMoving(peer, options.rooms);
    });
  };

  const control = setInterval(() => {
    const t = elapsed();
    let active = observerCount(options);
    const live: Peer[] = [];
    for (const peer of churners) {
      if (peer.state === "joining") active++;
      if (peer.state === "live") live.push(peer);
    }
    active += live.length;
    const wanted = t >= options.seconds ? 0 : target(options, t);
    for (let i = 0; i < Math.min(SPAWN_MAX, wanted - active); i++) spawn();
    for (let excess = active - wanted; excess > 0 && live.length > 0; excess--) {
      const i = Math.floor(Math.random() * live.length);
      const [peer] = live.splice(i, 1);
      peer?.leave();
    }
    if (!peak && t >= options.seconds / 2) {
      peak = memories(nodes);
      peakMembers = observerCount(options) + live.length;
    }
    if (t >= options.seconds && churners.size === 0) everyoneLeft.resolve();
  }, CONTROL_MS);

  let quota = 0;
  let last = performance.now();
  const send = setInterval(() => {
    const now = performance.now();
    quota += (options.rate * (now - last)) / 1000;
    last = now;
    if (elapsed() >= options.seconds) return;
    const live = [...churners].filter((p) => p.state === "live");
    if (live.length === 0) quota = Math.min(quota, 1);
    for (; quota >= 1 && live.length > 0; quota--) {
      live[Math.floor(Math.random() * live.length)]?.say(ledger.length);
    }
  }, SEND_MS);

  const highest = nodes.map(() => 0);
  const progress = setInterval(async () => {
    const rss = (await memories(nodes)).map((m) => m.rss);
    rss.forEach((kib, i) => highest[i] = Math.max(highest[i]!, kib));
    const at = `${elapsed().toFixed(0).padStart(4)} s`;
    const label = options.rounds > 1 ? `round ${round + 1} ${at}` : at;
    console.error(progressLine(label, options, churners, rss));
  }, PROGRESS_MS);

  try {
    await everyoneLeft.promise;
  } finally {
    clearInterval(control);
    clearInterval(send);
    clearInterval(progress);
  }
  const peakMemory = await (peak ?? memories(nodes));
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  return {
    peers: finished,
    peak: peakMemory,
    peakMembers,
    highest,
    after: await memories(nodes),
  };
}
