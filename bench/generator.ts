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
}

/** What the coordinator asks a generator to do. */
export type Command =
  | { op: "open"; endpoints: Endpoints; members: MemberSpec[]; concurrency: number }
  | { op: "burst"; senders: number; perMember: number; timeoutMs: number }
  | { op: "listen"; count: number; sender: string; sampleEvery: number; timeoutMs: number }
  | { op: "send"; sender: string; rate: number; count: number }
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

/** Opens a member, or fails after {@linkcode JOIN_TIMEOUT_MS}; a late one is closed. */
async function openInTime(spec: MemberSpec, endpoints: Endpoints): Promise<BenchClient> {
  const opening = openClient(spec.kind, endpoints, spec.name, irc, spec.idle ?? false);
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
        members.push(await openInTime(spec, command.endpoints));
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

/** Resolves when `done()` holds after some member's progress, or at the deadline (false). */
function until(done: () => boolean, timeoutMs: number): Promise<boolean> {
  if (done()) return Promise.resolve(true);
  const { promise, resolve } = Promise.withResolvers<boolean>();
  const timer = setTimeout(() => resolve(false), timeoutMs);
  for (const m of members) {
    m.onProgress = () => {
      if (!done()) return;
      clearTimeout(timer);
      resolve(true);
    };
  }
  return promise.finally(() => {
    for (const m of members) m.onProgress = () => {};
  });
}

async function burst(command: Extract<Command, { op: "burst" }>): Promise<Reply> {
  const { perMember, senders } = command;
  const roomSent = senders * perMember;
  const sending = members.filter((m) => indexOf(m) < senders);
  let waiting = 0;
  const expected = new Map<BenchClient, number>();
  for (const m of members) {
    m.resetCount();
    m.counting = true;
    const own = indexOf(m) < senders ? perMember : 0;
    expected.set(m, echoes(m.kind) ? roomSent : roomSent - own);
    waiting++;
  }
  const texts = Array.from({ length: perMember }, (_, i) => LINES[i % LINES.length]!);
  const finished = new Set<BenchClient>();
  const done = () => {
    if (finished.size < waiting) {
      for (const m of members) {
        if (!finished.has(m) && m.received >= expected.get(m)!) finished.add(m);
      }
    }
    return finished.size === waiting;
  };
  const settled = until(done, command.timeoutMs);
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

async function listen(command: Extract<Command, { op: "listen" }>): Promise<Reply> {
  const expected = new Map<BenchClient, number>();
  const sampled = members.filter((m) => indexOf(m) % command.sampleEvery === 0);
  for (const m of members) if (!sampled.includes(m)) m.pause();
  for (const m of sampled) {
    m.resetCount();
    m.delays.length = 0;
    m.counting = true;
    m.timing = true;
    const own = m.name === command.sender;
    expected.set(m, own && !echoes(m.kind) ? 0 : command.count);
  }
  const ok = await until(
    () => sampled.every((m) => m.received >= expected.get(m)!),
    command.timeoutMs,
  );
  for (const m of members) m.resume();
  const delays: number[] = [];
  for (const m of sampled) {
    m.timing = false;
    m.counting = false;
    if (m.name === command.sender) continue;
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

async function send(command: Extract<Command, { op: "send" }>): Promise<Reply> {
  const sender = members.find((m) => m.name === command.sender);
  if (sender === undefined) throw new RangeError(`no member ${command.sender} here`);
  const interval = 1000 / command.rate;
  const start = performance.now();
  for (let i = 0; i < command.count; i++) {
    // On a fixed schedule: a late send does not push the later ones back.
    const wait = start + i * interval - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    sender.say([`t=${wallNow()}`]);
  }
  return { op: "send", sent: command.count };
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
  const str = (key: string) => {
    const v = o[key];
    if (typeof v !== "string") throw new TypeError(`generator: ${String(o.op)} needs ${key}`);
    return v;
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
        sender: str("sender"),
        sampleEvery: num("sampleEvery"),
        timeoutMs: num("timeoutMs"),
      };
    case "send":
      return { op: "send", sender: str("sender"), rate: num("rate"), count: num("count") };
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
    return { name, kind };
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
