/**
 * Makes sure the browser tests have a browser: Debian's Chromium and fonts
 * for Chinese and emoji (and `redis-server`, for the page on several nodes). As root, installs what is missing with apt-get;
 * otherwise says exactly what to install and exits 1 (see `kit/debian.ts`).
 *
 * Run by `deno task test` before the browser tests. Never downloads a browser
 * of its own.
 *
 * @module
 */

import { ensurePackages } from "../kit/debian.ts";
import { REDIS_SERVER } from "../kit/redis_server.ts";

/** Where the tests expect Chromium (override with the CHROMIUM variable). */
export const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";

if (import.meta.main) {
  await ensurePackages({
    suite: "browser tests",
    packages: ["chromium", "fonts-noto-cjk", "fonts-noto-color-emoji", "redis-server"],
    programs: [CHROMIUM, REDIS_SERVER],
  });
}
