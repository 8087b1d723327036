// Churn: 30 pages, each in 20 of 25 rooms, talking; some drop, one is
// kicked, one renames; then shutdown while busy. Checks: every page sees
// ids strictly increasing, never a message of a room it is not in, no ghost
// left in any room, no live room left empty, and no uncaught error.
// Run: deno run -A attack_notes/churn.ts
import { startServer } from "../tests/kit/server.ts";
import { joinWs, WsClient } from "../tests/kit/ws_client.ts";

const server = startServer({ maxPerIp: 100, presenceLimit: 5, presenceEveryMs: 20 });
const rooms = Array.from({ length: 25 }, (_, i) => `#r${i}`);
const pages: { ws: WsClient; nick: string; rooms: Set<string> }[] = [];
let problems = 0;
try {
  for (let p = 0; p < 30; p++) {
    const mine = rooms.filter((_, i) => (i + p) % 5 !== 0).slice(0, 20);
    const ws = await WsClient.open(server);
    await joinWs(ws, `p${p}`, { rooms: mine } as never);
    pages.push({ ws, nick: `p${p}`, rooms: new Set(mine) });
  }
  for (let round = 0; round < 20; round++) {
    for (const [i, p] of pages.entries()) {
      const room = [...p.rooms][(round + i) % p.rooms.size]!;
      p.ws.send({ type: "say", room, text: `r${round} from ${p.nick}` });
      if (round === 5 && i % 7 === 0) p.ws.send({ type: "part", room });
      if (round === 6 && i % 7 === 0) p.ws.send({ type: "enter", room });
    }
    if (round === 10) server.hub.kick("p3", "test");
    if (round === 12) pages[4]!.ws.send({ type: "nick", nick: "renamed4" });
    if (round === 14) await pages[5]!.ws.close();
  }
  // Settle: everyone still open asks who in a room it is in.
  for (const p of pages) {
    if (p.nick === "p3" || p.nick === "p5") continue;
    p.ws.send({ type: "who", room: [...p.rooms][0] });
    await p.ws.next("members");
  }
  for (const p of pages) {
    let last = 0;
    for (const e of p.ws.events) {
      if (e.type === "message") {
        if (e.id <= last) {
          problems++;
          console.log(p.nick, "id not increasing", last, e.id);
        }
        last = e.id;
        if (e.room && !p.rooms.has(e.room)) {
          problems++;
          console.log(p.nick, "got", e.room);
        }
      }
      if (
        (e.type === "join" || e.type === "leave" || e.type === "presence") && e.room &&
        !p.rooms.has(e.room)
      ) {
        problems++;
        console.log(p.nick, "presence of", e.room);
      }
    }
  }
  for (const room of server.hub.rooms()) {
    if (room.size === 0) {
      problems++;
      console.log("empty live room", room.name);
    }
    for (const m of room.members()) {
      if (m.nick === "p3" || m.nick === "p5") {
        problems++;
        console.log("ghost", m.nick, "in", room.name);
      }
    }
  }
  // Shutdown while everyone talks.
  for (const p of pages) {
    for (const room of p.rooms) p.ws.send({ type: "say", room, text: "last words" });
  }
} finally {
  await server.shutdown("bye");
}
for (const p of pages) await p.ws.closed;
console.log(problems === 0 ? "OK: no problem found" : `${problems} problems`);
