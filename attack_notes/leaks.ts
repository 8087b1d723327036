// Cross-room leak probe: a page in #lobby only must see nothing of what a
// member who is only in #dev does (or of #dev's other members).
// Run: deno run -A attack_notes/leaks.ts
import { startServer } from "../tests/kit/server.ts";
import { joinWs, WsClient } from "../tests/kit/ws_client.ts";
import { connectTcp } from "../tests/kit/tcp_client.ts";
import { SqliteHistory } from "../server/history/sqlite.ts";

const server = startServer({
  store: new SqliteHistory(":memory:", 100),
  presenceLimit: 2,
  presenceEveryMs: 50,
});
try {
  const listener = await WsClient.open(server);
  await joinWs(listener, "listener");
  const dev1 = await WsClient.open(server);
  const w1 = await joinWs(dev1, "devone", { rooms: ["#dev"] } as never);
  const dev2 = await WsClient.open(server);
  await joinWs(dev2, "devtwo", { rooms: ["#dev"] } as never);
  const dev3 = await WsClient.open(server);
  await joinWs(dev3, "devthree", { rooms: ["#dev"] } as never);
  dev1.send({ type: "say", room: "#dev", text: "secret" });
  dev1.send({ type: "me", room: "#DEV", text: "whispers" });
  dev1.send({ type: "topic", room: "#dev", text: "secret topic" });
  dev1.send({ type: "nick", nick: "devone2" });
  dev1.send({ type: "part", room: "#dev", reason: "bye secret" });
  dev1.send({ type: "enter", room: "#dev" });
  dev1.send({ type: "say", room: "#lobby", text: "probe" });
  dev1.send({ type: "who", room: "#lobby" });
  dev1.send({ type: "history", room: "#lobby" });
  dev1.send({ type: "topic", room: "#lobby" });
  await dev1.next("error", (e) => e.code === "not_in_room" && e.room === "#lobby");
  // take back another's seat without its token
  const thief = await WsClient.open(server);
  thief.send({ type: "join", nick: "devtwo", token: "x", since: 0, rooms: ["#dev"] });
  console.log(
    "thief:",
    JSON.stringify(await thief.nextEvent((e) => e.type === "welcome" || e.type === "error")),
  );
  thief.send({ type: "join", nick: "devtwo", token: w1.token, since: 0, rooms: ["#dev"] });
  console.log(
    "thief w/ devone's token for devtwo:",
    JSON.stringify(await thief.nextEvent((e) => e.type === "welcome" || e.type === "error")),
  );
  await dev3.close();
  await dev2.close();
  // a terminal member in #dev only
  const t = await connectTcp(server, "termy");
  await t.send("/part");
  await t.send("/join #dev");
  await t.send("in dev from term");
  await t.send("/quit leaving dev");
  await t.readToEnd();
  // fence: listener asks who; anything before the answer is what leaked
  listener.send({ type: "who" });
  await listener.next("members");
  const leaked = listener.events.filter((e) =>
    e.type !== "welcome" && e.type !== "members" &&
    !(e.type === "join" && (e.nick === "termy")) && !(e.type === "leave" && e.nick === "termy")
  );
  console.log("listener saw:", JSON.stringify(leaked, null, 0));
  await listener.close();
  await dev1.close();
  await thief.close();
} finally {
  await server.shutdown();
}
