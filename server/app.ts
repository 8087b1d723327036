/**
 * The whole service for one room: the TCP listener and the HTTP server, wired
 * to the same {@linkcode Room}. `main.ts` starts it from flags; tests start it
 * on port 0.
 *
 * @module
 */

import type { Assets } from "./assets.ts";
import type { Config } from "./config.ts";
import { type HistoryStore, MemoryHistory } from "./history/history.ts";
import { type ConnectionCaps, ConnectionLimits } from "./transport/limits.ts";
import { type Rate } from "./hub/flood.ts";
import { within } from "./deadline.ts";
import { flushes } from "./transport/flush.ts";
import { createHandler } from "./http.ts";
import { errorText, type Logger, SILENT } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { PRESENCE_EVERY_MS, Room } from "./hub/room.ts";
import { serveTcp, type TcpServer } from "./transport/terminal/tcp.ts";
import { type WebSocketEndpoint, webSocketEndpoint } from "./transport/ws.ts";

/** A running chat service. */
export interface ChatServer {
  readonly room: Room;
  /** What `/metrics` serves. */
  readonly metrics: Metrics;
  /** Where the page and `/ws` are served. */
  readonly http: Deno.NetAddr;
  /** Where `nc`/`telnet` connect. */
  readonly tcp: Deno.NetAddr;
  /**
   * Tells everyone the server is stopping, closes every connection and both
   * listeners. Finishes within a few seconds even if peers do not answer.
   * Idempotent.
   */
  shutdown(reason?: string): Promise<void>;
}

/** How long shutdown waits for peers to take their last bytes and close. */
const CLOSE_GRACE_MS = 2000;

/** How long to wait before listening again after the HTTP listener failed. */
const RELISTEN_MS = 1000;

/** What {@linkcode startChat} needs: the listeners' addresses, and optionally a history. */
export type ChatOptions = Pick<Config, "host" | "port" | "tcpPort"> & {
  /** Messages shown to whoever joins. @default {100} */
  historyLimit?: number;
  /** The room's history; the server closes it at shutdown. @default {new MemoryHistory()} */
  history?: HistoryStore;
  /** Flood control per member. @default {{ burst: 10, perSecond: 2 }} */
  flood?: Rate;
  /** Most members for which each join and leave is announced. @default {500} */
  presenceLimit?: number;
  /** How often a big room's joins and leaves are summarized. @default {PRESENCE_EVERY_MS} */
  presenceEveryMs?: number;
  /** Open connections allowed. @default {{ perAddress: 20, total: 1000 }} */
  caps?: ConnectionCaps;
  /** Origins besides the server's own whose pages may open `/ws`. */
  allowOrigins?: readonly string[];
  /** How long a new connection may take to join. @default {60_000} */
  registrationMs?: number;
  /** Certificate chain and key (PEM): serve HTTPS/WSS and TLS on the terminal port. */
  tls?: Deno.TlsCertifiedKeyPem;
  /** Where log lines go. @default {SILENT} */
  log?: Logger;
};

/** Starts both listeners for one room. */
export function startChat(config: ChatOptions, assets: Assets = new Map()): ChatServer {
  const history = config.history ?? new MemoryHistory();
  const metrics = new Metrics();
  const log = config.log ?? SILENT;
  const room = new Room({
    history,
    historyLimit: config.historyLimit ?? 100,
    metrics,
    log,
    ...(config.flood ? { flood: config.flood } : {}),
    ...(config.presenceLimit !== undefined ? { presenceLimit: config.presenceLimit } : {}),
  });
  const limits = new ConnectionLimits(config.caps ?? { perAddress: 20, total: 1000 });
  const shared = {
    metrics,
    log,
    ...(config.registrationMs !== undefined ? { registrationMs: config.registrationMs } : {}),
  };
  const tcp = serveTcp(room, {
    hostname: config.host,
    port: config.tcpPort,
    limits,
    ...shared,
    ...(config.tls ? { tls: config.tls } : {}),
  });
  const ws = webSocketEndpoint(room, limits, shared);
  watchGauges(metrics, room, history, tcp, ws);
  let ready = false;
  let stopping: Promise<void> | undefined;
  const handler = createHandler({
    assets,
    ws,
    ready: () => ready,
    metrics,
    log,
    ...(config.allowOrigins ? { allowOrigins: config.allowOrigins } : {}),
  });
  const listen = (port: number) =>
    Deno.serve({
      hostname: config.host,
      port,
      onListen: () => {},
      ...(config.tls ?? {}),
      handler,
    });
  let http: Deno.HttpServer<Deno.NetAddr>;
  try {
    http = listen(config.port);
  } catch (e) {
    tcp.close();
    history.close();
    throw e;
  }
  const address = http.addr;
  // Every server started, the failed ones too: a failed one still serves the
  // connections it had accepted, so shutdown ends them all.
  const servers = new Set([http]);
  // Deno's HTTP server stops for good when an accept fails, as it does when
  // the process is out of file descriptors; left alone, that ends the
  // process. Listen again on the same port, once a second until it works.
  let relisten: ReturnType<typeof setTimeout> | undefined;
  const watch = (server: Deno.HttpServer<Deno.NetAddr>) => {
    server.finished.catch((e) => {
      if (stopping) return;
      log.error("HTTP listener failed; listening again", { error: errorText(e) });
      const retry = () => {
        relisten = setTimeout(() => {
          relisten = undefined;
          if (stopping) return;
          try {
            const again = listen(address.port);
            servers.add(again);
            log.warn("HTTP listener back", { port: address.port });
            watch(again);
          } catch (e) {
            log.error("cannot listen again yet", { error: errorText(e) });
            retry();
          }
        }, RELISTEN_MS);
      };
      retry();
    });
  };
  watch(http);
  // Joins and leaves in a room past the presence limit go out in a summary.
  const summaries = setInterval(
    () => room.summarize(),
    config.presenceEveryMs ?? PRESENCE_EVERY_MS,
  );
  ready = true;
  return {
    room,
    metrics,
    http: address,
    tcp: tcp.addr,
    shutdown(reason = "The server is shutting down.") {
      stopping ??= (async () => {
        ready = false;
        clearInterval(summaries);
        clearTimeout(relisten);
        room.close(reason);
        await Promise.all([tcp.close(CLOSE_GRACE_MS), within(ws.close(), CLOSE_GRACE_MS)]);
        await flushes.settled();
        // A failed server rejects: it still closes what it had.
        await Promise.all([...servers].map((server) => server.shutdown().catch(() => {})));
        history.close();
      })();
      return stopping;
    },
  };
}

/** Registers what `/metrics` reads at each scrape. */
function watchGauges(
  metrics: Metrics,
  room: Room,
  history: HistoryStore,
  tcp: TcpServer,
  ws: WebSocketEndpoint,
): void {
  const perTransport = (web: number, terminal: number) => [
    { labels: { transport: "web" }, value: web },
    { labels: { transport: "terminal" }, value: terminal },
  ];
  metrics.gauge("chat_members", "Members in the room, by transport.", () => {
    const members = room.members();
    const web = members.filter((m) => m.via === "web").length;
    return perTransport(web, members.length - web);
  });
  metrics.gauge(
    "chat_connections",
    "Open connections, joined or not, by transport.",
    () => perTransport(ws.connections, tcp.connections),
  );
  metrics.gauge(
    "chat_queued_bytes",
    "Bytes waiting to be sent to members, in all, by transport.",
    () => perTransport(ws.queued().total, tcp.queued().total),
  );
  metrics.gauge(
    "chat_queued_bytes_max",
    "Bytes waiting to be sent to the one member with the most, by transport.",
    () => perTransport(ws.queued().max, tcp.queued().max),
  );
  metrics.gauge("chat_last_message_id", "The last message id handed out.", () => {
    try {
      return history.lastId();
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
