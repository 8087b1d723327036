/**
 * What the server is told at start, and what it assumes when not told.
 *
 * {@linkcode DEFAULTS} is the one place a default is written (std's
 * `async/retry.ts` style): the flags, `--help`, `startChat()` and the
 * constructors (`Room`, the transports, `ConnectionLimits`) all read it, so a
 * default changed here changes everywhere. Each flag is declared once, in
 * {@linkcode FLAGS}, with its value, description and bounds; the parser and
 * `--help` are both built from that table.
 *
 * Pure: the caller prints and exits.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { parseArgs, type ParseArgsOptionDescriptor } from "node:util";
import { LOG_LEVELS, type LogLevel } from "./log.ts";

/** Everything the server is told at start. Defaults are in {@linkcode DEFAULTS}. */
export interface Config {
  /** Address both listeners bind. */
  host: string;
  /** HTTP and WebSocket port; 0 picks a free one. */
  port: number;
  /** Terminal (TCP) port; 0 picks a free one. */
  tcpPort: number;
  /** IRC port; 0 picks a free one. */
  ircPort: number;
  /** A text file whose lines IRC clients are shown as the message of the day; "" for none. */
  motd: string;
  /** SQLite file for history, or `:memory:`. */
  db: string;
  /** How many recent room messages a newcomer is shown. */
  history: number;
  /** Room messages kept in the database; older ones are deleted. */
  keep: number;
  /** Messages (and renames) a member may send at once. */
  floodBurst: number;
  /** Messages a member may send per second, sustained. */
  floodRate: number;
  /** Open connections allowed from one address, both transports. */
  maxPerIp: number;
  /** Open connections allowed in all. */
  maxClients: number;
  /** Joins one address may make per second, sustained; `maxPerIp` of them at once. */
  joinRate: number;
  /** Seconds a kicked member's nickname and address may not join again; 0 for none. */
  kickBan: number;
  /** Origins besides the server's own whose pages may use `/ws`. */
  allowOrigins: readonly string[];
  /**
   * Host names the server answers to besides IP addresses and `localhost`
   * (a request naming another host is refused: DNS rebinding).
   */
  publicHosts: readonly string[];
  /**
   * Seconds a new connection may take to join (a terminal to give a
   * nickname, a socket to send `join`) before it is closed.
   */
  joinTimeout: number;
  /**
   * Most members for which each join and leave is announced as it happens;
   * in a bigger room they are gathered into a summary once a second.
   */
  presenceLimit: number;
  /** Live rooms at most: a room nobody is in does not count. */
  maxRooms: number;
  /** Least severe log lines written. */
  logLevel: LogLevel;
  /**
   * `redis://` or `rediss://` URL of the Redis that makes several processes
   * one service (`hub/cluster.ts`); "" for none: this process is the service.
   */
  redis: string;
  /** Let other processes bind the same ports too (SO_REUSEPORT): several nodes on one machine. */
  reusePort: boolean;
  /**
   * Every connection starts with a PROXY v1 line from the load balancer in
   * front (`transport/proxy.ts`), naming the client: its address is the
   * client's for the caps, the join rate, bans and the log.
   */
  proxyProtocol: boolean;
  /** `--db` given with `--redis`, where no database file is opened: said in the log at start. */
  dbIgnored?: string;
  /** PEM certificate chain and key files: serve TLS on both ports. Off unless given. */
  tls?: { cert: string; key: string };
}

/** Every setting of {@linkcode Config} that has a default: all but `tls` and `dbIgnored`. */
export type Settings = Required<Omit<Config, "tls" | "dbIgnored">>;

/** What the server assumes for each setting it is not given. */
export const DEFAULTS: Readonly<Settings> = {
  host: "127.0.0.1",
  port: 8000,
  tcpPort: 2323,
  ircPort: 6667,
  motd: "",
  db: "chat.db",
  history: 100,
  keep: 10_000,
  floodBurst: 10,
  floodRate: 2,
  maxPerIp: 20,
  maxClients: 1000,
  // Enough for a page that reconnects, or a classroom behind one address
  // arriving together (maxPerIp at once); a join-and-quit loop costs every
  // member a join and a leave line, so it is held to this.
  joinRate: 2,
  // Long enough that a kicked page or script does not walk straight back in,
  // short enough that a kick stays a kick, not a ban an operator must lift.
  kickBan: 60,
  allowOrigins: [],
  publicHosts: [],
  // An unregistered connection must not hold a slot for ever; a person
  // typing a nickname needs far less than a minute.
  joinTimeout: 60,
  // Announcing each join to everyone makes filling a room of N cost N²/2
  // events (50 million at 10,000); a summary costs one event per member per
  // second however many come and go, and in a room this big a line per
  // arrival is noise anyway.
  presenceLimit: 500,
  // Enough for any community one process serves; each live room costs its
  // members' lists and a line of every `rooms` answer, so it is capped.
  maxRooms: 1000,
  logLevel: "info",
  redis: "",
  reusePort: false,
  proxyProtocol: false,
};

/**
 * How long a connection may keep the server waiting, in milliseconds:
 * defaults of `startChat()` options, not flags (an operator has had no need
 * to change them; tests pass short ones).
 */
export interface Timeouts {
  /** A request head must arrive whole (and a response be taken) within this. */
  headerTimeoutMs: number;
  /** A keep-alive HTTP connection may wait this long for its next request. */
  idleTimeoutMs: number;
  /** A TLS handshake, on either port, must finish within this. */
  tlsHandshakeTimeoutMs: number;
  /** A WebSocket the server closes is torn down this long after, whatever the peer does. */
  closeTimeoutMs: number;
  /**
   * A telnet client silent this long is sent a timing mark, which its
   * program answers by itself; silent as long again, it has vanished and is
   * let go.
   */
  terminalProbeMs: number;
  /**
   * An IRC client silent this long is sent a PING; silent as long again,
   * it has stopped answering and is dropped.
   */
  ircPingMs: number;
}

/** What the server assumes for each of {@linkcode Timeouts} it is not given. */
export const TIMEOUTS: Readonly<Timeouts> = {
  // A browser sends its whole head in one packet; a person never types one.
  headerTimeoutMs: 10_000,
  // Browsers reuse an idle connection within seconds or not at all.
  idleTimeoutMs: 10_000,
  tlsHandshakeTimeoutMs: 10_000,
  // Enough for a peer that reads to take its last frames and answer.
  closeTimeoutMs: 3_000,
  // A seat held by a vanished telnet is freed within two minutes, not the
  // two hours of the kernel's keepalive.
  terminalProbeMs: 60_000,
  // IRC clients answer a PING at once; servers commonly ask after 1–3 minutes.
  ircPingMs: 90_000,
};

/** The result of {@linkcode parseConfig}. */
export type ConfigResult =
  | { kind: "run"; config: Config }
  | { kind: "help"; text: string }
  | { kind: "error"; message: string };

/**
 * A config that parses but cannot be used: a database, certificate or
 * address the server cannot open. Its message is the one line the user sees,
 * naming the flag; `exitCode` is 1 for something unusable, 2 for a bad value.
 */
export class StartError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2 = 1) {
    super(message);
    this.name = "StartError";
  }
}

/** A bad flag value; its message is the one line the user sees. */
class FlagError extends RangeError {}

/** A config being built from flags: the settings, and the TLS files until both are known. */
type Draft = Settings & { cert?: string; key?: string };

/** One command-line flag: how `--help` shows it and how its value is read. */
interface Flag {
  /** `--tcp-port`. */
  name: string;
  /** The placeholder after the name in `--help`: `PORT`. */
  value?: string;
  /** What `--help` says about it. */
  about: string;
  /** A one-letter alias, for a flag without a value: `h` for `-h`. */
  short?: string;
  /** May be given more than once. */
  multiple?: boolean;
  /** Checks one value and stores it in the config being built; throws {@linkcode FlagError}. */
  set?(draft: Draft, value: string): void;
  /** For a flag without a value: what giving it does to the config being built. */
  toggle?(draft: Draft): void;
}

/** Reads one flag's value into a setting. */
interface Reader<T> {
  (flag: string, value: string): T;
  /** The largest value accepted, for `--help`. */
  max?: number;
}

/**
 * A flag that sets `key`. In `about`, `{default}` stands for the default from
 * {@linkcode DEFAULTS} and `{max}` for the largest value `read` accepts.
 */
function setting<K extends keyof Settings>(
  name: string,
  value: string,
  key: K,
  read: Reader<Settings[K]>,
  about: string,
): Flag {
  return {
    name,
    value,
    about: about.replace("{default}", String(DEFAULTS[key])).replace("{max}", String(read.max)),
    set(draft, text) {
      draft[key] = read(name, text);
    },
  };
}

/** Every flag, in the order `--help` lists them. */
export const FLAGS: readonly Flag[] = [
  setting(
    "--host",
    "ADDRESS",
    "host",
    nonEmpty,
    "address to listen on (default {default}; 0.0.0.0 for all)",
  ),
  setting(
    "--port",
    "PORT",
    "port",
    port,
    "HTTP and WebSocket port (default {default}; 0 picks a free one)",
  ),
  setting(
    "--tcp-port",
    "PORT",
    "tcpPort",
    port,
    "nc/telnet port (default {default}; 0 picks a free one)",
  ),
  setting(
    "--irc-port",
    "PORT",
    "ircPort",
    port,
    "IRC port, for irssi, WeeChat, HexChat… (default {default}; 0 picks a free one)",
  ),
  setting(
    "--motd",
    "FILE",
    "motd",
    nonEmpty,
    "text file shown to IRC clients as the message of the day (default: none)",
  ),
  setting(
    "--db",
    "PATH",
    "db",
    nonEmpty,
    "SQLite file for history (default {default}; relative to the directory you ran the command in; :memory: for history forgotten at exit)",
  ),
  setting(
    "--history",
    "N",
    "history",
    count(0, 1000),
    "messages shown to whoever joins (default {default}, at most {max})",
  ),
  setting(
    "--keep",
    "N",
    "keep",
    count(1, 100_000_000),
    "messages kept in the database (default {default})",
  ),
  setting(
    "--flood-burst",
    "N",
    "floodBurst",
    count(1, 1_000_000),
    "messages or renames a member may send at once (default {default})",
  ),
  setting(
    "--flood-rate",
    "N",
    "floodRate",
    count(1, 1_000_000),
    "messages a member may send per second, sustained (default {default})",
  ),
  setting(
    "--max-per-ip",
    "N",
    "maxPerIp",
    count(1, 1_000_000),
    "open connections from one address (default {default})",
  ),
  setting(
    "--max-clients",
    "N",
    "maxClients",
    count(1, 10_000_000),
    "open connections in all (default {default})",
  ),
  setting(
    "--max-rooms",
    "N",
    "maxRooms",
    count(1, 1_000_000),
    "live rooms at most; an empty room does not count (default {default})",
  ),
  setting(
    "--join-rate",
    "N",
    "joinRate",
    count(1, 1_000_000),
    "joins and nickname changes one address may make per second, sustained; --max-per-ip at once (default {default})",
  ),
  setting(
    "--kick-ban",
    "S",
    "kickBan",
    count(0, 86_400),
    "seconds a kicked member's nickname and address may not join again (default {default}; 0 for none)",
  ),
  {
    name: "--allow-origin",
    value: "O",
    about:
      "also let pages from origin O (https://host[:port]) use /ws; repeatable (the server's own origin is always allowed)",
    multiple: true,
    set(draft, text) {
      draft.allowOrigins = [...draft.allowOrigins, origin(text)];
    },
  },
  {
    name: "--public-host",
    value: "NAME",
    about:
      "a host name people use to reach the server (chat.example.com); repeatable. Requests naming any other host are refused, so a DNS-rebinding page cannot reach it (IP addresses and localhost always work)",
    multiple: true,
    set(draft, text) {
      draft.publicHosts = [...draft.publicHosts, hostName(text)];
    },
  },
  setting(
    "--join-timeout",
    "S",
    "joinTimeout",
    count(1, 86_400),
    "seconds a new connection may take to join (default {default})",
  ),
  setting(
    "--presence-limit",
    "N",
    "presenceLimit",
    count(0, 10_000_000),
    "above N members, joins and leaves are announced once a second in a summary, not one by one (default {default})",
  ),
  setting(
    "--log-level",
    "L",
    "logLevel",
    level,
    "error, warn, info or debug (default {default}); logs go to stdout",
  ),
  {
    name: "--cert",
    value: "FILE",
    about:
      "PEM certificate chain: serve HTTPS/WSS, and TLS on the terminal and IRC ports (give --key too)",
    set(draft, text) {
      draft.cert = nonEmpty("--cert", text);
    },
  },
  {
    name: "--key",
    value: "FILE",
    about: "PEM private key for --cert",
    set(draft, text) {
      draft.key = nonEmpty("--key", text);
    },
  },
  {
    name: "--redis",
    value: "URL",
    about:
      "redis://[user:password@]host[:port][/db] (or rediss:// for TLS): run as one node of a service of several, sharing rooms, nicknames, members and history through Redis 7; no --db file is opened",
    set(draft, text) {
      draft.redis = redisUrl(text);
    },
  },
  {
    name: "--reuse-port",
    about: "let several processes on this machine listen on the same ports (SO_REUSEPORT; Linux)",
    toggle(draft) {
      draft.reusePort = true;
    },
  },
  {
    name: "--proxy-protocol",
    about:
      "every connection (web, terminal, IRC) starts with a PROXY protocol v1 line from the TCP load balancer in front (HAProxy send-proxy, nginx proxy_protocol on): members get their own addresses, not the balancer's; one without it is closed. Only for nodes nothing else can reach",
    toggle(draft) {
      draft.proxyProtocol = true;
    },
  },
  { name: "--help", short: "h", about: "show this text" },
];

/** A URL as it may be shown and logged: its password replaced by `***`. */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password !== "") url.password = "***";
    return url.href;
  } catch {
    return "(not a URL)";
  }
}

/** A Redis URL: `redis://` or `rediss://`, with a host. */
function redisUrl(text: string): string {
  let url;
  try {
    url = new URL(text);
  } catch {
    throw new FlagError(`--redis: "${text.slice(0, 100)}" is not a URL (redis://host:6379)`);
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new FlagError(`--redis: the URL must start with redis:// or rediss://`);
  }
  if (url.hostname === "") throw new FlagError(`--redis: the URL names no host`);
  const db = url.pathname.replace(/^\//, "");
  if (db !== "" && !/^\d{1,5}$/.test(db)) {
    throw new FlagError(
      `--redis: the database after the host must be a number (redis://host:6379/0)`,
    );
  }
  return text;
}

/** Where descriptions start in `--help`, and the width they wrap at. */
const HELP_INDENT = 20;
const HELP_WIDTH = 80;

/** The `--help` text, built from {@linkcode FLAGS}. */
export const USAGE = `Usage: deno task start [flags]

Chat rooms for browsers, terminals (nc, telnet) and IRC clients.

Flags:
${FLAGS.map(helpLines).join("\n")}
`;

function helpLines(flag: Flag): string {
  const head = `  ${flag.name}${flag.value ? ` ${flag.value}` : ""}`;
  const lines: string[] = [];
  let line = "";
  for (const word of flag.about.split(" ")) {
    if (line !== "" && HELP_INDENT + line.length + 1 + word.length > HELP_WIDTH) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  const pad = " ".repeat(HELP_INDENT);
  const body = lines.map((l) => pad + l);
  // A flag too long for its column gets its description on the next line.
  if (head.length < HELP_INDENT - 1) body[0] = head.padEnd(HELP_INDENT) + lines[0];
  else body.unshift(head);
  return body.join("\n");
}

/**
 * The arguments after a leading `--`: `deno task start -- --port 8080`, as
 * one would with npm, hands the `--` on to the program.
 */
export function afterDashes(args: readonly string[]): readonly string[] {
  return args[0] === "--" ? args.slice(1) : args;
}

/** Parses command-line arguments. Unknown flags and bad values are errors. */
export function parseConfig(given: readonly string[]): ConfigResult {
  const args = afterDashes(given);
  const options: Record<string, ParseArgsOptionDescriptor> = {};
  for (const flag of FLAGS) {
    options[flag.name.slice(2)] = flag.set
      ? { type: "string", multiple: flag.multiple ?? false }
      : { type: "boolean", ...(flag.short ? { short: flag.short } : {}) };
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: joinNegatives(args, options),
      strict: true,
      allowPositionals: false,
      options,
    }));
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    return { kind: "error", message: describeParseError(e) };
  }
  if (values.help === true) return { kind: "help", text: USAGE };
  try {
    const draft: Draft = { ...DEFAULTS };
    for (const flag of FLAGS) {
      for (const given of [values[flag.name.slice(2)] ?? []].flat()) {
        if (typeof given === "string") flag.set?.(draft, given);
        if (given === true) flag.toggle?.(draft);
      }
    }
    const { cert, key, ...config } = draft;
    const tls = pair(cert, key);
    if (tls && config.proxyProtocol) {
      throw new FlagError(
        "--proxy-protocol cannot be used with --cert: the PROXY line comes before TLS; let the load balancer end TLS",
      );
    }
    const ignored = draft.redis !== "" && values.db !== undefined ? { dbIgnored: draft.db } : {};
    return { kind: "run", config: { ...config, ...ignored, ...(tls ? { tls } : {}) } };
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    return { kind: "error", message: e.message };
  }
}

/**
 * `--port -1` as `--port=-1`: node:util takes a value that starts with `-`
 * for a flag, and would say `--port` "needs a value"; joined, the value
 * reaches the flag, which says what is wrong with it (out of range).
 */
function joinNegatives(
  args: readonly string[],
  options: Record<string, ParseArgsOptionDescriptor>,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    const takesValue = arg.startsWith("--") && options[arg.slice(2)]?.type === "string";
    if (takesValue && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/**
 * Where `--db` is: a relative path is taken from the directory the user ran
 * the command in. `deno task` runs in the folder of `deno.json` and names
 * the user's directory in `INIT_CWD`; without it, the current directory.
 */
export function dbPath(db: string, initCwd: string | undefined): string {
  if (db === ":memory:" || initCwd === undefined || initCwd === "" || isAbsolute(db)) return db;
  return resolve(initCwd, db);
}

function nonEmpty(flag: string, value: string): string {
  if (value.trim() === "") throw new FlagError(`${flag} must not be empty`);
  return value;
}

function port(flag: string, value: string): number {
  const n = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 0 && n <= 65535)) {
    throw new FlagError(
      `${flag} must be a port number from 0 to 65535, not ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** Reads a whole number from `min` to `max`. */
function count(min: number, max: number): Reader<number> {
  const read = (flag: string, value: string) => {
    const n = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
    if (!(n >= min && n <= max)) {
      throw new FlagError(
        `${flag} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`,
      );
    }
    return n;
  };
  return Object.assign(read, { max });
}

function level(flag: string, value: string): LogLevel {
  const found = LOG_LEVELS.find((l) => l === value);
  if (found === undefined) {
    throw new FlagError(
      `${flag} must be one of ${LOG_LEVELS.join(", ")}, not ${JSON.stringify(value)}`,
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
  return { cert, key };
}

function hostName(value: string): string {
  const name = value.toLowerCase().replace(/\.$/, "");
  if (
    !/^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/
      .test(name)
  ) {
    throw new FlagError(
      `--public-host must be a host name like chat.example.com, not ${JSON.stringify(value)}`,
    );
  }
  return name;
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
