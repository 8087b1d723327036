/**
 * Hubs of several nodes over one in-memory service (`kit/fake_cluster.ts`):
 * the hub's side of `--redis`, with fake members. Real Redis is in
 * `redis_cluster_test.ts` and `cluster_test.ts`.
 */

import assert from "node:assert/strict";
import { type ChatMessage, MEMBER_ROOMS_MAX, type ServerEvent } from "../common/protocol.ts";
import { type Forwarded, type MemberRecord, tokenHash } from "../server/hub/cluster.ts";
import { nickKey } from "../common/nick.ts";
import { HISTORY_READS_AT_ONCE, Hub } from "../server/hub/hub.ts";
import { PRIVATE_KEEP } from "../server/hub/seat.ts";
import { FakeBus, FakeCluster } from "./kit/fake_cluster.ts";
import { FakeMember } from "./kit/fake_member.ts";

/** A member whose page can be closed (`Member.parting`), its seat kept for a reload. */
class ClosedPage extends FakeMember {
  parting = false;
}

/** Every service a test made, settled when it ends: no timer outlives a test. */
const buses: FakeBus[] = [];

function clusterTest(name: string, fn: () => Promise<void>): void {
  Deno.test(`cluster hub: ${name}`, async () => {
    try {
      await fn();
    } finally {
      for (const bus of buses.splice(0)) await bus.settle();
    }
  });
}

async function service(nodes = 2) {
  const bus = new FakeBus();
  buses.push(bus);
  const hubs: Hub[] = [];
  const clusters: FakeCluster[] = [];
  for (let i = 0; i < nodes; i++) {
    const cluster = new FakeCluster(bus, `n${i}`);
    const hub = new Hub({
      cluster,
      floodBurst: 1000,
      floodRate: 1000,
      joinRate: 1000,
      maxPerIp: 1000,
    });
    await hub.attach();
    hubs.push(hub);
    clusters.push(cluster);
  }
  return { bus, hubs, clusters };
}

async function join(hub: Hub, nick: string, rooms?: string[], via: FakeMember["via"] = "web") {
  const member = new FakeMember(via);
  const ok = await hub.join(member, nick, undefined, undefined, rooms);
  assert.ok(ok, `${nick} joined: ${JSON.stringify(member.events)}`);
  return member;
}

function texts(member: FakeMember): string[] {
  return member.ofType("message").map((m) => `${m.from}: ${m.text}`);
}

/** Node `node`, behind on the feed (`away`), reads all of it, and everything settles. */
async function caughtUp(bus: FakeBus, node: FakeCluster): Promise<void> {
  node.away = false;
  node.pump();
  await bus.settle();
}

/** The lines and leaves `member` was shown, in order. */
function saidAndLeft(member: FakeMember): string[] {
  return member.events.flatMap((e) =>
    e.type === "message" ? [`said ${e.text}`] : e.type === "leave" ? [`left ${e.reason}`] : []
  );
}

clusterTest("a line said on one node reaches members of every node once, in id order", async () => {
  const { bus, hubs: [a, b] } = await service();
  const alice = await join(a!, "alice");
  const bob = await join(b!, "bob");
  await bus.settle();
  // Each node lists its own members as they came, the others' as it heard of them.
  assert.deepEqual(a!.members().map((m) => m.nick).sort(), ["alice", "bob"]);
  assert.deepEqual(b!.members().map((m) => m.nick).sort(), ["alice", "bob"]);
  assert.ok(
    alice.ofType("join").some((e) => e.nick === "bob"),
    "alice saw bob join from the other node",
  );
  alice.take();
  bob.take();
  assert.equal(await a!.handle(alice, { type: "say", text: "one" }), true);
  assert.equal(await b!.handle(bob, { type: "say", text: "two" }), true);
  assert.equal(await a!.handle(alice, { type: "say", text: "three" }), true);
  // Nothing is shown before the service has it.
  assert.deepEqual(texts(alice), []);
  await bus.settle();
  for (const m of [alice, bob]) {
    assert.deepEqual(texts(m), ["alice: one", "bob: two", "alice: three"]);
    const ids = m.ofType("message").map((e) => e.id);
    assert.deepEqual(ids, [...ids].sort((x, y) => x - y));
  }
});

clusterTest(
  "a nickname held on one node is refused on another; free again once it leaves",
  async () => {
    const { bus, hubs: [a, b] } = await service();
    const alice = await join(a!, "alice");
    await bus.settle();
    const other = new FakeMember();
    assert.equal(await b!.join(other, "ALICE"), false);
    assert.deepEqual(other.codes(), ["nick_taken"]);
    a!.leave(alice, "quit");
    await bus.settle();
    assert.deepEqual(b!.members(), []);
    const again = new FakeMember();
    assert.equal(await b!.join(again, "alice"), true);
  },
);

clusterTest(
  "a member who quits while what it said waits on the store leaves after it is kept: everyone sees it, then the leave",
  async () => {
    const { bus, hubs: [a, b] } = await service();
    const alice = await join(a!, "alice");
    const bob = await join(b!, "bob");
    await bus.settle();
    const slow = Promise.withResolvers<void>();
    bus.posts = slow.promise;
    assert.equal(await a!.handle(alice, { type: "say", text: "last words" }), true);
    const quit = a!.handle(alice, { type: "quit", text: "bye" });
    await bus.settle();
    assert.equal(alice.closed, 0, "not closed before what it said is kept");
    assert.deepEqual(a!.members().map((m) => m.nick).sort(), ["alice", "bob"]);
    slow.resolve();
    assert.equal(await quit, true);
    await bus.settle();
    assert.equal(alice.closed, 1);
    const seen = saidAndLeft(bob);
    assert.deepEqual(seen, ["said last words", "left quit: bye"]);
  },
);

clusterTest("concurrent joins of one nickname on two nodes seat exactly one", async () => {
  const { bus, hubs } = await service(3);
  const members = Array.from({ length: 30 }, () => new FakeMember());
  const results = await Promise.all(members.map((m, i) => hubs[i % 3]!.join(m, "carol")));
  await bus.settle();
  assert.equal(results.filter(Boolean).length, 1);
  assert.equal(members.filter((m) => m.ofType("welcome").length === 1).length, 1);
  for (const hub of hubs) assert.deepEqual(hub.members().map((m) => m.nick), ["carol"]);
});

/** What `member` was shown in `room`, in order: lines, joins, leaves and topics. */
function happenings(member: FakeMember, room: string): string[] {
  return member.events.flatMap((e) => {
    if (e.type === "message" && e.room === room) return [`${e.from}: ${e.text}`];
    if (e.type === "join" && e.room === room) return [`${e.nick} joined`];
    if (e.type === "leave" && e.room === room) return [`${e.nick} left`];
    if (e.type === "topic" && e.room === room) return [`topic ${e.topic?.text ?? ""}`];
    if (e.type === "rename") return [`${e.from} is now ${e.to}`];
    return [];
  });
}

clusterTest(
  "what a member does is seen on every node after the lines it said before, and before those after, as it did them",
  async () => {
    const { bus, hubs: [a, b] } = await service();
    const alice = await join(a!, "alice", ["#ops"]);
    const near = await join(a!, "near", ["#ops"]);
    const far = await join(b!, "far", ["#ops"]);
    await bus.settle();
    for (const m of [alice, near, far]) m.take();
    // Redis slow to answer the lines: what she does next is handed on at once.
    const slow = Promise.withResolvers<void>();
    bus.posts = slow.promise;
    const said = [
      a!.handle(alice, { type: "say", room: "#ops", text: "one" }),
      a!.handle(alice, { type: "say", room: "#ops", text: "two" }),
    ];
    // As a session does: the next request once the one before is answered.
    const done = (async () => {
      await Promise.all(said);
      await a!.handle(alice, { type: "topic", room: "#ops", text: "ship it" });
      await a!.handle(alice, { type: "say", room: "#ops", text: "three" });
      await a!.handle(alice, { type: "nick", nick: "alicia" });
      await a!.handle(alice, { type: "say", room: "#ops", text: "four" });
      await a!.handle(alice, { type: "part", room: "#ops" });
      await a!.handle(alice, { type: "enter", room: "#ops" });
      await a!.handle(alice, { type: "say", room: "#ops", text: "five" });
    })();
    await bus.settle();
    slow.resolve();
    bus.posts = undefined;
    await done;
    await bus.settle();
    // Redis slow to take what she did: the line after it waits for it.
    const told = Promise.withResolvers<void>();
    bus.tells = told.promise;
    assert.equal(await a!.handle(alice, { type: "topic", room: "#ops", text: "later" }), true);
    assert.equal(await a!.handle(alice, { type: "say", room: "#ops", text: "six" }), true);
    await bus.settle();
    told.resolve();
    bus.tells = undefined;
    await bus.settle();
    const expected = [
      "alice: one",
      "alice: two",
      "topic ship it",
      "alice: three",
      "alice is now alicia",
      "alicia: four",
      "alicia left",
      "alicia joined",
      "alicia: five",
      "topic later",
      "alicia: six",
    ];
    assert.deepEqual(happenings(far, "#ops"), expected, "on the other node");
    assert.deepEqual(happenings(near, "#ops"), expected, "on hers");
  },
);

clusterTest("a private message crosses nodes, to the recipient and the sender only", async () => {
  const { bus, hubs: [a, b] } = await service();
  const alice = await join(a!, "alice");
  const bob = await join(b!, "bob");
  const carol = await join(b!, "carol");
  await bus.settle();
  for (const m of [alice, bob, carol]) m.take();
  assert.equal(await a!.handle(alice, { type: "msg", to: "bob", text: "psst" }), true);
  await bus.settle();
  const [got] = bob.ofType("message");
  assert.equal(got?.text, "psst");
  assert.equal(got?.to, "bob");
  assert.equal(got?.own, undefined);
  const [echoed] = alice.ofType("message");
  assert.equal(echoed?.id, got?.id);
  assert.equal(echoed?.own, true, "the sender's copy is marked its own");
  assert.deepEqual(carol.ofType("message"), []);
});

clusterTest(
  "a private message is shown after every room message with a lower id, on both nodes: resuming with since skips none",
  async () => {
    const { bus, hubs: [a, b, c], clusters } = await service(3);
    const alice = await join(a!, "alice");
    const bob = await join(b!, "bob");
    const carol = await join(c!, "carol");
    await bus.settle();
    for (const m of [alice, bob, carol]) m.take();
    // Bob's node and alice's read the feed late: carol's line is on its way there.
    clusters[0]!.away = true;
    clusters[1]!.away = true;
    assert.equal(await c!.handle(carol, { type: "say", text: "before" }), true);
    await bus.settle();
    assert.equal(await a!.handle(alice, { type: "msg", to: "bob", text: "psst" }), true);
    await bus.settle();
    assert.deepEqual(bob.events, [], "not before carol's line");
    assert.deepEqual(alice.events, []);
    for (const i of [0, 1]) {
      clusters[i]!.away = false;
      clusters[i]!.pump();
    }
    await bus.settle();
    for (const m of [alice, bob]) {
      const seen = m.ofType("message").map((e) => [e.id, e.text]);
      assert.equal(seen.length, 2, JSON.stringify(seen));
      assert.equal(seen[0]![1], "before");
      assert.equal(seen[1]![1], "psst");
      assert.ok(seen[0]![0]! < seen[1]![0]!);
    }
  },
);

clusterTest(
  "the operator's private message is shown after every room message with a lower id, on this node and another; to a node that stopped listening it is refused",
  async () => {
    const { bus, hubs: [a, b, c], clusters } = await service(3);
    const alice = await join(a!, "alice");
    const bob = await join(b!, "bob");
    const carol = await join(c!, "carol");
    await bus.settle();
    for (const m of [alice, bob, carol]) m.take();
    // Alice's node and bob's read the feed late: carol's line is on its way there.
    clusters[0]!.away = true;
    clusters[1]!.away = true;
    assert.equal(await c!.handle(carol, { type: "say", text: "before" }), true);
    await bus.settle();
    const told = [a!.tell("alice", "here"), a!.tell("bob", "there")];
    await bus.settle();
    assert.deepEqual([alice.events, bob.events], [[], []], "not before carol's line");
    for (const i of [0, 1]) {
      clusters[i]!.away = false;
      clusters[i]!.pump();
    }
    assert.deepEqual((await Promise.all(told)).map((t) => t.ok), [true, true]);
    await bus.settle();
    for (const [m, text] of [[alice, "here"], [bob, "there"]] as const) {
      const seen = m.ofType("message").map((e) => [e.id, e.text]);
      assert.deepEqual(seen.map(([, t]) => t), ["before", text]);
      assert.ok(seen[0]![0]! < seen[1]![0]!);
    }
    bus.nodes.delete(clusters[1]!);
    const lost = await a!.tell("bob", "gone");
    assert.deepEqual(
      lost.ok ? "ok" : lost.reason,
      "Not delivered: bob's server cannot be reached right now.",
    );
  },
);

clusterTest(
  "away is service-wide: told to every node, and known to a node that starts later",
  async () => {
    const { bus, hubs: [a, b] } = await service();
    const alice = await join(a!, "alice");
    await join(b!, "bob");
    await bus.settle();
    assert.equal(await a!.handle(alice, { type: "away", text: "lunch" }), true);
    await bus.settle();
    assert.equal(b!.whois("alice")?.away, "lunch");
    const later = new Hub({ cluster: new FakeCluster(bus, "n9") });
    await later.attach();
    await bus.settle();
    assert.equal(later.whois("alice")?.away, "lunch");
    assert.equal(await a!.handle(alice, { type: "away" }), true);
    await bus.settle();
    assert.deepEqual([b!.whois("alice")?.away, later.whois("alice")?.away], [undefined, undefined]);
    assert.deepEqual([...bus.members.values()].map((r) => [r.nick, r.away]), [
      ["alice", undefined],
      ["bob", undefined],
    ]);
  },
);

clusterTest(
  "a room line then a private message from one sender reach a member of another node in that order, ids rising",
  async () => {
    const { bus, hubs: [a, b] } = await service();
    const alice = await join(a!, "alice");
    const bob = await join(b!, "bob");
    await bus.settle();
    bob.take();
    // The line's append is slow to reach Redis; the private message's id would not be.
    const slow = Promise.withResolvers<void>();
    bus.posts = slow.promise;
    const line = new Promise<void>((resolve) => bus.held = resolve);
    assert.equal(await a!.handle(alice, { type: "say", text: "room 1" }), true);
    await line;
    bus.posts = undefined;
    assert.equal(await a!.handle(alice, { type: "msg", to: "bob", text: "pm 1" }), true);
    slow.resolve();
    await bus.settle();
    const seen = bob.ofType("message").map((m) => [m.text, m.id]);
    assert.deepEqual(seen.map(([text]) => text), ["room 1", "pm 1"]);
    assert.ok(seen[0]![1]! < seen[1]![1]!, JSON.stringify(seen));
  },
);

clusterTest(
  "a room line, a private message and a room line said in one go get ids in that order; a member of the same node is shown them so",
  async () => {
    const { bus, hubs: [a, b] } = await service();
    const alice = await join(a!, "alice");
    const carol = await join(a!, "carol");
    const bob = await join(b!, "bob");
    await bus.settle();
    for (const m of [carol, bob]) m.take();
    for (const to of ["carol", "bob"]) {
      void a!.handle(alice, { type: "say", text: `room 1 ${to}` });
      void a!.handle(alice, { type: "msg", to, text: `pm ${to}` });
      void a!.handle(alice, { type: "say", text: `room 2 ${to}` });
      await a!.posting(alice);
      await bus.settle();
    }
    const ids = (m: FakeMember, to: string) =>
      ["room 1", "pm", "room 2"].map((text) =>
        m.ofType("message").find((e) => e.text === `${text} ${to}`)?.id ?? 0
      );
    // Ids in the order said, on both nodes.
    for (const [m, to] of [[carol, "carol"], [bob, "bob"]] as const) {
      const [one, pm, two] = ids(m, to);
      assert.ok(0 < one! && one! < pm! && pm! < two!, `${to}: ${[one, pm, two]}`);
    }
    // On the same node, the private message is shown between the two lines
    // (they come in one batch of the feed); on another, after the first.
    assert.deepEqual(
      carol.ofType("message").map((e) => e.text).filter((t) => t.endsWith("carol")),
      [
        "room 1 carol",
        "pm carol",
        "room 2 carol",
      ],
    );
    const bobSaw = bob.ofType("message").map((e) => e.text);
    assert.ok(bobSaw.indexOf("room 1 bob") < bobSaw.indexOf("pm bob"), JSON.stringify(bobSaw));
  },
);

clusterTest(
  "private messages in a row do not wait for each other's delivery while the sender's node reads the feed late",
  async () => {
    const { bus, hubs: [a, b], clusters } = await service();
    const alice = await join(a!, "alice");
    const bob = await join(b!, "bob");
    await bus.settle();
    bob.take();
    // Alice's node hears nothing of the feed, which has a line it has not
    // had: her own copies wait for it.
    clusters[0]!.away = true;
    assert.equal(await b!.handle(bob, { type: "say", text: "unheard on a" }), true);
    await bus.settle();
    for (const text of ["pm 1", "pm 2", "pm 3"]) {
      assert.equal(await a!.handle(alice, { type: "msg", to: "bob", text }), true);
    }
    await bus.settle();
    assert.deepEqual(bob.ofType("message").map((m) => m.text), [
      "unheard on a",
      "pm 1",
      "pm 2",
      "pm 3",
    ]);
    await caughtUp(bus, clusters[0]!);
  },
);

clusterTest(
  "while the feed lags, the actions after a line wait once for it to be shown here, not each",
  async () => {
    const { bus, hubs: [a], clusters: [na] } = await service();
    const alice = await join(a!, "alice");
    await bus.settle();
    // Node a's feed stops; each wait for it ends only at its bound, here by hand.
    na!.away = true;
    const waits: PromiseWithResolvers<void>[] = [];
    na!.reach = () => {
      const wait = Promise.withResolvers<void>();
      waits.push(wait);
      return wait.promise;
    };
    assert.equal(await a!.handle(alice, { type: "say", text: "one" }), true);
    const done = (async () => {
      for (const text of ["brb 1", "brb 2", "brb 3"]) {
        assert.equal(await a!.handle(alice, { type: "away", text }), true);
      }
    })();
    await bus.settle();
    assert.equal(waits.length, 1);
    waits[0]!.resolve();
    await done;
    assert.equal(waits.length, 1, "the next actions did not wait again");
    await caughtUp(bus, na!);
  },
);

clusterTest(
  "a topic and then a part, written on different connections, reach the other nodes in that order",
  async () => {
    const { bus, hubs: [a, b] } = await service();
    const alice = await join(a!, "alice", ["#ops"]);
    const far = await join(b!, "far", ["#ops"]);
    await bus.settle();
    far.take();
    // The topic's write is slow to be answered (the store's connection); the part's is not.
    const store = bus.history;
    const setTopic = store.setTopic.bind(store);
    const slow = Promise.withResolvers<void>();
    store.setTopic = async (key, topic) => {
      await slow.promise;
      return setTopic(key, topic);
    };
    assert.equal(await a!.handle(alice, { type: "topic", room: "#ops", text: "ship it" }), true);
    const parted = a!.handle(alice, { type: "part", room: "#ops" });
    await bus.settle();
    slow.resolve();
    assert.equal(await parted, true);
    await bus.settle();
    assert.deepEqual(happenings(far, "#ops"), ["topic ship it", "alice left"]);
  },
);

clusterTest(
  "a CTCP to a member of another node who changed nickname reaches it, not whoever takes its old name",
  async () => {
    const { bus, hubs: [a, b] } = await service();
    const asker = await join(a!, "asker", undefined, "irc");
    const walt = await join(b!, "walt", undefined, "irc");
    await bus.settle();
    assert.equal(await b!.handle(walt, { type: "nick", nick: "walter" }), true);
    await bus.settle();
    const newcomer = await join(b!, "walt", undefined, "irc");
    await bus.settle();
    for (const m of [asker, walt, newcomer]) m.take();
    assert.equal(await a!.handle(asker, { type: "ctcp", to: "walter", text: "VERSION" }), true);
    assert.equal(await a!.handle(asker, { type: "msg", to: "walter", text: "hi" }), true);
    await bus.settle();
    assert.deepEqual(walt.ofType("ctcp").map((e) => `${e.from} ${e.to} ${e.text}`), [
      "asker walter VERSION",
    ]);
    assert.deepEqual(texts(walt), ["asker: hi"]);
    assert.deepEqual(newcomer.ofType("ctcp"), []);
    assert.deepEqual(texts(newcomer), []);
  },
);

clusterTest(
  "a private message to a member of a node that stopped listening is refused, not lost",
  async () => {
    const { bus, hubs: [a, b], clusters } = await service();
    const alice = await join(a!, "alice");
    const bob = await join(b!, "bob");
    await bus.settle();
    alice.take();
    // Bob's node is gone (killed, not yet found dead): nobody hears its channel.
    bus.nodes.delete(clusters[1]!);
    assert.equal(await a!.handle(alice, { type: "msg", to: "bob", text: "psst" }), true);
    await bus.settle();
    assert.deepEqual(alice.ofType("message"), []);
    assert.deepEqual(alice.ofType("error").map((e) => [e.code, e.message]), [
      [
        "storage_failed",
        "Not delivered: bob's server cannot be reached right now; try again in a moment.",
      ],
    ]);
    assert.deepEqual(bob.ofType("message"), []);
  },
);

clusterTest(
  "a CTCP to a room reaches its IRC members on every node, and only them, each node once",
  async () => {
    const { bus, hubs: [a, b], clusters: [fromA] } = await service();
    const irc1 = await join(a!, "irc1", undefined, "irc");
    const irc0 = await join(a!, "irc0", undefined, "irc");
    const irc2 = await join(b!, "irc2", undefined, "irc");
    const irc3 = await join(b!, "irc3", undefined, "irc");
    const web = await join(b!, "web");
    await bus.settle();
    for (const m of [irc0, irc1, irc2, irc3, web]) m.take();
    const forwarded: Forwarded[] = [];
    const forward = fromA!.forward.bind(fromA);
    fromA!.forward = (node, what) => {
      forwarded.push(what);
      return forward(node, what);
    };
    assert.equal(
      await a!.handle(irc1, { type: "ctcp", to: "#lobby", text: "VERSION" }),
      true,
    );
    assert.equal(await a!.handle(irc1, { type: "ctcp", to: "irc2", text: "PING 1" }), true);
    await bus.settle();
    assert.deepEqual(
      irc2.ofType("ctcp").map((e) => `${e.from} ${e.room ?? e.to} ${e.text}`),
      ["irc1 #lobby VERSION", "irc1 irc2 PING 1"],
    );
    for (const other of [irc0, irc3]) {
      assert.deepEqual(other.ofType("ctcp").map((e) => `${e.room} ${e.text}`), ["#lobby VERSION"]);
    }
    assert.deepEqual(web.ofType("ctcp"), []);
    assert.deepEqual(irc1.ofType("ctcp"), []);
    // Node b was handed the room's CTCP once, for both its IRC members.
    assert.deepEqual(forwarded.map((f) => "room" in f ? `room ${f.room}` : `to ${f.fold}`), [
      "room #lobby",
      `to ${nickKey("irc2")}`,
    ]);
  },
);

clusterTest("the operator's /kick of a member of another node closes it there", async () => {
  const { bus, hubs: [a, b] } = await service();
  const alice = await join(a!, "alice");
  const bob = await join(b!, "bob");
  await bus.settle();
  alice.take();
  bob.take();
  assert.equal(a!.kick("BOB", "spam"), true);
  await bus.settle();
  const kicked = bob.ofType("error")[0];
  assert.ok(kicked?.code === "kicked" && kicked.fatal === true, JSON.stringify(bob.events));
  assert.match(kicked.message, /spam/);
  assert.equal(bob.closed, 1);
  assert.ok(alice.ofType("leave").some((e) => e.nick === "bob" && /kicked/.test(e.reason ?? "")));
  assert.deepEqual(a!.members().map((m) => m.nick), ["alice"]);
  // Kept out on both nodes for the ban's length.
  for (const hub of [a!, b!]) {
    const again = new FakeMember();
    assert.equal(await hub.join(again, "bob"), false);
    assert.equal(again.ofType("error")[0]?.code, "banned");
  }
  assert.equal(a!.kick("nobody"), false);
});

clusterTest(
  "a kick's ban holds on every node: the nickname and the address's network",
  async () => {
    const { bus, hubs: [a, b, c] } = await service(3);
    const bob = new FakeMember("web", "2001:db8:0:1::b");
    assert.ok(await b!.join(bob, "bob"));
    await bus.settle();
    // The operator on a kicks bob, who is on b; he comes back through c.
    assert.equal(a!.kick("bob", "spam"), true);
    await bus.settle();
    assert.equal(bob.closed, 1);
    const attempts = [
      ["bob", "203.0.113.9"],
      ["bobby", "2001:db8:0:1::7"],
    ] as const;
    for (const hub of [a!, b!, c!]) {
      for (const [nick, address] of attempts) {
        const again = new FakeMember("web", address);
        assert.equal(await hub.join(again, nick), false, `${nick} from ${address}`);
        assert.equal(again.ofType("error")[0]?.code, "banned");
      }
    }
    // Someone else, elsewhere, is let in.
    assert.ok(await c!.join(new FakeMember("web", "2001:db8:0:2::1"), "carol"));
    // A node started after the kick holds the ban too, from a join that
    // comes while it is still reading the service (its listeners are open).
    const later = new Hub({ cluster: new FakeCluster(bus, "n3") });
    const early = new FakeMember("web", "203.0.113.10");
    const joining = later.join(early, "BOB");
    await later.attach();
    assert.equal(await joining, false);
    assert.equal(early.ofType("error")[0]?.code, "banned", JSON.stringify(early.events));
    const again = new FakeMember("web", "2001:db8:0:1::8");
    assert.equal(await later.join(again, "bobby"), false);
    assert.equal(again.ofType("error")[0]?.code, "banned");
    // Someone else is let in, also while a node reads the service.
    const fresh = new Hub({ cluster: new FakeCluster(bus, "n4") });
    const dave = new FakeMember("web", "2001:db8:0:2::4");
    const daveJoins = fresh.join(dave, "dave");
    await fresh.attach();
    assert.equal(await daveJoins, true, JSON.stringify(dave.events));
    // One that leaves while it waits is not seated.
    const last = new Hub({ cluster: new FakeCluster(bus, "n5") });
    const erin = new FakeMember("web", "2001:db8:0:2::5");
    const erinJoins = last.join(erin, "erin");
    last.leave(erin, "closed the page");
    await last.attach();
    assert.equal(await erinJoins, false);
    assert.deepEqual(erin.events, []);
    assert.ok(!last.members().some((m) => m.nick === "erin"));
    later.close("done");
    fresh.close("done");
    last.close("done");
    // What the feed carried names no address.
    assert.ok(!JSON.stringify(bus.feed).includes("2001:db8"), JSON.stringify(bus.feed));
  },
);

clusterTest("searches under way at once are held to one a member and a few a node", async () => {
  const { bus, hubs: [a] } = await service(1);
  const [ann, bob, cid] = await Promise.all(["ann", "bob", "cid"].map((n) => join(a!, n)));
  await bus.settle();
  for (const m of [ann!, bob!, cid!]) m.take();
  const search = (m: FakeMember) => a!.handle(m, { type: "search", text: "x" });
  // ann's first is under way: her second is refused, as is a third member's.
  const first = search(ann!);
  assert.equal(await search(ann!), false);
  const second = search(bob!);
  assert.equal(await search(cid!), false);
  assert.deepEqual(await Promise.all([first, second]), [true, true]);
  assert.deepEqual(ann!.events.map((e) => e.type === "error" ? e.message : e.type), [
    "Your last search is still under way.",
    "search",
  ]);
  assert.match(cid!.ofType("error")[0]?.message ?? "", /busy with other searches/);
  // Once they are done, anyone may search again.
  assert.equal(await search(cid!), true);
});

clusterTest(
  "history reads under way in Redis are held to a few a node, the rest answered in turn",
  async () => {
    const { bus, hubs: [a], clusters: [cluster] } = await service(1);
    const nicks = Array.from({ length: 3 * HISTORY_READS_AT_ONCE }, (_, i) => `m${i}`);
    const members = await Promise.all(nicks.map((n) => join(a!, n)));
    await bus.settle();
    for (const m of members) m.take();
    // Every read waits until let go; how many are under way at once is counted.
    const store = cluster!.store;
    const recent = store.recent.bind(store);
    const range = store.range.bind(store);
    const held: (() => void)[] = [];
    let under = 0;
    let most = 0;
    let arrived: (() => void) | undefined;
    const hold = async <T>(read: () => Promise<T>): Promise<T> => {
      most = Math.max(most, ++under);
      const go = new Promise<void>((go) => held.push(go));
      arrived?.();
      await go;
      under--;
      return await read();
    };
    store.recent = (key, count) => hold(() => recent(key, count));
    store.range = (key, query) => hold(() => range(key, query));
    // History of either kind, a room's as a member enters it, and a
    // newcomer's welcome, take their turns alike.
    const asked = members.map((m, i) =>
      i % 3 === 2
        ? a!.handle(m, { type: "enter", room: `#r${i}` })
        : a!.handle(m, { type: "history", count: 5, ...(i % 3 ? { beforeTs: Date.now() } : {}) })
    );
    const newcomers = nicks.map(() => new FakeMember("web"));
    const joined = newcomers.map((m, i) => a!.join(m, `new${i}`));
    // Let reads go one at a time, each as soon as it is under way.
    for (let done = 0; done < members.length + newcomers.length; done++) {
      if (held.length === 0) await new Promise<void>((wake) => arrived = wake);
      held.shift()!();
    }
    assert.deepEqual(await Promise.all(asked), members.map(() => true));
    assert.deepEqual(await Promise.all(joined), newcomers.map(() => true));
    assert.equal(most, HISTORY_READS_AT_ONCE);
    members.forEach((m, i) =>
      assert.deepEqual(
        m.events.filter((e) => e.type !== "join").map((e) => e.type),
        [i % 3 === 2 ? "entered" : "history"],
      )
    );
  },
);

clusterTest(
  "a room made on two nodes at once under two spellings has one name on both",
  async () => {
    const { bus, hubs: [a, b] } = await service();
    const ann = await join(a!, "ann");
    const bob = await join(b!, "bob");
    await bus.settle();
    const entered = [
      a!.handle(ann, { type: "enter", room: "#Zoo" }),
      b!.handle(bob, { type: "enter", room: "#zOO" }),
    ];
    assert.deepEqual(await Promise.all(entered), [true, true]);
    await bus.settle();
    assert.deepEqual([a!.room("#zoo")?.name, b!.room("#zoo")?.name], ["#Zoo", "#Zoo"]);
    assert.deepEqual(bob.ofType("entered").map((e) => e.room), ["#Zoo"]);
    assert.deepEqual(a!.members("#zoo").map((m) => m.nick).sort(), ["ann", "bob"]);
  },
);

clusterTest("rooms, topics, parts and renames cross nodes", async () => {
  const { bus, hubs: [a, b] } = await service();
  const alice = await join(a!, "alice", ["#lobby", "#dev"]);
  const bob = await join(b!, "bob", ["#dev"]);
  await bus.settle();
  assert.deepEqual(b!.members("#dev").map((m) => m.nick).sort(), ["alice", "bob"]);
  await a!.handle(alice, { type: "topic", room: "#dev", text: "ship it" });
  await bus.settle();
  assert.equal(b!.room("#dev")?.topic?.text, "ship it");
  assert.ok(bob.ofType("topic").some((t) => t.topic?.text === "ship it"));
  await b!.handle(bob, { type: "nick", nick: "robert" });
  await bus.settle();
  assert.deepEqual(a!.members("#dev").map((m) => m.nick).sort(), ["alice", "robert"]);
  assert.ok(alice.ofType("rename").some((r) => r.from === "bob" && r.to === "robert"));
  // The old name is free on every node; the new one is not.
  assert.equal(await a!.join(new FakeMember(), "bob"), true);
  const clash = new FakeMember();
  assert.equal(await a!.join(clash, "Robert"), false);
  await a!.handle(alice, { type: "part", room: "#dev" });
  await bus.settle();
  assert.deepEqual(b!.members("#dev").map((m) => m.nick), ["robert"]);
  assert.ok(bob.ofType("leave").some((l) => l.nick === "alice" && l.room === "#dev"));
});

clusterTest("a node found dead takes its members out of every room elsewhere", async () => {
  const { bus, hubs: [a, b], clusters: [, nb] } = await service();
  const alice = await join(a!, "alice");
  await join(b!, "bob");
  await join(b!, "carol");
  await bus.settle();
  alice.take();
  // Found by node a itself: its own event, carried out all the same.
  nb!.die("n0");
  await bus.settle();
  assert.deepEqual(a!.members().map((m) => m.nick), ["alice"]);
  assert.deepEqual(alice.ofType("leave").map((l) => l.nick).sort(), ["bob", "carol"]);
  // Their nicknames are free again.
  assert.equal(await a!.join(new FakeMember(), "bob"), true);
});

clusterTest(
  "a node away past what the feed keeps makes its member list match the service's",
  async () => {
    const { bus, hubs: [a, b], clusters: [na] } = await service();
    const alice = await join(a!, "alice", ["#lobby", "#dev"]);
    const bob = await join(b!, "bob");
    const carol = await join(b!, "carol", ["#lobby", "#dev"]);
    await bus.settle();
    alice.take();
    na!.away = true;
    b!.leave(bob, "quit");
    await b!.handle(carol, { type: "part", room: "#lobby" });
    await join(b!, "dave", ["#dev"]);
    await bus.settle();
    assert.deepEqual(a!.members().map((m) => m.nick).sort(), ["alice", "bob", "carol"]);
    na!.back();
    await bus.settle();
    assert.deepEqual(a!.members().map((m) => m.nick).sort(), ["alice"]);
    assert.deepEqual(a!.members("#dev").map((m) => m.nick).sort(), ["alice", "carol", "dave"]);
    const events = alice.take().map((e) =>
      e.type === "join" || e.type === "leave" ? `${e.type} ${e.nick} ${e.room ?? ""}` : e.type
    );
    assert.deepEqual(events.sort(), [
      "join dave #dev",
      "leave bob #lobby",
      "leave carol #lobby",
    ]);
    // It hears what comes next as before, told first of the messages it missed.
    await b!.handle(carol, { type: "say", room: "#dev", text: "hi" });
    await bus.settle();
    assert.deepEqual(
      alice.take().map((e) => e.type === "message" ? e.text : e.type === "notice" ? "notice" : ""),
      ["notice", "hi"],
    );
  },
);

clusterTest(
  "a seat taken back on another node with its token keeps its rooms; the old connection closes quietly",
  async () => {
    const { bus, hubs: [a, b], clusters } = await service();
    const alice = await join(a!, "alice", ["#lobby", "#dev"]);
    const watcher = await join(a!, "watcher", ["#dev"]);
    await bus.settle();
    const [welcome] = alice.ofType("welcome");
    await a!.handle(alice, { type: "say", room: "#dev", text: "before" });
    await bus.settle();
    const seen = alice.ofType("message").at(-1)!.id;
    await a!.handle(watcher, { type: "say", room: "#dev", text: "while away" });
    await bus.settle();
    watcher.take();
    const again = new FakeMember();
    assert.equal(await b!.join(again, "alice", welcome!.token, seen), true);
    await bus.settle();
    assert.equal(alice.closed, 1);
    // a stops renewing her name (b does): else it would hold it once b let it go.
    assert.deepEqual(clusters[0]!.disowned, ["allce"]);
    const [back] = again.ofType("welcome");
    assert.deepEqual(back!.rooms.map((r) => r.room).sort(), ["#dev", "#lobby"]);
    assert.deepEqual(back!.history.map((m: ChatMessage) => m.text), ["while away"]);
    // Nobody saw alice leave or join.
    assert.deepEqual(
      watcher.events.filter((e: ServerEvent) => e.type === "leave" || e.type === "join"),
      [],
    );
    // Her lines now come from node b, and reach a.
    await b!.handle(again, { type: "say", room: "#dev", text: "back" });
    await bus.settle();
    assert.deepEqual(texts(watcher), ["alice: back"]);
    // A wrong token takes nothing.
    const thief = new FakeMember();
    assert.equal(await a!.join(thief, "alice", "not-the-token"), false);
  },
);

/**
 * Dave, on node a, is taken back on node b with his token while a hears
 * nothing; `late` is what a's old connection of his does meanwhile. Then a
 * hears everything, and every node must list carol and dave (on b), once.
 */
async function takenBackWhileAway(late: (a: Hub, dave: FakeMember) => Promise<void>) {
  const { bus, hubs: [a, b, c], clusters } = await service(3);
  const dave = await join(a!, "dave");
  const carol = await join(c!, "carol");
  await bus.settle();
  const [welcome] = dave.ofType("welcome");
  clusters[0]!.away = true;
  const again = new FakeMember();
  assert.equal(await b!.join(again, "dave", welcome!.token), true);
  await bus.settle();
  await late(a!, dave);
  await bus.settle();
  await caughtUp(bus, clusters[0]!);
  for (const hub of [a!, b!, c!]) {
    assert.deepEqual(hub.members().map((m) => m.nick).sort(), ["carol", "dave"]);
  }
  assert.deepEqual([...bus.members.values()].map((r) => `${r.nick}@${r.node}`).sort(), [
    "carol@n2",
    "dave@n1",
  ]);
  assert.deepEqual(carol.ofType("leave"), []);
  assert.equal(again.closed, 0);
  return dave;
}

clusterTest(
  "a leave told late by the node a seat was taken back from is passed over: the member stays, everywhere",
  async () => {
    // Its old connection drops meanwhile: a tells dave's leave, late.
    await takenBackWhileAway((a, dave) => Promise.resolve(a.leave(dave, "connection lost")));
  },
);

clusterTest(
  "a rename by the node a seat was taken back from, not yet told, is refused there and lets that connection go",
  async () => {
    const dave = await takenBackWhileAway(async (a, dave) => {
      await a.handle(dave, { type: "nick", nick: "dan" });
    });
    assert.equal(dave.closed, 1);
  },
);

clusterTest(
  "two take-backs of one seat at once, on two nodes: the one Redis had first keeps it, the other is let go",
  async () => {
    const { bus, hubs: [a, b, c], clusters } = await service(3);
    const dave = await join(a!, "dave");
    await bus.settle();
    const [welcome] = dave.ofType("welcome");
    // a reads nothing for a while: not b's take-back, done first.
    clusters[0]!.away = true;
    const onB = new FakeMember();
    assert.equal(await b!.join(onB, "dave", welcome!.token), true);
    await bus.settle();
    // a still holds the seat, as far as it knows: its take-back is refused by Redis
    // (the token was given to b's connection), not seated and then let go.
    const onA = new FakeMember();
    assert.equal(await a!.join(onA, "dave", welcome!.token), false);
    assert.equal(onA.ofType("error")[0]?.code, "nick_taken");
    assert.deepEqual(onA.ofType("welcome"), []);
    await bus.settle();
    await caughtUp(bus, clusters[0]!);
    assert.equal(onB.closed, 0, "b's take-back came first: it keeps the seat");
    assert.equal(dave.closed, 1, "the old connection on a is let go once a reads the move");
    for (const hub of [a!, b!, c!]) assert.deepEqual(hub.members().map((m) => m.nick), ["dave"]);
    assert.equal(bus.members.get("dave")?.node, "n1");
    // Its lines reach the others: the seat is live, not a phantom.
    const watcher = await join(c!, "carol");
    await bus.settle();
    await b!.handle(onB, { type: "say", text: "still here" });
    await bus.settle();
    assert.deepEqual(texts(watcher), ["dave: still here"]);
  },
);

clusterTest(
  "a node that stops keeps its members' last lines, takes nothing new, then tells the others in one dead event",
  async () => {
    const { bus, hubs: [a, b] } = await service();
    const alice = await join(a!, "alice");
    const bob = await join(b!, "bob");
    await bus.settle();
    const slow = Promise.withResolvers<void>();
    bus.posts = slow.promise;
    assert.equal(await a!.handle(alice, { type: "say", text: "last line" }), true);
    const detached = a!.detach();
    alice.take();
    assert.equal(await a!.handle(alice, { type: "say", text: "too late" }), false);
    assert.deepEqual(alice.codes(), ["shutting_down"]);
    assert.equal(await a!.join(new FakeMember(), "late"), false);
    bus.posts = undefined;
    slow.resolve();
    await detached;
    await bus.settle();
    const seen = saidAndLeft(bob);
    assert.deepEqual(seen, ["said last line", "left server shutting down"]);
    assert.deepEqual([...bus.members.values()].map((r) => r.nick), ["bob"]);
  },
);

clusterTest(
  "a line Redis is lost for after it was taken is refused quoting it: told later, maybe after others",
  async () => {
    const { bus, hubs: [a] } = await service();
    const alice = await join(a!, "alice");
    await bus.settle();
    alice.take();
    const slow = Promise.withResolvers<void>();
    bus.posts = slow.promise;
    assert.equal(await a!.handle(alice, { type: "say", text: "the deploy is at five" }), true);
    bus.down = true;
    slow.resolve();
    bus.posts = undefined;
    const error = await alice.until("error");
    assert.equal(error.code, "storage_failed");
    assert.match(error.message, /^Not sent: .* The line: "the deploy is at five"$/);
    bus.down = false;
  },
);

clusterTest(
  "while Redis cannot be reached, lines are refused with a clear error, and members stay",
  async () => {
    const { bus, hubs: [a] } = await service();
    const alice = await join(a!, "alice");
    await bus.settle();
    alice.take();
    bus.down = true;
    assert.equal(await a!.handle(alice, { type: "say", text: "lost?" }), false);
    const [error] = alice.ofType("error");
    assert.equal(error?.code, "storage_failed");
    assert.match(error!.message, /cannot reach/);
    assert.equal(alice.closed, 0);
    // Reads too, at once, not once the command times out.
    alice.take();
    assert.equal(await a!.handle(alice, { type: "history" }), false);
    assert.equal(await a!.handle(alice, { type: "search", text: "lost" }), false);
    assert.deepEqual(
      alice.ofType("error").map((e) => [e.code, e.message]),
      Array(2).fill([
        "storage_failed",
        "Cannot read the history: the server cannot reach its message store right now; try again in a moment.",
      ]),
    );
    // A newcomer, and a new nickname: told what was refused, not "Not sent".
    alice.take();
    const late = new FakeMember();
    assert.equal(await a!.join(late, "late"), false);
    assert.equal(await a!.handle(alice, { type: "nick", nick: "alicia" }), false);
    assert.deepEqual([...late.ofType("error"), ...alice.ofType("error")].map((e) => e.message), [
      "Cannot join right now: the server cannot reach its message store; try again in a moment.",
      "Cannot change your nickname right now: the server cannot reach its message store; try again in a moment.",
    ]);
    bus.down = false;
    assert.equal(await a!.handle(alice, { type: "say", text: "back" }), true);
    await bus.settle();
    assert.deepEqual(texts(alice), ["alice: back"]);
  },
);

clusterTest(
  "members who came and went while Redis could not be reached are told once it is back",
  async () => {
    const { bus, hubs: [a, b] } = await service();
    const alice = await join(a!, "alice");
    const bob = await join(b!, "bob");
    const carol = await join(b!, "carol");
    await bus.settle();
    alice.take();
    bus.down = true;
    // Told nowhere: Redis cannot be reached.
    b!.leave(bob, "quit: see you");
    await bus.settle();
    assert.deepEqual(a!.members().map((m) => m.nick), ["alice", "bob", "carol"]);
    bus.recover();
    await bus.settle();
    assert.deepEqual(a!.members().map((m) => m.nick), ["alice", "carol"]);
    // With the words it left with, as its own node showed them.
    assert.deepEqual(alice.ofType("leave").map((e) => [e.nick, e.reason]), [
      ["bob", "quit: see you"],
    ]);
    // Once: nothing more to tell when Redis comes back again.
    bus.recover();
    await bus.settle();
    assert.deepEqual(alice.ofType("leave").map((e) => e.nick), ["bob"]);
    assert.deepEqual(b!.members().map((m) => m.nick).sort(), ["alice", "carol"]);
    assert.equal(carol.closed, 0);
  },
);

clusterTest(
  "a part while Redis could not be reached is told once it is back, the member staying in its other rooms",
  async () => {
    const { bus, hubs: [a, b] } = await service();
    const alice = await join(a!, "alice", ["#lobby", "#dev"]);
    const bob = await join(b!, "bob", ["#lobby", "#dev"]);
    await bus.settle();
    alice.take();
    bus.down = true;
    assert.equal(await b!.handle(bob, { type: "part", room: "#dev", reason: "later" }), true);
    await bus.settle();
    assert.deepEqual(a!.members("#dev").map((m) => m.nick), ["alice", "bob"]);
    bus.recover();
    await bus.settle();
    assert.deepEqual(a!.members("#dev").map((m) => m.nick), ["alice"]);
    assert.deepEqual(a!.members("#lobby").map((m) => m.nick), ["alice", "bob"]);
    assert.deepEqual(alice.ofType("leave").map((e) => [e.nick, e.room]), [["bob", "#dev"]]);
    assert.deepEqual(alice.ofType("join"), [], "nobody seen to come back");
    assert.deepEqual(bus.members.get("bob")?.rooms, ["#lobby"]);
    // Later news of bob still reaches a: its seat there is the one it had.
    assert.equal(await b!.handle(bob, { type: "say", text: "back" }), true);
    await bus.settle();
    assert.deepEqual(texts(alice), ["bob: back"]);
    assert.equal(bob.closed, 0);
  },
);

clusterTest(
  "a leave Redis refused while it answers (out of memory) is told again soon, not at the next outage",
  async () => {
    const { bus, hubs: [a, b] } = await service();
    const alice = await join(a!, "alice");
    const bob = await join(b!, "bob");
    await bus.settle();
    bus.refusing = true;
    b!.leave(bob, "quit: oom");
    await bus.settle();
    assert.deepEqual(a!.members().map((m) => m.nick), ["alice", "bob"]);
    bus.refusing = false;
    // The retry's timer is the event awaited: bob's leave reaches alice.
    const { promise, resolve } = Promise.withResolvers<void>();
    const unwatch = a!.watch((e) => e.type === "leave" && e.nick === "bob" && resolve());
    await promise;
    unwatch();
    await bus.settle();
    assert.deepEqual(a!.members().map((m) => m.nick), ["alice"]);
    assert.deepEqual(alice.ofType("leave").map((e) => [e.nick, e.reason]), [["bob", "quit: oom"]]);
    assert.deepEqual([...bus.members.values()].map((r) => r.nick), ["alice"]);
  },
);

clusterTest("a node started later sees the members already there, and their lines", async () => {
  const bus = new FakeBus();
  buses.push(bus);
  const first = new Hub({ cluster: new FakeCluster(bus, "n0") });
  await first.attach();
  const alice = await join(first, "alice", ["#lobby", "#dev"]);
  await bus.settle();
  const late = new Hub({ cluster: new FakeCluster(bus, "n1") });
  await late.attach();
  assert.deepEqual(late.members("#dev").map((m) => m.nick), ["alice"]);
  const bob = await join(late, "bob", ["#dev"]);
  await bus.settle();
  bob.take();
  await first.handle(alice, { type: "say", room: "#dev", text: "hi bob" });
  await bus.settle();
  assert.deepEqual(texts(bob), ["alice: hi bob"]);
});

clusterTest("a connection that goes while its join waits on Redis is never seated", async () => {
  const { bus, hubs: [a, b] } = await service();
  const gone = new FakeMember();
  const joining = a!.join(gone, "dave");
  a!.leave(gone, "connection lost");
  assert.equal(await joining, false);
  await bus.settle();
  assert.deepEqual(a!.members(), []);
  assert.deepEqual(b!.members(), []);
  // Its nickname was given back.
  assert.equal(await b!.join(new FakeMember(), "dave"), true);
});

clusterTest(
  "a private message to a member who joined another node a moment ago, before its join reached this node, is delivered",
  async () => {
    const { bus, hubs: [a, b] } = await service();
    const alice = await join(a!, "alice");
    await bus.settle();
    const bob = await join(b!, "bob");
    // bob's join is still on its way to node a.
    assert.ok(!a!.members().some((m) => m.nick === "bob"), "a has not heard of bob yet");
    alice.take();
    bob.take();
    assert.equal(await a!.handle(alice, { type: "msg", to: "Bob", text: "welcome!" }), true);
    await bus.settle();
    await Promise.all([a!.posting(alice)]);
    const got = bob.ofType("message");
    assert.deepEqual(got.map((m) => [m.from, m.text]), [["alice", "welcome!"]]);
    assert.deepEqual(alice.ofType("message").map((m) => [m.to, m.text]), [["Bob", "welcome!"]]);
    assert.equal(alice.ofType("error").length, 0);
    // Nobody holds the name: refused as before.
    assert.equal(await a!.handle(alice, { type: "msg", to: "nobody", text: "hi" }), false);
    assert.equal(alice.ofType("error")[0]?.code, "no_such_nick");
  },
);

clusterTest(
  "a node that stopped tells no leave as each of its connections closes: its departure told them all",
  async () => {
    const { bus, hubs: [a, b] } = await service();
    const alice = await join(a!, "alice");
    await join(b!, "bob");
    await bus.settle();
    await a!.detach();
    await bus.settle();
    const told = bus.feed.length;
    assert.deepEqual(b!.members().map((m) => m.nick), ["bob"]);
    a!.leave(alice, "server shutting down");
    await bus.settle();
    assert.equal(bus.feed.length, told);
  },
);

/** Each node's #lobby member list, as `nick@via`, sorted. */
function lists(hubs: readonly Hub[]): string[][] {
  return hubs.map((hub) => hub.members().map((m) => `${m.nick}@${m.via}`).sort());
}

clusterTest(
  "two take-backs of one seat with its token at once, on two nodes: one wins, and every node lists the member once",
  async () => {
    const { bus, hubs } = await service(3);
    const [a, b, c] = hubs;
    const old = new FakeMember("web");
    assert.ok(await a!.join(old, "dave"));
    const welcome = old.ofType("welcome")[0];
    assert.ok(welcome);
    await bus.settle();
    const onB = new FakeMember("irc");
    const onC = new FakeMember("irc");
    const [byB, byC] = await Promise.all([
      b!.join(onB, "dave", welcome.token),
      c!.join(onC, "dave", welcome.token),
    ]);
    await bus.settle();
    assert.deepEqual(
      [byB, byC].filter(Boolean).length,
      1,
      JSON.stringify([onB.events, onC.events]),
    );
    const loser = byB ? onC : onB;
    assert.equal(loser.ofType("error")[0]?.code, "nick_taken");
    assert.equal(old.closed, 1);
    for (const list of lists(hubs)) assert.deepEqual(list, ["dave@irc"]);
    // Nobody saw dave leave.
    const watcher = new FakeMember("web");
    assert.ok(await b!.join(watcher, "wendy"));
    await bus.settle();
    assert.deepEqual(watcher.ofType("leave"), []);
  },
);

clusterTest(
  "a take-back (or a newcomer) on another node while the old connection renames: one seat, the same on every node",
  async () => {
    for (let round = 0; round < 8; round++) {
      const { bus, hubs } = await service(3);
      const [a, b] = hubs;
      const old = new FakeMember("web");
      assert.ok(await a!.join(old, "xr"));
      const welcome = old.ofType("welcome")[0];
      assert.ok(welcome);
      await bus.settle();
      const back = new FakeMember("irc");
      // The rename starts first, or the take-back does, or they interleave.
      const steps: Promise<unknown>[] = [];
      const rename = () =>
        steps.push(Promise.resolve(a!.handle(old, { type: "nick", nick: "xn" })));
      // With the old connection's token, or without (someone new wanting the name).
      const token = round < 4 ? welcome.token : undefined;
      const takeBack = () => steps.push(Promise.resolve(b!.join(back, "xr", token)));
      if (round % 2 === 0) {
        rename();
        for (let i = 0; i < round % 4; i++) await Promise.resolve();
        takeBack();
      } else {
        takeBack();
        for (let i = 0; i < round % 4; i++) await Promise.resolve();
        rename();
      }
      await Promise.all(steps);
      await bus.settle();
      const seen = lists(hubs);
      for (const list of seen) {
        assert.deepEqual(list, seen[0], `round ${round}: ${JSON.stringify(seen)}`);
      }
      // The old connection is either gone, or the member renamed (and the take-back was a new seat).
      const names = seen[0]!;
      if (old.closed > 0) assert.ok(!names.includes("xn@web"), `round ${round}: ${names}`);
      else assert.ok(names.includes("xn@web"), `round ${round}: ${names}`);
      for (const hub of hubs) hub.close("done");
    }
  },
);

/** Three nodes, and dave seated on the first: his connection there, and his token. */
async function daveOnA() {
  const three = await service(3);
  const old = new FakeMember("web");
  assert.ok(await three.hubs[0]!.join(old, "dave"));
  const token = old.ofType("welcome")[0]!.token;
  await three.bus.settle();
  return { ...three, old, token };
}

/** Holds a node's history reads until the function returned is called: Redis answering slowly. */
function holdReads(cluster: FakeCluster): () => void {
  const gate = Promise.withResolvers<void>();
  const store = cluster.store;
  const recent = store.recent.bind(store);
  store.recent = async (key, count) => {
    await gate.promise;
    return await recent(key, count);
  };
  return () => {
    store.recent = recent;
    gate.resolve();
  };
}

clusterTest(
  "a take-back on the seat's own node and one on another node at once, with one token: one wins, every node lists the member once",
  async () => {
    // Both under way at once; the one whose reads end first reaches Redis first.
    for (const aFirst of [true, false]) {
      const { bus, hubs, clusters, old, token } = await daveOnA();
      const [a, b] = hubs;
      const open = holdReads(clusters[aFirst ? 1 : 0]!);
      const tab = new FakeMember("terminal");
      const onB = new FakeMember("irc");
      const byA = Promise.resolve(a!.join(tab, "dave", token));
      const byB = Promise.resolve(b!.join(onB, "dave", token));
      await bus.settle();
      open();
      const [a1, b1] = await Promise.all([byA, byB]);
      await bus.settle();
      assert.deepEqual([a1, b1], [aFirst, !aFirst]);
      const winner = aFirst ? "dave@terminal" : "dave@irc";
      for (const list of lists(hubs)) assert.deepEqual(list, [winner], `a first: ${aFirst}`);
      const loser = aFirst ? onB : tab;
      assert.equal(loser.ofType("error")[0]?.code, "nick_taken");
      assert.deepEqual(loser.ofType("welcome"), []);
      assert.equal(old.closed, 1);
      for (const hub of hubs) hub.close("done");
    }
  },
);

clusterTest(
  "a join waiting for its node to start is refused when the node closes, not kept waiting",
  async () => {
    const bus = new FakeBus();
    buses.push(bus);
    const cluster = new FakeCluster(bus, "n0");
    // The bans never come: the node never finishes starting.
    cluster.bans = () => new Promise(() => {});
    const hub = new Hub({ cluster });
    void hub.attach();
    const early = new FakeMember("web");
    const joining = hub.join(early, "early");
    hub.close("stopping");
    assert.equal(await joining, false);
    assert.equal(early.ofType("error")[0]?.code, "shutting_down");
  },
);

clusterTest(
  "a rename told late does not take the new name from a member of this node who holds it since",
  async () => {
    const { bus, hubs, clusters } = await service(2);
    const [a, b] = hubs;
    const old = await join(a!, "xr");
    await bus.settle();
    // b hears nothing for a while: the rename xr -> xn, then xn -> xy.
    clusters[1]!.away = true;
    await a!.handle(old, { type: "nick", nick: "xn" });
    await a!.handle(old, { type: "nick", nick: "xy" });
    await bus.settle();
    // Meanwhile b's own member took xr (free in Redis) and then xn (free again).
    const mine = new FakeMember("web");
    assert.equal(await b!.join(mine, "xr"), true);
    await b!.handle(mine, { type: "nick", nick: "xn" });
    await caughtUp(bus, clusters[1]!);
    assert.equal(mine.closed, 0, "b's own member keeps its name");
    assert.deepEqual(lists(hubs), [["xn@web", "xy@web"], ["xn@web", "xy@web"]]);
  },
);

clusterTest(
  "a take-back whose connection goes while the node reads spends no token; one that goes as Redis hands it the seat is seated, then leaves",
  async () => {
    const { bus, hubs, clusters, old, token } = await daveOnA();
    const [a, b, c] = hubs;
    const kept = () => bus.members.get("dave")?.token === tokenHash(token);
    // A reload's first tries, on the seat's node and on another, go while the node reads.
    for (const [i, hub] of [a!, b!].entries()) {
      const open = holdReads(clusters[i]!);
      const gone = new FakeMember("web");
      const trying = Promise.resolve(hub.join(gone, "dave", token));
      await bus.settle();
      hub.leave(gone, "closed the page");
      open();
      assert.equal(await trying, false);
      await bus.settle();
      assert.ok(kept(), `node ${i}: the seat keeps its token`);
      assert.equal(old.closed, 0);
      for (const list of lists(hubs)) assert.deepEqual(list, ["dave@web"]);
    }
    // One that goes just as Redis hands its node the seat: seated there (the
    // old connection closes), then gone, told to all.
    const takeOver = clusters[2]!.takeOver.bind(clusters[2]!);
    const last = new FakeMember("irc");
    clusters[2]!.takeOver = async (fold, given, fresh) => {
      const record = await takeOver(fold, given, fresh);
      c!.leave(last, "closed the page");
      return record;
    };
    await c!.join(last, "dave", token);
    await bus.settle();
    assert.equal(old.closed, 1, "its old connection went with the move");
    for (const list of lists(hubs)) assert.deepEqual(list, [], JSON.stringify(lists(hubs)));
    // The name is free again, everywhere.
    assert.equal(await a!.join(new FakeMember("web"), "dave"), true);
    await bus.settle();
    for (const list of lists(hubs)) assert.deepEqual(list, ["dave@web"]);
  },
);

clusterTest(
  "a node whose first read of the bans fails reads them again, and keeps joins waiting meanwhile",
  async () => {
    const bus = new FakeBus();
    buses.push(bus);
    const first = new Hub({ cluster: new FakeCluster(bus, "n0") });
    await first.attach();
    const bob = new FakeMember("web", "203.0.113.5");
    assert.ok(await first.join(bob, "bob"));
    await bus.settle();
    assert.equal(first.kick("bob", "spam"), true);
    await bus.settle();
    const cluster = new FakeCluster(bus, "n1");
    const bans = cluster.bans.bind(cluster);
    let failures = 0;
    cluster.bans = () => failures++ === 0 ? Promise.reject(new Error("a blip")) : bans();
    const later = new Hub({ cluster });
    const early = new FakeMember("web", "203.0.113.6");
    const joining = later.join(early, "bob");
    await later.attach();
    assert.equal(failures, 2);
    assert.equal(await joining, false);
    assert.equal(early.ofType("error")[0]?.code, "banned");
    first.close("done");
    later.close("done");
  },
);

clusterTest(
  "a node told that its member's seat moved, after it read the move, keeps the other node's member",
  async () => {
    const { bus, hubs, clusters, old, token } = await daveOnA();
    const [a, b] = hubs;
    const watcher = new FakeMember("web");
    assert.ok(await a!.join(watcher, "wendy"));
    await bus.settle();
    // a hears nothing for a while; the seat is taken back on b.
    clusters[0]!.away = true;
    const onB = new FakeMember("irc");
    assert.equal(await b!.join(onB, "dave", token), true);
    await bus.settle();
    // The old connection on a says it is away: a tells it, and Redis refuses (the
    // seat is b's). a reads the move before it hears the refusal.
    assert.equal(await a!.handle(old, { type: "away", text: "brb" }), true);
    await caughtUp(bus, clusters[0]!);
    assert.equal(old.closed, 1);
    for (const list of lists(hubs)) assert.deepEqual(list, ["dave@irc", "wendy@web"]);
    assert.deepEqual(watcher.ofType("leave"), [], "nobody saw dave leave");
  },
);

clusterTest(
  "a rename by a connection whose seat moved to another node while Redis answered is not carried out",
  async () => {
    const { bus, hubs, clusters, old, token } = await daveOnA();
    const [a, b, c] = hubs;
    clusters[0]!.away = true;
    const onB = new FakeMember("irc");
    assert.equal(await b!.join(onB, "dave", token), true);
    await bus.settle();
    // The old connection asks for a new name; a reads the move while Redis answers the claim.
    const renaming = Promise.resolve(a!.handle(old, { type: "nick", nick: "dan" }));
    clusters[0]!.away = false;
    clusters[0]!.pump();
    await renaming;
    await bus.settle();
    assert.equal(old.closed, 1);
    for (const list of lists(hubs)) assert.deepEqual(list, ["dave@irc"]);
    // The name it asked for is free.
    assert.equal(await c!.join(new FakeMember("web"), "dan"), true);
  },
);

/** Makes a node's history reads fail until the function returned is called. */
function failReads(cluster: FakeCluster): () => void {
  const store = cluster.store;
  const recent = store.recent.bind(store);
  store.recent = () => Promise.reject(new Error("a blip"));
  return () => void (store.recent = recent);
}

clusterTest(
  "a take-back on the seat's own node whose read fails after Redis rotated the token: the page's token still works",
  async () => {
    const { bus, hubs, clusters, token } = await daveOnA();
    const [a] = hubs;
    const restore = failReads(clusters[0]!);
    const first = new FakeMember("web");
    assert.equal(await a!.join(first, "dave", token), false);
    assert.equal(first.ofType("error")[0]?.code, "storage_failed");
    restore();
    await bus.settle();
    // storage_failed: the page keeps its token and tries again.
    const again = new FakeMember("web");
    assert.equal(await a!.join(again, "dave", token), true, JSON.stringify(again.events));
  },
);

clusterTest(
  "a take-back from another node whose read fails after TAKE_OVER: the name is not locked, and the lists agree",
  async () => {
    const { bus, hubs, clusters, old, token } = await daveOnA();
    const [a, b, c] = hubs;
    const restore = failReads(clusters[1]!);
    const onB = new FakeMember("web");
    assert.equal(await b!.join(onB, "dave", token), false);
    assert.equal(onB.ofType("error")[0]?.code, "storage_failed");
    restore();
    await bus.settle();
    // The old connection on a does something: Redis refuses (the record names b).
    await a!.handle(old, { type: "away", text: "brb" });
    await bus.settle();
    const record = bus.members.get("dave");
    const seatedOnB = hubs[1]!.members().some((m) => m.nick === "dave" && record?.node === "n1");
    assert.ok(
      record === undefined || record.node !== "n1" || seatedOnB,
      `record ${JSON.stringify(record)} names n1, which has no seat`,
    );
    const again = new FakeMember("web");
    const withToken = await c!.join(again, "dave", token);
    const fresh = new FakeMember("web");
    const without = withToken || await c!.join(fresh, "dave");
    await bus.settle();
    assert.ok(
      without,
      `dave cannot be joined: ${JSON.stringify([again.events, fresh.events, record, lists(hubs)])}`,
    );
    for (const list of lists(hubs)) {
      assert.deepEqual(list, lists(hubs)[0], JSON.stringify(lists(hubs)));
    }
  },
);

clusterTest(
  "a reload on the seat's own node while Redis has lost the member's record (restarted empty) is not refused as taken",
  async () => {
    const { bus, hubs, token } = await daveOnA();
    bus.members.delete("dave");
    const again = new FakeMember("web");
    await hubs[0]!.join(again, "dave", token);
    assert.notEqual(again.ofType("error")[0]?.code, "nick_taken", JSON.stringify(again.events));
  },
);

clusterTest(
  "a reload's first try on the seat's node goes while it reads; its second try, on another node meanwhile, takes the seat",
  async () => {
    const { bus, hubs, clusters, old, token } = await daveOnA();
    const [a, b] = hubs;
    const open = holdReads(clusters[0]!);
    const first = new FakeMember("web");
    const onA = Promise.resolve(a!.join(first, "dave", token));
    await bus.settle();
    a!.leave(first, "closed the page");
    const second = new FakeMember("web");
    const byB = await b!.join(second, "dave", token);
    open();
    await onA;
    await bus.settle();
    assert.equal(byB, true, JSON.stringify(second.events));
    assert.equal(old.closed, 1);
  },
);

clusterTest(
  "the old connection tells something while its own node takes the seat back: a take-back on another node does not win too",
  async () => {
    const { bus, hubs, clusters, old, token } = await daveOnA();
    const [a, b] = hubs;
    const open = holdReads(clusters[0]!);
    const tab = new FakeMember("terminal");
    const byA = Promise.resolve(a!.join(tab, "dave", token));
    await bus.settle();
    await a!.handle(old, { type: "away", text: "brb" });
    await bus.settle();
    const onB = new FakeMember("irc");
    const byB = await b!.join(onB, "dave", token);
    open();
    const a1 = await byA;
    await bus.settle();
    const welcomed = [tab, onB].filter((m) => m.ofType("welcome").length > 0).length;
    assert.equal(
      welcomed,
      1,
      `a ${a1} (closed ${tab.closed}), b ${byB}; lists ${JSON.stringify(lists(hubs))}`,
    );
  },
);

clusterTest(
  "TAKE_OVER carried out in Redis but its answer lost (Redis gone a moment): the page's token still works",
  async () => {
    const { bus, hubs, clusters, token } = await daveOnA();
    const [a, b] = hubs;
    for (const [hub, cluster] of [[a!, clusters[0]!], [b!, clusters[1]!]] as const) {
      const takeOver = cluster.takeOver.bind(cluster);
      cluster.takeOver = async (fold, t, fresh) => {
        await takeOver(fold, t, fresh);
        cluster.takeOver = takeOver;
        throw new Error("Command timed out");
      };
      const first = new FakeMember("web");
      assert.equal(await hub.join(first, "dave", token), false);
      assert.equal(first.ofType("error")[0]?.code, "storage_failed");
      await bus.settle();
      const again = new FakeMember("web");
      assert.equal(
        await hub.join(again, "dave", token),
        true,
        `${cluster.node}: ${JSON.stringify(again.events)}`,
      );
      break;
    }
  },
);

clusterTest(
  "a take-back on another node whose seat's holder leaves while the node reads is seated: the name is free",
  async () => {
    const { bus, hubs, clusters, old, token } = await daveOnA();
    const [a, b] = hubs;
    const store = clusters[1]!.store;
    const recent = store.recent.bind(store);
    let once = true;
    store.recent = async (key, count) => {
      if (once) {
        once = false;
        a!.leave(old, "quit");
        await bus.settle();
      }
      return await recent(key, count);
    };
    const page = new FakeMember("web");
    assert.equal(await b!.join(page, "dave", token), true, JSON.stringify(page.events));
    await bus.settle();
    for (const list of lists(hubs)) assert.deepEqual(list, ["dave@web"]);
    assert.equal(bus.members.get("dave")?.node, "n1");
  },
);

/** `ann` seated on node a in #lobby and #a, while node b is behind on the feed (it has not heard of her). */
async function annOnAWhileBLags() {
  const svc = await service();
  svc.clusters[1]!.away = true;
  const ann = new FakeMember("web");
  assert.ok(await svc.hubs[0]!.join(ann, "ann", undefined, undefined, ["#lobby", "#a"]));
  return { ...svc, ann, token: ann.ofType("welcome")[0]!.token };
}

/** The rooms a welcome names. */
function welcomed(member: FakeMember): string[] {
  return (member.ofType("welcome")[0]?.rooms ?? []).map((room) => room.room).sort();
}

clusterTest(
  "a take-back on a node behind on the feed, that had not heard of the seat, moves it: its rooms kept, the old connection closed quietly, the old node's late news passed over",
  async () => {
    const { bus, hubs, clusters: [na, nb], ann, token } = await annOnAWhileBLags();
    const page = new FakeMember("web");
    assert.equal(await hubs[1]!.join(page, "ann", token), true, JSON.stringify(page.events));
    assert.deepEqual(welcomed(page), ["#a", "#lobby"]);
    await bus.settle();
    // Node a was told of a move, not of a newcomer under a name it holds (the fence).
    assert.equal(ann.closed, 1);
    assert.deepEqual(ann.ofType("notice"), []);
    assert.deepEqual(na!.disowned, ["ann"]);
    // Node b then hears what node a told before: older news.
    await caughtUp(bus, nb!);
    assert.equal(page.closed, 0);
    assert.deepEqual(page.ofType("notice"), []);
    for (const hub of hubs) {
      assert.deepEqual(hub.members("#a").map((m) => `${m.nick}@${m.via}`), ["ann@web"]);
    }
    assert.deepEqual(lists(hubs), [["ann@web"], ["ann@web"]]);
    assert.equal(bus.members.get("ann")?.node, "n1");
    assert.deepEqual(bus.members.get("ann")?.rooms, ["#lobby", "#a"]);
  },
);

clusterTest(
  "a seat heard of while a take-back on another node reads is welcomed in all its rooms, and those asked for",
  async () => {
    const { bus, hubs, clusters: [, nb], token } = await annOnAWhileBLags();
    const store = nb!.store;
    const recent = store.recent.bind(store);
    store.recent = (key, count) => {
      // Node b catches up while it reads.
      nb!.away = false;
      nb!.pump();
      return recent(key, count);
    };
    const page = new FakeMember("web");
    assert.equal(await hubs[1]!.join(page, "ann", token, undefined, ["#b"]), true);
    assert.deepEqual(welcomed(page), ["#a", "#b", "#lobby"]);
    await bus.settle();
    assert.deepEqual(bus.members.get("ann")?.rooms, ["#lobby", "#a", "#b"]);
    for (const hub of hubs) {
      assert.deepEqual(hub.members("#b").map((m) => m.nick), ["ann"]);
    }
  },
);

clusterTest(
  "a take-back on a node behind on the feed does not bring the seat back into a room it left meanwhile",
  async () => {
    const { bus, hubs, clusters: [, nb], ann, token } = await annOnAWhileBLags();
    await caughtUp(bus, nb!);
    // Node b knows ann in #a; then falls behind as she leaves it.
    nb!.away = true;
    assert.equal(await hubs[0]!.handle(ann, { type: "part", room: "#a" }), true);
    await bus.settle();
    const page = new FakeMember("web");
    assert.equal(await hubs[1]!.join(page, "ann", token, undefined, ["#lobby"]), true);
    assert.deepEqual(welcomed(page), ["#lobby"]);
    assert.deepEqual(bus.members.get("ann")?.rooms, ["#lobby"]);
    await caughtUp(bus, nb!);
    for (const hub of hubs) assert.deepEqual(hub.members("#a"), []);
    assert.deepEqual(lists(hubs), [["ann@web"], ["ann@web"]]);
  },
);

clusterTest(
  "a room of a seat taken over whose history cannot be read after the take-over is welcomed empty, marked as a gap",
  async () => {
    const { bus, hubs, clusters: [, nb], token } = await annOnAWhileBLags();
    const store = nb!.store;
    const recent = store.recent.bind(store);
    store.recent = (key, count) =>
      key === "#a" ? Promise.reject(new Error("Redis said no")) : recent(key, count);
    const page = new FakeMember("web");
    assert.equal(await hubs[1]!.join(page, "ann", token), true, JSON.stringify(page.events));
    const rooms = page.ofType("welcome")[0]!.rooms;
    assert.deepEqual(rooms.map((room) => [room.room, room.gap ?? false]), [
      ["#lobby", false],
      ["#a", true],
    ]);
    assert.deepEqual(page.ofType("error"), []);
    await bus.settle();
    assert.equal(bus.members.get("ann")?.node, "n1");
  },
);

/**
 * Ann's connection `old` was closed, no node lists her, Redis keeps no
 * record of her, and her name is free (a newcomer takes it on node `on`).
 */
async function annGoneEverywhere(
  bus: FakeBus,
  hubs: Hub[],
  old: FakeMember,
  on: number,
): Promise<void> {
  assert.equal(old.closed, 1);
  assert.deepEqual(lists(hubs), [[], []]);
  assert.equal(bus.members.get("ann"), undefined);
  assert.ok(await hubs[on]!.join(new FakeMember("web"), "ann"), "the name is free");
}

/** A connection whose welcome cannot be sent: it went as it joined. */
class GoneAtWelcome extends FakeMember {
  override send(event: ServerEvent): void {
    if (event.type === "welcome") throw new Error("connection reset");
    super.send(event);
  }
}

clusterTest(
  "a take-back on another node whose welcome cannot be sent leaves the member gone on every node, and its name free",
  async () => {
    const { bus, hubs, clusters: [, nb], ann, token } = await annOnAWhileBLags();
    assert.equal(await hubs[1]!.join(new GoneAtWelcome("web"), "ann", token), false);
    await caughtUp(bus, nb!);
    await annGoneEverywhere(bus, hubs, ann, 0);
  },
);

clusterTest(
  "a take-back on a node behind on the feed keeps the seat's rooms and refuses, past the most a member may be in, the rooms only asked for",
  async () => {
    const svc = await service();
    const [a, b] = svc.hubs;
    svc.clusters[1]!.away = true;
    const mine = Array.from({ length: MEMBER_ROOMS_MAX - 1 }, (_, i) => `#r${i}`);
    const ann = new FakeMember("web");
    assert.ok(await a!.join(ann, "ann", undefined, undefined, ["#lobby", ...mine]));
    const token = ann.ofType("welcome")[0]!.token;
    const page = new FakeMember("web");
    assert.ok(await b!.join(page, "ann", token, undefined, ["#x", "#r0"]));
    assert.deepEqual(welcomed(page), ["#lobby", ...mine].sort());
    assert.deepEqual(page.ofType("error").map((e) => [e.code, e.room]), [["too_many_rooms", "#x"]]);
    await svc.bus.settle();
    assert.deepEqual(svc.bus.members.get("ann")?.rooms, ["#lobby", ...mine]);
  },
);

clusterTest(
  "a take-back on a node behind on the feed by two moves passes over what every earlier node told, and hears what comes after",
  async () => {
    const { bus, hubs, clusters } = await service(3);
    const [a, b, c] = hubs;
    clusters[1]!.away = true;
    const first = new FakeMember("web");
    assert.ok(await a!.join(first, "ann", undefined, undefined, ["#lobby", "#a"]));
    const second = new FakeMember("irc");
    assert.ok(await c!.join(second, "ann", first.ofType("welcome")[0]!.token));
    await bus.settle();
    const third = new FakeMember("terminal");
    assert.ok(await b!.join(third, "ann", second.ofType("welcome")[0]!.token));
    await caughtUp(bus, clusters[1]!);
    assert.deepEqual([first.closed, second.closed, third.closed], [1, 1, 0]);
    assert.deepEqual(third.ofType("notice"), []);
    assert.deepEqual(lists(hubs), [["ann@terminal"], ["ann@terminal"], ["ann@terminal"]]);
    // Past its move, node b hears the next one.
    const fourth = new FakeMember("web");
    assert.ok(await a!.join(fourth, "ann", third.ofType("welcome")[0]!.token));
    await bus.settle();
    assert.equal(third.closed, 1);
    assert.deepEqual(lists(hubs), [["ann@web"], ["ann@web"], ["ann@web"]]);
    for (const hub of hubs) assert.deepEqual(hub.members("#a").map((m) => m.nick), ["ann"]);
  },
);

clusterTest(
  "a take-back on a node behind on the feed that asks again for a room the seat left meanwhile enters it as it is live",
  async () => {
    const { bus, hubs, clusters: [, nb], ann, token } = await annOnAWhileBLags();
    await caughtUp(bus, nb!);
    nb!.away = true;
    assert.equal(await hubs[0]!.handle(ann, { type: "part", room: "#a" }), true);
    await bus.settle();
    const page = new FakeMember("web");
    assert.equal(await hubs[1]!.join(page, "ann", token, undefined, ["#lobby", "#a"]), true);
    assert.deepEqual(welcomed(page), ["#a", "#lobby"]);
    await caughtUp(bus, nb!);
    for (const hub of hubs) assert.deepEqual(hub.members("#a").map((m) => m.nick), ["ann"]);
    assert.deepEqual(bus.members.get("ann")?.rooms, ["#lobby", "#a"]);
  },
);

clusterTest(
  "a member found taken over by another node that never told the move is told gone by its node: no node keeps it as that node's",
  async () => {
    const { bus, hubs, clusters, old, token } = await daveOnA();
    // Node b took the seat over in Redis, and then nothing (its answer lost, say).
    assert.ok(await clusters[1]!.takeOver(nickKey("dave"), token, crypto.randomUUID()));
    // Node a finds out as it tells something of its member.
    assert.equal(await hubs[0]!.handle(old, { type: "enter", room: "#x" }), true);
    await bus.settle();
    assert.equal(old.closed, 1);
    assert.deepEqual(lists(hubs), [[], [], []]);
  },
);

clusterTest(
  "a take-over of another node's seat whose answer was lost leaves every node agreeing, and a second try seats the member",
  async () => {
    const { bus, hubs, clusters, old, token } = await daveOnA();
    const cluster = clusters[1]!;
    const takeOver = cluster.takeOver.bind(cluster);
    cluster.takeOver = async (fold, given, fresh) => {
      await takeOver(fold, given, fresh);
      throw new Error("Command timed out");
    };
    const page = new FakeMember("web");
    assert.equal(await hubs[1]!.join(page, "dave", token), false);
    assert.equal(page.ofType("error")[0]?.code, "storage_failed");
    await bus.settle();
    // Redis lists no seat of node b that node b has not.
    assert.notEqual(bus.members.get("dave")?.node, "n1");
    assert.notEqual(bus.owners.get("dave"), "n1");
    cluster.takeOver = takeOver;
    const again = new FakeMember("web");
    assert.equal(await hubs[1]!.join(again, "dave", token), true, JSON.stringify(again.events));
    await bus.settle();
    assert.equal(old.closed, 1);
    for (const list of lists(hubs)) assert.deepEqual(list, ["dave@web"]);
    assert.equal(bus.members.get("dave")?.node, "n1");
  },
);

clusterTest(
  "a take-back on another node keeps the seat's away message, on every node and in Redis",
  async () => {
    const { bus, hubs } = await service();
    const [a, b] = hubs;
    const ann = new FakeMember("web");
    assert.ok(await a!.join(ann, "ann"));
    const token = ann.ofType("welcome")[0]!.token;
    assert.equal(await a!.handle(ann, { type: "away", text: "lunch" }), true);
    await bus.settle();
    assert.equal(b!.whois("ann")?.away, "lunch");
    const page = new FakeMember("web");
    assert.ok(await b!.join(page, "ann", token));
    await bus.settle();
    assert.deepEqual(
      [a!.whois("ann")?.away, b!.whois("ann")?.away, bus.members.get("ann")?.away],
      ["lunch", "lunch", "lunch"],
    );
  },
);

clusterTest(
  "a take-back on a node behind on the feed whose move cannot be told is not closed by the old node's older news",
  async () => {
    const { bus, hubs, clusters: [, nb], ann, token } = await annOnAWhileBLags();
    // Redis goes away right after the take-over: the move is not told.
    const takeOver = nb!.takeOver.bind(nb);
    nb!.takeOver = async (fold, given, fresh) => {
      const record = await takeOver(fold, given, fresh);
      bus.down = true;
      return record;
    };
    const page = new FakeMember("web");
    assert.equal(await hubs[1]!.join(page, "ann", token), true, JSON.stringify(page.events));
    await bus.settle();
    bus.recover();
    await bus.settle();
    // Node b now reads what node a told before the take-over (ann's seat).
    await caughtUp(bus, nb!);
    assert.equal(ann.closed, 1, "the old page is let go");
    assert.deepEqual(page.ofType("notice"), [], "the new page is told nothing");
    assert.equal(page.closed, 0, "the new page stays");
    assert.equal(bus.members.get("ann")?.node, "n1");
    assert.deepEqual(lists(hubs), [["ann@web"], ["ann@web"]]);
  },
);

clusterTest(
  "a node that took a seat over while behind, then missed part of the feed, lists who holds the name now",
  async () => {
    const { bus, hubs, clusters: [, nb], token } = await annOnAWhileBLags();
    const page = new FakeMember("web");
    assert.ok(await hubs[1]!.join(page, "ann", token));
    await bus.settle();
    // She quits; someone else takes the name on node a; node b misses it all (trimmed).
    hubs[1]!.leave(page, "quit");
    await bus.settle();
    assert.ok(await hubs[0]!.join(new FakeMember("irc"), "ann"));
    await bus.settle();
    nb!.back();
    await bus.settle();
    assert.deepEqual(lists(hubs), [["ann@irc"], ["ann@irc"]]);
  },
);

clusterTest(
  "a rename away from a name, read after a take-back of that name by a node behind on the feed, is not lost",
  async () => {
    const { bus, hubs, clusters: [, nb] } = await service();
    const [a, b] = hubs;
    const first = new FakeMember("web");
    assert.ok(await a!.join(first, "ann"));
    await bus.settle();
    // Node b knows ann; then falls behind while she becomes zed and a newcomer takes "ann".
    nb!.away = true;
    assert.equal(await a!.handle(first, { type: "nick", nick: "zed" }), true);
    await bus.settle();
    const second = new FakeMember("web");
    assert.ok(await a!.join(second, "ann"));
    await bus.settle();
    const page = new FakeMember("web");
    assert.ok(await b!.join(page, "ann", second.ofType("welcome")[0]!.token));
    await caughtUp(bus, nb!);
    assert.deepEqual(lists(hubs), [["ann@web", "zed@web"], ["ann@web", "zed@web"]]);
    assert.equal(b!.whois("zed")?.nick, "zed");
  },
);

clusterTest(
  "a take-back on a node behind on the feed is not refused a room it is welcomed in",
  async () => {
    const { bus, hubs, clusters: [, nb] } = await service();
    const [a, b] = hubs;
    const full = Array.from({ length: MEMBER_ROOMS_MAX - 1 }, (_, i) => `#r${i}`);
    const ann = new FakeMember("web");
    assert.ok(await a!.join(ann, "ann", undefined, undefined, ["#lobby", ...full]));
    const token = ann.ofType("welcome")[0]!.token;
    await bus.settle();
    // Node b knows her in MEMBER_ROOMS_MAX rooms; behind, it misses her leaving one and entering #z.
    nb!.away = true;
    assert.equal(await a!.handle(ann, { type: "part", room: "#r0" }), true);
    assert.equal(await a!.handle(ann, { type: "enter", room: "#z" }), true);
    await bus.settle();
    const rooms = ["#lobby", ...full.slice(1), "#z"];
    assert.deepEqual(bus.members.get("ann")?.rooms, rooms);
    // The page asks for the rooms it is in.
    const page = new FakeMember("web");
    assert.ok(await b!.join(page, "ann", token, undefined, rooms));
    assert.deepEqual(welcomed(page), [...rooms].sort());
    assert.deepEqual(page.ofType("error").map((e) => [e.code, e.room]), []);
  },
);

clusterTest(
  "a take-back on a node that had not heard of the seat's last move is not shown to its members as a leave and a join",
  async () => {
    const { bus, hubs, clusters } = await service(3);
    const [a, b, c] = hubs;
    const first = new FakeMember("web");
    assert.ok(await a!.join(first, "ann"));
    const watcher = await join(b!, "wendy");
    await bus.settle();
    watcher.take();
    clusters[1]!.away = true;
    const second = new FakeMember("web");
    assert.ok(await c!.join(second, "ann", first.ofType("welcome")[0]!.token));
    await bus.settle();
    const third = new FakeMember("web");
    assert.ok(await b!.join(third, "ann", second.ofType("welcome")[0]!.token));
    await caughtUp(bus, clusters[1]!);
    assert.deepEqual(lists(hubs), [["ann@web", "wendy@web"], ["ann@web", "wendy@web"], [
      "ann@web",
      "wendy@web",
    ]]);
    assert.deepEqual(
      watcher.events.filter((e) => e.type === "leave" || e.type === "join").map((e) =>
        `${e.type} ${"nick" in e ? e.nick : ""}`
      ),
      [],
    );
  },
);

clusterTest(
  "a reload on a node behind on the feed, after the seat's node was found dead, is not closed by that node's older news",
  async () => {
    const { bus, hubs, clusters: [na, nb], token } = await annOnAWhileBLags();
    na!.die();
    await bus.settle();
    const page = new FakeMember("web");
    assert.equal(await hubs[1]!.join(page, "ann", token), true, JSON.stringify(page.events));
    await caughtUp(bus, nb!);
    assert.deepEqual(page.ofType("notice"), []);
    assert.equal(page.closed, 0);
    assert.deepEqual(hubs[1]!.members().map((m) => m.nick), ["ann"]);
  },
);

clusterTest(
  "a take-back on a node behind on the feed whose member goes during the reads after the take-over leaves it gone everywhere",
  async () => {
    const { bus, hubs, clusters: [, nb], ann, token } = await annOnAWhileBLags();
    const store = nb!.store;
    const recent = store.recent.bind(store);
    const page = new FakeMember("web");
    store.recent = (key, count) => {
      if (key === "#a") hubs[1]!.leave(page, "connection lost");
      return recent(key, count);
    };
    await hubs[1]!.join(page, "ann", token);
    await caughtUp(bus, nb!);
    await annGoneEverywhere(bus, hubs, ann, 0);
  },
);

clusterTest(
  "a take-back on the seat's own node whose welcome cannot be sent leaves it gone everywhere",
  async () => {
    const { bus, hubs, old, token } = await daveOnA();
    assert.equal(await hubs[0]!.join(new GoneAtWelcome("web"), "dave", token), false);
    await bus.settle();
    assert.equal(old.closed, 1);
    assert.deepEqual(lists(hubs), [[], [], []]);
    assert.equal(bus.members.get("dave"), undefined);
    assert.ok(await hubs[1]!.join(new FakeMember("web"), "dave"));
  },
);

clusterTest(
  "a take-back on a node behind on the feed replays each room's lines in the right room (dropped and added rooms)",
  async () => {
    const { bus, hubs, clusters: [, nb] } = await service();
    const [a, b] = hubs;
    const ann = new FakeMember("web");
    assert.ok(await a!.join(ann, "ann", undefined, undefined, ["#lobby", "#a", "#b"]));
    const token = ann.ofType("welcome")[0]!.token;
    const bob = await join(a!, "bob", ["#lobby", "#a", "#b", "#c"]);
    await bus.settle();
    const since = await nb!.store.lastId();
    nb!.away = true;
    await a!.handle(ann, { type: "part", room: "#a" });
    await a!.handle(ann, { type: "enter", room: "#c" });
    for (const r of ["#lobby", "#a", "#b", "#c"]) {
      await a!.handle(bob, { type: "say", room: r, text: `in ${r}` });
    }
    await bus.settle();
    const page = new FakeMember("web");
    // Its reads wait for the feed (they found lines past b's position): b catches up meanwhile.
    const joined = Promise.resolve(b!.join(page, "ann", token, since, ["#lobby"]));
    await bus.settle();
    nb!.away = false;
    nb!.pump();
    assert.ok(await joined);
    const w = page.ofType("welcome")[0]!;
    assert.deepEqual(w.rooms.map((r) => r.room), ["#lobby", "#b", "#c"]);
    assert.deepEqual(
      w.history.map((m: ChatMessage) => `${m.room}:${m.text}`).sort(),
      ["#b:in #b", "#c:in #c", "#lobby:in #lobby"],
    );
    await caughtUp(bus, nb!);
    for (const hub of hubs) assert.deepEqual(hub.members("#a").map((m) => m.nick), ["bob"]);
    for (const hub of hubs) {
      assert.deepEqual(hub.members("#c").map((m) => m.nick).sort(), ["ann", "bob"]);
    }
  },
);

clusterTest(
  "a newcomer on a node behind on the feed, under a name freed meanwhile, is not closed by older news",
  async () => {
    const { bus, hubs, clusters: [, nb], ann } = await annOnAWhileBLags();
    hubs[0]!.leave(ann, "quit");
    await bus.settle();
    const page = new FakeMember("web");
    assert.equal(await hubs[1]!.join(page, "ann"), true);
    await caughtUp(bus, nb!);
    assert.deepEqual(page.ofType("notice"), []);
  },
);

clusterTest(
  "a rename on a node behind on the feed to a name freed meanwhile is not undone by older news of that name",
  async () => {
    const { bus, hubs, clusters: [, nb] } = await service();
    const [a, b] = hubs;
    const first = await join(a!, "ann1");
    const carl = await join(b!, "carl");
    await bus.settle();
    // Behind, node b misses ann1 becoming ann and leaving.
    nb!.away = true;
    assert.equal(await a!.handle(first, { type: "nick", nick: "ann" }), true);
    await bus.settle();
    a!.leave(first, "quit");
    await bus.settle();
    assert.equal(await b!.handle(carl, { type: "nick", nick: "ann" }), true);
    assert.equal(b!.nickOf(carl), "ann");
    await caughtUp(bus, nb!);
    assert.equal(carl.closed, 0);
    assert.deepEqual(carl.ofType("notice"), []);
    assert.deepEqual(lists(hubs), [["ann@web"], ["ann@web"]]);
  },
);

for (
  const [how, sender, behind] of [
    ["sent to its old node by one that had not heard", 0, [0]],
    ["sent on its old node, behind on the feed", 1, [1]],
    ["sent to its old node, behind on the feed, by one also behind", 0, [0, 1]],
  ] as const
) {
  clusterTest(
    `a private message to a member whose seat was taken back on another node, ${how}, reaches the new connection alone, once`,
    async () => {
      const { bus, hubs, clusters } = await service(3);
      const first = new FakeMember("web");
      assert.ok(await hubs[1]!.join(first, "bob"));
      const from = hubs[sender]!;
      const alice = await join(from, "alice");
      await bus.settle();
      // Bob takes his seat back on node c; the nodes behind have not heard.
      for (const i of behind) clusters[i]!.away = true;
      const page = new FakeMember("web");
      assert.ok(await hubs[2]!.join(page, "bob", first.ofType("welcome")[0]!.token));
      await bus.settle();
      assert.equal(await from.handle(alice, { type: "msg", to: "bob", text: "psst" }), true);
      await bus.settle();
      for (const i of behind) await caughtUp(bus, clusters[i]!);
      assert.equal(await from.handle(alice, { type: "msg", to: "bob", text: "again" }), true);
      await bus.settle();
      assert.deepEqual(page.ofType("message").map((m) => m.text), ["psst", "again"]);
      assert.deepEqual(first.ofType("message"), []);
      assert.deepEqual(alice.ofType("message").map((m) => m.text), ["psst", "again"]);
    },
  );
}

clusterTest(
  "a private message from another node kept for a closed page reaches the page reloaded on another node",
  async () => {
    const { bus, hubs: [a, b] } = await service();
    const first = new ClosedPage();
    assert.ok(await a!.join(first, "bob"));
    const alice = await join(b!, "alice");
    await bus.settle();
    // His page closes (a reload): node a keeps his seat for it.
    first.parting = true;
    assert.equal(await b!.handle(alice, { type: "msg", to: "bob", text: "psst" }), true);
    await bus.settle();
    // The reload lands on node b.
    const page = new FakeMember("web");
    assert.ok(await b!.join(page, "bob", first.ofType("welcome")[0]!.token));
    await bus.settle();
    assert.deepEqual(page.ofType("message").map((m) => m.text), ["psst"]);
    assert.deepEqual(alice.ofType("message").map((m) => m.text), ["psst"]);
    // Once: a line after goes to the new page alone.
    assert.equal(await b!.handle(alice, { type: "msg", to: "bob", text: "again" }), true);
    await bus.settle();
    assert.deepEqual(page.ofType("message").map((m) => m.text), ["psst", "again"]);
  },
);

clusterTest(
  "private messages kept for a closed page that came out of id order all reach its reload on another node, and nothing it saw before",
  async () => {
    const { bus, hubs: [a, b, c], clusters } = await service(3);
    const first = new ClosedPage();
    assert.ok(await a!.join(first, "bob"));
    const alice = await join(b!, "alice");
    const carol = await join(c!, "carol");
    await bus.settle();
    assert.equal(await b!.handle(alice, { type: "msg", to: "bob", text: "seen" }), true);
    await bus.settle();
    first.parting = true;
    // Node c's publish is slow: carol's, the lower id, reaches node a last.
    const slow = Promise.withResolvers<void>();
    const nc = clusters[2]!;
    const forward = nc.forward.bind(nc);
    nc.forward = async (node, what) => {
      await slow.promise;
      return await forward(node, what);
    };
    assert.equal(await c!.handle(carol, { type: "msg", to: "bob", text: "from carol" }), true);
    await bus.settle();
    assert.equal(await b!.handle(alice, { type: "msg", to: "bob", text: "from alice" }), true);
    await bus.settle();
    slow.resolve();
    await bus.settle();
    const page = new FakeMember("web");
    assert.ok(await b!.join(page, "bob", first.ofType("welcome")[0]!.token));
    await bus.settle();
    assert.deepEqual(page.ofType("message").map((m) => m.text).sort(), [
      "from alice",
      "from carol",
    ]);
  },
);

clusterTest(
  "more private messages than a seat keeps, kept for a closed page: its reload on another node gets the newest",
  async () => {
    const { bus, hubs: [a, b, c] } = await service(3);
    const first = new ClosedPage();
    assert.ok(await a!.join(first, "bob"));
    const carol = await join(c!, "carol");
    await bus.settle();
    first.parting = true;
    for (let i = 0; i < 250; i++) {
      assert.equal(await c!.handle(carol, { type: "msg", to: "bob", text: `m${i}` }), true);
    }
    await bus.settle();
    const page = new FakeMember("web");
    assert.ok(await b!.join(page, "bob", first.ofType("welcome")[0]!.token));
    await bus.settle();
    assert.deepEqual(
      page.ofType("message").map((m) => m.text),
      Array.from({ length: PRIVATE_KEEP }, (_, i) => `m${250 - PRIVATE_KEEP + i}`),
    );
  },
);

clusterTest(
  "two renames at once from one address with one join left: one is had, and one refused by another node's holder costs nothing",
  async () => {
    const bus = new FakeBus();
    buses.push(bus);
    const hubs: Hub[] = [];
    for (let i = 0; i < 2; i++) {
      const hub = new Hub({
        cluster: new FakeCluster(bus, `n${i}`),
        floodBurst: 1000,
        floodRate: 1000,
        joinRate: 0.001,
        maxPerIp: 3,
      });
      await hub.attach();
      hubs.push(hub);
    }
    const [a, b] = hubs;
    await join(b!, "held");
    const m1 = new FakeMember("web", "10.0.0.1");
    const m2 = new FakeMember("web", "10.0.0.1");
    assert.ok(await a!.join(m1, "one"));
    assert.ok(await a!.join(m2, "two"));
    await bus.settle();
    // A name another node's member holds: refused, and given back.
    assert.equal(await a!.handle(m1, { type: "nick", nick: "held" }), false);
    const renamed = await Promise.all([
      a!.handle(m1, { type: "nick", nick: "uno" }),
      a!.handle(m2, { type: "nick", nick: "dos" }),
    ]);
    assert.deepEqual(renamed.filter(Boolean).length, 1, "one join left: one rename");
  },
);

/**
 * Bob on node a with alice and carol; his page takes his seat back on node
 * b, and `meanwhile` runs between the take-over in Redis and the move told
 * to the other nodes (node a cannot know yet).
 */
async function bobTakenBackOnB(
  meanwhile: (svc: Awaited<ReturnType<typeof service>>, people: {
    alice: FakeMember;
    carol: FakeMember;
  }) => Promise<void>,
) {
  const svc = await service();
  const { bus, hubs: [a, b], clusters: [, nb] } = svc;
  const first = new FakeMember("web");
  assert.ok(await a!.join(first, "bob"));
  const alice = await join(a!, "alice");
  const carol = await join(a!, "carol");
  await bus.settle();
  const takeOver = nb!.takeOver.bind(nb);
  nb!.takeOver = async (fold, token, next) => {
    const over = await takeOver(fold, token, next);
    await meanwhile(svc, { alice, carol });
    return over;
  };
  const page = new FakeMember("web");
  assert.ok(await b!.join(page, "bob", first.ofType("welcome")[0]!.token));
  await bus.settle();
  return { ...svc, first, page, alice };
}

clusterTest(
  "a private message its old node shows a member's old connection while the seat is being taken over on another node reaches the new connection too",
  async () => {
    const { bus, hubs: [a], first, page, alice } = await bobTakenBackOnB(
      async ({ bus, hubs: [a] }, { alice }) => {
        assert.equal(await a!.handle(alice, { type: "msg", to: "bob", text: "psst" }), true);
        await bus.settle();
      },
    );
    assert.deepEqual(first.ofType("message").map((m) => m.text), ["psst"], "shown before the move");
    assert.equal(first.closed, 1);
    assert.deepEqual(page.ofType("message").map((m) => m.text), ["psst"]);
    // Once: a line after the move goes to the new connection alone.
    assert.equal(await a!.handle(alice, { type: "msg", to: "bob", text: "again" }), true);
    await bus.settle();
    assert.deepEqual(page.ofType("message").map((m) => m.text), ["psst", "again"]);
    assert.deepEqual(alice.ofType("message").map((m) => m.text), ["psst", "again"]);
  },
);

clusterTest(
  "a private message passed on at a move is shown there after the room lines with lower ids, as every private message is",
  async () => {
    const { bus, clusters: [, nb], page } = await bobTakenBackOnB(
      async ({ bus, hubs: [a], clusters: [, nb] }, { alice, carol }) => {
        // The new node falls behind on the feed, for a moment, as any node may.
        nb!.away = true;
        const line = { type: "say", room: "#lobby", text: "room line" } as const;
        assert.equal(await a!.handle(carol, line), true);
        await bus.settle();
        assert.equal(await a!.handle(alice, { type: "msg", to: "bob", text: "psst" }), true);
        await bus.settle();
      },
    );
    await caughtUp(bus, nb!);
    const shown = page.ofType("message").filter((m) => m.text === "room line" || m.text === "psst");
    assert.deepEqual(shown.map((m) => m.text), ["room line", "psst"]);
    assert.ok(shown[0]!.id < shown[1]!.id);
  },
);

clusterTest(
  "a member who renamed away from a name a node behind on the feed then claims keeps its away message there",
  async () => {
    const { bus, hubs, clusters: [, nb] } = await service();
    const [a, b] = hubs;
    const bob = await join(a!, "bob", ["#lobby", "#dev"]);
    assert.equal(await a!.handle(bob, { type: "away", text: "lunch" }), true);
    await bus.settle();
    assert.equal(b!.whois("bob")?.away, "lunch");
    // Node b falls behind; bob becomes rob, and a newcomer on b takes "bob" (free in Redis).
    nb!.away = true;
    assert.equal(await a!.handle(bob, { type: "nick", nick: "rob" }), true);
    await bus.settle();
    assert.ok(await b!.join(new FakeMember("irc"), "bob"));
    nb!.away = false;
    await bus.settle();
    assert.deepEqual(lists(hubs), [["bob@irc", "rob@web"], ["bob@irc", "rob@web"]]);
    assert.deepEqual(b!.whois("rob")?.rooms, ["#lobby", "#dev"]);
    // WHOIS rob on node b: his away message, as every other node has it.
    assert.equal(a!.whois("rob")?.away, "lunch");
    assert.equal(b!.whois("rob")?.away, "lunch");
  },
);

clusterTest(
  "a take-back with the token of a seat whose node was found dead, once a newcomer claimed its name, is refused: the nodes agree on the newcomer",
  async () => {
    const { bus, hubs, clusters, token } = await daveOnA();
    const [, b, c] = hubs;
    // Node a is found dead: off the live list, its nickname keys lapsed, its
    // records not removed yet (the finder's DEAD step is on its way).
    bus.nodes.delete(clusters[0]!);
    bus.owners.delete("dave");
    // A newcomer on node b claims "dave" (free: its record's node is not live).
    // While node b asks Redis for the id counter, dave's page takes its seat
    // over on node c with its token (TAKE_OVER looks at the record only).
    const store = clusters[1]!.store;
    const lastId = store.lastId.bind(store);
    const page = new FakeMember("web");
    let overtook: boolean | undefined;
    store.lastId = async () => {
      store.lastId = lastId;
      overtook = await c!.join(page, "dave", token);
      return await lastId();
    };
    const newcomer = new FakeMember("irc");
    await b!.join(newcomer, "dave");
    await bus.settle();
    // The record is no member's any more: the name is the newcomer's.
    assert.equal(overtook, false, JSON.stringify(page.events));
    assert.equal(page.ofType("error")[0]?.code, "nick_taken");
    assert.equal(newcomer.closed, 0);
    assert.equal(bus.members.get("dave")?.node, "n1");
    // Whoever has the name, the live nodes agree on it.
    assert.deepEqual(lists([c!]), [["dave@irc"]]);
    assert.deepEqual(lists([b!]), lists([c!]));
  },
);

clusterTest(
  "a seat taken back on another node while its old connection drops keeps its away message on the old node",
  async () => {
    const { bus, hubs, clusters: [na] } = await service();
    const [a, b] = hubs;
    const ann = await join(a!, "ann", ["#lobby", "#dev"]);
    const token = ann.ofType("welcome")[0]!.token;
    assert.equal(await a!.handle(ann, { type: "away", text: "lunch" }), true);
    await bus.settle();
    // A reload: the new page lands on node b while node a sees the old one drop.
    na!.away = true;
    const page = new FakeMember("web");
    assert.ok(await b!.join(page, "ann", token));
    a!.leave(ann, "connection lost");
    await bus.settle();
    await caughtUp(bus, na!);
    assert.deepEqual(lists(hubs), [["ann@web"], ["ann@web"]]);
    assert.equal(bus.members.get("ann")?.away, "lunch");
    assert.equal(b!.whois("ann")?.away, "lunch");
    assert.equal(a!.whois("ann")?.away, "lunch");
  },
);

clusterTest(
  "a node back from being cut off and found dead does not retell a seat whose name another node claimed since",
  async () => {
    const { bus, hubs, clusters } = await service();
    const [a, b] = hubs;
    const bob = await join(b!, "bob");
    await bus.settle();
    // Node b is cut off: what bob does there is not told (retold once Redis is back).
    bus.down = true;
    assert.equal(await b!.handle(bob, { type: "away", text: "brb" }), true);
    bus.down = false;
    // Meanwhile its lease ends: found dead, its members told gone, bob's name free.
    clusters[1]!.die();
    await bus.settle();
    assert.deepEqual(lists([a!]), [[]]);
    // Its renewal registers it again (the fake has no leases to tell it "lost").
    bus.nodes.add(clusters[1]!);
    // A newcomer on node a claims "bob"; while it reads, node b finds Redis back and retells.
    const release = holdReads(clusters[0]!);
    const newcomer = new FakeMember("irc");
    const joined = Promise.resolve(a!.join(newcomer, "bob"));
    await bus.settle();
    assert.equal(bus.owners.get("bob"), "n0", "node a holds the name");
    clusters[1]!.recovered();
    await bus.settle();
    release();
    assert.equal(await joined, true);
    await bus.settle();
    // Whatever became of bob on node b, once he quits there no node lists him.
    if (b!.nickOf(bob) !== undefined) b!.leave(bob, "quit");
    await bus.settle();
    assert.ok(!lists(hubs).flat().includes("bob@web"), JSON.stringify(lists(hubs)));
    // The name is node a's (its claim came after node b was found dead): its member stays.
    assert.equal(newcomer.closed, 0, JSON.stringify(newcomer.events));
    assert.equal(bus.members.get("bob")?.node, "n0");
    // (Node b's retelling, tried again while Redis refused, ends with it.)
    for (const hub of hubs) hub.close("done");
  },
);

clusterTest(
  "a private message sent from a node behind on the feed to a seat taken back on another node reaches it, or is refused",
  async () => {
    const { bus, hubs, clusters, old, token } = await daveOnA();
    const [, b, c] = hubs;
    const carol = await join(c!, "carol");
    await bus.settle();
    carol.take();
    // Node c is a moment behind: it has not read dave's move to node b yet.
    clusters[2]!.away = true;
    const page = new FakeMember("web");
    assert.ok(await b!.join(page, "dave", token));
    await bus.settle();
    assert.equal(old.closed, 1);
    page.take();
    assert.equal(await c!.handle(carol, { type: "msg", to: "dave", text: "psst" }), true);
    await bus.settle();
    await caughtUp(bus, clusters[2]!);
    const toCarol = carol.events.map((e) => e.type === "message" ? `msg ${e.text}` : e.type);
    const toDave = page.ofType("message").map((e) => e.text);
    // Either dave gets it, or carol is told it was not delivered: not shown to her as sent and lost.
    assert.ok(
      toDave.includes("psst") || !toCarol.includes("msg psst"),
      JSON.stringify({ toCarol, toDave }),
    );
  },
);

/**
 * Bob on node a; node b falls behind on the feed (after `before`, if given)
 * and bob quits, which node b has still to read.
 */
async function bobQuitsWhileBLags(
  before?: (bus: FakeBus, nb: FakeCluster) => Promise<void>,
) {
  const svc = await service();
  const { bus, hubs: [a], clusters: [, nb] } = svc;
  const bob = await join(a!, "bob");
  await bus.settle();
  await before?.(bus, nb!);
  nb!.away = true;
  a!.leave(bob, "quit");
  await bus.settle();
  return svc;
}

clusterTest(
  "a join that goes after its claim, on a node behind on the feed, does not keep the name's last holder listed there forever",
  async () => {
    const { bus, hubs, hubs: [, b], clusters: [, nb] } = await bobQuitsWhileBLags();
    // Someone asks node b for the free name, and their connection goes while the join waits on Redis.
    const gone = new FakeMember("web");
    const joining = b!.join(gone, "bob");
    b!.leave(gone, "connection lost");
    assert.equal(await joining, false);
    await caughtUp(bus, nb!);
    assert.deepEqual(lists(hubs), [[], []]);
    assert.equal(b!.whois("bob"), undefined);
  },
);

clusterTest(
  "a member list read before a node seated a newcomer under a name, handed on after, does not bring the name's last holder back",
  async () => {
    let read: { records: MemberRecord[]; at: number } | undefined;
    const { bus, hubs, hubs: [, b], clusters: [, nb] } = await bobQuitsWhileBLags(
      async (bus, nb) => {
        // The list as node b's feed reader reads it, with bob on node a; its answer comes late.
        read = {
          records: [...bus.members.values()].map((r) => structuredClone(r)),
          at: await nb.store.lastId(),
        };
      },
    );
    const newcomer = new FakeMember("irc");
    assert.ok(await b!.join(newcomer, "bob"));
    assert.ok(read);
    nb!.back(read);
    await bus.settle();
    assert.equal(newcomer.closed, 0);
    assert.deepEqual(
      newcomer.ofType("notice").map((e) => e.text).filter((t) => /lost touch/.test(t)),
      [],
    );
    assert.deepEqual(lists(hubs), [["bob@irc"], ["bob@irc"]]);
  },
);

clusterTest(
  "what a member's old connection did on its node just before that node heard of the member's move elsewhere is undone there: it lists the member as the new node has it",
  async () => {
    for (const act of ["part", "away"] as const) {
      const { bus, hubs, clusters: [na] } = await service();
      const [a, b] = hubs;
      const ann = new FakeMember("web");
      assert.ok(await a!.join(ann, "ann", undefined, undefined, ["#lobby", "#a"]));
      const token = ann.ofType("welcome")[0]!.token;
      await bus.settle();
      // Node a is behind as the page takes the seat back on node b.
      na!.away = true;
      assert.ok(await b!.join(new FakeMember("web"), "ann", token));
      await bus.settle();
      // The old connection acts on node a, which then reads the move before Redis answers its tell.
      const acted = a!.handle(
        ann,
        act === "part" ? { type: "part", room: "#a" } : { type: "away", text: "stale" },
      );
      na!.away = false;
      na!.pump();
      await acted;
      await bus.settle();
      assert.equal(ann.closed, 1);
      for (const hub of hubs) {
        assert.deepEqual(hub.members("#a").map((m) => m.nick), ["ann"], `${act}`);
        assert.equal(hub.whois("ann")?.away, undefined, `${act}`);
      }
      for (const hub of hubs) hub.close("done");
    }
  },
);

/** `ann` seated on node a in #lobby and #a, taken back on node b while node a is behind on the feed. */
async function annMovedWhileALags() {
  const svc = await service();
  const [a, b] = svc.hubs;
  const old = new FakeMember("web");
  assert.ok(await a!.join(old, "ann", undefined, undefined, ["#lobby", "#a"]));
  await svc.bus.settle();
  svc.clusters[0]!.away = true;
  const moved = new FakeMember("irc");
  assert.ok(await b!.join(moved, "ann", old.ofType("welcome")[0]!.token));
  await svc.bus.settle();
  return { ...svc, old, moved };
}

/** Ann's page takes her seat back on node a with the token node b gave it: welcomed. */
async function takenBackOnA(hubs: Hub[], moved: FakeMember): Promise<FakeMember> {
  const back = new FakeMember("web");
  assert.equal(
    await hubs[0]!.join(back, "ann", moved.ofType("welcome")[0]!.token),
    true,
    JSON.stringify(back.events),
  );
  return back;
}

clusterTest(
  "a take-back with its new token on a node behind on the feed that still has the seat as its own is carried out, not refused",
  async () => {
    const { bus, hubs, clusters: [na], old, moved } = await annMovedWhileALags();
    const back = await takenBackOnA(hubs, moved);
    await caughtUp(bus, na!);
    assert.deepEqual([old.closed, moved.closed, back.closed], [1, 1, 0]);
    assert.deepEqual(lists(hubs), [["ann@web"], ["ann@web"]]);
    for (const hub of hubs) assert.deepEqual(hub.members("#a").map((m) => m.nick), ["ann"]);
    assert.equal(bus.members.get("ann")?.node, "n0");
  },
);

clusterTest(
  "a take-back with a spent token on a node behind on the feed, once the seat left elsewhere, seats it there for good, listed alike everywhere",
  async () => {
    const { bus, hubs, clusters: [na], old, moved } = await annMovedWhileALags();
    hubs[1]!.leave(moved, "quit");
    await bus.settle();
    const again = new FakeMember("web");
    assert.equal(await hubs[0]!.join(again, "ann", old.ofType("welcome")[0]!.token), true);
    await caughtUp(bus, na!);
    assert.equal(again.closed, 0);
    assert.deepEqual(lists(hubs), [["ann@web"], ["ann@web"]]);
    assert.equal(bus.members.get("ann")?.node, "n0");
    hubs[0]!.leave(again, "quit");
    await bus.settle();
    assert.deepEqual(lists(hubs), [[], []]);
    assert.equal(bus.members.get("ann"), undefined);
  },
);

clusterTest(
  "what the old connection does on a node behind on the feed, after its seat moved and left elsewhere, leaves no record holding the name",
  async () => {
    const { bus, hubs, clusters: [na], old, moved } = await annMovedWhileALags();
    hubs[1]!.leave(moved, "quit");
    await bus.settle();
    assert.equal(await hubs[0]!.handle(old, { type: "away", text: "stale" }), true);
    await bus.settle();
    await caughtUp(bus, na!);
    await annGoneEverywhere(bus, hubs, old, 1);
  },
);

clusterTest(
  "a take-back with its new token on a node behind on the feed whose own seat is let go while it asks Redis is carried out",
  async () => {
    const { bus, hubs, clusters: [na], old, moved } = await annMovedWhileALags();
    // Node a learns it lost the name (its renewal) while it asks who holds it.
    const holder = na!.holder.bind(na);
    na!.holder = async (fold) => {
      hubs[0]!.leave(old, "connection lost");
      return await holder(fold);
    };
    await takenBackOnA(hubs, moved);
    await caughtUp(bus, na!);
    assert.deepEqual(lists(hubs), [["ann@web"], ["ann@web"]]);
    assert.equal(bus.members.get("ann")?.node, "n0");
  },
);

clusterTest(
  "a room entered by a member's old connection while its node reads, and meanwhile hears of the member's move elsewhere, is not entered: the member stays listed there",
  async () => {
    const { bus, hubs, clusters: [na], old } = await annMovedWhileALags();
    const open = holdReads(na!);
    const entering = Promise.resolve(hubs[0]!.handle(old, { type: "enter", room: "#b" }));
    await bus.settle();
    await caughtUp(bus, na!);
    open();
    await entering;
    await bus.settle();
    assert.equal(old.closed, 1);
    assert.deepEqual(lists(hubs), [["ann@irc"], ["ann@irc"]]);
    for (const hub of hubs) assert.deepEqual(hub.members("#b"), []);
  },
);

clusterTest(
  "lines Redis kept and then lost (it came back without its data) are told lost to their senders, in their rooms; every member is told once",
  async () => {
    const { bus, hubs: [a, b] } = await service();
    const alice = await join(a!, "alice", ["#lobby", "#dev"]);
    const bob = await join(b!, "bob");
    await bus.settle();
    assert.equal(await a!.handle(alice, { type: "say", text: "kept" }), true);
    await bus.settle();
    alice.take();
    bob.take();
    bus.losing = 2;
    await a!.handle(alice, { type: "say", text: "lost one" });
    await a!.handle(alice, { type: "say", room: "#dev", text: `lost ${"two ".repeat(30)}` });
    await bus.settle();
    assert.deepEqual(alice.ofType("error").map((e) => [e.code, e.room, e.message]), [
      [
        "storage_failed",
        "#lobby",
        'Lost: the message store restarted without this line, and not everyone saw it: "lost one". Say it again if it still matters.',
      ],
      [
        "storage_failed",
        "#dev",
        `Lost: the message store restarted without this line, and not everyone saw it: "lost ${
          "two ".repeat(8)
        }two…". Say it again if it still matters.`,
      ],
    ]);
    for (const member of [alice, bob]) {
      assert.deepEqual(member.ofType("notice").map((n) => n.text), [
        "The message store restarted without its latest data: lines said just before may be lost; each room's history has what it kept.",
      ]);
    }
    assert.deepEqual(bob.codes(), [], "nothing of alice's is told to bob");
    // What is said next is kept and shown, and nothing more is told lost.
    await a!.handle(alice, { type: "say", text: "after" });
    await bus.settle();
    assert.deepEqual(texts(bob), ["alice: after"]);
    assert.equal(alice.ofType("error").length, 2);
  },
);

clusterTest(
  "a line its node passed over behind the feed's trim is not told lost (the others showed it); one whose id another line has is",
  async () => {
    const { bus, hubs: [a, b], clusters: [na] } = await service();
    const alice = await join(a!, "alice");
    const bob = await join(b!, "bob");
    await bus.settle();
    alice.take();
    bob.take();
    // Node a's feed reader falls behind; its writes still go, and bob sees them.
    na!.away = true;
    await a!.handle(alice, { type: "say", text: "hello all" });
    await bus.settle();
    assert.deepEqual(texts(bob), ["alice: hello all"]);
    // So far behind that what it had not read is trimmed away.
    na!.trimmedPast();
    await b!.handle(bob, { type: "say", text: "later" });
    await bus.settle();
    assert.deepEqual(alice.codes(), [], "nothing told lost");
    assert.deepEqual(alice.ofType("notice").map((n) => n.text), [
      "This server was cut off from the others for a while and missed messages meanwhile; each room's history has its latest.",
    ]);
    assert.deepEqual(texts(alice), ["bob: later"]);
    // Redis back from an older copy: alice's next line's id is handed out again.
    bus.losingBy = "reissue";
    bus.losing = 1;
    await a!.handle(alice, { type: "say", text: "gone" });
    await bus.settle();
    assert.deepEqual(alice.ofType("error").map((e) => e.message), [
      'Lost: the message store restarted without this line, and not everyone saw it: "gone". Say it again if it still matters.',
    ]);
  },
);

clusterTest(
  "for a lease after Redis lost its data, a nickname another node's member holds is not claimed here, by a join or a rename",
  async () => {
    const { bus, hubs: [a, b] } = await service();
    const bob = await join(b!, "bob");
    const carol = await join(a!, "carol");
    await bus.settle();
    bus.loseData();
    await bus.settle();
    // Free in Redis (its key went with the rest) until b claims it again.
    const thief = new FakeMember();
    assert.equal(await a!.join(thief, "Bob"), false);
    assert.deepEqual(thief.codes(), ["nick_taken"]);
    carol.take();
    await a!.handle(carol, { type: "nick", nick: "bob" });
    assert.deepEqual(carol.codes(), ["nick_taken"]);
    assert.equal(bob.closed, 0);
    assert.deepEqual(b!.members().map((m) => m.nick).sort(), ["bob", "carol"]);
  },
);
