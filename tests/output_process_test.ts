/**
 * The real program whose standard output stops being read (a terminal gone
 * quiet, a pipe into a paused pager): it goes on serving, and its log
 * resumes where it was once read again (`server/output.ts`).
 */

import assert from "node:assert/strict";
import { within } from "../server/deadline.ts";
import { LIFTED_LIMITS, startMain } from "./kit/main_process.ts";
import { httpUrl } from "./kit/server.ts";
import { connectTcp } from "./kit/tcp_client.ts";

Deno.test("main.ts whose standard output is not read goes on serving, and its log goes on once it is read", async () => {
  await using server = await startMain({ db: ":memory:", flags: LIFTED_LIMITS });
  const at = server.address;
  const held = server.holdOutput();
  // Each member that comes and goes logs two lines (about 300 bytes): 2,000
  // of them write more than a pipe holds (64 KiB), less than the log queues.
  const comeAndGo = async (nick: string) => {
    const member = await connectTcp(at, nick);
    await member.close();
  };
  const served = (async () => {
    for (let round = 0; round < 40; round++) {
      await Promise.all(Array.from({ length: 50 }, (_, i) => comeAndGo(`m${round}x${i}`)));
    }
    await using watcher = await connectTcp(at, "watcher");
    await using last = await connectTcp(at, "last");
    await last.send("still here");
    await watcher.readUntil((line) => line.endsWith("still here"));
    const health = await fetch(httpUrl(at, "/healthz"));
    await health.body?.cancel();
    return health.status;
  })();
  // A server stopped by its log would never get there.
  assert.ok(await within(served, 20_000), "served while its standard output was not read");
  assert.equal(await served, 200);
  held.release();
  await server.output(/msg=join nick=last\b/);
});
