/**
 * The process's standard output and standard error as the server writes to
 * them while it runs: the log, and the operator's console. A write never
 * waits for them. A synchronous write to a terminal that stopped reading
 * (an SSH session gone quiet, a terminal suspended with its scroll lock on,
 * a pipe into a paused `less`) blocks the whole process, every connection
 * with it: an attacker's long lines, echoed on the console of a server whose
 * terminal had stalled, froze it for as long as the terminal did (bystanders
 * 15 s without an answer, `/healthz` too).
 *
 * Writes are queued in order, both streams in one queue (a log line and the
 * console's prompt drawn around it stay in order on one terminal), and
 * written one after another by asynchronous writes, which wait off the
 * event loop. The queue holds at most {@linkcode OUTPUT_MAX} bytes: past
 * that, what comes is dropped and counted, and once the queue has drained,
 * a line (`notes`) says how much was not written.
 *
 * @module
 */

/** The two streams. */
export type Stream = "stdout" | "stderr";

/** Where a stream's bytes go: `Deno.stdout`, `Deno.stderr`, or a test's stand-in. */
export interface Sink {
  /** Writes some of `bytes`; resolves with how many. */
  write(bytes: Uint8Array): Promise<number>;
}

/** Most bytes queued at once, both streams together: 1 MiB. */
export const OUTPUT_MAX = 1024 * 1024;

/** Options for {@linkcode Output}. */
export interface OutputOptions {
  /** Where each stream goes. @default {Deno.stdout and Deno.stderr} */
  sinks?: Record<Stream, Sink>;
  /** Most bytes queued. @default {OUTPUT_MAX} */
  max?: number;
  /** The line written to a stream once `count` writes to it were dropped (its newline included). */
  notes: Record<Stream, (count: number) => string>;
}

/** Standard output and standard error, written without waiting: see the module doc. */
export class Output {
  readonly #sinks: Record<Stream, Sink>;
  readonly #max: number;
  readonly #notes: Record<Stream, (count: number) => string>;
  readonly #encoder = new TextEncoder();
  readonly #queue: { stream: Stream; bytes: Uint8Array }[] = [];
  #queued = 0;
  readonly #dropped: Record<Stream, number> = { stdout: 0, stderr: 0 };
  /** The drain under way, if any: set and cleared in the same turn as the queue is found empty. */
  #draining: Promise<void> | undefined;

  constructor(options: OutputOptions) {
    this.#sinks = options.sinks ?? { stdout: Deno.stdout, stderr: Deno.stderr };
    this.#max = options.max ?? OUTPUT_MAX;
    this.#notes = options.notes;
  }

  /** Bytes waiting to be written. */
  get queued(): number {
    return this.#queued;
  }

  /** Queues `text` for `stream`, or drops it (counted) if the queue is full; never waits. */
  write(stream: Stream, text: string): void {
    // Bounded before it is encoded: at most 3 bytes a UTF-16 unit.
    if (this.#queued + text.length > this.#max) return this.#drop(stream);
    const bytes = this.#encoder.encode(text);
    if (this.#queued + bytes.length > this.#max) return this.#drop(stream);
    this.#push(stream, bytes);
  }

  /** Resolves once everything queued so far is written (or its stream failed). */
  async flush(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  #drop(stream: Stream): void {
    this.#dropped[stream]++;
  }

  #push(stream: Stream, bytes: Uint8Array): void {
    this.#queue.push({ stream, bytes });
    this.#queued += bytes.length;
    this.#draining ??= this.#drain();
  }

  /**
   * Writes the queue out. It stops (`#draining` cleared) in the same turn
   * as it finds the queue empty: a write a moment later starts another,
   * never finding one that has just ended and so staying queued.
   */
  async #drain(): Promise<void> {
    for (;;) {
      const next = this.#queue.shift();
      if (!next) {
        // Drained: say what was dropped meanwhile, on the stream it was for.
        const stream = (["stderr", "stdout"] as const).find((s) => this.#dropped[s] > 0);
        if (stream === undefined) {
          this.#draining = undefined;
          return;
        }
        const note = this.#encoder.encode(this.#notes[stream](this.#dropped[stream]));
        this.#dropped[stream] = 0;
        this.#queue.push({ stream, bytes: note });
        this.#queued += note.length;
        continue;
      }
      try {
        for (let off = 0; off < next.bytes.length;) {
          off += await this.#sinks[next.stream].write(next.bytes.subarray(off));
        }
      } catch {
        // The stream is gone (the terminal closed): nowhere to say so.
      } finally {
        this.#queued -= next.bytes.length;
      }
    }
  }
}
