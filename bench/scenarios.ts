/**
 * The scenarios `deno task bench` runs against each server: fan-out under
 * bursts, latency at a fixed offered load, memory per idle member, and the
 * most members held. Each starts its own server and generators and stops
 * them before it returns.
 *
 * @module
 */

import { CpuMeter, openFiles, percentile, rssKiB, type Spread, spread } from "./measure.ts";
import { GeneratorPool } from "./pool.ts";
import {
  GENERATOR_CPU,
  kindOf,
  type RunningServer,
  SERVER_CPU,
  startServer,
  type TargetName,
} from "./servers.ts";
import { type Endpoints, wallNow } from "./clients.ts";
import type { MemberSpec } from "./generator.ts";

/** Prints a progress line. */
export type Progress = (line: string) => void;

/** Members opened at once per generator while a room fills. */
const OPEN_CONCURRENCY = 64;

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
  endpoints: Endpoints,
  members: MemberSpec[],
): Promise<void> {
  const opened = await pool.open(endpoints, members, OPEN_CONCURRENCY);
  if (opened.failed > 0) {
    throw new Error(
      `${opened.failed} of ${members.length} members could not join: ${opened.error}`,
    );
  }
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
    new CpuMeter([server.pid]),
    new CpuMeter(pool.pids),
    new CpuMeter([-1 - Number(SERVER_CPU)]),
    new CpuMeter([-1 - Number(GENERATOR_CPU)]),
  ];
  return {
    async start() {
      await Promise.all(meters.map((m) => m.start()));
    },
    async stop(): Promise<CpuShares> {
      const [s, g, core0, core1] = await Promise.all(meters.map((m) => m.stop()));
      return {
        serverCpu: s!,
        generatorCpu: g!,
        otherServerCore: Math.max(0, core0! - s!),
        otherGeneratorCore: Math.max(0, core1! - g!),
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
function shape(n: number, deliveries: number): { senders: number; perMember: number } {
  const perMember = Math.max(1, Math.round(deliveries / (n * n)));
  const senders = Math.min(n, Math.max(1, Math.round(deliveries / (n * perMember))));
  return { senders, perMember };
}

/**
 * Every member sends a burst of short messages at once; the burst's time runs
 * from the first send to the last member receiving the last message. One
 * warm-up burst, then `runs` measured ones.
 */
export async function throughput(
  target: TargetName,
  dir: string,
  options: ThroughputOptions,
  progress: Progress,
): Promise<ThroughputResult> {
  const n = options.members;
  let burst = shape(n, options.deliveries / WARMUP_SHARE);
  const base = { target, members: n, senders: 0, perMember: 0, deliveries: 0 };
  try {
    return await withRoom(target, dir, options.generators, async (server, pool) => {
      const room = roomOf(target, n);
      await fill(pool, server.endpoints, room);
      await sleep(SETTLE_MS);
      const rates: number[] = [];
      let deliveries = 0;
      const meters = cpuMeters(server, pool);
      for (let run = 0; run <= options.runs; run++) {
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
          const aim = Math.min(options.deliveries, Math.max(MIN_DELIVERIES, rate * BURST_SECONDS));
          burst = shape(n, aim);
        }
        progress(
          `  ${run === 0 ? "warm-up" : `run ${run}/${options.runs}`}: ${fmt(rate)} msg/s`,
        );
      }
      return { ...base, ...burst, deliveries, rate: spread(rates), ...(await meters.stop()) };
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
      await fill(pool, server.endpoints, room);
      await sleep(SETTLE_MS);
      // The sender is the first member: with several generators, the first one's.
      const sender = room[0]!.name;
      const sampleEvery = Math.max(1, Math.floor(n / LATENCY_SAMPLED));
      const p50: number[] = [];
      const p99: number[] = [];
      const max: number[] = [];
      let samples = 0;
      const meters = cpuMeters(server, pool);
      for (let run = 0; run <= options.runs; run++) {
        if (run === 1) await meters.start();
        const count = Math.round(rate * (run === 0 ? LATENCY_WARMUP_S : seconds));
        const listening = pool.all({
          op: "listen",
          count,
          sender,
          sampleEvery,
          timeoutMs: PHASE_TIMEOUT_MS,
        });
        await pool.generators[0]!.ask({ op: "send", sender, rate, count });
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
          `  run ${run}/${options.runs}: p50 ${ms(p50.at(-1)!)} p99 ${ms(p99.at(-1)!)} max ${
            ms(max.at(-1)!)
          } (${delays.length} deliveries)`,
        );
      }
      return {
        ...base,
        p50: spread(p50),
        p99: spread(p99),
        max: spread(max),
        samples,
        ...(await meters.stop()),
      };
    });
  } catch (e) {
    progress(`  failed: ${message(e)}`);
    const none = spread([]);
    return {
      ...base,
      p50: none,
      p99: none,
      max: none,
      ...NO_CPU,
      error: message(e),
    };
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
  /** Server RSS at the end, KiB. */
  rss: number;
  seconds: number;
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

/** How long an idle room is left to settle before its memory is read. */
const IDLE_SETTLE_MS = 2000;

/**
 * Fills a room in steps with idle members (WebSocket ones, for ours): reads
 * the server's memory per member once `idleAt` are in, and goes on until a
 * member fails to join, `target` are in, or the time budget runs out.
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
      const before = await rssKiB(server.pid);
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
        const opened = await pool.open(server.endpoints, members, OPEN_CONCURRENCY);
        held += opened.opened;
        const elapsed = (performance.now() - t0) / 1000;
        if (held === options.idleAt) {
          await sleep(IDLE_SETTLE_MS);
          const after = await rssKiB(server.pid);
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
        rss = await rssKiB(server.pid);
        progress(`  ${held} members (${elapsed.toFixed(0)} s, server RSS ${mib(rss)} MiB)`);
        if (opened.failed > 0) {
          stoppedBy = `${opened.failed} of the next ${count} failed to join: ${opened.error}`;
          const files = await openFiles(server.pid);
          if (files) {
            stoppedBy += `; the server had ${fmt(files.open)} files open, of ${
              fmt(files.limit)
            } it may`;
          }
          break;
        }
        const budget = held < options.idleAt ? options.idleBudgetSeconds : options.budgetSeconds;
        if (elapsed > budget && held < options.target) {
          stoppedBy = `time budget of ${budget} s`;
          break;
        }
      }
      if (held < options.idleAt) {
        // Not reached: report what the members that did join cost.
        await sleep(IDLE_SETTLE_MS);
        const after = await rssKiB(server.pid);
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
    capacity: { target, held, stoppedBy, rss, seconds: (performance.now() - t0) / 1000 },
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
