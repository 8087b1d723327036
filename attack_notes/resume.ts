// Resume across rooms after a restart: a page in #a and #b saw up to id S;
// more is said in both rooms (and a private), the server restarts, the page
// rejoins with since=S. Expect exactly the messages after S, in id order.
// Run: deno run -A attack_notes/resume.ts
import { startServer } from "../tests/kit/server.ts";
import { joinWs, WsClient } from "../tests/kit/ws_client.ts";
import { SqliteHistory } from "../server/history/sqlite.ts";

const dir = await Deno.makeTempDir();
const db = `${dir}/chat.db`;
let server = startServer({ store: new SqliteHistory(db, 1000) });
let seen = 0;
const said: number[] = [];
try {
  const page = await WsClient.open(server);
  await joinWs(page, "page", { rooms: ["#a", "#b"] } as never);
  const talker = await WsClient.open(server);
  await joinWs(talker, "talker", { rooms: ["#a", "#b", "#c"] } as never);
  for (let i = 0; i < 5; i++) {
    for (const room of ["#a", "#b", "#c"]) talker.send({ type: "say", room, text: `${room} ${i}` });
  }
  for (let i = 0; i < 15; i++) {
    const m = await page.next("message");
    seen = Math.max(seen, m.id);
    if (i === 5) break;
  }
  await page.close();
  for (let i = 5; i < 10; i++) {
    for (const room of ["#a", "#b", "#c"]) talker.send({ type: "say", room, text: `${room} ${i}` });
  }
  talker.send({ type: "who", room: "#a" });
  await talker.next("members");
  for (const e of talker.events) {
    if (e.type === "message" && e.room !== "#c" && e.id > seen) said.push(e.id);
  }
  await talker.close();
} finally {
  await server.shutdown();
}
server = startServer({ store: new SqliteHistory(db, 1000) });
try {
  const page = await WsClient.open(server);
  const w = await joinWs(page, "page", { since: seen, rooms: ["#B", "#а"] } as never); // look-alikes
  const got = w.history.map((m) => m.id);
  console.log("since", seen, "expected", JSON.stringify(said));
  console.log("got     ", JSON.stringify(got), "gap", w.gap, "rooms", w.rooms.map((r) => r.room));
  console.log(
    JSON.stringify(got) === JSON.stringify(said) ? "OK: no gap, no duplicate" : "MISMATCH",
  );
  const talker = await WsClient.open(server);
  await joinWs(talker, "talker2", { rooms: ["#a"] } as never);
  talker.send({ type: "say", room: "#a", text: "after restart" });
  const live = await page.next("message");
  console.log("next live id", live.id, "> last", Math.max(...got), live.id > Math.max(...got));
  await page.close();
  await talker.close();
} finally {
  await server.shutdown();
  await Deno.remove(dir, { recursive: true });
}
