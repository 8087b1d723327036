/**
 * Fan-out benchmark: a room of WebSocket and TCP members, each sending a
 * burst of chat lines; measures messages delivered per second, then
 * send-to-receive latency at a fixed rate below saturation, and the server's
 * resident memory.
 *
 * The server runs as its own process (`main.ts`, ports 0) on 127.0.0.1; this
 * process is the load generator, so on a 2-core machine the figures are a
 * floor: the generator parses every frame it receives. Usage:
 *
 * ```sh
 * deno task bench [--members 32] [--tcp 8] [--burst 100] [--rate 200] [--seconds 3]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parseServerFrame } from "../server/protocol.ts";
import { SqliteHistory } from "../server/store.ts";

const { values } = parseArgs({
  options: {
    members: { type: "string", default: "32" },
    tcp: { type: "string", default: "8" },
    burst: { type: "string", default: "100" },
    rate: { type: "string", default: "200" },
    seconds: { type: "string", default: "3" },
  },
});
const MEMBERS = Number(values.members);
const TCP = Number(values.tcp);
const BURST = Number(values.burst);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
if (![MEMBERS, TCP, BURST, RATE, SECONDS].every((n) => Number.isInteger(n) && n >= 0)) {
  console.error("bench: every flag takes a whole number");
  Deno.exit(2);
}
if (TCP > MEMBERS || MEMBERS < 2) {
  console.error("bench: need --members >= 2 and --tcp <= --members");
  Deno.exit(2);
}

/** One member of the room, either transport, counting what it receives. */
interface Peer {
  nick: string;
  /** Terminal members are not sent their own plain messages back. */
  terminal: boolean;
  received: number;
  /** Called with the text of each chat message received. */
  onText: (text: string) => void;
  say(text: string): void;
  close(): Promise<void>;
}

const encoder = new TextEncoder();

async function startServer(db: string): Promise<
  { pid: number; http: string; tcp: number; stop(): Promise<void> }
> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run",
      "main.ts",
      "--port",
      "0",
      "--tcp-port",
      "0",
      "--db",
      db,
      // The load is many members on one address, each sending many messages
      // a second: lift the limits that would (rightly) refuse it.
      "--flood-burst",
      "1000000",
      "--flood-rate",
      "1000000",
      "--max-per-ip",
      "1000000",
    ],
    cwd: new URL("..", import.meta.url),
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/terminal\s+nc \S+ (\d+)/.test(text)) {
    const { value, done } = await lines.read();
    if (done) throw new Error("bench: the server exited before listening");
    text += value;
  }
  lines.releaseLock();
  child.stdout.cancel().catch(() => {});
  const http = /page\s+(http:\/\/\S+)/.exec(text)?.[1];
  const tcp = Number(/terminal\s+nc \S+ (\d+)/.exec(text)?.[1]);
  if (!http) throw new Error("bench: cannot read the server's address");
  return {
    pid: child.pid,
    http,
    tcp,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** Resident memory of a process, in KiB (`ps`, as /proc needs --allow-all). */
async function rssKiB(pid: number): Promise<number> {
  const out = await new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(pid)] }).output();
  return Number(new TextDecoder().decode(out.stdout).trim());
}

async function wsPeer(url: string, nick: string): Promise<Peer> {
  const socket = new WebSocket(url.replace(/^http/, "ws") + "ws");
  const peer: Peer = {
    nick,
    terminal: false,
    received: 0,
    onText: () => {},
    say: (text) => socket.send(JSON.stringify({ type: "say", text })),
    close: async () => {
      const closed = new Promise((r) => socket.addEventListener("close", r));
      socket.close();
      await closed;
    },
  };
  const welcomed = Promise.withResolvers<void>();
  socket.onmessage = (e) => {
    if (typeof e.data !== "string") return;
    const parsed = parseServerFrame(e.data);
    if (!parsed.ok) throw new Error(parsed.message);
    for (const event of parsed.value) {
      if (event.type === "welcome") welcomed.resolve();
      if (event.type === "message") {
        peer.received++;
        peer.onText(event.text);
      }
    }
  };
  await new Promise((r) => socket.addEventListener("open", r));
  socket.send(JSON.stringify({ type: "join", nick }));
  await welcomed.promise;
  return peer;
}

async function tcpPeer(port: number, nick: string): Promise<Peer> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const welcomed = Promise.withResolvers<void>();
  let pending = "";
  let writing = Promise.resolve();
  const peer: Peer = {
    nick,
    terminal: true,
    received: 0,
    onText: () => {},
    say: (text) => {
      writing = writing.then(async () => {
        const bytes = encoder.encode(`${text}\n`);
        for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
      });
    },
    close: async () => {
      await writing;
      conn.close();
      await reading;
    },
  };
  const reading = (async () => {
    const decoder = new TextDecoder();
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        pending += decoder.decode(buf.subarray(0, n), { stream: true });
        let end;
        while ((end = pending.indexOf("\r\n")) !== -1) {
          const line = pending.slice(0, end);
          pending = pending.slice(end + 2);
          if (line.includes("-- Hello")) welcomed.resolve();
          const at = line.indexOf("> ");
          if (line.startsWith("[") && at !== -1) {
            peer.received++;
            peer.onText(line.slice(at + 2));
          }
        }
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted)) throw e;
    }
  })();
  await writing;
  peer.say(nick);
  await welcomed.promise;
  return peer;
}

/**
 * Resolves once every peer has received `count` more messages; `seen` is
 * called with each message's text.
 */
function allReceive(
  peers: Peer[],
  count: (p: Peer) => number,
  seen: (text: string) => void = () => {},
): Promise<void> {
  const done = Promise.withResolvers<void>();
  let waiting = peers.length;
  for (const p of peers) {
    const target = p.received + count(p);
    p.onText = (text) => {
      seen(text);
      if (p.received === target && --waiting === 0) done.resolve();
    };
  }
  return done.promise;
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/** What one run measured. */
interface Result {
  stored: number;
  deliveries: number;
  burstMs: number;
  latencies: number[];
  rss: [idle: number, joined: number, burst: number];
}

async function run(db: string): Promise<Result> {
  const server = await startServer(db);
  const peers: Peer[] = [];
  try {
    const idleRss = await rssKiB(server.pid);
    for (let i = 0; i < MEMBERS; i++) {
      const nick = `m${i}`;
      peers.push(i < TCP ? await tcpPeer(server.tcp, nick) : await wsPeer(server.http, nick));
    }
    const joinedRss = await rssKiB(server.pid);

    // Phase 1: every member sends a burst. WebSocket members get their own
    // messages back too; terminal members do not.
    const perPeer = (p: Peer) => (p.terminal ? MEMBERS - 1 : MEMBERS) * BURST;
    const delivered = allReceive(peers, perPeer);
    const t0 = performance.now();
    for (let k = 0; k < BURST; k++) for (const p of peers) p.say(`burst ${k} from ${p.nick}`);
    await delivered;
    const burstMs = performance.now() - t0;
    const deliveries = peers.reduce((n, p) => n + perPeer(p), 0);
    const burstRss = await rssKiB(server.pid);

    // Phase 2: the last member (WebSocket when there is one) sends at a fixed
    // rate; everyone else records the time from send to receive.
    const sender = peers.at(-1)!;
    const receivers = peers.slice(0, -1);
    const latencies: number[] = [];
    const count = RATE * SECONDS;
    const everyone = allReceive(receivers, () => count, (text) => {
      const sent = /^t=([\d.]+)$/.exec(text)?.[1];
      if (sent) latencies.push(performance.now() - Number(sent));
    });
    for (let i = 0; i < count; i++) {
      sender.say(`t=${performance.now()}`);
      await new Promise((r) => setTimeout(r, 1000 / RATE));
    }
    await everyone;
    latencies.sort((a, b) => a - b);
    return {
      stored: MEMBERS * BURST,
      deliveries,
      burstMs,
      latencies,
      rss: [idleRss, joinedRss, burstRss],
    };
  } finally {
    await Promise.all(peers.map((p) => p.close()));
    await server.stop();
  }
}

/** Appends per second to the store alone, as the room does them (one per message). */
function storeRate(db: string, n = 20_000): number {
  const store = new SqliteHistory(db, 10_000);
  try {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      store.append({
        type: "message",
        id: store.nextId(),
        ts: Date.now(),
        from: "m1",
        text: `m ${i}`,
      });
    }
    return n / ((performance.now() - t0) / 1000);
  } finally {
    store.close();
  }
}

const dir = await Deno.makeTempDir({ prefix: "chat-bench-" });
try {
  const modes = [["--db :memory:", ":memory:"], ["--db FILE (WAL)", `${dir}/bench.db`]] as const;
  const results: [string, Result][] = [];
  const rates: string[] = [];
  for (const [label, db] of modes) {
    console.error(`bench: ${label} …`);
    results.push([label, await run(db)]);
    rates.push(
      Math.round(storeRate(db === ":memory:" ? db : `${dir}/store.db`)).toLocaleString("en"),
    );
  }
  const perSecond = (n: number, ms: number) => Math.round(n / (ms / 1000)).toLocaleString("en");
  const mib = (kib: number) => (kib / 1024).toFixed(1);
  console.log(`## Fan-out, ${MEMBERS} members (${MEMBERS - TCP} WebSocket, ${TCP} TCP)\n`);
  console.log(`| measure | ${results.map(([label]) => label).join(" | ")} |`);
  console.log(`| --- | ${results.map(() => "---").join(" | ")} |`);
  const row = (name: string, cell: (r: Result) => string) =>
    console.log(`| ${name} | ${results.map(([, r]) => cell(r)).join(" | ")} |`);
  row(`burst of ${BURST} from each member: time`, (r) => `${r.burstMs.toFixed(0)} ms`);
  row("messages stored per second", (r) => perSecond(r.stored, r.burstMs));
  row("messages delivered per second", (r) => perSecond(r.deliveries, r.burstMs));
  row(
    `latency at ${RATE} msg/s: p50 / p99 / max`,
    (r) =>
      `${percentile(r.latencies, 0.5).toFixed(2)} / ${percentile(r.latencies, 0.99).toFixed(2)} / ${
        (r.latencies.at(-1) ?? NaN).toFixed(2)
      } ms`,
  );
  row("server RSS: idle / joined / after burst", (r) => r.rss.map(mib).join(" / ") + " MiB");
  console.log(`| store alone: appends per second (20,000, keep 10,000) | ${rates.join(" | ")} |`);
} finally {
  await Deno.remove(dir, { recursive: true });
}
