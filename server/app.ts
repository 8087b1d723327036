/**
 * The whole service for one room: the TCP listener and the HTTP server, wired
 * to the same {@linkcode Room}. `main.ts` starts it from flags; tests start it
 * on port 0.
 *
 * @module
 */

import type { Assets } from "./assets.ts";
import type { Config } from "./config.ts";
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

/** Starts both listeners for one room. */
export function startChat(config: Config, assets: Assets = new Map()): ChatServer {
  const room = new Room();
  const tcp = serveTcp(room, { hostname: config.host, port: config.tcpPort });
  const ws = webSocketEndpoint(room);
  let ready = false;
  let http: Deno.HttpServer<Deno.NetAddr>;
  try {
    http = Deno.serve({
      hostname: config.host,
      port: config.port,
      onListen: () => {},
      handler: createHandler({ assets, ws, ready: () => ready }),
    });
  } catch (e) {
    tcp.close();
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
      })();
      return stopping;
    },
  };
}
