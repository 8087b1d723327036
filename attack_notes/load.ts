// Resource probes: 1,000 rooms with long topics, the size and cost of a
// `rooms` answer, a welcome with since=0 over 20 full rooms, and an honest
// member's round trip meanwhile. Run: deno run -A attack_notes/load.ts
import { startServer } from "../tests/kit/server.ts";
import { joinWs, WsClient } from "../tests/kit/ws_client.ts";
import { SqliteHistory } from "../server/history/sqlite.ts";

const mb = () => (Deno.memoryUsage().rss / 2 ** 20).toFixed(0) + " MB";
const server = startServer({
  store: new SqliteHistory(":memory:", 1000),
  maxPerIp: 1000,
  maxClients: 2000,
  maxRooms: 1100,
});
const clients: WsClient[] = [];
try {
  console.log("rss at start", mb());
  const topic = "\u{1F4A9}".repeat(300); // 300 code points, 4 UTF-8 bytes each
  let t0 = performance.now();
  for (let c = 0; c < 50; c++) {
    const ws = await WsClient.open(server);
    clients.push(ws);
    const rooms = Array.from({ length: 20 }, (_, i) => `#r${c}x${i}${"\u4e2d".repeat(24)}`);
    await joinWs(ws, `owner${c}`, { rooms } as never);
    for (const room of rooms) ws.send({ type: "topic", room, text: topic });
    for (const room of rooms) await ws.next("topic", (e) => e.room === room);
  }
  console.log(
    `1000 rooms made with topics in ${(performance.now() - t0).toFixed(0)} ms; rss ${mb()}`,
  );

  const honest = await WsClient.open(server);
  clients.push(honest);
  await joinWs(honest, "honest");
  const rtt = async () => {
    const t = performance.now();
    honest.send({ type: "who" });
    await honest.next("members");
    return performance.now() - t;
  };
  console.log("honest who rtt idle", (await rtt()).toFixed(1), "ms");

  // rooms answer size
  const probe = await WsClient.open(server);
  clients.push(probe);
  await joinWs(probe, "prober");
  let bytes = 0;
  const sock = probe as unknown as { events: unknown[] };
  probe.send({ type: "rooms" });
  const r = await probe.next("rooms");
  bytes = JSON.stringify(r).length;
  console.log(
    `rooms answer: ${r.rooms.length} listed of ${r.total}, ~${
      (new TextEncoder().encode(JSON.stringify(r)).length / 1024).toFixed(0)
    } KiB`,
  );
  void bytes;
  void sock;

  // 200 rooms requests pipelined from 20 connections (UNLIMITED flood in this server)
  const spammers: WsClient[] = [];
  for (let i = 0; i < 20; i++) {
    const s = await WsClient.open(server);
    clients.push(s);
    spammers.push(s);
    await joinWs(s, `spam${i}`);
  }
  t0 = performance.now();
  for (const s of spammers) for (let k = 0; k < 10; k++) s.send({ type: "rooms" });
  const during = rtt();
  await Promise.all(spammers.map(async (s) => {
    for (let k = 0; k < 10; k++) await s.next("rooms");
  }));
  const ms = performance.now() - t0;
  console.log(
    `200 rooms answers in ${ms.toFixed(0)} ms (${
      (ms / 200).toFixed(2)
    } ms each); honest rtt during ${(await during).toFixed(1)} ms; rss ${mb()}`,
  );

  // welcome with since=0 over 20 rooms of 1000 long messages
  const filler = await WsClient.open(server);
  clients.push(filler);
  const big = Array.from({ length: 20 }, (_, i) => `#big${i}`);
  await joinWs(filler, "filler", { rooms: big } as never);
  const text = "\u{1F600}".repeat(1000); // 2000 UTF-16 units, 4000 UTF-8 bytes
  t0 = performance.now();
  for (const room of big) for (let k = 0; k < 60; k++) filler.send({ type: "say", room, text });
  filler.send({ type: "who", room: "#big0" });
  await filler.next("members");
  console.log(`1200 messages of 4 KB in ${(performance.now() - t0).toFixed(0)} ms`);
  const late = await WsClient.open(server);
  clients.push(late);
  t0 = performance.now();
  const w = await joinWs(late, "late", { since: 0, rooms: big } as never);
  const size = new TextEncoder().encode(JSON.stringify(w)).length;
  console.log(
    `welcome since=0 in 20 rooms: ${w.history.length} messages, ${
      (size / 2 ** 20).toFixed(2)
    } MiB, ${(performance.now() - t0).toFixed(0)} ms; gap=${w.gap}; rss ${mb()}`,
  );
} finally {
  for (const c of clients) await c.close().catch(() => {});
  await server.shutdown();
}
