/**
 * Reference peer: Bun's built-in publish/subscribe (Bun from the npm package
 * `bun`, pinned in bench/peers/package.json).
 *
 * The workload of Bun's `bench/websocket-server`: a client connects to
 * `ws://127.0.0.1:PORT/?name=NAME`; every text frame it sends is published as
 * `NAME: text` to the topic every client is subscribed to, the sender
 * included (`publishToSelf`).
 *
 * Usage: `bench/peers/node_modules/.bin/bun bench/peers/bun_pubsub.ts [PORT]`
 * (default 0, a free port); prints `listening PORT` once ready.
 *
 * @module
 */

/** The part of a Bun server-side WebSocket used here. */
interface BunSocket {
  data: { name: string };
  subscribe(topic: string): void;
  publishText(topic: string, text: string): number;
}

/** The part of Bun's API used here (this file is type-checked by Deno). */
declare const Bun: {
  serve(options: {
    hostname: string;
    port: number;
    fetch(
      request: Request,
      server: { upgrade(request: Request, options: { data: { name: string } }): boolean },
    ): Response | undefined;
    websocket: {
      perMessageDeflate: boolean;
      publishToSelf: boolean;
      open(ws: BunSocket): void;
      message(ws: BunSocket, message: string | Uint8Array): void;
    };
  }): { port: number };
  argv: string[];
};

/** The topic every client subscribes to: the room. */
const ROOM = "room";

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(Bun.argv[2] ?? 0),
  fetch(request, server) {
    const name = new URL(request.url).searchParams.get("name") ?? "anonymous";
    if (server.upgrade(request, { data: { name } })) return undefined;
    return new Response("WebSocket only", { status: 400 });
  },
  websocket: {
    perMessageDeflate: false,
    publishToSelf: true,
    open(ws) {
      ws.subscribe(ROOM);
    },
    message(ws, message) {
      const text = typeof message === "string" ? message : new TextDecoder().decode(message);
      ws.publishText(ROOM, `${ws.data.name}: ${text}`);
    },
  },
});

console.log(`listening ${server.port}`);
