/**
 * The soak's accounts: every chat message sent (numbered in the order sent,
 * the number at the start of its text), when the service is known to have
 * taken it and when each node is known to have delivered it, and totals of
 * what was received.
 *
 * @module
 */

/** Who sent a message: enough of a member to check deliveries against. */
export interface Sender {
  readonly nick: string;
}

/** One chat message a member sent. */
export interface Sent {
  readonly seq: number;
  readonly from: Sender;
  /** The room it was said in. */
  readonly room: string;
  /** When it was handed to the socket. */
  readonly at: number;
  /** True once the service is known to have taken it (see `main.ts`'s module doc). */
  accepted: boolean;
  /**
   * For each node (by its number), a time by which it had certainly handed
   * the message to every member it had in the room: the first time anyone
   * on that node saw it (a node hands a message to all of them at once), or,
   * on a lone server, a terminal sender's barrier answered. Missing: not yet.
   */
  readonly publishedOn: number[];
  /** Its id, from the first WebSocket member that received it. */
  id: number | undefined;
}

/** Every message sent, indexed by its sequence number (which its text starts with). */
export const ledger: Sent[] = [];

/** Totals for the progress lines and the report. */
export const totals = { delivered: 0, presence: 0, entered: 0, parted: 0 };

/** What follows the sequence number in chat lines: some ASCII, CJK and emoji. */
const FILLERS = ["hello there", "大家好，今天怎么样", "ok 👍", "see you later", "λ > 0"];

/** The text of message number `seq`. */
export function textOf(seq: number): string {
  return `soak ${seq} ${FILLERS[seq % FILLERS.length]}`;
}

/** The sequence number a chat text starts with, if it is one of ours. */
export function seqOf(text: string): number | undefined {
  const seq = /^soak (\d+) /.exec(text)?.[1];
  return seq === undefined ? undefined : Number(seq);
}

/** The first sequence number sent after `t` (messages are numbered in the order sent). */
export function firstAfter(t: number): number {
  let lo = 0;
  let hi = ledger.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ledger[mid]!.at <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Notes that node number `node` had delivered `sent` by `at`. */
export function published(sent: Sent, node: number, at: number): void {
  if (at < (sent.publishedOn[node] ?? Infinity)) sent.publishedOn[node] = at;
}
