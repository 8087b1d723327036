/**
 * The scenarios `deno task bench` runs against each server: fan-out under
 * bursts, latency at a fixed offered load, the same two in many rooms at
 * once (ours only), memory per idle member, and the most members held. Each
 * starts its own server and generators and stops them before it returns.
 *
 * @module
 */

import { CpuMeter, openFiles, percentile, rssKiB, type Spread, spread } from "./measure.ts";
import { GeneratorPool } from "./pool.ts";
import {
  GENERATOR_CPU,
  kindOf,
  opensAtOnce,
  type RunningServer,
  SERVER_CPU,
  startServer,
  type TargetName,
} from "./servers.ts";
import { type Endpoints, wallNow } from "./clients.ts";
import type { MemberSpec } from "./generator.ts";

/** Prints a progress line. */
export type Progress = (line: string) => void;

/** The longest one burst, one latency run or one step of filling a room may take. */
const PHASE_TIMEOUT_MS = 60_000;

/** How long a room is left to settle (join notices delivered) before it is measured. */
const SETTLE_MS = 500;

function roomOf(target: TargetName, count: number, from = 0): MemberSpec[] {
  return Array.from({ length: count }, (_, k) => {
    const i = from + k;
    return { name: `m${i}`, kind: kindOf(target, i) };
  });
}

/** The name of room `r` of the rooms scenario. */
export function roomName(r: number): string {
  return `#r${r}`;
}

/**
 * `rooms` rooms of `perRoom` members each, every member in one of them only:
 * member `m(r × perRoom + s)` is seat `s` of room `#r<r>`. Numbered across
 * the rooms, so the server-wide mix of transports is the one-room scenario's.
 */
function roomsOf(target: TargetName, rooms: number, perRoom: number): MemberSpec[] {
  return roomOf(target, rooms * perRoom).map((m, i) => ({
    ...m,
    room: roomName(Math.floor(i / perRoom)),
    seat: i % perRoom,
  }));
}

/** Waits `ms` milliseconds: the bench paces its phases by the clock. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `body` with a fresh server and generator pool; stops both after. */
async function withRoom<T>(
  target: TargetName,
  dir: string,
  generators: number,
  body: (server: RunningServer, pool: GeneratorPool) => Promise<T>,
): Promise<T> {
  const server = await startServer(target, dir);
  const pool = new GeneratorPool(generators);
  try {
    return await body(server, pool);
  } finally {
    // The server first: members leaving one by one would each be announced
    // to all the others.
    await server.stop();
    await pool.stop();
  }
}

async function fill(
  pool: GeneratorPool,
  target: TargetName,
  server: RunningServer,
  members: MemberSpec[],
): Promise<void> {
  const opened = await pool.open(endpointsOf(server), members, opensAtOnce(target));
  if (opened.failed > 0) {
    throw new Error(
      `${opened.failed} of ${members.length} members could not join: ${opened.error}`,
    );
  }
}

/** Where members connect: each node's ports. */
function endpointsOf(server: RunningServer): Endpoints[] {
  return server.nodes.map((n) => n.endpoints);
}

/** Fan-out under bursts: what one room size measured on one server. */
export interface ThroughputResult extends CpuShares {
  target: TargetName;
  members: number;
  /** Members that send in a burst (all of them, unless the room is large). */
  senders: number;
  /** Messages each of them sends per burst. */
  perMember: number;
  /** Messages delivered per burst, all members together. */
  deliveries: number;
  /** Delivered messages per second, per measured burst. */
  rate: Spread;
  error?: string;
}

/** CPU shares over the measured runs (1 = a whole core). */
export interface CpuShares {
  serverCpu: number;
  generatorCpu: number;
  /** What other processes took of the server's core, and of the generator's. */
  otherServerCore: number;
  otherGeneratorCore: number;
  /** Of `serverCpu`, what Redis took (`ours-cluster` only). */
  redisCpu?: number;
}

const NO_CPU: CpuShares = {
  serverCpu: NaN,
  generatorCpu: NaN,
  otherServerCore: NaN,
  otherGeneratorCore: NaN,
};

/** Meters for the server, the generators and the rest of the machine. */
function cpuMeters(server: RunningServer, pool: GeneratorPool) {
  const meters = [
    new CpuMeter([...server.pids]),
    new CpuMeter(pool.pids),
    new CpuMeter([-1 - Number(SERVER_CPU)]),
    new CpuMeter([-1 - Number(GENERATOR_CPU)]),
    ...server.redis ? [new CpuMeter([server.redis.pid])] : [],
  ];
  return {
    async start() {
      await Promise.all(meters.map((m) => m.start()));
    },
    async stop(): Promise<CpuShares> {
      const [s, g, core0, core1, redis] = await Promise.all(meters.map((m) => m.stop()));
      return {
        serverCpu: s!,
        generatorCpu: g!,
        otherServerCore: Math.max(0, core0! - s!),
        otherGeneratorCore: Math.max(0, core1! - g!),
        ...redis === undefined ? {} : { redisCpu: redis },
      };
    },
  };
}

/** Options for {@linkcode throughput}. */
export interface ThroughputOptions {
  members: number;
  /** Aim for about this many deliveries per burst. */
  deliveries: number;
  runs: number;
  generators: number;
}

/** The warm-up burst aims at this fraction of the deliveries of a measured one. */
const WARMUP_SHARE = 3;
/** What a measured burst should take, at the warm-up's rate. */
const BURST_SECONDS = 2;
/** The fewest deliveries a measured burst aims at. */
const MIN_DELIVERIES = 50_000;

/**
 * A burst of about `deliveries`: every member sends the same number of
 * messages; when even one each is too many (large rooms), only the first
 * `senders` members send one.
 */
function burstShape(n: number, deliveries: number): { senders: number; perMember: number } {
  const perMember = Math.max(1, Math.round(deliveries / (n * n)));
  const senders = Math.min(n, Math.max(1, Math.round(deliveries / (n * perMember))));
  return { senders, perMember };
}

/** What {@linkcode bursts} measured. */
type BurstFigures = Omit<ThroughputResult, "target" | "members" | "error">;

/**
 * One warm-up burst, then `runs` measured ones, in `rooms` rooms of `n`
 * members (filled already): in every room at once, the first `senders`
 * members send `perMember` short messages each; a burst's time runs from the
 * first send to the last member receiving the last message of its room.
 * `deliveries` is what a burst aims at, all rooms together.
 */
async function bursts(
  server: RunningServer,
  pool: GeneratorPool,
  shape: { n: number; rooms: number; deliveries: number; runs: number },
  progress: Progress,
): Promise<BurstFigures> {
  const { n, rooms, runs } = shape;
  const perRoom = (deliveries: number) => burstShape(n, deliveries / rooms);
  let burst = perRoom(shape.deliveries / WARMUP_SHARE);
  const rates: number[] = [];
  let deliveries = 0;
  const meters = cpuMeters(server, pool);
  for (let run = 0; run <= runs; run++) {
    if (run === 1) await meters.start();
    const t0 = wallNow();
    const replies = await pool.all({ op: "burst", ...burst, timeoutMs: PHASE_TIMEOUT_MS });
    const end = Math.max(...replies.map((r) => r.at));
    const received = replies.reduce((sum, r) => sum + r.received, 0);
    if (replies.some((r) => r.timedOut)) {
      throw new Error(`burst timed out: ${received} of the expected deliveries arrived`);
    }
    const rate = received / ((end - t0) / 1000);
    deliveries = received;
    if (run > 0) rates.push(rate);
    // Measured bursts: as many deliveries as the warm-up rate fills in
    // BURST_SECONDS, within bounds, so slow servers do not take minutes.
    if (run === 0) {
      burst = perRoom(Math.min(shape.deliveries, Math.max(MIN_DELIVERIES, rate * BURST_SECONDS)));
    }
    progress(`  ${run === 0 ? "warm-up" : `run ${run}/${runs}`}: ${fmt(rate)} msg/s`);
  }
  return { ...burst, deliveries, rate: spread(rates), ...(await meters.stop()) };
}

/**
 * Every member of one room sends a burst of short messages at once; the
 * burst's time runs from the first send to the last member receiving the
 * last message. One warm-up burst, then `runs` measured ones.
 */
export async function throughput(
  target: TargetName,
  dir: string,
  options: ThroughputOptions,
  progress: Progress,
): Promise<ThroughputResult> {
  const n = options.members;
  const base = { target, members: n, senders: 0, perMember: 0, deliveries: 0 };
  try {
    return await withRoom(target, dir, options.generators, async (server, pool) => {
      await fill(pool, target, server, roomOf(target, n));
      await sleep(SETTLE_MS);
      const figures = await bursts(server, pool, {
        n,
        rooms: 1,
        deliveries: options.deliveries,
        runs: options.runs,
      }, progress);
      return { ...base, ...figures };
    });
  } catch (e) {
    progress(`  failed: ${message(e)}`);
    return { ...base, rate: spread([]), ...NO_CPU, error: message(e) };
  }
}

/** Latency at a fixed offered load. */
export interface LatencyResult extends CpuShares {
  target: TargetName;
  members: number;
  /** Messages per second sent by one member. */
  rate: number;
  seconds: number;
  /** Per measured run, over every receiver's every message, in ms. */
  p50: Spread;
  p99: Spread;
  max: Spread;
  samples: number;
  error?: string;
}

/** Options for {@linkcode latency}. */
export interface LatencyOptions {
  members: number;
  rate: number;
  seconds: number;
  runs: number;
  generators: number;
}

/**
 * Members whose receive times are taken, spread evenly over the room. The
 * others stop reading meanwhile (what the server sends them waits in their
 * sockets' buffers), so the generator's own cost stays small next to the
 * server's; a 1,024-member room at 200 messages a second is 200,000
 * deliveries a second, more than one generator core reads one by one.
 */
const LATENCY_SAMPLED = 64;

/** Seconds of the warm-up run before the measured ones. */
const LATENCY_WARMUP_S = 0.5;

/** What {@linkcode timedRuns} measured. */
type LatencyFigures = Pick<LatencyResult, "p50" | "p99" | "max" | "samples"> & CpuShares;

/**
 * One warm-up run, then `runs` measured ones: each of `senders` (one per
 * room, in rooms filled already) sends `t=<time>` messages `rate` times a
 * second for `seconds`; the members numbered a multiple of `sampleEvery`
 * record the time from send to receive, and the others stop reading
 * meanwhile.
 */
async function timedRuns(
  server: RunningServer,
  pool: GeneratorPool,
  load: { senders: string[]; sampleEvery: number; rate: number; seconds: number; runs: number },
  progress: Progress,
): Promise<LatencyFigures> {
  const { senders, sampleEvery, rate, seconds, runs } = load;
  const p50: number[] = [];
  const p99: number[] = [];
  const max: number[] = [];
  let samples = 0;
  const meters = cpuMeters(server, pool);
  for (let run = 0; run <= runs; run++) {
    if (run === 1) await meters.start();
    const count = Math.round(rate * (run === 0 ? LATENCY_WARMUP_S : seconds));
    const listening = pool.all({
      op: "listen",
      count,
      senders,
      sampleEvery,
      timeoutMs: PHASE_TIMEOUT_MS,
    });
    // Each generator sends for the senders it holds, once its listen has begun.
    await pool.all({ op: "send", senders, rate, count });
    const replies = await listening;
    if (replies.some((r) => r.timedOut)) throw new Error("messages were lost or late by 60 s");
    const delays = replies.flatMap((r) => r.delays).sort((a, b) => a - b);
    if (run === 0) {
      progress(`  warm-up: p50 ${ms(percentile(delays, 0.5))}`);
      continue;
    }
    samples += delays.length;
    p50.push(percentile(delays, 0.5));
    p99.push(percentile(delays, 0.99));
    max.push(delays.at(-1) ?? NaN);
    progress(
      `  run ${run}/${runs}: p50 ${ms(p50.at(-1)!)} p99 ${ms(p99.at(-1)!)} max ${
        ms(max.at(-1)!)
      } (${delays.length} deliveries)`,
    );
  }
  return {
    p50: spread(p50),
    p99: spread(p99),
    max: spread(max),
    samples,
    ...(await meters.stop()),
  };
}

/**
 * One member sends `t=<time>` messages at a fixed rate; every other member
 * records the time from send to receive.
 */
export async function latency(
  target: TargetName,
  dir: string,
  options: LatencyOptions,
  progress: Progress,
): Promise<LatencyResult> {
  const { members: n, rate, seconds } = options;
  const base = { target, members: n, rate, seconds, samples: 0 };
  try {
    return await withRoom(target, dir, options.generators, async (server, pool) => {
      const room = roomOf(target, n);
      await fill(pool, target, server, room);
      await sleep(SETTLE_MS);
      const figures = await timedRuns(server, pool, {
        // The sender is the first member: with several generators, the first one's.
        senders: [room[0]!.name],
        sampleEvery: Math.max(1, Math.floor(n / LATENCY_SAMPLED)),
        rate,
        seconds,
        runs: options.runs,
      }, progress);
      return { ...base, ...figures };
    });
  } catch (e) {
    progress(`  failed: ${message(e)}`);
    return { ...base, ...noLatency(), error: message(e) };
  }
}

function noLatency(): LatencyFigures {
  const none = spread([]);
  return { p50: none, p99: none, max: none, samples: 0, ...NO_CPU };
}

/** Many rooms busy at once: what one server measured. */
export interface RoomsResult {
  target: TargetName;
  rooms: number;
  /** Members in each room; each member is in one room only. */
  perRoom: number;
  /** Bursts in every room at once: `members` is a room's, `deliveries` all rooms'. */
  fanout: ThroughputResult;
  /** One sender per room: `members` is a room's, `rate` each sender's. */
  latency: LatencyResult;
  /** Members whose receive times were taken (the other members stopped reading meanwhile). */
  sampled: number;
  error?: string;
}

/** Options for {@linkcode rooms}. */
export interface RoomsOptions {
  rooms: number;
  perRoom: number;
  /** Aim for about this many deliveries per burst, all rooms together. */
  deliveries: number;
  /** Messages per second sent in each room while latency is measured. */
  rate: number;
  seconds: number;
  runs: number;
  generators: number;
}

/**
 * Members whose receive times are taken in the rooms scenario, spread evenly
 * over all the rooms (a few in each); the others stop reading meanwhile.
 */
const ROOMS_SAMPLED = 640;

/**
 * `rooms` rooms of `perRoom` members each (ours only: the peers have one
 * room), every member in one room, all busy at once: bursts in every room
 * together (delivered messages per second across the server), then one
 * sender per room at `rate` a second (send-to-receive latency), on the same
 * server. The methods are {@linkcode throughput}'s and {@linkcode latency}'s.
 */
export async function rooms(
  target: TargetName,
  dir: string,
  options: RoomsOptions,
  progress: Progress,
): Promise<RoomsResult> {
  const { perRoom, rate, seconds } = options;
  const fanout: ThroughputResult = {
    target,
    members: perRoom,
    senders: 0,
    perMember: 0,
    deliveries: 0,
    rate: spread([]),
    ...NO_CPU,
  };
  const latency: LatencyResult = { target, members: perRoom, rate, seconds, ...noLatency() };
  const members = roomsOf(target, options.rooms, perRoom);
  const sampleEvery = Math.max(1, Math.floor(members.length / ROOMS_SAMPLED));
  const sampled = Math.ceil(members.length / sampleEvery);
  const base = { target, rooms: options.rooms, perRoom, sampled };
  try {
    return await withRoom(target, dir, options.generators, async (server, pool) => {
      const t0 = performance.now();
      await fill(pool, target, server, members);
      progress(
        `  ${fmt(members.length)} members in ${options.rooms} rooms in ${
          ((performance.now() - t0) / 1000).toFixed(1)
        } s`,
      );
      await sleep(SETTLE_MS);
      progress("  bursts in every room at once:");
      Object.assign(
        fanout,
        await bursts(server, pool, {
          n: perRoom,
          rooms: options.rooms,
          deliveries: options.deliveries,
          runs: options.runs,
        }, progress),
      );
      progress(`  one sender per room, ${rate} msg/s each:`);
      Object.assign(
        latency,
        await timedRuns(server, pool, {
          senders: members.filter((m) => m.seat === 0).map((m) => m.name),
          sampleEvery,
          rate,
          seconds,
          runs: options.runs,
        }, progress),
      );
      return { ...base, fanout, latency };
    });
  } catch (e) {
    progress(`  failed: ${message(e)}`);
    return { ...base, fanout, latency, error: message(e) };
  }
}

/** Memory per idle member. */
export interface IdleResult {
  target: TargetName;
  /** Members in the room when memory was read. */
  members: number;
  /** Server RSS before the members joined and after, KiB. */
  before: number;
  after: number;
  /** Bytes per member. */
  perMember: number;
  /** Seconds it took the members to join. */
  joinSeconds: number;
  error?: string;
}

/** The most members one server held. */
export interface CapacityResult {
  target: TargetName;
  /** Members in the room when the ramp stopped. */
  held: number;
  /** What stopped the ramp. */
  stoppedBy: string;
  /** Server RSS at the end, KiB (every process of the service, Redis too). */
  rss: number;
  seconds: number;
  /** Each node at the end, when there are several: its RSS (KiB) and files open. */
  nodes?: { rss: number; files: number }[];
  /** Redis's RSS at the end, KiB, when there is one. */
  redisRss?: number;
}

/** Resident memory of every process of the service (the nodes and Redis), KiB. */
async function serviceRss(server: RunningServer): Promise<number> {
  let sum = 0;
  for (const pid of server.pids) sum += await rssKiB(pid);
  return sum;
}

/** Options for {@linkcode ramp}. */
export interface RampOptions {
  /** Read memory per idle member once this many are in. */
  idleAt: number;
  /** Stop once this many are in. */
  target: number;
  /** Members added per step. */
  step: number;
  /** Stop when the ramp has taken this long. */
  budgetSeconds: number;
  /** ...except before `idleAt` are in: then stop only after this long. */
  idleBudgetSeconds: number;
  /** Members per generator process at most (each needs a file descriptor). */
  perGenerator: number;
}

/** Members the ramp opens between two looks at its time budget. */
const RAMP_CHUNK = 500;

/** How long an idle room is left to settle before its memory is read. */
const IDLE_SETTLE_MS = 2000;

/**
 * Fills a room in steps with idle members (WebSocket ones for ours, IRC ones
 * for ours over IRC and for ngircd): reads the server's memory per member
 * once `idleAt` are in, and goes on until a member fails to join, `target`
 * are in, or the time budget runs out.
 */
export async function ramp(
  target: TargetName,
  dir: string,
  options: RampOptions,
  progress: Progress,
): Promise<{ idle: IdleResult; capacity: CapacityResult }> {
  const generators = Math.ceil(options.target / options.perGenerator);
  const t0 = performance.now();
  let held = 0;
  let rss = NaN;
  let stoppedBy = `reached the target of ${options.target}`;
  let nodes: CapacityResult["nodes"];
  let redisRss: number | undefined;
  let idle: IdleResult = {
    target,
    members: 0,
    before: NaN,
    after: NaN,
    perMember: NaN,
    joinSeconds: NaN,
    error: "not reached",
  };
  try {
    await withRoom(target, dir, generators, async (server, pool) => {
      await sleep(SETTLE_MS);
      const before = await serviceRss(server);
      while (held < options.target) {
        const count = Math.min(
          options.step,
          options.target - held,
          options.idleAt - held > 0 ? options.idleAt - held : Infinity,
        );
        const members = roomOf(target, count, held).map((m) => ({
          ...m,
          kind: m.kind === "chat-tcp" ? "chat-ws" as const : m.kind,
          idle: true,
        }));
        const budget = held < options.idleAt ? options.idleBudgetSeconds : options.budgetSeconds;
        const opened = { opened: 0, failed: 0, error: "" };
        // In chunks, so that a server slow to seat members (ngircd tells the
        // whole channel of each join) stops near the budget, not a step later.
        for (let from = 0; from < members.length && opened.failed === 0; from += RAMP_CHUNK) {
          const chunk = members.slice(from, from + RAMP_CHUNK);
          const result = await pool.open(endpointsOf(server), chunk, opensAtOnce(target));
          opened.opened += result.opened;
          opened.failed += result.failed;
          opened.error ||= result.error ?? "";
          if ((performance.now() - t0) / 1000 > budget) break;
        }
        held += opened.opened;
        const elapsed = (performance.now() - t0) / 1000;
        if (held === options.idleAt) {
          await sleep(IDLE_SETTLE_MS);
          const after = await serviceRss(server);
          idle = {
            target,
            members: held,
            before,
            after,
            perMember: ((after - before) * 1024) / held,
            joinSeconds: elapsed,
          };
          progress(
            `  idle: ${held} members in ${elapsed.toFixed(0)} s; RSS ${mib(before)} -> ${
              mib(after)
            } MiB, ${(idle.perMember / 1024).toFixed(1)} KiB per member`,
          );
        }
        rss = await serviceRss(server);
        progress(`  ${held} members (${elapsed.toFixed(0)} s, server RSS ${mib(rss)} MiB)`);
        if (opened.failed > 0) {
          stoppedBy = `${opened.failed} of the next ${count} failed to join: ${opened.error}`;
          const files = await Promise.all(server.nodes.map((n) => openFiles(n.pid)));
          if (files.every((f) => f !== undefined)) {
            const open = files.map((f) => fmt(f.open)).join(" and ");
            const limit = files.map((f) => fmt(f.limit)).join(" and ");
            stoppedBy += files.length === 1
              ? `; the server had ${open} files open, of ${limit} it may`
              : `; its nodes had ${open} files open, of ${limit} they may`;
          }
          break;
        }
        if (elapsed > budget && held < options.target) {
          stoppedBy = `time budget of ${budget} s`;
          break;
        }
      }
      if (server.nodes.length > 1) {
        nodes = await Promise.all(server.nodes.map(async (n) => ({
          rss: await rssKiB(n.pid),
          files: (await openFiles(n.pid))?.open ?? NaN,
        })));
        progress(
          "  per node: " +
            nodes.map((n) => `${fmt(n.files)} files open, RSS ${mib(n.rss)} MiB`).join("; "),
        );
      }
      if (server.redis) redisRss = await rssKiB(server.redis.pid);
      if (held < options.idleAt) {
        // Not reached: report what the members that did join cost.
        await sleep(IDLE_SETTLE_MS);
        const after = await serviceRss(server);
        idle = {
          target,
          members: held,
          before,
          after,
          perMember: held > 0 ? ((after - before) * 1024) / held : NaN,
          joinSeconds: (performance.now() - t0) / 1000,
          error: `only ${held} of ${options.idleAt} joined (${stoppedBy})`,
        };
      }
    });
  } catch (e) {
    stoppedBy = `error: ${message(e)}`;
  }
  progress(`  held ${held}: ${stoppedBy}`);
  return {
    idle,
    capacity: {
      target,
      held,
      stoppedBy,
      rss,
      seconds: (performance.now() - t0) / 1000,
      ...nodes ? { nodes } : {},
      ...redisRss === undefined ? {} : { redisRss },
    },
  };
}

/** What went wrong, in one line for the results. */
export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** 1234567 as "1,234,567". */
export function fmt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en") : "–";
}

/** Milliseconds with two decimals. */
export function ms(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(2)} ms` : "–";
}

/** KiB as MiB with one decimal. */
export function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}
