/**
 * The message of the day IRC clients are shown (`--motd FILE`), read once at
 * start. The file is the operator's, but what reaches clients is bounded and
 * clean all the same: at most {@linkcode MOTD_LINES} lines of at most
 * {@linkcode MOTD_LINE_MAX} characters, control and escape characters
 * removed as from any message, so a stray byte in the file cannot break a
 * client's screen or the 512-byte line.
 *
 * @module
 */

import { clip, toOneLine } from "../common/message.ts";
import { StartError } from "./config.ts";
import { errorText } from "./log.ts";

/** Most lines of a message of the day. */
export const MOTD_LINES = 100;
/** Longest line of a message of the day, in UTF-16 code units (well within 512 bytes as 372). */
export const MOTD_LINE_MAX = 120;
/** Most bytes read from the file. */
const MOTD_BYTES = 64 * 1024;

/** Reads `--motd FILE` into the lines shown; throws {@linkcode StartError} naming the flag. */
export function readMotd(path: string): string[] {
  let bytes: Uint8Array;
  try {
    const file = Deno.openSync(path, { read: true });
    try {
      const buf = new Uint8Array(MOTD_BYTES);
      let n = 0;
      for (;;) {
        const got = file.readSync(buf.subarray(n));
        if (got === null || got === 0) break;
        n += got;
        if (n === buf.length) break;
      }
      bytes = buf.subarray(0, n);
    } finally {
      file.close();
    }
  } catch (e) {
    throw new StartError(`--motd ${path}: ${errorText(e)}`);
  }
  const text = new TextDecoder().decode(bytes);
  const lines = text.split(/\r?\n/).slice(0, MOTD_LINES)
    .map((line) => clip(toOneLine(line), MOTD_LINE_MAX));
  while (lines.length > 0 && lines.at(-1)?.trim() === "") lines.pop();
  return lines;
}
