/**
 * The servers a soak run goes to, started and stopped here, each `main.ts`
 * in a process of its own on ports 0 with the limits a load runs into
 * lifted: one server with a temporary database (`--nodes 1`), or N nodes of
 * one service over a `redis-server` of the run's own (`--nodes N`: each
 * node `main.ts --redis URL`, no database). The nodes stop before Redis, so
 * that each can still tell the others as it goes; on a failure everything is
 * killed, nodes first.
 *
 * @module
 */

import { LIFTED_LIMITS, type MainProcess, startMain } from "../../tests/kit/main_process.ts";
import { RedisServer } from "../../tests/kit/redis_server.ts";
import type { Listening } from "../../tests/kit/server.ts";
import { problem } from "./problems.ts";

/** How long a server gets to exit after SIGTERM before SIGKILL. */
const STOP_MS = 10_000;
/** Server stderr lines echoed here (all are counted). */
const STDERR_SHOWN = 20;

/** One server of the service, as the members and the readings see it. */
export interface Node {
  /** Its number, from 0 (its place in {@linkcode Service.nodes}). */
  readonly index: number;
  /** Its process, for memory and CPU readings. */
  readonly pid: number;
  /** Where it listens. */
  readonly address: Listening;
  /**
   * True if it is one node of several (`--redis`): it hands a room message
   * on to Redis as it handles the line, and delivers it (its sender's too)
   * only when Redis's feed brings it back, in id order, after it may have
   * answered the sender's later lines.
   */
  readonly clustered: boolean;
}

/** One server, or several nodes and their Redis. */
export class Service {
  /** The nodes, in the order started. */
  readonly nodes: Node[] = [];
  readonly #processes: MainProcess[] = [];
  #redis: RedisServer | undefined;
  #stopping = false;

  /** The name a node goes by in messages: "server" when it is alone. */
  static label(node: Node): string {
    return node.clustered ? `node ${node.index + 1}` : "server";
  }

  /**
   * Starts `count` servers: with 1, one with its database in `dir`; with
   * more, a `redis-server` and that many nodes over it. What started before
   * a failure is left for {@linkcode kill}.
   */
  async start(count: number, dir: string): Promise<void> {
    // Synced once a second, as `deno task cluster` runs it: a sync per write measures the disk.
    if (count > 1) this.#redis = await RedisServer.start({ appendfsync: "everysec" });
    const redis = this.#redis;
    for (let index = 0; index < count; index++) {
      // Thousands of members on one address, some sending often: the limits
      // that would (rightly) refuse them are lifted.
      const where = redis ? { redis: redis.url } : { db: `${dir}/soak.db` };
      const label = redis ? `node ${index + 1}` : "server";
      const server = await startMain({
        ...where,
        flags: LIFTED_LIMITS,
        onStderr: (line) => {
          if (problem("server stderr lines", `${label}: ${line}`) <= STDERR_SHOWN) {
            console.error(`${label}: ${line}`);
          }
        },
      });
      this.#processes.push(server);
      this.nodes.push({
        index,
        pid: server.pid,
        address: server.address,
        clustered: redis !== undefined,
      });
      server.exited().then(({ status }) => {
        if (!this.#stopping) {
          problem("server exit", `${label} exited during the run, code ${status.code}`);
        }
      });
    }
  }

  /** The `redis-server`'s process, while there is one. */
  get redisPid(): number | undefined {
    return this.#redis?.pid;
  }

  /** Stops the nodes (SIGTERM; an exit code but 0 is a problem), then Redis. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#processes.map(async (server, i) => {
      const { status } = await server.stop("SIGTERM", STOP_MS);
      if (status.code !== 0) {
        problem("server exit", `${Service.label(this.nodes[i]!)} exit code ${status.code}`);
      }
    }));
    await this.#redis?.stop();
  }

  /** Kills whatever still runs, nodes first, and removes Redis's folder. Idempotent. */
  async kill(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#processes.map((server) => server.stop("SIGKILL")));
    const redis = this.#redis;
    this.#redis = undefined;
    if (redis) {
      await redis.stop("SIGKILL");
      await Deno.remove(redis.dir, { recursive: true });
    }
  }

  /** Sends every process SIGKILL now, without waiting, and removes Redis's folder: for an exit now. */
  killNow(): void {
    this.#stopping = true;
    for (const server of this.#processes) void server.stop("SIGKILL");
    const redis = this.#redis;
    this.#redis = undefined;
    if (redis) {
      void redis.stop("SIGKILL");
      Deno.removeSync(redis.dir, { recursive: true });
    }
  }
}
