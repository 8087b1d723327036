/**
 * Takes the README's screenshot: a lively conversation in `#dev` between two
 * browser tabs and two terminal members, with a topic, a private message,
 * Chinese text, and unread lines and a mention waiting in other rooms,
 * captured from headless Chromium into `static/screenshot.png`.
 *
 * Run with `deno task screenshot`.
 *
 * @module
 */

import { loadAssets } from "../../server/assets.ts";
import { httpUrl, startServer } from "../kit/server.ts";
import { connectTcp } from "../kit/tcp_client.ts";
import { join, launch, openPage, type Page, say, seen } from "./browser.ts";

/** Waits until `room` is the room shown. */
async function showing(page: Page, room: string): Promise<void> {
  await page.locator("#room-title", { hasText: room }).waitFor({ state: "attached" });
}

const OUT = new URL("../../static/screenshot.png", import.meta.url);

if (import.meta.main) {
  const server = startServer({ assets: await loadAssets() });
  const browser = await launch();
  try {
    const { page } = await openPage(browser, httpUrl(server));
    const other = await openPage(browser, httpUrl(server), "phone");
    await join(page, "alice");
    await join(other.page, "小明");
    await using ops = await connectTcp(server, "ops");
    await using bob = await connectTcp(server, "bob");
    await using carol = await connectTcp(server, "carol");
    // alice makes #dev, sets its topic, and everyone but carol comes over.
    await say(page, "/join #dev");
    await showing(page, "#dev");
    await say(page, "/topic Deploy of v2.3 today at 10:00 · runbook https://example.com/runbook");
    await say(other.page, "/join #中文");
    await say(other.page, "/join #dev");
    await ops.send("/join #dev");
    await bob.send("/join #dev");
    await seen(page, "bob joined");

    await say(page, "Morning! Deploy of v2.3 starts at 10:00 🚀");
    await ops.send("/me is watching the dashboards");
    await say(other.page, "大家早上好！我这边已经准备好了。");
    await bob.send("Runbook is at https://example.com/runbook#deploy");
    await bob.send("/msg alice can you review my PR before the deploy?");
    await seen(page, "review my PR");
    await say(page, "/msg bob sure, looking now");
    await ops.send("CPU at 41%, all green");
    await say(other.page, "👍 收到");
    await say(page, "Thanks all, starting the rollout");
    // Elsewhere: an unread line in #lobby, and a mention in #中文.
    await say(page, "/join #中文");
    await showing(page, "#中文");
    await say(page, "/join #dev");
    await showing(page, "#dev");
    await carol.send("lunch at 12, anyone?");
    await say(other.page, "/join #中文");
    await showing(other.page, "#中文");
    await say(other.page, "alice 你好，部署完告诉我一声");
    await page.locator("#room-list .mention").first().waitFor();
    await page.locator("#room-list .room", { hasText: "#lobby" }).locator(".badge").waitFor();
    await seen(page, "starting the rollout");
    await page.screenshot({ path: OUT.pathname });
    console.log(`wrote ${OUT.pathname}`);
  } finally {
    await browser.close();
    await server.shutdown();
  }
}
