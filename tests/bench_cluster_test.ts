/**
 * The bench's several nodes (issue 15) without running them: how members
 * are spread over the nodes, and how `bench/RESULTS.md` judges 2 nodes and a
 * Redis, and one node with its Redis, against one node from a run's figures.
 * The comparison itself runs under
 * `deno task bench --targets ours,ours-redis,ours-cluster`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { renderMarkdown } from "../bench/report.ts";
import type { CapacityResult, ThroughputResult } from "../bench/scenarios.ts";
import { kindOf, nodeOf, type TargetName } from "../bench/servers.ts";
import { fanout as fanoutIn, latency, results, targetRows } from "./kit/bench_results.ts";

/** Fan-out at 256 members; the cluster's with Redis's CPU share. */
function fanout(target: TargetName, rate: number): ThroughputResult {
  const r = fanoutIn(target, 256, rate);
  return target === "ours" ? r : { ...r, redisCpu: 0.1 };
}

function capacity(held: number): CapacityResult {
  return {
    target: "ours-cluster",
    held,
    stoppedBy: "reached the target of 40000",
    rss: 900 * 1024,
    seconds: 90,
    nodes: [{ rss: 400 * 1024, files: 20_000 }, { rss: 420 * 1024, files: 19_990 }],
    redisRss: 80 * 1024,
  };
}

/** The rows of the several nodes' targets table, by their first cell. */
function clusterRows(markdown: string): Map<string, string> {
  return targetRows(markdown, "## The issue's targets for several nodes");
}

Deno.test("nodeOf() spreads every stride the scenarios pick by over both nodes", () => {
  for (const stride of [1, 4, 16, 64]) {
    const counts = [0, 0];
    for (let i = 0; i < 1024 * stride; i += stride) counts[nodeOf(i, 2)]!++;
    assert.ok(counts[0]! > 400 && counts[1]! > 400, `every ${stride}th: ${counts.join(" / ")}`);
  }
  for (let i = 0; i < 100; i++) assert.equal(nodeOf(i, 1), 0);
});

Deno.test("kindOf() mixes WebSocket and terminal members on ours-cluster as on ours", () => {
  for (let i = 0; i < 8; i++) assert.equal(kindOf("ours-cluster", i), kindOf("ours", i));
});

Deno.test("renderMarkdown() judges 1 and 2 nodes + Redis against one node: fan-out, p99, members held", () => {
  const rows = clusterRows(renderMarkdown(results(
    [fanout("ours", 2_000_000), fanout("ours-redis", 1_500_000), fanout("ours-cluster", 1_700_000)],
    [latency("ours", 20), latency("ours-redis", 24), latency("ours-cluster", 26)],
    [capacity(39_990)],
  )));
  assert.match(
    rows.get("256 members, 2 nodes + Redis: delivered/s ≥ 80% of one node's") ?? "",
    /1\.70M vs 2\.00M: 0\.85×.*of which Redis 10%.*\*\*met\*\*/,
  );
  assert.match(
    rows.get("256 members, 1 node + Redis: delivered/s ≥ 80% of one node's") ?? "",
    /1\.50M vs 2\.00M: 0\.75×.*\*\*missed\*\*/,
  );
  assert.match(
    rows.get("p99 at 1,024 members, 200 msg/s, 2 nodes + Redis: ≤ one node's + 5 ms") ?? "",
    /26\.00 ms vs 20\.00 ms.*\*\*missed\*\*/,
  );
  assert.match(
    rows.get("p99 at 1,024 members, 200 msg/s, 1 node + Redis: ≤ one node's + 5 ms") ?? "",
    /24\.00 ms vs 20\.00 ms.*\*\*met\*\*/,
  );
  assert.match(
    rows.get("30,000 members held across the nodes") ?? "",
    /39,990 \(nodes 400\.0 MiB, 420\.0 MiB with 20,000 and 19,990 files open; Redis 80\.0 MiB\).*\*\*met\*\*/,
  );
});

Deno.test("renderMarkdown() says a several-nodes target not measured when a side did not run", () => {
  const markdown = renderMarkdown(results([fanout("ours-cluster", 1_700_000)], [], []));
  const rows = clusterRows(markdown);
  assert.match(
    rows.get("256 members, 2 nodes + Redis: delivered/s ≥ 80% of one node's") ?? "",
    /not measured/,
  );
  assert.match(
    rows.get("256 members, 1 node + Redis: delivered/s ≥ 80% of one node's") ?? "",
    /not measured/,
  );
  assert.match(
    rows.get("p99 at 1,024 members, 200 msg/s, 2 nodes + Redis: ≤ one node's + 5 ms") ?? "",
    /not measured/,
  );
  assert.match(rows.get("30,000 members held across the nodes") ?? "", /not measured/);
  assert.ok(!renderMarkdown(results([fanout("ours", 2e6)], [], [])).includes("several nodes"));
  assert.ok(renderMarkdown(results([fanout("ours-redis", 2e6)], [], [])).includes("several nodes"));
});
