/**
 * Reference peer: Node + `ws` (pinned in bench/peers/package.json).
 *
 * The workload of Bun's `bench/websocket-server`: a client connects to
 * `ws://127.0.0.1:PORT/?name=NAME`; every text frame it sends is relayed as
 * `NAME: text` to every connected client, the sender included.
 *
 * Usage: `node bench/peers/node_ws.mjs [PORT]` (default 0, a free port);
 * prints `listening PORT` once ready.
 *
 * @module
 */

import { createRequire } from "node:module";

// Loaded with require, from bench/peers/node_modules: `deno task check`
// type-checks bench/ and would otherwise look for `ws` among Deno's imports.
const { WebSocketServer } = createRequire(import.meta.url)("ws");

const server = new WebSocketServer({
  host: "127.0.0.1",
  port: Number(process.argv[2] ?? 0),
  perMessageDeflate: false,
});

server.on("connection", (socket, request) => {
  const name = new URL(request.url ?? "/", "http://localhost").searchParams.get("name") ??
    "anonymous";
  socket.on("message", (data) => {
    const out = `${name}: ${data}`;
    for (const client of server.clients) client.send(out);
  });
  socket.on("error", () => {});
});

server.on("listening", () => console.log(`listening ${server.address().port}`));
