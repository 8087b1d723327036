/**
 * Starts the chat service: `deno task start [--host H] [--port P] [--tcp-port T]`.
 *
 * Flags to a config, the config to {@linkcode startChat}; then signals, and
 * the operator console when standard input and standard error are a
 * terminal (`server/console_tty.ts`). What a flag means,
 * what a failure prints and with which exit code, and the banner live in
 * `server/`.
 *
 * @module
 */

import { checkPorts, openStore, startChat } from "./server/app.ts";
import { openCluster } from "./server/bus/cluster.ts";
import { MemoryHistory } from "./server/history/history.ts";
import { loadAssets } from "./server/assets.ts";
import { announce } from "./server/banner.ts";
import { dbPath, parseConfig, StartError } from "./server/config.ts";
import { logTo, TerminalConsole } from "./server/console_tty.ts";
import { createLogger, formatLine } from "./server/log.ts";
import { Output } from "./server/output.ts";
import { within } from "./server/deadline.ts";
import { STOP_WITH_STDIN } from "./server/launch.ts";

async function main(args: string[]): Promise<void> {
  const parsed = parseConfig(args);
  if (parsed.kind === "error") exit(parsed.message, 2);
  if (parsed.kind === "help") return console.log(parsed.text);
  const config = { ...parsed.config, db: dbPath(parsed.config.db, Deno.env.get("INIT_CWD")) };
  // The log and the console never wait for the terminal or pipe they write to.
  const output = new Output({ notes: { stdout: logDropped, stderr: consoleDropped } });
  // On or off, said once in the log when it is off.
  const tty = TerminalConsole.open(output);
  const log = createLogger({
    level: config.logLevel,
    write: typeof tty === "string" ? logTo(output) : tty.logWriter(),
  });
  let server;
  try {
    checkPorts(config);
    // With --redis, everything kept is Redis's: no database file is opened.
    if (config.dbIgnored !== undefined) {
      log.warn("--db is not used with --redis: history is kept in Redis, no database file opened", {
        db: config.dbIgnored,
      });
    }
    const cluster = config.redis === "" ? undefined : await openCluster(config, log);
    const store = cluster ? new MemoryHistory() : openStore(config, log);
    server = startChat({
      ...config,
      store,
      log,
      assets: await loadAssets(),
      ...(cluster ? { cluster } : {}),
    });
  } catch (e) {
    if (!(e instanceof StartError)) throw e;
    await within(output.flush(), FLUSH_MS);
    exit(e.message, e.exitCode);
  }
  announce(server, config, log, logTo(output));

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down");
    await server.shutdown();
    log.info("stopped");
    if (typeof tty !== "string") tty.close();
    // What is left of the log, unless its reader is gone for good.
    await within(output.flush(), FLUSH_MS);
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  // A node of `deno task cluster` stops with its launcher, however that ends.
  if (Deno.env.get(STOP_WITH_STDIN) === "1") {
    void Deno.stdin.readable.pipeTo(new WritableStream()).then(stop, stop);
  }

  if (typeof tty === "string") return log.info("console off", { why: tty });
  // The console writes to the terminal (stderr), never into the log on stdout.
  await tty.run({ hub: server.hub, connections: server.connections }, { interrupt: stop });
}

/** How long a stopping server waits for the rest of its log to be written. */
const FLUSH_MS = 2_000;

/** The log's line for `lines` of it dropped, standard output not being read. */
function logDropped(lines: number): string {
  const msg = "log lines not written: standard output was not read";
  return `${formatLine(Date.now(), "warn", msg, { lines })}\n`;
}

/** The console's line for `writes` to it dropped, the terminal not being read. */
function consoleDropped(writes: number): string {
  return `-- ${writes} console lines not shown: the terminal was not read.\r\n`;
}

/** Prints one line saying why the server cannot start, and exits. */
function exit(message: string, code: 1 | 2): never {
  console.error(`chat: ${message}`);
  Deno.exit(code);
}

if (import.meta.main) await main(Deno.args);
