/**
 * What one room message costs Redis on our path (issue 15), counted, not
 * guessed: a `redis-server` (append-only file flushed once a second, as
 * `deno task cluster` runs it), N nodes of `main.ts --redis`, and one
 * terminal member on each node (two on one node), all in `#lobby`. The member on the first
 * node says M lines, first one at a time (each waited for on the last node
 * before the next: the feed's blocking reads each bring one message), then
 * all in one write (the reads bring many); around each, `CONFIG RESETSTAT`
 * and `INFO commandstats` / `INFO cpu` say which commands Redis ran, how
 * many of each, its time in them, and its CPU time, per message.
 *
 * Commands that Lua scripts run (`INCR`, `XADD` in the append script) are
 * counted by Redis as their own, beside the `EVAL` that ran them, whose
 * time includes theirs; times per call are wall clock (a busy machine
 * stretches them), the CPU per message is Redis's own (`INFO cpu`). Lease
 * renewals (also `EVAL`, every 3.3 s per node) fall in too when a phase is long.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 --allow-read --allow-write --allow-run --allow-env \
 *   bench/redis_ops.ts [--nodes 2] [--messages 2000]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { cpuSeconds } from "./measure.ts";
import { LIFTED_LIMITS, type MainProcess, startMain } from "../tests/kit/main_process.ts";
import { RedisServer } from "../tests/kit/redis_server.ts";
import { connectTcp, type TcpClient } from "../tests/kit/tcp_client.ts";

/** Runs `redis-cli` against `port` with `args`; its output. */
async function cli(port: number, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("redis-cli", {
    args: ["-h", "127.0.0.1", "-p", String(port), ...args],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`redis-cli ${args.join(" ")} failed`);
  return new TextDecoder().decode(out.stdout);
}

/** One command's figures from `INFO commandstats`. */
interface CommandStat {
  calls: number;
  usec: number;
}

/** `INFO commandstats` as a map from command (lower case) to its calls and time. */
async function commandStats(port: number): Promise<Map<string, CommandStat>> {
  const stats = new Map<string, CommandStat>();
  for (const line of (await cli(port, "INFO", "commandstats")).split("\n")) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (m) stats.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return stats;
}

/** Redis's CPU time so far (its main thread and the rest, user and system), in seconds. */
async function redisCpu(port: number): Promise<number> {
  const info = await cli(port, "INFO", "cpu");
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1]);
  return field("used_cpu_user") + field("used_cpu_sys");
}

/** What {@linkcode phase} measured. */
interface Phase {
  name: string;
  messages: number;
  seconds: number;
  stats: Map<string, CommandStat>;
  cpu: number;
  /** Each node's CPU time over the phase, seconds. */
  nodes: number[];
}

/** Resets Redis's counters, runs `send`, and reads them back once `last` has arrived. */
async function phase(
  name: string,
  port: number,
  pids: number[],
  messages: number,
  send: () => Promise<void>,
): Promise<Phase> {
  await cli(port, "CONFIG", "RESETSTAT");
  const nodes0 = await Promise.all(pids.map(cpuSeconds));
  const cpu0 = await redisCpu(port);
  const t0 = performance.now();
  await send();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = (await redisCpu(port)) - cpu0;
  const nodes = (await Promise.all(pids.map(cpuSeconds))).map((c, i) => c - nodes0[i]!);
  return { name, messages, seconds, stats: await commandStats(port), cpu, nodes };
}

/** Commands our scripts run inside Redis (the append script's, the renewal's): not round trips. */
const SCRIPTED = new Set([
  "xadd",
  "lpush",
  "xlen",
  "incr",
  "ltrim",
  "xrange",
  "hset",
  "time",
  "zadd",
  "get",
  "pexpire",
  "set",
  "zrangebyscore",
  "zrem",
]);

function report(p: Phase, nodes: number): void {
  console.log(
    `\n${p.name}: ${p.messages} messages in ${p.seconds.toFixed(2)} s ` +
      `(${Math.round(p.messages / p.seconds)}/s), ${nodes} nodes`,
  );
  console.log("command      calls   per message   usec per call (wall clock)");
  const rows = [...p.stats].filter(([name]) => !["config", "info"].includes(name))
    .sort((a, b) => b[1].calls - a[1].calls);
  for (const [name, s] of rows) {
    console.log(
      `${name.padEnd(12)} ${String(s.calls).padStart(6)}   ${
        (s.calls / p.messages).toFixed(3).padStart(11)
      }   ${(s.usec / s.calls).toFixed(2).padStart(13)}`,
    );
  }
  const total = rows.reduce((n, [, s]) => n + s.calls, 0);
  const called = rows.filter(([name]) => !SCRIPTED.has(name))
    .reduce((n, [, s]) => n + s.calls, 0);
  console.log(
    `all: ${(total / p.messages).toFixed(2)} commands per message, of which ` +
      `${(called / p.messages).toFixed(2)} sent by the nodes (the rest run by scripts); ` +
      `${(p.cpu * 1e6 / p.messages).toFixed(1)} usec of Redis CPU per message ` +
      `(INFO cpu), ${Math.round(p.messages / p.cpu)} messages per second of Redis CPU`,
  );
  console.log(
    `node CPU per message (/proc; the sender's node first, each delivering to one member or none): ${
      p.nodes.map((c) => `${(c * 1e6 / p.messages).toFixed(1)} usec`).join(", ")
    }`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      nodes: { type: "string", default: "2" },
      messages: { type: "string", default: "2000" },
    },
  });
  const nodes = Number(values.nodes);
  const messages = Number(values.messages);
  if (!Number.isInteger(nodes) || nodes < 1 || !Number.isInteger(messages) || messages < 1) {
    console.error("redis_ops: --nodes and --messages take whole numbers from 1");
    Deno.exit(2);
  }
  await using redis = await RedisServer.start({ appendfsync: "everysec" });
  const servers: MainProcess[] = [];
  const members: TcpClient[] = [];
  try {
    for (let i = 0; i < nodes; i++) {
      servers.push(await startMain({ redis: redis.url, flags: LIFTED_LIMITS }));
      members.push(await connectTcp(servers[i]!.address, `m${i}`));
    }
    // A terminal member is not sent its own lines: with one node, a second member there hears them.
    if (nodes === 1) members.push(await connectTcp(servers[0]!.address, "m1"));
    const sender = members[0]!;
    const last = members.at(-1)!;
    const pids = servers.map((s) => s.pid);
    await sender.send("warm up");
    await last.readUntil("warm up");
    report(
      await phase("one at a time", redis.port, pids, messages, async () => {
        for (let i = 0; i < messages; i++) {
          await sender.send(`p${i}.`);
          await last.readUntil(`p${i}.`);
        }
      }),
      nodes,
    );
    report(
      await phase("all in one write", redis.port, pids, messages, async () => {
        await sender.write(Array.from({ length: messages }, (_, i) => `b${i}.\r\n`).join(""));
        await last.readUntil(`b${messages - 1}.`);
      }),
      nodes,
    );
  } finally {
    await Promise.all(members.map((m) => m.close()));
    await Promise.all(servers.map((s) => s.stop()));
  }
}

if (import.meta.main) await main();
