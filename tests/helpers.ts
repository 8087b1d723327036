/**
 * Helpers for the integration tests: a chat server on 127.0.0.1 port 0, and
 * two real clients, one per transport, that collect what the server sends and
 * let a test await what it expects to see next.
 *
 * Nothing here sleeps or sets a timer: every wait is settled by data arriving
 * or by the connection closing. A wait for something that never comes fails
 * as soon as the connection closes, saying what it waited for and what came
 * instead; while the server keeps the connection open it waits on, and the
 * test shows as the one `deno test` is stuck in. Tests that check something
 * does *not* arrive wait for a later thing that must, then look back.
 *
 * Both clients are `AsyncDisposable`, so `await using` closes them even when
 * an assertion throws, before {@linkcode withServer} shuts the server down.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Assets } from "../server/assets.ts";
import { type ChatOptions, type ChatServer, startChat } from "../server/app.ts";
import { parseServerFrame, type ServerEvent, type WelcomeEvent } from "../common/protocol.ts";

export type { ChatServer };

/** Where a chat server listens: one started here, or one running in another process. */
export type Listening = Pick<ChatServer, "http" | "tcp">;

/** What {@linkcode withServerUsing} sets besides the addresses. */
export type ServerOptions = Omit<ChatOptions, "host" | "port" | "tcpPort">;

/**
 * Flood control that never bites: most tests send faster than a person
 * types. Tests of flood control pass their own rate.
 */
export const UNLIMITED = { floodBurst: 1e9, floodRate: 1e9, joinRate: 1e9 } as const;

/** Runs `fn` against a fresh server on free ports, and shuts it down after. */
export async function withServer(
  fn: (server: ChatServer) => Promise<void>,
  assets?: Assets,
): Promise<void> {
  const server = startChat({
    host: "127.0.0.1",
    port: 0,
    tcpPort: 0,
    ...UNLIMITED,
    ...(assets ? { assets } : {}),
  });
  try {
    await fn(server);
  } finally {
    await server.shutdown();
  }
}

/**
 * Like {@linkcode withServer}, with a given history store or history limit.
 * The server closes the store when it shuts down.
 */
export async function withServerUsing(
  options: ServerOptions,
  fn: (server: ChatServer) => Promise<void>,
): Promise<void> {
  const server = startChat({
    host: "127.0.0.1",
    port: 0,
    tcpPort: 0,
    ...UNLIMITED,
    ...options,
  });
  try {
    await fn(server);
  } finally {
    await server.shutdown();
  }
}

/** The base URL of the server's HTTP side. */
export function httpUrl(server: Listening, path = "/"): string {
  return `http://${server.http.hostname}:${server.http.port}${path}`;
}

/** Something the collected data is waited on for. */
interface Waiter {
  /** Returns true when satisfied (and resolves the wait itself). */
  check(): boolean;
  fail(error: Error): void;
}

/** Settles waiters as data arrives; fails the rest when the stream ends. */
class Waiters {
  readonly #pending = new Set<Waiter>();
  #ended: Error | undefined;

  /** Waits until `take` returns a value; `what` describes it if the stream ends first. */
  until<T>(take: () => T | undefined, what: () => string): Promise<T> {
    const first = take();
    if (first !== undefined) return Promise.resolve(first);
    if (this.#ended) return Promise.reject(new Error(`${this.#ended.message} ${what()}`));
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    const waiter: Waiter = {
      check: () => {
        const value = take();
        if (value === undefined) return false;
        resolve(value);
        return true;
      },
      fail: (e) => reject(new Error(`${e.message} ${what()}`)),
    };
    this.#pending.add(waiter);
    return promise;
  }

  /** Re-checks every waiter against new data. */
  wake(): void {
    for (const waiter of [...this.#pending]) {
      if (waiter.check()) this.#pending.delete(waiter);
    }
  }

  /** Fails every waiter still pending, and every later one. */
  end(error: Error): void {
    this.wake();
    this.#ended ??= error;
    for (const waiter of this.#pending) waiter.fail(error);
    this.#pending.clear();
  }
}

const encoder = new TextEncoder();

/** What {@linkcode TcpClient.readUntil} looks for: a substring, or a test on a line. */
export type LineMatch = string | ((line: string) => boolean);

const IAC = 255;
const SB = 250;
const SE = 240;
const WILL = 251;
const DONT = 254;

/** Takes telnet commands out of a byte stream, across chunk boundaries, as a client would. */
class TelnetReader {
  /** Every command seen, from IAC to its last byte. */
  readonly commands: number[][] = [];
  #command: number[] | undefined;

  /** Returns the data bytes of `chunk`. */
  push(chunk: Uint8Array): Uint8Array {
    const data: number[] = [];
    for (const b of chunk) {
      const command = this.#command;
      if (command === undefined) {
        if (b === IAC) this.#command = [b];
        else data.push(b);
        continue;
      }
      command.push(b);
      const verb = command[1] ?? 0;
      const done = command.length === 2
        ? verb === IAC || (verb !== SB && (verb < WILL || verb > DONT))
        : verb !== SB || (b === SE && command.at(-2) === IAC);
      if (!done) continue;
      this.#command = undefined;
      if (verb === IAC) data.push(IAC);
      else this.commands.push(command);
    }
    return Uint8Array.from(data);
  }
}

/**
 * A line as a terminal shows it: a lone CR moves back to the start of the
 * line, and what follows overwrites what was there.
 */
export function shown(line: string): string {
  if (!line.includes("\r")) return line;
  let screen: string[] = [];
  for (const part of line.split("\r")) {
    const chars = [...part];
    screen = [...chars, ...screen.slice(chars.length)];
  }
  return screen.join("");
}

/**
 * A TCP client, as `nc` on a terminal would be. Everything received is kept:
 * as bytes ({@linkcode raw}), as data with telnet commands taken out
 * ({@linkcode data}, {@linkcode commands}), and as CRLF-separated lines shown
 * as a terminal would show them ({@linkcode lines}). Reads consume lines in
 * order.
 */
export class TcpClient implements AsyncDisposable {
  readonly #conn: Deno.Conn;
  readonly #decoder = new TextDecoder();
  readonly #telnet = new TelnetReader();
  readonly #waiters = new Waiters();
  readonly #reading: Promise<void>;
  readonly #raw = new Bytes();
  readonly #data = new Bytes();
  #text = "";
  /** Offset in `#text` of the first character not yet consumed by a read. */
  #cursor = 0;
  #eof = false;
  #closed = false;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.#reading = this.#read();
  }

  /** Connects to the server's terminal port, without answering the prompt. */
  static async open(server: Listening): Promise<TcpClient> {
    const conn = await Deno.connect({ hostname: server.tcp.hostname, port: server.tcp.port });
    // Each write goes out at once, as typed lines would; no Nagle delays.
    conn.setNoDelay(true);
    return new TcpClient(conn);
  }

  /** Every byte received so far. */
  get raw(): Uint8Array {
    return this.#raw.all();
  }

  /** Every byte received so far that is not part of a telnet command. */
  get data(): Uint8Array {
    return this.#data.all();
  }

  /** Every telnet command received so far, each from its IAC to its last byte. */
  get commands(): readonly number[][] {
    return this.#telnet.commands;
  }

  /** Every complete line received so far, as shown on a terminal, without its CRLF. */
  get lines(): string[] {
    const parts = this.#text.split("\r\n");
    parts.pop();
    return parts.map(shown);
  }

  /** What arrived after the last line a read consumed (the unfinished one included). */
  get unread(): string {
    return this.#text.slice(this.#cursor);
  }

  /** True once the server has closed its side. */
  get eof(): boolean {
    return this.#eof;
  }

  /** Sends text (as UTF-8) or bytes, all of it. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    for (let off = 0; off < bytes.length;) off += await this.#conn.write(bytes.subarray(off));
  }

  /** Sends a line ending in CRLF. */
  send(line: string): Promise<void> {
    return this.write(`${line}\r\n`);
  }

  /**
   * Waits for the next line that matches, and consumes every line up to and
   * including it; returns that line (as shown). A substring also matches the
   * unfinished last line (a prompt), which is then consumed as far as it has
   * arrived.
   */
  readUntil(match: LineMatch): Promise<string> {
    const test = typeof match === "string" ? (line: string) => line.includes(match) : match;
    return this.#waiters.until(() => {
      let from = this.#cursor;
      for (;;) {
        const end = this.#text.indexOf("\r\n", from);
        if (end === -1) break;
        const line = shown(this.#text.slice(from, end));
        if (test(line)) {
          this.#cursor = end + 2;
          return line;
        }
        from = end + 2;
      }
      const partial = shown(this.#text.slice(from));
      if (typeof match === "string" && partial.includes(match)) {
        this.#cursor = this.#text.length;
        return partial;
      }
      return undefined;
    }, () => `before a line matching ${describe(match)}; unread: ${JSON.stringify(this.unread)}`);
  }

  /**
   * Like {@linkcode readUntil}, but returns every line consumed, the matching
   * one last: what arrived up to that point.
   */
  async readLinesUntil(match: LineMatch): Promise<string[]> {
    const from = this.#cursor;
    await this.readUntil(match);
    return splitLines(this.#text.slice(from, this.#cursor));
  }

  /** Waits for the server to close the connection; returns the lines not yet consumed. */
  async readToEnd(): Promise<string[]> {
    await this.#reading;
    const rest = this.unread;
    this.#cursor = this.#text.length;
    return splitLines(rest);
  }

  /** Closes the connection and waits for the reader to stop. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#conn.close();
    }
    await this.#reading;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #read(): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    let why = "the connection closed";
    try {
      for (;;) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        const chunk = buf.slice(0, n);
        this.#raw.push(chunk);
        const data = this.#telnet.push(chunk);
        this.#data.push(data);
        this.#text += this.#decoder.decode(data, { stream: true });
        this.#waiters.wake();
      }
    } catch (e) {
      // Our own close() interrupts the pending read; anything else is news.
      if (!this.#closed) why = `the connection failed (${e})`;
    }
    this.#eof = true;
    this.#text += this.#decoder.decode();
    this.#waiters.end(new Error(why));
  }
}

/** A growing byte buffer. */
class Bytes {
  #chunks: Uint8Array[] = [];
  #size = 0;

  push(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
  }

  all(): Uint8Array {
    if (this.#chunks.length !== 1) {
      const all = new Uint8Array(this.#size);
      let off = 0;
      for (const c of this.#chunks) {
        all.set(c, off);
        off += c.length;
      }
      this.#chunks = [all];
    }
    return this.#chunks[0] ?? new Uint8Array(0);
  }
}

/** CRLF-separated text as shown lines; a final CRLF ends the last line. */
function splitLines(text: string): string[] {
  const lines = text.split("\r\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.map(shown);
}

function describe(match: LineMatch): string {
  return typeof match === "string" ? JSON.stringify(match) : match.toString();
}

/**
 * Connects over TCP and joins as `nick`: reads the prompt, answers it and
 * waits for the welcome line.
 */
export async function connectTcp(server: Listening, nick: string): Promise<TcpClient> {
  const client = await TcpClient.open(server);
  try {
    await client.readUntil("Your nickname: ");
    await client.send(nick);
    await client.readUntil((line) => line.startsWith("-- Hello"));
    return client;
  } catch (e) {
    await client.close();
    throw e;
  }
}

/** The event type `K`. */
export type EventOf<K extends ServerEvent["type"]> = Extract<ServerEvent, { type: K }>;

function isType<K extends ServerEvent["type"]>(event: ServerEvent, type: K): event is EventOf<K> {
  return event.type === type;
}

/**
 * A WebSocket client of `/ws`. Every event received is kept in
 * {@linkcode events}; {@linkcode next} hands them out in order, each once.
 */
export class WsClient implements AsyncDisposable {
  readonly #socket: WebSocket;
  readonly #waiters = new Waiters();
  readonly #events: ServerEvent[] = [];
  /** Received and not yet handed out by `next`. */
  readonly #pending: ServerEvent[] = [];
  readonly #closed: Promise<CloseEvent>;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    const { promise, resolve } = Promise.withResolvers<CloseEvent>();
    this.#closed = promise;
    socket.addEventListener("message", (e) => this.#receive(e.data));
    socket.addEventListener("close", (e) => {
      this.#waiters.end(new Error(`the socket closed (${e.code} ${e.reason})`));
      resolve(e);
    });
  }

  /** Opens a socket to the server's `/ws`, without joining. */
  static async open(server: Listening): Promise<WsClient> {
    const socket = new WebSocket(`ws://${server.http.hostname}:${server.http.port}/ws`);
    socket.binaryType = "arraybuffer";
    const client = new WsClient(socket);
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    socket.addEventListener("open", () => resolve());
    client.#closed.then((e) => reject(new Error(`Cannot open the socket: closed (${e.code})`)));
    await promise;
    return client;
  }

  /** Every event received so far, in order, handed out by `next` or not. */
  get events(): readonly ServerEvent[] {
    return this.#events;
  }

  /** Settles with the close event, once the socket is closed by either side. */
  get closed(): Promise<CloseEvent> {
    return this.#closed;
  }

  /** Sends a value as a JSON text frame. */
  send(message: unknown): void {
    this.#socket.send(JSON.stringify(message));
  }

  /** Sends a frame as is: text, or binary. */
  sendRaw(data: string | ArrayBuffer): void {
    this.#socket.send(data);
  }

  /**
   * Waits for the next event that `where` accepts, taking it out of the ones
   * not yet handed out. Earlier events it does not accept stay there.
   */
  nextEvent(where: (event: ServerEvent) => boolean, what = `${where}`): Promise<ServerEvent> {
    return this.#waiters.until(() => {
      const i = this.#pending.findIndex(where);
      return i === -1 ? undefined : this.#pending.splice(i, 1)[0];
    }, () => `before an event matching ${what}; events: ${JSON.stringify(this.#events)}`);
  }

  /** Waits for the next event of `type` that `where` accepts; see {@linkcode nextEvent}. */
  async next<K extends ServerEvent["type"]>(
    type: K,
    where: (event: EventOf<K>) => boolean = () => true,
  ): Promise<EventOf<K>> {
    const event = await this.nextEvent(
      (e) => isType(e, type) && where(e),
      where.length > 0 ? `type ${type} and ${where}` : `type ${type}`,
    );
    if (!isType(event, type)) throw new TypeError(`Expected a ${type} event`);
    return event;
  }

  /** Closes the socket (if the server has not) and waits for the close event. Idempotent. */
  async close(): Promise<CloseEvent> {
    const state = this.#socket.readyState;
    if (state === WebSocket.OPEN || state === WebSocket.CONNECTING) this.#socket.close();
    return await this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #receive(data: unknown): void {
    if (typeof data !== "string") {
      this.#waiters.end(new Error("the server sent a binary frame"));
      return;
    }
    const parsed = parseServerFrame(data);
    if (!parsed.ok) {
      this.#waiters.end(new Error(`the server sent a bad frame (${parsed.message}): ${data}`));
      return;
    }
    this.#events.push(...parsed.value);
    this.#pending.push(...parsed.value);
    this.#waiters.wake();
  }
}

/** Opens a socket and joins as `nick`; fails if the server refuses. */
export async function connectWs(server: Listening, nick: string): Promise<WsClient> {
  const client = await WsClient.open(server);
  try {
    await joinWs(client, nick);
    return client;
  } catch (e) {
    await client.close();
    throw e;
  }
}

/** What a `join` may carry besides the nickname. */
export interface JoinExtras {
  /** The seat's token from an earlier welcome. */
  token?: string;
  /** The last message id seen. */
  since?: number;
}

/**
 * Sends `join` (with `extras`, if any) and returns the welcome; throws with
 * the error's message if refused.
 */
export async function joinWs(
  client: WsClient,
  nick: string,
  extras: JoinExtras = {},
): Promise<WelcomeEvent> {
  client.send({ type: "join", nick, ...extras });
  const answer = await client.nextEvent((e) => e.type === "welcome" || e.type === "error");
  if (answer.type === "error") {
    throw new Error(`Cannot join as ${JSON.stringify(nick)}: ${answer.code} ${answer.message}`);
  }
  if (answer.type !== "welcome") throw new TypeError("Expected a welcome event");
  return answer;
}

/** The element at `i` (negative counts from the end); fails if there is none. */
export function itemAt<T>(list: readonly T[], i: number): T {
  const item = list.at(i);
  assert.ok(item !== undefined, `no element at ${i} in a list of ${list.length}`);
  return item;
}

/** Asserts that every number is greater than the one before it. */
export function assertIncreasing(values: readonly number[]): void {
  values.forEach((value, i) => {
    if (i === 0) return;
    const before = itemAt(values, i - 1);
    assert.ok(value > before, `${value} after ${before}, at ${i}`);
  });
}

/** Runs `fn` with a fresh temporary directory, removed after. */
export async function withTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chat_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
