/**
 * `deno task cluster` (`server/launch.ts`): what its command line means, and
 * that nothing it started outlives it, whether it is stopped as `deno task`
 * stops it on Ctrl-C (the signal twice: from the terminal and passed on by
 * `deno task`) or killed outright.
 */

import assert from "node:assert/strict";
import { within } from "../server/deadline.ts";
import { parseLaunch } from "../server/launch.ts";
import { withTempDir } from "./kit/temp_dir.ts";
import { Waiters } from "./kit/waiters.ts";

Deno.test("parseLaunch() reads N and the nodes' flags", () => {
  assert.deepEqual(parseLaunch([], 2), { nodes: 2, flags: [], redis: undefined });
  // `deno task cluster -- 3`, as with npm.
  assert.deepEqual(parseLaunch(["--", "3"], 2), { nodes: 3, flags: [], redis: undefined });
  assert.deepEqual(parseLaunch(["3", "--port", "80"], 2), {
    nodes: 3,
    flags: ["--port", "80"],
    redis: undefined,
  });
  assert.deepEqual(parseLaunch(["--reuse-port", "--redis=redis://h:1"], 1), {
    nodes: 1,
    flags: ["--redis=redis://h:1"],
    redis: "redis://h:1",
  });
  assert.match(String(parseLaunch(["0"], 2)), /^N must be from 1 to 64/);
  assert.match(String(parseLaunch(["65"], 2)), /^N must be from 1 to 64/);
  assert.match(String(parseLaunch(["--db", "x.db"], 2)), /^--db is not for a cluster/);
  assert.equal(parseLaunch(["--help"], 2), "help");
  assert.equal(parseLaunch(["3", "--port", "80", "-h"], 2), "help");
});

Deno.test("deno task cluster --help says what it does and starts nothing", async () => {
  await withTempDir(async (dir) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../server/launch.ts", import.meta.url).pathname, "--help"],
      cwd: dir,
      env: { INIT_CWD: dir },
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.match(text, /^Usage: deno task cluster \[N\] \[FLAGS\]\n/);
    assert.match(text, /Ctrl-C stops the nodes, then Redis\./);
    assert.doesNotMatch(text, /\[node 1\]/);
    // No Redis was started for it: its data folder was never made.
    assert.equal(await Deno.stat(`${dir}/.cluster`).then(() => true, () => false), false);
  });
});

/** The launcher, `nodes` nodes on free ports, in `dir`; its output gathered as it comes. */
class Launcher {
  readonly child: Deno.ChildProcess;
  text = "";
  readonly #waiters = new Waiters();
  readonly #read: Promise<void>;

  /**
   * `underShell`: started by a shell that waits for it, as `deno task` runs
   * it; `child` is then the shell.
   */
  constructor(dir: string, nodes = 1, underShell = false) {
    const launch = new URL("../server/launch.ts", import.meta.url).pathname;
    // In a process group of its own, so that a test can kill it and its nodes at once.
    this.child = new Deno.Command("setsid", {
      args: [
        ...underShell ? ["sh", "-c", '"$@" & wait', "sh"] : [],
        Deno.execPath(),
        "run",
        "-A",
        launch,
        String(nodes),
        "--port",
        "0",
        "--tcp-port",
        "0",
        "--irc-port",
        "0",
      ],
      cwd: dir,
      env: { INIT_CWD: dir },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const read = async (stream: Deno.ChildProcess["stdout"]) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        this.text += chunk;
        this.#waiters.wake();
      }
    };
    this.#read = Promise.all([read(this.child.stdout), read(this.child.stderr)]).then(() => {
      this.#waiters.end(new Error(`the launcher's output ended:\n${this.text}`));
    });
  }

  /** Waits until its output matches `pattern`; the match. */
  until(pattern: RegExp): Promise<RegExpExecArray> {
    return this.#waiters.until(
      () => pattern.exec(this.text) ?? undefined,
      () => `for ${pattern}, the launcher wrote:\n${this.text}`,
    );
  }

  /** Its exit, once its output is all read. */
  async exit(): Promise<Deno.CommandStatus> {
    const status = await this.child.status;
    await this.#read;
    return status;
  }
}

/** True once nothing accepts connections on `port` (within 10 s). */
async function closed(port: number): Promise<boolean> {
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        // Still there: a round trip to it, then look again.
        await conn.write(new TextEncoder().encode("PING\r\n"));
        await conn.read(new Uint8Array(64));
      } finally {
        conn.close();
      }
    } catch (e) {
      if (e instanceof Deno.errors.ConnectionRefused) return true;
      // Closing as it was asked (a connection it had not accepted yet is
      // reset, even before Deno.connect has read its peer's address): look again.
      if (
        e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BrokenPipe ||
        e instanceof Deno.errors.NotConnected
      ) continue;
      throw e;
    }
  }
  return false;
}

async function started(launcher: Launcher): Promise<number> {
  const [, port] = await launcher.until(/cluster: redis-server redis:\/\/127\.0\.0\.1:(\d+)/);
  await launcher.until(/\[node 1\] .*msg=started/);
  return Number(port);
}

Deno.test("deno task cluster: Ctrl-C, seen twice as under deno task, stops the node, then Redis", async () => {
  await withTempDir(async (dir) => {
    const launcher = new Launcher(dir);
    let done = false;
    try {
      const port = await started(launcher);
      launcher.child.kill("SIGINT");
      // deno task's copy of it comes once the launcher is already stopping.
      await launcher.until(/cluster: stopping the nodes/);
      launcher.child.kill("SIGINT");
      const status = await launcher.exit();
      done = true;
      assert.equal(status.code, 0, launcher.text);
      assert.match(launcher.text, /\[node 1\] .*msg=stopped[\s\S]*cluster: stopped/);
      assert.ok(await closed(port), "redis-server stopped with it");
    } finally {
      if (!done) {
        Deno.kill(-launcher.child.pid, "SIGKILL");
        await launcher.exit();
      }
    }
  });
});

Deno.test("deno task cluster: a launcher killed outright takes its Redis with it", async () => {
  await withTempDir(async (dir) => {
    const launcher = new Launcher(dir);
    try {
      const port = await started(launcher);
      // The launcher and its node (its process group); Redis is in a session of its own.
      Deno.kill(-launcher.child.pid, "SIGKILL");
      await launcher.exit();
      assert.ok(await closed(port), "redis-server stopped once its launcher was gone");
    } finally {
      try {
        Deno.kill(-launcher.child.pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
  });
});

Deno.test("deno task cluster: a node killed outright is started again, the other carrying on", async () => {
  await withTempDir(async (dir) => {
    const launcher = new Launcher(dir, 2);
    let done = false;
    try {
      await started(launcher);
      await launcher.until(/\[node 2\] .*msg=started/);
      const [, pid] = await launcher.until(/cluster: node 2 started, pid (\d+)/);
      Deno.kill(Number(pid), "SIGKILL");
      await launcher.until(/cluster: node 2 was stopped by SIGKILL; the other nodes carry on/);
      await launcher.until(/\[node 2\] .*msg=started[\s\S]*\[node 2\] .*msg=started/);
      launcher.child.kill("SIGINT");
      const status = await launcher.exit();
      done = true;
      assert.equal(status.code, 0, launcher.text);
      assert.equal(launcher.text.match(/cluster: node 1 started/g)?.length, 1, launcher.text);
      assert.match(launcher.text, /\[node 1\] .*msg=stopped/);
    } finally {
      if (!done) {
        Deno.kill(-launcher.child.pid, "SIGKILL");
        await launcher.exit();
      }
    }
  });
});

Deno.test("deno task cluster: a launcher killed outright takes its nodes with it", async () => {
  await withTempDir(async (dir) => {
    const launcher = new Launcher(dir);
    try {
      await started(launcher);
      const [, port] = await launcher.until(/\[node 1\] .*msg=started .*tcp=127\.0\.0\.1:(\d+)/);
      // The launcher alone: its node is in its process group, and is not sent anything.
      Deno.kill(launcher.child.pid, "SIGKILL");
      await launcher.exit();
      assert.ok(await closed(Number(port)), "the node stopped once its launcher was gone");
    } finally {
      try {
        Deno.kill(-launcher.child.pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
  });
});

Deno.test("deno task cluster: a launcher whose parent was killed outright stops its nodes, then Redis", async () => {
  await withTempDir(async (dir) => {
    const launcher = new Launcher(dir, 1, true);
    try {
      const redis = await started(launcher);
      const [, port] = await launcher.until(/\[node 1\] .*msg=started .*tcp=127\.0\.0\.1:(\d+)/);
      // The shell alone, as `deno task` killed with -9: the launcher is left
      // with nobody to stop it, and stops by itself.
      Deno.kill(launcher.child.pid, "SIGKILL");
      assert.ok(
        await within(launcher.until(/cluster: what started it has ended: stopping/), 10_000),
        `the launcher went on:\n${launcher.text}`,
      );
      await launcher.until(/cluster: stopped/);
      assert.match(launcher.text, /\[node 1\] .*msg=stopped[\s\S]*cluster: stopping redis-server/);
      assert.ok(await closed(Number(port)), "the node stopped");
      assert.ok(await closed(redis), "redis-server stopped");
    } finally {
      try {
        Deno.kill(-launcher.child.pid, "SIGKILL");
      } catch {
        // Gone already.
      }
      await launcher.exit();
    }
  });
});

Deno.test("deno task cluster: a redis-server that cannot start is told at once, with its reason", async () => {
  await withTempDir(async (dir) => {
    // A corrupt append-only file: Redis refuses to start on it.
    const aof = `${dir}/.cluster/redis/appendonlydir`;
    await Deno.mkdir(aof, { recursive: true });
    await Deno.writeTextFile(`${aof}/appendonly.aof.manifest`, "not a manifest\n");
    const launcher = new Launcher(dir);
    try {
      const status = await launcher.exit();
      assert.equal(status.code, 1, launcher.text);
      assert.match(launcher.text, /cluster: redis-server stopped: .*Invalid AOF manifest/);
      assert.doesNotMatch(launcher.text, /\[node 1\]/);
    } finally {
      try {
        Deno.kill(-launcher.child.pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
  });
});
