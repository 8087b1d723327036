/**
 * The real program, `main.ts`, in a child process on 127.0.0.1 and free
 * ports: the durability tests kill and restart it, the bench measures it, the
 * soak runs thousands of members against it. How it is started is written
 * here once; each caller adds what is its own (a database, lifted limits, a
 * CPU profile, a core to run on, a limit on open files).
 *
 * Where it listens is read from its banner (`server/banner.ts`), and every
 * wait is on its output or its exit, never on a clock.
 *
 * @module
 */

import { MAIN_PERMISSIONS } from "../../server/launch.ts";
import type { Listening } from "./server.ts";
import { Waiters } from "./waiters.ts";

/**
 * Where it keeps what it keeps: a SQLite file of its own, or, as one node of
 * a service of several, a Redis it shares with the others (and then no file).
 */
export type MainStore =
  /** `--db`: the SQLite file, or `:memory:`. */
  | { db: string; redis?: undefined }
  /** `--redis`: the URL of the Redis every node of the service uses. */
  | { redis: string; db?: undefined };

/** How to start `main.ts`. */
export type MainOptions = MainStore & MainFlags;

/** How to start `main.ts`, besides where it keeps its data. */
export interface MainFlags {
  /** More flags for `main.ts`, such as {@linkcode LIFTED_LIMITS}. */
  flags?: readonly string[];
  /** Flags for `deno run`, before `main.ts` (a CPU profile). */
  denoFlags?: readonly string[];
  /** A command to run it all under, such as `["taskset", "-c", "0"]`. */
  runUnder?: readonly string[];
  /** Runs it under `ulimit -n` of this many open files. */
  maxOpenFiles?: number;
  /** More environment variables for it (`INIT_CWD`, as `deno task` sets). */
  env?: Record<string, string>;
  /** Called with each line the server writes to standard error, as it comes. */
  onStderr?: (line: string) => void;
  /** Written to its standard input, a pipe then closed; without it, standard input is null. */
  input?: string;
}

/**
 * Flags that lift the limits a load rightly runs into: thousands of members
 * from one address, joining many a second, each sending faster than a
 * person types.
 */
export const LIFTED_LIMITS: readonly string[] = [
  "--flood-burst",
  "1000000",
  "--flood-rate",
  "1000000",
  "--max-per-ip",
  "1000000",
  "--max-clients",
  "1000000",
  "--join-rate",
  "1000000",
];

/** How a server process ended, and everything it wrote. */
export interface Exit {
  status: Deno.CommandStatus;
  stdout: string;
  stderr: string;
}

/** How long a process sent a signal may take to exit before it is sent SIGKILL. */
export const KILL_AFTER_MS = 10_000;

const ROOT = new URL("../..", import.meta.url);

const PAGE_LINE = /^chat: page\s+http:\/\/([^/\s]+):(\d+)\/$/m;
const TERMINAL_LINE = /^chat: terminal\s+nc (\S+) (\d+)\b/m;
const IRC_LINE = /^chat: irc\s.*server (\S+)\/(\d+)/m;

/** Where the server said it listens (its banner, on standard output), once it has said so in full. */
export function addresses(stdout: string): Listening | undefined {
  const [, httpHost, httpPort] = PAGE_LINE.exec(stdout) ?? [];
  const [, tcpHost, tcpPort] = TERMINAL_LINE.exec(stdout) ?? [];
  const [, ircHost, ircPort] = IRC_LINE.exec(stdout) ?? [];
  if (!httpHost || !httpPort || !tcpHost || !tcpPort || !ircHost || !ircPort) return undefined;
  return {
    http: { transport: "tcp", hostname: httpHost, port: Number(httpPort) },
    tcp: { transport: "tcp", hostname: tcpHost, port: Number(tcpPort) },
    irc: { transport: "tcp", hostname: ircHost, port: Number(ircPort) },
  };
}

/** The command line that starts `main.ts` as `options` say, run from the project's root. */
export function commandLine(options: MainOptions): string[] {
  let argv = [
    Deno.execPath(),
    "run",
    ...MAIN_PERMISSIONS,
    ...options.denoFlags ?? [],
    "main.ts",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--tcp-port",
    "0",
    "--irc-port",
    "0",
    ...options.redis === undefined ? ["--db", options.db] : ["--redis", options.redis],
    ...options.flags ?? [],
  ];
  if (options.maxOpenFiles !== undefined) {
    argv = ["bash", "-c", `ulimit -n ${options.maxOpenFiles} && exec "$0" "$@"`, ...argv];
  }
  return [...options.runUnder ?? [], ...argv];
}

/** `main.ts` in a child process, its output collected as it comes. */
export class MainProcess implements AsyncDisposable {
  readonly pid: number;
  /** Where it listens once it has printed so; undefined if its output ended first. */
  readonly listening: Promise<Listening | undefined>;
  readonly #child: Deno.ChildProcess;
  readonly #stdout: Promise<string>;
  readonly #stderr: Promise<string>;
  readonly #waiters = new Waiters();
  #text = "";
  #at: Listening | undefined;
  /** While set, standard output is not read (its pipe fills, as a stalled terminal's would). */
  #held: PromiseWithResolvers<void> | undefined;
  #exit: Promise<Exit> | undefined;

  /** Starts it; see {@linkcode startMain} to wait until it listens. */
  constructor(options: MainOptions) {
    const [command = "", ...args] = commandLine(options);
    this.#child = new Deno.Command(command, {
      args,
      cwd: ROOT,
      ...options.env ? { env: options.env } : {},
      stdin: options.input === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.pid = this.#child.pid;
    if (options.input !== undefined) void this.#write(options.input);
    const { promise, resolve } = Promise.withResolvers<Listening | undefined>();
    this.listening = promise;
    this.#stdout = this.#readStdout(resolve);
    this.#stderr = this.#readStderr(options.onStderr);
  }

  /** Where it listens; throws if it has not said so (yet). */
  get address(): Listening {
    if (this.#at === undefined) throw new Error("The server has not said where it listens");
    return this.#at;
  }

  /**
   * Stops reading its standard output until `release()`: the pipe fills and
   * the server's writes to it wait, as they would on a terminal that
   * stopped reading. The chunk under way is taken first.
   */
  holdOutput(): { release(): void } {
    const held = this.#held ??= Promise.withResolvers<void>();
    return {
      release: () => {
        held.resolve();
        if (this.#held === held) this.#held = undefined;
      },
    };
  }

  /** Waits until the output so far matches `pattern`; rejects if the output ends first. */
  async output(pattern: RegExp): Promise<void> {
    await this.#waiters.until(
      () => pattern.test(this.#text) || undefined,
      () => `without ${pattern}: ${this.#text}`,
    );
  }

  /**
   * Sends `signal` (unless it has exited), and SIGKILL if it has not exited
   * `killAfterMs` later; resolves with the exit. Idempotent.
   */
  stop(signal: Deno.Signal = "SIGTERM", killAfterMs = KILL_AFTER_MS): Promise<Exit> {
    this.#held?.resolve();
    stopProcess(this.#child, signal, killAfterMs);
    return this.exited();
  }

  /** Waits for the process to exit by itself and for the end of its output. */
  exited(): Promise<Exit> {
    this.#exit ??= (async () => {
      const [status, stdout, stderr] = await Promise.all([
        this.#child.status,
        this.#stdout,
        this.#stderr,
      ]);
      return { status, stdout, stderr };
    })();
    return this.#exit;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop("SIGKILL");
  }

  async #write(input: string): Promise<void> {
    const writer = this.#child.stdin.getWriter();
    try {
      await writer.write(new TextEncoder().encode(input));
      await writer.close();
    } catch {
      // It exited without reading: what it does with its input is the test's to see.
    }
  }

  async #readStdout(ready: (at: Listening | undefined) => void): Promise<string> {
    try {
      for await (const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
        this.#text += chunk;
        this.#at ??= addresses(this.#text);
        if (this.#at) ready(this.#at);
        this.#waiters.wake();
        await this.#held?.promise;
      }
    } finally {
      ready(undefined);
      this.#waiters.end(new Error("the server's output ended"));
    }
    return this.#text;
  }

  async #readStderr(onLine: ((line: string) => void) | undefined): Promise<string> {
    let text = "";
    let from = 0;
    for await (const chunk of this.#child.stderr.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      for (let nl; (nl = text.indexOf("\n", from)) !== -1; from = nl + 1) {
        onLine?.(text.slice(from, nl));
      }
    }
    if (from < text.length) onLine?.(text.slice(from));
    return text;
  }
}

/**
 * Starts `main.ts` and waits until it listens; throws, with what it wrote to
 * standard error, if it exits first.
 */
export async function startMain(options: MainOptions): Promise<MainProcess> {
  const server = new MainProcess(options);
  if ((await server.listening) === undefined) {
    const { status, stderr } = await server.exited();
    throw new Error(`the server exited (${status.code}) before listening: ${stderr}`);
  }
  return server;
}

/**
 * Sends a child `signal`, and SIGKILL if it has not exited `killAfterMs`
 * later; resolves with its status.
 */
export async function stopProcess(
  child: Deno.ChildProcess,
  signal: Deno.Signal = "SIGTERM",
  killAfterMs = KILL_AFTER_MS,
): Promise<Deno.CommandStatus> {
  send(child, signal);
  const killer = setTimeout(() => send(child, "SIGKILL"), killAfterMs);
  try {
    return await child.status;
  } finally {
    clearTimeout(killer);
  }
}

function send(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch (e) {
    // It has exited already: nothing to stop.
    if (!(e instanceof TypeError)) throw e;
  }
}
