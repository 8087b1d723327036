/**
 * The join screen says who is in #lobby before a name is picked, as a
 * terminal is told ("2 here: …"), from `GET /here`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { httpUrl } from "../kit/server.ts";
import { connectTcp } from "../kit/tcp_client.ts";
import { connectWs } from "../kit/ws_client.ts";
import { openPage, withBrowserServer } from "./browser.ts";

Deno.test("page: the join screen shows who is here before a name is picked", async () => {
  await withBrowserServer({}, async (browser, server) => {
    const empty = await openPage(browser, httpUrl(server), "desktop", { clock: true });
    await empty.page.locator("#here", { hasText: "Nobody is here yet." }).waitFor();
    await using _alice = await connectWs(server, "alice");
    await using _bob = await connectTcp(server, "bob");
    const { page, problems } = await openPage(browser, httpUrl(server));
    await page.locator("#here", { hasText: "2 here: alice (web), bob (terminal)." }).waitFor();
    assert.ok(await page.locator("#join-view #here").isVisible());
    // A page left on the join screen asks again, every 15 s.
    await empty.page.clock.runFor(15_000);
    await empty.page.locator("#here", { hasText: "2 here: alice (web), bob (terminal)." })
      .waitFor();
    assert.deepEqual([...empty.problems, ...problems], []);
  });
});
