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
 * A flush's write then passes through the {@linkcode WriteGate}: at most
 * {@linkcode WRITES_IN_FLIGHT} socket writes are under way at once, and the
 * others wait their turn, first come first served. Deno answers an async
 * write only from its event loop, and with a thousand of them in flight it
 * answered some only after hundreds of milliseconds: the member's next lines
 * waited behind that answer. At 1,024 members and 200 messages a second
 * (one server core, a reader on the other), writes were in flight for up to
 * 290 ms and readers saw a p99 of 670 ms; through a gate of 64, 34 ms (16
 * measured the same, 256 gave 248 ms). A write that takes longer than
 * {@linkcode STUCK_WRITE_MS} (a peer that stopped reading, its window full)
 * stops holding its slot, so peers that do not read cannot close the gate on
 * those that do.
 *
 * While writes keep waiting, the gate pauses for a timer after every
 * {@linkcode WRITES_PER_PAUSE} it lets go. Deno reads a socket's input only
 * once its event loop runs out of ready work, and the completions of a
 * thousand writes, one after another, never let it: at 1,024 IRC members and
 * 200 messages a second, each message was read only once the round before it
 * was written whole (6 ms after it was sent, at the median; immediates and
 * `crypto.subtle` did not change that, a timer did: 1.6 ms). Read mid-round,
 * a line reaches the members whose write is still waiting in the same round:
 * a line transport takes its bytes when its write is let go (`stream.ts`).
 * p50 / p99 there went from 12.7 / 24.7 to 10.8 / 22.1 ms (three interleaved
 * invocations of three runs each); pausing every 256 writes measured the
 * same, every 128 worse.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { Queue } from "../queue.ts";

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

/** How many socket writes may be under way at once (see the module doc). */
export const WRITES_IN_FLIGHT = 64;

/**
 * How many writes the gate lets go, while writes keep waiting, before it
 * pauses for a timer so that the event loop reads input (see the module doc).
 */
export const WRITES_PER_PAUSE = 512;

/** How long a write holds its slot before it is taken for a peer that stopped reading. */
export const STUCK_WRITE_MS = 50;

/** One write under way: when it started, and whether it still holds a slot. */
interface Slot {
  readonly at: number;
  held: boolean;
}

/** Something that takes bytes and says how many it took: a socket. */
export interface Writable {
  write(bytes: Uint8Array): Promise<number>;
}

/**
 * Lets at most `limit` writes be under way at once; the others wait, in the
 * order they came. A slot is given back when its write ends, or once the
 * write has taken `stuckMs`: the write goes on, but no longer counts.
 */
export class WriteGate {
  readonly #limit: number;
  readonly #stuckMs: number;
  readonly #now: () => number;
  /** Writes holding a slot. */
  #open = 0;
  /** Slots given, oldest first: those still held, and some given back. */
  readonly #slots = new Queue<Slot>();
  /** Writes waiting for a slot, first come first served: one per connection at most. */
  readonly #waiting = new Queue<(slot: Slot) => void>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #perPause: number;
  /** Writes let go since the gate last paused for input, or was idle. */
  #sincePause = 0;
  /** The timer that ends a pause (see {@linkcode WRITES_PER_PAUSE}). */
  #pause: ReturnType<typeof setTimeout> | undefined;

  constructor(
    limit = WRITES_IN_FLIGHT,
    stuckMs = STUCK_WRITE_MS,
    now = Date.now,
    perPause = WRITES_PER_PAUSE,
  ) {
    this.#limit = limit;
    this.#stuckMs = stuckMs;
    this.#now = now;
    this.#perPause = perPause;
  }

  /** Writes holding a slot (one stuck keeps it until a slot is wanted). */
  get open(): number {
    return this.#open;
  }

  /** Writes waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Writes `bytes` to `to` once a slot is free; what `to.write` returns.
   * Given a function, calls it for the bytes only once the slot is free, so
   * that what was queued for the peer while it waited goes in the same write.
   */
  write(to: Writable, bytes: Uint8Array | (() => Uint8Array)): Promise<number> {
    if (this.#waiting.length === 0 && this.#free()) return this.#run(to, bytes, this.#take());
    const turn = Promise.withResolvers<Slot>();
    this.#waiting.push(turn.resolve);
    this.#arm();
    return turn.promise.then((slot) => this.#run(to, bytes, slot));
  }

  async #run(to: Writable, bytes: Uint8Array | (() => Uint8Array), slot: Slot): Promise<number> {
    try {
      return await to.write(typeof bytes === "function" ? bytes() : bytes);
    } finally {
      if (slot.held) {
        slot.held = false;
        this.#open--;
      }
      this.#next();
    }
  }

  #take(): Slot {
    const slot: Slot = { at: this.#now(), held: true };
    if (++this.#sincePause >= this.#perPause && this.#pause === undefined) {
      this.#pause = setTimeout(() => {
        this.#pause = undefined;
        this.#sincePause = 0;
        this.#next();
      }, 0);
    }
    this.#open++;
    this.#slots.push(slot);
    return slot;
  }

  /**
   * True if a slot is free. Writes that have taken `stuckMs` are taken back
   * only when none is: the clock is read then, not for every write (at
   * 60,000 writes a second, reading it three times a write cost 4% of the
   * server's time).
   */
  #free(): boolean {
    if (this.#pause !== undefined) return false;
    this.#prune(false);
    if (this.#open < this.#limit) return true;
    this.#prune(true);
    return this.#open < this.#limit;
  }

  /** Drops given-back slots from the front, and (with `stuck`) takes back those held past `stuckMs`. */
  #prune(stuck: boolean): void {
    const old = stuck ? this.#now() - this.#stuckMs : -Infinity;
    for (let slot; (slot = this.#slots.first()) !== undefined; this.#slots.shift()) {
      if (slot.held && slot.at > old) break;
      if (slot.held) {
        slot.held = false;
        this.#open--;
      }
    }
  }

  /** Gives free slots to waiting writes, in order. */
  #next(): void {
    while (this.#waiting.length > 0 && this.#free()) this.#waiting.shift()?.(this.#take());
    if (this.#waiting.length === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      // Nothing waits: the round is over, and the event loop will look at input by itself.
      if (this.#open === 0 && this.#pause === undefined) this.#sincePause = 0;
    }
  }

  /** While writes wait, looks again for stuck ones once the oldest may be. */
  #arm(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#next();
      if (this.#waiting.length > 0) this.#arm();
    }, this.#stuckMs);
  }
}

/** The gate every transport's socket writes go through. */
export const writes: WriteGate = new WriteGate();
