/**
 * Attacks from issue 12 tried over real sockets, each named after what the
 * attacker did; each failed against the server before its fix.
 *
 * @module
 */

import assert from "node:assert/strict";
import { encodeFrame, RawWebSocket } from "./kit/raw_ws.ts";
import { Opcode } from "../server/transport/web/frames.ts";
import { concatBytes } from "../server/transport/io.ts";
import { withServer } from "./kit/server.ts";
import { connectWs } from "./kit/ws_client.ts";

const encoder = new TextEncoder();

Deno.test("pipelining 60 history requests of 1,000 gets one reply, then the flooder is cut off", async () => {
  await withServer({ floodBurst: 10, floodRate: 2 }, async (server) => {
    for (let i = 0; i < 300; i++) server.hub.announce(`line ${i} ${"長".repeat(500)}`);
    await using bystander = await connectWs(server, "bystander");
    const attacker = await RawWebSocket.connect(server.http);
    try {
      await attacker.send({ type: "join", nick: "attacker" });
      await attacker.receiveUntil('"welcome"');
      // Sixty requests in one write: the server reads them in one turn.
      const request = encoder.encode('{"type":"history","count":1000}');
      await attacker.write(
        concatBytes(Array.from({ length: 60 }, () => encodeFrame(Opcode.text, request))),
      );
      const frames = await attacker.receiveToEnd();
      const histories = frames.filter((f) => f.includes('"type":"history"')).length;
      assert.equal(histories, 1, "one reply was built, not sixty");
      assert.ok(frames.some((f) => f.includes("Disconnected for flooding")), frames.join("\n"));
      // The bystander was never held up: its own request is answered.
      await bystander.send({ type: "who" });
      const members = await bystander.next("members");
      assert.deepEqual(members.members.map((m) => m.nick), ["bystander"]);
    } finally {
      attacker.close();
    }
  });
});
