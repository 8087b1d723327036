/**
 * Issue 15's process-level promises, over real sockets on one real
 * `redis-server`: a node killed with SIGKILL frees its nicknames and its
 * members' leaves are announced within 15 s; a Redis restart loses nothing
 * acknowledged, repeats nothing, and ids go on; a paused Redis (SIGSTOP)
 * makes sends refused, not lost, and the service recovers by itself after
 * SIGCONT; a member resuming with `since` on another node misses nothing
 * and sees nothing twice.
 *
 * The first runs two `main.ts` processes, killing one; the others, nodes
 * started in this process (`kit/cluster.ts`), each its own Redis client.
 * "Acknowledged" is what a page is shown: its own message back, with an id.
 * Every wait is on an event, bounded by a deadline; none on a clock.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Redis } from "ioredis";
import type { ChatMessage, ServerEvent } from "../common/protocol.ts";
import { LOBBY } from "../common/room.ts";
import { within } from "../server/deadline.ts";
import { untilHealth, withNodes } from "./kit/cluster.ts";
import { connectIrc } from "./kit/irc_client.ts";
import { startMain } from "./kit/main_process.ts";
import { RedisServer } from "./kit/redis_server.ts";
import type { Listening } from "./kit/server.ts";
import { connectTcp } from "./kit/tcp_client.ts";
import { connectWs, type EventOf, joinWs, WsClient } from "./kit/ws_client.ts";
import { RawWebSocket } from "./kit/raw_ws.ts";

/** What the issue allows for a killed node's members and nicknames. */
const KILL_BOUND_MS = 15_000;

/**
 * Longest wait for anything else a test awaits (an answer, a message): far
 * past what it takes, so that a test that would wait for ever fails instead.
 */
const ANSWER_MS = 10_000;

/** Waits for `work`, failing with `what` if it has not settled within `ms`. */
async function before<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  if (!await within(work, ms)) throw new Error(`${what}: not within ${ms} ms`);
  return await work;
}

/** Waits for `work` at most {@linkcode ANSWER_MS}. */
function soon<T>(work: Promise<T>, what = "an event"): Promise<T> {
  return before(work, ANSWER_MS, what);
}

/**
 * Says `text` in {@linkcode LOBBY} and waits for the answer: the message back with
 * its id (acknowledged), or an error (refused).
 */
async function say(
  client: WsClient,
  from: string,
  text: string,
): Promise<EventOf<"message"> | EventOf<"error">> {
  client.send({ type: "say", text });
  const answer = await soon(
    client.nextEvent((e) =>
      (e.type === "message" && e.from === from && e.text === text) ||
      (e.type === "error" && (e.room === undefined || e.room === LOBBY))
    ),
    `the answer to "${text}"`,
  );
  assert.ok(answer.type === "message" || answer.type === "error");
  return answer;
}

/** {@linkcode say}, which must be acknowledged: the message with its id. */
async function acked(client: WsClient, from: string, text: string): Promise<ChatMessage> {
  const answer = await say(client, from, text);
  assert.equal(answer.type, "message", `"${text}" was refused: ${JSON.stringify(answer)}`);
  assert.ok(answer.type === "message");
  return answer;
}

/** {@linkcode say}, which must be refused, as a store that cannot be reached refuses it. */
async function refused(client: WsClient, from: string, text: string): Promise<void> {
  const answer = await say(client, from, text);
  assert.ok(answer.type === "error", `"${text}" was not refused: ${JSON.stringify(answer)}`);
  assert.equal(answer.code, "storage_failed");
  assert.match(answer.message, /^Not sent: /);
}

/** The messages of `events` with a text in `texts`, in the order received. */
function received(events: readonly ServerEvent[], texts: ReadonlySet<string>): ChatMessage[] {
  return events.filter((e): e is ChatMessage => e.type === "message" && texts.has(e.text));
}

/** Asserts `ids` are strictly increasing. */
function increasing(ids: readonly number[], what: string): void {
  for (let i = 1; i < ids.length; i++) {
    assert.ok(ids[i]! > ids[i - 1]!, `${what}: id ${ids[i]} after ${ids[i - 1]} in ${ids}`);
  }
}

/** Asserts `got` holds exactly the messages `want` (by id and text), once each, in id order. */
function exactly(got: readonly ChatMessage[], want: readonly ChatMessage[], what: string): void {
  assert.deepEqual(
    got.map((m) => `${m.id}:${m.text}`),
    want.map((m) => `${m.id}:${m.text}`),
    what,
  );
}

/**
 * Asserts that the ids of `sent` (in the order acknowledged) only go up,
 * and that `sent` is exactly what each of `members` was shown, and a
 * newcomer on `node` is, of those messages and the texts `notSent`: each
 * once, in id order, the refused never.
 */
async function shownOnce(
  members: Record<string, WsClient>,
  node: Pick<Listening, "http">,
  sent: readonly ChatMessage[],
  notSent: readonly string[],
): Promise<void> {
  increasing(sent.map((m) => m.id), "ids in the order acknowledged");
  const texts = new Set([...sent.map((m) => m.text), ...notSent]);
  const last = sent.at(-1)?.id;
  for (const [nick, member] of Object.entries(members)) {
    if (!member.events.some((e) => e.type === "message" && e.id === last)) {
      await soon(member.next("message", (e) => e.id === last), `${nick}'s last`);
    }
    exactly(received(member.events, texts), sent, `what ${nick} was shown`);
  }
  await using newcomer = await WsClient.open(node);
  const welcome = await soon(joinWs(newcomer, "newcomer"));
  exactly(received(welcome.history, texts), sent, "the history a newcomer is shown");
}

Deno.test("cluster process: kill -9 of a node frees its nicknames and announces its members' leaves within 15 s", async () => {
  await using redis = await RedisServer.start();
  await using a = await startMain({ redis: redis.url });
  await using b = await startMain({ redis: redis.url });
  await untilHealth(a.address, 200);
  await untilHealth(b.address, 200);

  await using carol = await connectWs(b.address, "carol");
  await using tess = await connectTcp(b.address, "tess");
  await using _alice = await connectWs(a.address, "alice");
  await using _bob = await connectTcp(a.address, "bob");
  await using dan = await connectIrc(a.address, "dan");
  await dan.send("JOIN #lobby");
  for (const nick of ["alice", "bob", "dan"]) {
    await soon(carol.next("join", (e) => e.nick === nick));
  }

  const killed = performance.now();
  await a.stop("SIGKILL");
  const gone = Promise.all(
    ["alice", "bob", "dan"].map((nick) => carol.next("leave", (e) => e.nick === nick)),
  );
  const leaves = await before(gone, KILL_BOUND_MS, "the killed node's members' leaves on B");
  for (const leave of leaves) assert.equal(leave.reason, "connection lost");
  carol.send({ type: "who" });
  const who = await soon(carol.next("members"));
  assert.deepEqual(who.members.map((m) => m.nick).sort(), ["carol", "tess"]);
  for (const nick of ["alice", "bob", "dan"]) {
    await before(
      tess.readUntil(`-- ${nick} left (connection lost)`),
      1_000,
      `tess told ${nick} left`,
    );
  }

  // Their nicknames are free at once: taken on B, by pages and a terminal.
  await using alice2 = await WsClient.open(b.address);
  await before(joinWs(alice2, "alice"), KILL_BOUND_MS, "alice again on B");
  await using _bob2 = await before(connectTcp(b.address, "bob"), KILL_BOUND_MS, "bob again on B");
  await using _dan2 = await before(connectWs(b.address, "dan"), KILL_BOUND_MS, "dan again on B");
  const elapsed = performance.now() - killed;
  assert.ok(elapsed < KILL_BOUND_MS, `took ${Math.round(elapsed)} ms`);
  await soon(carol.next("join", (e) => e.nick === "alice"));
});

/**
 * Messages from both nodes, Redis stopped with `signal` and started again on
 * its data (an append-only file written through at every write), more
 * messages.
 */
async function restartRedis(signal: "SIGTERM" | "SIGKILL"): Promise<void> {
  await withNodes(2, async ([a, b], redis) => {
    await using ann = await connectWs(a!, "ann");
    await using ben = await connectWs(b!, "ben");
    await using ivy = await connectIrc(b!, "ivy");
    await ivy.send("JOIN #lobby");
    await soon(ann.next("join", (e) => e.nick === "ivy"));
    const tom = await connectWs(b!, "tom");
    await soon(ann.next("join", (e) => e.nick === "tom"));
    const sent: ChatMessage[] = [];
    for (let i = 0; i < 5; i++) {
      sent.push(await acked(ann, "ann", `before ${i} from a`));
      sent.push(await acked(ben, "ben", `before ${i} from b`));
    }

    await redis.stop(signal);
    // Tom leaves while his node cannot tell the others: they hear of it once Redis is back.
    await tom.close();
    await untilHealth(a!, 503);
    // Refused while it is down: told so, never acknowledged, never kept.
    await refused(ann, "ann", "while down from a");
    await untilHealth(b!, 503);
    await refused(ben, "ben", "while down from b");
    await redis.restart();
    await untilHealth(a!, 200);
    await untilHealth(b!, 200);
    await soon(ann.next("leave", (e) => e.nick === "tom"), "tom's leave, told once Redis is back");

    for (let i = 0; i < 5; i++) {
      sent.push(await acked(ben, "ben", `after ${i} from b`));
      sent.push(await acked(ann, "ann", `after ${i} from a`));
    }
    const notSent = ["while down from a", "while down from b"];
    await shownOnce({ ann, ben }, b!, sent, notSent);
    // An IRC client on B, too, was shown each once, in order.
    const last = `PRIVMSG #lobby :${sent.at(-1)?.text}`;
    const lines = await soon(ivy.readLinesUntil((line) => line.endsWith(last)));
    const texts = new Set([...sent.map((m) => m.text), ...notSent]);
    assert.deepEqual(
      lines.map((line) => / PRIVMSG #lobby :(.*)$/.exec(line)?.[1]).filter((t) =>
        t !== undefined && texts.has(t)
      ),
      sent.map((m) => m.text),
    );
  });
}

Deno.test("cluster process: a Redis restart (SIGTERM) loses nothing acknowledged, repeats nothing, and ids go on", async () => {
  await restartRedis("SIGTERM");
});

Deno.test("cluster process: Redis killed (SIGKILL) and started again loses nothing acknowledged either", async () => {
  await restartRedis("SIGKILL");
});

Deno.test("cluster process: a paused Redis (SIGSTOP) makes sends refused, not lost, and the service recovers after SIGCONT", async () => {
  await withNodes(2, async ([a, b], redis) => {
    await using ann = await connectWs(a!, "ann");
    await using ben = await connectWs(b!, "ben");
    await soon(ann.next("join", (e) => e.nick === "ben"));
    let closes = 0;
    for (const client of [ann, ben]) void client.closed.then(() => closes++);
    const sent = [
      await acked(ann, "ann", "before from a"),
      await acked(ben, "ben", "before from b"),
    ];
    ann.send({ type: "enter", room: "#side" });
    await soon(ann.next("entered"));
    ann.send({ type: "topic", room: "#side", text: "kept" });
    await soon(ann.next("topic", (e) => e.changed === true));
    // The feed can bring the topic before node A has Redis's answer to it
    // (Redis may write to the blocked feed readers first): paused then, it would
    // never come, and "kept" would be refused too. Entering the room again
    // reads its history on the same connection, answered after the topic.
    ann.send({ type: "enter", room: "#side" });
    await soon(ann.next("entered"));

    redis.pause();
    try {
      // The first two wait for Redis's answer that never comes; the next is refused at once.
      ann.send({ type: "topic", room: "#side", text: "refused" });
      await refused(ann, "ann", "paused 1 from a");
      const topic = await soon(ann.next("error", (e) => e.room === "#side"));
      assert.equal(topic.code, "storage_failed");
      await untilHealth(a!, 503);
      await refused(ann, "ann", "paused 2 from a");
      // A private message and a newcomer are refused as plainly.
      ann.send({ type: "msg", to: "ben", text: "paused private" });
      const privately = await soon(ann.next("error"));
      assert.equal(privately.code, "storage_failed");
      await using late = await WsClient.open(a!);
      await assert.rejects(soon(joinWs(late, "late")), /storage_failed Cannot join right now: /);
    } finally {
      redis.resume();
    }
    await untilHealth(a!, 200);
    await untilHealth(b!, 200);
    assert.equal(closes, 0, "a member was let go while Redis was paused");

    sent.push(await acked(ann, "ann", "after from a"));
    sent.push(await acked(ben, "ben", "after from b"));
    await shownOnce({ ann, ben }, b!, sent, ["paused 1 from a", "paused 2 from a"]);
    // The refused topic was never kept: who enters the room next is shown the one before.
    ann.send({ type: "part", room: "#side" });
    await soon(ann.next("parted"));
    ben.send({ type: "enter", room: "#side" });
    const side = await soon(ben.next("entered"));
    assert.equal(side.topic?.text, "kept");
  });
});

/**
 * Dave, on node A, saw `seen`; then, away, messages from both nodes; he
 * comes back on node B with his token and `since`.
 */
async function resumeOnB(leave: "close" | "drop"): Promise<void> {
  await withNodes(2, async ([a, b]) => {
    await using ann = await connectWs(b!, "ann");
    await using eve = await connectWs(a!, "eve");
    await using tom = await connectTcp(a!, "tom");
    const dave = await WsClient.open(a!);
    const { token } = await soon(joinWs(dave, "dave"));
    await soon(ann.next("join", (e) => e.nick === "dave"));
    const seen = await acked(ann, "ann", "seen by dave");
    await soon(dave.next("message", (e) => e.id === seen.id));
    // Gone as a closed page is (its leave told), or as a dropped network is (nobody knows yet).
    if (leave === "close") {
      await dave.close();
      await soon(ann.next("leave", (e) => e.nick === "dave"));
    }

    const missed: ChatMessage[] = [];
    for (let i = 0; i < 4; i++) {
      missed.push(await acked(ann, "ann", `missed ${i} from b`));
      missed.push(await acked(eve, "eve", `missed ${i} from a`));
      // A terminal's line, as ann (on B) is shown it, with its id.
      await tom.send(`missed ${i} from a's terminal`);
      missed.push(
        await soon(ann.next("message", (e) => e.text === `missed ${i} from a's terminal`)),
      );
    }

    await using back = await WsClient.open(b!);
    const welcome = await soon(joinWs(back, "dave", { token, since: seen.id }));
    if (leave === "drop") {
      // The seat moved to node B: its old connection on A is closed, and nobody is told it left.
      await soon(dave.closed, "the old connection's close");
      assert.ok(!ann.events.some((e) => e.type === "leave" && e.nick === "dave"));
    }
    const texts = new Set(missed.map((m) => m.text));
    const history = welcome.history.filter((m) => m.room !== undefined);
    exactly(history, missed, "the welcome's history after since");
    assert.equal(welcome.gap, undefined);

    const after = await acked(eve, "eve", "after dave is back");
    await soon(back.next("message", (e) => e.id === after.id));
    texts.add(after.text);
    const shown = [...history, ...received(back.events, texts)];
    exactly(shown, [...missed, after], "all dave was shown on B");
    await dave.close();
  });
}

Deno.test("cluster process: a member closed on node A resumes on node B with since: every missed message, once", async () => {
  await resumeOnB("close");
});

Deno.test("cluster process: a member whose connection to node A is still open takes its seat back on node B with since", async () => {
  await resumeOnB("drop");
});

Deno.test("cluster process: a page closed on node A and reloaded onto node B takes its seat back: nobody is shown it leaving", async () => {
  await withNodes(2, async ([a, b]) => {
    await using ann = await connectWs(b!, "ann");
    await using tom = await connectTcp(a!, "tom");
    const tab = await RawWebSocket.connect(a!.http);
    let token: string | undefined;
    try {
      await tab.send({ type: "join", nick: "dave" });
      token = /"token":"([^"]+)"/.exec(await tab.receiveUntil('"welcome"'))?.[1];
      await soon(ann.next("join", (e) => e.nick === "dave"));
      await tab.closeCleanly(1001); // the browser, as the page reloads
    } finally {
      tab.close();
    }
    assert.ok(token);
    await using back = await WsClient.open(b!);
    await soon(joinWs(back, "dave", { token }));
    back.send({ type: "say", text: "reloaded" });
    await soon(ann.next("message", (e) => e.text === "reloaded"));
    await soon(tom.readUntil("<dave> reloaded"));
    assert.ok(!ann.events.some((e) => e.type === "leave" && e.nick === "dave"));
    assert.ok(!tom.lines.some((l) => l.includes("dave left")), tom.lines.join("\n"));
  });
});

/**
 * Makes Redis what it is once a lease has passed with nobody renewing:
 * every node's lease ended, every nickname's key expired. Returns the nodes.
 */
async function lapse(raw: Redis): Promise<string[]> {
  const nodes = await raw.zrange("chat:nodes", 0, -1);
  for (const node of nodes) await raw.zadd("chat:nodes", "XX", 1, node);
  const nicks = await raw.keys("chat:nick:*");
  if (nicks.length > 0) await raw.del(...nicks);
  return nodes;
}

/** Settles once each of `nodes` has renewed its lease since {@linkcode lapse}, asking Redis again after each answer. */
async function untilRenewed(redis: RedisServer, nodes: readonly string[]): Promise<void> {
  const raw = new Redis(redis.url);
  try {
    for (;;) {
      const scores = await Promise.all(nodes.map((node) => raw.zscore("chat:nodes", node)));
      if (scores.every((score) => score !== null && score !== "1")) return;
    }
  } finally {
    raw.disconnect();
  }
}

Deno.test("cluster process: after an outage longer than the lease, connected members keep their names and seats, and nobody is shown leaving", async () => {
  await withNodes(
    2,
    async ([a, b], redis, proxy) => {
      let nodes: string[];
      await using tom = await connectWs(a!, "tom");
      await using ian = await connectWs(b!, "ian");
      await soon(tom.next("join", (e) => e.nick === "ian"));
      let closes = 0;
      for (const client of [tom, ian]) void client.closed.then(() => closes++);

      // Both nodes cut off from Redis, Redis running on.
      proxy!.block();
      await untilHealth(a!, 503);
      await untilHealth(b!, 503);
      // What Redis holds once the lease has passed with nobody renewing:
      // every node's lease ended, every nickname's key expired.
      const raw = new Redis(redis.url);
      try {
        nodes = await lapse(raw);
      } finally {
        raw.disconnect();
      }
      assert.equal(nodes.length, 2);
      proxy!.unblock();
      await untilHealth(a!, 200);
      await untilHealth(b!, 200);

      // A newcomer on B asking for tom's name is refused: tom is on A.
      await using late = await WsClient.open(b!);
      await assert.rejects(soon(joinWs(late, "tom")), /nick_taken/);
      // Both nodes have renewed, and seen each other's messages since.
      await soon(untilRenewed(redis, nodes), "both nodes' renewals");
      await acked(tom, "tom", "from a");
      await soon(ian.next("message", (m) => m.text === "from a"));
      await acked(ian, "ian", "from b");
      await soon(tom.next("message", (m) => m.text === "from b"));
      // Nobody was found dead, nobody shown leaving, nobody let go.
      for (const client of [tom, ian]) {
        assert.deepEqual(client.events.filter((e) => e.type === "leave"), []);
        client.send({ type: "who" });
        const who = await soon(client.next("members"));
        assert.deepEqual(who.members.map((m) => m.nick).sort(), ["ian", "tom"]);
      }
      assert.equal(closes, 0);
    },
    {},
    { proxy: true },
  );
});
