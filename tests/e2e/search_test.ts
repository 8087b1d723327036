/**
 * The page's search in Chromium: the search box, its answers (newest
 * first, only the rooms the page is in), a find shown in its context with
 * the line highlighted, and `/search` typed in the message box.
 *
 * @module
 */

import assert from "node:assert/strict";
import { SqliteHistory } from "../../server/history/sqlite.ts";
import { SEARCH_COST } from "../../server/hub/hub.ts";
import { httpUrl } from "../kit/server.ts";
import { connectWs, type WsClient } from "../kit/ws_client.ts";
import { join, openPage, say, seen, withBrowserServer } from "./browser.ts";

/** Says each line in `room` from a socket, waiting for each to come back. */
async function sayAll(client: WsClient, lines: readonly string[], room = "#lobby") {
  for (const text of lines) {
    client.send({ type: "say", text, room });
    await client.next("message", (m) => m.text === text);
  }
}

Deno.test("page: the search box finds the rooms' lines, newest first, and shows one in context", async () => {
  const store = new SqliteHistory(":memory:", 10_000);
  await withBrowserServer({ store }, async (browser, server) => {
    await using bob = await connectWs(server, "bob");
    bob.send({ type: "enter", room: "#dev" });
    bob.send({ type: "enter", room: "#ops" });
    await bob.next("entered", (e) => e.room === "#ops");
    const lines = Array.from({ length: 40 }, (_, i) => i === 20 ? "Deploy at 5" : `line ${i}`);
    await sayAll(bob, lines);
    await sayAll(bob, ["deploy in ops"], "#ops");
    await sayAll(bob, ["ＤＥＰＬＯＹ again"], "#dev");

    const { page, problems } = await openPage(browser, httpUrl(server));
    await join(page, "alice");
    await say(page, "/join #dev");
    await page.locator("#room-title", { hasText: "#dev" }).waitFor();

    await page.fill("#search-text", "deploy");
    await page.press("#search-text", "Enter");
    const dialog = page.locator("#search-results");
    await dialog.locator("#search-note", { hasText: "2 messages found" }).waitFor();
    const found = await dialog.locator("#search-list .found").allTextContents();
    // Newest first; #ops is not the page's, so its line is not found.
    assert.equal(found.length, 2);
    assert.match(found[0]!, /#dev.*bob.*ＤＥＰＬＯＹ again/);
    assert.match(found[1]!, /#lobby.*bob.*Deploy at 5/);

    await dialog.locator("#search-list .found", { hasText: "Deploy at 5" }).click();
    const current = dialog.locator('#search-list li[aria-current="true"]');
    await current.waitFor();
    assert.match(await current.textContent() ?? "", /Deploy at 5/);
    const context = await dialog.locator("#search-list li").allTextContents();
    assert.equal(context.length, 21, "10 before, the find, 10 after");
    assert.match(context[9]!, /line 19$/);
    assert.match(context[11]!, /line 21$/);
    assert.ok(await current.isVisible());

    await dialog.locator("#search-back").click();
    await dialog.locator("#search-list .found").first().waitFor();
    await dialog.locator("#search-list .found", { hasText: "Deploy at 5" }).click();
    await current.waitFor();
    await dialog.locator("#search-go").click();
    await page.locator("#room-title", { hasText: "#lobby" }).waitFor();
    assert.equal(await dialog.isVisible(), false);

    // Typed in the message box, the answer shows in the same place.
    await say(page, "/search nothing like it");
    await dialog.locator("#search-note", { hasText: 'No messages found for "nothing like it"' })
      .waitFor();
    await page.keyboard.press("Escape");
    await seen(page, "Deploy at 5");
    assert.deepEqual(problems, []);
  });
});

Deno.test("page: a refused search says why in the search dialog, not in the log behind it", async () => {
  const store = new SqliteHistory(":memory:", 100);
  // One search's worth of the flood bucket, hardly refilled.
  const limits = { floodBurst: SEARCH_COST + 2, floodRate: 0.001 };
  await withBrowserServer({ store, ...limits }, async (browser, server) => {
    const { page, problems } = await openPage(browser, httpUrl(server));
    await join(page, "alice");
    const dialog = page.locator("#search-results");
    await page.fill("#search-text", "anything");
    await page.press("#search-text", "Enter");
    await dialog.locator("#search-note", { hasText: 'No messages found for "anything"' }).waitFor();
    await page.keyboard.press("Escape");
    await page.fill("#search-text", "again");
    await page.press("#search-text", "Enter");
    await dialog.locator("#search-note", { hasText: /^You are searching too fast/ }).waitFor();
    assert.equal(await page.locator("#log", { hasText: "searching too fast" }).count(), 0);
    assert.deepEqual(problems, []);
  });
});

Deno.test("page: a find's room, nickname and time each show whole, apart, on a phone and on a desktop", async () => {
  const store = new SqliteHistory(":memory:", 100);
  await withBrowserServer({ store }, async (browser, server) => {
    await using bob = await connectWs(server, "bob_the_reviewer");
    bob.send({ type: "enter", room: "#development-team" });
    await bob.next("entered", (e) => e.room === "#development-team");
    await sayAll(bob, ["deploy at 5"], "#development-team");
    for (const size of ["phone", "desktop"] as const) {
      const { page, problems } = await openPage(browser, httpUrl(server), size);
      await join(page, `alice_${size}`);
      await say(page, "/join #development-team");
      await page.locator("#room-title", { hasText: "#development-team" }).waitFor();
      await say(page, "/search deploy");
      const found = page.locator("#search-list .found").first();
      await found.waitFor();
      // Its parts as laid out: time, room, nickname, text.
      const parts = await found.evaluate((row) =>
        [...row.children].map((part) => {
          const r = part.getBoundingClientRect();
          return {
            text: part.textContent ?? "",
            left: r.left,
            right: r.right,
            top: r.top,
            bottom: r.bottom,
            cut: part.scrollWidth > part.clientWidth,
          };
        })
      );
      assert.deepEqual(parts.map((p) => p.text), [
        parts[0]!.text,
        "#development-team",
        "bob_the_reviewer",
        "deploy at 5",
      ]);
      for (const [i, part] of parts.entries()) {
        assert.equal(part.cut, false, `${size}: "${part.text}" is cut`);
        for (const other of parts.slice(i + 1)) {
          const apart = part.right <= other.left + 0.5 || other.right <= part.left + 0.5 ||
            part.bottom <= other.top + 0.5 || other.bottom <= part.top + 0.5;
          assert.ok(apart, `${size}: "${part.text}" and "${other.text}" overlap`);
        }
      }
      assert.deepEqual(problems, []);
      await page.close();
    }
  });
});
