/**
 * The bytes of one TCP or TLS connection, both ways, written once for every
 * line transport (the terminal port, the IRC port): reading until the peer
 * goes, writing what is queued in one write per flush, closing after what
 * is queued or at once, and finding a peer that vanished without closing.
 * What the bytes mean is the transport's; what the connection's life means
 * (caps, timeouts, slow consumers, leaving) is its {@linkcode Session}'s.
 *
 * Output queued between two flushes (see `flush.ts`) leaves as one write.
 * Each chunk queued is reported to the session with
 * {@linkcode Session.queued} and each byte written with
 * {@linkcode Session.taken}, so the slow-consumer rule sees the queue.
 *
 * A peer that vanished (a laptop shut, a network gone) would hold its
 * connection for the kernel keepalive's two hours. Every `probeMs` the pump
 * looks whether anything came; a silent peer is probed in the transport's
 * own way (a telnet timing mark, an IRC `PING`), and one that has not said
 * anything by the next look is let go. A transport with no way to probe
 * (plain `nc` answers nothing) leaves it to the kernel.
 *
 * {@linkcode serveStream} is the listener such a transport runs: plain TCP
 * or TLS, every socket counted at accept and handed to a session.
 *
 * @module
 */

import type { ChatError, Via } from "../../common/protocol.ts";
import { TIMEOUTS } from "../config.ts";
import type { Hub } from "../hub/hub.ts";
import { SILENT } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { flushes, writes } from "./flush.ts";
import { concatBytes, lineUnits, READ_MAX_BYTES, READ_MIN_BYTES } from "./io.ts";
import { acceptLoop, closeConn, type Conn, refuse } from "./listener.ts";
import { type Link, type Session, type SessionOptions, Sessions } from "./session.ts";

/** What a transport does with a connection's bytes. */
export interface StreamHandler {
  /** Bytes the peer sent. */
  input(chunk: Uint8Array): void;
  /**
   * The peer closed its side: anything held back (a last line without a
   * newline) is due now. A promise: lines still waiting on a request that
   * waits on Redis are carried out first; the connection is let go after.
   */
  end(): void | Promise<void>;
  /**
   * The peer has said nothing for a while: queue a probe it must answer and
   * return true, or return false if this peer cannot be probed.
   */
  probe(): boolean;
}

/**
 * How long a closing connection (after a quit, a kick, a join timeout) may
 * take to read its last lines before it is cut off. Shutdown allows less.
 */
export const DRAIN_MS = 10_000;

/** Where a line transport listens, and what its sessions share. */
export interface StreamOptions extends SessionOptions {
  /** Address to listen on. */
  hostname: string;
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Certificate chain and private key (PEM): serve TLS instead of plain TCP. */
  tls?: Deno.TlsCertifiedKeyPem;
  /** @default {TIMEOUTS.tlsHandshakeTimeoutMs} */
  tlsHandshakeTimeoutMs?: number;
  /** Let other processes listen on the same port (SO_REUSEPORT). @default {false} */
  reusePort?: boolean;
  /** Every connection starts with a PROXY v1 line (`proxy.ts`). @default {false} */
  proxyProtocol?: boolean;
}

/** A running line listener (the terminal port, the IRC port). */
export interface StreamServer {
  /** The address actually bound. */
  readonly addr: Deno.NetAddr;
  /** Open connections, joined or not. */
  readonly connections: number;
  /** Bytes waiting to be written: in all, and to the one member with the most. */
  queued(): { total: number; max: number };
  /**
   * Stops listening and closes every connection, waiting up to `graceMs` for
   * peers to take what is still queued for them before cutting them off.
   * Idempotent.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Listens for a line transport: each socket is counted as it is accepted
 * and given a session whose link `connect` makes; one over the caps is sent
 * `refusal(error)`, in the transport's words, and closed.
 */
export function serveStream(
  hub: Hub,
  via: Via,
  options: StreamOptions,
  connect: (conn: Conn, session: Session) => Link,
  refusal: (error: ChatError) => Uint8Array,
): StreamServer {
  const { hostname, port, tls } = options;
  const where = { hostname, port, ...(options.reusePort ? { reusePort: true } : {}) };
  const listener: Deno.Listener<Conn, Deno.NetAddr> = tls
    ? Deno.listenTls({ ...where, ...tls })
    : Deno.listen(where);
  const sessions = new Sessions(hub, via, options);
  const accepting = acceptLoop({
    listener,
    limits: options.limits,
    handshakeMs: options.tlsHandshakeTimeoutMs ?? TIMEOUTS.tlsHandshakeTimeoutMs,
    proxyProtocol: options.proxyProtocol ?? false,
    metrics: options.metrics ?? new Metrics(),
    log: options.log ?? SILENT,
    via,
    accepted(conn, slot) {
      sessions.adopt(slot, (session) => connect(conn, session), { tls: tls !== undefined });
    },
    refused: (conn, error) => refuse(conn, refusal(error)),
  });
  let closing: Promise<void> | undefined;
  return {
    addr: listener.addr,
    get connections() {
      return sessions.size;
    },
    queued: () => sessions.queued(),
    close(graceMs = DRAIN_MS) {
      closing ??= (async () => {
        listener.close();
        await accepting;
        await sessions.close(graceMs);
      })();
      return closing;
    },
  };
}

/** The chunks {@linkcode joined} last joined, and what it made of them. */
let lastChunks: Uint8Array[] = [];
let lastJoined: Uint8Array = new Uint8Array(0);

/**
 * The chunks queued for one write, as one array. In a round of flushes,
 * member after member of a room has the same chunks queued (a room
 * message's line is encoded once and shared: `irc.ts`, `render.ts`), so the
 * last join is reused when the same chunks come again: one copy per round,
 * not one per member. Chunks are never changed once queued.
 */
export function joined(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  if (chunks.length === lastChunks.length) {
    let same = true;
    for (let i = 0; i < chunks.length && same; i++) same = chunks[i] === lastChunks[i];
    if (same) return lastJoined;
  }
  lastChunks = chunks;
  lastJoined = concatBytes(chunks);
  return lastJoined;
}

/** One connection's reading, writing and closing, for a transport's link. */
export class StreamPump {
  readonly #conn: Conn;
  readonly #session: Session;
  readonly #handler: StreamHandler;
  #out: Uint8Array[] = [];
  #writing = false;
  #closing = false;
  #closed = false;
  #drain: ReturnType<typeof setTimeout> | undefined;
  readonly #shutDown = Promise.withResolvers<void>();
  readonly #look: ReturnType<typeof setInterval>;
  #heard = true;
  #probed = false;

  /** Starts reading at once; the session is told `closed()` once reading has ended and the socket is shut. */
  constructor(conn: Conn, session: Session, handler: StreamHandler, probeMs: number) {
    this.#conn = conn;
    this.#session = session;
    this.#handler = handler;
    this.#look = setInterval(() => this.#lookAtPeer(), probeMs);
    if ("setKeepAlive" in conn) {
      try {
        conn.setNoDelay(true);
        // Lets the kernel find peers that vanished without a FIN, so
        // half-open connections do not pile up.
        conn.setKeepAlive(true);
      } catch {
        // Not fatal: the options are tuning only.
      }
    }
    Promise.all([this.#read(), this.#shutDown.promise]).then(() => session.closed());
  }

  /** True once the connection is closing: nothing more is read or handled. */
  get closing(): boolean {
    return this.#closing;
  }

  /** Queues bytes for the peer; they leave with the next flush. Dropped once the socket is shut. */
  enqueue(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#session.queued(bytes.length);
    this.#out.push(bytes);
    if (!this.#writing) {
      this.#writing = true;
      // Let more queue up until the next flush: one write carries it all.
      flushes.schedule(this.#flushNow);
    }
  }

  /** Closes once what is queued is written, or after {@linkcode DRAIN_MS}. Idempotent. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (!this.#writing) return this.#shut();
    // A peer that does not read would keep the last write pending forever.
    this.#drain = setTimeout(() => this.abort(), DRAIN_MS);
  }

  /** Closes now, dropping what is queued. */
  abort(): void {
    this.#closing = true;
    this.#shut();
  }

  async #read(): Promise<void> {
    // Small while the peer says little (most members, most of the time: every
    // idle member holds one), doubled while reads fill it.
    let buf = new Uint8Array(READ_MIN_BYTES);
    try {
      while (!this.#closing) {
        const n = await this.#conn.read(buf);
        if (n === null) {
          if (!this.#closing) await this.#handler.end();
          break;
        }
        this.#heard = true;
        const chunk = buf.subarray(0, n);
        this.#handler.input(chunk);
        // Read on at INPUT_RATE's pace, and as the peer reads.
        await this.#session.readOn(lineUnits(chunk));
        if (n === buf.length && buf.length < READ_MAX_BYTES) buf = new Uint8Array(buf.length * 2);
      }
    } catch (e) {
      this.#session.failed("read failed", e);
    } finally {
      this.#session.hangUp();
    }
  }

  #lookAtPeer(): void {
    if (this.#heard) {
      this.#heard = this.#probed = false;
    } else if (this.#probed) {
      this.#session.vanished();
      this.abort();
    } else if (!this.#closing) {
      this.#probed = this.#handler.probe();
    }
  }

  readonly #flushNow = () => void this.#flush();

  /** What is queued, as one array, taken from the queue: see {@linkcode StreamPump.#flush}. */
  readonly #take = (): Uint8Array => {
    const bytes = this.#closed ? new Uint8Array(0) : joined(this.#out);
    this.#out = [];
    return this.#taking = bytes;
  };
  #taking: Uint8Array = new Uint8Array(0);

  async #flush(): Promise<void> {
    try {
      while (this.#out.length > 0 && !this.#closed) {
        // The bytes are taken once the write gate lets this write go, not
        // before it waits: lines queued meanwhile (a round of a thousand
        // members takes milliseconds) go with it, not a whole round later.
        let n = await writes.write(this.#conn, this.#take);
        const bytes = this.#taking;
        this.#session.taken(n);
        for (let off = n; off < bytes.length; off += n) {
          n = await writes.write(this.#conn, bytes.subarray(off));
          this.#session.taken(n);
        }
      }
    } catch (e) {
      this.#session.failed("write failed", e);
      this.#closing = true;
    } finally {
      this.#writing = false;
    }
    if (this.#closing) this.#shut();
  }

  #shut(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#shutDown.resolve();
    clearTimeout(this.#drain);
    clearInterval(this.#look);
    this.#out = [];
    closeConn(this.#conn);
  }
}
