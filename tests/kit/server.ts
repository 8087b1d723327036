/**
 * A chat server in this process for a test: on 127.0.0.1 and free ports,
 * with flood control that never bites unless the test sets its own, shut
 * down when the test is done (its clients first, with `await using`). The
 * real program in its own process is in `main_process.ts`.
 *
 * @module
 */

import { type ChatOptions, type ChatServer, startChat } from "../../server/app.ts";

export type { ChatOptions, ChatServer };

/** Where a chat server listens: one started here, or one running in another process. */
export type Listening = Pick<ChatServer, "http" | "tcp" | "irc">;

/**
 * Flood control and a join rate that never bite: most tests send and join
 * faster than people do. Tests of those limits pass their own rates.
 */
export const UNLIMITED = { floodBurst: 1e9, floodRate: 1e9, joinRate: 1e9 } as const;

/**
 * Starts a server on 127.0.0.1, free ports and {@linkcode UNLIMITED} flood
 * control, unless `options` say otherwise. The caller shuts it down.
 */
export function startServer(options: ChatOptions = {}): ChatServer {
  return startChat({
    host: "127.0.0.1",
    port: 0,
    tcpPort: 0,
    ircPort: 0,
    ...UNLIMITED,
    ...options,
  });
}

/** Runs `fn` against a fresh server (see {@linkcode startServer}), and shuts it down after. */
export function withServer(fn: (server: ChatServer) => Promise<void>): Promise<void>;
/** Runs `fn` against a fresh server started with `options`, and shuts it down after. */
export function withServer(
  options: ChatOptions,
  fn: (server: ChatServer) => Promise<void>,
): Promise<void>;
export async function withServer(
  ...args:
    | [fn: (server: ChatServer) => Promise<void>]
    | [options: ChatOptions, fn: (server: ChatServer) => Promise<void>]
): Promise<void> {
  const [options, fn] = args.length === 1 ? [{}, args[0]] : args;
  const server = startServer(options);
  try {
    await fn(server);
  } finally {
    await server.shutdown();
  }
}

/** The URL of `path` on the server's HTTP side. */
export function httpUrl(server: Pick<Listening, "http">, path = "/"): string {
  return `http://${server.http.hostname}:${server.http.port}${path}`;
}
