/**
 * Everything that went wrong in a soak run, by kind, with a few examples of
 * each for the report. A clean run has none of any kind.
 *
 * @module
 */

/** Every kind of error counted. */
export const PROBLEMS = [
  "failed connects",
  "error events",
  "notices",
  "unexpected closes",
  "unexpected events",
  "bad frames",
  "out of order",
  "transport errors",
  "timeouts",
  "server stderr lines",
  "server exit",
] as const;
export type Problem = typeof PROBLEMS[number];

/** Examples of each kind of problem kept for the report. */
const EXAMPLES_KEPT = 3;

const problems = new Map<Problem, { count: number; examples: string[] }>(
  PROBLEMS.map((p) => [p, { count: 0, examples: [] }]),
);

/** Counts a problem of a kind; returns how many of that kind there have been. */
export function problem(kind: Problem, example: string): number {
  const entry = problems.get(kind);
  if (!entry) return 0;
  entry.count++;
  if (entry.examples.length < EXAMPLES_KEPT) entry.examples.push(example.slice(0, 200));
  return entry.count;
}

/** How many problems of `kind` there have been. */
export function problemsOf(kind: Problem): number {
  return problems.get(kind)?.count ?? 0;
}

/** How many problems there have been, of every kind. */
export function problemCount(): number {
  let n = 0;
  for (const { count } of problems.values()) n += count;
  return n;
}

/** Prints each kind of problem there was, with its examples, to standard error. */
export function showProblems(): void {
  for (const [kind, { count: n, examples }] of problems) {
    if (n > 0) console.error(`soak: ${kind}: ${n}, e.g.\n  ${examples.join("\n  ")}`);
  }
}

/** An error as one line: its class and message. */
export function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
