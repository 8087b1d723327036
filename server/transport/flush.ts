/**
 * When queued output goes out: both transports hand their flushes to one
 * {@linkcode FlushScheduler}, which runs them together in a later turn of the
 * event loop, after the input that arrived meanwhile has been handled.
 * Everything a member was sent in between leaves as one frame (WebSocket) or
 * one write (terminal).
 *
 * The batching adapts to load by itself. On an idle server a flush runs at
 * once, so a lone message costs no latency. On a busy one, the messages that
 * arrive while a round of flushes is writing are all handled before the next
 * round: a room of a thousand receiving 200 messages a second gets a few
 * larger frames per member instead of one per message, and keeps up. (A fixed
 * wait before each round was measured too: it only added its own delay.)
 *
 * A round runs as an immediate (`setImmediate`), which Deno runs once the
 * input that was ready has been handled, without going through its timers:
 * at 1,024 members and 200 messages a second, `setTimeout(0)` left 8 ms
 * between scheduling and running a round, an immediate 3.5 ms, and p99 fell
 * from 46 to 37 ms (`deno task bench --scenarios latency --targets ours`,
 * median of 5 runs each).
 *
 * @module
 */

import { setImmediate } from "node:timers";

/** Runs queued flushes together, in the next turn. */
export class FlushScheduler {
  #pending: (() => void)[] = [];
  #timer: ReturnType<typeof setImmediate> | undefined;
  #settled: PromiseWithResolvers<void> | undefined;

  /** Runs `flush` with the next round. A member schedules once per batch. */
  schedule(flush: () => void): void {
    this.#pending.push(flush);
    if (this.#timer !== undefined) return;
    // Not a microtask: the rest of this turn's input comes first.
    this.#timer = setImmediate(() => this.#run());
  }

  /** Settles once no round is waiting: for shutdown, so no timer outlives it. */
  settled(): Promise<void> {
    if (this.#timer === undefined) return Promise.resolve();
    this.#settled ??= Promise.withResolvers();
    return this.#settled.promise;
  }

  #run(): void {
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
    if (this.#timer === undefined && this.#settled) {
      this.#settled.resolve();
      this.#settled = undefined;
    }
  }
}

/** The scheduler both transports share. */
export const flushes: FlushScheduler = new FlushScheduler();
