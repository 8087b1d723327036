/**
 * Desktop notifications in Chromium: opted into with the button (the
 * permission granted in the browser context), shown for a mention or a
 * private message only while the tab is hidden, never for history replayed
 * or one's own lines; a click shows the line's room.
 *
 * The tab's visibility is stubbed by an init script (a headless tab is
 * always visible), and `new Notification` is counted by a wrapper.
 *
 * @module
 */

import assert from "node:assert/strict";
import { httpUrl } from "../kit/server.ts";
import { connectWs, type WsClient } from "../kit/ws_client.ts";
import { join, type Page, say, seen, withBrowserServer } from "./browser.ts";

/** Stubs `document.hidden` (set `window.__hidden`) and records every notification made. */
const INIT = `
  Object.defineProperty(document, "hidden", { get: () => window.__hidden === true });
  Object.defineProperty(document, "visibilityState", {
    get: () => (window.__hidden === true ? "hidden" : "visible"),
  });
  window.__notes = [];
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notes.push({ title, body: options?.body ?? "" });
      window.__last = this;
    }
  };
`;

type Note = { title: string; body: string };

function notes(page: Page): Promise<Note[]> {
  return page.evaluate("window.__notes") as Promise<Note[]>;
}

function hide(page: Page, hidden: boolean): Promise<unknown> {
  return page.evaluate(`window.__hidden = ${hidden}`);
}

/** Says `text` from a socket (in `room`, or privately to `to`) and waits until the page shows it. */
async function from(
  client: WsClient,
  page: Page,
  text: string,
  where: { room?: string; to?: string },
) {
  client.send(
    where.to ? { type: "msg", to: where.to, text } : { type: "say", text, room: where.room },
  );
  await client.next("message", (m) => m.text === text);
  await page.locator("#logs li", { hasText: text }).first().waitFor({ state: "attached" });
}

Deno.test("page: a mention or a private message notifies only while hidden, never replayed or one's own", async () => {
  await withBrowserServer({}, async (browser, server) => {
    await using bob = await connectWs(server, "bob");
    bob.send({ type: "enter", room: "#dev" });
    await bob.next("entered");
    // Said before alice comes: replayed to her, never notified.
    bob.send({ type: "say", text: "alice: from before you came" });
    await bob.next("message");

    const url = httpUrl(server);
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    try {
      await context.grantPermissions(["notifications"], { origin: new URL(url).origin });
      await context.addInitScript(INIT);
      const page = await context.newPage();
      await page.goto(url);
      await join(page, "alice");
      await say(page, "/join #dev");
      await page.locator("#room-title", { hasText: "#dev" }).waitFor();
      await say(page, "/join #lobby");
      await page.locator("#room-title", { hasText: "#lobby" }).waitFor();
      await seen(page, "from before you came");

      // Not opted in: nothing, hidden or not.
      await hide(page, true);
      await from(bob, page, "alice: before the opt-in", { room: "#lobby" });
      assert.deepEqual(await notes(page), []);

      await hide(page, false);
      const toggle = page.locator("#notify-toggle");
      await toggle.click();
      await page.locator('#notify-toggle[aria-pressed="true"]').waitFor();
      assert.equal(await page.evaluate("localStorage.getItem('chat.notify')"), "on");

      // Visible: nothing.
      await from(bob, page, "alice: you see this anyway", { room: "#lobby" });
      assert.deepEqual(await notes(page), []);

      await hide(page, true);
      await from(bob, page, "just chatting", { room: "#lobby" });
      await say(page, "alice here, typing while hidden");
      await seen(page, "alice here, typing while hidden");
      assert.deepEqual(await notes(page), [], "not named, and one's own line");
      await from(bob, page, "ALICE: deploy now?", { room: "#dev" });
      await from(bob, page, "psst", { to: "alice" });
      assert.deepEqual(await notes(page), [
        { title: "bob in #dev", body: "ALICE: deploy now?" },
        { title: "bob (private)", body: "psst" },
      ]);

      // A click on the mention's notification shows its room.
      await page.evaluate(`window.__notes.length = 0`);
      await from(bob, page, "alice: over here", { room: "#dev" });
      await say(page, "/join #lobby");
      await page.locator("#room-title", { hasText: "#lobby" }).waitFor();
      await page.evaluate(`window.__last.dispatchEvent(new Event("click"))`);
      await page.locator("#room-title", { hasText: "#dev" }).waitFor();

      // A new tab, opted in already (remembered), hidden from the start: the
      // history it is shown names alice, and nothing is notified for it.
      bob.send({ type: "say", text: "alice2: said before you came", room: "#lobby" });
      await bob.next("message", (m) => m.text === "alice2: said before you came");
      const again = await context.newPage();
      await again.addInitScript("window.__hidden = true");
      await again.goto(url);
      await again.fill("#nick", "alice2");
      await again.press("#nick", "Enter");
      await again.waitForSelector('#status[data-state="open"]');
      await again.locator("#logs li", { hasText: "alice2: said before you came" }).first()
        .waitFor({ state: "attached" });
      await from(bob, again, "alice2: now live", { room: "#lobby" });
      assert.deepEqual(await notes(again), [{ title: "bob in #lobby", body: "alice2: now live" }]);
    } finally {
      await context.close();
    }
  });
});

Deno.test("page: Notify me, with notifications blocked for the site, says so and stays off", async () => {
  await withBrowserServer({}, async (browser, server) => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    try {
      // As a browser answers once the user has blocked the site.
      await context.addInitScript(`
        Object.defineProperty(Notification, "permission", { get: () => "denied" });
        Notification.requestPermission = async () => "denied";
      `);
      const page = await context.newPage();
      await page.goto(httpUrl(server));
      await join(page, "alice");
      await page.click("#notify-toggle");
      await seen(page, "Notifications are blocked for this site");
      assert.equal(await page.getAttribute("#notify-toggle", "aria-pressed"), "false");
    } finally {
      await context.close();
    }
  });
});
