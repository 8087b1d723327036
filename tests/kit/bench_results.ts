/**
 * A run's {@linkcode Results} made up for the tests of `bench/report.ts`:
 * figures chosen to meet or miss a target, without running the bench.
 *
 * @module
 */

import type { Results } from "../../bench/report.ts";
import { spread } from "../../bench/measure.ts";
import type { CapacityResult, LatencyResult, ThroughputResult } from "../../bench/scenarios.ts";
import type { TargetName } from "../../bench/servers.ts";

/** CPU shares that say nothing was saturated. */
export const CPU = { serverCpu: 0.9, generatorCpu: 0.4, otherServerCore: 0, otherGeneratorCore: 0 };

/** Fan-out in a room of `members`, every one sending once, at `rate` delivered/s. */
export function fanout(target: TargetName, members: number, rate: number): ThroughputResult {
  return {
    target,
    members,
    senders: members,
    perMember: 1,
    deliveries: members * members,
    rate: spread([rate]),
    ...CPU,
  };
}

/** Latency at 1,024 members and 200 msg/s with this p99. */
export function latency(target: TargetName, p99: number): LatencyResult {
  return {
    target,
    members: 1024,
    rate: 200,
    seconds: 2,
    p50: spread([p99 / 2]),
    p99: spread([p99]),
    max: spread([p99 * 2]),
    samples: 100,
    ...CPU,
  };
}

/** A run with these figures, planned as `deno task bench` plans one. */
export function results(
  fanouts: ThroughputResult[],
  latencies: LatencyResult[],
  capacities: CapacityResult[] = [],
): Results {
  return {
    date: "2026-12-05T08:00:00.000Z",
    versions: {},
    plan: {
      runs: 1,
      generators: 1,
      deliveries: 300_000,
      latency: { members: 1024, rate: 200, seconds: 2 },
      rooms: { rooms: 100, perRoom: 50, deliveries: 1_000_000, rate: 10, seconds: 2 },
      ramp: {
        idleAt: 10_000,
        target: 20_000,
        step: 2_000,
        budgetSeconds: 45,
        idleBudgetSeconds: 180,
      },
    },
    fanout: fanouts,
    latency: latencies,
    rooms: [],
    idle: [],
    capacity: capacities,
    attack: [],
    seconds: 60,
  };
}

/** The rows of the targets table under `heading` in `markdown`, by their first cell. */
export function targetRows(markdown: string, heading: string): Map<string, string> {
  const section = markdown.split(heading)[1]?.split("\n## ")[0] ?? "";
  const rows = new Map<string, string>();
  for (const line of section.split("\n")) {
    const cells = line.split(" | ");
    if (cells.length === 3) rows.set(cells[0]!.replace(/^\| /, ""), line);
  }
  return rows;
}
