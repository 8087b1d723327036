/**
 * The coordinator's side of the load generators: starts `generator.ts`
 * processes pinned to the generator's core, splits a room's members over
 * them, and sends each the same command.
 *
 * @module
 */

import type { Endpoints } from "./clients.ts";
import { type Command, type MemberSpec, readLines, type Reply } from "./generator.ts";
import { GENERATOR_CPU, nodeOf } from "./servers.ts";

type Op = Reply["op"];

/** One generator process. */
class Generator {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #waiting = new Map<Op, PromiseWithResolvers<Reply>[]>();
  readonly #exited: Promise<void>;
  readonly pid: number;

  constructor() {
    this.#child = new Deno.Command("taskset", {
      args: [
        "-c",
        GENERATOR_CPU,
        Deno.execPath(),
        "run",
        "--allow-net=127.0.0.1",
        new URL("./generator.ts", import.meta.url).pathname,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.pid = this.#child.pid;
    this.#writer = this.#child.stdin.getWriter();
    this.#exited = this.#read();
  }

  async #read(): Promise<void> {
    for await (const line of readLines(this.#child.stdout)) {
      const reply = parseReply(line);
      this.#waiting.get(reply.op)?.shift()?.resolve(reply);
    }
    for (const waiters of this.#waiting.values()) {
      for (const w of waiters) w.reject(new Error("bench: a generator process exited"));
    }
  }

  /** Sends a command; resolves with its reply. */
  async ask<C extends Command>(command: C): Promise<Extract<Reply, { op: C["op"] }>> {
    const waiter = Promise.withResolvers<Reply>();
    const list = this.#waiting.get(command.op) ?? [];
    list.push(waiter);
    this.#waiting.set(command.op, list);
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(command) + "\n"));
    const reply = await waiter.promise;
    if (reply.op !== command.op) throw new Error(`bench: expected a ${command.op} reply`);
    return reply as Extract<Reply, { op: C["op"] }>;
  }

  async stop(): Promise<void> {
    try {
      await this.ask({ op: "close" });
      await this.#writer.close();
    } catch {
      // Gone already.
    }
    const killer = setTimeout(() => this.#child.kill("SIGKILL"), 10_000);
    await this.#child.status;
    clearTimeout(killer);
    await this.#exited;
  }
}

function parseReply(line: string): Reply {
  const value: unknown = JSON.parse(line);
  if (typeof value !== "object" || value === null || !("op" in value)) {
    throw new TypeError(`bench: bad reply from a generator: ${line.slice(0, 80)}`);
  }
  const o: Record<string, unknown> = { ...value };
  const num = (key: string) => {
    const v = o[key];
    if (typeof v !== "number") throw new TypeError(`bench: generator reply without ${key}`);
    return v;
  };
  const bool = (key: string) => {
    const v = o[key];
    if (typeof v !== "boolean") throw new TypeError(`bench: generator reply without ${key}`);
    return v;
  };
  switch (o.op) {
    case "open": {
      const reply: Reply = { op: "open", opened: num("opened"), failed: num("failed") };
      if (typeof o.error === "string") reply.error = o.error;
      return reply;
    }
    case "burst":
      return { op: "burst", at: num("at"), received: num("received"), timedOut: bool("timedOut") };
    case "listen": {
      const delays = o.delays;
      if (!Array.isArray(delays) || !delays.every((d) => typeof d === "number")) {
        throw new TypeError("bench: generator reply without delays");
      }
      return { op: "listen", delays, received: num("received"), timedOut: bool("timedOut") };
    }
    case "send":
      return { op: "send", sent: num("sent") };
    case "close":
      return { op: "close" };
    default:
      throw new TypeError(`bench: bad reply from a generator: ${line.slice(0, 80)}`);
  }
}

/** Several generator processes sharing one room. */
export class GeneratorPool {
  readonly generators: Generator[];

  constructor(count: number) {
    this.generators = Array.from({ length: count }, () => new Generator());
  }

  /** The process ids, for CPU accounting. */
  get pids(): number[] {
    return this.generators.map((g) => g.pid);
  }

  /** Sends `command` to every generator; resolves with every reply. */
  all<C extends Command>(command: C): Promise<Extract<Reply, { op: C["op"] }>[]> {
    return Promise.all(this.generators.map((g) => g.ask(command)));
  }

  /**
   * Splits `members` over the generators, round robin, and opens them, each
   * on the node of `nodes` that {@linkcode nodeOf} its number picks, at most
   * `atOnce` at a time in all (at least one per generator and node).
   */
  async open(
    nodes: readonly Endpoints[],
    members: MemberSpec[],
    atOnce: number,
  ): Promise<{ opened: number; failed: number; error?: string }> {
    const concurrency = Math.max(1, Math.floor(atOnce / this.generators.length / nodes.length));
    const shares = this.generators.map(() => nodes.map((): MemberSpec[] => []));
    members.forEach((m, i) => {
      shares[i % shares.length]![nodeOf(Number(m.name.slice(1)), nodes.length)]!.push(m);
    });
    // A generator runs its commands one after another: one per node it has members for.
    const replies = await Promise.all(
      this.generators.flatMap((g, i) =>
        nodes.flatMap((endpoints, n) => {
          const share = shares[i]![n]!;
          return share.length === 0
            ? []
            : [g.ask({ op: "open", endpoints, members: share, concurrency })];
        })
      ),
    );
    const error = replies.find((r) => r.error)?.error;
    return {
      opened: replies.reduce((n, r) => n + r.opened, 0),
      failed: replies.reduce((n, r) => n + r.failed, 0),
      ...(error ? { error } : {}),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.generators.map((g) => g.stop()));
  }
}
