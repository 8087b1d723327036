/**
 * The page in a real browser (headless Chromium), with terminal members on
 * real TCP connections, against a real server on free ports.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Assets, loadAssets } from "../../server/assets.ts";
import type { HistoryStore } from "../../server/history/history.ts";
import { SqliteHistory } from "../../server/history/sqlite.ts";
import { type ChatOptions, type ChatServer, httpUrl, startServer } from "../kit/server.ts";
import { connectTcp, TcpClient } from "../kit/tcp_client.ts";
import { connectWs } from "../kit/ws_client.ts";
import {
  type Browser,
  flakyNetwork,
  join,
  launch,
  logLines,
  openPage,
  say,
  seen,
} from "./browser.ts";

// Built inside the first test, not at import: esbuild's helper process must
// start and end within one test for the resource sanitizer.
let assets: Assets | undefined;

async function start(
  port = 0,
  store?: HistoryStore,
  options: ChatOptions = {},
): Promise<ChatServer> {
  assets ??= await loadAssets();
  return startServer({ port, ...(store ? { store } : {}), ...options, assets });
}

/** Runs `fn` with a browser and a server, closing both after. */
async function withBrowser(
  fn: (browser: Browser, server: ChatServer) => Promise<void>,
  options: ChatOptions = {},
) {
  const browser = await launch();
  const server = await start(0, undefined, options);
  try {
    await fn(browser, server);
  } finally {
    await browser.close();
    await server.shutdown();
  }
}

Deno.test("page: two browser tabs and a terminal chat together", async () => {
  await withBrowser(async (browser, server) => {
    const a = await openPage(browser, httpUrl(server));
    const b = await openPage(browser, httpUrl(server), "phone");
    await join(a.page, "小红");
    await join(b.page, "dave");
    await using term = await connectTcp(server, "carol");

    await say(a.page, "大家好 from the web");
    await seen(b.page, "大家好 from the web");
    await term.readUntil("<小红> 大家好 from the web");

    await term.send("hello from a terminal");
    await seen(a.page, "hello from a terminal");
    await seen(b.page, "hello from a terminal");

    const members = await a.page.locator("#member-list .member").allTextContents();
    assert.deepEqual(members.sort(), ["carolterminal", "daveweb", "小红web"].sort());
    // The transport tag sits on the name's line (their baselines), not above it.
    const carol = a.page.locator('#member-list .member:has-text("carol")');
    const name = await carol.locator(".name").boundingBox();
    const via = await carol.locator(".via").boundingBox();
    assert.ok(name && via && via.y > name.y, `tag at ${via?.y}, name at ${name?.y}`);
    // Each nickname has its colour in the log.
    const colorOf = (who: string) =>
      a.page.evaluate(`(() => {
        const line = [...document.querySelectorAll("#log li")].find((l) => l.textContent.includes(${
        JSON.stringify(who)
      }));
        return getComputedStyle(line.querySelector(".from")).color;
      })()`);
    const [carolColor, mineColor] = [
      await colorOf("hello from a terminal"),
      await colorOf("大家好"),
    ];
    assert.notEqual(carolColor, mineColor);
    // One's own name offers a new nickname.
    await a.page.click('#member-list .member:has-text("小红")');
    assert.equal(await a.page.inputValue("#text"), "/nick ");
    assert.deepEqual([...a.problems, ...b.problems], []);
  });
});

Deno.test("page: in a big room, presence summaries keep the member list and count right", async () => {
  await withBrowser(async (browser, server) => {
    const { page, problems } = await openPage(browser, httpUrl(server));
    await join(page, "watcher");
    await using tom = await connectTcp(server, "tom");
    // The test says when a summary goes out (the server's timer is an hour).
    server.hub.summarize();
    await seen(page, "watcher (web), tom (terminal) joined (2 here)");
    await page.locator("#member-list .member", { hasText: "tom" }).waitFor();

    // More join at once than a summary names: the page fetches the list.
    const crowd = await Promise.all(
      Array.from({ length: 12 }, (_, i) => connectWs(server, `c${i}`)),
    );
    try {
      server.hub.summarize();
      // In whatever order the twelve were seated: it names ten and counts the rest.
      await seen(page, "and 2 more) joined (14 here)");
      await page.locator("#member-list .member").nth(13).waitFor();
      assert.equal(await page.locator("#member-count").textContent(), "14");
      await tom.send("/quit");
      await tom.readToEnd();
      server.hub.summarize();
      await seen(page, "tom left (13 here)");
      await page.locator("#member-list .member", { hasText: "tom" }).waitFor({ state: "detached" });
      assert.equal(await page.locator("#member-list .member").count(), 13);
      assert.equal(await page.locator("#member-count").textContent(), "13");
      const fetched = (await logLines(page)).filter((line) => line.includes(" here: "));
      assert.deepEqual(fetched, [], "the page's own list requests print nothing");
    } finally {
      await Promise.all(crowd.map((c) => c.close()));
    }
    assert.deepEqual(problems, []);
    // The crowd, the page's socket and the browser's keep-alive HTTP
    // connections all count against --max-per-ip, from one address.
  }, { presenceLimit: 0, presenceEveryMs: 3_600_000, maxPerIp: 100 });
});

Deno.test("page: a private message reaches only its target", async () => {
  await withBrowser(async (browser, server) => {
    const a = await openPage(browser, httpUrl(server));
    const b = await openPage(browser, httpUrl(server));
    const c = await openPage(browser, httpUrl(server));
    await join(a.page, "alice");
    await join(b.page, "bob");
    await join(c.page, "eve");

    // Clicking a member starts a private message to them.
    await a.page.click('#member-list .member:has-text("bob")');
    assert.equal(await a.page.inputValue("#text"), "/msg bob ");
    await a.page.type("#text", "the secret is 42");
    await a.page.press("#text", "Enter");
    await seen(b.page, "the secret is 42");
    await seen(a.page, "the secret is 42");
    assert.equal(await b.page.locator("#log li.private").count(), 1);

    // A public line after it: once eve sees it, she has seen all before it.
    await say(a.page, "public line");
    await seen(c.page, "public line");
    const eve = await logLines(c.page);
    assert.ok(!eve.some((l) => l.includes("secret")), `eve saw: ${eve.join(" | ")}`);
  });
});

Deno.test("page: a notice is shown as a message, marked notice", async () => {
  await withBrowser(async (browser, server) => {
    const a = await openPage(browser, httpUrl(server));
    await join(a.page, "alice");
    await using bot = await connectWs(server, "bot");
    bot.send({ type: "say", text: "build 42 passed", notice: true });
    bot.send({ type: "say", text: "a plain line" });
    await seen(a.page, "a plain line");
    const notice = a.page.locator("#log li.msg.notice");
    assert.equal(await notice.count(), 1);
    assert.match(await notice.textContent() ?? "", /bot.*build 42 passed/);
    assert.equal(await a.page.locator('#log li.notice:has-text("a plain line")').count(), 0);
    assert.deepEqual(a.problems, []);
  });
});

Deno.test("page: markup in a message is shown as text and runs nothing", async () => {
  await withBrowser(async (browser, server) => {
    const a = await openPage(browser, httpUrl(server));
    const b = await openPage(browser, httpUrl(server));
    await join(a.page, "mallory");
    await join(b.page, "bob");
    const payload = "<img src=x onerror=alert(1)> <script>alert(2)</script>";
    await say(a.page, payload);
    await seen(b.page, payload);
    assert.equal(await b.page.locator("#log img, #log script").count(), 0);
    await say(a.page, "see https://example.com/a_(b) and javascript:alert(3)");
    await seen(b.page, "javascript:alert(3)");
    const link = b.page.locator("#log a");
    assert.equal(await link.count(), 1);
    assert.equal(await link.getAttribute("href"), "https://example.com/a_(b)");
    assert.equal(await link.getAttribute("rel"), "noopener noreferrer");
    assert.deepEqual([...a.problems, ...b.problems], []);
  });
});

Deno.test("page: a server restart shows reconnecting, then the page rejoins by itself", async () => {
  const dir = await Deno.makeTempDir();
  const db = `${dir}/chat.db`;
  const browser = await launch();
  let server = await start(0, new SqliteHistory(db, 1000));
  try {
    const port = server.http.port;
    const a = await openPage(browser, httpUrl(server));
    await join(a.page, "alice");
    await say(a.page, "before the restart");
    await seen(a.page, "before the restart");

    await server.shutdown();
    await a.page.waitForSelector('#status[data-state="waiting"]');
    assert.match(await a.page.textContent("#status") ?? "", /Reconnecting/);

    // The history survives the restart; said while the page was away, a line
    // reaches it on rejoin, once.
    server = await start(port, new SqliteHistory(db, 1000));
    await using term = await connectTcp(server, "bob");
    await term.send("said while you were away");
    await a.page.waitForSelector('#status[data-state="open"]');
    await seen(a.page, "said while you were away");
    await say(a.page, "after the restart");
    await term.readUntil("<alice> after the restart");
    await seen(a.page, "after the restart"); // its own copy may come a moment after bob's
    const lines = await logLines(a.page);
    for (const text of ["before the restart", "said while you were away", "after the restart"]) {
      assert.equal(
        lines.filter((l) => l.includes(text)).length,
        1,
        `${text}: ${lines.join(" | ")}`,
      );
    }
    assert.deepEqual(a.problems, []);
  } finally {
    await browser.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("page: lines typed while the socket is down survive a reload, and are said once it is back", async () => {
  await withBrowser(async (browser, server) => {
    await using term = await connectTcp(server, "carol");
    const { page, problems } = await openPage(browser, httpUrl(server));
    const network = await flakyNetwork(page);
    await join(page, "alice");
    await term.readUntil("-- alice");

    assert.equal(await page.getAttribute("#text", "placeholder"), "Message as alice, or /help");
    await network.drop();
    await term.readUntil("-- alice left");
    await page.waitForSelector('#status[data-state="waiting"]');
    // Shown as waiting, where it was typed.
    await say(page, "typed while the socket was down");
    await seen(page, "Waiting to send: typed while the socket was down");
    await page.reload();
    network.restore();
    await page.waitForSelector('#status[data-state="open"]');
    // The page's own copy first: it fails in 30 s where the terminal would wait.
    await seen(page, "typed while the socket was down");
    await term.readUntil("<alice> typed while the socket was down");
    const lines = await logLines(page);
    assert.equal(lines.filter((l) => l.includes("typed while the socket was down")).length, 1);
    assert.deepEqual(problems, []);
  });
});

Deno.test("page: a line typed while reconnecting shows as waiting, then goes out once, in order", async () => {
  await withBrowser(async (browser, server) => {
    await using term = await connectTcp(server, "carol");
    const { page, problems } = await openPage(browser, httpUrl(server));
    const network = await flakyNetwork(page);
    await join(page, "alice");
    await network.drop();
    await page.waitForSelector('#status[data-state="waiting"]');
    await say(page, "first while away");
    await say(page, "second while away");
    await seen(page, "Waiting to send: second while away");
    assert.equal(await page.getAttribute("#members", "class"), "members stale");
    network.restore();
    await page.waitForSelector('#status[data-state="open"]');
    await term.readUntil("<alice> first while away");
    await term.readUntil("<alice> second while away");
    await seen(page, "second while away");
    assert.equal(await page.locator("#log li.pending").count(), 0);
    assert.equal(await page.getAttribute("#members", "class"), "members");
    const lines = (await logLines(page)).filter((l) => l.includes("while away"));
    assert.deepEqual(lines.map((l) => l.replace(/^.*?(first|second)/, "$1")), [
      "first while away",
      "second while away",
    ]);
    assert.deepEqual(problems, []);
  });
});

Deno.test("page: a rejoin refused because its nickname was taken meanwhile is back at the form, not joined", async () => {
  const browser = await launch();
  let server = await start(0, new SqliteHistory(":memory:", 100));
  try {
    const port = server.http.port;
    const a = await openPage(browser, httpUrl(server));
    await join(a.page, "alice");
    await server.shutdown();
    await a.page.waitForSelector('#status[data-state="waiting"]');
    // Someone else takes the name before the page is back.
    server = await start(port, new SqliteHistory(":memory:", 100));
    await using _term = await connectTcp(server, "alice");
    await a.page.locator("#join-error", { hasText: /taken|in use/i }).waitFor();
    await a.page.locator("#status", { hasText: "Not joined" }).waitFor();
    assert.equal(await a.page.isVisible("#nick"), true);
    assert.deepEqual(a.problems, []);
  } finally {
    await browser.close();
    await server.shutdown();
  }
});

Deno.test("page: a long nickname is cut in the log (whole in its title), nothing scrolls sideways on a phone, and a sender's next line there takes no row for its name", async () => {
  await withBrowser(async (browser, server) => {
    const long = "王".repeat(23);
    await using writer = await connectWs(server, long);
    for (const size of ["desktop", "phone"] as const) {
      const { page, problems } = await openPage(browser, httpUrl(server), size);
      await join(page, size === "desktop" ? "pat" : "phil");
      writer.send({ type: "say", text: `first line for ${size}` });
      writer.send({ type: "say", text: `next line for ${size}` });
      await seen(page, `next line for ${size}`);
      const first = page.locator("#log li.msg", { hasText: `first line for ${size}` }).first();
      const name = first.locator(".from");
      const nameWidth = (await name.boundingBox())!.width;
      assert.ok(nameWidth < 220, `${size}: the name is ${nameWidth}px wide`);
      assert.equal(await name.getAttribute("title"), long);
      const [scroll, client] = await page.locator("#log").evaluate((l) => [
        l.scrollWidth,
        l.clientWidth,
      ]);
      assert.ok(scroll <= client, `${size}: the log scrolls sideways (${scroll} > ${client})`);
      if (size === "phone") {
        const next = page.locator("#log li.msg.cont", { hasText: `next line for ${size}` });
        const height = (await next.boundingBox())!.height;
        const lineHeight = (await next.locator(".text").boundingBox())!.height;
        assert.ok(height < lineHeight * 1.6, `one row: ${height}px for a ${lineHeight}px line`);
      }
      assert.deepEqual(problems, []);
      await page.close();
    }
  });
});

Deno.test("page: on a phone the member list is a drawer, and a hidden tab counts unread", async () => {
  await withBrowser(async (browser, server) => {
    const phone = await openPage(browser, httpUrl(server), "phone");
    await join(phone.page, "pat");
    await using term = await connectTcp(server, "terry");
    await seen(phone.page, "terry joined");

    // The member list is folded away until the toggle opens it.
    const list = phone.page.locator("#members");
    assert.equal(await list.isVisible(), false);
    await phone.page.click("#members-toggle");
    assert.equal(await list.isVisible(), true);
    assert.equal(await phone.page.getAttribute("#members-toggle", "aria-expanded"), "true");
    // It leaves the message box uncovered.
    const drawer = await list.boundingBox();
    const box = await phone.page.locator("#text").boundingBox();
    assert.ok(
      drawer && box && drawer.y + drawer.height <= box.y + 0.5,
      `${drawer?.y}+${drawer?.height} over ${box?.y}`,
    );
    // Escape closes it and gives the focus back to its toggle; so does a tap outside it.
    await phone.page.keyboard.press("Escape");
    assert.equal(await list.isVisible(), false);
    assert.equal(await phone.page.getAttribute("#members-toggle", "aria-expanded"), "false");
    assert.equal(await phone.page.evaluate("document.activeElement.id"), "members-toggle");
    await phone.page.click("#members-toggle");
    assert.equal(await list.isVisible(), true);
    await phone.page.mouse.click(5, 300);
    assert.equal(await list.isVisible(), false);
    await phone.page.click("#members-toggle");
    await phone.page.click('#member-list .member:has-text("terry")');
    assert.equal(await list.isVisible(), false);
    assert.equal(await phone.page.inputValue("#text"), "/msg terry ");
    assert.equal(await phone.page.evaluate("document.activeElement.id"), "text");

    // Hidden tab: the title counts messages; showing it again resets.
    await phone.page.evaluate(`
      Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
      document.dispatchEvent(new Event("visibilitychange"));
    `);
    await term.send("one");
    await term.send("two");
    await seen(phone.page, "two");
    assert.equal(await phone.page.title(), "(2) Chat");
    await phone.page.evaluate(`
      Object.defineProperty(document, "hidden", { configurable: true, get: () => false });
      document.dispatchEvent(new Event("visibilitychange"));
    `);
    assert.equal(await phone.page.title(), "Chat");

    // Scrolled up: new lines do not move the view; a marker offers to jump.
    for (let i = 0; i < 30; i++) await term.send(`filler ${i}`);
    await seen(phone.page, "filler 29");
    await phone.page.evaluate(`document.querySelector("#log").scrollTop = 0`);
    // At the top, older lines are asked for: here there are none.
    await seen(phone.page, "Beginning of history");
    const top = await phone.page.evaluate(`document.querySelector("#log").scrollTop`);
    await term.send("while you were reading");
    await seen(phone.page, "while you were reading");
    assert.equal(await phone.page.isVisible("#new-messages"), true);
    assert.equal(await phone.page.evaluate(`document.querySelector("#log").scrollTop`), top);
    await phone.page.click("#new-messages");
    assert.equal(await phone.page.isVisible("#new-messages"), false);
    assert.deepEqual(phone.problems, []);
  });
});

Deno.test("page: works from the keyboard alone, in the dark scheme too", async () => {
  await withBrowser(async (browser, server) => {
    const { page, problems } = await openPage(browser, httpUrl(server));
    await page.emulateMedia({ colorScheme: "dark" });
    assert.equal(await page.getByRole("textbox", { name: "Nickname", exact: true }).count(), 1);
    assert.equal(await page.getByRole("button", { name: "Join", exact: true }).count(), 1);
    // The nickname field has focus on load: type, Enter, type, Enter.
    await page.keyboard.type("kim");
    await page.keyboard.press("Enter");
    await page.waitForSelector('#status[data-state="open"]');
    await page.keyboard.type("no mouse needed");
    await page.keyboard.press("Enter");
    await seen(page, "no mouse needed");
    assert.equal(await page.evaluate("document.activeElement.id"), "text");
    const background = await page.evaluate("getComputedStyle(document.body).backgroundColor");
    assert.equal(background, "rgb(21, 23, 27)");
    // Every control is found by its role and accessible name, as a screen reader would.
    for (
      const [role, name] of [
        ["textbox", "Message"],
        ["button", "Send"],
        ["list", "Messages"],
      ] as const
    ) {
      assert.equal(await page.getByRole(role, { name, exact: true }).count(), 1, `${role} ${name}`);
    }
    assert.equal(await page.getByRole("complementary", { name: "Here now" }).count(), 1);
    assert.equal(await page.getAttribute("#log", "aria-live"), "polite");
    assert.deepEqual(problems, []);
  });
});

Deno.test("page: a kicked page says why and stays out; the ban refuses it by address", async () => {
  await withBrowser(async (browser, server) => {
    const { page, problems } = await openPage(browser, httpUrl(server));
    await join(page, "mallory");
    await using term = await connectTcp(server, "ops");
    assert.equal(server.hub.kick("mallory", "spam"), true);
    await seen(page, "You were kicked by the server: spam.");
    // It stops: no reconnect brings it back into the room.
    await page.waitForSelector('#status[data-state="closed"]');
    assert.deepEqual(server.hub.members().map((m) => m.nick), ["ops"]);
    // A line typed now goes nowhere, and says so: it stays in the box.
    await say(page, "am I still here?");
    await seen(page, "Not connected: nothing was sent. Join again to talk.");
    assert.equal(await page.inputValue("#text"), "am I still here?");
    // Another name from the same address is refused for the ban's length.
    await using again = await TcpClient.open(server);
    await again.readUntil("Your nickname: ");
    await again.send("eve");
    await again.readUntil("You were kicked; you can come back in");
    assert.deepEqual(problems, []);
    await term.send("bye");
  }, { kickBan: 60 });
});

Deno.test("page: /quit MESSAGE says it to the others; a closed tab is 'closed the page'", async () => {
  await withBrowser(async (browser, server) => {
    await using term = await connectTcp(server, "carol");
    const a = await openPage(browser, httpUrl(server));
    await join(a.page, "alice");
    await term.readUntil("alice");
    await say(a.page, "/quit see you tomorrow");
    await term.readUntil("-- alice left (quit: see you tomorrow)");

    const b = await openPage(browser, httpUrl(server));
    await join(b.page, "bob");
    await term.readUntil("-- bob");
    await b.page.close();
    await term.readUntil("-- bob left (closed the page)");
    assert.deepEqual([...a.problems, ...b.problems], []);
  });
});

Deno.test("page: before joining, and after a refused nickname, the status is neutral, not 'Connecting…'", async () => {
  await withBrowser(async (browser, server) => {
    await using term = await connectTcp(server, "taken");
    const a = await openPage(browser, httpUrl(server));
    const status = a.page.locator("#status");
    assert.equal(await status.textContent(), "Not joined");
    assert.equal(await status.getAttribute("data-state"), "idle");
    // A nickname someone has: refused, and nothing is pending.
    await a.page.fill("#nick", "taken");
    await a.page.press("#nick", "Enter");
    await a.page.locator("#join-error", { hasText: /taken|in use/i }).waitFor();
    await a.page.waitForSelector('#status[data-state="idle"]');
    assert.equal(await status.textContent(), "Not joined");
    // Then a free one joins as usual.
    await join(a.page, "free");
    assert.equal(await status.textContent(), "Online");
    await term.readUntil("free");
    assert.deepEqual(a.problems, []);
  });
});

Deno.test("page: a nickname typed too long is refused with its length, not cut short and joined", async () => {
  await withBrowser(async (browser, server) => {
    const a = await openPage(browser, httpUrl(server));
    // Typed key by key, as a person does: a field's length limit cuts typing, not fill().
    await a.page.locator("#nick").pressSequentially("abcdefghijklmnopqrstuvwxyz");
    assert.equal(await a.page.inputValue("#nick"), "abcdefghijklmnopqrstuvwxyz");
    await a.page.press("#nick", "Enter");
    await a.page.locator("#join-error", {
      hasText: "Nickname is too long (26 characters, at most 24).",
    }).waitFor();
    assert.equal(await a.page.isVisible("#nick"), true);
    // Emptied and sent: the old refusal gives way to what is wrong now.
    await a.page.fill("#nick", "  ");
    await a.page.press("#nick", "Enter");
    await a.page.locator("#join-error", { hasText: "Type a nickname to join." }).waitFor();
    assert.deepEqual(a.problems, []);
  });
});

Deno.test("page: /help lists the commands, not the terminal's /bell", async () => {
  await withBrowser(async (browser, server) => {
    const a = await openPage(browser, httpUrl(server));
    await join(a.page, "alice");
    await say(a.page, "/help");
    await seen(a.page, "/join #ROOM");
    const lines = await logLines(a.page);
    assert.ok(lines.some((l) => l.includes("/who [#ROOM]")), lines.join("\n"));
    assert.ok(!lines.some((l) => l.includes("/bell")), lines.join("\n"));
    assert.deepEqual(a.problems, []);
  });
});

Deno.test("page: Up recalls the lines sent, and Tab completes a nickname", async () => {
  await withBrowser(async (browser, server) => {
    const a = await openPage(browser, httpUrl(server));
    await join(a.page, "alice");
    await using term = await connectTcp(server, "terry");
    await a.page.locator('#member-list .member:has-text("terry")').waitFor();
    await say(a.page, "first line");
    await say(a.page, "second line");
    await seen(a.page, "second line");
    await a.page.press("#text", "ArrowUp");
    assert.equal(await a.page.inputValue("#text"), "second line");
    await a.page.press("#text", "ArrowUp");
    assert.equal(await a.page.inputValue("#text"), "first line");
    await a.page.press("#text", "ArrowDown");
    await a.page.press("#text", "ArrowDown");
    assert.equal(await a.page.inputValue("#text"), "", "back to the (empty) draft");
    await a.page.fill("#text", "te");
    await a.page.press("#text", "Tab");
    assert.equal(await a.page.inputValue("#text"), "terry: ");
    assert.equal(await a.page.evaluate("document.activeElement.id"), "text", "focus stays");
    await a.page.type("#text", "hello");
    await a.page.press("#text", "Enter");
    await term.readUntil("<alice> terry: hello");
    assert.deepEqual(a.problems, []);
  });
});

Deno.test("page: after a resize or a phone turned without scrolling, the log still follows new lines", async () => {
  await withBrowser(async (browser, server) => {
    const phone = await openPage(browser, httpUrl(server), "phone");
    await join(phone.page, "pat");
    await using term = await connectTcp(server, "terry");
    for (let i = 0; i < 40; i++) await term.send(`filler ${i}`);
    await seen(phone.page, "filler 39");
    // Turned to landscape, then back: the reader did not scroll.
    await phone.page.setViewportSize({ width: 740, height: 360 });
    await phone.page.setViewportSize({ width: 360, height: 740 });
    await phone.page.setViewportSize({ width: 360, height: 500 });
    await term.send("after the turn");
    await seen(phone.page, "after the turn");
    assert.equal(await phone.page.isVisible("#new-messages"), false);
    const gap = await phone.page.evaluate(
      `(() => { const l = document.querySelector("#log"); return l.scrollHeight - l.scrollTop - l.clientHeight; })()`,
    );
    assert.ok(typeof gap === "number" && gap < 40, `the log is ${gap}px from its end`);
    assert.deepEqual(phone.problems, []);
  });
});

Deno.test("page: the day's name comes first in a room's log, before a join shown ahead of any message", async () => {
  await withBrowser(async (browser, server) => {
    const a = await openPage(browser, httpUrl(server));
    await join(a.page, "alice");
    await using term = await connectTcp(server, "terry");
    await a.page.locator("#log li.system", { hasText: "terry" }).waitFor();
    await term.send("first words");
    await seen(a.page, "first words");
    const texts = await a.page.locator("#log li").allTextContents();
    const days = texts.filter((t) => t === "Today");
    assert.equal(days.length, 1, texts.join(" | "));
    const at = (part: string) => texts.findIndex((t) => t.includes(part));
    assert.ok(at("Today") < at("terry") && at("terry") < at("first words"), texts.join(" | "));
    assert.deepEqual(a.problems, []);
  });
});

Deno.test("page: replayed history is marked, with 'Live from here' after it; a resume shows 'New since you left'", async () => {
  await withBrowser(async (browser, server) => {
    await using term = await connectTcp(server, "terry");
    await term.send("said before you came");
    const a = await openPage(browser, httpUrl(server));
    await join(a.page, "alice");
    await seen(a.page, "said before you came");
    const before = a.page.locator("#log li", { hasText: "said before you came" });
    assert.match((await before.getAttribute("class")) ?? "", /\bhistory\b/);
    const divider = a.page.locator("#log li.divider.live");
    assert.equal(await divider.textContent(), "Live from here");
    // The day starts with its name.
    assert.equal(await a.page.locator("#log li.divider.day").first().textContent(), "Today");
    await term.send("said live");
    await seen(a.page, "said live");
    const live = a.page.locator("#log li", { hasText: "said live" });
    assert.doesNotMatch((await live.getAttribute("class")) ?? "", /\bhistory\b/);
    // terry again, soon after: grouped, the name not shown again.
    await term.send("and more");
    await seen(a.page, "and more");
    const more = a.page.locator("#log li", { hasText: "and more" });
    assert.match((await more.getAttribute("class")) ?? "", /\bcont\b/);
    assert.doesNotMatch((await live.getAttribute("class")) ?? "", /\bcont\b/, "after the divider");
    // The order in the log: history, the divider, live.
    const texts = await a.page.locator("#log li").allTextContents();
    const at = (part: string) => texts.findIndex((t) => t.includes(part));
    assert.ok(at("said before") < at("Live from here") && at("Live from here") < at("said live"));
    assert.deepEqual(a.problems, []);
  });
});

Deno.test("page: emoji are drawn in colour, even those a text font has a plain outline of", async () => {
  await withBrowser(async (browser, server) => {
    const a = await openPage(browser, httpUrl(server));
    await join(a.page, "alice");
    await using term = await connectTcp(server, "terry");
    // 😀 and 😺: DejaVu Sans (system-ui here) has them in black and white; 🐙 it has not.
    await term.send("faces 😀 😺 🐙");
    await seen(a.page, "faces 😀 😺 🐙");
    // Each face drawn in black with the message text's font: an outline has
    // no pixel whose channels differ.
    const colours: unknown = await a.page.evaluate(`(async () => {
      const text = [...document.querySelectorAll(".log .text")]
        .find((e) => e.textContent.startsWith("faces"));
      const font = getComputedStyle(text).font;
      const out = {};
      for (const face of ["😀", "😺", "🐙"]) {
        await document.fonts.load(font, face);
        const canvas = document.createElement("canvas");
        canvas.width = canvas.height = 64;
        const g = canvas.getContext("2d");
        g.font = font;
        g.textBaseline = "top";
        g.fillStyle = "#000";
        g.fillText(face, 4, 4);
        const { data } = g.getImageData(0, 0, 64, 64);
        let coloured = false;
        for (let i = 0; i < data.length; i += 4) {
          const r = data[i], gr = data[i + 1], b = data[i + 2];
          if (Math.max(r, gr, b) - Math.min(r, gr, b) > 60) coloured = true;
        }
        out[face] = coloured;
      }
      return out;
    })()`);
    assert.deepEqual(colours, { "😀": true, "😺": true, "🐙": true });
    assert.deepEqual(a.problems, []);
  });
});
