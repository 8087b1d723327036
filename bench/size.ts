/**
 * What the page weighs: the bundled script and the stylesheet, as served
 * and gzipped. The README's "Size" line comes from here:
 * `deno run --allow-read --allow-env --allow-run bench/size.ts`.
 *
 * @module
 */

import { gzipSync } from "node:zlib";
import { bundleClient } from "../server/assets.ts";

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const script = await bundleClient();
const style = await Deno.readFile(new URL("../static/style.css", import.meta.url));
console.log(`script ${kib(script.length)} minified, ${kib(gzipSync(script).length)} gzipped`);
console.log(`stylesheet ${kib(style.length)}, ${kib(gzipSync(style).length)} gzipped`);
