/**
 * Takes the README's screenshot: a lively conversation between two browser
 * tabs and two terminal members, with a private message and Chinese text,
 * captured from headless Chromium into `static/screenshot.png`.
 *
 * Run with `deno task screenshot`.
 *
 * @module
 */

import { loadAssets } from "../../server/assets.ts";
import { httpUrl, startServer } from "../kit/server.ts";
import { connectTcp } from "../kit/tcp_client.ts";
import { join, launch, openPage, say, seen } from "./browser.ts";

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
    await seen(page, "starting the rollout");
    await page.screenshot({ path: OUT.pathname });
    console.log(`wrote ${OUT.pathname}`);
  } finally {
    await browser.close();
    await server.shutdown();
  }
}
