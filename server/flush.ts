/**
 * When queued output goes out: both transports hand their flushes to one
 * {@linkcode FlushScheduler}, which runs them together after the current
 * turn's input has been handled. Everything a member was sent in between
 * leaves as one frame (WebSocket) or one write (terminal).
 *
 * The wait adapts to load. On an idle server a flush runs at once (the next
 * turn of the event loop), so a lone message costs no latency. On a busy one
 * it waits about as long as the last flush took (at most
 * {@linkcode MAX_WAIT_MS}), so the messages of several turns share one frame
 * per member: a room of a thousand receiving 200 messages a second gets a few
 * large frames per member instead of 200 small ones, and keeps up.
 *
 * @module
 */

/** Longest a flush waits for more output to batch, in milliseconds. */
export const MAX_WAIT_MS = 10;

/** Runs queued flushes together, batching more when the server is busy. */
export class FlushScheduler {
  #pending: (() => void)[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** How long the last round of flushes took. */
  #lastMs = 0;
  #settled: PromiseWithResolvers<void> | undefined;

  /** Runs `flush` with the next round. A member schedules once per batch. */
  schedule(flush: () => void): void {
    this.#pending.push(flush);
    if (this.#timer !== undefined) return;
    const wait = this.#lastMs < 1 ? 0 : Math.min(MAX_WAIT_MS, this.#lastMs);
    this.#timer = setTimeout(() => this.#run(), wait);
  }

  /** Settles once no round is waiting: for shutdown, so no timer outlives it. */
  settled(): Promise<void> {
    if (this.#timer === undefined) return Promise.resolve();
    this.#settled ??= Promise.withResolvers();
    return this.#settled.promise;
  }

  #run(): void {
    const started = performance.now();
    const round = this.#pending;
    this.#pending = [];
    this.#timer = undefined;
    for (const flush of round) {
      try {
        flush();
      } catch (e) {
        // A flush must not throw; if one does, the others still go out.
        console.error("flush failed:", e);
      }
    }
    this.#lastMs = performance.now() - started;
    if (this.#timer === undefined && this.#settled) {
      this.#settled.resolve();
      this.#settled = undefined;
    }
  }
}

/** The scheduler both transports share. */
export const flushes: FlushScheduler = new FlushScheduler();
