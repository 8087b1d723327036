/**
 * The whole service: the TCP listener and the HTTP server, wired to the same
 * {@linkcode Hub}. `main.ts` starts it from flags; tests start it
 * on port 0.
 *
 * @module
 */

import type { Assets } from "./assets.ts";
import { type Config, DEFAULTS, StartError, TIMEOUTS, type Timeouts } from "./config.ts";
import { type HistoryStore, MemoryHistory } from "./history/history.ts";
import { type Via, VIAS } from "../common/protocol.ts";
import { SqliteHistory, StoreError } from "./history/sqlite.ts";
import { ConnectionLimits, type ConnectionList } from "./transport/limits.ts";
import { flushes } from "./transport/flush.ts";
import { createHandler } from "./http.ts";
import { hereLine } from "./transport/terminal/render.ts";
import { acceptLoop, type Conn } from "./transport/listener.ts";
import { HttpConnections, refuseRequest } from "./transport/web/http1.ts";
import { writeResponseHead } from "./transport/web/request.ts";
import { concatBytes } from "./transport/io.ts";
import { errorText, type Logger, SILENT } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { Hub, PRESENCE_EVERY_MS } from "./hub/hub.ts";
import type { Cluster } from "./hub/cluster.ts";
import { serveTcp, type TcpServer } from "./transport/terminal/tcp.ts";
import { type IrcServer, serveIrc } from "./transport/irc/irc.ts";
import { readMotd } from "./motd.ts";
import { refusedUpgrade, webSocketEndpoint } from "./transport/ws.ts";

/** A running chat service. */
export interface ChatServer {
  readonly hub: Hub;
  /** Every open connection, joined or not, web, terminal and IRC: the console's `/who`. */
  readonly connections: ConnectionList;
  /** What `/metrics` serves. */
  readonly metrics: Metrics;
  /** Where the page and `/ws` are served. */
  readonly http: Deno.NetAddr;
  /** Where `nc`/`telnet` connect. */
  readonly tcp: Deno.NetAddr;
  /** Where IRC clients connect. */
  readonly irc: Deno.NetAddr;
  /**
   * Tells everyone the server is stopping, closes every connection and both
   * listeners. Finishes within a few seconds even if peers do not answer.
   * Idempotent.
   */
  shutdown(reason?: string): Promise<void>;
}

/** Upper bounds of the `chat_room_members` histogram's buckets. */
const ROOM_SIZE_BUCKETS: readonly number[] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000];

/** First wait before the hub's attach to Redis is tried again, doubled each time up to {@linkcode ATTACH_RETRY_MAX_MS}. */
const ATTACH_RETRY_MS = 250;
const ATTACH_RETRY_MAX_MS = 5_000;

/** How long shutdown waits for peers to take their last bytes and close. */
const CLOSE_GRACE_MS = 2000;

/**
 * What {@linkcode startChat} is given: the settings of a {@linkcode Config},
 * by the same names (each defaults to {@linkcode DEFAULTS}), and what only
 * code can pass.
 */
export type ChatOptions = Partial<Config> & {
  /** The rooms' history; the server closes it at shutdown. @default {new MemoryHistory()} */
  store?: HistoryStore;
  /** Where log lines go. @default {SILENT} */
  log?: Logger;
  /** The page's bundle and files, from `loadAssets()`. @default {new Map()} */
  assets?: Assets;
  /** How often a big room's joins and leaves are summarized. @default {PRESENCE_EVERY_MS} */
  presenceEveryMs?: number;
  /**
   * The other nodes (`--redis`): rooms, nicknames, members and history are
   * then the service's, kept in Redis, and `store` is not used. The server
   * takes it over: {@linkcode startChat} starts it, and shutdown closes it.
   */
  cluster?: Cluster;
} & Partial<Timeouts>;

/**
 * Starts both listeners. Throws {@linkcode StartError} when the
 * certificate files or the addresses cannot be used; the store is closed then.
 */
export function startChat(options: ChatOptions = {}): ChatServer {
  const config = { ...DEFAULTS, ...TIMEOUTS, ...options };
  const store = config.store ?? new MemoryHistory();
  const log = config.log ?? SILENT;
  let tls;
  let motd: string[];
  try {
    tls = config.tls && readTls(config.tls);
    motd = config.motd === "" ? [] : readMotd(config.motd);
  } catch (e) {
    store.close();
    throw e;
  }
  const metrics = new Metrics();
  const cluster = config.cluster;
  const hub = new Hub({ ...config, store, metrics, log });
  // With `--redis`, ready once the service's members are known, and healthy while Redis answers.
  let attached = cluster === undefined;
  // Tried again until it works (Redis lost just after the node opened it), not once stopping.
  const stopped = Promise.withResolvers<void>();
  let stopping: Promise<void> | undefined;
  const attaching = (async () => {
    for (let wait = ATTACH_RETRY_MS, told = false; stopping === undefined; wait *= 2) {
      try {
        await hub.attach();
        attached = true;
        return;
      } catch (e) {
        if (!told) {
          log.error("cannot read the service's members from Redis; trying again", {
            error: errorText(e),
          });
        }
        told = true;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise((resolve) => timer = setTimeout(resolve, Math.min(wait, ATTACH_RETRY_MAX_MS))),
        stopped.promise,
      ]);
      clearTimeout(timer);
    }
  })();
  const limits = new ConnectionLimits(config);
  const shared = { metrics, log, joinTimeout: config.joinTimeout };
  let tcp: TcpServer | undefined;
  let irc: IrcServer | undefined;
  let listener: Deno.Listener<Conn, Deno.NetAddr>;
  let ready = false;
  const ws = webSocketEndpoint(hub, limits, { ...shared, closeTimeoutMs: config.closeTimeoutMs });
  const http = new HttpConnections({
    handler: createHandler({
      assets: config.assets ?? new Map(),
      ws,
      ready: () => ready && attached,
      healthy: () => cluster?.up ?? true,
      here: () => hereLine(hub.members()),
      metrics,
      log,
      allowOrigins: config.allowOrigins,
      publicHosts: config.publicHosts,
    }),
    headerTimeoutMs: config.headerTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    tls: tls !== undefined,
    metrics,
    log,
  });
  try {
    tcp = serveTcp(hub, {
      hostname: config.host,
      port: config.tcpPort,
      reusePort: config.reusePort,
      proxyProtocol: config.proxyProtocol,
      limits,
      ...shared,
      tlsHandshakeTimeoutMs: config.tlsHandshakeTimeoutMs,
      probeMs: config.terminalProbeMs,
      ...(tls ? { tls } : {}),
    });
    irc = serveIrc(hub, {
      hostname: config.host,
      port: config.ircPort,
      reusePort: config.reusePort,
      proxyProtocol: config.proxyProtocol,
      limits,
      ...shared,
      tlsHandshakeTimeoutMs: config.tlsHandshakeTimeoutMs,
      pingMs: config.ircPingMs,
      motd,
      ...(tls ? { tls } : {}),
    });
    const where = {
      hostname: config.host,
      port: config.port,
      ...(config.reusePort ? { reusePort: true } : {}),
    };
    listener = tls
      ? Deno.listenTls({ ...where, ...tls, alpnProtocols: ["http/1.1"] })
      : Deno.listen(where);
  } catch (e) {
    tcp?.close();
    irc?.close();
    store.close();
    // The listeners start in this order: the first not yet up is the one that failed.
    const flag = tcp === undefined
      ? ["--tcp-port", config.tcpPort] as const
      : irc === undefined
      ? ["--irc-port", config.ircPort] as const
      : ["--port", config.port] as const;
    throw listenError(e, config.host, flag, tls !== undefined);
  }
  watchGauges(metrics, hub, cluster ? () => cluster.position : () => store.lastId(), {
    web: ws,
    terminal: tcp,
    irc,
  });
  // Out of file descriptors, the loop pauses and accepts again: the
  // listener comes back by itself once sockets close.
  const accepting = acceptLoop({
    listener,
    limits,
    handshakeMs: config.tlsHandshakeTimeoutMs,
    proxyProtocol: config.proxyProtocol,
    metrics,
    log,
    via: "web",
    accepted: (conn, slot) => http.serve(conn, slot),
    refused: (conn, error) =>
      refuseRequest(conn, serviceUnavailable(error.message), (head) => refusedUpgrade(head, error)),
  });
  // Joins and leaves in a room past the presence limit go out in a summary.
  const summaries = setInterval(
    () => hub.summarize(),
    config.presenceEveryMs ?? PRESENCE_EVERY_MS,
  );
  ready = true;
  return {
    hub,
    connections: limits,
    metrics,
    http: listener.addr,
    tcp: tcp.addr,
    irc: irc.addr,
    shutdown(reason = "The server is shutting down.") {
      stopping ??= (async () => {
        stopped.resolve();
        ready = false;
        clearInterval(summaries);
        await attaching.catch(() => {});
        // The other nodes are told before this one's members go quietly.
        await hub.detach();
        hub.close(reason);
        await Promise.all([
          tcp.close(CLOSE_GRACE_MS),
          irc.close(CLOSE_GRACE_MS),
          ws.close(CLOSE_GRACE_MS),
        ]);
        listener.close();
        await accepting;
        await http.close();
        await flushes.settled();
        store.close();
        await cluster?.close();
      })();
      return stopping;
    },
  };
}

/** The whole answer to an HTTP connection over the caps: 503, why, and close. */
function serviceUnavailable(why: string): Uint8Array {
  const body = new TextEncoder().encode(`${why}\n`);
  const head = writeResponseHead(503, [
    ["content-type", "text/plain; charset=utf-8"],
    ["content-length", String(body.length)],
    ["connection", "close"],
    ["retry-after", "10"],
  ]);
  return concatBytes([head, body]);
}

/**
 * Opens the SQLite history a config names. Throws {@linkcode StartError}
 * when the database cannot be used.
 */
export function openStore(
  config: Pick<Config, "db" | "keep">,
  log: Logger = SILENT,
): SqliteHistory {
  let store;
  try {
    store = new SqliteHistory(config.db, config.keep, log);
  } catch (e) {
    if (!(e instanceof StoreError)) throw e;
    throw new StartError(`--db ${config.db}: ${e.message}`);
  }
  // Said loudly, on the terminal as well as in the log: the server starts,
  // but messages people were shown are gone.
  if (store.lost) {
    const { after, upTo } = store.lost;
    console.error(
      `chat: --db ${config.db}: WARNING: messages ${after + 1} to ${upTo} were stored and are ` +
        `gone: the database's write-ahead log (${config.db}-wal) was damaged or removed`,
    );
  }
  return store;
}

/** The contents of the certificate and key files; a file that cannot be read is a {@linkcode StartError}. */
function readTls(files: NonNullable<Config["tls"]>): Deno.TlsCertifiedKeyPem {
  const pem = { cert: readPem("--cert", files.cert), key: readPem("--key", files.key) };
  // Tried on a throwaway listener first, so a key that does not fit the
  // certificate is named as such, not taken for an address problem.
  try {
    Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...pem }).close();
  } catch (e) {
    throw new StartError(`--cert/--key: cannot use them (${errorText(e)})`);
  }
  return pem;
}

function readPem(flag: string, path: string): string {
  try {
    const text = Deno.readTextFileSync(path);
    if (!text.includes("-----BEGIN ")) throw new Error("not a PEM file");
    return text;
  } catch (e) {
    throw new StartError(`${flag} ${path}: ${errorText(e)}`);
  }
}

/**
 * Fails, naming the flag, if a port the config names (other than 0) is in
 * use: tried before the database is opened, so a second server started on
 * the same ports and database is told of the port it cannot have, not of a
 * locked database. Each is bound and let go at once; the real listeners
 * come after, and a port taken in between is still told by them.
 */
export function checkPorts(
  config: Pick<Config, "host" | "port" | "tcpPort" | "ircPort" | "reusePort">,
): void {
  const ports = [
    ["--tcp-port", config.tcpPort],
    ["--irc-port", config.ircPort],
    ["--port", config.port],
  ] as const;
  for (const [flag, port] of ports) {
    if (port === 0) continue;
    try {
      Deno.listen({ hostname: config.host, port, ...(config.reusePort ? { reusePort: true } : {}) })
        .close();
    } catch (e) {
      throw listenError(e, config.host, [flag, port], false);
    }
  }
}

/** Says why a listener could not start, naming the flag to change. */
function listenError(
  e: unknown,
  host: string,
  [flag, port]: readonly [string, number],
  tls: boolean,
): unknown {
  if (tls && e instanceof Error && /certificate|private key|pem|tls/i.test(e.message)) {
    return new StartError(`--cert/--key: cannot use them (${e.message})`);
  }
  if (e instanceof Deno.errors.AddrInUse || e instanceof Deno.errors.PermissionDenied) {
    return new StartError(`${flag} ${port}: cannot listen on ${host} port ${port}: ${e.message}`);
  }
  // An address that does not resolve or is not this machine's: a bad value.
  if (!(e instanceof Error)) return e;
  return new StartError(`--host ${host}: cannot listen there (${e.message})`, 2);
}

/** What `/metrics` reads of each transport. */
type Listening = Pick<TcpServer, "connections" | "queued">;

/** Registers what `/metrics` reads at each scrape. */
function watchGauges(
  metrics: Metrics,
  hub: Hub,
  lastId: () => number,
  transports: Record<Via, Listening>,
): void {
  const perVia = (value: (via: Via) => number) =>
    VIAS.map((via) => ({ labels: { via }, value: value(via) }));
  metrics.gauge("chat_members", "Members joined, by how they are connected (via).", () => {
    const counts: Record<Via, number> = { web: 0, terminal: 0, irc: 0 };
    for (const via of hub.vias()) counts[via]++;
    return perVia((via) => counts[via]);
  });
  metrics.gauge(
    "chat_service_members",
    "Members joined to the whole service: this node's, and with --redis every other node's.",
    () => hub.serviceSize,
  );
  metrics.gauge("chat_rooms", "Live rooms: rooms someone is in.", () => {
    let rooms = 0;
    for (const _ of hub.rooms()) rooms++;
    return rooms;
  });
  // Members per room as a histogram, not a label per room: room names are
  // made by users, and a label per name would grow without bound.
  metrics.histogram(
    "chat_room_members",
    "Live rooms by how many members are in them.",
    ROOM_SIZE_BUCKETS,
    () => [...hub.rooms()].map((room) => room.size),
  );
  metrics.gauge(
    "chat_connections",
    "Open connections, joined or not, by how they are connected (via).",
    () => perVia((via) => transports[via].connections),
  );
  metrics.gauge(
    "chat_queued_bytes",
    "Bytes waiting to be sent to members, in all, by how they are connected (via).",
    () => perVia((via) => transports[via].queued().total),
  );
  metrics.gauge(
    "chat_queued_bytes_max",
    "Bytes waiting to be sent to the one member with the most, by how they are connected (via).",
    () => perVia((via) => transports[via].queued().max),
  );
  metrics.gauge("chat_last_message_id", "The last message id handed out.", () => {
    try {
      return lastId();
    } catch {
      return NaN;
    }
  });
  const started = Date.now() / 1000;
  metrics.gauge("process_start_time_seconds", "When the server started.", () => started);
  metrics.gauge(
    "process_resident_memory_bytes",
    "Resident memory of the server process.",
    () => Deno.memoryUsage().rss,
  );
  metrics.gauge(
    "process_heap_used_bytes",
    "JavaScript heap in use.",
    () => Deno.memoryUsage().heapUsed,
  );
}
