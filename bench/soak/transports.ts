/**
 * The soak's members on each transport, and how each leaves: the runtime's
 * WebSocket (a clean close), WebSocket over a bare socket (the connection
 * just ends, as when a browser crashes or a network is lost), and a terminal
 * (`/quit`, or the connection dropped).
 *
 * @module
 */

import { RawWebSocket } from "../../tests/kit/raw_ws.ts";
import { Writer } from "../../tests/kit/socket.ts";
import { HOST } from "../clients.ts";
import { Peer } from "./peer.ts";
import { totals } from "./ledger.ts";
import { describeError, problem } from "./problems.ts";

const encoder = new TextEncoder();

/** A WebSocket member using the runtime's WebSocket client; leaves with a clean close. */
export class WsPeer extends Peer {
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

  protected override hangUp(): void {
    this.#socket?.close();
  }
}

/**
 * A WebSocket member speaking RFC 6455 over a bare TCP connection (the kit's
 * client), so that it can leave the way a crashed browser or a lost network
 * does: the connection just ends, with no closing handshake.
 */
export class RawWsPeer extends Peer {
  #ws: RawWebSocket | undefined;

  constructor(nick: string, readonly port: number) {
    super(nick, "raw", "drop", false);
  }

  protected async open(): Promise<void> {
    const conn = await this.connect(this.port);
    const ws = await RawWebSocket.upgrade(conn, `${HOST}:${this.port}`);
    this.#ws = ws;
    this.#read(ws);
    this.#send({ type: "join", nick: this.nick });
  }

  protected sayLine(text: string): void {
    this.#send({ type: "say", text });
  }

  protected sendBarrier(): void {
    this.#send({ type: "msg", to: this.nick, text: this.barrierText });
  }

  #send(value: unknown): void {
    this.#ws?.send(value).catch((e) => this.writeFailed(e));
  }

  /** Reads text frames until the connection ends or the server closes it. */
  async #read(ws: RawWebSocket): Promise<void> {
    try {
      for (let text; (text = await ws.receive()) !== undefined;) this.frame(text);
    } catch (e) {
      // The kit's client throws a TypeError for a frame a server must not send.
      if (!(e instanceof TypeError)) return this.ended(e);
      problem("bad frames", `${this.nick}: ${describeError(e)}`);
      return this.abort();
    }
    if (ws.closeCode === undefined) return this.ended();
    if (!this.endExpected) {
      const reason = `${ws.closeCode} ${ws.closeReason}`;
      problem("unexpected closes", `${this.nick} (raw): close frame ${reason}`);
    }
    this.abort();
  }
}

/** A terminal member (the line protocol, as `nc` speaks it); leaves with `/quit` or a drop. */
export class TcpPeer extends Peer {
  #out: Writer | undefined;
  #text = "";
  readonly #decoder = new TextDecoder();

  constructor(nick: string, style: "quit" | "drop", observer: boolean, readonly port: number) {
    super(nick, "tcp", style, observer);
  }

  protected async open(): Promise<void> {
    const conn = await this.connect(this.port);
    this.#out = new Writer(conn);
    this.#read(conn);
    this.#write(`${this.nick}\n`);
  }

  protected sayLine(text: string): void {
    this.#write(`${text}\n`);
  }

  protected sendBarrier(): void {
    const line = this.style === "quit"
      ? `/quit soak ${this.nick} is done`
      : `/msg ${this.nick} ${this.barrierText}`;
    this.#write(`${line}\n`);
  }

  #write(text: string): void {
    this.#out?.write(encoder.encode(text)).catch((e) => this.writeFailed(e));
  }

  /** Reads the connection until it ends. */
  async #read(conn: Deno.TcpConn): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (let n; (n = await conn.read(buf)) !== null;) this.#data(buf.subarray(0, n));
    } catch (e) {
      return this.ended(e);
    }
    this.ended();
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
