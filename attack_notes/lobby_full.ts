// Filling --max-rooms locks newcomers out of #lobby: run with a small cap.
// Run: deno run -A attack_notes/lobby_full.ts
import { startServer } from "../tests/kit/server.ts";
import { joinWs, WsClient } from "../tests/kit/ws_client.ts";
import { connectTcp } from "../tests/kit/tcp_client.ts";

const server = startServer({ maxRooms: 20 });
try {
  // Before anyone is in #lobby (a fresh start, or a quiet night), one member takes every room.
  await using squatter = await WsClient.open(server);
  const rooms = Array.from({ length: 20 }, (_, i) => `#squat${i}`);
  await joinWs(squatter, "squatter", { rooms } as never);
  await using page = await WsClient.open(server);
  const w = await joinWs(page, "newcomer");
  console.log("newcomer's welcome rooms:", JSON.stringify(w.rooms), "room:", w.room);
  page.send({ type: "who" });
  const answer = await page.nextEvent((e) => e.type === "members" || e.type === "error");
  // Before the fix: rooms [] and a rooms_full error about #lobby; after: #lobby.
  console.log("then:", JSON.stringify(page.events.filter((e) => e.type === "error")), answer.type);
  await using term = await connectTcp(server, "termuser");
  await term.send("/help");
  console.log("terminal:", await term.readUntil("-- You are in"));
} finally {
  await server.shutdown();
}
