/**
 * What an operator has of rooms: the console's `/say #room`, `/topic #room`,
 * `/rooms` and `/who #room`, a server-wide `/kick`, and `/metrics`' room
 * figures, which never carry a room's name.
 *
 * @module
 */

import assert from "node:assert/strict";
import { operate } from "../server/console.ts";
import { ConnectionLimits } from "../server/transport/limits.ts";
import { Hub } from "../server/hub/hub.ts";
import { SERVER_NICK } from "../common/nick.ts";
import { FakeMember } from "./kit/fake_member.ts";
import { httpUrl, withServer } from "./kit/server.ts";
import { connectWs } from "./kit/ws_client.ts";

/** alice in #lobby and #dev, bob in #lobby only; a console printing into `printed`. */
function setup() {
  const hub = new Hub({ now: () => 1_000 });
  const alice = new FakeMember("web");
  const bob = new FakeMember("terminal");
  assert.equal(hub.join(alice, "alice", undefined, undefined, ["#lobby", "#dev"]), true);
  assert.equal(hub.join(bob, "bob"), true);
  alice.take();
  bob.take();
  const printed: string[] = [];
  const target = { hub, connections: new ConnectionLimits() };
  const run = (line: string) => operate(target, line, (l) => printed.push(l));
  return { hub, alice, bob, printed, run };
}

Deno.test("console: a plain line goes to #lobby, /say #dev only to #dev", () => {
  const { alice, bob, run } = setup();
  run("hello lobby");
  run("/say #dev hello dev");
  const said = (m: FakeMember) => m.ofType("message").map((e) => `${e.room} ${e.from}: ${e.text}`);
  assert.deepEqual(said(alice), [
    `#lobby ${SERVER_NICK}: hello lobby`,
    `#dev ${SERVER_NICK}: hello dev`,
  ]);
  assert.deepEqual(said(bob), [`#lobby ${SERVER_NICK}: hello lobby`]);
});

Deno.test("console: /say to a room nobody is in keeps it in that room's history", () => {
  const { hub, printed, run } = setup();
  run("/say #later see you here");
  assert.deepEqual(printed, []);
  const carol = new FakeMember("web");
  hub.join(carol, "carol", undefined, undefined, ["#later"]);
  const [welcome] = carol.ofType("welcome");
  assert.deepEqual(welcome?.history.map((m) => m.text), ["see you here"]);
});

Deno.test("console: /topic #room sets it for the room's members, and shows it", () => {
  const { alice, bob, printed, run } = setup();
  run("/topic #dev Deploys at 5");
  assert.deepEqual(alice.ofType("topic"), [{
    type: "topic",
    room: "#dev",
    topic: { text: "Deploys at 5", by: SERVER_NICK, ts: 1_000 },
    changed: true,
  }]);
  assert.deepEqual(bob.ofType("topic"), []);
  run("/topic #dev");
  assert.match(printed.at(-1) ?? "", /Topic of #dev: Deploys at 5/);
});

Deno.test("console: /rooms lists live rooms biggest first, /who #dev a room's members", () => {
  const { printed, run } = setup();
  run("/rooms");
  assert.deepEqual(printed, ["-- 2 rooms:", "--   #lobby (2)", "--   #dev (1)"]);
  printed.length = 0;
  run("/who #dev");
  assert.equal(printed[0], "-- 1 in #dev:");
  assert.match(
    printed[2] ?? "",
    /^-- {3}alice +web +- +- +- +0 B$/,
    "no connection here: a bare hub",
  );
  assert.equal(printed.length, 3);
  printed.length = 0;
  run("/who #lobby");
  assert.deepEqual(printed.slice(2).map((l) => l.split(/\s+/)[1]), ["alice", "bob"]);
});

Deno.test("console: /kick is server-wide: every room the member was in is told", () => {
  const { hub, alice, bob, run } = setup();
  const carol = new FakeMember("web");
  hub.join(carol, "carol", undefined, undefined, ["#dev"]);
  carol.take();
  bob.take();
  run("/kick alice spam");
  assert.equal(alice.closed, 1);
  assert.deepEqual(
    carol.ofType("leave").map((e) => `${e.room} ${e.nick} ${e.reason}`),
    ["#dev alice kicked by the server: spam"],
  );
  assert.deepEqual(
    bob.ofType("leave").map((e) => `${e.room} ${e.nick}`),
    ["#lobby alice"],
  );
  assert.deepEqual(hub.roomsOf(alice), []);
});

Deno.test("GET /metrics has chat_rooms and a histogram of room sizes, and no room names", async () => {
  await withServer(async (server) => {
    await using alice = await connectWs(server, "alice");
    alice.send({ type: "enter", room: "#secret-plans" });
    await alice.next("entered");
    await using _bob = await connectWs(server, "bob");
    await alice.next("join", (e) => e.nick === "bob");
    const text = await (await fetch(httpUrl(server, "/metrics"))).text();
    assert.ok(!text.includes("secret"), "no room name in /metrics");
    const value = (series: string) => {
      const line = text.split("\n").find((l) => l.startsWith(`${series} `));
      assert.ok(line, `${series} in /metrics`);
      return Number(line.split(" ")[1]);
    };
    assert.equal(value("chat_rooms"), 2);
    assert.match(text, /# TYPE chat_room_members histogram/);
    assert.equal(value('chat_room_members_bucket{le="1"}'), 1);
    assert.equal(value('chat_room_members_bucket{le="2"}'), 2);
    assert.equal(value('chat_room_members_bucket{le="+Inf"}'), 2);
    assert.equal(value("chat_room_members_sum"), 3);
    assert.equal(value("chat_room_members_count"), 2);
  });
});

Deno.test("console: /topic #room shows the topic kept for a room nobody is in", () => {
  const { hub, alice, printed, run } = setup();
  hub.handle(alice, { type: "topic", room: "#dev", text: "Deploys at 5" });
  hub.handle(alice, { type: "part", room: "#dev" });
  assert.equal(hub.room("#dev"), undefined);
  run("/topic #dev");
  assert.match(printed.at(-1) ?? "", /Topic of #dev: Deploys at 5 \(set by alice\)/);
});
