/**
 * What the page weighs: the bundled script and the stylesheet, as served
 * and gzipped. The README's "Size" line comes from here:
 * `deno run --allow-read --allow-env --allow-run bench/size.ts`, and a test
 * (`tests/readme_test.ts`) fails when the README says other figures.
 *
 * @module
 */

import { gzipSync } from "node:zlib";
import { bundleClient } from "../server/assets.ts";

/** The page's weight, each figure as the README writes it ("30.1 KiB"). */
export interface PageSize {
  script: string;
  scriptGzipped: string;
  style: string;
  styleGzipped: string;
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

/** Bundles the script as the server does and weighs it and the stylesheet. */
export async function pageSize(): Promise<PageSize> {
  const script = await bundleClient();
  const style = await Deno.readFile(new URL("../static/style.css", import.meta.url));
  return {
    script: kib(script.length),
    scriptGzipped: kib(gzipSync(script).length),
    style: kib(style.length),
    styleGzipped: kib(gzipSync(style).length),
  };
}

if (import.meta.main) {
  const size = await pageSize();
  console.log(`script ${size.script} minified, ${size.scriptGzipped} gzipped`);
  console.log(`stylesheet ${size.style}, ${size.styleGzipped} gzipped`);
}
