/**
 * The terminal transport: a TCP listener where `nc HOST PORT` or
 * `telnet HOST PORT` is a complete client, wired to a {@linkcode Session}
 * per connection, which does everything else a connection's life needs
 * (caps, join timeout, slow consumers, refusals, leaving).
 *
 * Each connection is greeted and asked for a nickname, then every line is a
 * chat message in the current room or a `/` command; which rooms the member
 * is in, and which is current, is the {@linkcode RoomView}'s. Input bytes go through
 * {@linkcode TelnetFilter} and {@linkcode LineDecoder}; output is
 * {@linkcode renderBytes}' lines, CRLF terminated; the socket's reading,
 * writing and closing are the {@linkcode StreamPump}'s (`stream.ts`), which
 * the IRC port shares.
 *
 * Lines are carried out one after another. With `--redis` a request may
 * wait on Redis (a join, a `/join`); the lines read meanwhile wait too, as
 * the IRC port's do, because what a line means depends on the answer: a
 * plain line goes to the room current once the `/join` before it is
 * answered, and a `/quit` leaves after the lines before it are said.
 *
 * @module
 */

import { needsRoom, parseCommandLine, withRoom } from "../../../common/commands.ts";
import {
  type ChatMessage,
  type ClientMessage,
  isOwn,
  LOBBY,
  type MemberInfo,
  type ServerEvent,
} from "../../../common/protocol.ts";
import { TIMEOUTS } from "../../config.ts";
import type { Conn } from "../listener.ts";
import type { Hub } from "../../hub/hub.ts";
import { helpLines, hereLine, OLDER, renderBytes } from "./render.ts";
import { TelnetFilter } from "./telnet.ts";
import { RoomView } from "./view.ts";
import { LINE_MAX_BYTES, LineDecoder, lineTooLong } from "./lines.ts";
import type { Link, Session } from "../session.ts";
import {
  serveStream,
  type StreamHandler,
  type StreamOptions,
  StreamPump,
  type StreamServer,
} from "../stream.ts";

/** Options for {@linkcode serveTcp}. */
export interface TcpOptions extends StreamOptions {
  /** How long a telnet client may be silent before it is probed. @default {TIMEOUTS.terminalProbeMs} */
  probeMs?: number;
}

/** A running terminal listener. */
export type TcpServer = StreamServer;

/** Starts the terminal transport for a hub. */
export function serveTcp(hub: Hub, options: TcpOptions): TcpServer {
  const probeMs = options.probeMs ?? TIMEOUTS.terminalProbeMs;
  return serveStream(
    hub,
    "terminal",
    options,
    (conn, session) => new TerminalLink(conn, session, hub.members(), probeMs),
    (error) => renderBytes(error, undefined),
  );
}

const encoder = new TextEncoder();
const CRLF = "\r\n";
/** The terminal bell (BEL). */
const BEL = Uint8Array.of(7);
/** Lines held while a request waits on Redis; past them, a line is refused. */
const HELD_LINES = 100;

/** True for a message that rings a member's bell: one naming it, or a private one to it. */
function rings(m: ChatMessage, nick: string | undefined): boolean {
  return nick !== undefined && !isOwn(m, nick) && (m.to === nick || m.mention === true);
}

/**
 * One `nc`/`telnet` connection: reads lines into commands for its session,
 * writes events as lines. A silent telnet is probed with a timing mark its
 * program answers by itself; plain `nc` answers nothing, so it is not.
 */
class TerminalLink implements Link, StreamHandler {
  readonly #session: Session;
  readonly #telnet = new TelnetFilter();
  readonly #lines = new LineDecoder(LINE_MAX_BYTES);
  readonly #view = new RoomView();
  /** Its nickname once welcomed: see {@linkcode TerminalLink.#self}. */
  #nick: string | undefined;
  /** Whether the member asked for the bell (`/bell`). */
  #bell = false;
  /** Per room (by name), the oldest message the last `/history` showed: where `/history more` goes on from. */
  readonly #oldest = new Map<string, number>();
  /** The room a `/history more` was asked in, until its answer comes. */
  #older: string | undefined;
  readonly #pump: StreamPump;
  /**
   * Lines read while a request waits on Redis (`--redis`), carried out in
   * order once it is answered. At most {@linkcode HELD_LINES}.
   */
  readonly #held: string[] = [];
  #waiting = false;
  /** Set by `/quit`: no line after it is carried out. */
  #quitting = false;
  /** Set by a quit waiting for what the member said: settles once its goodbye is written. */
  #leaving: Promise<void> | undefined;
  /** Settled once no request waits and no line is held (see {@linkcode end}). */
  #drained: PromiseWithResolvers<void> | undefined;

  constructor(conn: Conn, session: Session, here: readonly MemberInfo[], probeMs: number) {
    this.#session = session;
    this.#pump = new StreamPump(conn, session, this, probeMs);
    // The CR returns to the start of the line, so the greeting hides the
    // negotiation bytes on a terminal that is not telnet (see telnet.ts).
    this.#pump.enqueue(this.#telnet.offer());
    this.#pump.enqueue(encoder.encode("\r"));
    this.#write(["Welcome to the chat room.", hereLine(here)]);
    this.#prompt();
  }

  send(event: ServerEvent): void {
    if (event.type === "history" && this.#history(event)) return;
    const moved = this.#view.follow(event);
    const nick = this.#self(event);
    const bytes = renderBytes(event, nick, this.#view.label(event));
    if (bytes.length > 0) this.#pump.enqueue(bytes);
    if (this.#bell && event.type === "message" && rings(event, nick)) this.#pump.enqueue(BEL);
    // Parting the current room moves the member to another, or nowhere.
    if (event.type === "parted" && moved) this.#whereNow();
  }

  /**
   * The member's nickname, followed from the events it is sent (`welcome`,
   * its own `rename`) as the view follows its rooms: it is read for every
   * line, so it is not looked up in the hub for each.
   */
  #self(event: ServerEvent): string | undefined {
    if (event.type === "welcome") this.#nick = event.nick;
    else if (event.type === "rename" && event.from === this.#nick) this.#nick = event.to;
    return this.#nick;
  }

  joinTimedOut(seconds: number): void {
    // A new line first: the prompt is still waiting on this one.
    this.#write(["", `! No nickname after ${seconds} s. Bye.`]);
  }

  close(): void {
    this.#pump.close();
  }

  abort(): void {
    this.#pump.abort();
  }

  input(chunk: Uint8Array): void {
    const { data, reply } = this.#telnet.push(chunk);
    if (reply) this.#pump.enqueue(reply);
    for (const event of this.#lines.push(data)) {
      if (this.#pump.closing) return;
      if (event.type === "line") {
        this.#line(event.text);
      } else {
        this.#session.refuse("line_too_long", lineTooLong(event.limit));
        if (!this.#session.joined) this.#prompt();
      }
    }
  }

  end(): void | Promise<void> {
    for (const event of this.#lines.end()) {
      if (event.type === "line") this.#line(event.text);
    }
    // Piped input (`printf 'bob\nhi\n' | nc`) ends while its lines wait on Redis: carried out first.
    // And a quit among them writes its goodbye first.
    if (!this.#waiting) return this.#leaving;
    this.#drained ??= Promise.withResolvers();
    return this.#drained.promise.then(() => this.#leaving);
  }

  probe(): boolean {
    if (!this.#telnet.telnet) return false;
    this.#pump.enqueue(this.#telnet.probe());
    return true;
  }

  #line(text: string): void {
    if (this.#quitting) return;
    if (this.#waiting) {
      if (this.#held.length < HELD_LINES) this.#held.push(text);
      else this.#session.refuse("rate_limited", "Too many lines at once; wait for the answers.");
      return;
    }
    const session = this.#session;
    const command = text.startsWith("/") ? parseCommandLine(text) : undefined;
    if (command?.type === "quit") {
      // Nothing after it is read; it leaves once what it said is stored.
      this.#quitting = true;
      const bye = () => {
        this.#write(["-- Bye!"]);
        session.close();
      };
      const left = session.quit(command.text);
      if (!left) return bye();
      this.#leaving = left.then(bye);
    }
    if (command?.type === "bell") {
      this.#bell = command.on;
      return this.#write([
        command.on
          ? "-- The bell rings when a line names you or a private message comes (/bell off stops it)."
          : "-- No bell.",
      ]);
    }
    if (command?.type === "older" && session.joined) {
      const room = this.#view.current;
      if (room === undefined) {
        return this.#write(["! You are in no room: /join #ROOM to enter one."]);
      }
      const before = this.#oldest.get(room);
      this.#older = room;
      const count = command.count === undefined ? {} : { count: command.count };
      const older = { type: "history" as const, room, label: OLDER, ...count };
      return void this.#ask(before === undefined ? older : { ...older, before });
    }
    if (command?.type === "help") {
      this.#write(helpLines());
      if (session.joined) this.#write([this.#view.where()]);
      else this.#prompt();
      return;
    }
    if (!session.joined) {
      // Asked again, unless the refusal was final (a ban, a shutdown).
      const after = (ok: boolean) => {
        if (!ok && !this.#pump.closing) this.#prompt();
      };
      const done = text.trim() === "" ? false : this.#ask({ type: "join", nick: text });
      if (typeof done === "boolean") after(done);
      else void done.then(after);
      return;
    }
    if (text.trim() === "") return;
    const view = this.#view;
    if (command === undefined) {
      if (view.nowhere) return this.#write(["! You are in no room: /join #ROOM to enter one."]);
      this.#ask({ type: "say", text, room: view.current });
    } else if (command.type === "send") {
      const { message } = command;
      // A room one is in already is switched to here, with nothing to ask.
      const known = message.type === "enter" ? view.find(message.room) : undefined;
      if (known !== undefined) {
        view.switchTo(known);
        return this.#whereNow();
      }
      if (view.nowhere && needsRoom(message)) {
        return this.#write(["! You are in no room: /join #ROOM to enter one."]);
      }
      this.#ask(withRoom(message, view.current));
    } else if (command.type === "invalid") {
      session.refuse(command.code, command.message);
    }
  }

  /**
   * Hands a request to the session; one that waits on Redis holds the lines
   * read after it until it is answered.
   */
  #ask(message: ClientMessage): boolean | Promise<boolean> {
    const done = this.#session.handle(message);
    if (!(done instanceof Promise)) return done;
    this.#waiting = true;
    void done.catch(() => false).then(() => {
      this.#waiting = false;
      while (!this.#waiting && this.#held.length > 0 && !this.#pump.closing) {
        this.#line(this.#held.shift()!);
      }
      if (!this.#waiting || this.#pump.closing) this.#drained?.resolve();
    });
    return done;
  }

  /**
   * Remembers where a history answer begins, for `/history more`; says so
   * itself (and returns true) when an answer to one holds nothing older.
   */
  #history(event: Extract<ServerEvent, { type: "history" }>): boolean {
    const room = event.room ?? LOBBY;
    const first = event.messages[0];
    if (first !== undefined) this.#oldest.set(room, first.id);
    const older = this.#older === room;
    if (older) this.#older = undefined;
    if (!older || first !== undefined) return false;
    this.#write([`-- No older messages in ${room}.`]);
    return true;
  }

  /** Says where plain lines go now. */
  #whereNow(): void {
    const view = this.#view;
    this.#write([
      view.nowhere
        ? "-- You are in no room: /join #ROOM to enter one."
        : `-- Lines you type now go to ${view.current}.`,
    ]);
  }

  #prompt(): void {
    this.#pump.enqueue(encoder.encode("Your nickname: "));
  }

  #write(lines: string[]): void {
    if (lines.length > 0) this.#pump.enqueue(encoder.encode(lines.join(CRLF) + CRLF));
  }
}
