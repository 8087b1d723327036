/**
 * Splitting chat text into plain runs and links for the page. No DOM here,
 * so it is unit-tested.
 *
 * @module
 */

/** A run of message text: plain, or an http(s) link. */
export type Segment = { kind: "text"; text: string } | { kind: "link"; text: string; href: string };

const URL_LIKE = /\bhttps?:\/\/[^\s<>"'`]+/giu;
// Punctuation that usually ends the sentence, not the link.
const TRAILING = /[.,:;!?)\]}'"»。，、！？）」』]+$/u;

/**
 * Splits text into plain runs and http(s) links. Only `http:` and `https:`
 * URLs that parse become links; everything else stays text.
 */
export function linkify(text: string): Segment[] {
  const out: Segment[] = [];
  let last = 0;
  for (const match of text.matchAll(URL_LIKE)) {
    let candidate = match[0];
    const start = match.index;
    const trailing = TRAILING.exec(candidate)?.[0] ?? "";
    // Keep a closing parenthesis that has its opening one inside the link.
    if (trailing.startsWith(")") && candidate.includes("(")) {
      candidate = candidate.slice(0, candidate.length - trailing.length + 1);
    } else {
      candidate = candidate.slice(0, candidate.length - trailing.length);
    }
    const href = safeHref(candidate);
    if (!href) continue;
    if (start > last) out.push({ kind: "text", text: text.slice(last, start) });
    out.push({ kind: "link", text: candidate, href });
    last = start + candidate.length;
  }
  if (last < text.length) out.push({ kind: "text", text: text.slice(last) });
  return out;
}

function safeHref(candidate: string): string | undefined {
  try {
    const url = new URL(candidate);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : undefined;
  } catch {
    return undefined;
  }
}
