import assert from "node:assert/strict";
import { pageSize } from "../bench/size.ts";

const README = await Deno.readTextFile(new URL("../README.md", import.meta.url));

Deno.test("README: the page's size is what bench/size.ts measures now", async () => {
  const size = await pageSize();
  // The line wraps in the README: compare with whitespace made single spaces.
  const text = README.replace(/\s+/g, " ");
  const said =
    `the script is ${size.script} minified, ${size.scriptGzipped} gzipped; the stylesheet ${size.style}, ${size.styleGzipped} gzipped`;
  assert.ok(
    text.includes(said),
    `README should say "${said}" (deno run --allow-read --allow-env --allow-run bench/size.ts)`,
  );
});
