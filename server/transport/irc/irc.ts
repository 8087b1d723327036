/**
 * The IRC transport: a listener where irssi, WeeChat, HexChat or The Lounge
 * is a complete client. Rooms are channels, private messages are PRIVMSG to
 * a nick, `/me` is CTCP ACTION. Like the terminal port, each connection is
 * a {@linkcode Session} (caps, registration timeout as the join timeout,
 * slow consumers, leaving) over a {@linkcode StreamPump} (the socket); this
 * file only turns IRC lines into the hub's requests and its events into IRC
 * lines (`replies.ts` words them, `message.ts` is the line format).
 *
 * Registration is as modern clients do it: the client talks first, may
 * negotiate IRCv3 capabilities (`CAP LS 302`, `CAP REQ`, `CAP END`), and is
 * seated under its NICK once it has sent USER and ended negotiation; a
 * refused nickname gets 432 or 433 and another NICK is awaited. It joins no
 * room by itself: an IRC client joins its channels.
 *
 * Requests the hub answers (JOIN, NAMES, WHO of a channel, LIST, TOPIC,
 * CHATHISTORY) are answered synchronously, while the request is handled;
 * the link remembers what it asked ({@linkcode Asking}) to word the answer
 * (a member list is NAMES or WHO) or the refusal (not being in a channel is
 * 404 for PRIVMSG, 442 for PART) as IRC does.
 *
 * A browser or HTTP client that reaches this port (`GET /`, `POST /`) is cut
 * off at its first line, as ngircd and InspIRCd do: nothing it sent is
 * echoed back to a page that could be made to read it.
 *
 * @module
 */

import {
  isOwn,
  LOBBY,
  MEMBER_ROOMS_MAX,
  type ServerEvent,
  type Via,
} from "../../../common/protocol.ts";
import type {
  ChatError,
  ChatMessage,
  ClientMessage,
  HistoryRequest,
} from "../../../common/protocol.ts";
import { roomKey } from "../../../common/room_key.ts";
import { clip } from "../../../common/message.ts";
import { nickKey, SERVER_NICK } from "../../../common/nick.ts";
import { TIMEOUTS } from "../../config.ts";
import { TokenBucket } from "../../hub/flood.ts";
import type { Hub } from "../../hub/hub.ts";
import type { Conn } from "../listener.ts";
import type { Link, Session } from "../session.ts";
import {
  serveStream,
  type StreamHandler,
  type StreamOptions,
  StreamPump,
  type StreamServer,
} from "../stream.ts";
import { LineDecoder } from "../terminal/lines.ts";
import { searchLines } from "../terminal/render.ts";
import {
  INPUT_MAX,
  type IrcMessage,
  parseCtcp,
  parseLine,
  parseServerTime,
  stripFormatting,
  tooLong,
} from "./message.ts";
import {
  AWAY_LEN,
  CAPABILITIES,
  type Capability,
  CHATHISTORY_MAX,
  fitLine,
  isCapability,
  realName,
  Replies,
  type ServerIdentity,
  TARGETS_MAX,
  userOf,
  viaText,
} from "./replies.ts";

/** Options for {@linkcode serveIrc}. */
export interface IrcOptions extends StreamOptions {
  /** How long a client may be silent before it is sent a PING; one that does not answer by the next is dropped. @default {TIMEOUTS.ircPingMs} */
  pingMs?: number;
  /** The message of the day, as lines. @default {[]} (422: none) */
  motd?: readonly string[];
  /** The server's name in IRC. @default {"chat.local"} */
  serverName?: string;
  /** The network's name. @default {"chat"} */
  network?: string;
}

/** A running IRC listener. */
export type IrcServer = StreamServer;

/** Starts the IRC transport for a hub. */
export function serveIrc(hub: Hub, options: IrcOptions): IrcServer {
  const server: ServerIdentity = {
    name: options.serverName ?? "chat.local",
    network: options.network ?? "chat",
    started: Date.now(),
    motd: options.motd ?? [],
  };
  const pingMs = options.pingMs ?? TIMEOUTS.ircPingMs;
  return serveStream(
    hub,
    "irc",
    options,
    (conn, session) => new IrcLink(conn, session, server, pingMs),
    (error) => encoder.encode(`ERROR :Closing link: ${error.message}\r\n`),
  );
}

const encoder = new TextEncoder();

/**
 * The room message being delivered and its lines as sent, by kind of client
 * (see `IrcLink.#roomMessage`). A room hands one message to all its members
 * before the next, so remembering the last one is enough.
 */
const rendered: { message: ChatMessage | undefined; bytes: (Uint8Array | undefined)[] } = {
  message: undefined,
  bytes: [],
};

/** What the first line of an HTTP request starts with: such a client is cut off. */
const HTTP_VERBS = new Set(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH"]);

/**
 * Commands the link answers by itself, from what the hub shows it, without
 * a request the hub would charge: they draw on the link's own bucket
 * ({@linkcode LOCAL_RATE}) instead, so a client cannot make the server
 * answer WHOIS or ISON as fast as it can send them.
 */
const LOCAL = new Set([
  "WHOIS",
  "WHOWAS",
  "WHO",
  "ISON",
  "USERHOST",
  "MODE",
  "MOTD",
  "NAMES",
  // Answered whether registered or not: a loop of them is no free reply.
  "CAP",
  "PING",
  "PASS",
]);

/**
 * What a client may ask the link to answer by itself: more than a client
 * sends as it connects (CAP, then a MODE, a ban-list MODE and a WHO for
 * each of up to 20 channels, irssi's ISON of its notify list, a lag PING),
 * held to a few a second after.
 */
const LOCAL_RATE = { burst: 80, perSecond: 5 };

/** Lines held while a request waits on Redis; past them, a line is refused (263). */
const HELD_LINES = 100;

/** Commands a client may send before it is registered. */
const BEFORE_REGISTRATION = new Set(["CAP", "PASS", "NICK", "USER", "PING", "PONG", "QUIT"]);

/** What the link asked the hub, to word the answer or the refusal as IRC does. */
type Asking =
  | { command: "JOIN"; room: string }
  | { command: "NAMES" | "WHO" | "PART" | "TOPIC" | "MODE"; room: string }
  | { command: "PRIVMSG" | "NOTICE"; target: string }
  | { command: "CHATHISTORY"; target: string; sub: string }
  | { command: "NICK" | "REGISTER"; nick: string }
  | { command: "LIST" | "AWAY" | "SEARCH" };

/** One IRC connection: reads lines into requests for its session, writes events as lines. */
class IrcLink implements Link, StreamHandler {
  readonly #session: Session;
  readonly #pump: StreamPump;
  readonly #lines = new LineDecoder(INPUT_MAX, { erase: false });
  readonly #say: Replies;
  /** Capabilities the client asked for and has. */
  readonly #caps = new Set<Capability>();
  /** The rooms it is in, by key, as named by the server. */
  readonly #rooms = new Map<string, string>();
  #asking: Asking | undefined;
  /** Before registration: the nickname asked for, whether USER came, whether CAP is being negotiated. */
  #wantedNick: string | undefined;
  #user = false;
  #negotiating = false;
  #registered = false;
  #firstLine = true;
  /**
   * Lines read while a request waits on Redis (`--redis`): carried out in
   * order once it is answered, so an answer is worded for what asked it
   * and comes before the next command's. At most {@linkcode HELD_LINES}.
   */
  readonly #held: string[] = [];
  /** Lines read past {@linkcode HELD_LINES} while a request waited: dropped, and said so once. */
  #dropped = 0;
  #waiting = false;
  /** Set by QUIT: no line after it is carried out. */
  #quitting = false;
  /** Set by a quit waiting for what the member said: settles once its goodbye is written. */
  #leaving: Promise<void> | undefined;
  /** Settled once no request waits and no line is held (see {@linkcode end}). */
  #drained: PromiseWithResolvers<void> | undefined;
  readonly #local = new TokenBucket(LOCAL_RATE, Date.now);
  /** When the last 263 was sent. */
  #toldToWait = -Infinity;
  /**
   * The QUIT just told, so a member leaving several shared rooms is told
   * once: the hub sends one leave per room, one after another (each with
   * its own time), and nothing else in between.
   */
  #lastQuit = "";
  #batches = 0;
  /** Whether it takes its own messages back (echo-message), and which tags it takes, as a number: read for every message. */
  #echo = false;
  #variant = 0;
  /** True once an ERROR line was written: the connection is ending. */
  #erred = false;
  /** The server's last NOTICE, which a close that follows it gives as its reason. */
  #lastNotice: string | undefined;
  /** Rooms just entered whose whole member list is still to be asked for, each with its replay. */
  readonly #namesDue: { room: string; history: readonly ChatMessage[] }[] = [];
  #askingNames = false;

  constructor(conn: Conn, session: Session, server: ServerIdentity, pingMs: number) {
    this.#session = session;
    this.#say = new Replies(server);
    this.#pump = new StreamPump(conn, session, this, pingMs);
  }

  // ---- Link: events from the hub ----

  send(event: ServerEvent): void {
    if (event.type !== "leave") this.#lastQuit = "";
    if (event.type === "message" && event.room !== undefined) return this.#roomMessage(event);
    const lines = this.#render(event);
    if (lines.length > 0) this.#write(lines);
  }

  joinTimedOut(seconds: number): void {
    this.#write([
      this.#error(`not registered within ${seconds} s`),
    ]);
  }

  close(): void {
    // Closed by the server (a flood, the server stopping): IRC clients
    // expect an ERROR as the last line, and say it as the reason.
    if (!this.#erred) this.#write([this.#error(this.#lastNotice ?? "closed by the server")]);
    this.#pump.close();
  }

  /** The ERROR line that ends a connection, said once. */
  #error(why: string): string {
    this.#erred = true;
    return this.#say.fromServer("ERROR", `Closing link: ${why}`);
  }

  abort(): void {
    this.#pump.abort();
  }

  // ---- StreamHandler: bytes from the peer ----

  input(chunk: Uint8Array): void {
    for (const event of this.#lines.push(chunk)) {
      if (this.#pump.closing) return;
      if (event.type === "line") this.#line(event.text);
      else this.#write([this.#say.numeric("417", "Input line was too long")]);
    }
  }

  end(): void | Promise<void> {
    for (const event of this.#lines.end()) {
      if (event.type === "line" && !this.#pump.closing) this.#line(event.text);
    }
    // Input that ends while its lines wait on Redis: they are carried out first.
    // And a quit among them writes its goodbye first.
    if (!this.#waiting) return this.#leaving;
    this.#drained ??= Promise.withResolvers();
    return this.#drained.promise.then(() => this.#leaving);
  }

  probe(): boolean {
    // Without a source, as ngircd and ergo send it: the simplest clients look for "PING " first.
    this.#write([fitLine({ command: "PING", params: [this.#say.name] })]);
    return true;
  }

  // ---- commands ----

  #line(text: string): void {
    if (this.#quitting) return;
    if (this.#waiting) {
      if (this.#held.length < HELD_LINES) this.#held.push(text);
      else this.#dropped++;
      return;
    }
    const first = this.#firstLine;
    if (text.trim() === "") return;
    this.#firstLine = false;
    if (tooLong(text)) {
      if (this.#local.take()) this.#write([this.#say.numeric("417", "Input line was too long")]);
      return;
    }
    const message = parseLine(text);
    if (message === undefined) return;
    const { command } = message;
    if (!this.#registered) {
      if (first && HTTP_VERBS.has(command)) return this.#session.abort("not IRC: an HTTP request");
      if (!BEFORE_REGISTRATION.has(command)) {
        if (!this.#local.take()) return;
        return this.#write([this.#say.numeric("451", "You have not registered")]);
      }
    }
    if (LOCAL.has(command) && !this.#local.take()) return this.#tryAgain(command);
    this.#command(message);
  }

  /**
   * 263: a command answered locally, refused for coming too fast; said at
   * most once a second, so that a loop of them gets no answer per line.
   */
  #tryAgain(command: string): void {
    const now = Date.now();
    if (now - this.#toldToWait < 1000) return;
    this.#toldToWait = now;
    this.#numeric("263", echoed(command), "Please wait a while and try again.");
  }

  #command(m: IrcMessage): void {
    const p = m.params;
    switch (m.command) {
      case "CAP":
        return this.#cap(p);
      case "PASS":
        if (this.#registered) this.#numeric("462", "You may not reregister");
        return;
      case "NICK":
        return this.#nick(p[0]);
      case "USER":
        if (this.#registered) return this.#numeric("462", "You may not reregister");
        if (p.length < 4) return this.#needMore("USER");
        this.#user = true;
        return this.#register();
      case "PING":
        if (p[0] === undefined) return this.#needMore("PING");
        return this.#write([this.#say.fromServer("PONG", this.#say.name, p[0])]);
      case "PONG":
        return;
      case "TAGMSG":
        // Client-only tags (typing notices): not carried to anyone, and no error.
        return;
      case "QUIT":
        return this.#quit(p[0] ?? "");
      case "JOIN":
        return this.#join(p[0]);
      case "PART":
        return this.#part(p[0], p[1]);
      case "PRIVMSG":
      case "NOTICE":
        return this.#privmsg(m.command, p[0], p[1]);
      case "TOPIC":
        if (p[0] === undefined) return this.#needMore("TOPIC");
        return this.#ask({ command: "TOPIC", room: p[0] }, {
          type: "topic",
          room: p[0],
          ...(p[1] === undefined ? {} : { text: stripFormatting(p[1]) }),
        });
      case "NAMES":
        return this.#names(p[0]);
      case "WHO":
        return this.#who(p[0]);
      case "WHOIS":
        return this.#whois(p.length > 1 ? p[1] : p[0]);
      case "WHOWAS":
        if (p[0] === undefined) return this.#numeric("431", "No nickname given");
        return this.#write([
          this.#say.numeric("406", echoed(p[0]), "There was no such nickname"),
          this.#say.numeric("369", echoed(p[0]), "End of WHOWAS"),
        ]);
      case "LIST": {
        // `LIST #a,#b`: those channels alone (a condition such as `>3` is not kept to).
        const names = (p[0] ?? "").split(",").filter((c) => c.startsWith("#"))
          .slice(0, MEMBER_ROOMS_MAX);
        return this.#ask(
          { command: "LIST" },
          names.length > 0 ? { type: "rooms", names } : { type: "rooms" },
        );
      }
      case "MODE":
        return this.#mode(p);
      case "ISON":
        return this.#ison(p);
      case "USERHOST":
        return this.#userhost(p);
      case "AWAY":
        return this.#away(p[0]);
      case "CHATHISTORY":
        return this.#chathistory(p);
      case "MOTD":
        return this.#write(this.#say.motd());
      case "SEARCH":
        // `SEARCH deploy at 5` (irssi's `/quote SEARCH $-`) or `SEARCH :deploy at 5`: every word.
        if (p.length === 0) return this.#needMore("SEARCH");
        return this.#ask({ command: "SEARCH" }, { type: "search", text: p.join(" ") });
      default:
        // Answered locally like WHOIS, so from the same bucket.
        if (!this.#local.take()) return this.#tryAgain(m.command);
        return this.#numeric("421", echoed(m.command), "Unknown command");
    }
  }

  #cap(p: string[]): void {
    const sub = (p[0] ?? "").toUpperCase();
    switch (sub) {
      case "LS":
        if (!this.#registered) this.#negotiating = true;
        return this.#write([
          this.#say.fromServer("CAP", this.#say.nick, "LS", CAPABILITIES.join(" ")),
        ]);
      case "LIST":
        return this.#write([
          this.#say.fromServer("CAP", this.#say.nick, "LIST", [...this.#caps].join(" ")),
        ]);
      case "REQ": {
        if (!this.#registered) this.#negotiating = true;
        const asked = (p[1] ?? "").split(" ").filter((c) => c !== "").slice(0, 32);
        const ok = asked.length > 0 && asked.every((c) => isCapability(c.replace(/^-/, "")));
        if (ok) {
          for (const c of asked) {
            const name = c.replace(/^-/, "");
            if (!isCapability(name)) continue;
            if (c.startsWith("-")) this.#caps.delete(name);
            else this.#caps.add(name);
            this.#echo = this.#caps.has("echo-message");
            this.#variant = (this.#caps.has("server-time") ? 1 : 0) |
              (this.#caps.has("message-tags") ? 2 : 0);
          }
        }
        return this.#write([
          this.#say.fromServer(
            "CAP",
            this.#say.nick,
            ok ? "ACK" : "NAK",
            (p[1] ?? "").slice(0, 400),
          ),
        ]);
      }
      case "END":
        if (this.#registered) return;
        this.#negotiating = false;
        return this.#register();
      default:
        return this.#numeric("410", sub.slice(0, 20) || "*", "Invalid CAP command");
    }
  }

  #nick(nick: string | undefined): void {
    if (nick === undefined || nick === "") return this.#numeric("431", "No nickname given");
    if (!this.#registered) {
      this.#wantedNick = nick;
      return this.#register();
    }
    this.#ask({ command: "NICK", nick }, { type: "nick", nick });
  }

  /** Seats the client once it has a nickname, has sent USER and is done negotiating. */
  #register(): void {
    const nick = this.#wantedNick;
    if (this.#registered || nick === undefined || !this.#user || this.#negotiating) return;
    // A refused nickname is told (432, 433) by the refusal; another NICK is awaited.
    this.#wantedNick = undefined;
    this.#ask({ command: "REGISTER", nick }, { type: "join", nick, rooms: [] });
  }

  #quit(reason: string): void {
    const session = this.#session;
    // Nothing after it is read; it leaves once what it said is stored.
    this.#quitting = true;
    const bye = () => {
      const why = reason === "" ? "Quit" : `Quit: ${stripFormatting(reason)}`;
      this.#write([this.#error(why)]);
      session.close();
    };
    const left = session.quit(stripFormatting(reason));
    if (!left) return bye();
    this.#leaving = left.then(bye);
  }

  #join(list: string | undefined): void {
    if (list === undefined) return this.#needMore("JOIN");
    if (list === "0") {
      for (const room of [...this.#rooms.values()]) {
        this.#ask({ command: "PART", room }, { type: "part", room });
      }
      return;
    }
    for (const room of targetsOf(list, TARGETS_MAX.JOIN)) {
      if (!room.startsWith("#")) {
        this.#numeric("403", echoed(room), "No such channel: a channel's name starts with #");
        continue;
      }
      if (this.#rooms.has(roomKey(room))) continue;
      this.#ask({ command: "JOIN", room }, { type: "enter", room });
    }
  }

  #part(list: string | undefined, reason: string | undefined): void {
    if (list === undefined) return this.#needMore("PART");
    for (const room of targetsOf(list, TARGETS_MAX.PART)) {
      const part: ClientMessage = { type: "part", room };
      if (reason !== undefined && reason !== "") part.reason = stripFormatting(reason);
      this.#ask({ command: "PART", room }, part);
    }
  }

  #privmsg(command: "PRIVMSG" | "NOTICE", targets: string | undefined, raw: string | undefined) {
    if (targets === undefined || targets === "") {
      return this.#numeric("411", `No recipient given (${command})`);
    }
    if (raw === undefined || raw === "") return this.#numeric("412", "No text to send");
    const notice = command === "NOTICE";
    const special = parseCtcp(raw);
    for (const target of targetsOf(targets, TARGETS_MAX[command])) {
      const asking: Asking = { command, target };
      const room = target.startsWith("#");
      if (special !== undefined && special.command !== "ACTION") {
        this.#ask(asking, {
          type: "ctcp",
          to: target,
          text: `${special.command}${special.args === "" ? "" : " " + special.args}`,
          ...(notice ? { reply: true } : {}),
        });
        continue;
      }
      const action = special?.command === "ACTION";
      const text = stripFormatting(action ? special.args : raw);
      if (room) {
        this.#ask(asking, {
          type: action ? "me" : "say",
          room: target,
          text,
          ...(notice && !action ? { notice: true } : {}),
        });
      } else {
        this.#ask(asking, {
          type: "msg",
          to: target,
          text,
          ...(action ? { action: true } : notice ? { notice: true } : {}),
        });
        const away = this.#session.whois(target)?.away;
        if (away !== undefined && !notice) this.#numeric("301", target, away);
      }
    }
  }

  #names(list: string | undefined): void {
    const room = list?.split(",")[0];
    if (room === undefined || room === "") return this.#numeric("366", "*", "End of /NAMES list.");
    if (!this.#rooms.has(roomKey(room))) {
      return this.#numeric("366", echoed(room), "End of /NAMES list.");
    }
    this.#ask({ command: "NAMES", room }, { type: "who", room });
  }

  #who(mask: string | undefined): void {
    if (mask === undefined || mask === "") return this.#numeric("315", "*", "End of /WHO list.");
    if (mask.startsWith("#")) {
      if (!this.#rooms.has(roomKey(mask))) {
        return this.#numeric("315", echoed(mask), "End of /WHO list.");
      }
      return this.#ask({ command: "WHO", room: mask }, { type: "who", room: mask });
    }
    const found = this.#session.whois(mask);
    const lines = found
      ? [this.#say.who("*", found.nick, found.via, found.away !== undefined)]
      : [];
    this.#write([...lines, this.#say.numeric("315", echoed(mask), "End of /WHO list.")]);
  }

  #whois(nick: string | undefined): void {
    if (nick === undefined || nick === "") return this.#numeric("431", "No nickname given");
    const target = echoed(nick.split(",")[0] ?? nick);
    const found = this.#session.whois(target);
    if (!found) {
      return this.#write([
        this.#say.numeric("401", target, "No such nick"),
        this.#say.numeric("318", target, "End of /WHOIS list."),
      ]);
    }
    const say = this.#say;
    const lines = [
      say.numeric(
        "311",
        found.nick,
        userOf(found.via),
        say.name,
        "*",
        realName(found.nick, found.via),
      ),
    ];
    lines.push(...say.spread("319", [found.nick], found.rooms));
    lines.push(say.numeric("312", found.nick, say.name, viaText(found.via)));
    if (found.away !== undefined) lines.push(say.numeric("301", found.nick, found.away));
    lines.push(say.numeric("318", found.nick, "End of /WHOIS list."));
    this.#write(lines);
  }

  #mode(p: string[]): void {
    const target = p[0];
    if (target === undefined) return this.#needMore("MODE");
    const say = this.#say;
    if (target.startsWith("#")) {
      const name = this.#rooms.get(roomKey(target));
      if (name === undefined) return this.#numeric("403", echoed(target), "No such channel");
      const change = p[1];
      if (change === undefined) {
        return this.#write([
          say.numeric("324", name, "+n"),
          say.numeric("329", name, `${Math.floor(say.started / 1000)}`),
        ]);
      }
      if (/^[+]?b$/.test(change) && p.length === 2) {
        return this.#numeric("368", name, "End of channel ban list");
      }
      return this.#numeric("482", name, "You're not channel operator");
    }
    if (nickKey(target) !== nickKey(say.nick)) {
      return this.#numeric("502", "Can't change mode for other users");
    }
    // A client setting its own modes at connect (irssi's +i) is let be.
    if (p[1] === undefined) this.#numeric("221", "+i");
  }

  #ison(nicks: string[]): void {
    const here = nicks.flatMap((n) => n.split(" ")).filter((n) => n !== "").slice(0, 32)
      .flatMap((n) => this.#session.whois(n)?.nick ?? []);
    const lines = this.#say.spread("303", [], here);
    this.#write(lines.length > 0 ? lines : [this.#say.numeric("303", "")]);
  }

  #userhost(nicks: string[]): void {
    const replies = nicks.slice(0, 5).flatMap((n) => {
      const found = this.#session.whois(n);
      if (!found) return [];
      const away = found.away === undefined ? "+" : "-";
      return [`${found.nick}=${away}${userOf(found.via)}@${this.#say.name}`];
    });
    this.#numeric("302", replies.join(" "));
  }

  #away(text: string | undefined): void {
    const away = text === undefined || text === ""
      ? undefined
      : stripFormatting(text).slice(0, AWAY_LEN);
    this.#ask(
      { command: "AWAY" },
      away === undefined ? { type: "away" } : { type: "away", text: away },
    );
    if (away === undefined) this.#numeric("305", "You are no longer marked as being away");
    else this.#numeric("306", "You have been marked as being away");
  }

  #chathistory(p: string[]): void {
    const [sub, target] = p;
    if (sub === undefined || target === undefined) return this.#needMore("CHATHISTORY");
    const fail = (code: string, text: string) =>
      this.#write([this.#say.fromServer("FAIL", "CHATHISTORY", code, sub, target, text)]);
    const verb = sub.toUpperCase();
    if (verb === "TARGETS") return this.#write(this.#batch("draft/chathistory-targets", [], []));
    const limitText = verb === "BETWEEN" ? p[4] : p[3];
    const limit = Number(limitText);
    if (!Number.isInteger(limit) || limit < 1) return fail("INVALID_PARAMS", "Bad limit");
    const count = Math.min(limit, CHATHISTORY_MAX);
    // Private messages are never kept: a nick's history is empty.
    if (!target.startsWith("#")) return this.#write(this.#batch("chathistory", [target], []));
    const first = p[2] === undefined ? undefined : parseReference(p[2]);
    const history: HistoryRequest = { type: "history", room: target, count };
    const bad = () => fail("INVALID_PARAMS", "Bad message reference");
    switch (verb) {
      case "LATEST":
        if (p[2] === "*") break;
        if (first === undefined) return bad();
        bind(history, "after", first);
        history.from = "newest";
        break;
      case "BEFORE":
        if (first === undefined) return bad();
        bind(history, "before", first);
        break;
      case "AFTER":
        if (first === undefined) return bad();
        bind(history, "after", first);
        break;
      case "BETWEEN": {
        const second = p[3] === undefined ? undefined : parseReference(p[3]);
        if (first === undefined || second === undefined) return bad();
        // Counted from the first reference, in whichever direction the second lies.
        const forward = "id" in first && "id" in second
          ? first.id <= second.id
          : "ts" in first && "ts" in second
          ? first.ts <= second.ts
          : true;
        bind(history, "after", forward ? first : second);
        bind(history, "before", forward ? second : first);
        history.from = forward ? "oldest" : "newest";
        break;
      }
      default:
        return fail("INVALID_PARAMS", `Unknown subcommand ${sub.slice(0, 20)}`);
    }
    this.#ask({ command: "CHATHISTORY", target, sub: verb }, history);
  }

  /** Hands a request to the hub, remembering what it was for the answer's wording. */
  #ask(asking: Asking, message: ClientMessage): void {
    this.#asking = asking;
    let done;
    try {
      done = this.#session.handle(message);
    } finally {
      if (!(done instanceof Promise)) this.#asking = undefined;
    }
    if (!(done instanceof Promise)) return this.#askNamesDue();
    // Answered once Redis has been asked: the lines read meanwhile wait.
    this.#waiting = true;
    void done.catch(() => false).then(() => {
      this.#asking = undefined;
      this.#waiting = false;
      this.#askNamesDue();
      while (!this.#waiting && this.#held.length > 0) this.#line(this.#held.shift()!);
      // Where they came: after every line held, answered (one that quit hears nothing of it).
      if (this.#quitting) this.#dropped = 0;
      if (!this.#waiting && this.#held.length === 0 && this.#dropped > 0) {
        const lines = this.#dropped === 1 ? "1 line" : `${this.#dropped} lines`;
        this.#dropped = 0;
        this.#write([
          this.#say.fromServer(
            "NOTICE",
            this.#say.nick,
            `${lines} you sent while the server waited on its message store were not carried out (it holds ${HELD_LINES}); send them again.`,
          ),
        ]);
      }
      if (!this.#waiting || this.#pump.closing) this.#drained?.resolve();
    });
  }

  /** Asks for the member lists of big rooms just entered, each followed by its replay. */
  #askNamesDue(): void {
    // One room at a time: the next one's NAMES once this one's replay is out.
    if (this.#askingNames) return;
    this.#askingNames = true;
    try {
      for (let due = this.#namesDue.shift(); due !== undefined; due = this.#namesDue.shift()) {
        if (!this.#rooms.has(roomKey(due.room))) continue;
        this.#ask({ command: "NAMES", room: due.room }, { type: "who", room: due.room });
        const replay = this.#history(due.room, due.history);
        if (replay.length > 0) this.#write(replay);
      }
    } finally {
      this.#askingNames = false;
    }
  }

  // ---- events ----

  #render(event: ServerEvent): string[] {
    const say = this.#say;
    switch (event.type) {
      case "welcome":
        this.#registered = true;
        say.nick = event.nick;
        return say.welcome();
      case "message":
        return this.#message(event);
      case "entered": {
        const name = event.room;
        this.#rooms.set(roomKey(name), name);
        const lines = [this.#self("JOIN", name)];
        if (event.topic) lines.push(...this.#topicLines(name, event.topic));
        if (event.memberCount !== undefined && event.memberCount > event.members.length) {
          // The whole list is asked for once the JOIN is out, and the replay
          // waits for it: JOIN, NAMES, replay, as for a small room, before
          // the answer to whatever the client sent next.
          this.#namesDue.push({ room: name, history: event.history });
          if (this.#asking === undefined) queueMicrotask(() => this.#askNamesDue());
          return lines;
        }
        lines.push(...say.names(name, event.members.map((m) => m.nick)));
        lines.push(...this.#history(name, event.history));
        return lines;
      }
      case "parted":
        this.#rooms.delete(roomKey(event.room));
        return [this.#self("PART", event.room, ...partReason(event.reason))];
      case "join":
        if (event.nick === say.nick || event.room === undefined) return [];
        return [this.#from(event.nick, event.via, "JOIN", event.room)];
      case "leave": {
        if (event.nick === say.nick) return [];
        return this.#leave(event.nick, event.via, event.room ?? LOBBY, event.reason);
      }
      case "presence": {
        const room = event.room ?? LOBBY;
        return [
          ...event.left.filter((n) => n !== say.nick).map((n) =>
            formatFrom(this.#mask(n), "PART", room)
          ),
          ...event.joined.filter((m) => m.nick !== say.nick).map((m) =>
            this.#from(m.nick, m.via, "JOIN", room)
          ),
        ];
      }
      case "rename": {
        // Its old name, as clients know it, and how it is connected (asked by its new one).
        const via = this.#viaOf(event.to);
        const source = via === undefined ? event.from : say.prefix(event.from, via);
        const line = formatFrom(source, "NICK", event.to);
        if (event.from === say.nick) say.nick = event.to;
        return [line];
      }
      case "members": {
        const asking = this.#asking;
        const room = event.room ?? LOBBY;
        if (asking?.command === "WHO") {
          return [
            // G (gone) for an away member, as WHO of its nickname says.
            ...event.members.map((m) =>
              say.who(room, m.nick, m.via, this.#session.whois(m.nick)?.away !== undefined)
            ),
            say.numeric("315", room, "End of /WHO list."),
          ];
        }
        return say.names(room, event.members.map((m) => m.nick));
      }
      case "topic":
        if (event.changed) {
          const by = this.#source(event.topic?.by ?? SERVER_NICK);
          return [formatFrom(by, "TOPIC", event.room, event.topic?.text ?? "")];
        }
        if (!event.topic) return [say.numeric("331", event.room, "No topic is set")];
        return this.#topicLines(event.room, event.topic);
      case "rooms":
        return [
          say.numeric("321", "Channel", "Users  Name"),
          ...event.rooms.map((r) => say.numeric("322", r.room, `${r.members}`, r.topic ?? "")),
          say.numeric("323", "End of /LIST"),
        ];
      case "history":
        // The channel as the server names it, however the request spelled it
        // (#LOBBY, a look-alike): the client files the batch under that name.
        return this.#batch("chathistory", [event.room ?? LOBBY], event.messages);
      case "notice":
        this.#lastNotice = event.text;
        return [say.fromServer("NOTICE", say.nick, event.text)];
      case "ctcp": {
        const target = event.room ?? say.nick;
        const wrapped = `\x01${event.text}\x01`;
        // A page may send one too (protocol.ts): its sender is named as what it is.
        const from = this.#source(event.from);
        return [formatFrom(from, event.reply ? "NOTICE" : "PRIVMSG", target, wrapped)];
      }
      case "search":
        return say.notices(searchLines(event.text, event.messages));
      case "error":
        return this.#refusal(event);
    }
  }

  /**
   * A room message: the same bytes for every member of the room who
   * negotiated the same tags, so they are made once per message and kind
   * of client, not once per member (a room of 1,000 on IRC would otherwise
   * format, split and encode every line 1,000 times).
   */
  #roomMessage(message: ChatMessage): void {
    if (!this.#echo && message.from === this.#say.nick) return;
    if (rendered.message !== message) {
      rendered.message = message;
      rendered.bytes = [];
    }
    const variant = this.#variant;
    let bytes = rendered.bytes[variant];
    if (bytes === undefined) {
      const lines = this.#message(message);
      bytes = rendered.bytes[variant] = encoder.encode(lines.join("\r\n") + "\r\n");
    }
    this.#pump.enqueue(bytes);
  }

  #message(message: ChatMessage): string[] {
    const self = this.#say.nick;
    const mine = isOwn(message, self);
    // Its own words come back only with echo-message; a message to itself is news either way.
    if (mine && message.to !== self && !this.#caps.has("echo-message")) return [];
    const target = message.room ?? (mine ? message.to ?? self : self);
    return this.#say.message(message, this.#source(message.from), target, this.#tags());
  }

  /** Messages of a room as replayed: in a `chathistory` batch when the client takes them, with their time. */
  #history(room: string, messages: readonly ChatMessage[]): string[] {
    if (messages.length === 0) return [];
    return this.#batch("chathistory", [room], messages);
  }

  #batch(type: string, params: string[], messages: readonly ChatMessage[]): string[] {
    const say = this.#say;
    const batched = this.#caps.has("batch");
    const id = batched ? `h${++this.#batches}` : undefined;
    const tags = { ...this.#tags(), batch: id, timeInText: !this.#caps.has("server-time") };
    const lines = messages.flatMap((m) =>
      say.message(m, this.#source(m.from), m.room ?? m.to ?? say.nick, tags)
    );
    if (id === undefined) return lines;
    return [
      say.fromServer("BATCH", `+${id}`, type, ...params),
      ...lines,
      say.fromServer("BATCH", `-${id}`),
    ];
  }

  #tags() {
    return { time: this.#caps.has("server-time"), msgid: this.#caps.has("message-tags") };
  }

  #leave(nick: string, via: Via, room: string, reason: string): string[] {
    if (reason === "part" || reason.startsWith("part: ")) {
      return [this.#from(nick, via, "PART", room, ...partReason(reason))];
    }
    // One QUIT for a member leaving every room it shares with this client.
    const key = `${nick}\n${reason}`;
    if (key === this.#lastQuit) return [];
    this.#lastQuit = key;
    return [this.#from(nick, via, "QUIT", quitReason(reason))];
  }

  #topicLines(room: string, topic: { text: string; by: string; ts: number }): string[] {
    return [
      this.#say.numeric("332", room, topic.text),
      this.#say.numeric("333", room, this.#source(topic.by), `${Math.floor(topic.ts / 1000)}`),
    ];
  }

  /** A refusal in IRC's words: the numeric the command it answers calls for. */
  #refusal(error: ChatError): string[] {
    const say = this.#say;
    const asking = this.#asking;
    // Told why in a NOTICE, which clients show in the window the user is
    // looking at, then the ERROR that closes the link (as for a flood).
    if (error.fatal) {
      return [say.fromServer("NOTICE", say.nick, error.message), this.#error(error.message)];
    }
    if (
      asking?.command === "REGISTER" && error.code !== "nick_invalid" && error.code !== "nick_taken"
    ) {
      // Not seated for a reason another NICK cannot change (joining too fast):
      // the client is told, and reconnects later as it would after any ERROR.
      queueMicrotask(() => this.#session.close());
      return [this.#error(error.message)];
    }
    const room = echoed(error.room ?? (asking && "room" in asking ? asking.room : "*"));
    const target = echoed(asking && "target" in asking ? asking.target : room);
    // No automatic reply to a NOTICE but for flooding, which the sender must know.
    if (asking?.command === "NOTICE" && error.code !== "rate_limited") return [];
    // A search is no channel message: its refusals are words, not numerics.
    if (asking?.command === "SEARCH") return [say.fromServer("NOTICE", say.nick, error.message)];
    switch (error.code) {
      case "nick_invalid":
        return [say.numeric("432", this.#wantedOr(asking), error.message)];
      case "nick_taken":
        return [say.numeric("433", this.#wantedOr(asking), error.message)];
      case "no_such_nick":
        return [say.numeric("401", target, "No such nick/channel")];
      case "room_invalid":
        return [say.numeric("403", room, error.message)];
      case "not_in_room":
        if (asking?.command === "PRIVMSG") {
          return [say.numeric("404", room, "Cannot send to channel")];
        }
        if (asking?.command === "CHATHISTORY") {
          // As the spec words it: FAIL CHATHISTORY INVALID_TARGET <subcommand> <target> :text
          return [
            say.fromServer(
              "FAIL",
              "CHATHISTORY",
              "INVALID_TARGET",
              asking.sub,
              target,
              error.message,
            ),
          ];
        }
        return [say.numeric("442", room, "You're not on that channel")];
      case "too_many_rooms":
      case "rooms_full":
        return [say.numeric("405", room, error.message)];
      case "text_empty":
        return [say.numeric("412", "No text to send")];
      case "not_joined":
        return [say.numeric("451", "You have not registered")];
      case "rate_limited":
        // ERR_NICKTOOFAST, as the servers that pace renames answer.
        if (asking?.command === "NICK") {
          return [say.numeric("438", echoed(asking.nick), error.message)];
        }
        return [say.fromServer("NOTICE", say.nick, error.message)];
      default:
        return [say.fromServer("NOTICE", say.nick, error.message)];
    }
  }

  /** The nickname a 432/433 is about. */
  #wantedOr(asking: Asking | undefined): string {
    return asking?.command === "NICK" || asking?.command === "REGISTER" ? echoed(asking.nick) : "*";
  }

  /** A member's full prefix if it is here (clients show its user and host), else its nickname. */
  #mask(nick: string): string {
    const via = this.#viaOf(nick);
    return via === undefined ? nick : this.#say.prefix(nick, via);
  }

  /**
   * Who a line comes from: the operator's prefix for `server`, a member's
   * full prefix if it is here, else its nickname alone (a line from history
   * whose author has gone: how it was connected is not kept).
   */
  #source(nick: string): string {
    return nick === SERVER_NICK ? this.#say.operator() : this.#mask(nick);
  }

  /** How a member is connected; undefined if nobody of that name is here. */
  #viaOf(nick: string): Via | undefined {
    return nick === this.#say.nick ? "irc" : this.#session.whois(nick)?.via;
  }

  /** A line about this client itself: `:me!irc@server COMMAND params`. */
  #self(command: string, ...params: string[]): string {
    return formatFrom(this.#say.prefix(this.#say.nick, "irc"), command, ...params);
  }

  #from(nick: string, via: Via, command: string, ...params: string[]): string {
    return formatFrom(this.#say.prefix(nick, via), command, ...params);
  }

  #numeric(code: string, ...params: string[]): void {
    this.#write([this.#say.numeric(code, ...params)]);
  }

  #needMore(command: string): void {
    this.#numeric("461", command, "Not enough parameters");
  }

  #write(lines: readonly string[]): void {
    // Nothing to say is no line at all: an empty one is not an IRC message.
    if (lines.length === 0) return;
    this.#pump.enqueue(encoder.encode(lines.join("\r\n") + "\r\n"));
  }
}

/** A line from a member: `:nick!via@server COMMAND params`. */
function formatFrom(source: string, command: string, ...params: string[]): string {
  return fitLine({ source, command, params });
}

/** A PART's reason from the hub's, as the line's last parameter: "part: bye" is "bye"; a plain part has none. */
function partReason(reason: string): string[] {
  if (reason === "part") return [];
  return [reason.startsWith("part: ") ? reason.slice(6) : reason];
}

/** A QUIT's reason from the hub's: "quit: bye" is "Quit: bye", as IRC servers word it. */
function quitReason(reason: string): string {
  if (reason === "quit") return "Quit";
  return reason.startsWith("quit: ") ? `Quit: ${reason.slice(6)}` : reason;
}

/** A CHATHISTORY message reference: one of our message ids, or a time. */
type Reference = { id: number } | { ts: number };

/** Reads `msgid=123` (or a split line's `msgid=123.2`) or `timestamp=2026-12-05T07:41:00.000Z`. */
function parseReference(text: string): Reference | undefined {
  const eq = text.indexOf("=");
  if (eq < 0 || text.length > 64) return undefined;
  const kind = text.slice(0, eq);
  const value = text.slice(eq + 1);
  if (kind === "msgid") {
    const digits = /^(\d{1,15})(?:\.\d{1,4})?$/.exec(value);
    return digits?.[1] === undefined ? undefined : { id: Number(digits[1]) };
  }
  if (kind === "timestamp") {
    const ts = parseServerTime(value);
    return ts === undefined ? undefined : { ts };
  }
  return undefined;
}

/** Sets a history request's bound on one side from a reference: an id, or a time. */
function bind(request: HistoryRequest, side: "before" | "after", ref: Reference): void {
  if ("id" in ref) request[side] = ref.id;
  else request[side === "before" ? "beforeTs" : "afterTs"] = ref.ts;
}

/**
 * The targets of a comma-separated list (JOIN, PART, PRIVMSG, NOTICE): the
 * first `max`, empty ones and repeats (a channel or nickname written again,
 * in any case or look-alike) left out: `PRIVMSG #dev,#DEV` says it once.
 */
function targetsOf(list: string, max: number): string[] {
  const seen = new Set<string>();
  const targets: string[] = [];
  for (const target of list.split(",").slice(0, max)) {
    if (target === "") continue;
    // Channels and nicknames apart: a nickname may fold to a channel's key
    // (＃dev); a name too long to fold (each refused on its own) as written.
    const folded = target.startsWith("#") ? roomKey(target) : nickKey(target);
    const key = folded.includes("\0") ? `=${target}` : `${target[0] === "#" ? "#" : "@"}${folded}`;
    if (seen.has(key)) continue;
    seen.add(key);
    targets.push(target);
  }
  return targets;
}

/**
 * A client's own word said back to it in a numeric (a command, a target):
 * clipped, so the reply stays within a line whatever the client sent.
 */
function echoed(word: string): string {
  return clip(word, 64);
}
