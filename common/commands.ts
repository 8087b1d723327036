/**
 * The `/` commands people type, in a terminal or in the page's composer.
 * Both parse a typed line here, so the two never disagree on a command.
 *
 * Browser compatible: no Deno APIs.
 *
 * @module
 */

import type { ClientMessage } from "./protocol.ts";
import { clip } from "./message.ts";
import { ROOM_SIGN, typedRoom } from "./room.ts";

/** What a typed line asks for. */
export type Command =
  /**
   * Something for the server: a message, an action, a rename, a member
   * list, a room to enter. Frames that act in a room come without one: the
   * caller puts in its current room ({@linkcode withRoom}).
   */
  | { type: "send"; message: ClientMessage }
  | { type: "help" }
  | { type: "quit"; text: string }
  /** The messages before the oldest shown by the last `/history` (terminals page back with it). */
  | { type: "older"; count?: number }
  /** Ring the terminal's bell for lines that name you and private messages (`on`), or stop. */
  | { type: "bell"; on: boolean }
  /** A line that looked like a command but was not a valid one. */
  | { type: "invalid"; code: "unknown_command" | "bad_command"; message: string };

/** Usage and description of every command, for `/help`. */
export const COMMANDS: readonly (readonly [usage: string, description: string])[] = [
  ["/join #ROOM", "enter a room (making it if new) and talk there; again to switch to it"],
  ["/part [#ROOM] [WHY]", "leave a room (the current one if not named)"],
  ["/rooms", "list the rooms, with how many are in each and their topics"],
  ["/topic [TEXT]", "show the current room's topic, or set it (/topic -clear clears it)"],
  ["/nick NAME", "change your nickname"],
  ["/who [#ROOM]", "list who is in the current room (or ROOM) and how they are connected"],
  ["/me ACTION", "say what you are doing (/me waves)"],
  ["/history [N]", "show the last N messages of the current room (default 50)"],
  ["/history more [N]", "show the N messages before those /history showed last"],
  ["/msg NICK TEXT", "send a private message"],
  ["/search TEXT", "find messages of your rooms holding TEXT (any case), newest first"],
  ["/bell [on|off]", "ring the terminal's bell when a line names you or a private message comes"],
  ["/help", "show this list"],
  ["/quit [MESSAGE]", "leave the chat"],
  ["//TEXT", "say a line that starts with /"],
];

/** What `/topic` takes as "clear the topic". */
const CLEAR_TOPIC = /^-(clear|delete)$/i;

const ALIASES: Readonly<Record<string, string>> = {
  m: "msg",
  tell: "msg",
  names: "who",
  "?": "help",
  exit: "quit",
  bye: "quit",
  j: "join",
  enter: "join",
  leave: "part",
  list: "rooms",
  channels: "rooms",
  find: "search",
};

/** Parses one typed line into a {@linkcode Command}. */
export function parseCommandLine(line: string): Command {
  if (!line.startsWith("/")) return send({ type: "say", text: line });
  if (line.startsWith("//")) return send({ type: "say", text: line.slice(1) });
  const [, name = "", rest = ""] = /^\/(\S*)\s*([\s\S]*)$/.exec(line) ?? [];
  const lower = name.toLowerCase();
  switch (ALIASES[lower] ?? lower) {
    case "me":
      return rest.trim() ? send({ type: "me", text: rest }) : usage("/me ACTION");
    case "msg": {
      const [, to = "", text = ""] = /^(\S+)\s+([\s\S]+)$/.exec(rest) ?? [];
      return to && text.trim() ? send({ type: "msg", to, text }) : usage("/msg NICK TEXT");
    }
    case "nick":
      return rest.trim() ? send({ type: "nick", nick: rest.trim() }) : usage("/nick NAME");
    case "who": {
      // A first word typed with any "#" (full-width too) is a room of one's own.
      const word = rest.trim().split(/\s+/)[0] ?? "";
      return send(ROOM_SIGN.test(word) ? { type: "who", room: word } : { type: "who" });
    }
    case "history": {
      const [, more = "", number = ""] = /^(more\b)?\s*(.*)$/i.exec(rest.trim()) ?? [];
      if (number === "") return more ? { type: "older" } : send({ type: "history" });
      const count = /^\d{1,6}$/.test(number) ? Number(number) : NaN;
      if (!(count > 0)) return usage("/history [more] [N], N a positive number");
      return more ? { type: "older", count } : send({ type: "history", count });
    }
    case "join": {
      const room = typedRoom(rest);
      return room ? send({ type: "enter", room }) : usage("/join #ROOM");
    }
    case "part": {
      // A first word typed with any "#" (full-width too) is the room, not a reason.
      const [, word = "", more = ""] = /^(\S*)\s*([\s\S]*)$/.exec(rest.trim()) ?? [];
      const named = ROOM_SIGN.test(word);
      const room = named ? word : "";
      const why = named ? more : rest.trim();
      const part: ClientMessage & { type: "part" } = { type: "part" };
      if (room) part.room = room;
      if (why) part.reason = why;
      return send(part);
    }
    case "rooms":
      return send({ type: "rooms" });
    case "topic": {
      const text = rest.trim();
      if (text === "") return send({ type: "topic" });
      // As irssi's `/topic -delete`: an empty topic clears it.
      return send({ type: "topic", text: CLEAR_TOPIC.test(text) ? "" : text });
    }
    case "search": {
      const text = rest.trim();
      return text ? send({ type: "search", text }) : usage("/search TEXT");
    }
    case "help":
      return { type: "help" };
    case "bell": {
      const word = rest.trim().toLowerCase();
      if (word === "" || word === "on") return { type: "bell", on: true };
      return word === "off" ? { type: "bell", on: false } : usage("/bell [on|off]");
    }
    case "quit":
      return { type: "quit", text: rest.trim() };
    default:
      return {
        type: "invalid",
        code: "unknown_command",
        message: `Unknown command /${clip(name, 32)}. Type /help for the list.`,
      };
  }
}

/** A frame that acts in a room: the current one if it names none. */
type RoomFrame = Extract<
  ClientMessage,
  { type: "say" | "me" | "who" | "history" | "part" | "topic" }
>;

/**
 * True if `message` acts in the current room and names none: plain lines,
 * `/me`, `/who`, `/history`, `/topic` and `/part` without a room. A member
 * in no room has no current room to put in it ({@linkcode withRoom}).
 */
export function needsRoom(message: ClientMessage): message is RoomFrame {
  switch (message.type) {
    case "say":
    case "me":
    case "who":
    case "history":
    case "part":
    case "topic":
      return message.room === undefined || message.room === "";
    default:
      return false;
  }
}

/**
 * A frame that acts in a room, put in `room` unless it names one already
 * ({@linkcode needsRoom}). Other frames are returned as they are.
 */
export function withRoom(message: ClientMessage, room: string): ClientMessage {
  return needsRoom(message) ? { ...message, room } : message;
}

function send(message: ClientMessage): Command {
  return { type: "send", message };
}

function usage(text: string): Command {
  return { type: "invalid", code: "bad_command", message: `Usage: ${text}` };
}
