/**
 * Soak test: thousands of members join a real server, or the nodes of one
 * service, chat and leave for minutes, on 127.0.0.1 only; reports each
 * server's memory before, at peak and after, and its CPU time, messages lost
 * (must be 0), duplicated, and errors.
 *
 * The server runs as its own process (`main.ts`, ports 0, a temporary
 * database, flood control and connection caps lifted); this process plays
 * every member. With `--nodes N` (2 or more) it starts a `redis-server` of
 * its own and N `main.ts --redis URL` processes (no database), and each
 * member goes to a node picked at random (`service.ts`). Usage:
 *
 * ```sh
 * deno task soak [--seconds 180] [--members 3000] [--rate 20] [--stay SECONDS] [--rounds 1]
 *                [--rooms 50] [--nodes 1]
 * ```
 *
 * The population ramps up to `--members` over the first fifth of the run,
 * churns (each member stays a random 1/4 to 7/4 of `--stay` seconds and is
 * replaced), and ramps down to zero over the last fifth (`population.ts`).
 * Members are WebSocket clients (most closing cleanly, some speaking
 * WebSocket over a bare socket that is dropped without a closing handshake)
 * and terminal clients (half leaving with `/quit`, half dropping the
 * connection) (`transports.ts`). Members are spread over `--rooms` rooms
 * (`#lobby` and `#s1`...), each in 1 to 3 of them; 4 in 10 move, entering
 * or parting a room every 2 to 12 s. Random members send `--rate` messages a
 * second in all, each to one of its rooms. With `--rounds`, the same servers
 * go through that again, and their memory is read after each round.
 *
 * How loss is counted. Before a member leaves, it sends a *barrier* (a
 * private message to itself, or `/quit`) and waits for the answer: its server
 * handles a member's lines in order, so everything the server handed the
 * member before has then arrived, and every earlier line of the member has
 * been handled (`peer.ts`). A message is *accepted* once the service is
 * known to have taken it: anyone received it (a WebSocket sender sees its
 * own come back with an id), or its terminal sender (never sent its own
 * lines back) has its barrier answered (`ledger.ts`). A member must have
 * received, exactly once and in order, every accepted message of a room
 * sent after its server confirmed it in that room (its welcome, or
 * `entered`) and known to have been delivered by its own node (seen by
 * anyone there) before it sent its `part` of the room or its barrier, its
 * own terminal lines excepted; and nothing of a room between asking to
 * leave it and asking to enter it again, nor under another room's name
 * (`checks.ts`).
 *
 * "Its own node" is what several nodes change. A node hands a room message
 * on to Redis and delivers it, its sender's node too, when Redis's feed
 * brings it back in id order; it answers a member's part or barrier at
 * once. So a message seen on node A a moment ago may not have reached node
 * B yet, and B's member who parts now is rightly not owed it; but whoever
 * saw it on B got it in the same delivery as every other member of the room
 * there. On one server the node is the server, and the rule is the old
 * "seen by anyone". A terminal's barrier answered then also means its lines
 * were delivered; on a node of several, only that they went to Redis.
 *
 * A few observers stay on each node for the whole run, each in a third of
 * the rooms, so that every room has one on each transport on every node:
 * each node's observers together must receive every accepted message, seen
 * on their node or not. With several nodes, before they send their barriers,
 * the *flush* makes sure each node has delivered everything Redis took: each
 * node's WebSocket observer in `#lobby` says one more message there and
 * waits for those of every node (`main.ts`'s `flush`); these count among the
 * messages sent.
 *
 * Everything is stopped at the end, on a failure too: the nodes, then Redis.
 * Exits 1 if anything was lost, duplicated or went wrong, 3 if the run
 * overshoots its deadline, and 130 on Ctrl-C (SIGINT); the servers are then
 * killed.
 *
 * @module
 */

import { LOBBY } from "../../common/room.ts";
import { cpuSeconds, memoryKiB } from "../measure.ts";
import { ledger } from "./ledger.ts";
import {
  OBSERVERS_TCP,
  OBSERVERS_WS,
  type Options,
  parseOptions,
  roomName,
  USAGE,
} from "./options.ts";
import type { Peer } from "./peer.ts";
import { drive, memories, type Round, SETTLE_MS } from "./population.ts";
import { problem, showProblems } from "./problems.ts";
import { type Readings, report } from "./report.ts";
import { type Node, Service } from "./service.ts";
import { TcpPeer, WsPeer } from "./transports.ts";

/** The whole run is killed if it takes this much longer than `--seconds`. */
const DEADLINE_SLACK_MS = 180_000;

/**
 * The observers of one node: the WebSocket ones take the rooms in thirds,
 * the terminals one in three, so every room has one of each there.
 */
function observersOn(node: Node, options: Options): Peer[] {
  const rooms = Array.from({ length: options.rooms }, (_, i) => roomName(i));
  const observers: Peer[] = [];
  for (let i = 0; i < OBSERVERS_WS; i++) {
    const mine = rooms.filter((_, r) => Math.floor((r * OBSERVERS_WS) / rooms.length) === i);
    observers.push(new WsPeer(`ow${node.index * OBSERVERS_WS + i}`, true, node, mine));
  }
  for (let i = 0; i < OBSERVERS_TCP; i++) {
    const mine = rooms.filter((_, r) => r % OBSERVERS_TCP === i);
    const nick = `ot${node.index * OBSERVERS_TCP + i}`;
    observers.push(new TcpPeer(nick, "quit", true, node, mine));
  }
  return observers;
}

/**
 * Makes sure every node of several has delivered to its members every
 * message Redis took, before the observers send their barriers: each node's
 * WebSocket observer in `#lobby` says one more message there and waits until
 * it has received those of every node. Redis's feed is in id order, and each
 * of these was taken after every member but the observers had gone, so a
 * node that delivered them all had delivered everything before.
 */
async function flush(nodes: readonly Node[], observers: readonly Peer[]): Promise<boolean> {
  const flushers = nodes.map((node) =>
    observers.find((o) => o.node === node && o.kind === "ws" && o.rooms.includes(LOBBY))
  );
  const seqs: number[] = [];
  for (const flusher of flushers) {
    if (flusher === undefined) {
      problem("unexpected events", "a node has no WebSocket observer in #lobby to flush");
      return false;
    }
    seqs.push(ledger.length);
    flusher.say(ledger.length, LOBBY);
  }
  return (await Promise.all(flushers.map((f) => f?.received(seqs) ?? false))).every(Boolean);
}

async function main(args: string[]): Promise<number> {
  const options = parseOptions(args);
  if (options === undefined) {
    console.log(USAGE);
    return 0;
  }
  if (typeof options === "string") {
    console.error(`soak: ${options}`);
    return 2;
  }
  const dir = await Deno.makeTempDir({ prefix: "chat-soak-" });
  const service = new Service();
  // Killed now, not left running: on an overshoot, or when the soak is interrupted.
  const abandon = (why: string, code: number) => {
    console.error(`soak: ${why}; killing the servers`);
    service.killNow();
    Deno.removeSync(dir, { recursive: true });
    Deno.exit(code);
  };
  const deadline = setTimeout(
    () => abandon("the run overshot its deadline", 3),
    options.rounds * (options.seconds * 1000 + SETTLE_MS) + DEADLINE_SLACK_MS,
  );
  const interrupted = () => abandon("interrupted", 130);
  Deno.addSignalListener("SIGINT", interrupted);
  try {
    await service.start(options.nodes, dir);
    const { nodes } = service;
    const redisPid = service.redisPid;
    const cpuTimes = () => Promise.all(nodes.map((node) => cpuSeconds(node.pid)));
    const before = await memories(nodes);
    const cpu0 = await cpuTimes();
    const redisCpu0 = redisPid === undefined ? 0 : await cpuSeconds(redisPid);
    const ownCpu0 = await cpuSeconds(Deno.pid);
    const t0 = performance.now();
    const observers = nodes.flatMap((node) => observersOn(node, options));
    const ready = async (o: Peer) => (await o.join()) && (await o.inRooms());
    // In all their rooms before the first message: they are owed every one.
    if (!(await Promise.all(observers.map(ready))).every(Boolean)) {
      console.error("soak: the observers could not join");
      showProblems();
      return 1;
    }
    const rounds: Round[] = [];
    for (let round = 0; round < options.rounds; round++) {
      rounds.push(await drive(options, nodes, round));
    }
    if (nodes.length > 1) await flush(nodes, observers);
    await Promise.all(observers.map((o) => o.leave()));
    const seconds = (performance.now() - t0) / 1000;
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const cpu1 = await cpuTimes();
    const readings: Readings = {
      before,
      rounds,
      after: await memories(nodes),
      serverCpu: cpu1.map((t, i) => t - cpu0[i]!),
      redis: redisPid === undefined ? undefined : {
        after: await memoryKiB(redisPid),
        cpu: (await cpuSeconds(redisPid)) - redisCpu0,
      },
      ownCpu: (await cpuSeconds(Deno.pid)) - ownCpu0,
      seconds,
    };
    await service.stop();
    const peers = [...observers, ...rounds.flatMap((r) => r.peers)];
    return report(options, peers, readings) ? 0 : 1;
  } finally {
    clearTimeout(deadline);
    Deno.removeSignalListener("SIGINT", interrupted);
    await service.kill();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
