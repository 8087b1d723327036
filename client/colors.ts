/**
 * A nickname's colour in the log: stable (a hash of the nickname, the same
 * on every page and every visit), spread over the hues, and readable: at
 * least WCAG AA contrast (4.5:1) against every background a line can have in
 * that colour scheme (the log, one's own lines, private ones). Pure: no DOM.
 *
 * @module
 */

/** The backgrounds a nickname is shown on, per scheme (`static/style.css`'s panel, own and private). */
export const BACKGROUNDS = {
  light: ["#ffffff", "#f6f7f9", "#e8f0fe", "#fff4d6"],
  dark: ["#1d2026", "#15171b", "#1f2b40", "#3a3016"],
} as const;

/** WCAG AA for normal text. */
export const AA = 4.5;

/** FNV-1a over the UTF-16 code units: a small, stable spread. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** `#rrggbb` of an HSL colour (hue in degrees, saturation and lightness 0–1). */
export function hsl(h: number, s: number, l: number): string {
  const a = s * Math.min(l, 1 - l);
  const channel = (n: number) => {
    const k = (n + h / 30) % 12;
    const v = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(v * 255).toString(16).padStart(2, "0");
  };
  return `#${channel(0)}${channel(8)}${channel(4)}`;
}

/** Relative luminance of `#rrggbb` (WCAG 2). */
function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

/** The contrast ratio of two `#rrggbb` colours (1 to 21). */
export function contrast(a: string, b: string): number {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x! + 0.05) / (y! + 0.05);
}

const cache = new Map<string, string>();

/**
 * The colour of `nick` in `scheme`: its hue from the hash, and the
 * lightness nearest the scheme's middle tone that reads at {@linkcode AA}
 * on every one of the scheme's {@linkcode BACKGROUNDS}.
 */
export function nickColor(nick: string, scheme: "light" | "dark"): string {
  const key = `${scheme}\u0000${nick}`;
  let color = cache.get(key);
  if (color !== undefined) return color;
  const hue = hash(nick) % 360;
  const backgrounds = BACKGROUNDS[scheme];
  // Darker on light backgrounds, lighter on dark ones, a step at a time.
  const [from, step] = scheme === "light" ? [0.45, -0.02] : [0.6, 0.02];
  color = hsl(hue, 0.7, from);
  for (let l = from; l >= 0 && l <= 1; l += step) {
    color = hsl(hue, 0.7, l);
    if (backgrounds.every((bg) => contrast(color!, bg) >= AA)) break;
  }
  if (cache.size > 5000) cache.clear();
  cache.set(key, color);
  return color;
}
