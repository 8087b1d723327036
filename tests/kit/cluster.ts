/**
 * Several nodes of one service for a test: servers started here, each with
 * its own {@linkcode RedisCluster} on one real `redis-server`
 * (`redis_server.ts`), and what a test of them waits on: a node's
 * `/healthz` answering as expected. The nodes as real processes are
 * `main_process.ts`'s, with `redis`.
 *
 * @module
 */

import { RedisCluster, type RedisClusterOptions } from "../../server/bus/cluster.ts";
import { RedisProxy } from "./redis_proxy.ts";
import { RedisServer } from "./redis_server.ts";
import {
  type ChatOptions,
  type ChatServer,
  httpUrl,
  type Listening,
  startServer,
} from "./server.ts";

/**
 * Waits until the node's `/healthz` answers `status` (200 once it knows the
 * service's members and while it reaches Redis; 503 while it cannot), asking
 * again as soon as it has answered otherwise; fails after `ms`.
 */
export async function untilHealth(
  node: Pick<Listening, "http">,
  status: 200 | 503,
  ms = 15_000,
): Promise<void> {
  const end = performance.now() + ms;
  let last = 0;
  while (performance.now() < end) {
    const answer = await fetch(httpUrl(node, "/healthz"));
    await answer.body?.cancel();
    last = answer.status;
    if (last === status) return;
  }
  throw new Error(
    `/healthz of port ${node.http.port} did not answer ${status} in ${ms} ms: ${last}`,
  );
}

/** How {@linkcode withNodes} opens each node's cluster. */
export interface NodeOptions extends Partial<Omit<RedisClusterOptions, "url">> {
  /** Every node reaches Redis through one {@linkcode RedisProxy}, handed to `fn`. */
  proxy?: boolean;
}

/**
 * Runs `fn` against `n` nodes started here on a fresh Redis (each with
 * `options`, such as the page's assets, and its cluster with `cluster`),
 * once each is healthy; shuts them down after, then Redis.
 */
export async function withNodes(
  n: number,
  fn: (nodes: ChatServer[], redis: RedisServer, proxy: RedisProxy | undefined) => Promise<void>,
  options: ChatOptions = {},
  { proxy: proxied = false, ...cluster }: NodeOptions = {},
): Promise<void> {
  await using redis = await RedisServer.start();
  await using proxy = proxied ? new RedisProxy(redis.port) : undefined;
  const nodes: ChatServer[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const opened = await RedisCluster.open({
        keep: 1000,
        ...cluster,
        url: proxy?.url ?? redis.url,
      });
      nodes.push(startServer({ maxPerIp: 1000, ...options, cluster: opened }));
    }
    for (const node of nodes) await untilHealth(node, 200);
    await fn(nodes, redis, proxy);
  } finally {
    for (const node of nodes) await node.shutdown();
  }
}
