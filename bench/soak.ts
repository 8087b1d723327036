/**
 * Soak test: thousands of members join a real server, chat and leave for
 * minutes, on 127.0.0.1 only; reports the server's memory before, at peak and
 * after, messages lost (must be 0), duplicated, and errors.
 *
 * The server runs as its own process (`main.ts`, ports 0, a temporary
 * database, flood control and connection caps lifted); this process plays
 * every member. Usage:
 *
 * ```sh
 * deno task soak [--seconds 180] [--members 3000] [--rate 20] [--stay SECONDS] [--rounds 1]
 * ```
 *
 * The population ramps up to `--members` over the first fifth of the run,
 * churns (each member stays a random 1/4 to 7/4 of `--stay` seconds and is
 * replaced), and ramps down to zero over the last fifth. Members are
 * WebSocket clients (most closing cleanly, some speaking WebSocket over a bare
 * socket that is dropped without a closing handshake) and terminal clients
 * (half leaving with `/quit`, half dropping the connection). Random members
 * send `--rate` messages a second in all. With `--rounds`, the same server
 * goes through that again, and its memory is read after each round.
 *
 * How loss is counted. Before a member leaves, it sends a *barrier* (a
 * private message to itself, or `/quit`) and waits for the answer: the server
 * handles a member's lines in order, so everything it sent the member before
 * has then arrived, and every earlier line of the member has been handled. A
 * message is *accepted* once the server is known to have taken it: a
 * WebSocket sender sees it come back with an id; a terminal sender (never sent
 * its own lines back) has its barrier answered. A member must have received,
 * exactly once, every accepted message sent after its welcome arrived and
 * known to have been published (seen by anyone) before its barrier was sent,
 * its own terminal lines excepted. A few observers stay for the whole run, so
 * they must receive every accepted message.
 *
 * Exits 1 if anything was lost, duplicated or went wrong, and 3 if the run
 * overshoots its deadline (the server is killed).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parseServerFrame } from "../common/protocol.ts";
import { ourServerArgs } from "./servers.ts";

const USAGE = `Usage: deno task soak [flags]

Soak test on 127.0.0.1: members join, chat and leave a real server for a while.

Flags:
  --seconds N   length of the run (default 180)
  --members N   members at the peak, observers included (default 3000)
  --rate N      messages sent per second by all members together (default 20)
  --stay N      seconds a member stays, on average (default: as long as --seconds)
  --rounds N    rounds of all that against the same server, to see whether its
                memory after a round keeps growing (default 1)
  --help        show this text
`;

/** What the run is asked to do. */
interface Options {
  seconds: number;
  members: number;
  rate: number;
  stay: number;
  rounds: number;
}

/** Parses the flags; a string is an error message, undefined means --help. */
function parseOptions(args: string[]): Options | string | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        seconds: { type: "string", default: "180" },
        members: { type: "string", default: "3000" },
        rate: { type: "string", default: "20" },
        stay: { type: "string" },
        rounds: { type: "string", default: "1" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    return `${e.message} (see --help)`;
  }
  if (values.help) return undefined;
  const options = {
    seconds: Number(values.seconds),
    members: Number(values.members),
    rate: Number(values.rate),
    stay: Number(values.stay ?? values.seconds),
    rounds: Number(values.rounds),
  };
  for (const [flag, n] of Object.entries(options)) {
    if (!Number.isInteger(n) || n < 1) return `--${flag} must be a whole number from 1`;
  }
  if (options.members <= OBSERVERS_WS + OBSERVERS_TCP) {
    return `--members must be more than the ${OBSERVERS_WS + OBSERVERS_TCP} observers`;
  }
  return options;
}

const HOST = "127.0.0.1";

/** Observers of each transport: they stay for the whole run and never send. */
const OBSERVERS_WS = 3;
const OBSERVERS_TCP = 3;
/** Out of every ten members who come and go: terminals, then bare-socket WebSockets. */
const MIX_TCP = 3;
const MIX_RAW_WS = 1;
/** Share of the run spent ramping up, and again ramping down. */
const RAMP_SHARE = 0.2;
/** A member stays between these multiples of `--stay`, uniformly. */
const STAY_SPREAD = [0.25, 1.75] as const;
/** How often the population is adjusted toward its target. */
const CONTROL_MS = 100;
/** Most members started in one adjustment, so a catch-up does not stampede. */
const SPAWN_MAX = 100;
/** How often senders are picked (`--rate` is spread over these ticks). */
const SEND_MS = 20;
/** How often a progress line is printed. */
const PROGRESS_MS = 10_000;
/** Longest wait for a connect, a welcome, a barrier's answer or a close. */
const STEP_MS = 30_000;
/** Wait after everyone has left before the last memory reading, for the GC. */
const SETTLE_MS = 5_000;
/** The whole run is killed if it takes this much longer than `--seconds`. */
const DEADLINE_SLACK_MS = 180_000;
/** How long the server gets to exit after SIGTERM before SIGKILL. */
const STOP_MS = 10_000;
/** Server stderr lines echoed here (all are counted). */
const STDERR_SHOWN = 20;
/** Examples of each kind of problem kept for the report. */
const EXAMPLES_KEPT = 3;
/** Clock ticks per second in /proc/PID/stat (USER_HZ, 100 on Linux). */
const CLOCK_TICKS = 100;
/** What follows the sequence number in chat lines: some ASCII, CJK and emoji. */
const FILLERS = ["hello there", "大家好，今天怎么样", "ok 👍", "see you later", "λ > 0"];

const encoder = new TextEncoder();

// ---------------------------------------------------------------- problems

/** Every kind of error counted; a clean run has none of any. */
const PROBLEMS = [
  "failed connects",
  "error events",
  "notices",
  "unexpected closes",
  "unexpected events",
  "bad frames",
  "out of order",
  "transport errors",
  "timeouts",
  "server stderr lines",
  "server exit",
] as const;
type Problem = typeof PROBLEMS[number];

const problems = new Map<Problem, { count: number; examples: string[] }>(
  PROBLEMS.map((p) => [p, { count: 0, examples: [] }]),
);

/** Counts a problem of a kind; returns how many of that kind there have been. */
function problem(kind: Problem, example: string): number {
  const entry = problems.get(kind);
  if (!entry) return 0;
  entry.count++;
  if (entry.examples.length < EXAMPLES_KEPT) entry.examples.push(example.slice(0, 200));
  return entry.count;
}

function problemCount(): number {
  let n = 0;
  for (const { count } of problems.values()) n += count;
  return n;
}

function showProblems(): void {
  for (const [kind, { count: n, examples }] of problems) {
    if (n > 0) console.error(`soak: ${kind}: ${n}, e.g.\n  ${examples.join("\n  ")}`);
  }
}

// ------------------------------------------------------------------ server

/** The server process. */
interface Server {
  pid: number;
  httpPort: number;
  tcpPort: number;
  /** Sends SIGTERM, then SIGKILL if it lingers; resolves with the exit code. */
  stop(): Promise<number>;
  kill(): void;
}

async function* linesOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    rest += decoder.decode(chunk, { stream: true });
    const lines = rest.split("\n");
    rest = lines.pop() ?? "";
    yield* lines;
  }
  if (rest !== "") yield rest;
}

async function startServer(db: string): Promise<Server> {
  const child = new Deno.Command(Deno.execPath(), {
    // Thousands of members on one address, some sending often: the limits
    // that would (rightly) refuse them are lifted.
    args: ourServerArgs(db),
    cwd: new URL("..", import.meta.url),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  (async () => {
    for await (const line of linesOf(child.stderr)) {
      if (problem("server stderr lines", line) <= STDERR_SHOWN) console.error(`server: ${line}`);
    }
  })();
  const out = linesOf(child.stdout);
  let httpPort: number | undefined;
  let tcpPort: number | undefined;
  while (httpPort === undefined || tcpPort === undefined) {
    const { value, done } = await out.next();
    if (done) throw new Error("soak: the server exited before listening");
    httpPort ??= Number(/page\s+http:\/\/[^/]+:(\d+)\//.exec(value)?.[1]) || undefined;
    tcpPort ??= Number(/terminal\s+nc \S+ (\d+)/.exec(value)?.[1]) || undefined;
  }
  // Keep reading, so the server never writes into a closed pipe.
  (async () => {
    for await (const _ of out);
  })();
  let stopping: Promise<number> | undefined;
  child.status.then(({ code }) => {
    if (!stopping) problem("server exit", `the server exited during the run, code ${code}`);
  });
  const signal = (name: Deno.Signal) => {
    try {
      child.kill(name);
    } catch {
      // Already gone.
    }
  };
  return {
    pid: child.pid,
    httpPort,
    tcpPort,
    stop() {
      stopping ??= (async () => {
        signal("SIGTERM");
        const timer = setTimeout(() => signal("SIGKILL"), STOP_MS);
        const status = await child.status;
        clearTimeout(timer);
        return status.code;
      })();
      return stopping;
    },
    kill: () => signal("SIGKILL"),
  };
}

// Deno asks for --allow-all to read /proc; `cat` needs only --allow-run.
async function readProc(pid: number, file: "status" | "stat"): Promise<string> {
  const out = await new Deno.Command("cat", {
    args: [`/proc/${pid}/${file}`],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout);
}

/** Resident memory now and at its highest, in KiB. */
interface Memory {
  rss: number;
  hwm: number;
}

async function memory(pid: number): Promise<Memory> {
  const status = await readProc(pid, "status");
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

/** User plus system CPU time of a process, in seconds. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readProc(pid, "stat");
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

// ------------------------------------------------------------------ ledger

/** One chat message a member sent. */
interface Sent {
  readonly seq: number;
  readonly from: Peer;
  /** When it was handed to the socket. */
  readonly at: number;
  /** True once the server is known to have taken it (see the module doc). */
  accepted: boolean;
  /** A time by which the server had certainly published it: the first time anyone saw it. */
  publishedBy: number;
  /** Its id, from the first WebSocket member that received it. */
  id: number | undefined;
}

/** Every message sent, indexed by its sequence number (which its text starts with). */
const ledger: Sent[] = [];

/** Totals for the progress lines and the report. */
const totals = { delivered: 0, presence: 0 };

function seqOf(text: string): number | undefined {
  const seq = /^soak (\d+) /.exec(text)?.[1];
  return seq === undefined ? undefined : Number(seq);
}

// ------------------------------------------------------------------- peers

/** How a member is connected: WebSocket, WebSocket over a bare socket, or terminal. */
type Kind = "ws" | "raw" | "tcp";

/** How a member leaves. */
type Style = "close" | "drop" | "quit";

/** What {@linkcode within} resolves with when the time is up. */
const TIMED_OUT = Symbol("timed out");

/** Resolves with the promise's value, or {@linkcode TIMED_OUT} after `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

// What a dropped connection looks like to read() and write().
function isDisconnect(e: unknown): boolean {
  return e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted ||
    e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BrokenPipe ||
    e instanceof Deno.errors.ConnectionAborted || e instanceof Deno.errors.NotConnected;
}

/**
 * One member, either transport: joins, sends, keeps the sequence numbers of
 * what it receives, and leaves behind a barrier (see the module doc).
 */
abstract class Peer {
  state: "joining" | "live" | "leaving" | "done" = "joining";
  /** When the welcome arrived. */
  joinedAt = NaN;
  /** How long joining took, from the start of the connect to the welcome. */
  joinMs = NaN;
  /** When the last barrier was sent, if it was answered. */
  drainedAt = NaN;
  /** Sequence numbers received, in order; sorted once the member is done. */
  received: number[] = [];
  /** Set when a stay is over. */
  stayTimer: ReturnType<typeof setTimeout> | undefined;
  /** Settles when the connection has ended. */
  readonly gone: Promise<void>;
  /** Terminal lines sent and not yet confirmed by a barrier. */
  #unconfirmed: Sent[] = [];
  #lastId = 0;
  #endExpected = false;
  #welcome = Promise.withResolvers<boolean>();
  #answer: PromiseWithResolvers<boolean> | undefined;
  #barrierAt = NaN;
  readonly #gone = Promise.withResolvers<void>();

  constructor(
    readonly nick: string,
    readonly kind: Kind,
    readonly style: Style,
    readonly observer: boolean,
  ) {
    this.gone = this.#gone.promise;
  }

  /** Connects and sends the join; throws if the connection cannot be made. */
  protected abstract open(): Promise<void>;
  /** Sends a chat line. */
  protected abstract sayLine(text: string): void;
  /**
   * Sends the barrier: a private message to itself (cheap, and answered in
   * order like any line), or for `quit`, the `/quit`.
   */
  protected abstract sendBarrier(): void;
  /** Closes our side: cleanly for `close`, abruptly otherwise. */
  protected abstract hangUp(): void;

  /** Connects and joins; false (with the problem counted) if that failed. */
  async join(): Promise<boolean> {
    const start = performance.now();
    try {
      if ((await within(this.open(), STEP_MS)) === TIMED_OUT) throw new Error("timed out");
    } catch (e) {
      problem("failed connects", `${this.nick}: ${describeError(e)}`);
      this.abort();
      return false;
    }
    const ok = await within(this.#welcome.promise, STEP_MS);
    if (ok === TIMED_OUT) problem("timeouts", `${this.nick}: no welcome`);
    if (ok !== true) {
      this.abort();
      return false;
    }
    this.state = "live";
    this.joinMs = this.joinedAt - start;
    return true;
  }

  /** Sends message number `seq`. */
  say(seq: number): void {
    const sent: Sent = {
      seq,
      from: this,
      at: performance.now(),
      accepted: false,
      publishedBy: Infinity,
      id: undefined,
    };
    ledger[seq] = sent;
    if (this.kind === "tcp") this.#unconfirmed.push(sent);
    this.sayLine(`soak ${seq} ${FILLERS[seq % FILLERS.length]}`);
  }

  /** Sends a barrier, waits for its answer, then hangs up in this member's style. */
  async leave(): Promise<void> {
    if (this.state !== "live") return;
    this.state = "leaving";
    this.#answer = Promise.withResolvers<boolean>();
    this.#barrierAt = performance.now();
    this.sendBarrier();
    const answered = await within(this.#answer.promise, STEP_MS);
    if (answered === TIMED_OUT) problem("timeouts", `${this.nick}: no answer to the barrier`);
    this.#endExpected = true;
    if (this.style !== "quit") this.hangUp();
    if ((await within(this.gone, STEP_MS)) === TIMED_OUT) {
      problem("timeouts", `${this.nick}: the connection did not close`);
      this.abort();
    }
  }

  /** Opens a TCP connection; one that arrives after we gave up is closed at once. */
  protected async connect(port: number): Promise<Deno.TcpConn> {
    const conn = await Deno.connect({ hostname: HOST, port });
    if (this.state === "done") {
      conn.close();
      throw new Error("connected after giving up");
    }
    conn.setNoDelay(true);
    return conn;
  }

  /** Hangs up at once, expecting nothing more. */
  abort(): void {
    this.#endExpected = true;
    this.hangUp();
    this.ended();
  }

  /** The transport's welcome arrived. */
  protected welcomed(): void {
    this.joinedAt = performance.now();
    this.#welcome.resolve(true);
  }

  /** The server refused something; before the welcome, the join. */
  protected refused(what: string): void {
    problem("error events", `${this.nick}: ${what}`);
    this.#welcome.resolve(false);
  }

  /** A chat message arrived: `id` is known on WebSocket only. */
  protected chat(from: string, text: string, id: number | undefined): void {
    if (this.state === "done") return;
    const now = performance.now();
    const seq = seqOf(text);
    const sent = seq === undefined ? undefined : ledger[seq];
    if (seq === undefined || sent === undefined || sent.from.nick !== from) {
      problem("unexpected events", `${this.nick} got <${from}> ${text}`);
      return;
    }
    totals.delivered++;
    this.received.push(seq);
    if (now < sent.publishedBy) sent.publishedBy = now;
    if (id === undefined) return;
    if (id <= this.#lastId) problem("out of order", `${this.nick}: id ${id} after ${this.#lastId}`);
    this.#lastId = id;
    sent.id ??= id;
    if (sent.id !== id) problem("unexpected events", `${this.nick}: #${seq} has id ${id}`);
    if (sent.from === this) sent.accepted = true;
  }

  /** The text of this member's barrier. */
  protected get barrierText(): string {
    return `soak barrier ${this.nick}`;
  }

  /** A private message arrived: only barriers are expected. */
  protected whispered(from: string, to: string, text: string): void {
    if (from === this.nick && to === this.nick && text === this.barrierText) this.answered();
    else problem("unexpected events", `${this.nick} got a private message ${from} -> ${to}`);
  }

  /** The barrier's answer arrived: the server has handled every earlier line. */
  protected answered(): void {
    if (!this.#answer) {
      problem("unexpected events", `${this.nick}: an answer to a barrier never sent`);
      return;
    }
    const now = performance.now();
    for (const sent of this.#unconfirmed) {
      sent.accepted = true;
      if (now < sent.publishedBy) sent.publishedBy = now;
    }
    this.#unconfirmed = [];
    this.drainedAt = this.#barrierAt;
    // After "-- Bye!" the server closes the connection.
    if (this.style === "quit") this.#endExpected = true;
    this.#answer.resolve(true);
  }

  /** The connection ended: by our doing, or else a problem. */
  protected ended(error?: unknown): void {
    if (this.state === "done") return;
    if (!this.#endExpected) {
      problem(
        "unexpected closes",
        `${this.nick} (${this.kind}, ${this.state}): ${error ? describeError(error) : "closed"}`,
      );
    } else if (error !== undefined && !isDisconnect(error)) {
      problem("transport errors", `${this.nick}: ${describeError(error)}`);
    }
    this.state = "done";
    this.received.sort((a, b) => a - b);
    this.#welcome.resolve(false);
    this.#answer?.resolve(false);
    this.#gone.resolve();
  }

  /** True once our side has hung up or means to. */
  protected get endExpected(): boolean {
    return this.#endExpected;
  }

  /** Handles one WebSocket text frame: an event or an array of them. */
  protected frame(data: string): void {
    const parsed = parseServerFrame(data);
    if (!parsed.ok) {
      problem("bad frames", `${this.nick}: ${parsed.message}`);
      return;
    }
    for (const event of parsed.value) {
      switch (event.type) {
        case "welcome":
          this.welcomed();
          break;
        case "message":
          if (event.to !== undefined) this.whispered(event.from, event.to, event.text);
          else if (event.action) {
            problem("unexpected events", `${this.nick}: ${JSON.stringify(event)}`);
          } else this.chat(event.from, event.text, event.id);
          break;
        case "join":
        case "leave":
          totals.presence++;
          break;
        case "error":
          this.refused(`${event.code}: ${event.message}`);
          break;
        case "notice":
          problem("notices", `${this.nick}: ${event.text}`);
          break;
        case "members":
        case "rename":
        case "history":
          problem("unexpected events", `${this.nick}: ${event.type}`);
          break;
      }
    }
  }
}

/** A WebSocket member using the runtime's WebSocket client; leaves with a clean close. */
class WsPeer extends Peer {
  #socket: WebSocket | undefined;

  constructor(nick: string, observer: boolean, readonly port: number) {
    super(nick, "ws", "close", observer);
  }

  protected open(): Promise<void> {
    const socket = new WebSocket(`ws://${HOST}:${this.port}/ws`);
    this.#socket = socket;
    const opened = Promise.withResolvers<void>();
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: "join", nick: this.nick }));
      opened.resolve();
    };
    socket.onmessage = (e) => {
      if (typeof e.data === "string") this.frame(e.data);
      else problem("bad frames", `${this.nick}: a binary frame`);
    };
    // An error is always followed by close; a failed connect is reported there.
    socket.onerror = () => {
      if (socket.readyState !== WebSocket.CONNECTING && !this.endExpected) {
        problem("transport errors", `${this.nick}: WebSocket error event`);
      }
    };
    socket.onclose = (e) => {
      opened.reject(new Error(`closed before opening (${e.code} ${e.reason})`));
      // A close we did not ask for is reported with the server's code and reason.
      this.ended(this.endExpected ? undefined : `closed: ${e.code} ${e.reason}`);
    };
    return opened.promise;
  }

  protected sayLine(text: string): void {
    this.#socket?.send(JSON.stringify({ type: "say", text }));
  }

  protected sendBarrier(): void {
    this.#socket?.send(JSON.stringify({ type: "msg", to: this.nick, text: this.barrierText }));
  }

  protected hangUp(): void {
    this.#socket?.close();
  }
}

/** Writes to a connection in order, all of each chunk. */
class Outbox {
  #chain = Promise.resolve();

  constructor(readonly conn: Deno.TcpConn, readonly onError: (e: unknown) => void) {}

  write(bytes: Uint8Array): void {
    this.#chain = this.#chain.then(async () => {
      for (let off = 0; off < bytes.length;) off += await this.conn.write(bytes.subarray(off));
    }).catch(this.onError);
  }
}

/** Reads a connection until it ends; resolves with the error, if it ended in one. */
async function pump(conn: Deno.TcpConn, onData: (chunk: Uint8Array) => void): Promise<unknown> {
  const buf = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return undefined;
      onData(buf.subarray(0, n));
    }
  } catch (e) {
    return e;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b.slice();
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** A client frame (masked, as RFC 6455 requires of clients). */
function clientFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = new Uint8Array(head + 4 + n);
  const view = new DataView(out.buffer);
  out[0] = 0x80 | opcode;
  if (n < 126) out[1] = 0x80 | n;
  else if (n < 65536) {
    out[1] = 0x80 | 126;
    view.setUint16(2, n);
  } else {
    out[1] = 0x80 | 127;
    view.setBigUint64(2, BigInt(n));
  }
  const mask = crypto.getRandomValues(new Uint8Array(4));
  out.set(mask, head);
  for (let i = 0; i < n; i++) out[head + 4 + i] = payload[i]! ^ mask[i & 3]!;
  return out;
}

/**
 * A WebSocket member speaking RFC 6455 over a bare TCP connection, so that it
 * can leave the way a crashed browser or a lost network does: the connection
 * just ends, with no closing handshake.
 */
class RawWsPeer extends Peer {
  #out: Outbox | undefined;
  #conn: Deno.TcpConn | undefined;
  /** Bytes not parsed yet: the HTTP response, then frames. */
  #pending: Uint8Array = new Uint8Array(0);
  #upgraded = false;
  #fragments: Uint8Array[] = [];
  readonly #decoder = new TextDecoder();

  constructor(nick: string, readonly port: number) {
    super(nick, "raw", "drop", false);
  }

  protected async open(): Promise<void> {
    const conn = await this.connect(this.port);
    this.#conn = conn;
    this.#out = new Outbox(conn, (e) => this.#writeFailed(e));
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    this.#out.write(encoder.encode(
      `GET /ws HTTP/1.1\r\nHost: ${HOST}:${this.port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ));
    const upgraded = Promise.withResolvers<void>();
    pump(conn, (chunk) => {
      try {
        this.#data(chunk, upgraded);
      } catch (e) {
        upgraded.reject(e);
        problem("bad frames", `${this.nick}: ${describeError(e)}`);
        this.abort();
      }
    }).then((e) => {
      upgraded.reject(new Error(`closed before the upgrade (${e ?? "EOF"})`));
      this.ended(e);
    });
    await upgraded.promise;
    this.#send(OP_TEXT, JSON.stringify({ type: "join", nick: this.nick }));
  }

  protected sayLine(text: string): void {
    this.#send(OP_TEXT, JSON.stringify({ type: "say", text }));
  }

  protected sendBarrier(): void {
    this.#send(OP_TEXT, JSON.stringify({ type: "msg", to: this.nick, text: this.barrierText }));
  }

  protected hangUp(): void {
    try {
      this.#conn?.close();
    } catch (e) {
      if (!(e instanceof Deno.errors.BadResource)) throw e;
    }
  }

  #send(opcode: number, text: string | Uint8Array): void {
    const payload = typeof text === "string" ? encoder.encode(text) : text;
    this.#out?.write(clientFrame(opcode, payload));
  }

  #writeFailed(e: unknown): void {
    if (!this.endExpected) problem("transport errors", `${this.nick}: write: ${describeError(e)}`);
  }

  #data(chunk: Uint8Array, upgraded: PromiseWithResolvers<void>): void {
    this.#pending = concat(this.#pending, chunk);
    if (!this.#upgraded) {
      const end = headerEnd(this.#pending);
      if (end === -1) return;
      const head = this.#decoder.decode(this.#pending.subarray(0, end));
      if (!/^HTTP\/1\.1 101 /.test(head)) {
        throw new Error(`upgrade refused: ${head.split("\r\n")[0]}`);
      }
      this.#upgraded = true;
      this.#pending = this.#pending.slice(end + 4);
      upgraded.resolve();
    }
    for (;;) {
      const frame = nextFrame(this.#pending);
      if (frame === undefined) return;
      this.#pending = this.#pending.subarray(frame.size);
      this.#onFrame(frame.opcode, frame.fin, frame.payload);
    }
  }

  #onFrame(opcode: number, fin: boolean, payload: Uint8Array): void {
    if (opcode === OP_PING) return this.#send(OP_PONG, payload.slice());
    if (opcode === OP_PONG) return;
    if (opcode === OP_CLOSE) {
      if (!this.endExpected) {
        const code = payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : "none";
        const reason = this.#decoder.decode(payload.subarray(2));
        problem("unexpected closes", `${this.nick} (raw): close frame ${code} ${reason}`);
      }
      return this.abort();
    }
    if (opcode !== OP_TEXT && opcode !== OP_CONTINUATION) {
      throw new Error(`unexpected frame opcode ${opcode}`);
    }
    this.#fragments.push(payload.slice());
    if (!fin) return;
    const whole = this.#fragments.reduce(concat, new Uint8Array(0));
    this.#fragments = [];
    this.frame(this.#decoder.decode(whole));
  }
}

/** Where the blank line ending an HTTP head starts, or -1. */
function headerEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

/** The first whole server frame in `bytes` (never masked), or undefined. */
function nextFrame(
  bytes: Uint8Array,
): { opcode: number; fin: boolean; payload: Uint8Array; size: number } | undefined {
  if (bytes.length < 2) return undefined;
  const b0 = bytes[0]!;
  const b1 = bytes[1]!;
  if (b1 & 0x80) throw new Error("the server sent a masked frame");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let length = b1 & 0x7f;
  let head = 2;
  if (length === 126) {
    if (bytes.length < 4) return undefined;
    length = view.getUint16(2);
    head = 4;
  } else if (length === 127) {
    if (bytes.length < 10) return undefined;
    length = Number(view.getBigUint64(2));
    head = 10;
  }
  if (bytes.length < head + length) return undefined;
  return {
    opcode: b0 & 0x0f,
    fin: (b0 & 0x80) !== 0,
    payload: bytes.subarray(head, head + length),
    size: head + length,
  };
}

/** A terminal member (the line protocol, as `nc` speaks it); leaves with `/quit` or a drop. */
class TcpPeer extends Peer {
  #out: Outbox | undefined;
  #conn: Deno.TcpConn | undefined;
  #text = "";
  readonly #decoder = new TextDecoder();

  constructor(nick: string, style: "quit" | "drop", observer: boolean, readonly port: number) {
    super(nick, "tcp", style, observer);
  }

  protected async open(): Promise<void> {
    const conn = await this.connect(this.port);
    this.#conn = conn;
    this.#out = new Outbox(conn, (e) => {
      if (!this.endExpected) {
        problem("transport errors", `${this.nick}: write: ${describeError(e)}`);
      }
    });
    pump(conn, (chunk) => this.#data(chunk)).then((e) => this.ended(e));
    this.#out.write(encoder.encode(`${this.nick}\n`));
  }

  protected sayLine(text: string): void {
    this.#out?.write(encoder.encode(`${text}\n`));
  }

  protected sendBarrier(): void {
    const line = this.style === "quit"
      ? `/quit soak ${this.nick} is done`
      : `/msg ${this.nick} ${this.barrierText}`;
    this.#out?.write(encoder.encode(`${line}\n`));
  }

  protected hangUp(): void {
    try {
      this.#conn?.close();
    } catch (e) {
      if (!(e instanceof Deno.errors.BadResource)) throw e;
    }
  }

  #data(chunk: Uint8Array): void {
    this.#text += this.#decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let end; (end = this.#text.indexOf("\r\n", start)) !== -1; start = end + 2) {
      this.#line(this.#text.slice(start, end));
    }
    this.#text = this.#text.slice(start);
  }

  #line(line: string): void {
    const chat = /^\[\d\d:\d\d\] <([^>]+)> (.*)$/.exec(line);
    if (chat) return this.chat(chat[1]!, chat[2]!, undefined);
    const whisper = /^\[\d\d:\d\d\] \[private to ([^\]]+)\] <([^>]+)> (.*)$/.exec(line);
    if (whisper) return this.whispered(whisper[2]!, whisper[1]!, whisper[3]!);
    if (/^\[\d\d:\d\d\] -- /.test(line)) totals.presence++;
    else if (line === "-- Bye!") this.answered();
    // The prompt has no line end, so the welcome follows it on the same line.
    else if (line.includes("-- Hello ")) this.welcomed();
    else if (line.startsWith("! ")) this.refused(line);
    else if (line.startsWith("[") && line.includes("] -!- ")) problem("notices", line);
  }
}

// -------------------------------------------------------------------- run

/** The population at `t` seconds: up, steady, down to nothing. */
function target(options: Options, t: number): number {
  const ramp = options.seconds * RAMP_SHARE;
  const share = Math.min(1, t / ramp, (options.seconds - t) / ramp);
  return Math.max(0, Math.round(options.members * share));
}

/** Memory readings and CPU times, for the report. */
interface Readings {
  before: Memory;
  /** One per round: the observers are still there at its end. */
  rounds: Round[];
  /** After the last round, when the observers have left too. */
  after: Memory;
  serverCpu: number;
  ownCpu: number;
  seconds: number;
}

/** What one round of {@linkcode drive} saw. */
interface Round {
  /** Every member who came and went. */
  peers: Peer[];
  /** The server's memory in the middle of the steady part, and who was there then. */
  peak: Memory;
  peakMembers: number;
  /** The highest VmRSS among the progress readings. */
  highest: number;
  /** The server's memory once everyone but the observers has left, after a settle. */
  after: Memory;
}

/** Members started so far, over all rounds: each gets a fresh nickname. */
let spawned = 0;

/** The next member to come: out of every ten, the mix set by MIX_TCP and MIX_RAW_WS. */
function newcomer(server: Server): Peer {
  const n = spawned++;
  const mix = n % 10;
  if (mix < MIX_TCP) {
    // Every other terminal quits; the rest drop the connection.
    return new TcpPeer(`t${n}`, n % 20 < 10 ? "quit" : "drop", false, server.tcpPort);
  }
  if (mix < MIX_TCP + MIX_RAW_WS) return new RawWsPeer(`r${n}`, server.httpPort);
  return new WsPeer(`w${n}`, false, server.httpPort);
}

/** One progress line: where the run is, who is there, what was sent and received. */
function progressLine(label: string, churners: Iterable<Peer>, rss: number): string {
  let live = OBSERVERS_WS + OBSERVERS_TCP;
  let joining = 0;
  let leaving = 0;
  for (const peer of churners) {
    if (peer.state === "live") live++;
    else if (peer.state === "joining") joining++;
    else if (peer.state === "leaving") leaving++;
  }
  return `soak: ${label}  members ${count(live)} (+${joining} joining, ${leaving} leaving)  ` +
    `sent ${count(ledger.length)}  delivered ${count(totals.delivered)}  rss ${mib(rss)} MiB  ` +
    `problems ${problemCount()}`;
}

/** Runs one round of members against the server; resolves when all of them are done. */
async function drive(options: Options, server: Server, round: number): Promise<Round> {
  const finished: Peer[] = [];
  const churners = new Set<Peer>();
  let peak: Promise<Memory> | undefined;
  let peakMembers = 0;
  const start = performance.now();
  const elapsed = () => (performance.now() - start) / 1000;
  const everyoneLeft = Promise.withResolvers<void>();

  const spawn = () => {
    const peer = newcomer(server);
    churners.add(peer);
    peer.gone.then(() => {
      clearTimeout(peer.stayTimer);
      churners.delete(peer);
      finished.push(peer);
    });
    peer.join().then((ok) => {
      if (!ok) return;
      const [low, high] = STAY_SPREAD;
      const stay = options.stay * (low + Math.random() * (high - low));
      peer.stayTimer = setTimeout(() => peer.leave(), stay * 1000);
    });
  };

  const control = setInterval(() => {
    const t = elapsed();
    let active = OBSERVERS_WS + OBSERVERS_TCP;
    const live: Peer[] = [];
    for (const peer of churners) {
      if (peer.state === "joining") active++;
      if (peer.state === "live") live.push(peer);
    }
    active += live.length;
    const wanted = t >= options.seconds ? 0 : target(options, t);
    for (let i = 0; i < Math.min(SPAWN_MAX, wanted - active); i++) spawn();
    for (let excess = active - wanted; excess > 0 && live.length > 0; excess--) {
      const i = Math.floor(Math.random() * live.length);
      const [peer] = live.splice(i, 1);
      peer?.leave();
    }
    if (!peak && t >= options.seconds / 2) {
      peak = memory(server.pid);
      peakMembers = OBSERVERS_WS + OBSERVERS_TCP + live.length;
    }
    if (t >= options.seconds && churners.size === 0) everyoneLeft.resolve();
  }, CONTROL_MS);

  let quota = 0;
  let last = performance.now();
  const send = setInterval(() => {
    const now = performance.now();
    quota += (options.rate * (now - last)) / 1000;
    last = now;
    if (elapsed() >= options.seconds) return;
    const live = [...churners].filter((p) => p.state === "live");
    if (live.length === 0) quota = Math.min(quota, 1);
    for (; quota >= 1 && live.length > 0; quota--) {
      live[Math.floor(Math.random() * live.length)]?.say(ledger.length);
    }
  }, SEND_MS);

  let highest = 0;
  const progress = setInterval(async () => {
    const { rss } = await memory(server.pid);
    highest = Math.max(highest, rss);
    const at = `${elapsed().toFixed(0).padStart(4)} s`;
    console.error(
      progressLine(options.rounds > 1 ? `round ${round + 1} ${at}` : at, churners, rss),
    );
  }, PROGRESS_MS);

  try {
    await everyoneLeft.promise;
  } finally {
    clearInterval(control);
    clearInterval(send);
    clearInterval(progress);
  }
  const peakMemory = await (peak ?? memory(server.pid));
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  return {
    peers: finished,
    peak: peakMemory,
    peakMembers,
    highest,
    after: await memory(server.pid),
  };
}

// ------------------------------------------------------------------ checks

/** Deliveries a set of members was owed and what became of them. */
interface Check {
  owed: number;
  lost: number;
  duplicated: number;
}

/** The first sequence number sent after `t` (messages are numbered in the order sent). */
function firstAfter(t: number): number {
  let lo = 0;
  let hi = ledger.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ledger[mid]!.at <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Compares what `peer` received with what it was owed: every accepted
 * message sent after its welcome and published before its last barrier (its
 * own terminal lines excepted).
 */
function check(peer: Peer, into: Check): void {
  if (Number.isNaN(peer.joinedAt) || Number.isNaN(peer.drainedAt)) return;
  const got = peer.received;
  for (let i = 1; i < got.length; i++) if (got[i] === got[i - 1]) into.duplicated++;
  let g = 0;
  for (let seq = firstAfter(peer.joinedAt); seq < ledger.length; seq++) {
    const sent = ledger[seq]!;
    if (sent.at >= peer.drainedAt) break;
    if (!sent.accepted || sent.publishedBy >= peer.drainedAt) continue;
    if (peer.kind === "tcp" && sent.from === peer) continue;
    into.owed++;
    while (g < got.length && got[g]! < sent.seq) g++;
    if (got[g] !== sent.seq) into.lost++;
  }
}

// ------------------------------------------------------------------ report

function count(n: number): string {
  return n.toLocaleString("en");
}

function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}

/** Join times of those who got in, as "p50 / p99 / max ms". */
function joinTimes(peers: Peer[]): string {
  const ms = peers.map((p) => p.joinMs).filter((t) => !Number.isNaN(t));
  ms.sort((a, b) => a - b);
  const at = (q: number) =>
    (ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? NaN).toFixed(0);
  return `${at(0.5)} / ${at(0.99)} / ${at(1)} ms`;
}

function report(options: Options, peers: Peer[], r: Readings): boolean {
  const observers: Check = { owed: 0, lost: 0, duplicated: 0 };
  const churners: Check = { owed: 0, lost: 0, duplicated: 0 };
  for (const peer of peers) check(peer, peer.observer ? observers : churners);
  const accepted = ledger.filter((s) => s.accepted).length;
  const byKind = (kind: Kind) => peers.filter((p) => p.kind === kind && !p.observer).length;
  const byStyle = (style: Style) => peers.filter((p) => p.style === style && !p.observer).length;
  const errors = problemCount();
  const breakdown = PROBLEMS.filter((p) => (problems.get(p)?.count ?? 0) > 0)
    .map((p) => `${p} ${problems.get(p)?.count}`).join(", ");
  const [low, high] = STAY_SPREAD.map((k) => Math.round(k * options.stay));
  const first = r.rounds[0];
  const highest = Math.max(...r.rounds.map((round) => round.highest));
  const rows: [string, string][] = [
    [
      "run",
      `${options.seconds} s${options.rounds > 1 ? ` × ${options.rounds} rounds` : ""}, ${
        count(options.members)
      } members at peak, ${options.rate} messages/s offered, stays ${low}–${high} s`,
    ],
    [
      "members who came and went",
      `${count(peers.length - OBSERVERS_WS - OBSERVERS_TCP)}: ${count(byKind("ws"))} WebSocket, ` +
      `${count(byKind("raw"))} WebSocket on a bare socket, ${count(byKind("tcp"))} terminal`,
    ],
    [
      "how they left",
      `${count(byStyle("close"))} clean close, ${count(byStyle("quit"))} /quit, ` +
      `${count(byStyle("drop"))} dropped connection`,
    ],
    ["observers, there all along", `${OBSERVERS_WS} WebSocket, ${OBSERVERS_TCP} terminal`],
    [
      "messages sent / accepted",
      `${count(ledger.length)} / ${count(accepted)}` +
      (accepted < ledger.length ? " (the rest: their sender was cut off first)" : ""),
    ],
    [
      "chat messages / presence events received",
      `${count(totals.delivered)} / ${count(totals.presence)}`,
    ],
    [
      "time to join, p50 / p99 / max: WebSocket; terminal",
      `${joinTimes(peers.filter((p) => p.kind !== "tcp"))}; ${
        joinTimes(peers.filter((p) => p.kind === "tcp"))
      }`,
    ],
    ["deliveries owed: observers / others", `${count(observers.owed)} / ${count(churners.owed)}`],
    ["**lost**: observers / others", `**${count(observers.lost)}** / **${count(churners.lost)}**`],
    [
      "duplicated: observers / others",
      `${count(observers.duplicated)} / ${count(churners.duplicated)}`,
    ],
    ["**errors**", `**${errors}**${breakdown ? ` (${breakdown})` : ""}`],
    [
      "server RSS: before / at peak / after (VmRSS)",
      `${mib(r.before.rss)} / ${first ? mib(first.peak.rss) : "?"} (${
        count(first?.peakMembers ?? 0)
      } members) / ${mib(r.after.rss)} MiB`,
    ],
    ...(options.rounds > 1
      ? [[
        "server RSS after each round (observers still in)",
        `${r.rounds.map((round) => mib(round.after.rss)).join(" / ")} MiB`,
      ] as [string, string]]
      : []),
    ["server RSS: highest sampled / VmHWM", `${mib(highest)} / ${mib(r.after.hwm)} MiB`],
    [
      "server CPU (user + system)",
      `${r.serverCpu.toFixed(1)} s, ${(100 * r.serverCpu / r.seconds).toFixed(0)}% of one core`,
    ],
    [
      "load generator CPU (user + system)",
      `${r.ownCpu.toFixed(1)} s, ${(100 * r.ownCpu / r.seconds).toFixed(0)}% of one core`,
    ],
  ];
  console.log(`## Soak\n\n| measure | value |\n| --- | --- |`);
  for (const [name, value] of rows) console.log(`| ${name} | ${value} |`);
  showProblems();
  const clean = observers.lost + churners.lost + observers.duplicated + churners.duplicated === 0;
  return clean && errors === 0;
}

// -------------------------------------------------------------------- main

async function main(args: string[]): Promise<number> {
  const options = parseOptions(args);
  if (options === undefined) {
    console.log(USAGE);
    return 0;
  }
  if (typeof options === "string") {
    console.error(`soak: ${options}`);
    return 2;
  }
  const dir = await Deno.makeTempDir({ prefix: "chat-soak-" });
  let server: Server | undefined;
  const deadline = setTimeout(() => {
    console.error("soak: the run overshot its deadline; killing the server");
    server?.kill();
    Deno.removeSync(dir, { recursive: true });
    Deno.exit(3);
  }, options.rounds * (options.seconds * 1000 + SETTLE_MS) + DEADLINE_SLACK_MS);
  try {
    server = await startServer(`${dir}/soak.db`);
    const before = await memory(server.pid);
    const cpu0 = await cpuSeconds(server.pid);
    const ownCpu0 = await cpuSeconds(Deno.pid);
    const t0 = performance.now();
    const observers: Peer[] = [];
    for (let i = 0; i < OBSERVERS_WS; i++) {
      observers.push(new WsPeer(`ow${i}`, true, server.httpPort));
    }
    for (let i = 0; i < OBSERVERS_TCP; i++) {
      observers.push(new TcpPeer(`ot${i}`, "quit", true, server.tcpPort));
    }
    if (!(await Promise.all(observers.map((o) => o.join()))).every(Boolean)) {
      console.error("soak: the observers could not join");
      showProblems();
      return 1;
    }
    const rounds: Round[] = [];
    for (let round = 0; round < options.rounds; round++) {
      rounds.push(await drive(options, server, round));
    }
    await Promise.all(observers.map((o) => o.leave()));
    const seconds = (performance.now() - t0) / 1000;
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const readings: Readings = {
      before,
      rounds,
      after: await memory(server.pid),
      serverCpu: (await cpuSeconds(server.pid)) - cpu0,
      ownCpu: (await cpuSeconds(Deno.pid)) - ownCpu0,
      seconds,
    };
    const code = await server.stop();
    if (code !== 0) problem("server exit", `exit code ${code}`);
    const peers = [...observers, ...rounds.flatMap((r) => r.peers)];
    return report(options, peers, readings) ? 0 : 1;
  } finally {
    clearTimeout(deadline);
    server?.kill();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
