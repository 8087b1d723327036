/**
 * `deno task bench`: our chat server against reference peers, side by side,
 * in one run on this machine, and the results written to `bench/RESULTS.md`
 * (with `bench/results.svg` and `bench/results.json`).
 *
 * Servers run on core 0, the load generators (and this coordinator) on core
 * 1, pinned with `taskset`. Ours runs as four targets: `ours` and
 * `ours-file` (WebSocket and terminal members; the store in memory, or a
 * SQLite file), `ours-irc` (every member on its IRC port, on ngircd's
 * workload, issue 14) and `ours-cluster` (2 nodes and a Redis, all on
 * core 0, each room's members spread over both nodes, issue 15;
 * `BENCH_NODES=N` in the environment runs N nodes). Each
 * scenario starts a fresh server:
 *
 * - fan-out: rooms of 32, 256 and 1,024 members; every member sends a burst
 *   of short messages; delivered messages per second (the workload of Bun's
 *   `bench/websocket-server`);
 * - latency: one member of a 1,024-member room sends 200 messages a second
 *   (`--rate`; the issues' targets are at 200); send-to-receive p50 / p99
 *   over every other member;
 * - rooms (ours only; the peers have one room): 100 rooms of 50 members,
 *   all busy at once: bursts in every room together (delivered messages per
 *   second across the server), then one member per room sending 10 a second
 *   (p50 / p99);
 * - ramp: idle members added 2,000 at a time: server RSS per member once
 *   10,000 are in, then on until one fails to join, 20,000 are in (20,000
 *   per node for `ours-cluster`), or the time budget runs out (the most
 *   members held);
 * - attack (ours only, with its default limits): 50 silent sockets and one
 *   member pipelining `history` requests of 1,000; a bystander's round trip
 *   and the server's RSS before, during and after (`attack.ts`).
 *
 * ```sh
 * deno task bench [--quick] [--scenarios fanout,latency,rooms,ramp,attack]
 *                 [--targets ours,ours-file,ours-irc,ours-cluster,ours-redis,deno-bare,node-ws,bun,ngircd]
 *                 [--sizes 32,256,1024] [--runs 3] [--generators 1] [--rate 200]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ATTACK, attack, type AttackOptions, type AttackResult } from "./attack.ts";
import { renderMarkdown, renderSvg, type Results } from "./report.ts";
import {
  type CapacityResult,
  type IdleResult,
  latency,
  type LatencyOptions,
  type LatencyResult,
  ramp,
  type RampOptions,
  rooms,
  type RoomsOptions,
  type RoomsResult,
  throughput,
  type ThroughputResult,
} from "./scenarios.ts";
import {
  CLUSTER_NODES,
  GENERATOR_CPU,
  stopAll,
  TARGET_LABELS,
  type TargetName,
} from "./servers.ts";

const ALL_TARGETS = Object.keys(TARGET_LABELS) as TargetName[];
const SCENARIOS = ["fanout", "latency", "rooms", "ramp", "attack"] as const;
type Scenario = typeof SCENARIOS[number];

/** What one invocation runs. */
interface Plan {
  scenarios: Scenario[];
  targets: TargetName[];
  sizes: number[];
  runs: number;
  generators: number;
  /** Deliveries to aim for per burst. */
  deliveries: number;
  latency: Pick<LatencyOptions, "members" | "rate" | "seconds">;
  rooms: Pick<RoomsOptions, "rooms" | "perRoom" | "deliveries" | "rate" | "seconds">;
  ramp: RampOptions;
  attack: AttackOptions;
}

function plan(args: string[]): Plan {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      scenarios: { type: "string" },
      targets: { type: "string" },
      sizes: { type: "string" },
      runs: { type: "string" },
      generators: { type: "string" },
      rate: { type: "string" },
    },
  });
  const quick = values.quick;
  const list = <T extends string>(value: string | undefined, all: readonly T[], flag: string) => {
    if (value === undefined) return [...all];
    const picked = value.split(",").map((s) => s.trim());
    for (const p of picked) {
      if (!all.includes(p as T)) usage(`--${flag} takes some of ${all.join(",")}, not ${p}`);
    }
    return picked as T[];
  };
  const whole = (value: string | undefined, fallback: number, flag: string) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) usage(`--${flag} takes a whole number from 1`);
    return n;
  };
  const sizes = values.sizes === undefined
    ? [32, 256, 1024]
    : values.sizes.split(",").map((s) => whole(s, 0, "sizes"));
  return {
    scenarios: list(values.scenarios, SCENARIOS, "scenarios"),
    targets: list(values.targets, ALL_TARGETS, "targets"),
    sizes,
    runs: whole(values.runs, quick ? 1 : 3, "runs"),
    generators: whole(values.generators, 1, "generators"),
    deliveries: quick ? 150_000 : 300_000,
    latency: { members: 1024, rate: whole(values.rate, 200, "rate"), seconds: quick ? 1 : 2 },
    rooms: {
      rooms: 100,
      perRoom: 50,
      deliveries: quick ? 500_000 : 1_000_000,
      rate: 10,
      seconds: quick ? 1 : 2,
    },
    ramp: {
      idleAt: 10_000,
      target: 20_000,
      step: 2_000,
      budgetSeconds: quick ? 30 : 45,
      idleBudgetSeconds: quick ? 60 : 180,
      perGenerator: 10_000,
    },
    attack: quick ? { ...ATTACK, baselineSeconds: 3, attackSeconds: 10, afterSeconds: 3 } : ATTACK,
  };
}

function usage(why: string): never {
  console.error(`bench: ${why}`);
  Deno.exit(2);
}

async function install(): Promise<void> {
  const script = new URL("./peers/install.sh", import.meta.url).pathname;
  const status = await new Deno.Command("bash", { args: [script] }).spawn().status;
  if (!status.success) {
    console.error("bench: installing the reference peers failed (see above)");
    Deno.exit(1);
  }
}

async function pinSelf(): Promise<void> {
  await new Deno.Command("taskset", {
    args: ["-pc", GENERATOR_CPU, String(Deno.pid)],
    stdout: "null",
  }).output();
}

async function packageVersion(path: string): Promise<string> {
  const pkg: unknown = JSON.parse(await Deno.readTextFile(path));
  return typeof pkg === "object" && pkg !== null && "version" in pkg &&
      typeof pkg.version === "string"
    ? pkg.version
    : "?";
}

async function versions(): Promise<Record<string, string>> {
  const run = async (cmd: string, args: string[]) => {
    try {
      const out = await new Deno.Command(cmd, { args, stderr: "null" }).output();
      return new TextDecoder().decode(out.stdout).split("\n")[0]!.trim();
    } catch {
      return "?";
    }
  };
  const peers = new URL("./peers/", import.meta.url).pathname;
  const cpuinfo = await new Deno.Command("cat", { args: ["/proc/cpuinfo"] }).output();
  const cpu = new TextDecoder().decode(cpuinfo.stdout).match(/^model name\s*:\s*(.+)$/m)?.[1] ??
    "?";
  return {
    cpu: `${navigator.hardwareConcurrency} × ${cpu}`,
    kernel: await run("uname", ["-r"]),
    deno: Deno.version.deno,
    node: await run("node", ["--version"]),
    ws: await packageVersion(`${peers}node_modules/ws/package.json`),
    bun: await run(`${peers}node_modules/.bin/bun`, ["--version"]),
    ngircd: (await run("/usr/sbin/ngircd", ["--version"])).split("-")[0]!,
  };
}

async function main(): Promise<void> {
  const p = plan(Deno.args);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, async () => {
      console.error(`bench: ${signal}: stopping the servers`);
      await stopAll();
      Deno.exit(130);
    });
  }
  await install();
  await pinSelf();
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-" });
  const started = performance.now();
  const results: Results = {
    date: new Date().toISOString(),
    versions: await versions(),
    plan: {
      runs: p.runs,
      generators: p.generators,
      deliveries: p.deliveries,
      latency: p.latency,
      rooms: p.rooms,
      ramp: p.ramp,
    },
    fanout: [] as ThroughputResult[],
    latency: [] as LatencyResult[],
    rooms: [] as RoomsResult[],
    idle: [] as IdleResult[],
    capacity: [] as CapacityResult[],
    attack: [] as AttackResult[],
    seconds: 0,
  };
  const steps: [string, () => Promise<void>][] = [];
  const log = (line: string) => console.error(line);
  for (const scenario of p.scenarios) {
    for (const target of p.targets) {
      const label = TARGET_LABELS[target];
      switch (scenario) {
        case "fanout":
          for (const members of p.sizes) {
            steps.push([`fan-out, ${label}, ${members} members`, async () => {
              results.fanout.push(
                await throughput(target, dir, {
                  members,
                  deliveries: p.deliveries,
                  runs: p.runs,
                  generators: p.generators,
                }, log),
              );
            }]);
          }
          break;
        case "latency":
          steps.push([
            `latency, ${label}, ${p.latency.members} members, ${p.latency.rate} msg/s`,
            async () => {
              results.latency.push(
                await latency(
                  target,
                  dir,
                  { ...p.latency, runs: p.runs, generators: p.generators },
                  log,
                ),
              );
            },
          ]);
          break;
        case "rooms":
          // The peers have one room each (the relays send to every client;
          // the bench's IRC members pace themselves in one channel, on
          // ngircd and on ours-irc alike), and ours-file differs from ours
          // only in where messages are written.
          if (target !== "ours") break;
          steps.push([
            `rooms, ${label}, ${p.rooms.rooms} rooms × ${p.rooms.perRoom} members`,
            async () => {
              results.rooms.push(
                await rooms(target, dir, {
                  ...p.rooms,
                  runs: p.runs,
                  generators: p.generators,
                }, log),
              );
            },
          ]);
          break;
        case "ramp": {
          // ours-file differs from ours only in where messages are written,
          // ours-redis from ours-cluster in holding one node's members.
          if (target === "ours-file" || target === "ours-redis") break;
          // Several nodes: as many members as each could hold, as long to join them.
          const nodes = target === "ours-cluster" ? CLUSTER_NODES : 1;
          const options = {
            ...p.ramp,
            target: p.ramp.target * nodes,
            budgetSeconds: p.ramp.budgetSeconds * nodes,
          };
          steps.push([
            `idle members and capacity, ${label}, up to ${options.target} members`,
            async () => {
              const { idle, capacity } = await ramp(target, dir, options, log);
              results.idle.push(idle);
              results.capacity.push(capacity);
            },
          ]);
          break;
        }
        case "attack":
          // What is measured is our defences; the peers have none to measure.
          if (target !== "ours") break;
          steps.push([
            `under attack, ours (--db file, default limits): ${p.attack.silent} silent ` +
            "sockets and a pipeliner, " +
            `${p.attack.attackSeconds} s`,
            async () => {
              results.attack.push(await attack(target, dir, p.attack, log));
            },
          ]);
          break;
      }
    }
  }
  try {
    for (const [i, [title, step]] of steps.entries()) {
      const elapsed = ((performance.now() - started) / 1000).toFixed(0);
      log(`bench: [${i + 1}/${steps.length}, ${elapsed} s] ${title}`);
      await step();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  results.seconds = (performance.now() - started) / 1000;
  const here = new URL("./", import.meta.url);
  await Deno.writeTextFile(new URL("results.json", here), JSON.stringify(results, null, 2) + "\n");
  await Deno.writeTextFile(new URL("results.svg", here), renderSvg(results));
  await Deno.writeTextFile(new URL("RESULTS.md", here), renderMarkdown(results));
  log(
    `bench: done in ${
      results.seconds.toFixed(0)
    } s; wrote bench/RESULTS.md, results.svg, results.json`,
  );
}

if (import.meta.main) await main();
