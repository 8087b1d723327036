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

import { isDisconnect } from "../server/transport/io.ts";
import { Opcode } from "../server/transport/web/frames.ts";
import { RawWebSocket, ZERO_MASK } from "../tests/kit/raw_ws.ts";
import { closeQuietly, dial, Writer } from "../tests/kit/socket.ts";
import { LOBBY } from "../common/room.ts";

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
  /** An IRC server's port: ngircd's, or ours. */
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
  /** The one room it is in, when not `#lobby` (ours only: the rooms scenario). */
  readonly room: string | undefined;
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
  readonly room: string | undefined;
  received = 0;
  timing = false;
  counting = false;
  readonly delays: number[] = [];
  onProgress: () => void = () => {};

  constructor(name: string, room?: string) {
    this.name = name;
    this.room = room;
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

/** How many times {@linkcode CHAT_EVENT} occurs in `bytes`. */
function chatEvents(bytes: Uint8Array): number {
  let n = 0;
  for (let at = bytes.indexOf(0x79, CHAT_ANCHOR); at !== -1;) {
    const start = at - CHAT_ANCHOR;
    let match = start + CHAT_EVENT.length <= bytes.length;
    for (let k = 0; match && k < CHAT_EVENT.length; k++) match = bytes[start + k] === CHAT_EVENT[k];
    if (match) n++;
    at = bytes.indexOf(0x79, at + 1);
  }
  return n;
}

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

/** Lets a write fail quietly when the server has gone; anything else is news. */
function ignoreDisconnect(e: unknown): void {
  if (!isDisconnect(e)) throw e;
}

/**
 * A WebSocket member, ours (JSON) or a peer's (`name: text`), on the kit's
 * client over a bare socket: it counts messages in the frames' bytes without
 * decoding them, where the runtime's client would make a string and an event
 * of each, and sends with a zero mask, so its payloads go out as they are.
 */
class WsClient extends Counting {
  readonly kind: "chat-ws" | "relay-ws";
  readonly #ws: RawWebSocket;
  #reading: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(kind: "chat-ws" | "relay-ws", name: string, ws: RawWebSocket, room?: string) {
    super(name, room);
    this.kind = kind;
    this.#ws = ws;
  }

  /** Reads from now on (frames already read first). */
  start(): void {
    this.#reading = this.#read();
  }

  async #read(): Promise<void> {
    try {
      do {
        this.#frames();
        await this.unpaused();
      } while (await this.#ws.fill());
    } catch (e) {
      if (!isDisconnect(e)) throw e;
    } finally {
      this.#closed = true;
    }
  }

  /** Counts the chat messages in every whole frame read (pings are answered by the socket). */
  #frames(): void {
    let count = 0;
    let timed: string[] | undefined;
    for (let frame; (frame = this.#ws.nextFrame()) !== undefined;) {
      if (
        !this.counting || (frame.opcode !== Opcode.text && frame.opcode !== Opcode.continuation)
      ) {
        continue;
      }
      count += this.kind === "relay-ws" ? 1 : chatEvents(frame.payload);
      if (this.timing) (timed ??= []).push(decoder.decode(frame.payload));
    }
    this.count(count, timed?.join("\n"));
  }

  say(texts: readonly string[]): void {
    if (this.#closed) return;
    const room = this.room;
    const frames = this.kind === "relay-ws"
      ? texts
      : room === undefined
      ? texts.map((text) => JSON.stringify({ type: "say", text }))
      : texts.map((text) => JSON.stringify({ type: "say", room, text }));
    this.#ws.sendTexts(frames).catch(ignoreDisconnect);
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.#ws.closeCleanly();
    }
    await this.#reading;
  }
}

/** Opens a WebSocket member; resolves once it is in the room (`room`, if given, alone). */
async function openWs(
  kind: "chat-ws" | "relay-ws",
  port: number,
  name: string,
  idle: boolean,
  room?: string,
): Promise<WsClient> {
  const ws = await RawWebSocket.connect({ hostname: HOST, port }, {
    path: kind === "chat-ws" ? "/ws" : `/?name=${encodeURIComponent(name)}`,
    readSize: idle ? READ_IDLE : READ_MAX,
    readMax: READ_MAX,
    frameMax: FRAME_BUFFER,
    mask: ZERO_MASK,
  });
  try {
    if (kind === "chat-ws") await join(ws, name, room);
  } catch (e) {
    ws.close();
    throw e;
  }
  const client = new WsClient(kind, name, ws, room);
  client.start();
  return client;
}

/**
 * Joins our server as `name`, straight into `room` when given (instead of
 * `#lobby`): resolves at the welcome, rejects at a refusal.
 */
async function join(ws: RawWebSocket, name: string, room?: string): Promise<void> {
  await ws.send(
    room === undefined ? { type: "join", nick: name } : { type: "join", nick: name, rooms: [room] },
  );
  for (;;) {
    const text = await ws.receive();
    if (text === undefined) throw new Error(`${name}: closed before joining`);
    if (text.includes(`"type":"welcome"`)) return;
    if (text.includes(`"type":"error"`)) throw new Error(`${name}: refused: ${text.slice(0, 200)}`);
  }
}

const LF = 10;

/** A line-protocol member over TCP: ours, or IRC. */
class LineClient extends Counting {
  readonly kind: "chat-tcp" | "irc";
  readonly #conn: Deno.TcpConn;
  readonly #writer: Writer;
  readonly #decoder = new TextDecoder();
  #carry = "";
  #reading: Promise<void> = Promise.resolve();
  #closed = false;
  /** Called with each complete line until joined, and for IRC's watchers after. */
  onLine: (line: string) => void = () => {};
  /** Set once the member is in the room. */
  joined = false;

  constructor(kind: "chat-tcp" | "irc", name: string, conn: Deno.TcpConn, room?: string) {
    super(name, room);
    this.kind = kind;
    this.#conn = conn;
    this.#writer = new Writer(conn);
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
    this.#writer.write(encoder.encode(text)).catch(ignoreDisconnect);
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
      await this.#writer.settled();
      closeQuietly(this.#conn);
    }
    await this.#reading;
  }
}

/**
 * Opens a terminal member of our server; resolves once it has a nickname
 * and, when `room` is given, is in that room alone: a terminal lands in
 * `#lobby`, so it types `/join ROOM` (which makes ROOM current, where its
 * plain lines go and whose lines it sees unlabeled) and `/part #lobby`.
 */
async function openChatTcp(port: number, name: string, room?: string): Promise<LineClient> {
  const client = new LineClient("chat-tcp", name, await dial({ hostname: HOST, port }), room);
  const joined = Promise.withResolvers<void>();
  const done = room === undefined ? "-- Hello " : `-- You left ${LOBBY}.`;
  client.onLine = (line) => {
    if (line.includes(done)) joined.resolve();
    else if (line.includes("-- Hello ")) client.write(`/join ${room}\n/part ${LOBBY}\n`);
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
 * What to answer a server's `PING` with: ngircd sends `PING :name`, ours
 * `:name PING name` (a source prefix is allowed on any server line); the
 * answer is `PONG` with the same parameter. Undefined for any other line.
 * Only the watchers read every line and answer: ours drops a member silent
 * since it registered 270 s after it connected, later than any scenario
 * keeps one (see bench/README.md); ngircd is configured not to ask.
 */
export function pingOf(line: string): string | undefined {
  // Called on every line a watcher reads: no slice unless it is a PING.
  const at = line.startsWith(":") ? line.indexOf(" ") + 1 : 0;
  if (!line.startsWith("PING ", at)) return undefined;
  return `PONG ${line.slice(at + 5)}\r\n`;
}

/**
 * Numerics in the 400s that refuse nothing: 422 says there is no message of
 * the day, and registration goes on.
 */
const NOT_REFUSALS = new Set(["422"]);

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
    const client = new LineClient("irc", name, await dial({ hostname: HOST, port }));
    const joined = Promise.withResolvers<void>();
    client.onLine = (line) => {
      const pong = pingOf(line);
      if (pong !== undefined) client.write(pong);
      else if (line.includes(` 366 ${name} `)) joined.resolve();
      else if (line === "" || line.startsWith("ERROR ") || refusal(line)) {
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
      const pong = pingOf(line);
      if (pong !== undefined) return client.write(pong);
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

/** Is `line` a numeric that refuses what the client asked (`:server 433 * m1 :...`)? */
function refusal(line: string): boolean {
  const code = /^:\S+ (4\d\d) /.exec(line)?.[1];
  return code !== undefined && !NOT_REFUSALS.has(code);
}

/**
 * Opens one member of `kind` at `endpoints`; resolves once it is in the
 * room: `#lobby`, or `room` alone when given (ours only).
 */
export function openClient(
  kind: Kind,
  endpoints: Endpoints,
  name: string,
  irc: IrcRoom,
  idle = false,
  room?: string,
): Promise<BenchClient> {
  const port = (p: number | undefined) => {
    if (p === undefined) throw new TypeError(`no port for ${kind} members`);
    return p;
  };
  if (room !== undefined && kind !== "chat-ws" && kind !== "chat-tcp") {
    throw new TypeError(`${kind} members have no rooms to pick`);
  }
  switch (kind) {
    case "chat-ws":
      return openWs(kind, port(endpoints.chatWs), name, idle, room);
    case "relay-ws":
      return openWs(kind, port(endpoints.relayWs), name, idle);
    case "chat-tcp":
      return openChatTcp(port(endpoints.chatTcp), name, room);
    case "irc":
      return irc.open(port(endpoints.irc), name);
  }
}
