/**
 * The terminal transport: a TCP listener where `nc HOST PORT` or
 * `telnet HOST PORT` is a complete client.
 *
 * Each connection is asked for a nickname, then every line is a chat message
 * or a `/` command. Input bytes go through {@linkcode TelnetFilter} and
 * {@linkcode LineDecoder}; output is {@linkcode renderBytes}' lines, CRLF
 * terminated, batched into one write per flush (see `flush.ts`).
 *
 * @module
 */

import { parseCommandLine } from "../../../common/commands.ts";
import { within } from "../../deadline.ts";
import { flushes } from "../flush.ts";
import type { ServerEvent } from "../../../common/protocol.ts";
import { DEFAULTS } from "../../config.ts";
import { type ConnectionLimits, SendQueueWatch } from "../limits.ts";
import { errorText, type Logger, SILENT } from "../../log.ts";
import { Metrics } from "../../metrics.ts";
import type { Member, Room } from "../../hub/room.ts";
import { GREETING_NAMES, helpLines, renderBytes } from "./render.ts";
import { memberList } from "../../../common/wording.ts";
import { TelnetFilter } from "./telnet.ts";
import { concatBytes, isDisconnect } from "../io.ts";
import { LINE_MAX_BYTES, LineDecoder, lineTooLong } from "./lines.ts";

/** Options for {@linkcode serveTcp}. */
export interface TcpOptions {
  /** Address to listen on. */
  hostname: string;
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Open connections, shared with the WebSocket side. */
  limits: ConnectionLimits;
  /** Certificate chain and private key (PEM): serve TLS instead of plain TCP. */
  tls?: Deno.TlsCertifiedKeyPem;
  /** Seconds a connection may take to pick a nickname. @default {DEFAULTS.joinTimeout} */
  joinTimeout?: number;
  /** Counts refusals and slow consumers. @default {new Metrics()} */
  metrics?: Metrics;
  /** @default {SILENT} */
  log?: Logger;
}

/** A running TCP listener. */
export interface TcpServer {
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

/** Starts the terminal transport for a room. */
export function serveTcp(room: Room, options: TcpOptions): TcpServer {
  const { hostname, port, tls } = options;
  const listener: Deno.Listener<Conn, Deno.NetAddr> = tls
    ? Deno.listenTls({ hostname, port, ...tls })
    : Deno.listen({ hostname, port });
  const sessions = new Set<TerminalMember>();
  const env: Env = {
    room,
    metrics: options.metrics ?? new Metrics(),
    log: options.log ?? SILENT,
    joinTimeout: options.joinTimeout ?? DEFAULTS.joinTimeout,
  };
  const accepting = (async () => {
    for (;;) {
      let conn: Conn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted) return;
        // A client that gave up while queued: nothing to pause for. Pausing
        // here would let the queue fill with more clients giving up.
        if (isDisconnect(e)) continue;
        // Out of file descriptors: not fatal. Pause so a full descriptor
        // table does not spin the loop.
        env.log.error("tcp accept failed", { error: errorText(e) });
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      const address = conn.remoteAddr.hostname;
      const release = options.limits.open(address);
      if (typeof release === "string") {
        env.metrics.refused("too_many_connections");
        env.log.warn("connection refused", { via: "terminal", address, why: release });
        refuse(conn, release);
        continue;
      }
      const session = new TerminalMember(conn, env);
      sessions.add(session);
      env.log.debug("connected", { via: "terminal", address, tls: tls !== undefined });
      session.done.then(() => {
        sessions.delete(session);
        release();
        env.log.debug("disconnected", { via: "terminal", address });
      });
    }
  })();
  let closing: Promise<void> | undefined;
  return {
    addr: listener.addr,
    get connections() {
      return sessions.size;
    },
    queued() {
      let total = 0, max = 0;
      for (const session of sessions) {
        total += session.queued;
        max = Math.max(max, session.queued);
      }
      return { total, max };
    },
    close(graceMs = DRAIN_MS) {
      closing ??= (async () => {
        listener.close();
        await accepting;
        for (const session of sessions) session.close();
        const all = () => Promise.all([...sessions].map((s) => s.done));
        if (!(await within(all(), graceMs))) {
          for (const session of sessions) session.abort();
          await all();
        }
      })();
      return closing;
    },
  };
}

/** A terminal's connection: plain TCP, or TLS with `--cert`/`--key`. */
type Conn = Deno.TcpConn | Deno.TlsConn;

/** What every terminal connection shares. */
interface Env {
  room: Room;
  metrics: Metrics;
  log: Logger;
  /** Seconds a connection may take to pick a nickname. */
  joinTimeout: number;
}

const encoder = new TextEncoder();
const CRLF = "\r\n";

/** How long a failed accept() waits before the next. */
const ACCEPT_RETRY_MS = 100;

/**
 * How long a closing connection (after `/quit`, a kick, a join timeout) may
 * take to read its last lines before it is cut off. Shutdown allows less.
 */
const DRAIN_MS = 10_000;

/** One `nc`/`telnet` connection, seated in the room once it has a nickname. */
class TerminalMember implements Member {
  readonly via = "terminal";
  readonly address: string;
  /** Settles when the connection is closed and the member has left. */
  readonly done: Promise<void>;
  readonly #conn: Conn;
  readonly #room: Room;
  readonly #env: Env;
  readonly #telnet = new TelnetFilter();
  readonly #lines = new LineDecoder(LINE_MAX_BYTES);
  #out: Uint8Array[] = [];
  /** A peer that stops reading fills its TCP window, then this queue; see {@linkcode SendQueueWatch}. */
  readonly #watch = new SendQueueWatch();
  /** Bytes queued or being written. */
  #queued = 0;
  #writing = false;
  #closing = false;
  #closed = false;
  #joined = false;
  #leaveReason = "connection lost";
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #shutDown = Promise.withResolvers<void>();

  constructor(conn: Conn, env: Env) {
    this.#conn = conn;
    this.#env = env;
    this.#room = env.room;
    this.address = conn.remoteAddr.hostname;
    const room = env.room;
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
    // The CR returns to the start of the line, so the greeting hides the
    // negotiation bytes on a terminal that is not telnet (see telnet.ts).
    this.#enqueue(this.#telnet.offer());
    this.#enqueue(encoder.encode("\r"));
    const members = room.members();
    this.#write([
      "Welcome to the chat room.",
      members.length === 0
        ? "Nobody is here yet."
        : `${members.length} here: ${memberList(members, GREETING_NAMES)}.`,
    ]);
    this.#prompt();
    this.#timer = setTimeout(() => {
      env.metrics.disconnected("join_timeout");
      env.log.warn("join timeout", { via: "terminal", address: this.address });
      // A new line first: the prompt is still waiting on this one.
      this.#write(["", `! No nickname after ${env.joinTimeout} s. Bye.`]);
      this.close();
    }, env.joinTimeout * 1000);
    // Done when the reading has ended and the connection is closed.
    this.done = Promise.all([this.#read(), this.#shutDown.promise]).then(() => {});
  }

  send(event: ServerEvent): void {
    if (this.#closing) return;
    const bytes = renderBytes(event, this.#room.nickOf(this));
    if (bytes.length > 0) this.#enqueue(bytes);
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    clearTimeout(this.#timer);
    if (!this.#writing) return this.#shut();
    // A peer that does not read would keep the last write pending forever.
    this.#timer = setTimeout(() => this.abort(), DRAIN_MS);
  }

  /** Closes now, dropping whatever is still queued. */
  abort(): void {
    this.#closing = true;
    this.#shut();
  }

  async #read(): Promise<void> {
    const buf = new Uint8Array(16 * 1024);
    try {
      while (!this.#closing) {
        const n = await this.#conn.read(buf);
        if (n === null) {
          for (const event of this.#lines.end()) {
            if (event.type === "line") this.#line(event.text);
          }
          break;
        }
        this.#input(buf.subarray(0, n));
      }
    } catch (e) {
      if (!isDisconnect(e)) this.#env.log.error("tcp read failed", { error: errorText(e) });
    } finally {
      this.#room.leave(this, this.#leaveReason);
      this.close();
    }
  }

  #input(chunk: Uint8Array): void {
    const { data, reply } = this.#telnet.push(chunk);
    if (reply) this.#enqueue(reply);
    for (const event of this.#lines.push(data)) {
      if (this.#closing) return;
      if (event.type === "line") {
        this.#line(event.text);
      } else {
        this.#env.metrics.refused("line_too_long");
        this.send({
          type: "error",
          code: "line_too_long",
          message: lineTooLong(event.limit),
        });
        if (!this.#joined) this.#prompt();
      }
    }
  }

  #line(text: string): void {
    const command = text.startsWith("/") ? parseCommandLine(text) : undefined;
    if (command?.type === "quit") return this.#quit(command.text);
    if (command?.type === "help") {
      this.#write(helpLines());
      if (!this.#joined) this.#prompt();
      return;
    }
    if (!this.#joined) {
      if (text.trim() === "") return this.#prompt();
      if (this.#room.join(this, text)) {
        this.#joined = true;
        clearTimeout(this.#timer);
      } else {
        this.#prompt();
      }
      return;
    }
    if (text.trim() === "") return;
    if (command === undefined) {
      this.#room.handle(this, { type: "say", text });
    } else if (command.type === "send") {
      this.#room.handle(this, command.message);
    } else if (command.type === "invalid") {
      this.#env.metrics.refused(command.code);
      this.send({ type: "error", code: command.code, message: command.message });
    }
  }

  #quit(message: string): void {
    this.#leaveReason = message ? `quit: ${message}` : "quit";
    this.#room.leave(this, this.#leaveReason);
    this.#write(["-- Bye!"]);
    this.close();
  }

  #prompt(): void {
    this.#enqueue(encoder.encode("Your nickname: "));
  }

  #write(lines: string[]): void {
    if (lines.length > 0) this.#enqueue(encoder.encode(lines.join(CRLF) + CRLF));
  }

  /** Bytes queued or being written. */
  get queued(): number {
    return this.#queued;
  }

  #enqueue(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#queued += bytes.length;
    if (this.#watch.tooSlow(this.#queued)) {
      this.#env.metrics.disconnected("slow_consumer", "terminal");
      this.#env.log.warn("slow consumer disconnected", {
        nick: this.#room.nickOf(this),
        via: "terminal",
        address: this.address,
        queued: this.#queued,
      });
      this.#leaveReason = "too slow: stopped reading";
      this.#room.leave(this, this.#leaveReason);
      return this.abort();
    }
    this.#out.push(bytes);
    if (!this.#writing) {
      this.#writing = true;
      // Let more queue up until the next flush: one write carries it all.
      flushes.schedule(this.#flushNow);
    }
  }

  readonly #flushNow = () => void this.#flush();

  async #flush(): Promise<void> {
    try {
      while (this.#out.length > 0 && !this.#closed) {
        const bytes = concatBytes(this.#out);
        this.#out = [];
        for (let off = 0; off < bytes.length;) {
          const n = await this.#conn.write(bytes.subarray(off));
          off += n;
          this.#queued -= n;
          this.#watch.progress();
        }
      }
    } catch (e) {
      if (!isDisconnect(e)) this.#env.log.error("tcp write failed", { error: errorText(e) });
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
    clearTimeout(this.#timer);
    this.#out = [];
    this.#queued = 0;
    try {
      this.#conn.close();
    } catch (e) {
      if (!(e instanceof Deno.errors.BadResource)) throw e;
    }
  }
}

/** How long a refused connection may take to read why (a TLS one must handshake first). */
const REFUSE_MS = 1_000;

/** Tells a connection over the limits why, and closes it, without waiting on it. */
function refuse(conn: Conn, why: string): void {
  within(conn.write(encoder.encode(`! ${why}${CRLF}`)).catch(() => {}), REFUSE_MS)
    .finally(() => {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    });
}
