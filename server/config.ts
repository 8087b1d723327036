/**
 * Command-line flags into a {@linkcode Config}. Pure: the caller prints and
 * exits.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** Everything the server is told at start. */
export interface Config {
  /** Address both listeners bind. @default {"127.0.0.1"} */
  host: string;
  /** HTTP and WebSocket port; 0 picks a free one. @default {8000} */
  port: number;
  /** Terminal (TCP) port; 0 picks a free one. @default {2323} */
  tcpPort: number;
  /** SQLite file for history, or `:memory:`. @default {"chat.db"} */
  db: string;
  /** Room messages shown to whoever joins. @default {100} */
  history: number;
  /** Room messages kept in the database; older ones are deleted. @default {10000} */
  keep: number;
}

/** The result of {@linkcode parseConfig}. */
export type ConfigResult =
  | { kind: "run"; config: Config }
  | { kind: "help"; text: string }
  | { kind: "error"; message: string };

/** The `--help` text. */
export const USAGE = `Usage: deno task start [flags]

One chat room for browsers and terminals.

Flags:
  --host ADDRESS    address to listen on (default 127.0.0.1; 0.0.0.0 for all)
  --port PORT       HTTP and WebSocket port (default 8000; 0 picks a free one)
  --tcp-port PORT   terminal port for nc/telnet (default 2323; 0 picks a free one)
  --db PATH         SQLite file for history (default chat.db in the current
                    directory; :memory: for a room forgotten at exit)
  --history N       messages shown to whoever joins (default 100, at most 1000)
  --keep N          messages kept in the database (default 10000)
  --help            show this text
`;

/** Parses command-line arguments. Unknown flags and bad values are errors. */
export function parseConfig(args: readonly string[]): ConfigResult {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: "string" },
        port: { type: "string" },
        "tcp-port": { type: "string" },
        db: { type: "string" },
        history: { type: "string" },
        keep: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    return { kind: "error", message: describeParseError(e) };
  }
  if (values.help) return { kind: "help", text: USAGE };
  const host = values.host ?? "127.0.0.1";
  if (host.trim() === "") return { kind: "error", message: "--host must not be empty" };
  const port = parsePort("--port", values.port, 8000);
  if (typeof port === "string") return { kind: "error", message: port };
  const tcpPort = parsePort("--tcp-port", values["tcp-port"], 2323);
  if (typeof tcpPort === "string") return { kind: "error", message: tcpPort };
  const db = values.db ?? "chat.db";
  if (db.trim() === "") return { kind: "error", message: "--db must not be empty" };
  const history = parseCount("--history", values.history, 100, 0, 1000);
  if (typeof history === "string") return { kind: "error", message: history };
  const keep = parseCount("--keep", values.keep, 10_000, 1, 100_000_000);
  if (typeof keep === "string") return { kind: "error", message: keep };
  return { kind: "run", config: { host, port, tcpPort, db, history, keep } };
}

function parseCount(
  flag: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number | string {
  if (value === undefined) return fallback;
  const n = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) {
    return `${flag} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`;
  }
  return n;
}

function parsePort(flag: string, value: string | undefined, fallback: number): number | string {
  if (value === undefined) return fallback;
  const n = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 0 && n <= 65535)) {
    return `${flag} must be a port number from 0 to 65535, not ${JSON.stringify(value)}`;
  }
  return n;
}

// node:util's messages are close but name options with quotes and a hint
// meant for Node; keep the flag name and say it plainly.
function describeParseError(e: TypeError): string {
  const code = "code" in e ? e.code : undefined;
  const flag = /'(?:-\w, )?(--?[^'\s,]+)/.exec(e.message)?.[1];
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown flag ${flag ?? e.message} (see --help)`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return e.message.includes("does not take")
        ? `${flag ?? "a flag"} does not take a value (see --help)`
        : `${flag ?? "a flag"} needs a value (see --help)`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${/'([^']*)'/.exec(e.message)?.[1] ?? ""} (see --help)`.trim();
    default:
      return e.message;
  }
}
