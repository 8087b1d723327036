/**
 * Structured log lines, in logfmt: `ts=… level=info msg=join nick=alice via=web`.
 * One line per event, keys first-come, values quoted when they need to be, so
 * `grep`, `awk` and log shippers all read them.
 *
 * What is logged, by level:
 * - `error`: something broke (the history cannot be written, a socket failed
 *   in an unexpected way);
 * - `warn`: defences at work (refused origins, connection limits, flooding,
 *   slow consumers, join timeouts);
 * - `info`: the server starting and stopping, members joining, leaving,
 *   renaming, being kicked;
 * - `debug`: every connection opened and closed, every refusal sent.
 *
 * Chat text is never logged: what people say is theirs, not the log's.
 *
 * Pure apart from the sink it is given, so it is browser and test friendly.
 *
 * @module
 */

/** Log levels, most severe first. */
export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;

/** How much is logged: this level and everything more severe. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Values a log line can carry; undefined ones are left out. */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

/** Where the server's log lines go. */
export interface Logger {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
}

/** A logger that drops everything: the default where none is given. */
export const SILENT: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
};

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Least severe level written. @default {"info"} */
  level?: LogLevel;
  /** Receives each line, without its newline. @default {console.log} */
  write?: (line: string) => void;
  /** The clock. @default {Date.now} */
  now?: () => number;
}

/** A logger writing logfmt lines at `level` and above. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const rank = LOG_LEVELS.indexOf(options.level ?? "info");
  const write = options.write ?? ((line: string) => console.log(line));
  const now = options.now ?? Date.now;
  const at = (level: LogLevel) =>
    LOG_LEVELS.indexOf(level) > rank
      ? () => {}
      : (msg: string, fields: LogFields = {}) => write(formatLine(now(), level, msg, fields));
  return { error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug") };
}

/** Formats one logfmt line. */
export function formatLine(ts: number, level: LogLevel, msg: string, fields: LogFields): string {
  let line = `ts=${new Date(ts).toISOString()} level=${level} msg=${quote(msg)}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && /^[A-Za-z_][\w.]*$/.test(key)) line += ` ${key}=${quote(value)}`;
  }
  return line;
}

/** The message of something caught, for a log field. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// Bare when it is plain, else a JSON string; controls, bidi and other
// invisible characters are escaped either way so no value can forge a line
// or hide text in it.
function quote(value: string | number | boolean): string {
  const s = String(value);
  if (/^[\w.:/@+-]+$/.test(s)) return s;
  return JSON.stringify(s).replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, escapeUnits);
}

/** `\uXXXX` for each UTF-16 unit, as JSON writes it. */
function escapeUnits(c: string): string {
  let out = "";
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`;
  return out;
}
