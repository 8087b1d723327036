/**
 * What the IRC port says, as lines: the numerics and their wording, the
 * welcome burst (001–005 and the MOTD), how a member of any transport is
 * named in a prefix, and how a message, which may be 2,000 characters,
 * becomes PRIVMSGs that fit in 512 bytes. Pure: no sockets, no hub.
 *
 * Numerics follow modern.ircdocs.horse. Members who are not on IRC have no
 * user name or host: their prefix is `nick!web@HOST`, `nick!terminal@HOST`
 * (HOST being the server's name), so a client shows how each one is
 * connected, and nobody's address is ever shown.
 *
 * @module
 */

import type { ChatMessage, Via } from "../../../common/protocol.ts";
import { MEMBER_ROOMS_MAX } from "../../../common/protocol.ts";
import { NICK_MAX, SERVER_NICK } from "../../../common/nick.ts";
import { ROOM_MAX } from "../../../common/room.ts";
import { TOPIC_MAX } from "../../hub/hub.ts";
import {
  byteLength,
  ctcp,
  formatLine,
  LINE_MAX,
  type OutgoingMessage,
  serverTime,
  splitText,
} from "./message.ts";

/** Who this server is, as IRC clients are told. */
export interface ServerIdentity {
  /** The server's name: the source of its numerics, and the host of every member. */
  readonly name: string;
  /** The network's name (`NETWORK=` in 005). */
  readonly network: string;
  /** When the server started, in ms since the epoch (003, and channel creation in 329). */
  readonly started: number;
  /** The message of the day, as lines; empty for none (422). */
  readonly motd: readonly string[];
}

/** The server's software, as 002 and 004 name it. */
export const VERSION = "chat-1";

/** The IRCv3 capabilities this server offers. */
export const CAPABILITIES = [
  "batch",
  "draft/chathistory",
  "echo-message",
  "message-tags",
  "server-time",
] as const;

/** One of {@linkcode CAPABILITIES}. */
export type Capability = typeof CAPABILITIES[number];

/** True if `name` is a capability this server offers. */
export function isCapability(name: string): name is Capability {
  return CAPABILITIES.some((cap) => cap === name);
}

/** Most messages one CHATHISTORY request returns (`CHATHISTORY=` in 005). */
export const CHATHISTORY_MAX = 100;

/** Targets one PRIVMSG, NOTICE, JOIN or PART may name. */
export const TARGETS_MAX = {
  PRIVMSG: 4,
  NOTICE: 4,
  JOIN: MEMBER_ROOMS_MAX,
  PART: MEMBER_ROOMS_MAX,
};

/** Longest away message (`AWAYLEN`), as the hub keeps it. */
export const AWAY_LEN = 200;

/** What this server supports, as 005 tokens (modern.ircdocs.horse, "Feature Advertisement"). */
export function isupport(network: string): string[] {
  return [
    `AWAYLEN=${AWAY_LEN}`,
    // Clients compare nicknames with this; the server folds look-alikes too,
    // and refuses the second of two that fold alike.
    "CASEMAPPING=ascii",
    `CHANLIMIT=#:${MEMBER_ROOMS_MAX}`,
    "CHANMODES=b,,,n",
    `CHANNELLEN=${ROOM_MAX + 1}`,
    "CHANTYPES=#",
    `CHATHISTORY=${CHATHISTORY_MAX}`,
    "MSGREFTYPES=msgid,timestamp",
    `NETWORK=${network}`,
    `NICKLEN=${NICK_MAX}`,
    "PREFIX=",
    `TARGMAX=${Object.entries(TARGETS_MAX).map(([c, n]) => `${c}:${n}`).join(",")}`,
    `TOPICLEN=${TOPIC_MAX}`,
    "UTF8ONLY",
  ];
}

/** The user part of a member's prefix and WHO reply: how it is connected. */
export function userOf(via: Via): string {
  return via;
}

/** What WHO and WHOIS show as a member's real name: its nickname and how it is connected. */
export function realName(nick: string, via: Via): string {
  return `${nick} (${via === "irc" ? "IRC" : via})`;
}

/** What WHOIS says of how a member is connected (312's text). */
export function viaText(via: Via): string {
  switch (via) {
    case "web":
      return "connected from a web browser";
    case "terminal":
      return "connected from a terminal (nc/telnet)";
    case "irc":
      return "connected from an IRC client";
  }
}

/** Lines in IRC's wording, from one server to one client. */
export class Replies {
  readonly #server: ServerIdentity;
  /** The client's nickname as numerics address it: `*` until it has one. */
  nick = "*";

  constructor(server: ServerIdentity) {
    this.#server = server;
  }

  /** The server's name. */
  get name(): string {
    return this.#server.name;
  }

  /** When the server started, in ms since the epoch. */
  get started(): number {
    return this.#server.started;
  }

  /** A numeric reply to the client: `:server NNN nick params…`. */
  numeric(code: string, ...params: string[]): string {
    return fitLine({ source: this.#server.name, command: code, params: [this.nick, ...params] });
  }

  /** A line from the server itself (`PING`, `CAP`, `NOTICE`, `ERROR`…). */
  fromServer(command: string, ...params: string[]): string {
    return fitLine({ source: this.#server.name, command, params });
  }

  /** A member's prefix: `nick!via@server`. */
  prefix(nick: string, via: Via): string {
    return `${nick}!${userOf(via)}@${this.#server.name}`;
  }

  /** The operator's prefix: `server!operator@server`. It is no member, and says so. */
  operator(): string {
    return `${SERVER_NICK}!operator@${this.#server.name}`;
  }

  /** What a client is told once it is registered: 001–005, then the MOTD or 422. */
  welcome(): string[] {
    const { name, network, started } = this.#server;
    const lines = [
      this.numeric("001", `Welcome to the ${network} network, ${this.nick}`),
      this.numeric("002", `Your host is ${name}, running version ${VERSION}`),
      this.numeric("003", `This server was created ${new Date(started).toUTCString()}`),
      this.numeric("004", name, VERSION, "i", "bn"),
    ];
    const tokens = isupport(network);
    // At most 13 tokens a line, as servers do, so no line nears 512 bytes.
    for (let i = 0; i < tokens.length; i += 13) {
      lines.push(this.numeric("005", ...tokens.slice(i, i + 13), "are supported by this server"));
    }
    return [...lines, ...this.motd()];
  }

  /** The message of the day (375, 372…, 376), or 422 when there is none. */
  motd(): string[] {
    const { name, motd } = this.#server;
    if (motd.length === 0) return [this.numeric("422", "MOTD File is missing")];
    return [
      this.numeric("375", `- ${name} Message of the day - `),
      ...motd.map((line) => this.numeric("372", `- ${line}`)),
      this.numeric("376", "End of /MOTD command."),
    ];
  }

  /**
   * A chat message as PRIVMSG (or NOTICE) lines, split where it would not
   * fit in 512 bytes; an action is a CTCP ACTION, split the same way.
   * `tags` go on every line (the first carries the message id as `msgid`,
   * the next ones `ID.2`, `ID.3`…, so each line's id is unique).
   */
  message(
    message: ChatMessage,
    source: string,
    target: string,
    tags: { time: boolean; msgid: boolean; batch?: string | undefined; timeInText?: boolean },
  ): string[] {
    const command = message.notice ? "NOTICE" : "PRIVMSG";
    const stamp = tags.timeInText ? `[${clock(message.ts)}] ` : "";
    // What a line holds besides the text: ":source COMMAND target :" and CRLF,
    // and for an action the CTCP wrapping.
    const around = byteLength(`:${source} ${command} ${target} :\r\n`) +
      // \x01ACTION, a space and \x01 around each piece (ctcp("ACTION", "") has no space).
      (message.action ? byteLength(ctcp("ACTION", "x")) - 1 : 0);
    const pieces = splitText(stamp + message.text, LINE_MAX - around);
    return pieces.map((piece, i) => {
      const lineTags: [string, string][] = [];
      if (tags.batch !== undefined) lineTags.push(["batch", tags.batch]);
      if (tags.time) lineTags.push(["time", serverTime(message.ts)]);
      if (tags.msgid) {
        lineTags.push(["msgid", i === 0 ? `${message.id}` : `${message.id}.${i + 1}`]);
      }
      return formatLine({
        tags: lineTags,
        source,
        command,
        params: [target, message.action ? ctcp("ACTION", piece) : piece],
      });
    });
  }

  /**
   * Lines of text from the server as NOTICEs to this client, each split
   * where it would not fit in 512 bytes (a search's answer).
   */
  notices(lines: readonly string[]): string[] {
    const around = byteLength(`:${this.#server.name} NOTICE ${this.nick} :\r\n`);
    return lines.flatMap((line) =>
      splitText(line, LINE_MAX - around).map((piece) => this.fromServer("NOTICE", this.nick, piece))
    );
  }

  /** NAMES' 353 lines for `room` (as many as fit in 512 bytes each), then 366. */
  names(room: string, nicks: readonly string[]): string[] {
    return [
      ...this.spread("353", ["=", room], nicks),
      this.numeric("366", room, "End of /NAMES list."),
    ];
  }

  /**
   * A numeric whose last parameter lists `items` separated by spaces, as
   * many lines as it takes to keep each within 512 bytes (353 names, 319
   * channels, 303 nicks). None when there are no items.
   */
  spread(code: string, params: readonly string[], items: readonly string[]): string[] {
    const lines: string[] = [];
    const head = byteLength(this.numeric(code, ...params, "x")) + 2;
    let batch: string[] = [];
    let size = head;
    for (const item of items) {
      const more = byteLength(item) + 1;
      if (batch.length > 0 && size + more > LINE_MAX) {
        lines.push(this.numeric(code, ...params, batch.join(" ")));
        batch = [];
        size = head;
      }
      batch.push(item);
      size += more;
    }
    if (batch.length > 0) lines.push(this.numeric(code, ...params, batch.join(" ")));
    return lines;
  }

  /** One WHO reply line (352) for a member seen in `room` (or `*`). */
  who(room: string, nick: string, via: Via, away: boolean): string {
    return this.numeric(
      "352",
      room,
      userOf(via),
      this.#server.name,
      this.#server.name,
      nick,
      away ? "G" : "H",
      `0 ${realName(nick, via)}`,
    );
  }
}

/** "2026-12-05 07:41" in UTC: the time put in the text for a client without `server-time`. */
function clock(ts: number): string {
  return new Date(ts).toISOString().slice(0, 16).replace("T", " ");
}

/**
 * Writes a message as one line of at most 512 bytes with its CRLF (tags
 * aside), cutting its longest parameters, between characters, until it
 * fits. What is too long is almost always what a client sent and is echoed
 * (an unknown command, a channel or nickname refused) or a member's words
 * (a topic, a reason, an away message) that fit the hub's limits in
 * characters but not IRC's in bytes. A chat message is split instead, by
 * {@linkcode Replies.message}.
 */
export function fitLine(m: OutgoingMessage): string {
  let line = formatLine(m);
  const params = [...m.params];
  // Each round cuts one parameter by what is over; a few rounds at most.
  for (let round = 0; round <= params.length && byteLength(line) + 2 > LINE_MAX; round++) {
    const over = byteLength(line) + 2 - LINE_MAX;
    let longest = 0;
    params.forEach((p, i) => {
      if (byteLength(p) > byteLength(params[longest] ?? "")) longest = i;
    });
    params[longest] = cutToBytes(params[longest] ?? "", byteLength(params[longest] ?? "") - over);
    line = formatLine({ ...m, params });
  }
  return line;
}

/** The longest start of `text` of at most `max` UTF-8 bytes, cut between code points. */
function cutToBytes(text: string, max: number): string {
  let bytes = 0;
  let end = 0;
  for (const c of text) {
    bytes += byteLength(c);
    if (bytes > max) break;
    end += c.length;
  }
  return text.slice(0, end);
}
