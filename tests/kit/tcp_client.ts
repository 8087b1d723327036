/**
 * A terminal member for tests, as `nc` would be: it keeps everything the
 * server sends (bytes, telnet commands, lines as a terminal shows them) and
 * lets a test await the next line it expects. Nothing here sleeps: see
 * {@linkcode Waiters}. `AsyncDisposable`, so `await using` closes it even
 * when an assertion throws.
 *
 * @module
 */

import { concatBytes } from "../../server/transport/io.ts";
import { DONT, IAC, SB, SE, WILL } from "../../server/transport/terminal/telnet.ts";
import type { Listening } from "./server.ts";
import { dial, writeAll } from "./socket.ts";
import { Waiters } from "./waiters.ts";

const encoder = new TextEncoder();

/** What {@linkcode TcpClient.readUntil} looks for: a substring, or a test on a line. */
export type LineMatch = string | ((line: string) => boolean);

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

/** Chunks kept as they come, joined once when asked for. */
class Bytes {
  #chunks: Uint8Array[] = [];

  push(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
  }

  all(): Uint8Array {
    if (this.#chunks.length !== 1) this.#chunks = [concatBytes(this.#chunks)];
    return this.#chunks[0]!;
  }
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

  /** Reads `conn` (plain TCP or TLS) from now on. */
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.#reading = this.#read();
  }

  /** Connects to the server's terminal port, without answering the prompt. */
  static async open(server: Pick<Listening, "tcp">): Promise<TcpClient> {
    return new TcpClient(await dial(server.tcp));
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
  write(data: string | Uint8Array): Promise<void> {
    return writeAll(this.#conn, typeof data === "string" ? encoder.encode(data) : data);
  }

  /** Sends a line ending in CRLF. */
  /** Ends the sending side, as a pipe into `nc` does at its end; reading goes on. */
  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

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
export async function connectTcp(server: Pick<Listening, "tcp">, nick: string): Promise<TcpClient> {
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
