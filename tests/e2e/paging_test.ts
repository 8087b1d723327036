/**
 * Older lines in the page on scrolling up, in Chromium: reaching the top of
 * a room's log fetches the messages before its oldest (`history` with
 * `before`), put above with the reader's view kept, until "Beginning of
 * history".
 *
 * @module
 */

import assert from "node:assert/strict";
import { SqliteHistory } from "../../server/history/sqlite.ts";
import { httpUrl } from "../kit/server.ts";
import { connectWs } from "../kit/ws_client.ts";
import { join, openPage, type Page, withBrowserServer } from "./browser.ts";

/** Where the line holding `text` is, relative to the top of the log's box. */
function offsetOf(page: Page, text: string): Promise<number> {
  return page.evaluate(`(() => {
    const log = document.querySelector("#log");
    const line = [...log.querySelectorAll("li")].find((l) => l.textContent.endsWith(${
    JSON.stringify(text)
  }));
    return line.getBoundingClientRect().top - log.getBoundingClientRect().top;
  })()`) as Promise<number>;
}

function scrollToTop(page: Page): Promise<unknown> {
  return page.evaluate(`document.querySelector("#log").scrollTop = 0`);
}

Deno.test("page: scrolling to the top fetches older lines by id, keeps the view, then says it is all", async () => {
  await withBrowserServer({ store: new SqliteHistory(":memory:", 10_000), history: 30 }, async (
    browser,
    server,
  ) => {
    await using bob = await connectWs(server, "bob");
    for (let i = 0; i < 100; i++) {
      bob.send({ type: "say", text: `line ${i}` });
      await bob.next("message", (m) => m.text === `line ${i}`);
    }
    const { page, problems } = await openPage(browser, httpUrl(server));
    await join(page, "alice");
    const lines = page.locator("#log li.msg");
    await page.locator("#log li", { hasText: "line 99" }).waitFor();
    assert.equal(await lines.count(), 30, "the last --history lines");

    await scrollToTop(page);
    await page.locator("#log li", { hasText: "line 20" }).waitFor();
    assert.equal(await lines.count(), 80);
    // The line that was at the top is still where the reader saw it, not pushed away.
    const kept = await offsetOf(page, "line 70");
    assert.ok(kept >= -2 && kept < 60, `line 70 is ${kept} px from the top`);
    assert.equal(await page.locator("#log .divider.start").count(), 0);

    await scrollToTop(page);
    await page.locator("#log .divider.start", { hasText: "Beginning of history" }).waitFor();
    const texts = await lines.allTextContents();
    assert.equal(texts.length, 100);
    assert.ok(texts[0]!.endsWith("line 0") && texts[99]!.endsWith("line 99"));
    // Grouped as the lines below them (bob's name once a page, not on every line), and one
    // "Today" for the day, not one more with each page.
    const named = await page.locator("#log li.msg:not(.cont)").count();
    assert.ok(named <= 3, `${named} lines show bob's name`);
    assert.equal(await page.locator("#log .divider.day").count(), 1);
    // At the start: no more asking.
    await scrollToTop(page);
    await page.evaluate(`new Promise((r) => requestAnimationFrame(() => r()))`);
    assert.equal(await page.locator("#log .divider.start").count(), 1);
    assert.equal(await lines.count(), 100);
    assert.deepEqual(problems, []);
  });
});
