/**
 * The operator's console: when the server runs in a terminal, what is typed
 * into its standard input is said to `#lobby` as `server`, and a few
 * commands manage the rooms. The console also shows what everyone in every
 * room sees, lines from rooms other than `#lobby` labeled with the room's
 * name, as a terminal member in several rooms sees them.
 *
 * @module
 */

import type { Hub } from "./hub/hub.ts";
import { LOBBY, type ServerEvent } from "../common/protocol.ts";
import { counted, memberList } from "../common/wording.ts";
import { renderEvent } from "./transport/terminal/render.ts";
import { LineDecoder, lineTooLong } from "./transport/terminal/lines.ts";

/** The console's commands, for its `/help`. */
export const CONSOLE_HELP: readonly string[] = [
  "-- Operator console: a line is said to #lobby as server. Commands:",
  "--   /say #ROOM TEXT     say something in another room",
  "--   /topic #ROOM [TEXT] show or set a room's topic",
  "--   /rooms              list the live rooms",
  "--   /who [#ROOM]        list who is in a room (#lobby if not named)",
  "--   /kick NICK [WHY]    disconnect a member, from every room",
  "--   /help               show this list",
];

/** The room name an event carries, shown unless it is #lobby's. */
function labelOf(event: ServerEvent): string | undefined {
  const room = "room" in event ? event.room : undefined;
  return room === LOBBY ? undefined : room;
}

/**
 * Runs the console until `input` ends. `print` shows one line to the
 * operator.
 */
export async function runConsole(
  hub: Hub,
  input: ReadableStream<Uint8Array>,
  print: (line: string) => void,
): Promise<void> {
  const unwatch = hub.watch((event) =>
    renderEvent(event, undefined, labelOf(event)).forEach(print)
  );
  const lines = new LineDecoder();
  try {
    for await (const chunk of input) {
      for (const event of lines.push(chunk)) {
        if (event.type === "line") operate(hub, event.text, print);
        else print(`! ${lineTooLong(event.limit)}`);
      }
    }
  } finally {
    unwatch();
  }
}

/** Most rooms `/rooms` prints: the biggest. */
const CONSOLE_ROOMS = 100;

/** Carries out one console line. */
export function operate(hub: Hub, line: string, print: (line: string) => void): void {
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
  switch (command.toLowerCase()) {
    case "say":
      if (!room || !rest) return print("! Usage: /say #ROOM TEXT");
      if (!hub.announce(rest, room)) {
        print(`! Nothing was said: the room name or the message is not valid.`);
      }
      return;
    case "topic": {
      if (!room) return print("! Usage: /topic #ROOM [TEXT]");
      if (rest === "") {
        const topic = hub.topic(room);
        return print(
          topic
            ? `-- Topic of ${room}: ${topic.text} (set by ${topic.by})`
            : `-- ${room} has no topic.`,
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
    case "who": {
      const where = room || LOBBY;
      const members = hub.members(where);
      print(
        members.length
          ? `-- ${members.length} in ${where}: ${memberList(members)}`
          : `-- Nobody is in ${where}.`,
      );
      return;
    }
    case "kick": {
      const [, nick = "", why = ""] = /^(\S+)\s*(.*)$/.exec(arg) ?? [];
      if (!nick) return print("! Usage: /kick NICK [WHY]");
      if (!hub.kick(nick, why)) print(`! Nobody called "${nick}" is here.`);
      return;
    }
    case "help":
      CONSOLE_HELP.forEach((l) => print(l));
      return;
    default:
      print(`! Unknown command /${command}. Type /help.`);
  }
}
