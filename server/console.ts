/**
 * The operator's console: when the server runs in a terminal, what is typed
 * into its standard input is said to the room as `server`, and a few commands
 * manage the room. The console also shows what everyone in the room sees.
 *
 * @module
 */

import type { Room } from "./hub/room.ts";
import { memberList } from "../common/wording.ts";
import { renderEvent } from "./transport/terminal/render.ts";
import { LineDecoder, lineTooLong } from "./transport/terminal/lines.ts";

/** The console's commands, for its `/help`. */
export const CONSOLE_HELP: readonly string[] = [
  "-- Operator console: a line is said to the room as server. Commands:",
  "--   /who              list members",
  "--   /kick NICK [WHY]  disconnect a member",
  "--   /help             show this list",
];

/**
 * Runs the console until `input` ends. `print` shows one line to the
 * operator.
 */
export async function runConsole(
  room: Room,
  input: ReadableStream<Uint8Array>,
  print: (line: string) => void,
): Promise<void> {
  const unwatch = room.watch((event) => renderEvent(event, undefined).forEach(print));
  const lines = new LineDecoder();
  try {
    for await (const chunk of input) {
      for (const event of lines.push(chunk)) {
        if (event.type === "line") operate(room, event.text, print);
        else print(`! ${lineTooLong(event.limit)}`);
      }
    }
  } finally {
    unwatch();
  }
}

/** Carries out one console line. */
export function operate(room: Room, line: string, print: (line: string) => void): void {
  const text = line.trim();
  if (text === "") return;
  const [, command = "", arg = ""] = /^\/(\S+)\s*(.*)$/.exec(text) ?? [];
  if (!text.startsWith("/") || text.startsWith("//")) {
    if (!room.announce(text.startsWith("//") ? text.slice(1) : text)) {
      print("! Nothing was said: the message is empty or too long.");
    }
    return;
  }
  switch (command.toLowerCase()) {
    case "who": {
      const members = room.members();
      print(
        members.length ? `-- ${members.length} here: ${memberList(members)}` : "-- Nobody is here.",
      );
      return;
    }
    case "kick": {
      const [, nick = "", why = ""] = /^(\S+)\s*(.*)$/.exec(arg) ?? [];
      if (!nick) return print("! Usage: /kick NICK [WHY]");
      if (!room.kick(nick, why)) print(`! Nobody called "${nick}" is here.`);
      return;
    }
    case "help":
      CONSOLE_HELP.forEach((l) => print(l));
      return;
    default:
      print(`! Unknown command /${command}. Type /help.`);
  }
}
