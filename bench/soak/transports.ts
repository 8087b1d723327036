/**
 * The soak's members on each transport, and how each leaves: the runtime's
 * WebSocket (a clean close), WebSocket over a bare socket (the connection
 * just ends, as when a browser crashes or a network is lost), and a terminal
 * (`/quit`, or the connection dropped).
 *
 * A WebSocket member joins straight into its rooms and names the room of
 * every line. A terminal lands in `#lobby`, `/join`s its rooms (the last one
 * joined is current: its plain lines go there) and `/part`s `#lobby` if it
 * is not one of them; it tells which room a line it receives came from by
 * the label (`[12:00] [#s3] <bob> hi`) or, unlabeled, by the current room
 * the server last announced ("-- Lines you type now go to #s3.").
 *
 * @module
 */

import { LOBBY } from "../../common/room.ts";
import { RawWebSocket } from "../../tests/kit/raw_ws.ts";
import { Writer } from "../../tests/kit/socket.ts";
import { HOST } from "../clients.ts";
import { Peer } from "./peer.ts";
import { totals } from "./ledger.ts";
import { describeError, problem } from "./problems.ts";
import type { Node } from "./service.ts";

const encoder = new TextEncoder();

/** A WebSocket member using the runtime's WebSocket client; leaves with a clean close. */
export class WsPeer extends Peer {
  #socket: WebSocket | undefined;

  constructor(nick: string, observer: boolean, node: Node, rooms: readonly string[]) {
    super(nick, "ws", "close", observer, node, rooms);
  }

  protected open(): Promise<void> {
    const socket = new WebSocket(`ws://${HOST}:${this.node.address.http.port}/ws`);
    this.#socket = socket;
    const opened = Promise.withResolvers<void>();
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: "join", nick: this.nick, rooms: this.rooms }));
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

  protected sayLine(text: string, room: string): void {
    this.#socket?.send(JSON.stringify({ type: "say", room, text }));
  }

  protected sendEnter(room: string): void {
    this.#socket?.send(JSON.stringify({ type: "enter", room }));
  }

  protected sendPart(room: string): void {
    this.#socket?.send(JSON.stringify({ type: "part", room }));
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

  constructor(nick: string, node: Node, rooms: readonly string[]) {
    super(nick, "raw", "drop", false, node, rooms);
  }

  protected async open(): Promise<void> {
    const { port } = this.node.address.http;
    const conn = await this.connect(port);
    const ws = await RawWebSocket.upgrade(conn, `${HOST}:${port}`);
    this.#ws = ws;
    this.#read(ws);
    this.#send({ type: "join", nick: this.nick, rooms: this.rooms });
  }

  protected sayLine(text: string, room: string): void {
    this.#send({ type: "say", room, text });
  }

  protected sendEnter(room: string): void {
    this.#send({ type: "enter", room });
  }

  protected sendPart(room: string): void {
    this.#send({ type: "part", room });
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
  /** The rooms to be in once the welcome has put it in `#lobby`. */
  readonly #wanted: readonly string[];
  /** Where its plain lines go, as of the lines sent so far. */
  #current: string = LOBBY;
  /** The current room the server last announced: unlabeled lines come from it. */
  #shown: string | undefined = LOBBY;

  constructor(
    nick: string,
    style: "quit" | "drop",
    observer: boolean,
    node: Node,
    rooms: readonly string[],
  ) {
    super(nick, "tcp", style, observer, node, [LOBBY]);
    this.#wanted = rooms;
  }

  /** Its plain lines go to the current room, the one it `/join`ed last. */
  protected override sayRoom(): string {
    return this.#current;
  }

  protected sendEnter(room: string): void {
    this.#current = room;
    this.#write(`/join ${room}\n`);
  }

  protected sendPart(room: string): void {
    this.#write(`/part ${room}\n`);
    if (room !== this.#current) return;
    // The server makes another room current; say which, so the next line's room is known here.
    this.#current = this.rooms.at(-1)!;
    this.#write(`/join ${this.#current}\n`);
  }

  protected async open(): Promise<void> {
    const conn = await this.connect(this.node.address.tcp.port);
    this.#out = new Writer(conn);
    this.#read(conn);
    this.#write(`${this.nick}\n`);
  }

  protected sayLine(text: string): void {
    this.#write(`${text}\n`);
  }

  /** Into its rooms, out of `#lobby` if it is not one of them: right after the welcome. */
  #settle(): void {
    for (const room of this.#wanted) if (room !== LOBBY) this.enter(room);
    if (!this.#wanted.includes(LOBBY)) this.part(LOBBY);
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
    const chat = /^\[\d\d:\d\d\] (?:\[(#[^\]\s]+)\] )?<([^>]+)> (.*)$/.exec(line);
    if (chat) return this.chat(chat[2]!, chat[3]!, undefined, chat[1] ?? this.#shown ?? "(none)");
    const whisper = /^\[\d\d:\d\d\] \[private to ([^\]]+)\] <([^>]+)> (.*)$/.exec(line);
    if (whisper) return this.whispered(whisper[2]!, whisper[1]!, whisper[3]!);
    const room = /^-- (?:You joined|You left|Lines you type now go to) (#[^\s.]+)\./.exec(line)
      ?.[1];
    if (/^\[\d\d:\d\d\] (?:\[#[^\]\s]+\] )?-- /.test(line)) totals.presence++;
    else if (room !== undefined && line.startsWith("-- You joined ")) this.inRoom(room);
    else if (room !== undefined && line.startsWith("-- You left ")) this.outOfRoom(room);
    else if (room !== undefined) this.#shown = room;
    else if (line.startsWith("-- You are in no room")) this.#shown = undefined;
    else if (line === "-- Bye!") this.answered();
    // The prompt has no line end, so the welcome follows it on the same line.
    else if (line.includes("-- Hello ")) {
      this.welcomed([LOBBY]);
      this.#settle();
    } else if (line.startsWith("! ")) this.refused(line);
    else if (line.startsWith("[") && line.includes("] -!- ")) problem("notices", line);
  }
}
