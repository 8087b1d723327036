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
import { MainProcess, startMain } from "./kit/main_process.ts";
import { httpUrl } from "./kit/server.ts";
import { dial } from "./kit/socket.ts";
import { connectTcp } from "./kit/tcp_client.ts";
import { withTempDir } from "./kit/temp_dir.ts";
import { connectWs, joinWs, WsClient } from "./kit/ws_client.ts";

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
      await using first = await startMain({ db });
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

    await using second = await startMain({ db });
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
  await using server = new MainProcess({ db });
  const at = await server.listening;
  const { status, stdout, stderr } = at === undefined
    ? await server.exited()
    : await server.stop("SIGKILL");
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
    await using holder = await startMain({ db });
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

Deno.test("main(): a second server on the same ports and --db names the port in use, not the lock", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/chat.db`;
    await using holder = await startMain({ db });
    const { http, tcp, irc } = holder.address;
    const again = async (ports: readonly number[]) => {
      const [port = 0, tcpPort = 0, ircPort = 0] = ports;
      await using second = new MainProcess({
        db,
        flags: ["--port", `${port}`, "--tcp-port", `${tcpPort}`, "--irc-port", `${ircPort}`],
      });
      assert.equal(await second.listening, undefined);
      const { status, stderr } = await second.exited();
      assert.equal(status.code, 1, stderr);
      return stderr.trim();
    };
    assert.match(
      await again([http.port, tcp.port, irc.port]),
      new RegExp(
        `^chat: --tcp-port ${tcp.port}: cannot listen on 127\\.0\\.0\\.1 port ${tcp.port}: `,
      ),
    );
    assert.match(await again([http.port, 0, 0]), new RegExp(`^chat: --port ${http.port}: `));
    assert.match(await again([0, 0, irc.port]), new RegExp(`^chat: --irc-port ${irc.port}: `));
    // Free ports, the same file: the lock is what is wrong, and said so.
    assert.match(await again([0, 0, 0]), /^chat: --db .*: the database is locked/);
  });
});

Deno.test("main() survives running out of file descriptors, and serves again once there are some", async () => {
  await withTempDir(async (dir) => {
    // Caps above the descriptors: every socket accepted is held (and counted).
    await using server = await startMain({
      db: `${dir}/chat.db`,
      maxOpenFiles: 64,
      flags: ["--max-per-ip", "1000", "--max-clients", "1000"],
    });
    const at = server.address;
    await using before = await connectWs(at, "before");
    // Idle connections to the HTTP port until its accept fails for want of a descriptor.
    const held: Deno.TcpConn[] = [];
    try {
      const failed = server.output(/http accept failed/);
      let stop = false;
      failed.then(() => stop = true, () => stop = true);
      while (!stop && held.length < 200) {
        try {
          held.push(await dial(at.http));
        } catch {
          break; // refused: the listener is down
        }
      }
      await failed;
    } finally {
      for (const conn of held) conn.close();
    }
    await server.output(/http accepting again/);
    const health = await fetch(httpUrl(at, "/healthz"));
    assert.equal(health.status, 200);
    await health.body?.cancel();
    await using web = await connectWs(at, "after");
    web.send({ type: "say", text: "still here" });
    assert.equal((await web.next("message")).text, "still here");
    assert.equal((await before.next("message")).text, "still here", "an earlier member stayed");
  });
});

Deno.test("main(): a relative --db is kept in the directory the command was run in (INIT_CWD, as deno task sets it)", async () => {
  await withTempDir(async (dir) => {
    {
      await using server = await startMain({ db: "here.db", env: { INIT_CWD: dir } });
      await server.stop();
    }
    const stat = await Deno.stat(`${dir}/here.db`);
    assert.ok(stat.isFile, "the database is in the user's directory");
    await assert.rejects(Deno.stat(new URL("../here.db", import.meta.url)), Deno.errors.NotFound);
  });
});
