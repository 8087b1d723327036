/**
 * The page in a real browser (headless Chromium) on two nodes of one
 * service (`--redis`), with a terminal member, over a real `redis-server`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { loadAssets } from "../../server/assets.ts";
import { withNodes } from "../kit/cluster.ts";
import { httpUrl } from "../kit/server.ts";
import { connectTcp } from "../kit/tcp_client.ts";
import { join, launch, openPage, say, seen } from "./browser.ts";

Deno.test("page: two tabs on two nodes and a terminal chat together, and see one member list", async () => {
  const assets = await loadAssets();
  const browser = await launch();
  try {
    await withNodes(2, async ([a, b]) => {
      const one = await openPage(browser, httpUrl(a!));
      const two = await openPage(browser, httpUrl(b!));
      await join(one.page, "小红");
      await join(two.page, "dave");
      await using term = await connectTcp(b!, "carol");

      await say(one.page, "你好 from node one");
      await seen(two.page, "你好 from node one");
      await term.readUntil("<小红> 你好 from node one");

      await say(two.page, "hi from node two");
      await seen(one.page, "hi from node two");
      await term.readUntil("<dave> hi from node two");

      await term.send("and from a terminal");
      await seen(one.page, "and from a terminal");
      await seen(two.page, "and from a terminal");

      // The member list is the service's, on either node.
      await term.send("/who");
      const who = await term.readUntil("3 here: ");
      for (const name of ["小红 (web)", "dave (web)", "carol (terminal)"]) {
        assert.ok(who.includes(name), who);
      }
    }, { assets });
  } finally {
    await browser.close();
  }
});
