/**
 * An IRC client for tests at the level of lines: a {@linkcode TcpClient} on
 * the IRC port (it keeps every byte and CRLF line the server sends and lets
 * a test await the next line it expects), with the few steps every IRC test
 * takes: registering with or without IRCv3 capabilities, and reading a line
 * as a message. Exact numerics are what these tests check, so nothing here
 * interprets the server's lines beyond parsing them.
 *
 * No sleeps: to show that something did not arrive, a test sends
 * `PING :marker` after it and reads up to the `PONG`; the server answers
 * lines in order, so whatever came before the PONG is all there is.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type IrcMessage, parseLine } from "../../server/transport/irc/message.ts";
import type { Listening } from "./server.ts";
import { dial } from "./socket.ts";
import { TcpClient } from "./tcp_client.ts";

export { TcpClient };

/** Connects to the server's IRC port without saying anything. */
export async function openIrc(server: Pick<Listening, "irc">): Promise<TcpClient> {
  return new TcpClient(await dial(server.irc));
}

/** Options for {@linkcode registerIrc}. */
export interface RegisterOptions {
  /** Capabilities to negotiate (`CAP LS 302`, `CAP REQ`, `CAP END`); none: no CAP at all. */
  caps?: readonly string[];
  /** The user name USER gives. @default {nick} */
  user?: string;
}

/**
 * Registers an open connection as `nick` and returns every line up to the
 * end of the MOTD (376) or its absence (422). Fails if the server refuses.
 */
export async function registerIrc(
  client: TcpClient,
  nick: string,
  options: RegisterOptions = {},
): Promise<string[]> {
  const { caps, user = nick } = options;
  if (caps !== undefined) {
    await client.send("CAP LS 302");
    if (caps.length > 0) await client.send(`CAP REQ :${caps.join(" ")}`);
  }
  await client.send(`NICK ${nick}`);
  await client.send(`USER ${user} 0 * :${nick} in a test`);
  if (caps !== undefined) await client.send("CAP END");
  const lines = await client.readLinesUntil((line) =>
    isNumeric(line, "376") || isNumeric(line, "422") || isNumeric(line, "432") ||
    isNumeric(line, "433") || line.startsWith("ERROR ")
  );
  const last = lines.at(-1) ?? "";
  assert.ok(isNumeric(last, "376") || isNumeric(last, "422"), `${nick} was refused: ${last}`);
  if (caps !== undefined && caps.length > 0) {
    const ack = lines.find((line) => / CAP \S+ (?:ACK|NAK) /.test(line));
    assert.match(ack ?? "", / CAP \S+ ACK /, `capabilities ${caps.join(" ")} were refused`);
  }
  return lines;
}

/** Connects and registers as `nick` (see {@linkcode registerIrc}); closes the connection if that fails. */
export async function connectIrc(
  server: Pick<Listening, "irc">,
  nick: string,
  options: RegisterOptions = {},
): Promise<TcpClient> {
  const client = await openIrc(server);
  try {
    await registerIrc(client, nick, options);
    return client;
  } catch (e) {
    await client.close();
    throw e;
  }
}

/** Every IRCv3 capability the server offers, for a client that wants them all. */
export const ALL_CAPS = [
  "batch",
  "draft/chathistory",
  "echo-message",
  "message-tags",
  "server-time",
] as const;

/** Parses a line the server sent; fails if it is not a message. */
export function parse(line: string): IrcMessage {
  const message = parseLine(line);
  assert.ok(message !== undefined, `not an IRC message: ${JSON.stringify(line)}`);
  return message;
}

/** True if `line` is the numeric `code` (`:server 001 nick …`). */
export function isNumeric(line: string, code: string): boolean {
  return parseLine(line)?.command === code;
}

/** A line match for {@linkcode TcpClient.readUntil}: the numeric `code`. */
export function numeric(code: string): (line: string) => boolean {
  return (line) => isNumeric(line, code);
}

/** A line match: the command `command` (`PRIVMSG`, `JOIN`…) from `nick`, if given. */
export function command(name: string, nick?: string): (line: string) => boolean {
  return (line) => {
    const m = parseLine(line);
    return m?.command === name && (nick === undefined || m.source?.split("!")[0] === nick);
  };
}

let markers = 0;

/**
 * Sends `PING :marker` and returns every line that came before its `PONG`
 * (the PONG excluded): all the server had to say to what was sent before.
 */
export async function drain(client: TcpClient): Promise<string[]> {
  const marker = `marker-${++markers}`;
  await client.send(`PING :${marker}`);
  const lines = await client.readLinesUntil((line) => {
    const m = parseLine(line);
    return m?.command === "PONG" && m.params.at(-1) === marker;
  });
  return lines.slice(0, -1);
}
