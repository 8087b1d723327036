/**
 * Starts the chat service: `deno task start [--host H] [--port P] [--tcp-port T]`.
 *
 * Flags to a config, the config to {@linkcode startChat}; then signals, and
 * the operator console when standard input is a terminal. What a flag means,
 * what a failure prints and with which exit code, and the banner live in
 * `server/`.
 *
 * @module
 */

import { checkPorts, openStore, startChat } from "./server/app.ts";
import { loadAssets } from "./server/assets.ts";
import { announce } from "./server/banner.ts";
import { dbPath, parseConfig, StartError } from "./server/config.ts";
import { runConsole } from "./server/console.ts";
import { createLogger } from "./server/log.ts";

async function main(args: string[]): Promise<void> {
  const parsed = parseConfig(args);
  if (parsed.kind === "error") exit(parsed.message, 2);
  if (parsed.kind === "help") return console.log(parsed.text);
  const config = { ...parsed.config, db: dbPath(parsed.config.db, Deno.env.get("INIT_CWD")) };
  const log = createLogger({ level: config.logLevel });
  let server;
  try {
    checkPorts(config);
    const store = openStore(config, log);
    server = startChat({ ...config, store, log, assets: await loadAssets() });
  } catch (e) {
    if (!(e instanceof StartError)) throw e;
    exit(e.message, e.exitCode);
  }
  announce(server, config, log);

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
    // The console writes to the terminal (stderr), never into the log on stdout.
    console.error("chat: type here to talk to the room as server; /help for commands");
    await runConsole(server.hub, Deno.stdin.readable, (line) => console.error(line));
  }
}

/** Prints one line saying why the server cannot start, and exits. */
function exit(message: string, code: 1 | 2): never {
  console.error(`chat: ${message}`);
  Deno.exit(code);
}

if (import.meta.main) await main(Deno.args);
