/**
 * Starts the servers under test, each as its own process pinned to the
 * server's core with `taskset`, on 127.0.0.1 and a free port: our chat
 * server (`main.ts`) and the reference peers of `bench/peers/`.
 *
 * Ours runs as `ours` and `ours-file`, with its members on WebSocket and
 * the terminal port, and as `ours-irc`, with every member on its IRC port,
 * driven by the very clients that drive ngircd, so that the two IRC servers
 * see one workload (issue 14).
 *
 * And as `ours-cluster` (issue 15): {@linkcode CLUSTER_NODES} processes of
 * `main.ts --redis`, one service through a `redis-server` of its own (an
 * append-only file flushed once a second, as `deno task cluster` runs it).
 * Each node listens on ports of its own and the generators play the load
 * balancer: a member goes to the node {@linkcode nodeOf} its number picks, a
 * hash, so every room is spread over every node, the members that send and
 * the members that are timed too. Not `--reuse-port`: the kernel would
 * spread connections by a hash of their addresses that the bench cannot see,
 * and all members of one address would share one destination port, whose
 * ephemeral source ports (28,232 here) are fewer than the members the
 * cluster's ramp holds. The nodes and Redis are pinned to the server's core,
 * with the generators on the other, as a single node is: the cluster is set
 * against one node on the same one core, so what it costs is the Redis
 * path's work and that of a second process on the core. `ours-redis` is one
 * node with its Redis: the Redis path alone.
 *
 * @module
 */

import { within } from "../server/deadline.ts";
import {
  LIFTED_LIMITS,
  MainProcess,
  type MainStore,
  stopProcess,
} from "../tests/kit/main_process.ts";
import { RedisServer } from "../tests/kit/redis_server.ts";
import type { Endpoints, Kind } from "./clients.ts";
import { HOST } from "./clients.ts";

/** The servers `bench/` compares. */
export type TargetName =
  | "ours"
  | "ours-file"
  | "ours-irc"
  | "ours-cluster"
  | "ours-redis"
  | "deno-bare"
  | "node-ws"
  | "bun"
  | "ngircd";

/**
 * How many nodes `ours-cluster` runs: 2, or `BENCH_NODES` from the
 * environment (1 sets one node with Redis against one with SQLite: the
 * Redis path alone, without a second process on the core).
 */
export const CLUSTER_NODES: number = clusterNodes(Deno.env.get("BENCH_NODES"));

function clusterNodes(value: string | undefined): number {
  if (value === undefined) return 2;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`BENCH_NODES takes a whole number, not ${value}`);
  }
  return n;
}

/** How each target is described in the results. */
export const TARGET_LABELS: Record<TargetName, string> = {
  "ours": "ours (--db :memory:)",
  "ours-file": "ours (--db file)",
  "ours-irc": "ours (IRC)",
  "ours-cluster": `ours, ${CLUSTER_NODES} node${CLUSTER_NODES === 1 ? "" : "s"} + Redis`,
  "ours-redis": "ours, 1 node + Redis",
  "deno-bare": "bare Deno loop",
  "node-ws": "Node + ws",
  "bun": "Bun pub/sub",
  "ngircd": "ngircd (IRC)",
};

/** One process that members connect to. */
export interface Node {
  readonly pid: number;
  readonly endpoints: Endpoints;
}

/** A server running for a scenario. */
export interface RunningServer extends Node {
  /** Where members connect: one node, but for `ours-cluster` (the first of them is `pid`'s). */
  readonly nodes: readonly Node[];
  /** Every process of the service, for its CPU time: the nodes, and Redis. */
  readonly pids: readonly number[];
  /** Redis's process, when there is one. */
  readonly redis?: { readonly pid: number; readonly port: number };
  /** Stops the server and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The protocol of member `i` of a room on `target`. Ours mixes 3 WebSocket :
 * 1 TCP; ours over IRC is all IRC, as ngircd is.
 */
export function kindOf(target: TargetName, i: number): Kind {
  switch (target) {
    case "ours":
    case "ours-file":
    case "ours-cluster":
    case "ours-redis":
      return i % 4 === 3 ? "chat-tcp" : "chat-ws";
    case "ours-irc":
    case "ngircd":
      return "irc";
    default:
      return "relay-ws";
  }
}

/**
 * How many members the bench opens on `target` at once, in all. ngircd
 * listens with a backlog of 10 connections (`listen(sock, 10)`; `ss -ltn`
 * shows it): more at once overflow its accept queue while it is busy telling
 * a full channel of each join, and the kernel drops the overflow's handshakes,
 * which the client retries only after 1, 3, 7 and 15 s. Ours listens with
 * a backlog of 511 (Deno's).
 */
export function opensAtOnce(target: TargetName): number {
  return target === "ngircd" ? 8 : 64;
}

/**
 * The node member `i` goes to, of `nodes`: a multiplicative hash (its high
 * bits), so that no stride the scenarios pick members by (every 4th is a
 * terminal, every 16th is timed) lands on one node only.
 */
export function nodeOf(i: number, nodes: number): number {
  return Math.floor(((Math.imul(i, 0x9e3779b1) >>> 0) / 2 ** 32) * nodes);
}

const PEERS = new URL("./peers/", import.meta.url);

/** The core the servers run on; the generator gets the other one. */
export const SERVER_CPU = "0";
/** The core the generator processes (and this coordinator) run on. */
export const GENERATOR_CPU = "1";

/** How long a server may take to say it is listening. */
const START_TIMEOUT_MS = 30_000;

/** Starts `target`; `dir` is a scratch directory for its files. */
export async function startServer(target: TargetName, dir: string): Promise<RunningServer> {
  const deno = Deno.execPath();
  switch (target) {
    case "ours":
    case "ours-file":
      return await startOurs(
        target === "ours" ? ":memory:" : `${dir}/bench-${crypto.randomUUID()}.db`,
      );
    case "ours-irc":
      return await startOurs(":memory:", [...LIFTED_LIMITS, "--motd", await motd(dir)]);
    case "ours-cluster":
      return await startCluster(CLUSTER_NODES);
    case "ours-redis":
      return await startCluster(1);
    case "deno-bare":
      return await spawnAnnouncing(
        [deno, "run", "--allow-net=127.0.0.1", "deno_bare.ts"],
        PEERS,
        relayPort,
      );
    case "node-ws":
      return await spawnAnnouncing(["node", "node_ws.mjs"], PEERS, relayPort);
    case "bun":
      return await spawnAnnouncing(
        [new URL("node_modules/.bin/bun", PEERS).pathname, "bun_pubsub.ts"],
        PEERS,
        relayPort,
      );
    case "ngircd":
      return await startNgircd(dir);
  }
}

/**
 * A one-line message of the day, as ngircd's `MotdPhrase` gives it: both IRC
 * servers then greet a member with 375, 372, 376 (without one, ours sends
 * 422 instead).
 */
async function motd(dir: string): Promise<string> {
  const path = `${dir}/motd.txt`;
  await Deno.writeTextFile(path, "benchmark\n");
  return path;
}

function relayPort(text: string): Endpoints | undefined {
  const port = /listening (\d+)/.exec(text)?.[1];
  return port ? { relayWs: Number(port) } : undefined;
}

/**
 * Starts our server (`main.ts`) on the server core with `flags` (the limits
 * lifted, unless told otherwise); resolves once it listens.
 */
export async function startOurs(
  db: string,
  flags: readonly string[] = LIFTED_LIMITS,
): Promise<RunningServer> {
  const node = await startNode({ db }, flags);
  return track({ ...node, nodes: [node], pids: [node.pid] });
}

/** `main.ts` on `store` with `flags` on the server core, once it listens; `stop` ends it. */
async function startNode(
  store: MainStore,
  flags: readonly string[],
  cpu = SERVER_CPU,
): Promise<Node & Pick<RunningServer, "stop">> {
  // BENCH_PROFILE=DIR writes a V8 CPU profile of our server there.
  const profile = Deno.env.get("BENCH_PROFILE");
  const server = new MainProcess({
    ...store,
    flags,
    denoFlags: profile ? [`--cpu-prof-dir=${profile}`, "--cpu-prof"] : [],
    runUnder: ["taskset", "-c", cpu],
    onStderr: (line) => console.error(line),
  });
  const inTime = await within(server.listening, START_TIMEOUT_MS);
  const at = inTime ? await server.listening : undefined;
  if (at === undefined) {
    await server.stop("SIGKILL");
    throw new Error("bench: main.ts exited or timed out before listening");
  }
  return {
    pid: server.pid,
    endpoints: { chatWs: at.http.port, chatTcp: at.tcp.port, irc: at.irc.port },
    stop: async () => {
      // A profiled node writes its profile as it exits, after its members have gone.
      await server.stop("SIGTERM", profile ? PROFILE_STOP_MS : STOP_MS);
    },
  };
}

/**
 * `nodes` nodes of `main.ts --redis` and their `redis-server`, all on the
 * server core; stops the nodes, then Redis.
 */
async function startCluster(nodes: number): Promise<RunningServer> {
  const redis = await RedisServer.start({
    appendfsync: "everysec",
    runUnder: ["taskset", "-c", SERVER_CPU],
  });
  const started: Awaited<ReturnType<typeof startNode>>[] = [];
  const stop = async () => {
    await Promise.all(started.map((n) => n.stop()));
    await redis[Symbol.asyncDispose]();
  };
  try {
    // One at a time: each joins a service the ones before it started.
    for (let i = 0; i < nodes; i++) {
      const cpus = (Deno.env.get("BENCH_NODE_CPUS") ?? SERVER_CPU).split(",");
      started.push(await startNode({ redis: redis.url }, LIFTED_LIMITS, cpus[i % cpus.length]));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const first = started[0]!;
  const redisPid = redis.pid;
  if (redisPid === undefined) throw new Error("bench: redis-server is not running");
  return track({
    pid: first.pid,
    endpoints: first.endpoints,
    nodes: started.map(({ pid, endpoints }) => ({ pid, endpoints })),
    pids: [...started.map((n) => n.pid), redisPid],
    redis: { pid: redisPid, port: redis.port },
    stop,
  });
}

/** Runs `args` on the server core; resolves once its output names its ports. */
async function spawnAnnouncing(
  args: string[],
  cwd: URL,
  parse: (text: string) => Endpoints | undefined,
): Promise<RunningServer> {
  const child = new Deno.Command("taskset", {
    args: ["-c", SERVER_CPU, ...args],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let endpoints: Endpoints | undefined;
  const timer = setTimeout(() => child.kill("SIGKILL"), START_TIMEOUT_MS);
  try {
    while (!(endpoints = parse(text))) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`bench: ${args.slice(0, 3).join(" ")} exited before listening`);
      text += value;
    }
  } finally {
    clearTimeout(timer);
  }
  // Keep draining its output so a chatty server never blocks on a full pipe.
  (async () => {
    try {
      while (!(await reader.read()).done);
    } catch {
      // The process is gone.
    }
  })();
  return stoppable(child, endpoints);
}

/** Servers started and not yet stopped. */
const running = new Set<RunningServer>();

/** Stops every server still running (on an interrupt). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop()));
}

/** How long a server may take to exit after SIGTERM before it is sent SIGKILL. */
const STOP_MS = 5000;
/** ...and when it writes a CPU profile: a node of 15,000 members takes more than 5 s. */
const PROFILE_STOP_MS = 60_000;

/** A peer's process as a {@linkcode RunningServer}. */
function stoppable(child: Deno.ChildProcess, endpoints: Endpoints): RunningServer {
  const node = { pid: child.pid, endpoints };
  return track({
    ...node,
    nodes: [node],
    pids: [child.pid],
    stop: async () => {
      await stopProcess(child, "SIGTERM", STOP_MS);
    },
  });
}

/** Keeps `server` in {@linkcode running} until it is stopped, and makes its stop idempotent. */
function track(server: RunningServer): RunningServer {
  let stopping: Promise<void> | undefined;
  const tracked: RunningServer = {
    ...server,
    stop() {
      stopping ??= server.stop().then(() => {
        running.delete(tracked);
      });
      return stopping;
    },
  };
  running.add(tracked);
  return tracked;
}

/** A port nobody listens on right now. */
function freePort(): number {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** How often, and how many times, to try connecting to a starting ngircd. */
const NGIRCD_POLL_MS = 50;
const NGIRCD_POLLS = 200;

async function startNgircd(dir: string): Promise<RunningServer> {
  const port = freePort();
  const template = await Deno.readTextFile(new URL("ngircd.conf", PEERS));
  const config = `${dir}/ngircd-${port}.conf`;
  await Deno.writeTextFile(config, template.replace(/^(\s*Ports = )PORT$/m, `$1${port}`));
  const child = new Deno.Command("taskset", {
    args: ["-c", SERVER_CPU, "/usr/sbin/ngircd", "--nodaemon", "--config", config],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < NGIRCD_POLLS; i++) {
    try {
      const conn = await Deno.connect({ hostname: HOST, port });
      conn.close();
      return stoppable(child, { irc: port });
    } catch (e) {
      if (!(e instanceof Deno.errors.ConnectionRefused)) throw e;
      await new Promise((r) => setTimeout(r, NGIRCD_POLL_MS));
    }
  }
  child.kill("SIGKILL");
  await child.status;
  throw new Error("bench: ngircd did not start listening");
}
