/**
 * Types for the part of `npm:irc-framework` (4.14) the tests use: the
 * package ships JavaScript only, and a test must not see its client as
 * `any`. Each event's fields are those its handler in
 * `src/commands/handlers/` fills in, as far as the tests read them.
 *
 * @module
 */

/** What `Client.connect` is given. */
export interface ConnectOptions {
  host: string;
  port: number;
  nick: string;
  username?: string;
  gecos?: string;
  password?: string;
  /** Reconnect after a drop; off in tests, or a closed client would come back. */
  auto_reconnect?: boolean;
  /** Seconds between the client's own PINGs; 0 for none (no timer left behind). */
  ping_interval?: number;
  /** Seconds of silence before the client gives up; 0 for none (no timer left behind). */
  ping_timeout?: number;
  enable_echomessage?: boolean;
  /** Bytes of text per PRIVMSG the client sends. */
  message_max_length?: number;
  /** The CTCP VERSION answer; null to answer none. */
  version?: string | null;
}

/** A message tag map, as parsed. */
export type Tags = Record<string, string>;

/** A PRIVMSG, NOTICE or ACTION received. */
export interface MessageEvent {
  nick: string;
  ident: string;
  hostname: string;
  target: string;
  message: string;
  tags: Tags;
  /** The server-time tag in ms, when the server sent one. */
  time?: number;
  /** The batch it came in, if any. */
  batch?: { id: string; type: string; params: string[] };
}

/** Every event a test listens to, by name. */
export interface ClientEvents {
  registered: { nick: string; tags: Tags };
  raw: { line: string; from_server: boolean };
  privmsg: MessageEvent;
  notice: MessageEvent;
  action: MessageEvent;
  "ctcp request": { nick: string; target: string; type: string; message: string };
  "ctcp response": { nick: string; target: string; type: string; message: string };
  join: { nick: string; ident: string; hostname: string; channel: string };
  part: { nick: string; ident: string; channel: string; message: string };
  quit: { nick: string; ident: string; message: string };
  nick: { nick: string; new_nick: string; ident: string };
  topic: { nick?: string; channel: string; topic: string };
  userlist: { channel: string; users: { nick: string; ident: string }[] };
  "batch end chathistory": { id: string; type: string; params: string[] };
  "server options": { options: Record<string, string | boolean | string[]> };
  /** The connection is closed for good (true if by an error). */
  close: boolean;
}

/** An IRC client, as irc-framework's `Client`. */
export class Client {
  constructor(options?: Partial<ConnectOptions>);
  /** Connects and registers (CAP LS 302, NICK, USER). */
  connect(options?: ConnectOptions): void;
  on<K extends keyof ClientEvents>(event: K, listener: (event: ClientEvents[K]) => void): this;
  once<K extends keyof ClientEvents>(event: K, listener: (event: ClientEvents[K]) => void): this;
  removeListener<K extends keyof ClientEvents>(
    event: K,
    listener: (event: ClientEvents[K]) => void,
  ): this;
  /** Adds capabilities to request besides those it wants by itself. */
  requestCap(cap: string | string[]): void;
  /** Sends one line, its parameters joined (the last one given a `:` when needed). */
  raw(...args: (string | number)[]): void;
  say(target: string, message: string): void;
  notice(target: string, message: string): void;
  action(target: string, message: string): void;
  ctcpRequest(target: string, type: string, ...params: string[]): void;
  ctcpResponse(target: string, type: string, ...params: string[]): void;
  join(channel: string, key?: string): void;
  part(channel: string, message?: string): void;
  setTopic(channel: string, topic: string): void;
  changeNick(nick: string): void;
  /** Sends QUIT, then ends the socket. */
  quit(message?: string): void;
  readonly connected: boolean;
  readonly user: { nick: string };
  readonly network: { cap: { enabled: string[] } };
}
