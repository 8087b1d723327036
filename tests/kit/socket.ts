/**
 * A TCP connection as every client in tests, bench and soak opens and writes
 * it: Nagle's delay off, so each write leaves at once as a typed line or a
 * sent frame would; every byte of a write written; writes that nobody awaits
 * still leave in the order they were made.
 *
 * @module
 */

/** Where to connect: a listener's address, or any host and port. */
export interface Address {
  hostname: string;
  port: number;
}

/** Connects to `address` with Nagle's algorithm off. */
export async function dial(address: Address): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: address.hostname, port: address.port });
  conn.setNoDelay(true);
  return conn;
}

/** Closes `conn`, if any; one closed already is left as it is. */
export function closeQuietly(conn: Deno.Conn | undefined): void {
  try {
    conn?.close();
  } catch (e) {
    if (!(e instanceof Deno.errors.BadResource)) throw e;
  }
}

/** Writes all of `bytes` (one `write` may take only part). */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/**
 * Writes to a connection in the order of the calls, each chunk whole, for
 * callers that send without waiting (a load generator sends and goes on).
 */
export class Writer {
  readonly #conn: Deno.Conn;
  #chain: Promise<void> = Promise.resolve();

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /**
   * Queues `bytes` after every earlier write; resolves once written, or
   * rejects with what the write threw. Later writes go ahead either way.
   */
  write(bytes: Uint8Array): Promise<void> {
    const done = this.#chain.then(() => writeAll(this.#conn, bytes));
    this.#chain = done.catch(() => {});
    return done;
  }

  /** Settles once every write queued so far has ended, written or failed. */
  settled(): Promise<void> {
    return this.#chain;
  }
}
