/**
 * What members said before they left, over a slow message store: a node of
 * a service (`--redis`) with a {@linkcode FakeCluster} whose posts and
 * private ids wait until the test lets them through. A terminal's `/quit`,
 * an IRC client's `QUIT` and input that ends all wait for what was said
 * before: the others see it, then the leave.
 *
 * @module
 */

import assert from "node:assert/strict";
import { untilHealth } from "./kit/cluster.ts";
import { FakeBus, FakeCluster } from "./kit/fake_cluster.ts";
import { connectIrc } from "./kit/irc_client.ts";
import { type ChatServer, startServer } from "./kit/server.ts";
import { connectTcp, type TcpClient } from "./kit/tcp_client.ts";
import { connectWs, type WsClient } from "./kit/ws_client.ts";

/** A node over a slow store, and alice, who watches. */
async function withSlowNode(
  fn: (server: ChatServer, bus: FakeBus, alice: WsClient) => Promise<void>,
): Promise<void> {
  const bus = new FakeBus();
  const server = startServer({ cluster: new FakeCluster(bus, "n0") });
  try {
    await untilHealth(server, 200);
    await using alice = await connectWs(server, "alice");
    await fn(server, bus, alice);
  } finally {
    await server.shutdown();
    await bus.settle();
  }
}

/**
 * Holds the store, has `leave` send what is said and the leave in one
 * write (`held` resolves once the store holds something back), lets the
 * store go, and returns what alice saw of `nick` until it left.
 */
async function sayThenLeave(
  bus: FakeBus,
  alice: WsClient,
  nick: string,
  leave: () => Promise<void>,
): Promise<string[]> {
  const gate = Promise.withResolvers<void>();
  const held = Promise.withResolvers<void>();
  bus.posts = gate.promise;
  bus.held = () => held.resolve();
  await leave();
  // The line is held, and the leave read with it in one chunk: carried out
  // by now unless it waits for the line.
  await held.promise;
  bus.posts = undefined;
  gate.resolve();
  await alice.next("leave", (e) => e.nick === nick);
  return alice.events.flatMap((e) =>
    e.type === "message" && e.from === nick
      ? [`${e.to ? "private" : "said"} ${e.text}`]
      : e.type === "leave" && e.nick === nick
      ? [`left ${e.reason}`]
      : []
  );
}

Deno.test("slow store: a terminal's /quit waits for its last line, and for its private message", async () => {
  await withSlowNode(async (_server, bus, alice) => {
    await using bob = await connectTcp(_server, "bob");
    await alice.next("join", (e) => e.nick === "bob");
    const seen = await sayThenLeave(bus, alice, "bob", async () => {
      await bob.write("last line\r\n/quit done\r\n");
    });
    assert.deepEqual(seen, ["said last line", "left quit: done"]);
    assert.equal((await bob.readToEnd()).at(-1), "-- Bye!");

    await using carl = await connectTcp(_server, "carl");
    await alice.next("join", (e) => e.nick === "carl");
    const whispered = await sayThenLeave(bus, alice, "carl", async () => {
      await carl.write("/msg alice psst\r\n/quit\r\n");
    });
    assert.deepEqual(whispered, ["private psst", "left quit"]);
  });
});

Deno.test("slow store: an IRC client's QUIT waits for its last PRIVMSG", async () => {
  await withSlowNode(async (server, bus, alice) => {
    await using dan = await connectIrc(server, "dan");
    await dan.send("JOIN #lobby");
    await alice.next("join", (e) => e.nick === "dan");
    const seen = await sayThenLeave(bus, alice, "dan", async () => {
      await dan.write("PRIVMSG #lobby :last words\r\nQUIT :gone\r\nPRIVMSG #lobby :never\r\n");
    });
    assert.deepEqual(seen, ["said last words", "left quit: gone"]);
    await dan.readToEnd();
  });
});

Deno.test("slow store: input that ends waits for its last line", async () => {
  await withSlowNode(async (server, bus, alice) => {
    let eve: TcpClient | undefined;
    try {
      eve = await connectTcp(server, "eve");
      await alice.next("join", (e) => e.nick === "eve");
      const seen = await sayThenLeave(bus, alice, "eve", async () => {
        await eve!.write("piped last line\r\n");
        await eve!.closeWrite();
      });
      assert.deepEqual(seen, ["said piped last line", "left connection lost"]);
    } finally {
      await eve?.close();
    }
  });
});
