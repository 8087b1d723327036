/**
 * The whole service for one room: the TCP listener and the HTTP server, wired
 * to the same {@linkcode Room}. `main.ts` starts it from flags; tests start it
 * on port 0.
 *
 * @module
 */

import type { Assets } from "./assets.ts";
import type { Config } from "./config.ts";
import { type HistoryStore, MemoryHistory } from "./history.ts";
import { type ConnectionCaps, ConnectionLimits, type Rate } from "./limits.ts";
import { within } from "./deadline.ts";
import { createHandler } from "./http.ts";
import { Room } from "./room.ts";
import { serveTcp } from "./tcp.ts";
import { webSocketEndpoint } from "./ws.ts";

/** A running chat service. */
export interface ChatServer {
  readonly room: Room;
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

/** What {@linkcode startChat} needs: the listeners' addresses, and optionally a history. */
export type ChatOptions = Pick<Config, "host" | "port" | "tcpPort"> & {
  /** Messages shown to whoever joins. @default {100} */
  historyLimit?: number;
  /** The room's history; the server closes it at shutdown. @default {new MemoryHistory()} */
  history?: HistoryStore;
  /** Flood control per member. @default {{ burst: 10, perSecond: 2 }} */
  flood?: Rate;
  /** Open connections allowed. @default {{ perAddress: 20, total: 1000 }} */
  caps?: ConnectionCaps;
  /** Origins besides the server's own whose pages may open `/ws`. */
  allowOrigins?: readonly string[];
};

/** Starts both listeners for one room. */
export function startChat(config: ChatOptions, assets: Assets = new Map()): ChatServer {
  const history = config.history ?? new MemoryHistory();
  const room = new Room({
    history,
    historyLimit: config.historyLimit ?? 100,
    ...(config.flood ? { flood: config.flood } : {}),
  });
  const limits = new ConnectionLimits(config.caps ?? { perAddress: 20, total: 1000 });
  const tcp = serveTcp(room, { hostname: config.host, port: config.tcpPort, limits });
  const ws = webSocketEndpoint(room, limits);
  let ready = false;
  let http: Deno.HttpServer<Deno.NetAddr>;
  try {
    http = Deno.serve({
      hostname: config.host,
      port: config.port,
      onListen: () => {},
      handler: createHandler({
        assets,
        ws,
        ready: () => ready,
        ...(config.allowOrigins ? { allowOrigins: config.allowOrigins } : {}),
      }),
    });
  } catch (e) {
    tcp.close();
    history.close();
    throw e;
  }
  ready = true;
  let stopping: Promise<void> | undefined;
  return {
    room,
    http: http.addr,
    tcp: tcp.addr,
    shutdown(reason = "The server is shutting down.") {
      stopping ??= (async () => {
        ready = false;
        room.close(reason);
        await Promise.all([tcp.close(CLOSE_GRACE_MS), within(ws.close(), CLOSE_GRACE_MS)]);
        await http.shutdown();
        history.close();
      })();
      return stopping;
    },
  };
}
