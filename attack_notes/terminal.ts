// Terminal probes: full-width "#" in /join and /part, /part with a bare name,
// labels, a braille-blank look-alike of a room one is in.
// Run: deno run -A attack_notes/terminal.ts
import { startServer } from "../tests/kit/server.ts";
import { connectTcp } from "../tests/kit/tcp_client.ts";
import { joinWs, WsClient } from "../tests/kit/ws_client.ts";

const server = startServer();
try {
  await using t = await connectTcp(server, "ann");
  await using bob = await WsClient.open(server);
  await joinWs(bob, "bob", { rooms: ["#lobby", "#dev"] } as never);
  const step = async (line: string, until: string) => {
    await t.send(line);
    console.log(`> ${line}\n   ${(await t.readLinesUntil(until)).join("\n   ")}`);
  };
  await step("/join ＃dev", "Lines you type now go to");
  await step("/join #dev", "Lines you type now go to");
  await step("/part dev", "You left");
  await step("/help", "lines you type go to");
  await step("/join #dev\u2800", "Lines you type now go to");
  bob.send({ type: "say", room: "#dev", text: "from bob in the real #dev" });
  await step("/join #lobby", "Lines you type now go to");
  await step("/who", "here:");
} finally {
  await server.shutdown();
}
