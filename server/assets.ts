/**
 * The page's files, prepared once at start and served from memory: the client
 * TypeScript bundled by esbuild, plus `static/`. Nothing is written to disk,
 * so the page served always matches the code that is running.
 *
 * The bundle and stylesheet get content-hashed names (`/app.3f2a9c1d.js`) and
 * are cached forever; `index.html` names them and is revalidated every time,
 * so a rebuild can never be served stale.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

/** One file the server answers with. */
export interface Asset {
  body: Uint8Array<ArrayBuffer>;
  /** The body gzipped, when that is smaller: sent to a client that accepts gzip. */
  gzip?: Uint8Array<ArrayBuffer>;
  type: string;
  /** Quoted, for the ETag header. */
  etag: string;
  /** True when the name holds the content hash, so it can be cached forever. */
  immutable: boolean;
}

/** Assets by request path. */
export type Assets = ReadonlyMap<string, Asset>;

const STATIC = new URL("../static/", import.meta.url);
const ENTRY = new URL("../client/main.ts", import.meta.url);

/** Bundles `client/` and reads `static/` into servable assets. */
export async function loadAssets(): Promise<Assets> {
  const [js, css, html, icon] = await Promise.all([
    bundleClient(),
    Deno.readFile(new URL("style.css", STATIC)),
    Deno.readTextFile(new URL("index.html", STATIC)),
    Deno.readFile(new URL("favicon.svg", STATIC)),
  ]);
  const assets = new Map<string, Asset>();
  const app = await asset(js, "text/javascript; charset=utf-8", true);
  const style = await asset(css, "text/css; charset=utf-8", true);
  const appPath = `/app.${app.etag.slice(1, 9)}.js`;
  const stylePath = `/style.${style.etag.slice(1, 9)}.css`;
  assets.set(appPath, app);
  assets.set(stylePath, style);
  const page = html.replaceAll("/app.js", appPath).replaceAll("/style.css", stylePath);
  assets.set("/favicon.svg", await asset(icon, "image/svg+xml", false));
  assets.set("/", await asset(new TextEncoder().encode(page), "text/html; charset=utf-8", false));
  return assets;
}

/** Bundles and minifies the browser client. */
export async function bundleClient(): Promise<Uint8Array<ArrayBuffer>> {
  try {
    const result = await esbuild.build({
      entryPoints: [fileURLToPath(ENTRY)],
      bundle: true,
      minify: true,
      format: "esm",
      target: "es2022",
      write: false,
      logLevel: "silent",
    });
    const out = result.outputFiles[0];
    if (!out) throw new Error("Cannot bundle the client: esbuild produced no output");
    return new Uint8Array(out.contents);
  } finally {
    await esbuild.stop();
  }
}

async function asset(
  body: Uint8Array<ArrayBuffer>,
  type: string,
  immutable: boolean,
): Promise<Asset> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
  const hex = Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
  const packed = await gzipped(body);
  return packed.length < body.length
    ? { body, gzip: packed, type, etag: `"${hex}"`, immutable }
    : { body, type, etag: `"${hex}"`, immutable };
}

/** `body` gzipped (once, at start: the page's script is 43 KB, 15 KB gzipped). */
async function gzipped(body: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([body]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
