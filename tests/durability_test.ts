/**
 * End-to-end tests of durable history: the real program (`main.ts`) in its
 * own process with `--db` on a temporary file, killed and started again, or
 * refused a database it cannot use.
 *
 * Every wait is on the child's output or exit, never on a clock.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ChatMessage } from "../common/protocol.ts";
import { connectTcp, connectWs, joinWs, type Listening, withTempDir, WsClient } from "./helpers.ts";

/** How a server process ended, and everything it wrote. */
interface Exit {
  status: Deno.CommandStatus;
  stdout: string;
  stderr: string;
}

const PAGE_LINE = /^chat: page\s+http:\/\/([^/\s]+):(\d+)\/$/m;
const TERMINAL_LINE = /^chat: terminal\s+nc (\S+) (\d+)\b/m;

/** Where the server said it listens, once it has said so in full. */
function addresses(stdout: string): Listening | undefined {
  const [, httpHost, httpPort] = PAGE_LINE.exec(stdout) ?? [];
  const [, tcpHost, tcpPort] = TERMINAL_LINE.exec(stdout) ?? [];
  if (!httpHost || !httpPort || !tcpHost || !tcpPort) return undefined;
  return {
    http: { transport: "tcp", hostname: httpHost, port: Number(httpPort) },
    tcp: { transport: "tcp", hostname: tcpHost, port: Number(tcpPort) },
  };
}

/** `main.ts` on free ports in a child process, its output collected as it comes. */
class ServerProcess implements AsyncDisposable {
  /** Where it listens once it has printed so; undefined if its output ended first. */
  readonly listening: Promise<Listening | undefined>;
  readonly #child: Deno.ChildProcess;
  readonly #stdout: Promise<string>;
  readonly #stderr: Promise<string>;
  #at: Listening | undefined;
  #exit: Promise<Exit> | undefined;

  /** Waiters for a pattern in the output so far; settled by {@linkcode #readStdout}. */
  readonly #waiters = new Set<() => void>();
  #text = "";
  #ended = false;

  /** With `maxOpenFiles`, the server runs under `ulimit -n` of that many. */
  constructor(db: string, maxOpenFiles?: number) {
    const deno = Deno.execPath();
    const args = [
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
    ];
    const [command, argv] = maxOpenFiles === undefined
      ? [deno, args]
      : ["bash", ["-c", `ulimit -n ${maxOpenFiles} && exec "$0" "$@"`, deno, ...args]];
    this.#child = new Deno.Command(command, {
      args: argv,
      cwd: new URL("..", import.meta.url),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const { promise, resolve } = Promise.withResolvers<Listening | undefined>();
    this.listening = promise;
    this.#stdout = this.#readStdout(resolve);
    this.#stderr = new Response(this.#child.stderr).text();
  }

  /** Where it listens; throws if it has not said so (yet). */
  get address(): Listening {
    if (this.#at === undefined) throw new Error("The server has not said where it listens");
    return this.#at;
  }

  /** Waits until the output so far matches `pattern`; rejects if the output ends first. */
  output(pattern: RegExp): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const check = () => {
      if (pattern.test(this.#text)) resolve();
      else if (this.#ended) reject(new Error(`the output ended without ${pattern}: ${this.#text}`));
      else return;
      this.#waiters.delete(check);
    };
    this.#waiters.add(check);
    check();
    return promise;
  }

  /** Sends `signal` (unless it has exited) and waits for the exit. Idempotent. */
  stop(signal: Deno.Signal = "SIGKILL"): Promise<Exit> {
    if (this.#exit === undefined) {
      try {
        this.#child.kill(signal);
      } catch (e) {
        // Already exited on its own: nothing to stop.
        if (!(e instanceof TypeError)) throw e;
      }
    }
    return this.exited();
  }

  /** Waits for the process to exit by itself and for the end of its output. */
  exited(): Promise<Exit> {
    this.#exit ??= (async () => {
      const [status, stdout, stderr] = await Promise.all([
        this.#child.status,
        this.#stdout,
        this.#stderr,
      ]);
      return { status, stdout, stderr };
    })();
    return this.#exit;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #readStdout(ready: (at: Listening | undefined) => void): Promise<string> {
    let text = "";
    try {
      for await (const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
        text += chunk;
        this.#text = text;
        this.#at ??= addresses(text);
        if (this.#at) ready(this.#at);
        for (const check of this.#waiters) check();
      }
    } finally {
      ready(undefined);
      this.#ended = true;
      for (const check of this.#waiters) check();
    }
    return text;
  }
}

/** Starts `main.ts` on `db` and waits until it listens. */
async function startServer(db: string, maxOpenFiles?: number): Promise<ServerProcess> {
  const server = new ServerProcess(db, maxOpenFiles);
  const at = await server.listening;
  if (at === undefined) {
    const { status, stderr } = await server.exited();
    assert.fail(`the server exited (${status.code}) before listening: ${stderr}`);
  }
  return server;
}

/** What a message is, without when it was said. */
function gist(m: ChatMessage): string {
  return `${m.from}${m.action ? " (action)" : ""}${m.to ? ` to ${m.to}` : ""}: ${m.text}`;
}

Deno.test("main() keeps messages said over TCP and WebSocket across kill -9 and a restart", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/chat.db`;
    const said: ChatMessage[] = [];
    let privateId = 0;
    {
      await using first = await startServer(db);
      const at = first.address;
      await using term = await connectTcp(at, "term");
      await using web = await connectWs(at, "web");
      await term.readUntil("-- web joined (web)");
      await term.send("from the terminal");
      said.push(await web.next("message"));
      web.send({ type: "say", text: "from the page" });
      said.push(await web.next("message"));
      await term.send("/me waves from the terminal");
      said.push(await web.next("message"));
      web.send({ type: "me", text: "waves from the page" });
      said.push(await web.next("message"));
      web.send({ type: "say", text: "你好，世界 🌏" });
      said.push(await web.next("message"));
      await term.send("/msg web a secret");
      privateId = (await web.next("message")).id;
      assert.deepEqual(said.map(gist), [
        "term: from the terminal",
        "web: from the page",
        "term (action): waves from the terminal",
        "web (action): waves from the page",
        "web: 你好，世界 🌏",
      ]);

      // Everything above was delivered, so it must be on disk now.
      const exit = await first.stop("SIGKILL");
      assert.equal(exit.status.signal, "SIGKILL");
      await web.closed;
      await term.readToEnd();
    }
    const before = Math.max(privateId, ...said.map((m) => m.id));

    await using second = await startServer(db);
    const at = second.address;
    await using late = await WsClient.open(at);
    const welcome = await joinWs(late, "late");
    assert.deepEqual(welcome.history, said, "the same messages, ids and times, in order");
    assert.equal(welcome.gap, undefined);

    await using term = await connectTcp(at, "term2");
    const shown = await term.readLinesUntil("-- End of history.");
    const history = shown.filter((l) => l.startsWith("(history) "));
    assert.deepEqual(history.map((l) => l.replace(/^\(history\) \[\d\d:\d\d\] /, "")), [
      "<term> from the terminal",
      "<web> from the page",
      "* term waves from the terminal",
      "* web waves from the page",
      "<web> 你好，世界 🌏",
    ]);

    late.send({ type: "say", text: "after the restart" });
    const fresh = await late.next("message", (m) => m.text === "after the restart");
    assert.ok(fresh.id > before, `new id ${fresh.id} after ${before}`);
    await term.send("/msg late another secret");
    const whisper = await late.next("message", (m) => m.to === "late");
    assert.ok(whisper.id > fresh.id, `private id ${whisper.id} after ${fresh.id}`);
  });
});

/** Runs `main.ts` on `db`, expecting it to refuse; returns the one line it printed. */
async function refusal(db: string): Promise<string> {
  await using server = new ServerProcess(db);
  const at = await server.listening;
  const { status, stdout, stderr } = at === undefined ? await server.exited() : await server.stop();
  assert.equal(at, undefined, `it listened: ${stdout}`);
  assert.equal(status.code, 1, `exit code; stderr: ${stderr}`);
  assert.ok(!stdout.includes("chat: page"), stdout);
  const lines = stderr.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, `one line: ${JSON.stringify(stderr)}`);
  const [line = ""] = lines;
  assert.ok(line.startsWith(`chat: --db ${db}: `), line);
  return line;
}

Deno.test("main() refuses --db in a missing directory with one line and exit code 1", async () => {
  await withTempDir(async (dir) => {
    const line = await refusal(`${dir}/missing/chat.db`);
    assert.match(line, /cannot open/);
    await assert.rejects(Deno.stat(`${dir}/missing`), Deno.errors.NotFound);
  });
});

Deno.test("main() refuses a corrupt --db file with one line and exit code 1", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/corrupt.db`;
    const bytes = crypto.getRandomValues(new Uint8Array(8192));
    await Deno.writeFile(db, bytes);
    assert.match(await refusal(db), /cannot use/);
    assert.deepEqual(await Deno.readFile(db), bytes, "the file is left as it was");
  });
});

Deno.test("main() refuses a --db file another running server holds with one line and exit code 1", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/chat.db`;
    await using holder = await startServer(db);
    const at = holder.address;
    assert.match(await refusal(db), /locked/);
    // The holder keeps working, and stops cleanly on SIGTERM.
    await using web = await connectWs(at, "web");
    web.send({ type: "say", text: "still here" });
    assert.equal((await web.next("message")).text, "still here");
    const exit = await holder.stop("SIGTERM");
    assert.equal(exit.status.code, 0, exit.stderr);
    assert.equal(exit.stderr, "");
  });
});

Deno.test("main() survives running out of file descriptors, and serves again once there are some", async () => {
  await withTempDir(async (dir) => {
    await using server = await startServer(`${dir}/chat.db`, 64);
    const at = server.address;
    await using before = await connectWs(at, "before");
    // Idle connections to the HTTP port until its accept fails for want of a descriptor.
    const held: Deno.TcpConn[] = [];
    try {
      const failed = server.output(/HTTP listener failed/);
      let stop = false;
      failed.then(() => stop = true, () => stop = true);
      while (!stop && held.length < 200) {
        try {
          held.push(await Deno.connect({ hostname: at.http.hostname, port: at.http.port }));
        } catch {
          break; // refused: the listener is down
        }
      }
      await failed;
    } finally {
      for (const conn of held) conn.close();
    }
    await server.output(/HTTP listener back/);
    const health = await fetch(`http://${at.http.hostname}:${at.http.port}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    await using web = await connectWs(at, "after");
    web.send({ type: "say", text: "still here" });
    assert.equal((await web.next("message")).text, "still here");
    assert.equal((await before.next("message")).text, "still here", "an earlier member stayed");
  });
});
