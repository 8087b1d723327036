/**
 * One load-generator process. `bench/run.ts` starts one or more of these
 * (pinned to the generator's core) and drives them over standard input and
 * output, one JSON object per line each way: open members, send a burst and
 * report when every member has received all of it, time messages sent at a
 * fixed rate, close.
 *
 * Several processes share a room when one would run out of file descriptors
 * or saturate first; each reports its own completion time, so the room's
 * time is the latest of them.
 *
 * @module
 */

import { within } from "../server/deadline.ts";
import {
  type BenchClient,
  echoes,
  type Endpoints,
  IrcRoom,
  type Kind,
  openClient,
  wallNow,
} from "./clients.ts";

/** A member to open: its nickname and protocol. */
export interface MemberSpec {
  name: string;
  kind: Kind;
  /** Only held open (the ramp): reads in small pieces, so thousands take little memory. */
  idle?: boolean;
  /** The one room it is in, when not `#lobby` (ours: the rooms scenario). */
  room?: string;
  /** Its place in that room, counted from 0 (default: the number in its name). */
  seat?: number;
}

/** What the coordinator asks a generator to do. */
export type Command =
  | { op: "open"; endpoints: Endpoints; members: MemberSpec[]; concurrency: number }
  | { op: "burst"; senders: number; perMember: number; timeoutMs: number }
  | { op: "listen"; count: number; senders: string[]; sampleEvery: number; timeoutMs: number }
  | { op: "send"; senders: string[]; rate: number; count: number }
  | { op: "close" };

/** What a generator answers, one per command. */
export type Reply =
  | { op: "open"; opened: number; failed: number; error?: string }
  | { op: "burst"; at: number; received: number; timedOut: boolean }
  | { op: "listen"; delays: number[]; received: number; timedOut: boolean }
  | { op: "send"; sent: number }
  | { op: "close" };

/** Short chat lines, like those of Bun's chat benchmark (not its text). */
const LINES = [
  "hello there",
  "good morning",
  "lunch at noon?",
  "ship it",
  "the build is green",
  "who has the keys",
  "brb",
  "sounds good to me",
  "see you tomorrow",
  "ok",
];

/**
 * How long a member may take to connect and join. A server out of file
 * descriptors leaves new connections waiting in its listen queue; they count
 * as failed after this.
 */
const JOIN_TIMEOUT_MS = 15_000;

const members: BenchClient[] = [];
/** Each member's place in its room. */
const seats = new Map<BenchClient, number>();

/** Opens a member, or fails after {@linkcode JOIN_TIMEOUT_MS}; a late one is closed. */
async function openInTime(spec: MemberSpec, endpoints: Endpoints): Promise<BenchClient> {
  const opening = openClient(spec.kind, endpoints, spec.name, irc, spec.idle ?? false, spec.room);
  if (!(await within(opening, JOIN_TIMEOUT_MS))) {
    opening.then((c) => c.close(), () => {});
    throw new Error(`${spec.name}: not in the room after ${JOIN_TIMEOUT_MS / 1000} s`);
  }
  return await opening;
}
const irc = new IrcRoom();

async function open(command: Extract<Command, { op: "open" }>): Promise<Reply> {
  let failed = 0;
  let error: string | undefined;
  let next = 0;
  const lane = async () => {
    while (next < command.members.length) {
      const spec = command.members[next++]!;
      try {
        const member = await openInTime(spec, command.endpoints);
        members.push(member);
        seats.set(member, spec.seat ?? indexOf(member));
      } catch (e) {
        failed++;
        error ??= e instanceof Error ? e.message : String(e);
      }
    }
  };
  await Promise.all(Array.from({ length: command.concurrency }, lane));
  return {
    op: "open",
    opened: command.members.length - failed,
    failed,
    ...(error ? { error } : {}),
  };
}

/**
 * Resolves when every member of `expected` has received at least what it
 * expects, or at the deadline (false). Each member's progress checks that
 * member only: with thousands of members, checking them all at every
 * progress would cost the generator more than reading does.
 */
function until(expected: Map<BenchClient, number>, timeoutMs: number): Promise<boolean> {
  let waiting = 0;
  for (const [m, n] of expected) if (m.received < n) waiting++;
  if (waiting === 0) return Promise.resolve(true);
  const { promise, resolve } = Promise.withResolvers<boolean>();
  const timer = setTimeout(() => resolve(false), timeoutMs);
  for (const [m, n] of expected) {
    if (m.received >= n) continue;
    m.onProgress = () => {
      if (m.received < n) return;
      m.onProgress = () => {};
      if (--waiting > 0) return;
      clearTimeout(timer);
      resolve(true);
    };
  }
  return promise.finally(() => {
    for (const m of members) m.onProgress = () => {};
  });
}

/**
 * The first `senders` of every room send `perMember` messages each, all at
 * once; resolves when every member has received all of its room's.
 */
async function burst(command: Extract<Command, { op: "burst" }>): Promise<Reply> {
  const { perMember, senders } = command;
  const roomSent = senders * perMember;
  const sends = (m: BenchClient) => seats.get(m)! < senders;
  const sending = members.filter(sends);
  const expected = new Map<BenchClient, number>();
  for (const m of members) {
    m.resetCount();
    m.counting = true;
    const own = sends(m) ? perMember : 0;
    expected.set(m, echoes(m.kind) ? roomSent : roomSent - own);
  }
  const texts = Array.from({ length: perMember }, (_, i) => LINES[i % LINES.length]!);
  const settled = until(expected, command.timeoutMs);
  for (const m of sending) m.say(texts);
  const ok = await settled;
  const at = wallNow();
  for (const m of members) m.counting = false;
  return { op: "burst", at, received: members.reduce((n, m) => n + m.received, 0), timedOut: !ok };
}

/** Member `m12` is number 12 of the room. */
function indexOf(m: BenchClient): number {
  return Number(m.name.slice(1));
}

/**
 * Times what the sampled members receive: `count` messages each, from the
 * one sender of their room (every `senders` member is in a room of its own).
 */
async function listen(command: Extract<Command, { op: "listen" }>): Promise<Reply> {
  const senders = new Set(command.senders);
  const expected = new Map<BenchClient, number>();
  const sampled = members.filter((m) => indexOf(m) % command.sampleEvery === 0);
  for (const m of members) if (!sampled.includes(m)) m.pause();
  for (const m of sampled) {
    m.resetCount();
    m.delays.length = 0;
    m.counting = true;
    m.timing = true;
    const own = senders.has(m.name);
    expected.set(m, own && !echoes(m.kind) ? 0 : command.count);
  }
  const ok = await until(expected, command.timeoutMs);
  for (const m of members) m.resume();
  const delays: number[] = [];
  for (const m of sampled) {
    m.timing = false;
    m.counting = false;
    if (senders.has(m.name)) continue;
    for (const d of m.delays) delays.push(Math.round(d * 1000) / 1000);
    m.delays.length = 0;
  }
  return {
    op: "listen",
    delays,
    received: sampled.reduce((n, m) => n + m.received, 0),
    timedOut: !ok,
  };
}

/**
 * Each of the `senders` held here sends `count` messages `t=<time>`, `rate`
 * a second; with several, their sends take turns evenly over the interval,
 * so the server sees a steady stream, not a burst per tick.
 */
async function send(command: Extract<Command, { op: "send" }>): Promise<Reply> {
  const names = new Set(command.senders);
  const senders = members.filter((m) => names.has(m.name));
  if (senders.length === 0) return { op: "send", sent: 0 };
  const interval = 1000 / (command.rate * senders.length);
  const total = command.count * senders.length;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    // On a fixed schedule: a late send does not push the later ones back.
    const wait = start + i * interval - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    senders[i % senders.length]!.say([`t=${wallNow()}`]);
  }
  return { op: "send", sent: total };
}

async function run(command: Command): Promise<Reply> {
  switch (command.op) {
    case "open":
      return await open(command);
    case "burst":
      return await burst(command);
    case "listen":
      return await listen(command);
    case "send":
      return await send(command);
    case "close":
      await Promise.all(members.map((m) => m.close()));
      members.length = 0;
      seats.clear();
      return { op: "close" };
  }
}

const encoder = new TextEncoder();

async function reply(r: Reply): Promise<void> {
  const bytes = encoder.encode(JSON.stringify(r) + "\n");
  for (let off = 0; off < bytes.length;) off += await Deno.stdout.write(bytes.subarray(off));
}

/** Parses one command line from the coordinator, checking every field. */
function parseCommand(line: string): Command {
  const value: unknown = JSON.parse(line);
  if (typeof value !== "object" || value === null || !("op" in value)) {
    throw new TypeError(`generator: bad command ${line.slice(0, 80)}`);
  }
  const o: Record<string, unknown> = { ...value };
  const num = (key: string) => {
    const v = o[key];
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new TypeError(`generator: ${String(o.op)} needs a number ${key}`);
    }
    return v;
  };
  const names = (key: string) => {
    const v = o[key];
    const list: unknown[] = Array.isArray(v) ? v : [];
    if (!Array.isArray(v) || !list.every((n): n is string => typeof n === "string")) {
      throw new TypeError(`generator: ${String(o.op)} needs ${key}`);
    }
    return list;
  };
  switch (o.op) {
    case "open":
      return {
        op: "open",
        endpoints: parseEndpoints(o.endpoints),
        members: parseMembers(o.members),
        concurrency: num("concurrency"),
      };
    case "burst":
      return {
        op: "burst",
        senders: num("senders"),
        perMember: num("perMember"),
        timeoutMs: num("timeoutMs"),
      };
    case "listen":
      return {
        op: "listen",
        count: num("count"),
        senders: names("senders"),
        sampleEvery: num("sampleEvery"),
        timeoutMs: num("timeoutMs"),
      };
    case "send":
      return { op: "send", senders: names("senders"), rate: num("rate"), count: num("count") };
    case "close":
      return { op: "close" };
    default:
      throw new TypeError(`generator: bad command ${line.slice(0, 80)}`);
  }
}

const PORTS = ["chatWs", "chatTcp", "relayWs", "irc"] as const;

function parseEndpoints(v: unknown): Endpoints {
  if (typeof v !== "object" || v === null) throw new TypeError("generator: bad endpoints");
  const o: Record<string, unknown> = { ...v };
  const endpoints: Endpoints = {};
  for (const key of PORTS) {
    const port = o[key];
    if (typeof port === "number") endpoints[key] = port;
  }
  return endpoints;
}

const KINDS: readonly Kind[] = ["chat-ws", "chat-tcp", "relay-ws", "irc"];

function isKind(v: unknown): v is Kind {
  return KINDS.some((k) => k === v);
}

function parseMembers(v: unknown): MemberSpec[] {
  if (!Array.isArray(v)) throw new TypeError("generator: bad members");
  return v.map((m: unknown) => {
    if (typeof m !== "object" || m === null || !("name" in m) || !("kind" in m)) {
      throw new TypeError("generator: bad member");
    }
    const { name, kind } = m;
    if (typeof name !== "string" || !/^m\d+$/.test(name) || !isKind(kind)) {
      throw new TypeError("generator: bad member");
    }
    const spec: MemberSpec = { name, kind };
    if ("idle" in m && m.idle === true) spec.idle = true;
    if ("room" in m && m.room !== undefined) {
      if (typeof m.room !== "string" || !/^#[a-z0-9]{1,32}$/.test(m.room)) {
        throw new TypeError("generator: bad room");
      }
      spec.room = m.room;
    }
    if ("seat" in m && m.seat !== undefined) {
      if (typeof m.seat !== "number" || !Number.isInteger(m.seat) || m.seat < 0) {
        throw new TypeError("generator: bad seat");
      }
      spec.seat = m.seat;
    }
    return spec;
  });
}

/** The lines of a byte stream, as they complete (the pipe between the pool and a generator). */
export async function* readLines(
  stream: ReadableStream<Uint8Array<ArrayBuffer>>,
): AsyncGenerator<string> {
  let buffered = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf("\n")) !== -1) {
      yield buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
    }
  }
}

if (import.meta.main) {
  // Commands are handled one at a time, except `send`, which runs beside a
  // `listen`: once that `listen` has begun (reset its counts), or the first
  // echoes could be counted and then reset away.
  let queue = Promise.resolve();
  let listening = Promise.resolve();
  for await (const line of readLines(Deno.stdin.readable)) {
    const parsed = parseCommand(line);
    if (parsed.op === "send") {
      listening.then(() => run(parsed)).then(reply);
    } else if (parsed.op === "listen") {
      const began = Promise.withResolvers<void>();
      listening = began.promise;
      queue = queue.then(() => {
        const done = run(parsed); // its counts are reset before this returns
        began.resolve();
        return done;
      }).then(reply);
    } else {
      queue = queue.then(() => run(parsed)).then(reply);
    }
    if (parsed.op === "close") {
      await queue;
      Deno.exit(0);
    }
  }
  // The coordinator is gone: do not linger on open connections.
  Deno.exit(0);
}
