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
import { createLogger, errorText } from "./server/log.ts";
import { SqliteHistory, StoreError } from "./server/history/sqlite.ts";

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
  let tls;
  if (config.tls) {
    tls = { cert: readPem("--cert", config.tls.cert), key: readPem("--key", config.tls.key) };
  }
  const log = createLogger({ level: config.logLevel });
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
      registrationMs: config.joinTimeout * 1000,
      presenceLimit: config.presenceLimit,
      log,
      ...(tls ? { tls } : {}),
    }, assets);
  } catch (e) {
    const { host, port, tcpPort } = config;
    if (tls && e instanceof Error && /certificate|private key|pem|tls/i.test(e.message)) {
      console.error(`chat: --cert/--key: cannot use them (${e.message})`);
      Deno.exit(1);
    }
    if (e instanceof Deno.errors.AddrInUse || e instanceof Deno.errors.PermissionDenied) {
      console.error(`chat: cannot listen on ${host} port ${port} or ${tcpPort}: ${e.message}`);
      Deno.exit(1);
    }
    // An address that does not resolve or is not this machine's: a bad value.
    if (!(e instanceof Error)) throw e;
    console.error(`chat: --host ${host}: cannot listen there (${e.message})`);
    Deno.exit(2);
  }
  const scheme = tls ? "https" : "http";
  const web = `${scheme}://${urlHost(server.http.hostname)}:${server.http.port}/`;
  const tcpHost = displayHost(server.tcp.hostname);
  console.log(`chat: page      ${web}`);
  console.log(
    tls
      ? `chat: terminal  openssl s_client -quiet -connect ${urlHost(tcpHost)}:${server.tcp.port}`
      : `chat: terminal  nc ${tcpHost} ${server.tcp.port}   (or: telnet ${tcpHost} ${server.tcp.port})`,
  );
  console.log(`chat: health    ${web}healthz   metrics ${web}metrics`);
  log.info("started", {
    http: `${server.http.hostname}:${server.http.port}`,
    tcp: `${server.tcp.hostname}:${server.tcp.port}`,
    tls: tls !== undefined,
    db: config.db,
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down");
    await server.shutdown();
    log.info("stopped");
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);

  if (Deno.stdin.isTerminal()) {
    console.log("chat: type here to talk to the room as server; /help for commands");
    await runConsole(server.room, Deno.stdin.readable, (line) => console.log(line));
  }
}

/** The contents of a PEM file named by `flag`; exits with one line if it cannot be read. */
function readPem(flag: string, path: string): string {
  try {
    const text = Deno.readTextFileSync(path);
    if (!text.includes("-----BEGIN ")) throw new Error("not a PEM file");
    return text;
  } catch (e) {
    console.error(`chat: ${flag} ${path}: ${errorText(e)}`);
    Deno.exit(1);
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
