/**
 * Command-line flags into a {@linkcode Config}. Pure: the caller prints and
 * exits.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { LOG_LEVELS, type LogLevel } from "./log.ts";
import { PRESENCE_LIMIT } from "./hub/room.ts";

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
  /** Messages (and renames) a member may send at once. @default {10} */
  floodBurst: number;
  /** Messages a member may send per second, sustained. @default {2} */
  floodRate: number;
  /** Open connections allowed from one address, both transports. @default {20} */
  maxPerIp: number;
  /** Open connections allowed in all. @default {1000} */
  maxClients: number;
  /** Origins besides the server's own whose pages may use `/ws`. @default {[]} */
  allowOrigins: string[];
  /** Seconds a new connection may take to join before it is closed. @default {60} */
  joinTimeout: number;
  /** Most members for which each join and leave is announced as it happens. @default {PRESENCE_LIMIT} */
  presenceLimit: number;
  /** Least severe log lines written. @default {"info"} */
  logLevel: LogLevel;
  /** PEM certificate chain and key files: serve TLS on both ports. */
  tls?: { cert: string; key: string };
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
  --flood-burst N   messages or renames a member may send at once (default 10)
  --flood-rate N    messages a member may send per second, sustained (default 2)
  --max-per-ip N    open connections from one address (default 20)
  --max-clients N   open connections in all (default 1000)
  --allow-origin O  also let pages from origin O (https://host[:port]) use /ws;
                    repeatable (the server's own origin is always allowed)
  --join-timeout S  seconds a new connection may take to join (default 60)
  --presence-limit N
                    above N members, joins and leaves are announced once a
                    second in a summary, not one by one (default ${PRESENCE_LIMIT})
  --log-level L     error, warn, info or debug (default info); logs go to stdout
  --cert FILE       PEM certificate chain: serve HTTPS/WSS, and TLS on the
  --key FILE        terminal port, with this key (give both)
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
        "flood-burst": { type: "string" },
        "flood-rate": { type: "string" },
        "max-per-ip": { type: "string" },
        "max-clients": { type: "string" },
        "allow-origin": { type: "string", multiple: true },
        "join-timeout": { type: "string" },
        "presence-limit": { type: "string" },
        "log-level": { type: "string" },
        cert: { type: "string" },
        key: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    return { kind: "error", message: describeParseError(e) };
  }
  if (values.help) return { kind: "help", text: USAGE };
  try {
    const tls = pair(values.cert, values.key);
    return {
      kind: "run",
      config: {
        host: nonEmpty("--host", values.host ?? "127.0.0.1"),
        port: port("--port", values.port, 8000),
        tcpPort: port("--tcp-port", values["tcp-port"], 2323),
        db: nonEmpty("--db", values.db ?? "chat.db"),
        history: count("--history", values.history, 100, 0, 1000),
        keep: count("--keep", values.keep, 10_000, 1, 100_000_000),
        floodBurst: count("--flood-burst", values["flood-burst"], 10, 1, 1_000_000),
        floodRate: count("--flood-rate", values["flood-rate"], 2, 1, 1_000_000),
        maxPerIp: count("--max-per-ip", values["max-per-ip"], 20, 1, 1_000_000),
        maxClients: count("--max-clients", values["max-clients"], 1000, 1, 10_000_000),
        allowOrigins: (values["allow-origin"] ?? []).map(origin),
        joinTimeout: count("--join-timeout", values["join-timeout"], 60, 1, 86_400),
        presenceLimit: count(
          "--presence-limit",
          values["presence-limit"],
          PRESENCE_LIMIT,
          0,
          10_000_000,
        ),
        logLevel: level(values["log-level"]),
        ...(tls ? { tls } : {}),
      },
    };
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    return { kind: "error", message: e.message };
  }
}

/** A bad flag value; its message is the one line the user sees. */
class FlagError extends RangeError {}

function nonEmpty(flag: string, value: string): string {
  if (value.trim() === "") throw new FlagError(`${flag} must not be empty`);
  return value;
}

function port(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 0 && n <= 65535)) {
    throw new FlagError(
      `${flag} must be a port number from 0 to 65535, not ${JSON.stringify(value)}`,
    );
  }
  return n;
}

function count(
  flag: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) {
    throw new FlagError(
      `${flag} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`,
    );
  }
  return n;
}

function level(value: string | undefined): LogLevel {
  if (value === undefined) return "info";
  const found = LOG_LEVELS.find((l) => l === value);
  if (found === undefined) {
    throw new FlagError(
      `--log-level must be one of ${LOG_LEVELS.join(", ")}, not ${JSON.stringify(value)}`,
    );
  }
  return found;
}

function pair(
  cert: string | undefined,
  key: string | undefined,
): { cert: string; key: string } | undefined {
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined) throw new FlagError("--key needs --cert too");
  if (key === undefined) throw new FlagError("--cert needs --key too");
  return { cert: nonEmpty("--cert", cert), key: nonEmpty("--key", key) };
}

function origin(value: string): string {
  const url = URL.canParse(value) ? new URL(value) : undefined;
  if (!url || !/^https?:$/.test(url.protocol) || url.origin !== value.replace(/\/$/, "")) {
    throw new FlagError(
      `--allow-origin must be an origin like https://chat.example.com, not ${
        JSON.stringify(value)
      }`,
    );
  }
  return url.origin;
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
