/**
 * Small facts about sockets that every transport, and the clients in tests
 * and bench, need alike: what a peer going away looks like, and joining
 * byte chunks for one write.
 *
 * @module
 */

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
