/**
 * Lean load-generator clients for the four protocols `bench/` speaks: our
 * WebSocket protocol (JSON, common/protocol.ts), our TCP line protocol, the
 * reference peers' `name: text` WebSocket relay, and IRC.
 *
 * A client counts the chat messages it receives without parsing them in
 * full (a load generator that validates every frame saturates long before
 * the servers do; the tests check the protocols, this only counts). While
 * {@linkcode BenchClient.timing} is on, it also reads the send time out of
 * every `t=<ms>` message and records the delay.
 *
 * Only 127.0.0.1 is ever connected to.
 *
 * @module
 */

/** The four protocols. */
export type Kind = "chat-ws" | "chat-tcp" | "relay-ws" | "irc";

/** Where a server listens; each kind uses its own port. */
export interface Endpoints {
  /** Our server's HTTP port (`/ws`). */
  chatWs?: number;
  /** Our server's terminal port. */
  chatTcp?: number;
  /** A reference peer's WebSocket relay port. */
  relayWs?: number;
  /** ngircd's port. */
  irc?: number;
}

/** The address every benchmark connection goes to. */
export const HOST = "127.0.0.1";

/** The IRC channel the IRC members share. */
export const IRC_CHANNEL = "#room";

/**
 * Messages an IRC member may have sent that nobody has seen relayed yet.
 * ngircd closes a client whose unread input reaches 2,048 bytes and handles
 * at most 10 commands per read for a user with mode F, so a sender keeps
 * fewer than that in flight.
 */
export const IRC_WINDOW = 8;

/** Does a member of this kind receive its own room messages back? */
export function echoes(kind: Kind): boolean {
  return kind === "chat-ws" || kind === "relay-ws";
}

/** One member of the room, any protocol. */
export interface BenchClient {
  readonly kind: Kind;
  readonly name: string;
  /** Chat messages received since the last {@linkcode resetCount}. */
  readonly received: number;
  /** When on, every `t=<ms>` message received adds a delay to `delays`. */
  timing: boolean;
  /** Delays recorded while {@linkcode timing} was on, in ms. */
  readonly delays: number[];
  /**
   * Off, what arrives is read and dropped unlooked-at: idle members cost the
   * generator little however much presence traffic a room sends them.
   */
  counting: boolean;
  /** Called after each chunk of input that raised `received`. */
  onProgress: () => void;
  resetCount(): void;
  /**
   * Stops reading: what arrives waits in the socket's buffer (the server
   * still sends it), so members that are not sampled cost the generator
   * nothing while the sampled ones are timed.
   */
  pause(): void;
  /** Reads again. */
  resume(): void;
  /** Sends chat lines, in order. */
  say(texts: readonly string[]): void;
  /** Closes the connection; resolves once it is closed. Idempotent. */
  close(): Promise<void>;
}

/** Milliseconds since the epoch, with sub-millisecond resolution, comparable across processes. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

const TIME_STAMP = /t=(\d+(?:\.\d+)?)/g;

/** Base: counting, timing, progress. */
abstract class Counting implements BenchClient {
  abstract readonly kind: Kind;
  readonly name: string;
  received = 0;
  timing = false;
  counting = false;
  readonly delays: number[] = [];
  onProgress: () => void = () => {};

  constructor(name: string) {
    this.name = name;
  }

  resetCount(): void {
    this.received = 0;
  }

  #paused: PromiseWithResolvers<void> | undefined;
  /** Set on members others depend on (IRC's watchers): they never pause. */
  keepReading = false;

  pause(): void {
    if (!this.keepReading) this.#paused ??= Promise.withResolvers();
  }

  resume(): void {
    this.#paused?.resolve();
    this.#paused = undefined;
  }

  /** Resolves once the client is not paused. */
  protected async unpaused(): Promise<void> {
    while (this.#paused) await this.#paused.promise;
  }

  protected count(n: number, text: string | undefined): void {
    if (n === 0) return;
    this.received += n;
    if (this.timing && text !== undefined) {
      const now = wallNow();
      for (const m of text.matchAll(TIME_STAMP)) this.delays.push(now - Number(m[1]));
    }
    this.onProgress();
  }

  abstract say(texts: readonly string[]): void;
  abstract close(): Promise<void>;
}

function occurrences(text: string, needle: string): number {
  let n = 0;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) n++;
  return n;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `"type":"message"`: one per chat message in our frames. */
const CHAT_EVENT = encoder.encode(`"type":"message"`);
/** The pattern's rarest byte ("y") and where it sits, to anchor the search. */
const CHAT_ANCHOR = CHAT_EVENT.indexOf(0x79);

/** How many times {@linkcode CHAT_EVENT} occurs in `bytes[from, to)`. */
function chatEvents(bytes: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let at = bytes.indexOf(0x79, from + CHAT_ANCHOR); at !== -1 && at < to;) {
    const start = at - CHAT_ANCHOR;
    let match = start + CHAT_EVENT.length <= to;
    for (let k = 0; match && k < CHAT_EVENT.length; k++) match = bytes[start + k] === CHAT_EVENT[k];
    if (match) n++;
    at = bytes.indexOf(0x79, at + 1);
  }
  return n;
}

/** WebSocket opcodes (RFC 6455, 5.2). */
const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/**
 * Most bytes of an unfinished frame kept while waiting for the rest; a frame
 * is never larger than what the servers under test send at once.
 */
const FRAME_BUFFER = 1 << 20;

/**
 * Read buffers: members that only sit in the room (the ramp) start small and
 * grow while reads fill them, since thousands of them would otherwise each
 * zero and hold a buffer sized for a burst. Members that count start large,
 * to read a burst in few pieces.
 */
const READ_IDLE = 16 * 1024;
const READ_MAX = 256 * 1024;
const LINE_READ_MAX = 64 * 1024;

function nextReadBuffer(
  buf: Uint8Array<ArrayBuffer>,
  n: number,
  max: number,
): Uint8Array<ArrayBuffer> {
  return n === buf.length && buf.length < max ? new Uint8Array(buf.length * 4) : buf;
}

/**
 * Encodes client frames: masked, as RFC 6455 requires of a client, with a
 * zero mask, so the payload goes out as it is.
 */
function clientFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const frame = new Uint8Array(head + 4 + n);
  frame[0] = 0x80 | opcode;
  if (n < 126) {
    frame[1] = 0x80 | n;
  } else if (n < 65536) {
    frame[1] = 0x80 | 126;
    frame[2] = n >> 8;
    frame[3] = n & 0xff;
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(n));
  }
  frame.set(payload, head + 4);
  return frame;
}

/**
 * A WebSocket member, ours (JSON) or a peer's (`name: text`), on a client of
 * its own: it counts messages in the frames' bytes without decoding them,
 * where the runtime's client would make a string and an event of each.
 */
class WsClient extends Counting {
  readonly kind: "chat-ws" | "relay-ws";
  readonly #conn: Deno.TcpConn;
  readonly #idle: boolean;
  /** Bytes of an unfinished frame (or of the handshake). */
  #pending = new Uint8Array(0);
  #writing: Promise<unknown> = Promise.resolve();
  #reading: Promise<void> = Promise.resolve();
  #closed = false;
  /** Until the member has joined: sees each text frame, decoded ("" when closed). */
  onText: ((text: string) => void) | undefined;

  constructor(kind: "chat-ws" | "relay-ws", name: string, conn: Deno.TcpConn, idle: boolean) {
    super(name);
    this.kind = kind;
    this.#conn = conn;
    this.#idle = idle;
  }

  /** Sends the upgrade request and starts reading. */
  start(path: string, port: number): void {
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    this.#write(encoder.encode(
      `GET ${path} HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ));
    this.#reading = this.#read();
  }

  async #read(): Promise<void> {
    let buf = new Uint8Array(this.#idle ? READ_IDLE : READ_MAX);
    let upgraded = false;
    try {
      for (;;) {
        await this.unpaused();
        const n = await this.#conn.read(buf);
        if (n === null) break;
        let bytes = buf.subarray(0, n);
        if (this.#pending.length > 0) {
          const joined = new Uint8Array(this.#pending.length + n);
          joined.set(this.#pending);
          joined.set(bytes, this.#pending.length);
          bytes = joined;
        }
        let at = 0;
        if (!upgraded) {
          const text = decoder.decode(bytes);
          const end = text.indexOf("\r\n\r\n");
          if (end === -1) {
            this.#keep(bytes, 0);
            continue;
          }
          if (!text.startsWith("HTTP/1.1 101")) throw new Error(text.split("\r\n")[0]);
          upgraded = true;
          at = encoder.encode(text.slice(0, end + 4)).length;
          this.onText?.("open");
        }
        at = this.#frames(bytes, at);
        this.#keep(bytes, at);
        buf = nextReadBuffer(buf, n, READ_MAX);
      }
    } catch (e) {
      if (!isDisconnect(e) && !(e instanceof Error && this.onText)) throw e;
    } finally {
      this.#closed = true;
      this.onText?.("");
    }
  }

  #keep(bytes: Uint8Array, from: number): void {
    if (bytes.length - from > FRAME_BUFFER) throw new RangeError("frame too large");
    this.#pending = from === bytes.length ? new Uint8Array(0) : bytes.slice(from);
  }

  /** Handles every complete frame from `at`; returns where the unfinished one starts. */
  #frames(bytes: Uint8Array, at: number): number {
    let count = 0;
    let timed: string[] | undefined;
    while (bytes.length - at >= 2) {
      const opcode = bytes[at]! & 0x0f;
      let length = bytes[at + 1]! & 0x7f;
      let head = 2;
      if (length === 126) {
        if (bytes.length - at < 4) break;
        length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
        head = 4;
      } else if (length === 127) {
        if (bytes.length - at < 10) break;
        length = Number(new DataView(bytes.buffer, bytes.byteOffset + at + 2, 8).getBigUint64(0));
        head = 10;
      }
      if (bytes.length - at < head + length) break;
      const from = at + head;
      const to = from + length;
      at = to;
      if (opcode === OP_TEXT || opcode === 0) {
        if (this.onText) {
          this.onText(decoder.decode(bytes.subarray(from, to)));
          continue;
        }
        if (!this.counting) continue;
        count += this.kind === "relay-ws" ? 1 : chatEvents(bytes, from, to);
        if (this.timing) (timed ??= []).push(decoder.decode(bytes.subarray(from, to)));
      } else if (opcode === OP_PING) {
        this.#write(clientFrame(OP_PONG, bytes.slice(from, to)));
      } else if (opcode === OP_CLOSE) {
        this.#write(clientFrame(OP_CLOSE, new Uint8Array(0)));
      }
    }
    this.count(count, timed?.join("\n"));
    return at;
  }

  #write(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#writing = this.#writing.then(async () => {
      for (let off = 0; off < bytes.length;) off += await this.#conn.write(bytes.subarray(off));
    }).catch((e) => {
      if (!isDisconnect(e)) throw e;
    });
  }

  /** Sends text frames, all in one write. */
  sendTexts(texts: readonly string[]): void {
    const frames = texts.map((t) => clientFrame(OP_TEXT, encoder.encode(t)));
    if (frames.length === 1) return this.#write(frames[0]!);
    const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let off = 0;
    for (const f of frames) {
      all.set(f, off);
      off += f.length;
    }
    this.#write(all);
  }

  say(texts: readonly string[]): void {
    this.sendTexts(
      this.kind === "chat-ws" ? texts.map((text) => JSON.stringify({ type: "say", text })) : texts,
    );
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#write(clientFrame(OP_CLOSE, new Uint8Array(0)));
      await this.#writing;
      this.#closed = true;
      try {
        this.#conn.close();
      } catch (e) {
        if (!(e instanceof Deno.errors.BadResource)) throw e;
      }
    }
    await this.#reading;
  }
}

/** Opens a WebSocket member; resolves once it is in the room. */
async function openWs(kind: "chat-ws" | "relay-ws", port: number, name: string, idle: boolean) {
  const conn = await Deno.connect({ hostname: HOST, port });
  conn.setNoDelay(true);
  const client = new WsClient(kind, name, conn, idle);
  const joined = Promise.withResolvers<void>();
  client.onText = (text) => {
    if (text === "") joined.reject(new Error(`${name}: closed before joining`));
    else if (text === "open") {
      if (kind === "relay-ws") joined.resolve();
      else client.sendTexts([JSON.stringify({ type: "join", nick: name })]);
    } else if (text.includes(`"type":"welcome"`)) joined.resolve();
    else if (text.includes(`"type":"error"`)) {
      joined.reject(new Error(`${name}: refused: ${text.slice(0, 200)}`));
    }
  };
  client.start(kind === "chat-ws" ? "/ws" : `/?name=${encodeURIComponent(name)}`, port);
  try {
    await joined.promise;
  } catch (e) {
    await client.close();
    throw e;
  }
  client.onText = undefined;
  return client;
}

const LF = 10;

/** A line-protocol member over TCP: ours, or IRC. */
class LineClient extends Counting {
  readonly kind: "chat-tcp" | "irc";
  readonly #conn: Deno.TcpConn;
  readonly #decoder = new TextDecoder();
  #carry = "";
  #writing: Promise<unknown> = Promise.resolve();
  #reading: Promise<void> = Promise.resolve();
  #closed = false;
  /** Called with each complete line until joined, and for IRC's watchers after. */
  onLine: (line: string) => void = () => {};
  /** Set once the member is in the room. */
  joined = false;

  constructor(kind: "chat-tcp" | "irc", name: string, conn: Deno.TcpConn) {
    super(name);
    this.kind = kind;
    this.#conn = conn;
  }

  start(): void {
    this.#reading = this.#read();
  }

  async #read(): Promise<void> {
    const buf = new Uint8Array(LINE_READ_MAX);
    try {
      for (;;) {
        await this.unpaused();
        const n = await this.#conn.read(buf);
        if (n === null) break;
        this.#chunk(buf.subarray(0, n));
      }
    } catch (e) {
      if (!isDisconnect(e)) throw e;
    } finally {
      this.#closed = true;
      this.onLine("");
    }
  }

  override resetCount(): void {
    super.resetCount();
    this.#carry = "";
    this.#lineLength = 0;
    this.#ninth = -1;
  }

  #chunk(bytes: Uint8Array): void {
    if (this.joined) {
      // Idle: drop it (IRC's watchers read on: they pace the senders).
      if (!this.counting && !(this.kind === "irc" && this.keepReading)) return;
      if (this.kind === "chat-tcp" && !this.timing) return this.#countLines(bytes);
    }
    const text = this.#carry + this.#decoder.decode(bytes, { stream: true });
    const last = text.lastIndexOf("\n");
    if (last === -1) {
      this.#carry = text;
      return;
    }
    this.#carry = text.slice(last + 1);
    const complete = text.slice(0, last);
    if (!this.joined || this.kind === "irc") {
      if (this.joined && this.counting) this.count(occurrences(complete, " PRIVMSG "), complete);
      if (!this.joined || this.keepReading) {
        for (const line of complete.split("\n")) this.onLine(line);
      }
      return;
    }
    let lines = 0;
    for (const line of complete.split("\n")) if (line.charCodeAt(8) === 60) lines++;
    this.count(lines, complete);
  }

  /** Bytes of the current line seen so far, and its ninth byte (-1 until seen). */
  #lineLength = 0;
  #ninth = -1;

  /**
   * Counts chat lines without decoding: a chat line is "[HH:MM] <nick> text",
   * so its ninth byte is "<"; notices ("[HH:MM] -- ...") are not counted.
   */
  #countLines(bytes: Uint8Array): void {
    let lines = 0;
    for (let at = 0; at < bytes.length;) {
      const lf = bytes.indexOf(LF, at);
      const end = lf === -1 ? bytes.length : lf;
      if (this.#lineLength <= 8 && this.#lineLength + (end - at) > 8) {
        this.#ninth = bytes[at + 8 - this.#lineLength]!;
      }
      this.#lineLength += end - at;
      if (lf === -1) break;
      if (this.#ninth === 60) lines++;
      this.#lineLength = 0;
      this.#ninth = -1;
      at = lf + 1;
    }
    this.count(lines, undefined);
  }

  write(text: string): void {
    if (this.#closed) return;
    const bytes = encoder.encode(text);
    this.#writing = this.#writing.then(async () => {
      for (let off = 0; off < bytes.length;) off += await this.#conn.write(bytes.subarray(off));
    }).catch((e) => {
      if (!isDisconnect(e)) throw e;
    });
  }

  /** IRC: lines sent and not yet seen relayed. */
  inFlight = 0;
  /** IRC: lines waiting for room in the window. */
  readonly #pending: string[] = [];

  say(texts: readonly string[]): void {
    if (this.kind === "chat-tcp") return this.write(texts.map((t) => `${t}\n`).join(""));
    this.#pending.push(...texts);
    this.pump();
  }

  /** IRC: sends what the window allows. */
  pump(): void {
    if (this.inFlight > IRC_WINDOW / 2 || this.#pending.length === 0) return;
    const n = Math.min(IRC_WINDOW - this.inFlight, this.#pending.length);
    const lines = this.#pending.splice(0, n);
    this.inFlight += n;
    this.write(lines.map((t) => `PRIVMSG ${IRC_CHANNEL} :${t}\r\n`).join(""));
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.#writing;
      try {
        this.#conn.close();
      } catch (e) {
        if (!(e instanceof Deno.errors.BadResource)) throw e;
      }
    }
    await this.#reading;
  }
}

function isDisconnect(e: unknown): boolean {
  return e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted ||
    e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BrokenPipe ||
    e instanceof Deno.errors.ConnectionAborted || e instanceof Deno.errors.NotConnected;
}

/** Opens a terminal member of our server; resolves once it has a nickname. */
async function openChatTcp(port: number, name: string): Promise<LineClient> {
  const conn = await Deno.connect({ hostname: HOST, port });
  conn.setNoDelay(true);
  const client = new LineClient("chat-tcp", name, conn);
  const joined = Promise.withResolvers<void>();
  client.onLine = (line) => {
    if (line.includes("-- Hello ")) joined.resolve();
    else if (line === "" || line.startsWith("! ")) {
      joined.reject(new Error(`${name}: refused or closed: ${line || "(closed)"}`));
    }
  };
  client.start();
  client.write(`${name}\n`);
  await joined.promise;
  client.onLine = () => {};
  client.joined = true;
  return client;
}

/**
 * The members of one IRC room in this process. IRC does not echo a sender's
 * own messages, so the first member watches everyone's (the second watches
 * the first's) and opens each sender's window as its lines come back.
 */
export class IrcRoom {
  readonly #byNick = new Map<string, LineClient>();
  #watcher: LineClient | undefined;
  #watcherWatcher: LineClient | undefined;

  /** Opens an IRC member; resolves once it has joined the channel. */
  async open(port: number, name: string): Promise<LineClient> {
    const conn = await Deno.connect({ hostname: HOST, port });
    conn.setNoDelay(true);
    const client = new LineClient("irc", name, conn);
    const joined = Promise.withResolvers<void>();
    client.onLine = (line) => {
      if (line.startsWith("PING ")) client.write(`PONG ${line.slice(5)}\n`);
      else if (line.includes(` 366 ${name} `)) joined.resolve();
      else if (line === "" || line.startsWith("ERROR ") || /^:\S+ 4\d\d /.test(line)) {
        joined.reject(new Error(`${name}: refused or closed: ${line || "(closed)"}`));
      }
    };
    client.start();
    client.write(`NICK ${name}\r\nUSER ${name} 0 * :${name}\r\nJOIN ${IRC_CHANNEL}\r\n`);
    await joined.promise;
    this.#byNick.set(name, client);
    client.joined = true;
    if (this.#watcher === undefined) this.#watcher = client;
    else this.#watcherWatcher ??= client;
    const watching = client === this.#watcher || client === this.#watcherWatcher;
    client.keepReading = watching;
    client.onLine = (line) => {
      if (line.startsWith("PING ")) return client.write(`PONG ${line.slice(5)}\n`);
      if (!watching || !line.includes(" PRIVMSG ")) return;
      // ":nick!user@host PRIVMSG #room :text"
      const nick = line.slice(1, line.indexOf("!"));
      if (client === this.#watcherWatcher && nick !== this.#watcher?.name) return;
      const sender = this.#byNick.get(nick);
      if (sender === undefined) return;
      sender.inFlight--;
      sender.pump();
    };
    return client;
  }
}

/** Opens one member of `kind` at `endpoints`; resolves once it is in the room. */
export function openClient(
  kind: Kind,
  endpoints: Endpoints,
  name: string,
  irc: IrcRoom,
  idle = false,
): Promise<BenchClient> {
  const port = (p: number | undefined) => {
    if (p === undefined) throw new TypeError(`no port for ${kind} members`);
    return p;
  };
  switch (kind) {
    case "chat-ws":
      return openWs(kind, port(endpoints.chatWs), name, idle);
    case "relay-ws":
      return openWs(kind, port(endpoints.relayWs), name, idle);
    case "chat-tcp":
      return openChatTcp(port(endpoints.chatTcp), name);
    case "irc":
      return irc.open(port(endpoints.irc), name);
  }
}
