/**
 * What the server prints once it listens: where the page is, a line to paste
 * into a terminal, and where health and metrics are. A person reads it, and
 * so do tests of the real program (they find the ports in it), so its shape
 * is kept.
 *
 * @module
 */

import type { ChatServer } from "./app.ts";
import { type Config, redactUrl } from "./config.ts";
import type { Logger } from "./log.ts";

/**
 * Prints the {@linkcode banner} to standard output (with `print`, in order
 * with the log), then logs that the server started.
 */
export function announce(
  server: Pick<ChatServer, "http" | "tcp" | "irc">,
  config: Pick<Config, "db" | "tls" | "redis">,
  log: Logger,
  print: (line: string) => void = console.log,
): void {
  const tls = config.tls !== undefined;
  for (const line of banner(server, tls)) print(line);
  log.info("started", {
    http: `${server.http.hostname}:${server.http.port}`,
    tcp: `${server.tcp.hostname}:${server.tcp.port}`,
    irc: `${server.irc.hostname}:${server.irc.port}`,
    tls,
    ...(config.redis === "" ? { db: config.db } : { redis: redactUrl(config.redis) }),
  });
}

/** The lines printed at start, for a server serving TLS or not. */
export function banner(server: Pick<ChatServer, "http" | "tcp" | "irc">, tls: boolean): string[] {
  const web = `${tls ? "https" : "http"}://${urlHost(server.http.hostname)}:${server.http.port}/`;
  const tcpHost = displayHost(server.tcp.hostname);
  const { port } = server.tcp;
  const ircHost = displayHost(server.irc.hostname);
  const ircPort = server.irc.port;
  return [
    `chat: page      ${web}`,
    tls
      ? `chat: terminal  openssl s_client -quiet -connect ${urlHost(tcpHost)}:${port}`
      : `chat: terminal  nc ${tcpHost} ${port}   (or: telnet ${tcpHost} ${port})`,
    tls
      ? `chat: irc       irssi, then /connect -tls ${ircHost} ${ircPort}   (any IRC client: server ${
        urlHost(ircHost)
      }/${ircPort}, TLS)`
      : `chat: irc       irssi -c ${ircHost} -p ${ircPort}   (any IRC client: server ${
        urlHost(ircHost)
      }/${ircPort})`,
    `chat: health    ${web}healthz   metrics ${web}metrics`,
  ];
}

// A wildcard address is not one a browser or nc can connect to.
function displayHost(hostname: string): string {
  return hostname === "0.0.0.0" || hostname === "::" ? "localhost" : hostname;
}

function urlHost(hostname: string): string {
  const host = displayHost(hostname);
  return host.includes(":") ? `[${host}]` : host;
}
