/**
 * Small facts about sockets that every transport, and the clients in tests
 * and bench, need alike: what a peer going away looks like, and joining
 * byte chunks for one write.
 *
 * @module
 */

import type { Rate } from "../hub/flood.ts";

/**
 * True if `e`, thrown by a read or write, means the peer went away (or never
 * spoke the protocol: a TLS handshake the peer got wrong, plain `nc` on a TLS
 * port), not a fault of ours.
 */
export function isDisconnect(e: unknown): boolean {
  return e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted ||
    e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BrokenPipe ||
    e instanceof Deno.errors.ConnectionAborted || e instanceof Deno.errors.NotConnected ||
    e instanceof Deno.errors.InvalidData || e instanceof Deno.errors.UnexpectedEof;
}

/** The chunks as one array (the chunk itself when there is only one). */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/**
 * A connection's read buffer: its first size, and the most it grows to while
 * reads fill it. Every open connection holds one for as long as it waits, so
 * it starts small (an idle member, or one typing a line at a time, needs no
 * more); a burst of input doubles it.
 */
export const READ_MIN_BYTES = 1024;
export const READ_MAX_BYTES = 16 * 1024;

/**
 * How fast one connection's input is taken in, in units: a line (terminal,
 * IRC) or a frame (WebSocket), and one per 8 KiB read. What a person or a
 * client sends, a connect burst of 20 channels' MODE and WHO included,
 * stays inside the burst; a peer sending empty lines or pings as fast as
 * it can (each one costs the server work, whatever is answered) is read at
 * this pace, so it cannot take the node's time from everyone else.
 */
export const INPUT_RATE: Rate = { burst: 500, perSecond: 50 };

/**
 * {@linkcode INPUT_RATE}, or more for a server whose flood limit is lifted
 * (`--flood-rate`, `--flood-burst`: a bench, a test that floods on purpose):
 * input is never paced tighter than 50 units a chat line allowed.
 */
export function inputRate(flood: Rate): Rate {
  return {
    burst: Math.max(INPUT_RATE.burst, flood.burst * 50),
    perSecond: Math.max(INPUT_RATE.perSecond, flood.perSecond * 25),
  };
}

/** Bytes of input that count as one unit of {@linkcode INPUT_RATE}, whatever they hold. */
const INPUT_BYTES_PER_UNIT = 8 * 1024;

/**
 * One connection's input pace ({@linkcode INPUT_RATE}), kept as the time
 * its input is paid up to (a GCRA): {@linkcode charge} says how long to
 * wait before reading again. Pure: the clock is passed in.
 */
export class InputPace {
  readonly #step: number;
  readonly #allowance: number;
  #paidTo = 0;

  constructor(rate: Rate = INPUT_RATE) {
    this.#step = 1000 / rate.perSecond;
    this.#allowance = rate.burst * this.#step;
  }

  /** Charges `units` of input taken in at `now`; returns milliseconds to wait before the next read. */
  charge(units: number, now: number): number {
    this.#paidTo = Math.max(this.#paidTo, now) + units * this.#step;
    return Math.max(0, this.#paidTo - now - this.#allowance);
  }
}

/** The units of {@linkcode INPUT_RATE} a chunk of line input costs: its line ends, and its size. */
export function lineUnits(chunk: Uint8Array): number {
  let lf = 0;
  let cr = 0;
  for (let at = chunk.indexOf(0x0a); at !== -1; at = chunk.indexOf(0x0a, at + 1)) lf++;
  for (let at = chunk.indexOf(0x0d); at !== -1; at = chunk.indexOf(0x0d, at + 1)) cr++;
  // CRLF is one line end, and so is a lone CR or LF.
  return Math.max(lf, cr) + byteUnits(chunk.length);
}

/** The units of {@linkcode INPUT_RATE} `bytes` of input cost by their size alone. */
export function byteUnits(bytes: number): number {
  return Math.ceil(bytes / INPUT_BYTES_PER_UNIT);
}

/** Resolves after `ms` (at once for 0). */
export function pause(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}
