/**
 * The attack scenario (issue 12): what silent connections and one member
 * pipelining heavy requests cost our server, and what they cost the members
 * who are only chatting. Our server runs with its default limits, since the
 * limits are what is measured, on a history prepared beforehand: 1,000
 * messages of 2,000 CJK characters (6 MB), so that one `history` reply of
 * 1,000 is as large as the protocol allows.
 *
 * Three phases, each timed by the clock: a baseline, the attack, and after.
 * Throughout, a few bystanders (WebSocket members) each say something twice a
 * second, within flood control, and time the echo of their own message: the
 * round trip a person in the room feels. The server's RSS is sampled every
 * 250 ms and its CPU measured per phase. During the attack:
 *
 * - silent sockets: TCP connections to the HTTP port that send nothing, and
 *   a few that send a request head one byte a second; each is counted as
 *   closed by the server (with when) or still open when the attack ends;
 * - a pipeliner: a member that joins and sends 60 `{"type":"history",
 *   "count":1000}` frames in one write, again whenever all are answered, and
 *   joins again (at most twice a second, the default join rate) when it is
 *   cut off; its replies, refusals and cut-offs are counted in the frames'
 *   bytes, undecoded, so reading 6 MB replies costs the coordinator little.
 *
 * Addresses. The server allows 20 connections per address by default, and
 * the silent sockets would take them all if they shared the bystanders'
 * address. They come from 127.0.0.2 instead: any 127.x address reaches a
 * listener on 127.0.0.1, and while `Deno.connect` has no source-address
 * option, `node:net`'s `localAddress` binds one, so they are Node sockets. The
 * pipeliner is a {@linkcode RawWebSocket} (a Deno connection), so it comes
 * from 127.0.0.1 with the bystanders: one connection at a time, one of that
 * address's 20 slots, its joins within the address's join rate.
 *
 * Only loopback addresses are connected to or from. Bounded in count and
 * time; it stops by itself.
 *
 * @module
 */

import net from "node:net";
import { Buffer } from "node:buffer";
import { MESSAGE_MAX } from "../common/message.ts";
import { LOBBY } from "../common/room.ts";
import { DEFAULTS } from "../server/config.ts";
import { SqliteHistory } from "../server/history/sqlite.ts";
import { concatBytes, isDisconnect } from "../server/transport/io.ts";
import { Opcode } from "../server/transport/web/frames.ts";
import { encodeFrame, type Frame, RawWebSocket } from "../tests/kit/raw_ws.ts";
import type { Address } from "../tests/kit/socket.ts";
import { connectWs, type WsClient } from "../tests/kit/ws_client.ts";
import { HOST } from "./clients.ts";
import { CpuMeter, memoryKiB, percentile } from "./measure.ts";
import { message, mib, type Progress, sleep } from "./scenarios.ts";
import { startOurs, type TargetName } from "./servers.ts";

/** What the attack scenario does, and for how long. */
export interface AttackOptions {
  /** Silent TCP connections to the HTTP port. */
  silent: number;
  /** Connections that send a request head one byte a second. */
  slowHeads: number;
  /** `history` requests the pipeliner sends in one write. */
  pipelined: number;
  /** Messages each `history` request asks for. */
  historyCount: number;
  /** Messages in the prepared history. */
  historyMessages: number;
  /** Characters in each (CJK: three bytes each in UTF-8). */
  messageChars: number;
  /** Members who chat and time their round trips. */
  bystanders: number;
  /** How often each bystander says something, in ms: within flood control (2 a second). */
  sayEveryMs: number;
  baselineSeconds: number;
  attackSeconds: number;
  afterSeconds: number;
}

/** The scenario as issue 12 sets it. */
export const ATTACK: AttackOptions = {
  silent: 50,
  slowHeads: 3,
  pipelined: 60,
  historyCount: 1000,
  historyMessages: 1000,
  messageChars: MESSAGE_MAX,
  bystanders: 4,
  sayEveryMs: 500,
  baselineSeconds: 5,
  attackSeconds: 20,
  afterSeconds: 5,
};

/** Where the silent sockets come from: their own address, not the bystanders'. */
export const ATTACKER_ADDRESS = "127.0.0.2";

/** What one phase measured. */
export interface PhaseFigures {
  seconds: number;
  /** The bystanders' round trips (say to own echo) of messages sent in this phase, in ms. */
  p50: number;
  p99: number;
  max: number;
  samples: number;
  /** Messages sent in this phase that were never echoed (refused, or lost). */
  unanswered: number;
  /** Server RSS at the phase's end and its highest sample during it, in KiB. */
  rss: number;
  rssPeak: number;
  /** Server CPU over the phase, as a share of one core. */
  serverCpu: number;
}

/** What became of a group of attacking sockets. */
export interface SocketFigures {
  tried: number;
  /** Connections that were established (the kernel accepts before the server does). */
  connected: number;
  /** Closed or reset by the server within {@linkcode AT_ONCE_MS} of connecting: refused. */
  closedAtOnce: number;
  /** Closed or reset by the server later: timed out. */
  closedLater: number;
  /** Seconds from connecting to being closed, of those closed later: median and longest. */
  closedLaterMedian: number;
  closedLaterMax: number;
  /** Still open when the attack ended. */
  openAtEnd: number;
}

/** What the pipeliner sent and got. */
export interface PipelinerFigures {
  /** Connections opened (each a join). */
  connections: number;
  /** Joins the server refused (join rate, connection caps). */
  joinsRefused: number;
  /** `history` requests sent. */
  requests: number;
  /** `history` replies received. */
  replies: number;
  /** Requests refused with `rate_limited`. */
  refusals: number;
  /** Connections the server closed (flooding) before the attack ended. */
  cutOff: number;
  /** Bytes of frames received. */
  bytes: number;
}

/** Everything the attack scenario measured. */
export interface AttackResult {
  target: TargetName;
  options: AttackOptions;
  attackerAddress: string;
  baseline: PhaseFigures;
  attack: PhaseFigures;
  after: PhaseFigures;
  silent: SocketFigures;
  slowHeads: SocketFigures;
  pipeliner: PipelinerFigures;
  /** Server's highest RSS over the whole run (VmHWM), in KiB. */
  hwm: number;
  error?: string;
}

/** A socket the server closes sooner than this after it connected was refused, not timed out. */
const AT_ONCE_MS = 1000;
/** How often the server's RSS is read. */
const RSS_EVERY_MS = 250;
/** How long the last messages sent may take to come back before the figures are taken. */
const GRACE_MS = 1000;
/** Least time between two of the pipeliner's joins: the default join rate, 2 a second. */
const JOIN_EVERY_MS = 1000 / DEFAULTS.joinRate;
/** Most bytes a read of the pipeliner's takes at once (a reply is 6 MB). */
const PIPELINER_READ_MAX = 8 * 1024 * 1024;

const encoder = new TextEncoder();
const WELCOME = encoder.encode('"type":"welcome"');
const ERROR = encoder.encode('"type":"error"');
const HISTORY = encoder.encode('"type":"history"');
const RATE_LIMITED = encoder.encode('"code":"rate_limited"');

/** How many times `needle` occurs in `bytes`, not overlapping (native search, nothing decoded). */
export function occurrences(bytes: Uint8Array, needle: Uint8Array): number {
  if (needle.length === 0) return 0;
  const haystack = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let n = 0;
  for (
    let at = haystack.indexOf(needle);
    at !== -1;
    at = haystack.indexOf(needle, at + needle.length)
  ) {
    n++;
  }
  return n;
}

/**
 * Round trips of messages, filed under the phase each was sent in, so a
 * message sent as the attack ends and echoed after counts for the attack.
 */
export class RoundTrips {
  /** Per phase, the round trips in ms. */
  readonly samples: number[][];
  readonly #sent = new Map<string, { phase: number; at: number }>();

  constructor(phases: number) {
    this.samples = Array.from({ length: phases }, () => []);
  }

  /** Notes that the message `key` was sent at `at` (ms) in `phase`. */
  sent(key: string, phase: number, at: number): void {
    this.#sent.set(key, { phase, at });
  }

  /** Files the round trip of `key`, echoed at `at`; a key not sent, or echoed before, is ignored. */
  echoed(key: string, at: number): void {
    const sent = this.#sent.get(key);
    if (sent === undefined) return;
    this.#sent.delete(key);
    this.samples[sent.phase]?.push(at - sent.at);
  }

  /** Messages sent in `phase` not echoed (yet). */
  unanswered(phase: number): number {
    let n = 0;
    for (const s of this.#sent.values()) if (s.phase === phase) n++;
    return n;
  }
}

/** The prepared history: `count` messages of `chars` CJK characters, in the SQLite file `path`. */
function prepareHistory(path: string, count: number, chars: number): void {
  const store = new SqliteHistory(path, DEFAULTS.keep);
  try {
    const ts = Date.now();
    for (let i = 0; i < count; i++) {
      const codes = Array.from({ length: chars }, (_, k) => 0x4e00 + (i * 31 + k * 7) % 0x5000);
      store.append(LOBBY, {
        type: "message",
        id: store.nextId(),
        ts,
        room: LOBBY,
        from: `filler${i % 10}`,
        text: String.fromCharCode(...codes),
      });
    }
  } finally {
    store.close();
  }
}

/** A member who chats and times the echo of each of its own messages. */
class Bystander {
  readonly #client: WsClient;
  readonly #nick: string;
  readonly #trips: RoundTrips;
  #seq = 0;
  readonly reading: Promise<void>;

  private constructor(client: WsClient, nick: string, trips: RoundTrips) {
    this.#client = client;
    this.#nick = nick;
    this.#trips = trips;
    this.reading = this.#read();
  }

  static async join(address: Address, nick: string, trips: RoundTrips): Promise<Bystander> {
    const client = await connectWs({ http: { transport: "tcp", ...address } }, nick);
    return new Bystander(client, nick, trips);
  }

  say(phase: number): void {
    const text = `${this.#nick} ${++this.#seq}`;
    this.#trips.sent(text, phase, performance.now());
    this.#client.send({ type: "say", text });
  }

  async close(): Promise<void> {
    await this.#client.close();
    await this.reading;
  }

  async #read(): Promise<void> {
    try {
      for (;;) {
        // Every event is taken, so none piles up unread in the client.
        const event = await this.#client.nextEvent(() => true, "any event");
        if (event.type === "message" && event.from === this.#nick) {
          this.#trips.echoed(event.text, performance.now());
        }
      }
    } catch {
      // The socket closed: the figures say what went unanswered.
    }
  }
}

/** One attacking socket, bound to {@linkcode ATTACKER_ADDRESS}. */
interface Squatter {
  socket: net.Socket;
  connectedAt?: number;
  /** When the server closed or reset it. */
  closedAt?: number;
  /** Closed by the scenario, at the attack's end. */
  dropped: boolean;
}

/** Connects from {@linkcode ATTACKER_ADDRESS} to `port` and sends nothing. */
function squat(port: number): Squatter {
  const socket = net.connect({ host: HOST, port, localAddress: ATTACKER_ADDRESS });
  const squatter: Squatter = { socket, dropped: false };
  socket.on("connect", () => squatter.connectedAt = performance.now());
  // A refusal or a reset: the close that follows says when.
  socket.on("error", () => {});
  socket.on("close", () => {
    if (!squatter.dropped && squatter.connectedAt !== undefined) {
      squatter.closedAt = performance.now();
    }
  });
  // Whatever the server answers (a 408) is read, so its close is seen.
  socket.resume();
  return squatter;
}

function socketFigures(squatters: readonly Squatter[]): SocketFigures {
  const connected = squatters.filter((s) => s.connectedAt !== undefined);
  const closed = connected.flatMap((s) =>
    s.closedAt === undefined ? [] : [s.closedAt - s.connectedAt!]
  );
  const later = closed.filter((ms) => ms >= AT_ONCE_MS).map((ms) => ms / 1000)
    .sort((a, b) => a - b);
  return {
    tried: squatters.length,
    connected: connected.length,
    closedAtOnce: closed.length - later.length,
    closedLater: later.length,
    closedLaterMedian: percentile(later, 0.5),
    closedLaterMax: later.at(-1) ?? NaN,
    openAtEnd: connected.length - closed.length,
  };
}

/** Reads the next frame, or undefined once the connection has ended either way. */
async function nextFrame(ws: RawWebSocket): Promise<Frame | undefined> {
  for (;;) {
    const frame = ws.nextFrame();
    if (frame !== undefined) return frame;
    if (ws.closeCode !== undefined) return undefined;
    try {
      if (!(await ws.fill())) return undefined;
    } catch (e) {
      if (isDisconnect(e)) return undefined;
      throw e;
    }
  }
}

/** The pipeliner: joins, pipelines heavy requests, joins again when cut off, until `until`. */
async function pipeline(
  address: Address,
  options: AttackOptions,
  until: number,
  figures: PipelinerFigures,
): Promise<void> {
  const request = encoder.encode(
    JSON.stringify({ type: "history", count: options.historyCount }),
  );
  const burst = concatBytes(
    Array.from({ length: options.pipelined }, () => encodeFrame(Opcode.text, request)),
  );
  while (performance.now() < until) {
    const started = performance.now();
    await pipelineOnce(address, burst, options.pipelined, until, figures);
    const wait = Math.min(started + JOIN_EVERY_MS, until) - performance.now();
    if (wait > 0) await sleep(wait);
  }
}

/** One connection of the pipeliner, until the server cuts it off or `until`. */
async function pipelineOnce(
  address: Address,
  burst: Uint8Array,
  perBurst: number,
  until: number,
  figures: PipelinerFigures,
): Promise<void> {
  let ws: RawWebSocket;
  try {
    ws = await RawWebSocket.connect(address, { readMax: PIPELINER_READ_MAX });
  } catch {
    figures.joinsRefused++;
    return;
  }
  figures.connections++;
  let ended = false;
  const timer = setTimeout(() => {
    ended = true;
    ws.close();
  }, Math.max(0, until - performance.now()));
  try {
    await ws.send({ type: "join", nick: `pipeliner${figures.connections}` });
    if (await pipelineJoined(ws, burst, perBurst, () => ended, figures)) return;
    if (!ended) figures.cutOff++;
  } catch (e) {
    if (!isDisconnect(e)) throw e;
  } finally {
    clearTimeout(timer);
    ws.close();
  }
}

/**
 * Reads what the server sends the pipeliner, sending `burst` once it has
 * joined and again whenever all of it is answered, until the connection
 * ends; true if the join was refused.
 */
async function pipelineJoined(
  ws: RawWebSocket,
  burst: Uint8Array,
  perBurst: number,
  ended: () => boolean,
  figures: PipelinerFigures,
): Promise<boolean> {
  let joined = false;
  let outstanding = 0;
  for (let frame = await nextFrame(ws); frame !== undefined; frame = await nextFrame(ws)) {
    figures.bytes += frame.size;
    if (frame.opcode !== Opcode.text && frame.opcode !== Opcode.continuation) continue;
    if (!joined) {
      if (occurrences(frame.payload, ERROR) > 0) {
        figures.joinsRefused++;
        return true;
      }
      joined = occurrences(frame.payload, WELCOME) > 0;
    } else {
      const replies = occurrences(frame.payload, HISTORY);
      const refusals = occurrences(frame.payload, RATE_LIMITED);
      figures.replies += replies;
      figures.refusals += refusals;
      outstanding -= replies + refusals;
    }
    if (joined && outstanding <= 0 && !ended()) {
      outstanding = perBurst;
      figures.requests += perBurst;
      await ws.write(burst);
    }
  }
  return false;
}

/** Sends one byte of a request head a second to every slow squatter still open. */
function dribble(squatters: readonly Squatter[], port: number): () => void {
  const head = encoder.encode(
    `GET / HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUser-Agent: ${"slow".repeat(64)}`,
  );
  let sent = 0;
  const timer = setInterval(() => {
    if (sent >= head.length) return;
    const byte = head.subarray(sent, sent + 1);
    sent++;
    for (const s of squatters) {
      if (s.connectedAt !== undefined && s.closedAt === undefined && !s.socket.destroyed) {
        s.socket.write(byte);
      }
    }
  }, 1000);
  return () => clearInterval(timer);
}

/** What the server's RSS did over a phase. */
interface RssTrack {
  last: number;
  peak: number;
}

/** Reads the server's RSS every {@linkcode RSS_EVERY_MS} for `seconds`. */
async function watchRss(pid: number, seconds: number): Promise<RssTrack> {
  const end = performance.now() + seconds * 1000;
  const track: RssTrack = { last: NaN, peak: 0 };
  while (performance.now() < end) {
    const { rss } = await memoryKiB(pid);
    track.last = rss;
    track.peak = Math.max(track.peak, rss);
    await sleep(Math.min(RSS_EVERY_MS, Math.max(0, end - performance.now())));
  }
  track.last = (await memoryKiB(pid)).rss;
  track.peak = Math.max(track.peak, track.last);
  return track;
}

const NO_PHASE: PhaseFigures = {
  seconds: 0,
  p50: NaN,
  p99: NaN,
  max: NaN,
  samples: 0,
  unanswered: 0,
  rss: NaN,
  rssPeak: NaN,
  serverCpu: NaN,
};

const NO_SOCKETS: SocketFigures = {
  tried: 0,
  connected: 0,
  closedAtOnce: 0,
  closedLater: 0,
  closedLaterMedian: NaN,
  closedLaterMax: NaN,
  openAtEnd: 0,
};

/**
 * Runs the attack scenario against our server (`target` names it in the
 * results); `dir` holds the prepared database.
 */
export async function attack(
  target: TargetName,
  dir: string,
  options: AttackOptions,
  progress: Progress,
): Promise<AttackResult> {
  const pipeliner: PipelinerFigures = {
    connections: 0,
    joinsRefused: 0,
    requests: 0,
    replies: 0,
    refusals: 0,
    cutOff: 0,
    bytes: 0,
  };
  const result: AttackResult = {
    target,
    options,
    attackerAddress: ATTACKER_ADDRESS,
    baseline: NO_PHASE,
    attack: NO_PHASE,
    after: NO_PHASE,
    silent: NO_SOCKETS,
    slowHeads: NO_SOCKETS,
    pipeliner,
    hwm: NaN,
  };
  const db = `${dir}/attack-${crypto.randomUUID()}.db`;
  prepareHistory(db, options.historyMessages, options.messageChars);
  const server = await startOurs(db, []);
  const address: Address = { hostname: HOST, port: server.endpoints.chatWs! };
  const trips = new RoundTrips(3);
  const bystanders: Bystander[] = [];
  const timers: ReturnType<typeof setTimeout>[] = [];
  const squatters: Squatter[] = [];
  const slow: Squatter[] = [];
  let phase = 0;
  try {
    for (let i = 0; i < options.bystanders; i++) {
      bystanders.push(await Bystander.join(address, `bystander${i}`, trips));
    }
    // Spread evenly, so the room hears from one bystander every sayEveryMs / bystanders.
    bystanders.forEach((b, i) => {
      timers.push(setTimeout(() => {
        b.say(phase);
        timers.push(setInterval(() => b.say(phase), options.sayEveryMs));
      }, (i * options.sayEveryMs) / bystanders.length));
    });
    const measure = async (
      seconds: number,
    ): Promise<Omit<PhaseFigures, keyof RoundTripFigures>> => {
      const cpu = new CpuMeter([server.pid]);
      await cpu.start();
      const rss = await watchRss(server.pid, seconds);
      return { seconds, rss: rss.last, rssPeak: rss.peak, serverCpu: await cpu.stop() };
    };

    const baseline = await measure(options.baselineSeconds);
    progress(`  baseline: RSS ${mib(baseline.rss)} MiB`);

    phase = 1;
    const until = performance.now() + options.attackSeconds * 1000;
    for (let i = 0; i < options.silent; i++) squatters.push(squat(address.port));
    for (let i = 0; i < options.slowHeads; i++) slow.push(squat(address.port));
    const stopDribble = dribble(slow, address.port);
    const piping = pipeline(address, options, until, pipeliner);
    const attacked = await measure(options.attackSeconds);
    stopDribble();
    await piping;
    result.silent = socketFigures(squatters);
    result.slowHeads = socketFigures(slow);
    drop([...squatters, ...slow]);
    progress(
      `  attack: RSS peak ${mib(attacked.rssPeak)} MiB; silent sockets open at the end ` +
        `${result.silent.openAtEnd}/${options.silent}; pipeliner ${pipeliner.replies} replies, ` +
        `${pipeliner.refusals} refusals, cut off ${pipeliner.cutOff} times`,
    );

    phase = 2;
    const after = await measure(options.afterSeconds);
    for (const t of timers) clearTimeout(t);
    await sleep(GRACE_MS);
    result.baseline = { ...baseline, ...roundTrips(trips, 0) };
    result.attack = { ...attacked, ...roundTrips(trips, 1) };
    result.after = { ...after, ...roundTrips(trips, 2) };
    result.hwm = (await memoryKiB(server.pid)).hwm;
    progress(
      `  bystanders' p99: ${result.baseline.p99.toFixed(1)} ms before, ` +
        `${result.attack.p99.toFixed(1)} ms under attack, ${result.after.p99.toFixed(1)} ms after`,
    );
  } catch (e) {
    progress(`  failed: ${message(e)}`);
    result.error = message(e);
  } finally {
    for (const t of timers) clearTimeout(t);
    drop([...squatters, ...slow]);
    await Promise.all(bystanders.map((b) => b.close()));
    await server.stop();
  }
  return result;
}

/** The round-trip figures of a phase. */
type RoundTripFigures = Pick<PhaseFigures, "p50" | "p99" | "max" | "samples" | "unanswered">;

function roundTrips(trips: RoundTrips, phase: number): RoundTripFigures {
  const sorted = [...trips.samples[phase] ?? []].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted.at(-1) ?? NaN,
    samples: sorted.length,
    unanswered: trips.unanswered(phase),
  };
}

/** Closes attacking sockets; a close from here on is not the server's doing. */
function drop(squatters: readonly Squatter[]): void {
  for (const s of squatters) {
    s.dropped = true;
    s.socket.destroy();
  }
}
