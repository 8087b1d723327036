import assert from "node:assert/strict";
import { Output, type Sink } from "../server/output.ts";

/** A stream that records what it was written, and can be made to stop reading. */
class FakeSink implements Sink {
  readonly written: string[] = [];
  #gate: PromiseWithResolvers<void> | undefined;
  #stalled = Promise.withResolvers<void>();
  readonly #decoder = new TextDecoder();

  /** From now on, a write waits until {@linkcode resume}. */
  stall(): void {
    this.#gate = Promise.withResolvers<void>();
  }

  /** Settles once a write is waiting on the stall. */
  get stalled(): Promise<void> {
    return this.#stalled.promise;
  }

  resume(): void {
    this.#gate?.resolve();
    this.#gate = undefined;
  }

  async write(bytes: Uint8Array): Promise<number> {
    if (this.#gate) {
      this.#stalled.resolve();
      await this.#gate.promise;
    }
    // Half at a time, as a full pipe takes what it has room for.
    const n = Math.max(1, Math.ceil(bytes.length / 2));
    this.written.push(this.#decoder.decode(bytes.subarray(0, n), { stream: true }));
    return n;
  }

  get text(): string {
    return this.written.join("");
  }
}

const notes = {
  stdout: (n: number) => `[${n} dropped]\n`,
  stderr: (n: number) => `[${n} not shown]\n`,
};

Deno.test("Output writes both streams in the order written, in full, without the writer waiting", async () => {
  const stdout = new FakeSink();
  const stderr = new FakeSink();
  const order: string[] = [];
  const output = new Output({
    notes,
    sinks: {
      stdout: { write: (b) => (order.push("out"), stdout.write(b)) },
      stderr: { write: (b) => (order.push("err"), stderr.write(b)) },
    },
  });
  output.write("stderr", "clear ");
  output.write("stdout", "log line 中文\n");
  output.write("stderr", "prompt");
  assert.ok(output.queued > 0, "queued, not yet written");
  await output.flush();
  assert.equal(output.queued, 0);
  assert.equal(stdout.text, "log line 中文\n");
  assert.equal(stderr.text, "clear prompt");
  // Each write taken whole before the next: the stderr one first, then stdout's.
  assert.deepEqual([...new Set(order.slice(0, order.indexOf("out")))], ["err"]);
  assert.equal(order.lastIndexOf("err") > order.lastIndexOf("out"), true);
});

Deno.test("Output with a stream that stopped reading holds at most its bound, drops the rest, and says how much once it drains", async () => {
  const stdout = new FakeSink();
  const stderr = new FakeSink();
  const output = new Output({ notes, max: 100, sinks: { stdout, stderr } });
  stderr.stall();
  output.write("stderr", "first\n");
  await stderr.stalled;
  output.write("stdout", "log\n");
  for (let i = 0; i < 50; i++) output.write("stderr", `line ${i}\n`);
  output.write("stdout", "dropped too\n");
  assert.ok(output.queued <= 100, `${output.queued} bytes queued`);
  // A write of more than the bound is dropped whole, before it is encoded.
  output.write("stderr", "x".repeat(1_000_000));
  stderr.resume();
  await output.flush();
  const shown = stderr.text.split("\n").filter((line) => line !== "");
  const kept = shown.filter((line) => line.startsWith("line "));
  assert.ok(kept.length > 0 && kept.length < 50, `${kept.length} kept`);
  assert.deepEqual(kept, kept.map((_, i) => `line ${i}`), "the first ones, in order");
  assert.equal(shown.at(-1), `[${50 - kept.length + 1} not shown]`);
  assert.equal(stdout.text, "log\n[1 dropped]\n");
  // Once said, not again.
  output.write("stderr", "later\n");
  await output.flush();
  assert.equal(stderr.text.split("\n").filter((l) => l.startsWith("[")).length, 1);
});

Deno.test("Output goes on with one stream when the other fails", async () => {
  const stdout = new FakeSink();
  const output = new Output({
    notes,
    sinks: { stdout, stderr: { write: () => Promise.reject(new Error("EIO: terminal closed")) } },
  });
  output.write("stderr", "gone");
  output.write("stdout", "still here\n");
  await output.flush();
  assert.equal(stdout.text, "still here\n");
  assert.equal(output.queued, 0);
});

Deno.test("Output writes a line that comes just as the queue has drained, and flush() waits for it", async () => {
  for (let turns = 0; turns < 12; turns++) {
    const written: string[] = [];
    const decoder = new TextDecoder();
    const sink = {
      write: (bytes: Uint8Array) => {
        written.push(decoder.decode(bytes));
        return Promise.resolve(bytes.length);
      },
    };
    const output = new Output({ notes, sinks: { stdout: sink, stderr: sink } });
    output.write("stdout", "first\n");
    for (let i = 0; i < turns; i++) await Promise.resolve();
    output.write("stdout", "last\n");
    await output.flush();
    assert.deepEqual(written, ["first\n", "last\n"], `${turns} turns later`);
    assert.equal(output.queued, 0);
  }
});
