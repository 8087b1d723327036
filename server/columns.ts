/**
 * How many columns of a terminal text takes: a Chinese character or an emoji
 * takes two, a combining accent none, a Latin letter one. The console's line
 * editor needs it to put the cursor back where it was, and its tables to line
 * up nicknames such as 小明 with `alice`.
 *
 * It follows what terminals draw (wcwidth's East Asian Wide and Fullwidth
 * ranges, emoji presentation), per grapheme cluster, so an emoji with a
 * skin tone or a ZWJ sequence counts once, as terminals that draw it whole
 * do. A terminal that draws such a sequence as several glyphs is off by a
 * few columns on that line only; the next redraw starts from column 0.
 *
 * @module
 */

/** East Asian Wide and Fullwidth ranges (Unicode 15), as `[first, last]` code points. */
const WIDE: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f],
  [0x231a, 0x231b],
  [0x2329, 0x232a],
  [0x23e9, 0x23ec],
  [0x23f0, 0x23f0],
  [0x23f3, 0x23f3],
  [0x25fd, 0x25fe],
  [0x2614, 0x2615],
  [0x2648, 0x2653],
  [0x267f, 0x267f],
  [0x2693, 0x2693],
  [0x26a1, 0x26a1],
  [0x26aa, 0x26ab],
  [0x26bd, 0x26be],
  [0x26c4, 0x26c5],
  [0x26ce, 0x26ce],
  [0x26d4, 0x26d4],
  [0x26ea, 0x26ea],
  [0x26f2, 0x26f3],
  [0x26f5, 0x26f5],
  [0x26fa, 0x26fa],
  [0x26fd, 0x26fd],
  [0x2705, 0x2705],
  [0x270a, 0x270b],
  [0x2728, 0x2728],
  [0x274c, 0x274c],
  [0x274e, 0x274e],
  [0x2753, 0x2755],
  [0x2757, 0x2757],
  [0x2795, 0x2797],
  [0x27b0, 0x27b0],
  [0x27bf, 0x27bf],
  [0x2b1b, 0x2b1c],
  [0x2b50, 0x2b50],
  [0x2b55, 0x2b55],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4],
  [0x17000, 0x18cff],
  [0x1b000, 0x1b2ff],
  [0x1f004, 0x1f004],
  [0x1f0cf, 0x1f0cf],
  [0x1f18e, 0x1f18e],
  [0x1f191, 0x1f19a],
  [0x1f200, 0x1f2ff],
  [0x1f300, 0x1f64f],
  [0x1f680, 0x1f6ff],
  [0x1f7e0, 0x1f7eb],
  [0x1f90c, 0x1f9ff],
  [0x1fa70, 0x1faff],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
];

/** True if code point `c` is drawn two columns wide. */
function wide(c: number): boolean {
  if (c < 0x1100) return false;
  let lo = 0, hi = WIDE.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [first, last] = WIDE[mid]!;
    if (c < first) hi = mid - 1;
    else if (c > last) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Marks, format characters and controls: drawn on the character before, or not at all. */
const ZERO = /^[\p{Mn}\p{Me}\p{Cf}\p{Cc}]$/u;
/** Variation selector 16: the character before is drawn as an emoji, two columns. */
const EMOJI_STYLE = 0xfe0f;

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/** The grapheme clusters of `text`: what a cursor steps over, one key press each. */
export function clusters(text: string): string[] {
  return Array.from(graphemes.segment(text), (s) => s.segment);
}

/** The columns one grapheme cluster takes: 0, 1 or 2. */
export function clusterWidth(cluster: string): number {
  let width = 0;
  for (const ch of cluster) {
    const c = ch.codePointAt(0)!;
    if (wide(c) || c === EMOJI_STYLE) return 2;
    if (width === 0 && !ZERO.test(ch)) width = 1;
  }
  return width;
}

/** The columns `text` takes on a terminal. */
export function columns(text: string): number {
  // Most of what is measured is ASCII: no segmenting needed.
  if (/^[\x20-\x7e]*$/.test(text)) return text.length;
  let width = 0;
  for (const cluster of clusters(text)) width += clusterWidth(cluster);
  return width;
}

/** `text` padded with spaces to `width` columns (never cut). */
export function padColumns(text: string, width: number): string {
  return text + " ".repeat(Math.max(0, width - columns(text)));
}
