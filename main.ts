/**
 * Starts the chat service: `deno task start [--host H] [--port P] [--tcp-port T]`.
 *
 * Parses flags, prepares the page, starts both listeners, prints where they
 * are, runs the operator console when standard input is a terminal, and shuts
 * down cleanly on SIGINT or SIGTERM.
 *
 * @module
 */

import { startChat } from "./server/app.ts";
import { loadAssets } from "./server/assets.ts";
import { parseConfig } from "./server/config.ts";
import { runConsole } from "./server/console.ts";
import { SqliteHistory, StoreError } from "./server/store.ts";

async function main(args: string[]): Promise<void> {
  const parsed = parseConfig(args);
  if (parsed.kind === "error") {
    console.error(`chat: ${parsed.message}`);
    Deno.exit(2);
  }
  if (parsed.kind === "help") {
    console.log(parsed.text);
    return;
  }
  const { config } = parsed;
  let history;
  try {
    history = new SqliteHistory(config.db, config.keep);
  } catch (e) {
    if (!(e instanceof StoreError)) throw e;
    console.error(`chat: --db ${config.db}: ${e.message}`);
    Deno.exit(1);
  }
  const assets = await loadAssets();
  let server;
  try {
    server = startChat({
      host: config.host,
      port: config.port,
      tcpPort: config.tcpPort,
      historyLimit: config.history,
      history,
      flood: { burst: config.floodBurst, perSecond: config.floodRate },
      caps: { perAddress: config.maxPerIp, total: config.maxClients },
      allowOrigins: config.allowOrigins,
    }, assets);
  } catch (e) {
    const { host, port, tcpPort } = config;
    if (e instanceof Deno.errors.AddrInUse || e instanceof Deno.errors.PermissionDenied) {
      console.error(`chat: cannot listen on ${host} port ${port} or ${tcpPort}: ${e.message}`);
      Deno.exit(1);
    }
    // An address that does not resolve or is not this machine's: a bad value.
    if (!(e instanceof Error)) throw e;
    console.error(`chat: --host ${host}: cannot listen there (${e.message})`);
    Deno.exit(2);
  }
  const web = `http://${urlHost(server.http.hostname)}:${server.http.port}/`;
  const tcpHost = displayHost(server.tcp.hostname);
  console.log(`chat: page      ${web}`);
  console.log(
    `chat: terminal  nc ${tcpHost} ${server.tcp.port}   (or: telnet ${tcpHost} ${server.tcp.port})`,
  );
  console.log(`chat: health    ${web}healthz`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log("chat: shutting down");
    await server.shutdown();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);

  if (Deno.stdin.isTerminal()) {
    console.log("chat: type here to talk to the room as server; /help for commands");
    await runConsole(server.room, Deno.stdin.readable, (line) => console.log(line));
  }
}

function displayHost(hostname: string): string {
  return hostname === "0.0.0.0" || hostname === "::" ? "localhost" : hostname;
}

function urlHost(hostname: string): string {
  const host = displayHost(hostname);
  return host.includes(":") ? `[${host}]` : host;
}

if (import.meta.main) await main(Deno.args);
