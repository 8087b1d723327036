/**
 * The operator's console: when the server runs in a terminal, what is typed
 * into its standard input is said to `#lobby` as `server`, and a few
 * commands manage the rooms and the connections, as the seed's server window
 * did: every connection listed with its address (`/who`, `/conns`), a
 * private message to one member (`/msg`), and closing them (`/kick`, by
 * nickname or by address). The console also shows what everyone in every
 * room sees, lines from rooms other than `#lobby` labeled with the room's
 * name, as a terminal member in several rooms sees them.
 *
 * It is drawn by `console_tty.ts` (a line editor, output printed above the
 * line being typed); here are its commands, which print through whatever
 * `print` they are given, and what it shows of the rooms.
 *
 * @module
 */

import { type Hub, type Told } from "./hub/hub.ts";
import { SERVER_NICK } from "../common/nick.ts";
import { LOBBY, type ServerEvent } from "../common/protocol.ts";
import { clip, toOneLine } from "../common/message.ts";
import { counted } from "../common/wording.ts";
import { renderEvent } from "./transport/terminal/render.ts";
import type { ConnectionList } from "./transport/limits.ts";
import type { Slot } from "./transport/slot.ts";
import { type ConnectionRow, connectionTable, sortRows } from "./console_table.ts";
import { network } from "./address.ts";

/** What the console acts on: the hub, and this server's open connections. */
export interface Operated {
  readonly hub: Hub;
  /** Every open connection, joined or not (`ChatServer.connections`). */
  readonly connections: ConnectionList;
  /** The clock connection ages are measured by. @default {Date.now} */
  readonly now?: () => number;
}

/** The console's commands, for its `/help`. */
export const CONSOLE_HELP: readonly string[] = [
  "-- Operator console: a line is said to #lobby as server. Commands:",
  "--   /say #ROOM TEXT      say something in another room",
  "--   /msg NICK TEXT       a private message from the operator to one member",
  "--   /topic #ROOM [TEXT]  show or set a room's topic",
  "--   /rooms               list the live rooms",
  "--   /who [#ROOM]         list every connection (a room's members): address, age, idle, queue",
  "--   /conns ADDRESS       list the connections from one address (for IPv6, its /64)",
  "--   /kick NICK [WHY]     disconnect a member, from every room",
  "--   /kick ADDRESS [WHY]  close every connection from an address (its /64), and ban it",
  "--   /help                show this list",
];

/** The room name an event carries, shown unless it is #lobby's. */
function labelOf(event: ServerEvent): string | undefined {
  const room = "room" in event ? event.room : undefined;
  return room === LOBBY ? undefined : room;
}

/**
 * Shows the operator every room's public events, as `print` takes lines;
 * returns the function that stops it.
 */
export function watchRooms(hub: Hub, print: (lines: string[]) => void): () => void {
  return hub.watch((event) => {
    const lines = renderEvent(event, undefined, labelOf(event));
    if (lines.length > 0) print(lines);
  });
}

/** What the console says as it starts. */
export const CONSOLE_HELP_HINT: readonly string[] = [
  "chat: console: type a line to say it in #lobby as server; /help for commands",
];

/** Most rooms `/rooms` prints: the biggest. */
const CONSOLE_ROOMS = 100;

/** Longest address taken (an IPv6 address with a zone is at most 45 characters and the zone). */
const ADDRESS_MAX = 64;

/**
 * True if a console argument is an address, not a nickname: a nickname has
 * neither `.` nor `:` (`common/nick.ts`), every IPv4 and IPv6 address has one.
 */
function isAddress(arg: string): boolean {
  return arg.length <= ADDRESS_MAX && /[.:]/.test(arg) && /^[\w.:%-]+$/.test(arg);
}

/** User text repeated in an answer: clipped, and safe on one line. */
function shown(text: string): string {
  return toOneLine(clip(text, 40));
}

/** A connection's row in the console's table. */
function rowOf(slot: Slot): ConnectionRow {
  return {
    nick: slot.nick,
    via: slot.via,
    address: slot.address,
    since: slot.since,
    heard: slot.heard,
    queued: slot.queued,
  };
}

/** Carries out one console line. */
export function operate(target: Operated, line: string, print: (line: string) => void): void {
  const { hub } = target;
  const text = line.trim();
  if (text === "") return;
  const [, command = "", arg = ""] = /^\/(\S+)\s*(.*)$/.exec(text) ?? [];
  if (!text.startsWith("/") || text.startsWith("//")) {
    if (!hub.announce(text.startsWith("//") ? text.slice(1) : text)) {
      print("! Nothing was said: the message is empty or too long.");
    }
    return;
  }
  const [, room = "", rest = ""] = /^(#\S*)\s*(.*)$/.exec(arg) ?? [];
  const [, first = "", after = ""] = /^(\S+)\s*(.*)$/.exec(arg) ?? [];
  switch (command.toLowerCase()) {
    case "say":
      if (!room || !rest) return print("! Usage: /say #ROOM TEXT");
      if (!hub.announce(rest, room)) {
        print(`! Nothing was said: the room name or the message is not valid.`);
      }
      return;
    case "msg": {
      if (!first || !after) return print("! Usage: /msg NICK TEXT");
      const show = (told: Told) =>
        told.ok
          ? renderEvent(told.value, SERVER_NICK).forEach(print)
          : print(`! Nothing was sent: ${told.reason}`);
      const told = hub.tell(first, after);
      return told instanceof Promise ? void told.then(show) : show(told);
    }
    case "topic": {
      if (!room) return print("! Usage: /topic #ROOM [TEXT]");
      if (rest === "") {
        const topic = hub.topic(room);
        return print(
          topic
            ? `-- Topic of ${shown(room)}: ${topic.text} (set by ${topic.by})`
            : `-- ${shown(room)} has no topic.`,
        );
      }
      if (!hub.setTopic(room, rest)) {
        print("! The topic was not set: the room name or the text is not valid.");
      }
      return;
    }
    case "rooms": {
      const rooms = [...hub.rooms()].sort((a, b) => b.size - a.size);
      if (rooms.length === 0) return print("-- No live rooms.");
      print(`-- ${counted(rooms.length, "room")}:`);
      for (const r of rooms.slice(0, CONSOLE_ROOMS)) {
        print(`--   ${r.name} (${r.size})${r.topic ? `: ${r.topic.text}` : ""}`);
      }
      if (rooms.length > CONSOLE_ROOMS) print(`--   and ${rooms.length - CONSOLE_ROOMS} more`);
      return;
    }
    case "who":
      if (arg && !room) return print("! Usage: /who [#ROOM]");
      return (room ? roomTable(target, room) : everyone(target)).forEach(print);
    case "conns": {
      if (!isAddress(arg)) {
        return print("! Usage: /conns ADDRESS (an IP address, as /who shows it)");
      }
      const from = network(arg);
      const slots = target.connections.from(from);
      if (slots.length === 0) return print(`-- No connections from ${from}.`);
      const title = `${counted(slots.length, "connection")} from ${from}:`;
      return table(target, title, slots.map(rowOf)).forEach(print);
    }
    case "kick":
      if (!first) return print("! Usage: /kick NICK [WHY] or /kick ADDRESS [WHY]");
      if (isAddress(first)) return print(kickAddress(target, first, after));
      if (!hub.kick(first, after)) print(`! Nobody called "${shown(first)}" is here.`);
      return;
    case "help":
      CONSOLE_HELP.forEach((l) => print(l));
      return;
    default:
      print(`! Unknown command /${shown(command)}. Type /help.`);
  }
}

function table(target: Operated, title: string, rows: ConnectionRow[]): string[] {
  return connectionTable(title, sortRows(rows), (target.now ?? Date.now)());
}

/** `/who`: every connection of this server, joined or not. */
function everyone(target: Operated): string[] {
  const rows = [...target.connections].map(rowOf);
  if (rows.length === 0) return ["-- No connections."];
  const joined = rows.filter((row) => row.nick !== undefined).length;
  const title = `${counted(rows.length, "connection")}: ${joined} joined, ` +
    `${rows.length - joined} not joined`;
  return table(target, title, rows);
}

/**
 * `/who #ROOM`: the room's members, each with its connection (a member with
 * none here is another node's, and shows only its name and how it is connected).
 */
function roomTable(target: Operated, room: string): string[] {
  const members = target.hub.members(room);
  if (members.length === 0) return [`-- Nobody is in ${shown(room)}.`];
  const slots = new Map<string, Slot>();
  for (const slot of target.connections) {
    const nick = slot.nick;
    if (nick !== undefined) slots.set(nick, slot);
  }
  const rows = members.map((member): ConnectionRow => {
    const slot = slots.get(member.nick);
    return slot ? rowOf(slot) : {
      nick: member.nick,
      via: member.via,
      address: undefined,
      since: undefined,
      heard: undefined,
      queued: 0,
    };
  });
  return table(target, `${members.length} in ${target.hub.room(room)?.name ?? room}:`, rows);
}

/**
 * `/kick ADDRESS`: every connection from it (from its /64, for IPv6) closed,
 * its members kicked from every room as `/kick NICK` does, and the address
 * kept from joining for `--kick-ban`.
 */
function kickAddress(target: Operated, given: string, why: string): string {
  const address = network(given);
  const slots = target.connections.from(address);
  if (slots.length === 0) return `! No connections from ${address}.`;
  let kicked = 0;
  for (const slot of slots) {
    const nick = slot.nick;
    if (nick !== undefined && target.hub.kick(nick, why)) kicked++;
    else slot.close();
  }
  target.hub.ban(address);
  const members = kicked > 0 ? ` (${counted(kicked, "member")} kicked)` : "";
  return `-- Closed ${counted(slots.length, "connection")} from ${address}${members}.`;
}
