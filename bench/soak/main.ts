/**
 * Soak test: thousands of members join a real server, chat and leave for
 * minutes, on 127.0.0.1 only; reports the server's memory before, at peak and
 * after, messages lost (must be 0), duplicated, and errors.
 *
 * The server runs as its own process (`main.ts`, ports 0, a temporary
 * database, flood control and connection caps lifted); this process plays
 * every member. Usage:
 *
 * ```sh
 * deno task soak [--seconds 180] [--members 3000] [--rate 20] [--stay SECONDS] [--rounds 1]
 *                [--rooms 50]
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
 * second in all, each to one of its rooms. With `--rounds`, the same server
 * goes through that again, and its memory is read after each round.
 *
 * How loss is counted. Before a member leaves, it sends a *barrier* (a
 * private message to itself, or `/quit`) and waits for the answer: the server
 * handles a member's lines in order, so everything it sent the member before
 * has then arrived, and every earlier line of the member has been handled
 * (`peer.ts`). A message is *accepted* once the server is known to have taken
 * it: a WebSocket sender sees it come back with an id; a terminal sender
 * (never sent its own lines back) has its barrier answered (`ledger.ts`). A
 * member must have received, exactly once and in order, every accepted
 * message of a room sent after the server confirmed it in that room (its
 * welcome, or `entered`) and known to have been published (seen by anyone)
 * before it sent its `part` of the room or its barrier, its own terminal
 * lines excepted; and nothing of a room between asking to leave it and
 * asking to enter it again, nor under another room's name (`checks.ts`).
 * A few observers stay for the whole run, each in a third of the rooms, so
 * that every room has one on each transport: together they must receive
 * every accepted message.
 *
 * Exits 1 if anything was lost, duplicated or went wrong, and 3 if the run
 * overshoots its deadline (the server is killed).
 *
 * @module
 */

import { LIFTED_LIMITS, type MainProcess, startMain } from "../../tests/kit/main_process.ts";
import { cpuSeconds, memoryKiB } from "../measure.ts";
import { OBSERVERS_TCP, OBSERVERS_WS, parseOptions, roomName, USAGE } from "./options.ts";
import type { Peer } from "./peer.ts";
import { drive, type Round, SETTLE_MS } from "./population.ts";
import { problem, showProblems } from "./problems.ts";
import { type Readings, report } from "./report.ts";
import { TcpPeer, WsPeer } from "./transports.ts";

/** The whole run is killed if it takes this much longer than `--seconds`. */
const DEADLINE_SLACK_MS = 180_000;
/** How long the server gets to exit after SIGTERM before SIGKILL. */
const STOP_MS = 10_000;
/** Server stderr lines echoed here (all are counted). */
const STDERR_SHOWN = 20;

/** Starts the server; an exit before `stopping()` says so is a problem. */
async function startServer(db: string, stopping: () => boolean): Promise<MainProcess> {
  const server = await startMain({
    db,
    // Thousands of members on one address, some sending often: the limits
    // that would (rightly) refuse them are lifted.
    flags: LIFTED_LIMITS,
    onStderr: (line) => {
      if (problem("server stderr lines", line) <= STDERR_SHOWN) console.error(`server: ${line}`);
    },
  });
  server.exited().then(({ status }) => {
    if (!stopping()) {
      problem("server exit", `the server exited during the run, code ${status.code}`);
    }
  });
  return server;
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
  let server: MainProcess | undefined;
  let stopping = false;
  const kill = () => {
    stopping = true;
    server?.stop("SIGKILL");
  };
  const deadline = setTimeout(() => {
    console.error("soak: the run overshot its deadline; killing the server");
    kill();
    Deno.removeSync(dir, { recursive: true });
    Deno.exit(3);
  }, options.rounds * (options.seconds * 1000 + SETTLE_MS) + DEADLINE_SLACK_MS);
  try {
    server = await startServer(`${dir}/soak.db`, () => stopping);
    const target = { pid: server.pid, address: server.address };
    const before = await memoryKiB(server.pid);
    const cpu0 = await cpuSeconds(server.pid);
    const ownCpu0 = await cpuSeconds(Deno.pid);
    const t0 = performance.now();
    const { http, tcp } = server.address;
    const observers: Peer[] = [];
    // The WebSocket observers take the rooms in thirds, the terminals one in three.
    const rooms = Array.from({ length: options.rooms }, (_, i) => roomName(i));
    for (let i = 0; i < OBSERVERS_WS; i++) {
      const mine = rooms.filter((_, r) => Math.floor((r * OBSERVERS_WS) / rooms.length) === i);
      observers.push(new WsPeer(`ow${i}`, true, http.port, mine));
    }
    for (let i = 0; i < OBSERVERS_TCP; i++) {
      const mine = rooms.filter((_, r) => r % OBSERVERS_TCP === i);
      observers.push(new TcpPeer(`ot${i}`, "quit", true, tcp.port, mine));
    }
    if (!(await Promise.all(observers.map((o) => o.join()))).every(Boolean)) {
      console.error("soak: the observers could not join");
      showProblems();
      return 1;
    }
    const rounds: Round[] = [];
    for (let round = 0; round < options.rounds; round++) {
      rounds.push(await drive(options, target, round));
    }
    await Promise.all(observers.map((o) => o.leave()));
    const seconds = (performance.now() - t0) / 1000;
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const readings: Readings = {
      before,
      rounds,
      after: await memoryKiB(server.pid),
      serverCpu: (await cpuSeconds(server.pid)) - cpu0,
      ownCpu: (await cpuSeconds(Deno.pid)) - ownCpu0,
      seconds,
    };
    stopping = true;
    const { status } = await server.stop("SIGTERM", STOP_MS);
    if (status.code !== 0) problem("server exit", `exit code ${status.code}`);
    const peers = [...observers, ...rounds.flatMap((r) => r.peers)];
    return report(options, peers, readings) ? 0 : 1;
  } finally {
    clearTimeout(deadline);
    kill();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
