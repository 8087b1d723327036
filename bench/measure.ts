/**
 * What `bench/` and the soak read off processes (resident memory and CPU
 * time, from `/proc/<pid>/status` and `/proc/<pid>/stat`) and how the bench
 * summarizes runs (median, range, percentiles).
 *
 * `/proc` is read through `cat`: Deno asks for every permission before it
 * reads `/proc` itself.
 *
 * @module
 */

/** Clock ticks per second of `/proc/<pid>/stat` (USER_HZ; 100 on Linux). */
const TICKS_PER_SECOND = 100;

async function cat(path: string): Promise<string> {
  const out = await new Deno.Command("cat", { args: [path], stderr: "null" }).output();
  if (!out.success) throw new Error(`bench: cannot read ${path}`);
  return new TextDecoder().decode(out.stdout);
}

/** A process's resident memory now (VmRSS) and at its highest so far (VmHWM), in KiB. */
export interface Memory {
  rss: number;
  hwm: number;
}

/** Resident memory of a process, now and at its highest, in KiB. */
export async function memoryKiB(pid: number): Promise<Memory> {
  const status = await cat(`/proc/${pid}/status`);
  const field = (name: string) => {
    const kib = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status)?.[1];
    if (kib === undefined) throw new Error(`bench: no ${name} for process ${pid}`);
    return Number(kib);
  };
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

/** Resident memory of a process (VmRSS), in KiB. */
export async function rssKiB(pid: number): Promise<number> {
  return (await memoryKiB(pid)).rss;
}

/**
 * How many files a process has open and may have open (its soft limit), or
 * undefined if it has gone: to tell when joins failed for want of a descriptor.
 */
export async function openFiles(pid: number): Promise<{ open: number; limit: number } | undefined> {
  // `ls`, not Deno.readDir: Deno asks for --allow-all to read /proc/PID/fd.
  const out = await new Deno.Command("ls", { args: ["-1U", `/proc/${pid}/fd`], stderr: "null" })
    .output();
  if (!out.success) return undefined;
  const open = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").length;
  const limits = await cat(`/proc/${pid}/limits`).catch(() => "");
  const limit = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1]);
  return Number.isFinite(limit) ? { open, limit } : undefined;
}

/** CPU time a process has used so far (user + system), in seconds. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await cat(`/proc/${pid}/stat`);
  // The command name (field 2) may hold spaces; count fields after its ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`bench: cannot read CPU time of process ${pid}`);
  }
  return (utime + stime) / TICKS_PER_SECOND;
}

/** CPU time all processes have used so far on core `cpu`, in seconds. */
export async function coreBusySeconds(cpu: number): Promise<number> {
  const stat = await cat("/proc/stat");
  const line = new RegExp(`^cpu${cpu}\\s+(.+)$`, "m").exec(stat)?.[1];
  if (line === undefined) throw new Error(`bench: no core ${cpu} in /proc/stat`);
  const ticks = line.split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal ...: all but idle and iowait.
  const busy = ticks.reduce((sum, t, i) => (i === 3 || i === 4 ? sum : sum + (t || 0)), 0);
  return busy / TICKS_PER_SECOND;
}

/** CPU use of some processes over an interval, as a share of one core. */
export class CpuMeter {
  readonly #pids: number[];
  #start = 0;
  #cpu0 = 0;

  /** `pids` to measure; -1 - n stands for everything on core n. */
  constructor(pids: number[]) {
    this.#pids = pids;
  }

  async #total(): Promise<number> {
    let sum = 0;
    for (const pid of this.#pids) {
      sum += await (pid < 0 ? coreBusySeconds(-pid - 1) : cpuSeconds(pid));
    }
    return sum;
  }

  async start(): Promise<void> {
    this.#cpu0 = await this.#total();
    this.#start = performance.now();
  }

  /** Share of one core used since {@linkcode start}: 1 is a whole core. */
  async stop(): Promise<number> {
    const cpu = (await this.#total()) - this.#cpu0;
    return cpu / ((performance.now() - this.#start) / 1000);
  }
}

/** The value at quantile `q` (0..1) of ascending `sorted`. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Median and range of some runs. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

/** Median and range of `runs` (NaN when there are none). */
export function spread(runs: readonly number[]): Spread {
  const sorted = [...runs].sort((a, b) => a - b);
  const n = sorted.length;
  const median = n === 0
    ? NaN
    : n % 2 === 1
    ? sorted[(n - 1) / 2]!
    : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  return { median, min: sorted[0] ?? NaN, max: sorted[n - 1] ?? NaN, runs: [...runs] };
}
