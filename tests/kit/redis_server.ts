/**
 * A real `redis-server` (Debian's, 7.x) for a test: on 127.0.0.1 and a free
 * port, keeping its data (append-only file on) in a folder of its own, so a
 * test can stop it, start it again on the same data, or pause it
 * (SIGSTOP/SIGCONT) as a network that stops answering would. Every wait is
 * on its output or its exit, never on a clock. `tests/setup.ts` installs the
 * program as root when it is missing.
 *
 * @module
 */

import { stopProcess } from "./main_process.ts";
import { Waiters } from "./waiters.ts";

/** Where Debian installs it. */
export const REDIS_SERVER = "/usr/bin/redis-server";

const READY = /Ready to accept connections/;

/** A port nothing listens on now (the kernel's pick, let go at once). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Options for {@linkcode RedisServer.start}. */
export interface RedisServerOptions {
  /**
   * When the append-only file is flushed to disk: after every write (tests
   * of durability), or once a second (`deno task cluster`'s setting, and the
   * bench's). @default {"always"}
   */
  appendfsync?: "always" | "everysec";
  /** A command to run it under, such as `["taskset", "-c", "0"]`. @default {[]} */
  runUnder?: readonly string[];
}

const REDIS_DEFAULTS: Required<RedisServerOptions> = { appendfsync: "always", runUnder: [] };

/** One `redis-server` process; {@linkcode RedisServer.restart} starts another on the same data and port. */
export class RedisServer implements AsyncDisposable {
  readonly dir: string;
  readonly port: number;
  readonly #options: Required<RedisServerOptions>;
  #child: Deno.ChildProcess | undefined;
  #text = "";
  #waiters = new Waiters();
  #output: Promise<void> = Promise.resolve();

  private constructor(dir: string, port: number, options: Required<RedisServerOptions>) {
    this.dir = dir;
    this.port = port;
    this.#options = options;
  }

  /** Starts one in a new folder and waits until it accepts connections. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const dir = await Deno.makeTempDir({ prefix: "chat_redis_" });
    // Another process may take the port between the pick and the bind: pick again then.
    for (let attempt = 1;; attempt++) {
      const server = new RedisServer(dir, freePort(), { ...REDIS_DEFAULTS, ...options });
      try {
        await server.#spawn();
        return server;
      } catch (e) {
        await server.stop("SIGKILL");
        if (attempt === 3) {
          await Deno.remove(dir, { recursive: true });
          throw e;
        }
      }
    }
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Its process id while it runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Everything it printed since it was last started. */
  get output(): string {
    return this.#text;
  }

  async #spawn(): Promise<void> {
    this.#text = "";
    this.#waiters = new Waiters();
    const [command = REDIS_SERVER, ...under] = [...this.#options.runUnder, REDIS_SERVER];
    const child = new Deno.Command(command, {
      args: [
        ...under,
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--dir",
        this.dir,
        "--appendonly",
        "yes",
        "--appendfsync",
        this.#options.appendfsync,
        "--save",
        "",
        "--daemonize",
        "no",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    const waiters = this.#waiters;
    const read = async (stream: typeof child.stdout) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        this.#text += chunk;
        waiters.wake();
      }
    };
    this.#output = Promise.all([read(child.stdout), read(child.stderr)]).then(
      () => waiters.end(new Error("redis-server's output ended")),
    );
    await waiters.until(
      () => READY.test(this.#text) || undefined,
      () => `for "Ready to accept connections": ${this.#text}`,
    );
  }

  /** Stops it (SIGTERM: it writes its data and exits) and waits for it to be gone. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    // A paused process takes no signal but SIGKILL until it runs again.
    try {
      child.kill("SIGCONT");
    } catch {
      // It has exited already.
    }
    await stopProcess(child, signal);
    await this.#output;
  }

  /** Starts it again on the same port and data, after {@linkcode stop}. */
  async restart(): Promise<void> {
    if (this.#child !== undefined) throw new Error("redis-server is still running");
    await this.#spawn();
  }

  /** Pauses it (SIGSTOP): connections stay open and nothing is answered. */
  pause(): void {
    this.#child?.kill("SIGSTOP");
  }

  /** Lets a paused server run again (SIGCONT). */
  resume(): void {
    this.#child?.kill("SIGCONT");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop("SIGKILL");
    await Deno.remove(this.dir, { recursive: true });
  }
}
