/**
 * Headless Chromium for the browser tests: Debian's `/usr/bin/chromium`
 * driven by playwright-core, never a downloaded browser.
 *
 * @module
 */

import { type Browser, chromium, type Page, type WebSocketRoute } from "playwright-core";
import { CHROMIUM } from "./setup.ts";
import { type Assets, loadAssets } from "../../server/assets.ts";
import { type ChatOptions, type ChatServer, startServer } from "../kit/server.ts";

export type { Browser, Page };

/** Flags that keep Chromium off the network and quiet in a sandboxed CI. */
const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/** Starts a headless Chromium. Close it with `browser.close()`. */
export function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
}

/** A page sized like a desktop or a phone, recording script errors and dialogs. */
export async function openPage(
  browser: Browser,
  url: string,
  size: "desktop" | "phone" = "desktop",
  { clock = false }: { clock?: boolean } = {},
): Promise<{ page: Page; problems: string[] }> {
  const viewport = size === "desktop" ? { width: 1100, height: 700 } : { width: 360, height: 640 };
  const page = await browser.newPage({ viewport });
  // A clock the test moves on by hand (`page.clock.runFor`), for the page's timers.
  if (clock) await page.clock.install();
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("dialog", (d) => {
    problems.push(`dialog: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  await page.goto(url);
  return { page, problems };
}

/** Joins the room from the page's form and waits for the chat view. */
export async function join(page: Page, nick: string): Promise<void> {
  await page.fill("#nick", nick);
  await page.press("#nick", "Enter");
  await page.waitForSelector("#chat-view:not([hidden])");
  await page.waitForSelector('#status[data-state="open"]');
}

/** Types a line into the composer and sends it with Enter. */
export async function say(page: Page, line: string): Promise<void> {
  await page.fill("#text", line);
  await page.press("#text", "Enter");
}

/** Waits until the log shows a message or notice containing `text`. */
export async function seen(page: Page, text: string): Promise<void> {
  await page.locator("#log li", { hasText: text }).first().waitFor();
}

/** The text of every log line. */
export function logLines(page: Page): Promise<string[]> {
  return page.locator("#log li").allTextContents();
}

// Built inside the first test that needs them, not at import: esbuild's
// helper process must start and end within one test for the resource sanitizer.
let assets: Assets | undefined;

/**
 * Runs `fn` with a headless Chromium and a server on free ports (started
 * with `options`, serving the page), closing both after.
 */
export async function withBrowserServer(
  options: ChatOptions,
  fn: (browser: Browser, server: ChatServer) => Promise<void>,
): Promise<void> {
  assets ??= await loadAssets();
  const browser = await launch();
  const server = startServer({ ...options, assets });
  try {
    await fn(browser, server);
  } finally {
    await browser.close();
    await server.shutdown();
  }
}

/**
 * Every socket `page` opens goes through here: `drop()` closes those open
 * and, until `restore()`, closes each new one as soon as it opens, as a
 * network that comes and goes would.
 */
export async function flakyNetwork(
  page: Page,
): Promise<{ drop(): Promise<void>; restore(): void }> {
  let up = true;
  const routes: WebSocketRoute[] = [];
  await page.routeWebSocket(/\/ws$/, (ws) => {
    if (!up) return void ws.close();
    ws.connectToServer();
    routes.push(ws);
  });
  return {
    async drop() {
      up = false;
      for (const ws of routes.splice(0)) await ws.close();
    },
    restore() {
      up = true;
    },
  };
}
