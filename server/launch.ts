/**
 * `deno task cluster [N] [FLAGS]`: N nodes of one service on this machine
 * (default: one per core), sharing the ports (`--reuse-port`, so the kernel
 * spreads new connections over them) and a Redis. Without `--redis URL` in
 * the flags it starts a local `redis-server` (append-only file on) that keeps
 * its data in `.cluster/redis/`, so rooms and history outlive a restart.
 * Every other flag goes to each node as `deno task start` takes it. Each
 * node's output is printed with its number in front. A node that ends by
 * itself once serving (killed, crashed) is started again, the others
 * carrying on; Ctrl-C stops the nodes (each tells the others its members
 * left), then Redis. Nothing it started outlives it, however it ends.
 *
 * @module
 */

import { resolve } from "node:path";
import { afterDashes } from "./config.ts";

/** Where Debian puts `redis-server`. */
const REDIS_SERVER = "redis-server";
/** What `main.ts` is run with: the permissions `deno task start` gives it. */
export const MAIN_PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
];
/**
 * Set in a node's environment by the launcher: the node stops once its
 * standard input (a pipe from the launcher) ends, so that no node outlives
 * a launcher killed outright.
 */
export const STOP_WITH_STDIN = "CHAT_STOP_WITH_STDIN";
/** How long a node that ended by itself waits to start again; doubled while it keeps ending young. */
const RESTART_MS = 1_000;
const RESTART_MAX_MS = 30_000;
/** A node that served this long before it ended is started again after {@linkcode RESTART_MS}. */
const SETTLED_MS = 30_000;
/** The HTTP, terminal and IRC ports a node takes unless told. */
const DEFAULT_PORTS = { "--port": 8000, "--tcp-port": 2323, "--irc-port": 6667 } as const;

/** What the command line asks for: how many nodes, and the flags each is given. */
export interface Launch {
  nodes: number;
  flags: string[];
  /** The Redis the flags name; undefined: start one here. */
  redis: string | undefined;
}

/** What `deno task cluster --help` prints; `cores` is this machine's. */
export function launchUsage(cores: number): string {
  return `Usage: deno task cluster [N] [FLAGS]

Starts N nodes of one chat service on this machine (N from 1 to 64; default:
one per core, ${Math.max(1, cores)} here). They share the ports (8000, 2323 and 6667 unless the
flags say otherwise) through --reuse-port, so the kernel spreads new
connections over them, and one Redis: the one --redis URL names, else a local
redis-server started here, keeping its data in .cluster/redis/.

FLAGS go to every node as \`deno task start\` takes them (its --help lists
them), except --db: the nodes keep everything in Redis. Each node's output is
shown with its number in front; a node that ends by itself is started again.
Ctrl-C stops the nodes, then Redis.`;
}

/**
 * Reads `[N] [FLAGS]`: N a whole number from 1 to 64. `-h` or `--help`
 * anywhere asks for {@linkcode launchUsage}, not a launch.
 */
export function parseLaunch(given: readonly string[], cores: number): Launch | "help" | string {
  const args = afterDashes(given);
  if (args.includes("--help") || args.includes("-h")) return "help";
  let nodes = Math.max(1, cores);
  let flags = [...args];
  if (flags[0] !== undefined && /^\d+$/.test(flags[0])) {
    nodes = Number(flags[0]);
    flags = flags.slice(1);
    if (nodes < 1 || nodes > 64) return `N must be from 1 to 64 (got ${args[0]})`;
  }
  if (flags.includes("--reuse-port")) flags = flags.filter((f) => f !== "--reuse-port");
  let redis: string | undefined;
  for (let i = 0; i < flags.length; i++) {
    const flag = flags[i]!;
    if (flag === "--redis") redis = flags[i + 1];
    else if (flag.startsWith("--redis=")) redis = flag.slice("--redis=".length);
    if (flag === "--db" || flag.startsWith("--db=")) {
      return "--db is not for a cluster: the nodes keep everything in Redis";
    }
  }
  return { nodes, flags, redis };
}

/** A port nothing listens on now (the kernel's pick, let go at once). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** The value a flag is given, if it is. */
function flagValue(flags: readonly string[], name: string): string | undefined {
  for (let i = 0; i < flags.length; i++) {
    if (flags[i] === name) return flags[i + 1];
    if (flags[i]!.startsWith(`${name}=`)) return flags[i]!.slice(name.length + 1);
  }
  return undefined;
}

/** Prints a child's output line by line, each with `prefix` in front. */
async function relay(
  stream: Deno.ChildProcess["stdout"],
  prefix: string,
  to: (line: string) => void,
) {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) to(`${prefix}${line}`);
  }
  if (rest !== "") to(`${prefix}${rest}`);
}

/** What the local redis-server is started with (printed, so that it can be started so by hand). */
function redisArgs(dir: string, port: number): string[] {
  return [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--appendonly",
    "yes",
    // Written to the file before a node is answered, synced to disk once
    // a second (Redis's default): as --db's SQLite, a killed Redis loses
    // nothing acknowledged, a power cut the last second.
    "--appendfsync",
    "everysec",
    "--save",
    "",
    "--daemonize",
    "no",
  ];
}

/** Starts a local redis-server keeping its data in `dir`; resolves once it accepts connections. */
async function startRedis(dir: string, port: number): Promise<Deno.ChildProcess> {
  await Deno.mkdir(dir, { recursive: true });
  let child;
  try {
    await new Deno.Command(REDIS_SERVER, { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
    // In a session of its own: a Ctrl-C at the terminal reaches the nodes, not Redis,
    // which must outlive them so that they can tell each other they are leaving.
    // Under a shell that stops it once its standard input (a pipe from this
    // process) ends: when this process closes it, or ends in any way
    // (`deno task` kills its task on Ctrl-C), Redis does not outlive it. The
    // shell ends with Redis, so that its output ends too, and a Redis that
    // could not start (a corrupt append-only file, a folder it cannot write)
    // is told at once, not waited for.
    child = new Deno.Command("setsid", {
      args: [
        "sh",
        "-c",
        [
          "exec 3<&0",
          'redis-server "$@" & r=$!',
          "{ cat <&3 >/dev/null 2>&1; kill -TERM $r 2>/dev/null; } & w=$!",
          "exec 3<&-",
          "wait $r; s=$?",
          "kill $w 2>/dev/null",
          "exit $s",
        ].join("\n"),
        "sh",
        ...redisArgs(dir, port),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        "redis-server is not installed: apt-get install -y redis-server (as root), or give --redis URL",
      );
    }
    throw e;
  }
  const ready = Promise.withResolvers<void>();
  let seen = "";
  const watch = async (stream: Deno.ChildProcess["stdout"]) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      if (seen.length < 100_000) seen += chunk;
      if (/Ready to accept connections/.test(seen)) ready.resolve();
    }
  };
  void Promise.all([watch(child.stdout), watch(child.stderr)]).then(() =>
    ready.reject(
      new Error(`redis-server stopped: ${seen.trim().split("\n").slice(-3).join(" | ")}`),
    )
  );
  await ready.promise;
  return child;
}

function send(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // It has exited already.
  }
}

/** How often the launcher looks whether what started it is still there ({@linkcode watchParent}). */
export const PARENT_CHECK_MS = 500;

/**
 * Calls `stop` once the process that started this one has ended (this one
 * is then another's child: init's, or a subreaper's): `deno task cluster`
 * killed outright (`kill -9`, its terminal gone) would leave this launcher,
 * its nodes and Redis running with nobody to stop them. Started by init
 * itself (a service manager), there is nothing to watch.
 */
export function watchParent(stop: () => void): ReturnType<typeof setInterval> | undefined {
  const parent = Deno.ppid;
  if (parent <= 1) return undefined;
  const timer = setInterval(() => {
    if (Deno.ppid === parent) return;
    console.error("cluster: what started it has ended: stopping");
    clearInterval(timer);
    stop();
  }, PARENT_CHECK_MS);
  return timer;
}

async function main(args: string[]): Promise<number> {
  const launch = parseLaunch(args, navigator.hardwareConcurrency);
  if (launch === "help") {
    console.log(launchUsage(navigator.hardwareConcurrency));
    return 0;
  }
  if (typeof launch === "string") {
    console.error(`cluster: ${launch}`);
    return 2;
  }
  // Another cluster or server on these ports would share them with ours: refuse instead.
  for (const [flag, port] of Object.entries(DEFAULT_PORTS)) {
    const given = Number(flagValue(launch.flags, flag) ?? port);
    if (given === 0) continue;
    try {
      Deno.listen({ hostname: flagValue(launch.flags, "--host") ?? "127.0.0.1", port: given })
        .close();
    } catch {
      console.error(
        `cluster: ${flag} ${given} is in use (another server or cluster?); stop it, or pass ${flag} N`,
      );
      return 1;
    }
  }
  const base = Deno.env.get("INIT_CWD") ?? Deno.cwd();
  let redis: Deno.ChildProcess | undefined;
  let url = launch.redis;
  if (url === undefined) {
    const dir = resolve(base, ".cluster", "redis");
    const port = freePort();
    try {
      redis = await startRedis(dir, port);
    } catch (e) {
      console.error(`cluster: ${e instanceof Error ? e.message : String(e)}`);
      return 1;
    }
    url = `redis://127.0.0.1:${port}`;
    console.log(`cluster: redis-server ${url}, its data in ${dir}`);
    const shown = redisArgs(dir, port).map((a) => /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a}'`);
    console.log(`cluster: started as: redis-server ${shown.join(" ")}`);
  }
  const main = new URL("../main.ts", import.meta.url).pathname;
  const nodeFlags = launch.redis === undefined ? ["--redis", url, ...launch.flags] : launch.flags;
  const nodes = new Map<number, Deno.ChildProcess>();
  const relays: Promise<void>[] = [];
  const restarts = new Set<ReturnType<typeof setTimeout>>();
  const stopped = Promise.withResolvers<void>();
  let stopping = false;
  const stop = () => {
    stopping = true;
    stopped.resolve();
  };
  let failed = 0;
  /**
   * Starts node `i`, and starts it again whenever it ends by itself (killed,
   * crashed): the others carry on, as they would on other machines. One that
   * ends before it ever started serving (a bad flag, Redis refused) stops
   * the rest. `wait`: how long it waited this time; doubled while it keeps
   * ending within {@linkcode SETTLED_MS} of a start.
   */
  const start = (i: number, wait: number, first: boolean) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...MAIN_PERMISSIONS, main, "--reuse-port", ...nodeFlags],
      cwd: base,
      // A pipe from this process: it ends when this process does, however
      // it ends, and the node stops with it (main.ts, STOP_WITH_STDIN).
      env: { [STOP_WITH_STDIN]: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    nodes.set(i, child);
    const began = performance.now();
    let serving = false;
    const prefix = `[node ${i}] `;
    relays.push(relay(child.stdout, prefix, (line) => {
      if (!serving && line.includes(" msg=started")) serving = true;
      console.log(line);
    }));
    relays.push(relay(child.stderr, prefix, console.error));
    console.log(`cluster: node ${i} started, pid ${child.pid}`);
    void child.status.then((status) => {
      if (stopping) return;
      const how = status.signal === null
        ? `exited with code ${status.code}`
        : `was stopped by ${status.signal}`;
      if (first && !serving) {
        failed = status.code || 1;
        console.error(`cluster: node ${i} ${how} before it served`);
        return stop();
      }
      const next = performance.now() - began >= SETTLED_MS
        ? RESTART_MS
        : Math.min(wait * 2, RESTART_MAX_MS);
      console.error(
        `cluster: node ${i} ${how}; the other nodes carry on, and it starts again in ${
          next / 1000
        } s`,
      );
      const timer = setTimeout(() => {
        restarts.delete(timer);
        if (!stopping) start(i, next, false);
      }, next);
      restarts.add(timer);
    });
  };
  for (let i = 1; i <= launch.nodes; i++) start(i, RESTART_MS / 2, true);
  console.log(
    `cluster: ${launch.nodes} node${
      launch.nodes === 1 ? "" : "s"
    } sharing the same ports (a port 0 is a different one for each); Ctrl-C stops them all`,
  );
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  // The listeners stay until the end: `deno task` passes a Ctrl-C on to its
  // task, which the terminal sent it too, and a second SIGINT with no
  // listener would kill this process before it stopped Redis.
  const orphaned = watchParent(stop);
  await stopped.promise;
  clearInterval(orphaned);
  console.log("cluster: stopping the nodes");
  for (const timer of restarts) clearTimeout(timer);
  for (const child of nodes.values()) send(child, "SIGTERM");
  const kill = setTimeout(() => nodes.forEach((child) => send(child, "SIGKILL")), 10_000);
  await Promise.all([...nodes.values()].map((child) => child.status));
  clearTimeout(kill);
  await Promise.all(relays);
  if (redis) {
    console.log("cluster: stopping redis-server");
    // Its shell stops it once its standard input ends (see startRedis).
    await redis.stdin.close();
    await redis.status;
  }
  console.log("cluster: stopped");
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  return failed;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
