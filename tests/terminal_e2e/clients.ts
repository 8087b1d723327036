/**
 * What the terminal end-to-end tests share: the two terminal clients the
 * README names, started in tmux against a test server, signing in as a
 * person would; and the other side, WebSocket members whose events are
 * awaited with a deadline (a terminal line that never arrives must fail the
 * test, not hang it).
 *
 * @module
 */

import type { ChatMessage } from "../../common/protocol.ts";
import type { Listening } from "../kit/server.ts";
import { bounded, Terminal } from "../kit/tmux.ts";
import { connectWs, type EventOf, type WsClient } from "../kit/ws_client.ts";

/** `nc HOST PORT` (OpenBSD's) on the server's terminal port, in tmux. */
export function nc(server: Pick<Listening, "tcp">): Promise<Terminal> {
  return Terminal.start(["nc", server.tcp.hostname, `${server.tcp.port}`]);
}

/** `telnet HOST PORT` (Debian's, inetutils) on the server's terminal port, in tmux. */
export function telnet(server: Pick<Listening, "tcp">): Promise<Terminal> {
  return Terminal.start(["telnet", server.tcp.hostname, `${server.tcp.port}`]);
}

/** Answers the nickname prompt with `nick` and waits for the welcome. */
export async function signIn(term: Terminal, nick: string): Promise<void> {
  await term.waitFor("Your nickname:");
  const from = await term.mark();
  await term.line(nick);
  await term.waitFor(new RegExp(`^-- Hello ${nick}! `), from);
}

/** A row that shows `nick` saying `text`, after a time stamp and an optional `[#room]` label. */
export function saidRow(nick: string, text: string, label?: string): RegExp {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(
    `^\\[\\d\\d:\\d\\d\\] ${label ? `\\[${escape(label)}\\] ` : ""}<${escape(nick)}> ${
      escape(text)
    }$`,
  );
}

/** A WebSocket member in #lobby and `rooms` (entered in order after the welcome). */
export async function member(
  server: Pick<Listening, "http">,
  nick: string,
  ...rooms: string[]
): Promise<WsClient> {
  const client = await connectWs(server, nick);
  for (const room of rooms) {
    client.send({ type: "enter", room });
    await bounded(client.next("entered", (e) => e.room === room), `entered ${room}`);
  }
  return client;
}

/** Waits until `client` is sent `from`'s message `text` in `room`. */
export function heard(
  client: WsClient,
  from: string,
  text: string,
  room = "#lobby",
): Promise<EventOf<"message">> {
  return bounded(
    client.next("message", (m) => m.from === from && m.text === text && m.room === room),
    `message ${JSON.stringify(text)} from ${from} in ${room}`,
  );
}

/** The texts of every message `client` has been sent, to check what it was not sent. */
export function texts(client: WsClient): string[] {
  return client.events.filter((e): e is ChatMessage => e.type === "message").map((m) => m.text);
}
