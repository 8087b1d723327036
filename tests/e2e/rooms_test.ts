/**
 * Rooms in the page, in a real browser (headless Chromium) against a real
 * server on free ports: entering and switching rooms, unread counts and
 * mentions, per-room members, topics and scroll positions, the address
 * (`/#dev`), the rooms remembered for the next visit, and every room
 * rejoined, with what was missed, after a server restart.
 *
 * Other members are WebSocket clients from the test kit, so what they do in
 * a room is a frame, not a terminal's wording.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Assets, loadAssets } from "../../server/assets.ts";
import type { HistoryStore } from "../../server/history/history.ts";
import { SqliteHistory } from "../../server/history/sqlite.ts";
import { type ChatOptions, type ChatServer, httpUrl, startServer } from "../kit/server.ts";
import { connectWs, type WsClient } from "../kit/ws_client.ts";
import {
  type Browser,
  flakyNetwork,
  join,
  launch,
  logLines,
  openPage,
  type Page,
  say,
  seen,
} from "./browser.ts";

// Built inside the first test, not at import: esbuild's helper process must
// start and end within one test for the resource sanitizer.
let assets: Assets | undefined;

async function start(port = 0, store?: HistoryStore, options: ChatOptions = {}) {
  assets ??= await loadAssets();
  return startServer({ port, ...(store ? { store } : {}), ...options, assets });
}

/** Runs `fn` with a browser and a server, closing both after. */
async function withBrowser(fn: (browser: Browser, server: ChatServer) => Promise<void>) {
  const browser = await launch();
  const server = await start();
  try {
    await fn(browser, server);
  } finally {
    await browser.close();
    await server.shutdown();
  }
}

/** The sidebar's button for `room`, shown or folded away. */
function roomButton(page: Page, room: string) {
  const exact = new RegExp(`^${room.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
  return page.locator("#room-list .room").filter({
    has: page.locator(".name", { hasText: exact }),
  });
}

/** Waits until `room` is the room shown. */
async function showing(page: Page, room: string): Promise<void> {
  await page.locator("#room-title", { hasText: new RegExp(`^${room}$`) }).waitFor();
  // Attached, not visible: on a phone the sidebar is folded away.
  await roomButton(page, room).and(page.locator("[aria-current=page]")).waitFor({
    state: "attached",
  });
}

/** The names in the sidebar, in order. */
function sidebar(page: Page): Promise<string[]> {
  return page.locator("#room-list .room .name").allTextContents();
}

/** A WebSocket member in #lobby and `rooms` (entered in order after the welcome). */
async function member(server: ChatServer, nick: string, ...rooms: string[]): Promise<WsClient> {
  const client = await connectWs(server, nick);
  for (const room of rooms) {
    client.send({ type: "enter", room });
    await client.next("entered", (e) => e.room === room);
  }
  return client;
}

/** `client` leaves `room`. */
async function part(client: WsClient, room: string): Promise<void> {
  client.send({ type: "part", room });
  await client.next("parted", (e) => e.room === room);
}

/** Says `text` in `room` as a kit client, and waits for its own copy. */
async function sayIn(client: WsClient, room: string, text: string): Promise<void> {
  client.send({ type: "say", room, text });
  await client.next("message", (m) => m.text === text);
}

Deno.test("page: rooms are entered from the field and the composer, and switched", async () => {
  await withBrowser(async (browser, server) => {
    const { page, problems } = await openPage(browser, httpUrl(server));
    await join(page, "alice");
    await showing(page, "#lobby");
    assert.equal(new URL(page.url()).hash, "#lobby");

    // The field creates a room and shows it.
    await page.fill("#room-name", "#dev");
    await page.press("#room-name", "Enter");
    await showing(page, "#dev");
    assert.equal(new URL(page.url()).hash, "#dev");
    assert.deepEqual(await sidebar(page), ["#lobby", "#dev"]);
    assert.equal(await page.inputValue("#room-name"), "");

    // The composer too; `ops` means `#ops`.
    await say(page, "/join ops");
    await showing(page, "#ops");
    assert.deepEqual(await sidebar(page), ["#lobby", "#dev", "#ops"]);

    // A line goes to the room shown, and only there.
    await say(page, "only in ops");
    await seen(page, "only in ops");
    await roomButton(page, "#lobby").click();
    await showing(page, "#lobby");
    assert.ok(!(await logLines(page)).some((l) => l.includes("only in ops")));
    assert.equal(await page.evaluate("document.activeElement.id"), "text");

    // Alt+Down and Alt+Up walk the sidebar, wrapping around.
    await page.keyboard.press("Alt+ArrowDown");
    await showing(page, "#dev");
    await page.keyboard.press("Alt+ArrowUp");
    await page.keyboard.press("Alt+ArrowUp");
    await showing(page, "#ops");
    await seen(page, "only in ops");

    // /join of a room it is in shows it; a bad name is refused before asking.
    await say(page, "/join #DEV");
    await showing(page, "#dev");
    await page.fill("#room-name", "#no spaces");
    await page.press("#room-name", "Enter");
    await page.locator("#room-error", { hasText: "cannot contain spaces" }).waitFor();
    assert.deepEqual(await sidebar(page), ["#lobby", "#dev", "#ops"]);

    // /part leaves the room shown; the one above it is shown instead.
    await say(page, "/part");
    await showing(page, "#lobby");
    assert.deepEqual(await sidebar(page), ["#lobby", "#ops"]);
    // The sidebar's leave button leaves another room.
    await page.getByRole("button", { name: "Leave #ops", exact: true }).click();
    await roomButton(page, "#ops").waitFor({ state: "detached" });
    assert.deepEqual(await sidebar(page), ["#lobby"]);

    // In no room: the page says how to get into one, and the address names none.
    await say(page, "/part");
    await page.locator("#room-title", { hasText: "No room" }).waitFor();
    await seen(page, "You left #lobby.");
    assert.equal(new URL(page.url()).hash, "");
    await say(page, "anyone?");
    await seen(page, "You are in no room: /join #lobby to enter one.");
    assert.equal(await page.inputValue("#text"), "anyone?", "kept, to send once in a room");
    await say(page, "/join lobby");
    await showing(page, "#lobby");
    assert.deepEqual(problems, []);
  });
});

Deno.test("page: a room the server refuses says why under the field, and nothing changes", async () => {
  await withBrowser(async (browser, server) => {
    const { page, problems } = await openPage(browser, httpUrl(server));
    await join(page, "alice");
    // #lobby and 19 more: as many as a member may be in.
    for (let i = 1; i < 20; i++) await say(page, `/join #r${i}`);
    await showing(page, "#r19");
    assert.equal((await sidebar(page)).length, 20);
    await page.fill("#room-name", "#one-more");
    await page.press("#room-name", "Enter");
    await page.locator("#room-error", { hasText: "You are in 20 rooms, the most at once" })
      .waitFor();
    await seen(page, "You are in 20 rooms, the most at once");
    assert.equal(await page.inputValue("#room-name"), "#one-more", "kept, to try again");
    await showing(page, "#r19");
    assert.equal(new URL(page.url()).hash, "#r19");
    // Typing again clears the old reason.
    await page.fill("#room-name", "#r1");
    assert.equal(await page.textContent("#room-error"), "");
    assert.deepEqual(problems, []);
  });
});

Deno.test("page: a room not shown counts unread lines and marks a mention", async () => {
  await withBrowser(async (browser, server) => {
    const { page, problems } = await openPage(browser, httpUrl(server));
    await join(page, "alice");
    await say(page, "/join #dev");
    await showing(page, "#dev");
    await using bob = await member(server, "bob", "#dev");
    await page.locator("#member-list .member", { hasText: "bob" }).waitFor();
    await roomButton(page, "#lobby").click();
    await showing(page, "#lobby");

    await sayIn(bob, "#dev", "first");
    await sayIn(bob, "#dev", "second");
    const dev = roomButton(page, "#dev");
    await dev.locator(".badge", { hasText: /^2$/ }).waitFor();
    assert.equal(await dev.getAttribute("aria-label"), "#dev, 2 unread");
    assert.equal(await dev.locator(".mention").count(), 0);

    // A line naming alice, as a word and in any case, marks the room.
    await sayIn(bob, "#dev", "ALICE: can you look?");
    await dev.locator(".badge", { hasText: /^3$/ }).waitFor();
    assert.equal(await dev.getAttribute("aria-label"), "#dev, 3 unread, mentions you");
    assert.equal(await dev.locator(".mention").count(), 1);
    // Folded away on a narrow screen, the toggle still says so: see the phone test.
    assert.ok(!(await logLines(page)).some((l) => l.includes("first")));

    // Showing the room reads it: the count and the marker go.
    await dev.click();
    await showing(page, "#dev");
    await seen(page, "ALICE: can you look?");
    assert.equal(await dev.getAttribute("aria-label"), "#dev");
    assert.equal(await dev.locator(".badge, .mention").count(), 0);
    assert.equal(await page.locator("#log li.mention").count(), 1);

    // Lines in the room shown are never unread; the page's own neither.
    await sayIn(bob, "#dev", "while you look");
    await seen(page, "while you look");
    await say(page, "mine");
    await seen(page, "mine");
    assert.equal(await page.locator("#room-list .badge").count(), 0);
    assert.deepEqual(problems, []);
  });
});

Deno.test("page: each room has its own members, topic and scroll position", async () => {
  await withBrowser(async (browser, server) => {
    const { page, problems } = await openPage(browser, httpUrl(server));
    await join(page, "alice");
    await using carol = await member(server, "carol");
    await page.locator("#member-list .member", { hasText: "carol" }).waitFor();
    await say(page, "/join #dev");
    await showing(page, "#dev");
    await using bob = await member(server, "bob", "#dev");
    await part(bob, "#lobby");
    await page.locator("#member-list .member", { hasText: "bob" }).waitFor();
    const names = () => page.locator("#member-list .member .name").allTextContents();
    assert.deepEqual((await names()).sort(), ["alice", "bob"]);
    assert.equal(await page.textContent("#member-count"), "2");

    // The topic is in the header and, when it changes, in the room's log.
    bob.send({ type: "topic", room: "#dev", text: "Deploys at 5" });
    await page.locator("#topic", { hasText: "Deploys at 5" }).waitFor();
    await seen(page, "bob set the topic: Deploys at 5");
    await roomButton(page, "#lobby").click();
    await showing(page, "#lobby");
    assert.equal(await page.textContent("#topic"), "");
    assert.deepEqual((await names()).sort(), ["alice", "carol"]);
    assert.equal(await page.textContent("#member-count"), "2");
    // /topic sets the topic of the room shown.
    await say(page, "/topic Say hi");
    await page.locator("#topic", { hasText: "Say hi" }).waitFor();

    // Scrolled up in #lobby, the place is kept across a visit to #dev.
    for (let i = 0; i < 40; i++) await sayIn(carol, "#lobby", `lobby line ${i}`);
    await seen(page, "lobby line 39");
    await page.evaluate(`document.querySelector("#log").scrollTop = 120`);
    await roomButton(page, "#dev").click();
    await showing(page, "#dev");
    await seen(page, "bob set the topic");
    // #dev was following its newest line: it still does when shown again.
    await roomButton(page, "#lobby").click();
    await showing(page, "#lobby");
    assert.equal(await page.evaluate(`document.querySelector("#log").scrollTop`), 120);
    for (let i = 0; i < 30; i++) await sayIn(bob, "#dev", `dev line ${i}`);
    await roomButton(page, "#dev").locator(".badge", { hasText: /^30$/ }).waitFor();
    await roomButton(page, "#dev").click();
    await showing(page, "#dev");
    const atEnd = await page.evaluate(`(() => {
      const log = document.querySelector("#log");
      return log.scrollHeight - log.scrollTop - log.clientHeight < 2;
    })()`);
    assert.equal(atEnd, true, "a room that followed its newest line opens at it");
    assert.equal(await page.isVisible("#new-messages"), false);
    assert.deepEqual(problems, []);
  });
});

Deno.test("page: the room browser lists rooms with counts and topics, and enters one", async () => {
  await withBrowser(async (browser, server) => {
    const { page, problems } = await openPage(browser, httpUrl(server));
    await join(page, "alice");
    await using bob = await member(server, "bob", "#dev", "#ops");
    bob.send({ type: "topic", room: "#ops", text: "Pager rota" });
    await bob.next("topic", (e) => e.room === "#ops");

    await page.click("#browse-rooms");
    const browser_ = page.getByRole("dialog", { name: "Rooms on this server" });
    await browser_.waitFor();
    const ops = browser_.getByRole("button", { name: "Enter #ops, 1 here: Pager rota" });
    await ops.waitFor();
    assert.equal(
      await browser_.getByRole("button", { name: "Show #lobby, 2 here" }).count(),
      1,
      "a room it is in is shown, not entered",
    );
    // The filter narrows the list by name or topic.
    await page.fill("#room-filter", "pager");
    await browser_.getByRole("button", { name: /#dev/ }).waitFor({ state: "detached" });
    assert.equal(await page.textContent("#room-browser-note"), "3 rooms. 1 matches.");
    await ops.click();
    await browser_.waitFor({ state: "hidden" });
    await showing(page, "#ops");
    await page.locator("#topic", { hasText: "Pager rota" }).waitFor();

    // /rooms opens it too.
    await say(page, "/rooms");
    await browser_.getByRole("button", { name: /^Show #ops/ }).waitFor();
    await page.keyboard.press("Escape");
    await browser_.waitFor({ state: "hidden" });
    assert.deepEqual(problems, []);
  });
});

Deno.test("page: the address names the room: /#dev opens it, a new fragment enters one", async () => {
  await withBrowser(async (browser, server) => {
    await using bob = await member(server, "bob", "#dev");
    await sayIn(bob, "#dev", "earlier in dev");
    const { page, problems } = await openPage(browser, httpUrl(server, "/#dev"));
    await join(page, "alice");
    await showing(page, "#dev");
    await seen(page, "earlier in dev");
    assert.deepEqual(await sidebar(page), ["#lobby", "#dev"]);

    await page.evaluate(`location.hash = "#%E4%B8%AD%E6%96%87"`);
    await showing(page, "#中文");
    await page.evaluate(`location.hash = "#lobby"`);
    await showing(page, "#lobby");
    // A fragment naming no room is refused, and the address names the room shown again.
    await page.evaluate(`location.hash = "#a%20b"`);
    await seen(page, "Room name cannot contain spaces.");
    await page.waitForFunction(`location.hash === "#lobby"`);
    assert.deepEqual(await sidebar(page), ["#lobby", "#dev", "#中文"]);
    assert.deepEqual(problems, []);
  });
});

Deno.test("page: the rooms are remembered for the next visit", async () => {
  await withBrowser(async (browser, server) => {
    const { page, problems } = await openPage(browser, httpUrl(server));
    await join(page, "alice");
    await say(page, "/join #dev");
    await showing(page, "#dev");
    await say(page, "/join #ops");
    await showing(page, "#ops");
    await roomButton(page, "#dev").click();
    await showing(page, "#dev");
    await say(page, "/quit");
    await page.waitForSelector("#join-view:not([hidden])");

    // Same browser profile, no fragment: the rooms and the one shown come back.
    await page.goto(httpUrl(server));
    assert.equal(await page.inputValue("#nick"), "alice");
    await join(page, "alice");
    await showing(page, "#dev");
    assert.deepEqual(await sidebar(page), ["#lobby", "#dev", "#ops"]);
    assert.deepEqual(problems, []);
  });
});

Deno.test("page: a reload keeps each room's unread count and mention marker, counts what came meanwhile, and marks the lines that name you", async () => {
  await withBrowser(async (browser, server) => {
    await using bob = await member(server, "bob", "#dev");
    const { page, problems } = await openPage(browser, httpUrl(server));
    const network = await flakyNetwork(page);
    await join(page, "alice");
    await say(page, "/join #dev");
    await showing(page, "#dev");
    await sayIn(bob, "#lobby", "first");
    await sayIn(bob, "#lobby", "alice: are you there?");
    const lobby = roomButton(page, "#lobby");
    await lobby.locator(".badge", { hasText: /^2$/ }).waitFor();

    // Reloaded while the network is out, and a line comes meanwhile.
    await network.drop();
    await page.waitForSelector('#status[data-state="waiting"]');
    await page.reload();
    await sayIn(bob, "#lobby", "while you reloaded");
    network.restore();
    await page.waitForSelector('#status[data-state="open"]');
    await showing(page, "#dev");
    await lobby.locator(".badge", { hasText: /^3$/ }).waitFor();
    assert.equal(await lobby.getAttribute("aria-label"), "#lobby, 3 unread, mentions you");

    await lobby.click();
    await showing(page, "#lobby");
    await seen(page, "while you reloaded");
    const named = page.locator("#log li.mention");
    assert.equal(await named.count(), 1);
    assert.match(await named.textContent() ?? "", /alice: are you there\?/);
    assert.deepEqual(problems, []);
  });
});

Deno.test("page: a reload while in the chat takes its seat back by itself, in the same rooms, with its private messages and unseen by the others; after /quit it does not", async () => {
  await withBrowser(async (browser, server) => {
    await using bob = await member(server, "bob", "#dev");
    const { page, problems } = await openPage(browser, httpUrl(server));
    await join(page, "alice");
    await say(page, "/join #dev");
    await showing(page, "#dev");
    await sayIn(bob, "#dev", "said before the reload");
    await seen(page, "said before the reload");
    bob.send({ type: "msg", to: "alice", text: "a word in private" });
    await seen(page, "a word in private");

    await page.reload();
    await page.waitForSelector("#chat-view:not([hidden])");
    await page.waitForSelector('#status[data-state="open"]');
    await showing(page, "#dev");
    assert.deepEqual(await sidebar(page), ["#lobby", "#dev"]);
    await seen(page, "said before the reload"); // the room's history, as on any join
    await seen(page, "a word in private"); // the private messages its seat keeps
    await sayIn(bob, "#dev", "said after the reload");
    await seen(page, "said after the reload");
    await say(page, "back from the reload");
    await bob.next("message", (m) => m.from === "alice" && m.text === "back from the reload");
    assert.deepEqual(
      bob.events.filter((e) => (e.type === "join" || e.type === "leave") && e.nick === "alice")
        .map((e) => `${e.type} ${"room" in e ? e.room : ""}`),
      ["join #lobby", "join #dev"],
      "bob saw alice join, and no leave or join as she reloaded",
    );

    // Left with /quit: a reload shows the form, filled in, and joins nobody.
    await say(page, "/quit");
    await bob.next("leave", (e) => e.nick === "alice" && e.room === "#dev");
    await page.waitForSelector("#join-view:not([hidden])");
    await page.reload();
    assert.equal(await page.isVisible("#join-view"), true);
    assert.equal(await page.getAttribute("#status", "data-state"), "idle");
    assert.equal(await page.inputValue("#nick"), "alice");
    bob.send({ type: "who", room: "#dev" });
    const who = await bob.next("members");
    assert.deepEqual(who.members.map((m) => m.nick), ["bob"]);
    assert.deepEqual(problems, []);
  });
});

Deno.test("page: its own private messages are still shown as sent after a rename and a reload", async () => {
  await withBrowser(async (browser, server) => {
    await using bob = await member(server, "bob");
    const { page, problems } = await openPage(browser, httpUrl(server));
    await join(page, "pat");
    await say(page, "/msg bob hello bob");
    await bob.next("message", (m) => m.text === "hello bob");
    bob.send({ type: "msg", to: "pat", text: "hi pat" });
    await seen(page, "hi pat");
    await say(page, "/nick pat2");
    await bob.next("rename", (e) => e.to === "pat2");

    await page.reload();
    await page.waitForSelector('#status[data-state="open"]');
    const line = async (text: string) => {
      const item = page.locator("li.msg", { hasText: text });
      await item.waitFor();
      return [await item.getAttribute("class"), await item.locator(".tag").textContent()];
    };
    const [sentClass, sentTag] = await line("hello bob");
    assert.match(sentClass ?? "", /\bown\b/);
    assert.equal(sentTag, "private to bob");
    const [gotClass, gotTag] = await line("hi pat");
    assert.doesNotMatch(gotClass ?? "", /\bown\b/);
    assert.equal(gotTag, "private");
    assert.deepEqual(problems, []);
  });
});

Deno.test("page: before joining, the card says who is here and no empty member list stands beside it", async () => {
  await withBrowser(async (browser, server) => {
    await using _early = await member(server, "early");
    const { page, problems } = await openPage(browser, httpUrl(server));
    await page.locator("#here", { hasText: "early" }).waitFor();
    assert.equal(await page.isVisible("#members"), false);
    assert.equal(await page.isVisible("#rooms"), false);
    await join(page, "pat");
    assert.equal(await page.isVisible("#members"), true);
    await page.locator('#member-list .member:has-text("early")').waitFor();
    // Every row as tall as the others, a name in Chinese too.
    await using _wang = await member(server, "王芳");
    const heights = [];
    for (const name of ["early", "王芳", "pat"]) {
      const row = page.locator(`#member-list .member:has-text("${name}")`);
      await row.waitFor();
      heights.push((await row.boundingBox())?.height);
    }
    assert.equal(new Set(heights).size, 1, `row heights ${heights.join(", ")}`);
    assert.deepEqual(problems, []);
  });
});

Deno.test("page: on a phone the rooms are a drawer, and its toggle counts unread", async () => {
  await withBrowser(async (browser, server) => {
    await using _early = await member(server, "early");
    const { page, problems } = await openPage(browser, httpUrl(server), "phone");
    await page.locator("#here", { hasText: "early" }).waitFor();
    // Before joining, the card says who is here: no drawers, no "People 0".
    assert.equal(await page.isVisible("#members-toggle"), false);
    assert.equal(await page.isVisible("#rooms-toggle"), false);
    await join(page, "pat");
    assert.equal(await page.isVisible("#members-toggle"), true);
    assert.equal(await page.textContent("#member-count"), "2");
    await using bob = await member(server, "bob", "#dev");
    const drawer = page.locator("#rooms");
    assert.equal(await drawer.isVisible(), false);
    await page.click("#rooms-toggle");
    assert.equal(await drawer.isVisible(), true);
    assert.equal(await page.getAttribute("#rooms-toggle", "aria-expanded"), "true");
    await page.fill("#room-name", "dev");
    await page.press("#room-name", "Enter");
    await showing(page, "#dev");
    assert.equal(await drawer.isVisible(), false, "going to a room folds the drawer");
    assert.equal(await page.evaluate("document.activeElement.id"), "text");

    await page.click("#rooms-toggle");
    await roomButton(page, "#lobby").click();
    await showing(page, "#lobby");
    await sayIn(bob, "#dev", "pat, are you there?");
    await page.locator("#rooms-toggle .count", { hasText: "@1" }).waitFor();
    // The people drawer and the rooms drawer are never open together.
    await page.click("#rooms-toggle");
    await page.click("#members-toggle");
    assert.equal(await drawer.isVisible(), false);
    assert.equal(await page.locator("#members").isVisible(), true);
    assert.deepEqual(problems, []);
  });
});

Deno.test("page: after a server restart, every room comes back with what was missed, once", async () => {
  const dir = await Deno.makeTempDir();
  const db = `${dir}/chat.db`;
  const browser = await launch();
  let server = await start(0, new SqliteHistory(db, 1000));
  try {
    const port = server.http.port;
    const { page, problems } = await openPage(browser, httpUrl(server));
    await join(page, "alice");
    await say(page, "/join #dev");
    await showing(page, "#dev");
    await say(page, "dev before the restart");
    await seen(page, "dev before the restart");
    await roomButton(page, "#lobby").click();
    await showing(page, "#lobby");
    await say(page, "lobby before the restart");
    await seen(page, "lobby before the restart");

    await server.shutdown();
    await page.waitForSelector('#status[data-state="waiting"]');
    // Offline until the lines below are said: they can only reach the page
    // as the missed messages of its rejoin, never live.
    await page.context().setOffline(true);
    server = await start(port, new SqliteHistory(db, 1000));
    {
      await using bob = await member(server, "bob", "#dev");
      await sayIn(bob, "#dev", "dev while you were away");
      await sayIn(bob, "#lobby", "lobby while you were away");
    }
    await page.context().setOffline(false);
    await page.waitForSelector('#status[data-state="open"]');
    await showing(page, "#lobby");
    await seen(page, "lobby while you were away");
    assert.deepEqual(await sidebar(page), ["#lobby", "#dev"]);
    // Missed in a room not shown: unread there.
    await roomButton(page, "#dev").locator(".badge", { hasText: /^1$/ }).waitFor();
    await roomButton(page, "#dev").click();
    await showing(page, "#dev");
    await seen(page, "dev while you were away");
    await say(page, "dev after the restart");
    await seen(page, "dev after the restart");

    const dev = await logLines(page);
    for (const text of ["dev before the restart", "dev while you were away", "dev after"]) {
      assert.equal(dev.filter((l) => l.includes(text)).length, 1, `${text}: ${dev.join(" | ")}`);
    }
    // What was missed comes after a divider saying so, once.
    const lines = await page.locator("#log li").allTextContents();
    const divider = lines.findIndex((l) => l === "New since you left");
    const missed = lines.findIndex((l) => l.includes("dev while you were away"));
    assert.ok(divider !== -1 && divider < missed, lines.join(" | "));
    assert.equal(lines.filter((l) => l === "New since you left").length, 1);
    assert.ok(!dev.some((l) => l.includes("lobby")), "nothing of #lobby in #dev");
    await roomButton(page, "#lobby").click();
    await showing(page, "#lobby");
    const lobby = await logLines(page);
    for (const text of ["lobby before the restart", "lobby while you were away"]) {
      assert.equal(
        lobby.filter((l) => l.includes(text)).length,
        1,
        `${text}: ${lobby.join(" | ")}`,
      );
    }
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("page: a refusal about no room (too fast, nobody of that name) is shown in the room being looked at", async () => {
  assets ??= await loadAssets();
  const browser = await launch();
  const server = startServer({ assets, floodBurst: 3, floodRate: 1 });
  try {
    const { page, problems } = await openPage(browser, httpUrl(server));
    await join(page, "alice");
    await say(page, "/join #dev");
    await showing(page, "#dev");
    await say(page, "/msg nobody hi");
    await seen(page, 'Nobody called "nobody" is here.');
    for (let i = 0; i < 6; i++) await say(page, `line ${i}`);
    await seen(page, "You are sending too fast");
    await showing(page, "#dev");
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.shutdown();
  }
});

Deno.test("page: a line too long to send says so and stays in the box, to be cut down", async () => {
  await withBrowser(async (browser, server) => {
    const { page, problems } = await openPage(browser, httpUrl(server));
    await join(page, "alice");
    const long = "x".repeat(2001);
    await page.fill("#text", long);
    await page.press("#text", "Enter");
    await seen(page, "Message is too long (2001 characters, at most 2000).");
    assert.equal(await page.inputValue("#text"), long);
    assert.deepEqual(problems, []);
  });
});

Deno.test("page: a reload rejoins this tab's rooms, not those another tab saved since", async () => {
  await withBrowser(async (browser, server) => {
    // Two tabs of one browser profile: their storage is shared.
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    await page.goto(httpUrl(server));
    await join(page, "alice");
    await say(page, "/join #dev");
    await showing(page, "#dev");
    const other = await context.newPage();
    await other.goto(httpUrl(server));
    await join(other, "alice2");
    await say(other, "/join #busy");
    await showing(other, "#busy");
    // It came in the rooms the first tab saved for the next visit; it leaves one.
    await say(other, "/part #dev");
    await other.locator("#log li", { hasText: "You left #dev." }).first().waitFor();
    assert.deepEqual(await sidebar(other), ["#lobby", "#busy"]);
    await page.reload();
    await page.waitForSelector('#status[data-state="open"]');
    await showing(page, "#dev");
    assert.deepEqual(await sidebar(page), ["#lobby", "#dev"]);
    assert.deepEqual(problems, []);
  });
});
