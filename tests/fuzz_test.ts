/**
 * Fuzz tests: thousands of hostile connections, seeded and reproducible, into
 * the terminal port, `/ws` and the IRC port of one in-process server, while
 * three honest members, one per transport, keep chatting in `#lobby` and
 * `#dev`, and a fourth, in `#lobby` only, listens. The fuzzers enter, leave
 * and retitle rooms under every name, look-alikes of those two included.
 *
 * What must hold, whatever arrives: the server neither crashes nor hangs nor
 * logs an unexpected error; it answers every fuzz connection with well-formed
 * output that never carries a control character or escape sequence; it ends
 * each of them (or lets it end) and leaves no ghost in any room, and no room
 * nobody is in; the honest members get every message of each other, in
 * order, in the room it was said in, and nothing that could mess up their
 * screens; nothing said or done in `#dev` reaches the member who is only in
 * `#lobby`; memory stays bounded.
 *
 * Environment:
 *
 * - `FUZZ_SEED`: the run's seed (decimal or `0x` hex, or `random`); it is in
 *   the test's name and in every failure.
 * - `FUZZ_CASES`: how many fuzz connections (default {@linkcode DEFAULT_CASES}).
 * - `FUZZ_CASE`: run only this case of the seed's run (to reproduce a failure).
 *
 * An IRC connection's output must be whole CRLF lines of valid UTF-8 that
 * parse, within 512 bytes (and 8191 of tags), without CR, LF or NUL inside;
 * one that opened with an HTTP request must get nothing at all.
 *
 * No sleeps: every fuzz connection ends by the server closing it (after the
 * fuzzer shut its side or sent `/quit` or `QUIT`), by the server answering a
 * last frame whose answer is known, or by the fuzzer closing it once it was
 * greeted.
 *
 * @module
 */

import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import {
  type ErrorCode,
  LOBBY,
  parseServerFrame,
  type ServerEvent,
  type WelcomeEvent,
} from "../common/protocol.ts";
import { SqliteHistory } from "../server/history/sqlite.ts";
import { FRAME_MAX } from "../common/protocol.ts";
import { isDisconnect } from "../server/transport/io.ts";
import { itemAt } from "./kit/assert.ts";
import { Opcode } from "../server/transport/web/frames.ts";
import { decodeFrame, headEnd, upgradeRequest } from "./kit/raw_ws.ts";
import { type ChatServer, httpUrl, withServer } from "./kit/server.ts";
import { dial } from "./kit/socket.ts";
import { connectTcp, TcpClient } from "./kit/tcp_client.ts";
import { connectIrc, drain } from "./kit/irc_client.ts";
import { byteLength, LINE_MAX, parseLine, TAGS_MAX } from "../server/transport/irc/message.ts";
import { connectWs, WsClient } from "./kit/ws_client.ts";
import {
  caseSeed,
  fuzzCase,
  type IrcCase,
  type RawWsCase,
  Rng,
  type Targets,
  type TcpCase,
  utf8,
  type WsCase,
} from "./fuzz.ts";

/**
 * Fuzz connections per run by default: 40% terminal streams, 30% WebSocket
 * connections of up to 20 frames each, 20% IRC streams, 10% raw WebSocket
 * wire bytes. Sized so the file runs in well under 30 s on two cores.
 */
const DEFAULT_CASES = 4000;

/** The seed when `FUZZ_SEED` is not set: runs are the same until it is. */
const DEFAULT_SEED = 0x5eed2323;

/** Fuzz connections open at once. */
const CONCURRENCY = 24;

/** Fuzz cases started between two messages of each honest member. */
const HONEST_EVERY = 8;

/**
 * Cases run before memory is first measured (the warm-up): enough for the
 * code to be compiled and the pools to be filled, and few enough that what the
 * honest clients keep by then (everything they received) is small.
 */
const WARMUP_CASES = 250;

/**
 * How much the heap, after a full collection, may grow from the end of the
 * warm-up to the end of the run, with every client closed, besides what Deno
 * holds for a while ({@linkcode IDLE_HOLD_BYTES}). The server's state is then
 * back to an empty room, and whatever it legitimately keeps is bounded on its
 * own (the store: {@linkcode HISTORY_KEEP} messages, outside the heap):
 * measured growth is about 1 MiB at the default count, 3.4 MiB at ten times
 * that, both within the allowance for recent raw connections. A leak of what
 * the server holds per connection (a session, a socket, a closure) grows the
 * heap by that times every connection: a closed socket kept in `ws.ts`'s map
 * of open ones (6.6 MiB at the default count) or a TCP session kept in
 * `tcp.ts`'s set (5.3 MiB) fails the run; at ten times the cases, so does a
 * leak of a few hundred bytes per connection.
 */
const HEAP_GROWTH_MAX = 2.5 * 1024 * 1024;

/**
 * A server WebSocket that ends without a closing handshake (a peer gone, a
 * protocol error: how every raw case ends) stays on the heap, about 4.6 KiB,
 * until Deno's idle timeout for it fires (`ws.ts`: 60 s), then is freed. The
 * heap check allows this much for each raw connection that ended within
 * {@linkcode IDLE_HOLD_MS} before it, and nothing for older ones.
 */
const IDLE_HOLD_BYTES = 5 * 1024;

/** How long Deno may hold a WebSocket that ended without a closing handshake, with slack. */
const IDLE_HOLD_MS = 65_000;

/**
 * How much the resident set may grow over the same span: generous, since the
 * allocator keeps freed pages and large frames come and go; it catches what the
 * heap figure cannot see, such as sockets or native buffers never released.
 */
const RSS_GROWTH_MAX = 128 * 1024 * 1024;

/**
 * Requests to the server after which a member whose connection has ended and
 * is still seated counts as a ghost. Leaving takes one read of the end.
 */
const SETTLE_ROUND_TRIPS = 100;

/** How long no case may end before those under way are named (a diagnostic). */
const STUCK_REPORT_MS = 60_000;

/** Room messages kept by the store: bounds history replies and the server's memory. */
const HISTORY_KEEP = 200;

/**
 * Room messages in each welcome. Small: thousands of fuzz members join, and
 * replay is not what this test is about.
 */
const WELCOME_HISTORY = 10;

/** The honest members' nicknames: three who talk in both rooms, one who listens in #lobby. */
const HONEST = {
  web: "honest_web",
  tcp: "honest_tcp",
  irc: "honest_irc",
  lobby: "honest_lobby",
} as const;

/** The second room the honest members talk in. */
const DEV = "#dev";

const TARGETS: Targets = {
  honest: [HONEST.web, HONEST.tcp, HONEST.irc, HONEST.lobby],
  rooms: [LOBBY, DEV],
};

/**
 * Live rooms the server may have: low, so that fuzzers making rooms run into
 * the cap (about 24 connections at once, each in up to 20 rooms).
 */
const MAX_ROOMS = 64;

/**
 * What the server may log while being fuzzed: anything else (a failed read
 * or write that is not a disconnect, a storage failure) fails the run.
 */
const EXPECTED_LOGS: readonly RegExp[] = [
  /^http: refused a WebSocket from origin "http:\/\/evil\.invalid"$/,
];

/**
 * Characters that must never reach a screen inside a line: C0 (CR and LF
 * included: only CRLF ends a line), DEL, C1, line and paragraph separators,
 * bidi embeddings, overrides and isolates.
 */
// deno-lint-ignore no-control-regex -- finding control characters is the point
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** A whole number from the environment, if set. */
function envInt(name: string): number | undefined {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw === "") return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`Cannot use ${name}=${raw}: expected a whole number`);
  }
  return value;
}

/** The run's seed: `FUZZ_SEED`, a fresh one if it says `random`, or the default. */
function runSeed(): number {
  if (Deno.env.get("FUZZ_SEED") === "random") return crypto.getRandomValues(new Uint32Array(1))[0]!;
  return (envInt("FUZZ_SEED") ?? DEFAULT_SEED) >>> 0;
}

const SEED = runSeed();
const CASES = envInt("FUZZ_CASES") ?? DEFAULT_CASES;
const ONLY = envInt("FUZZ_CASE");

/** What a run counts, for the summary and the checks. */
interface Tally {
  cases: Record<string, number>;
  bytes: number;
  frames: number;
  /** When each upgraded raw WebSocket connection ended (`performance.now()`). */
  rawEnds: number[];
}

/** The parts of the server a fuzz case talks to. */
interface Target {
  server: ChatServer;
  tally: Tally;
}

/** Writes `bytes` in the pieces `cuts` gives; stops quietly if the server hung up. */
async function writeInPieces(client: TcpClient, bytes: Uint8Array, cuts: number[]): Promise<void> {
  let from = 0;
  try {
    for (const to of [...cuts, bytes.length]) {
      await client.write(bytes.subarray(from, to));
      from = to;
    }
  } catch (e) {
    if (!isDisconnect(e)) throw e;
  }
}

/** Shuts the writing side; the server then sees the end of the stream. */
async function shutWrite(conn: Deno.TcpConn): Promise<void> {
  try {
    await conn.closeWrite();
  } catch (e) {
    if (!isDisconnect(e)) throw e;
  }
}

/**
 * Checks what a terminal connection received: the greeting first, telnet
 * commands that are only the server's one request and refusals (each once),
 * valid UTF-8, and no character that could take over a screen.
 */
function checkTerminalOutput(client: TcpClient): string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(client.data);
  } catch {
    assert.fail(`the server sent invalid UTF-8: ${JSON.stringify(client.data.slice(0, 200))}`);
  }
  assert.ok(
    text.startsWith("\rWelcome to the chat room.\r\n"),
    `no greeting: ${JSON.stringify(text.slice(0, 200))}`,
  );
  const [request, ...answers] = client.commands;
  assert.deepEqual(request, [255, 253, 0], "the first command is IAC DO BINARY");
  const seen = new Set<string>();
  for (const command of answers) {
    assert.ok(
      command.length === 3 && (command[1] === 252 || command[1] === 254),
      `the server only refuses options, it sent ${JSON.stringify(command)}`,
    );
    assert.ok(!seen.has(`${command}`), `the server answered ${command} twice`);
    seen.add(`${command}`);
  }
  const lines = text.slice(1).split("\r\n");
  const bad = lines.findIndex((line) => UNSAFE.test(line));
  assert.ok(bad === -1, `an unsafe character in a line: ${JSON.stringify(lines[bad])}`);
  return text;
}

/** Runs one terminal case to its end. */
async function runTcp(target: Target, c: TcpCase): Promise<void> {
  const { server, tally } = target;
  const conn = await dial(server.tcp);
  const client = new TcpClient(conn);
  try {
    tally.bytes += c.stopAt;
    if (c.ending === "abrupt") {
      // Greeted first, so the server has a session to clean up.
      await client.readUntil("Your nickname: ");
      const prefix = c.bytes.subarray(0, c.stopAt);
      await writeInPieces(client, prefix, c.cuts.filter((cut) => cut < c.stopAt));
      return;
    }
    await writeInPieces(client, c.bytes, c.cuts);
    await shutWrite(conn);
    await client.readToEnd();
    const text = checkTerminalOutput(client);
    if (!c.joinsAs) return;
    assert.ok(
      text.includes(`-- Hello ${c.joinsAs}! `),
      `${c.joinsAs} was not welcomed: ${JSON.stringify(text.slice(0, 300))}`,
    );
  } finally {
    await client.close();
  }
}

/** The refusal a frame must get, when it is known without the server's parser. */
function expectedError(frame: string | Uint8Array): ErrorCode | undefined {
  if (typeof frame !== "string") return "binary_frame";
  // A WebSocket client sends a lone surrogate as U+FFFD.
  const sent = frame.toWellFormed();
  if (sent.length > FRAME_MAX) return "frame_too_large";
  try {
    JSON.parse(sent);
  } catch {
    return "bad_json";
  }
  return undefined;
}

/** The text fields of an event a screen shows: names, texts, rooms and topics. */
function eventText(e: ServerEvent): string[] {
  // A refusal may quote a refused room name as it came: only the others name a room that is.
  const room = e.type !== "error" && "room" in e && e.room !== undefined ? [e.room] : [];
  const topic = "topic" in e && e.topic !== undefined ? [e.topic.text, e.topic.by] : [];
  switch (e.type) {
    case "message":
      return [...room, e.from, e.text, e.to ?? ""];
    case "join":
      return [...room, e.nick];
    case "leave":
      return [...room, e.nick, e.reason];
    case "rename":
      return [e.from, e.to];
    case "parted":
      return [...room, e.reason];
    case "rooms":
      return e.rooms.flatMap((r) => [r.room, r.topic ?? ""]);
    case "welcome":
      return [...room, ...topic, ...e.rooms.flatMap((r) => [r.room, r.topic?.text ?? ""])];
    default:
      return [...room, ...topic];
  }
}

/** Checks that the text fields of events hold no unsafe character. */
function checkEventText(events: readonly ServerEvent[]): void {
  for (const e of events) {
    const bad = eventText(e).find((f) => UNSAFE.test(f));
    assert.ok(bad === undefined, `an unsafe character in ${JSON.stringify(e).slice(0, 500)}`);
  }
}

/** Runs one WebSocket case to its end. */
async function runWs(target: Target, c: WsCase, index: number): Promise<void> {
  const client = await WsClient.open(target.server);
  try {
    for (const frame of c.frames) {
      client.sendRaw(typeof frame === "string" ? frame : frame.slice().buffer);
      target.tally.frames++;
    }
    if (c.ending === "close") return;
    // An unknown type is refused with its name: this answer comes after every other.
    const marker = `end-${index}`;
    client.send({ type: marker });
    target.tally.frames++;
    await client.nextEvent((e) => e.type === "error" && e.message.includes(marker));
    const events = client.events;
    if (c.joinsAs) {
      const first = itemAt(events, 0);
      assert.ok(
        first.type === "welcome" && first.nick === c.joinsAs,
        `${c.joinsAs} was not welcomed: ${JSON.stringify(first).slice(0, 300)}`,
      );
    }
    const fatal = events.find((e) => e.type === "error" && e.fatal);
    assert.equal(fatal, undefined, "a fuzz connection got a fatal error");
    const wanted = c.frames.map(expectedError);
    for (const code of ["binary_frame", "frame_too_large", "bad_json"] as const) {
      const want = wanted.filter((w) => w === code).length;
      const got = events.filter((e) => e.type === "error" && e.code === code).length;
      assert.equal(got, want, `${code} errors: ${got} for ${want} such frames`);
    }
    checkEventText(events);
  } finally {
    await client.close();
  }
}

/** Checks the frames a server sent on a raw connection: text frames hold valid events. */
function checkServerFrames(bytes: Uint8Array): void {
  // The last frame may be cut off by the close: it is then not decoded.
  for (let at = 0, frame; (frame = decodeFrame(bytes, at)) !== undefined; at += frame.size) {
    assert.equal(frame.masked, false, "the server masked a frame");
    if (frame.opcode === Opcode.text) {
      const text = new TextDecoder().decode(frame.payload);
      const parsed = parseServerFrame(text);
      assert.ok(parsed.ok, `the server sent a bad frame: ${text.slice(0, 300)}`);
      checkEventText(parsed.value);
    }
    if (frame.opcode === Opcode.close) return;
  }
}

/** Runs one raw WebSocket case to its end: the server must close it. */
async function runRawWs(target: Target, c: RawWsCase): Promise<void> {
  const { server, tally } = target;
  const conn = await dial(server.http);
  const client = new TcpClient(conn);
  try {
    const host = `${server.http.hostname}:${server.http.port}`;
    await client.write(upgradeRequest(host, { headers: c.headers }));
    if (c.upgrades) {
      const status = await client.readUntil(() => true);
      assert.match(status, /^HTTP\/1\.1 101 /, "the upgrade was refused");
      await client.readUntil((line) => line === "");
      tally.bytes += c.bytes.length;
      await writeInPieces(client, c.bytes, c.cuts);
    }
    await shutWrite(conn);
    await client.readToEnd();
    if (c.upgrades) tally.rawEnds.push(performance.now());
    const raw = client.raw;
    const status = new TextDecoder().decode(raw.subarray(0, 12));
    assert.match(status, c.upgrades ? /^HTTP\/1\.1 101$/ : /^HTTP\/1\.1 4\d\d$/);
    const end = headEnd(raw);
    if (c.upgrades && end !== -1) checkServerFrames(raw.subarray(end));
  } finally {
    await client.close();
  }
}

/**
 * Checks what an IRC connection received: valid UTF-8 in whole CRLF lines,
 * each a message that parses, without CR, LF or NUL inside, within 512
 * bytes after its tags and 8191 bytes of tags. Returns the lines.
 */
function checkIrcOutput(raw: Uint8Array): string[] {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    assert.fail(`the server sent invalid UTF-8: ${JSON.stringify(raw.slice(0, 200))}`);
  }
  if (text === "") return [];
  assert.ok(text.endsWith("\r\n"), `a last line without CRLF: ${JSON.stringify(text.slice(-200))}`);
  const lines = text.slice(0, -2).split("\r\n");
  for (const line of lines) {
    const shown = JSON.stringify(line.slice(0, 300));
    assert.ok(!/[\r\n]/.test(line) && !line.includes("\0"), `CR, LF or NUL in a line: ${shown}`);
    assert.ok(parseLine(line) !== undefined, `not an IRC message: ${shown}`);
    const tags = line.startsWith("@") ? line.indexOf(" ") + 1 : 0;
    assert.ok(
      byteLength(line.slice(0, tags)) <= TAGS_MAX,
      `over ${TAGS_MAX} bytes of tags: ${shown}`,
    );
    const bytes = byteLength(line.slice(tags)) + 2;
    assert.ok(bytes <= LINE_MAX, `a line of ${bytes} bytes: ${shown}`);
  }
  return lines;
}

/** Runs one IRC case to its end. */
async function runIrc(target: Target, c: IrcCase): Promise<void> {
  const { server, tally } = target;
  const conn = await dial(server.irc);
  const client = new TcpClient(conn);
  try {
    tally.bytes += c.stopAt;
    if (c.ending === "abrupt") {
      const prefix = c.bytes.subarray(0, c.stopAt);
      await writeInPieces(client, prefix, c.cuts.filter((cut) => cut < c.stopAt));
      return;
    }
    await writeInPieces(client, c.bytes, c.cuts);
    await shutWrite(conn);
    await client.readToEnd();
    if (c.http) {
      assert.equal(client.raw.length, 0, `an HTTP request was answered: ${client.unread}`);
      return;
    }
    const lines = checkIrcOutput(client.raw);
    if (!c.registersAs) return;
    const welcome = lines.find((line) => parseLine(line)?.command === "001");
    assert.equal(
      welcome === undefined ? undefined : parseLine(welcome)?.params[0],
      c.registersAs,
      `${c.registersAs} was not registered: ${JSON.stringify(lines.slice(0, 5))}`,
    );
  } finally {
    await client.close();
  }
}

/** Runs case `index` of the run to its end. */
function runCase(target: Target, index: number): Promise<void> {
  const c = fuzzCase(SEED, index, TARGETS);
  target.tally.cases[c.kind] = (target.tally.cases[c.kind] ?? 0) + 1;
  if (c.kind === "tcp") return runTcp(target, c);
  if (c.kind === "ws") return runWs(target, c, index);
  if (c.kind === "irc") return runIrc(target, c);
  return runRawWs(target, c);
}

/** A case that failed, with how to run it again alone. */
class CaseFailure extends Error {
  constructor(index: number, cause: unknown) {
    super(
      `fuzz case ${index} failed; run it alone with ` +
        `FUZZ_SEED=${SEED} FUZZ_CASE=${index}: ${cause instanceof Error ? cause.message : cause}`,
      { cause },
    );
  }
}

/**
 * Runs the cases of `indexes`, {@linkcode CONCURRENCY} at a time,
 * calling `between` before each case. Stops at the first failure, once the
 * cases under way have ended, and throws it.
 */
async function runCases(
  indexes: readonly number[],
  run: (index: number) => Promise<void>,
  between: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: CaseFailure | undefined;
  const worker = async () => {
    while (failure === undefined && next < indexes.length) {
      const index = indexes[next++]!;
      try {
        await between(index);
        await run(index);
      } catch (e) {
        failure ??= new CaseFailure(index, e);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  if (failure) throw failure;
}

/** Who is in which live room, in words: "#dev: a, b | #lobby: a, b, c", the rooms by name. */
function seating(server: ChatServer): string {
  return [...server.hub.rooms()]
    .map((room) => `${room.name}: ${room.members().map((m) => m.nick).sort().join(", ")}`)
    .sort().join(" | ");
}

/**
 * Waits until the live rooms are exactly those of `rooms`, each holding
 * exactly the members named, and nobody is seated in no room; fails naming
 * the others if it still is not so after {@linkcode SETTLE_ROUND_TRIPS}
 * requests to the server: a connection that has ended leaves every room as
 * soon as the server reads its end, long before that, so whoever is still
 * seated then is a ghost, and a room still live with nobody honest in it is
 * one. Round trips, not a timer, so a slow machine is not a failure.
 */
async function settleMembers(
  server: ChatServer,
  rooms: Readonly<Record<string, readonly string[]>>,
): Promise<void> {
  const want = Object.entries(rooms)
    .map(([room, nicks]) => `${room}: ${[...nicks].sort().join(", ")}`)
    .sort().join(" | ");
  const seated = new Set(Object.values(rooms).flat()).size;
  const settled = () => seating(server) === want && server.hub.size === seated;
  for (let i = 0; i < SETTLE_ROUND_TRIPS && !settled(); i++) {
    const response = await fetch(httpUrl(server, "/healthz"));
    await response.body?.cancel();
  }
  assert.equal(seating(server), want, "the rooms once every connection has ended");
  assert.equal(server.hub.size, seated, "the members seated once every connection has ended");
}

/** Collects what the server logs with console.error, and restores it. */
function captureErrors(): { lines: string[]; restore: () => void } {
  const original = console.error;
  const lines: string[] = [];
  console.error = (...args: unknown[]) => {
    lines.push(args.map((a) => a instanceof Error ? a.stack ?? a.message : String(a)).join(" "));
  };
  return { lines, restore: () => console.error = original };
}

let gc: (() => void) | undefined;

/**
 * Memory in use after a full garbage collection, so the heap figure counts
 * only what is still referenced: garbage would make a leak check noise.
 */
function memoryAfterGc(): Deno.MemoryUsage {
  if (gc === undefined) {
    v8.setFlagsFromString("--expose-gc");
    const collect: unknown = vm.runInNewContext("gc");
    if (typeof collect !== "function") throw new TypeError("Cannot expose the garbage collector");
    gc = () => collect();
  }
  // A second pass takes what the first one's finalizers let go.
  gc();
  gc();
  return Deno.memoryUsage();
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

/** What a run did and measured. */
interface Run {
  tally: Tally;
  /** Messages each honest member said. */
  said: number;
  seconds: number;
  /** Memory at the end of the warm-up. */
  warm: Deno.MemoryUsage;
  /** What the honest members received: bytes on the terminal and IRC, events on the web. */
  received: { bytes: number; events: number };
}

/** Opens a page's socket and joins as `nick` in `rooms`; fails if refused. */
async function joinRooms(server: ChatServer, nick: string, rooms: string[]): Promise<WsClient> {
  const client = await WsClient.open(server);
  client.send({ type: "join", nick, rooms });
  const welcome = await client.nextEvent((e) => e.type === "welcome" || e.type === "error");
  assert.deepEqual(
    welcome.type === "welcome" ? welcome.rooms.map((r) => r.room) : welcome,
    rooms,
    `${nick} joined`,
  );
  return client;
}

/** Every message `from` said in `room` that `events` hold, as texts, in order. */
function saidIn(events: readonly ServerEvent[], from: string, room: string): string[] {
  return events.filter((e) => e.type === "message")
    .filter((m) => m.from === from && m.to === undefined && m.room === room)
    .map((m) => m.text);
}

/** `[12:00] <NICK> text`, or labeled with its room: `[12:00] [#dev] <NICK> text`. */
function fromHonest(nick: string): RegExp {
  return new RegExp(`^\\[\\d\\d:\\d\\d\\] (?:\\[(#\\w+)\\] )?<${nick}> (.*)$`);
}

/**
 * The channel and text of every PRIVMSG `from` said to a channel, of the
 * lines an IRC client got, in order.
 */
function ircSaid(lines: readonly string[], from: string): { room: string; text: string }[] {
  return lines.flatMap((line) => {
    const m = parseLine(line);
    const [room = "", text = ""] = m?.params ?? [];
    return m?.command === "PRIVMSG" && m.source?.split("!")[0] === from && room.startsWith("#")
      ? [{ room, text }]
      : [];
  });
}

/**
 * Checks what the honest IRC member got: well-formed lines, nothing that
 * could take over a screen (CTCP's \x01 delimiters aside), and no refusal
 * or notice from the server.
 */
function checkHonestIrc(lines: readonly string[]): void {
  for (const line of lines) {
    const m = parseLine(line);
    assert.ok(m !== undefined, `not an IRC message: ${JSON.stringify(line.slice(0, 300))}`);
    let last = m.params.at(-1) ?? "";
    if (last.startsWith("\x01")) last = last.slice(1);
    if (last.endsWith("\x01")) last = last.slice(0, -1);
    const fields = [m.source ?? "", m.command, ...m.params.slice(0, -1), last, ...m.tags.values()];
    const bad = fields.find((field) => UNSAFE.test(field));
    assert.equal(bad, undefined, `an unsafe character in ${JSON.stringify(line.slice(0, 300))}`);
    // 422 (no MOTD) is part of the welcome; any other 4xx or 5xx is a refusal.
    const refused = m.source === "chat.local" && m.command !== "422" &&
      (/^[45]\d\d$/.test(m.command) || m.command === "NOTICE" || m.command === "ERROR");
    assert.ok(!refused, `the server refused honest_irc: ${line}`);
  }
}

/**
 * Runs the fuzz cases while two honest members chat in #lobby and #dev and
 * a third listens in #lobby; then checks that each got every message of the
 * others, in order and in its room, and nothing unsafe, that the listener
 * got nothing of #dev, and that the server still serves a newcomer. Every
 * client it opens is closed on return.
 */
async function fuzzWhileChatting(server: ChatServer): Promise<Run> {
  await using web = await joinRooms(server, HONEST.web, [LOBBY, DEV]);
  await using tcp = await connectTcp(server, HONEST.tcp);
  await tcp.send(`/join ${DEV}`);
  await tcp.readUntil(`-- Lines you type now go to ${DEV}.`);
  await using lobby = await joinRooms(server, HONEST.lobby, [LOBBY]);
  await using irc = await connectIrc(server, HONEST.irc);
  await irc.send(`JOIN ${LOBBY},${DEV}`);
  await irc.readUntil((line) => parseLine(line)?.command === "366" && line.includes(DEV));
  const tally: Tally = { cases: {}, bytes: 0, frames: 0, rawEnds: [] };
  const target: Target = { server, tally };
  let said = 0;
  /** One line of each in each room; the terminal switches rooms with /join, which asks nothing. */
  const lines = async (n: number) => {
    web.send({ type: "say", room: LOBBY, text: `web ${n}` });
    web.send({ type: "say", room: DEV, text: `webdev ${n}` });
    await tcp.write(`/join ${LOBBY}\r\ntcp ${n}\r\n/join ${DEV}\r\ntcpdev ${n}\r\n`);
    await irc.write(`PRIVMSG ${LOBBY} :irc ${n}\r\nPRIVMSG ${DEV} :ircdev ${n}\r\n`);
  };
  const honestSay = async () => {
    await lines(said++);
  };
  const honestTurn = (index: number) =>
    index % HONEST_EVERY === 0 ? honestSay() : Promise.resolve();
  // Diagnostic only, it settles nothing: names the cases under way when none
  // has ended for a while, so a run stuck on some input says which.
  const running = new Set<number>();
  let ended = 0;
  const run = async (index: number) => {
    running.add(index);
    try {
      await runCase(target, index);
    } finally {
      running.delete(index);
      ended++;
    }
  };
  let endedBefore = -1;
  const watchdog = setInterval(() => {
    if (ended === endedBefore) {
      console.log(`fuzz: stuck (FUZZ_SEED=${SEED})? under way: cases ${[...running].join(", ")}`);
    }
    endedBefore = ended;
  }, STUCK_REPORT_MS);
  Deno.unrefTimer(watchdog);
  const started = performance.now();
  const all = ONLY === undefined ? [...Array(CASES).keys()] : [ONLY];
  const warmup = Math.min(WARMUP_CASES, Math.floor(all.length / 2));
  let warm: Deno.MemoryUsage;
  try {
    await runCases(all.slice(0, warmup), run, honestTurn);
    warm = memoryAfterGc();
    await runCases(all.slice(warmup), run, honestTurn);
  } finally {
    clearInterval(watchdog);
  }
  const seconds = (performance.now() - started) / 1000;

  // Every fuzz member has left every room, and no room of theirs is left.
  const talkers = [HONEST.web, HONEST.tcp, HONEST.irc];
  await settleMembers(server, { [LOBBY]: [...talkers, HONEST.lobby], [DEV]: talkers });

  // The last lines of each, then a request of each: the server answers a
  // request after it has handled (and sent on) what the member sent before.
  // Once all three have been answered after the others' last lines, a second
  // answer to each shows that everything sent to it before has arrived, and
  // an answer to the listener after that, everything sent to it.
  const last = said++;
  await lines(last);
  const answered = async () => {
    web.send({ type: "who" });
    await web.next("members");
    await tcp.send("/who");
    await tcp.readUntil((line) => /^-- \d+ here: /.test(line));
    await drain(irc);
  };
  await answered();
  await answered();
  lobby.send({ type: "who" });
  await lobby.next("members");

  const expected = (who: string) => Array.from({ length: said }, (_, i) => `${who} ${i}`);
  assert.deepEqual(saidIn(web.events, HONEST.tcp, LOBBY), expected("tcp"), "honest_web, #lobby");
  assert.deepEqual(saidIn(web.events, HONEST.tcp, DEV), expected("tcpdev"), "honest_web, #dev");
  assert.deepEqual(
    saidIn(web.events, HONEST.irc, LOBBY),
    expected("irc"),
    "honest_web, irc #lobby",
  );
  assert.deepEqual(saidIn(web.events, HONEST.irc, DEV), expected("ircdev"), "honest_web, irc #dev");
  // On the terminal, a line is labeled with its room when it is not the current one.
  for (const [nick, prefix] of [[HONEST.web, "web"], [HONEST.irc, "irc"]] as const) {
    const pattern = fromHonest(nick);
    const tcpGot = tcp.lines.map((line) => pattern.exec(line))
      .filter((match) => match !== null)
      .map(([, label, text = ""]) => ({ label, text }));
    const inRoom = (room: string, words: string) => {
      const got = tcpGot.filter((m) => m.text.startsWith(`${words} `));
      const wrong = got.filter((m) => m.label !== undefined && m.label !== room);
      assert.deepEqual(wrong, [], `lines of ${room} labeled with another room`);
      return got.map((m) => m.text);
    };
    assert.deepEqual(inRoom(LOBBY, prefix), expected(prefix), `honest_tcp, ${nick} in #lobby`);
    assert.deepEqual(inRoom(DEV, `${prefix}dev`), expected(`${prefix}dev`), `${nick} in #dev`);
    assert.equal(tcpGot.length, 2 * said, `honest_tcp got nothing else from ${nick}`);
  }
  // On IRC, each in its channel.
  const ircLines = irc.lines;
  for (const [nick, prefix] of [[HONEST.web, "web"], [HONEST.tcp, "tcp"]] as const) {
    const got = ircSaid(ircLines, nick);
    const inChannel = (room: string) => got.filter((m) => m.room === room).map((m) => m.text);
    assert.deepEqual(inChannel(LOBBY), expected(prefix), `honest_irc, ${nick} in #lobby`);
    assert.deepEqual(inChannel(DEV), expected(`${prefix}dev`), `honest_irc, ${nick} in #dev`);
    assert.equal(got.length, 2 * said, `honest_irc got nothing else from ${nick}`);
  }
  checkIrcOutput(irc.raw);
  checkHonestIrc(ircLines);
  assert.deepEqual(web.events.filter((e) => e.type === "error"), [], "errors to honest_web");
  assert.deepEqual(tcp.lines.filter((line) => line.startsWith("! ")), [], "errors to honest_tcp");
  checkEventText(web.events);
  checkTerminalOutput(tcp);

  // The listener in #lobby: every line said there, and nothing of #dev.
  assert.deepEqual(saidIn(lobby.events, HONEST.web, LOBBY), expected("web"), "honest_lobby, web");
  assert.deepEqual(saidIn(lobby.events, HONEST.tcp, LOBBY), expected("tcp"), "honest_lobby, tcp");
  assert.deepEqual(saidIn(lobby.events, HONEST.irc, LOBBY), expected("irc"), "honest_lobby, irc");
  const elsewhere = lobby.events.filter((e) =>
    e.type === "welcome"
      ? e.rooms.some((r) => r.room !== LOBBY)
      : "room" in e && e.room !== undefined && e.room !== LOBBY
  );
  assert.deepEqual(elsewhere.slice(0, 5), [], "what honest_lobby got from other rooms");
  const welcome = lobby.events.find((e): e is WelcomeEvent => e.type === "welcome");
  assert.deepEqual(welcome?.rooms.map((r) => r.room), [LOBBY]);
  assert.deepEqual(lobby.events.filter((e) => e.type === "error"), [], "errors to honest_lobby");
  checkEventText(lobby.events);

  // Still serving: health, and a newcomer on each transport who is heard.
  const health = await fetch(httpUrl(server, "/healthz"));
  assert.equal(health.status, 200);
  await health.body?.cancel();
  await using freshWeb = await connectWs(server, "fresh_web");
  await using freshTcp = await connectTcp(server, "fresh_tcp");
  await using freshIrc = await connectIrc(server, "fresh_irc");
  await freshIrc.send(`JOIN ${LOBBY}`);
  await freshIrc.readUntil((line) => parseLine(line)?.command === "366");
  freshWeb.send({ type: "say", text: "made it" });
  await freshTcp.readUntil("<fresh_web> made it");
  await freshIrc.readUntil((line) => line.endsWith(`PRIVMSG ${LOBBY} :made it`));
  await freshTcp.send("me too");
  await web.next("message", (m) => m.from === "fresh_tcp" && m.text === "me too");
  await freshIrc.send(`PRIVMSG ${LOBBY} :and me`);
  await web.next("message", (m) => m.from === "fresh_irc" && m.text === "and me");
  return {
    tally,
    said,
    seconds,
    warm,
    received: {
      bytes: tcp.raw.length + irc.raw.length,
      events: web.events.length + lobby.events.length,
    },
  };
}

/** Runs the fuzz cases against a fresh server and checks what must hold after. */
async function fuzzServer(): Promise<void> {
  const options = {
    store: new SqliteHistory(":memory:", HISTORY_KEEP),
    history: WELCOME_HISTORY,
    maxPerIp: 10_000,
    maxClients: 10_000,
    maxRooms: MAX_ROOMS,
  };
  await withServer(options, async (server) => {
    const { tally, said, seconds, warm, received } = await fuzzWhileChatting(server);
    // The honest and the fresh have gone too: what the heap holds now is the
    // server's, and the little the test keeps.
    await settleMembers(server, {});
    const end = memoryAfterGc();
    const now = performance.now();
    const held = tally.rawEnds.filter((t) => now - t < IDLE_HOLD_MS).length;
    console.log(
      `fuzz: seed ${SEED}, cases ${JSON.stringify(tally.cases)}, ${mib(tally.bytes)} MiB and ` +
        `${tally.frames} frames sent, ${said} honest messages each way, ${seconds.toFixed(1)} s; ` +
        `honest members received ${mib(received.bytes)} MiB and ${received.events} events; ` +
        `from warm-up to end: rss ${mib(warm.rss)} -> ${mib(end.rss)} MiB, ` +
        `heap ${mib(warm.heapUsed)} -> ${mib(end.heapUsed)} MiB ` +
        `(${held} raw WebSocket connections ended in the last ${IDLE_HOLD_MS / 1000} s)`,
    );
    const heap = end.heapUsed - warm.heapUsed;
    assert.ok(
      heap < HEAP_GROWTH_MAX + held * IDLE_HOLD_BYTES,
      `the heap grew by ${mib(heap)} MiB (allowed: ${mib(HEAP_GROWTH_MAX)} MiB, ` +
        `and ${mib(held * IDLE_HOLD_BYTES)} MiB for ${held} recent raw WebSocket connections)`,
    );
    const rss = end.rss - warm.rss;
    assert.ok(rss < RSS_GROWTH_MAX, `resident memory grew by ${mib(rss)} MiB`);
    // Nothing reached Object.prototype.
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
}

const RUN_NAME = ONLY === undefined ? `${CASES} hostile connections` : `hostile connection ${ONLY}`;

Deno.test(`startChat() survives ${RUN_NAME} while a member of each transport chats (FUZZ_SEED=${SEED})`, async () => {
  const logged = captureErrors();
  let failure: unknown;
  try {
    await fuzzServer();
  } catch (e) {
    failure = e;
  } finally {
    logged.restore();
  }
  const unexpected = logged.lines.filter((line) => !EXPECTED_LOGS.some((re) => re.test(line)));
  if (failure === undefined) {
    assert.deepEqual(unexpected, [], "the server logged errors");
  } else if (unexpected.length === 0) {
    throw failure;
  } else {
    const message = failure instanceof Error ? failure.message : String(failure);
    throw new Error(`${message}\nThe server logged:\n${unexpected.join("\n")}`, {
      cause: failure,
    });
  }
});

Deno.test("fuzzCase() gives the same case for the same seed and index, and others otherwise", () => {
  const cases = (seed: number) =>
    Array.from({ length: 20 }, (_, i) => JSON.stringify(fuzzCase(seed, i, TARGETS), replacer));
  assert.deepEqual(cases(1), cases(1));
  const [a, b] = [cases(1), cases(2)];
  assert.ok(a.every((c, i) => c !== b[i]), "different seeds give different cases");
  assert.notEqual(caseSeed(1, 0), caseSeed(1, 1));
  const rng = new Rng(7);
  const first = Array.from({ length: 5 }, () => rng.u32());
  assert.equal(new Set(first).size, 5);
  assert.deepEqual(utf8("\ud800"), Uint8Array.of(0xef, 0xbf, 0xbd));
});

/** JSON of a case, bytes included. */
function replacer(_key: string, value: unknown): unknown {
  return value instanceof Uint8Array ? [...value] : value;
}
