/**
 * Reference peer: the bare Deno broadcast loop, our runtime's ceiling.
 *
 * The workload of Bun's `bench/websocket-server`: a client connects to
 * `ws://127.0.0.1:PORT/?name=NAME`; every text frame it sends is relayed as
 * `NAME: text` to every connected client, the sender included. No rooms, no
 * validation, no history: only what a chat relay cannot do without.
 *
 * Usage: `deno run --allow-net=127.0.0.1 bench/peers/deno_bare.ts [PORT]`
 * (default 0, a free port); prints `listening PORT` once ready.
 *
 * @module
 */

const sockets = new Set<WebSocket>();

function relay(socket: WebSocket, name: string): void {
  socket.onopen = () => sockets.add(socket);
  socket.onmessage = (e) => {
    const out = `${name}: ${e.data}`;
    for (const s of sockets) s.send(out);
  };
  socket.onclose = () => sockets.delete(socket);
  socket.onerror = () => {};
}

Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.args[0] ?? 0),
  onListen: ({ port }) => console.log(`listening ${port}`),
}, (request) => {
  if (request.headers.get("upgrade") !== "websocket") {
    return new Response("WebSocket only", { status: 400 });
  }
  const name = new URL(request.url).searchParams.get("name") ?? "anonymous";
  const { socket, response } = Deno.upgradeWebSocket(request);
  relay(socket, name);
  return response;
});
