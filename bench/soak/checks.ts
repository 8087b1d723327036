/**
 * What each member was owed and what became of it, room by room: a member
 * must have received, exactly once and in order, every accepted message of a
 * room sent after its server confirmed it in the room and known to have been
 * delivered by its own node before it asked to leave the room (or sent its
 * last barrier), its own terminal lines excepted; and nothing of a room it
 * was not in. An observer, there from first to last, is owed every accepted
 * message of its rooms, whoever else saw it or not: it sends its barrier
 * only once its node has delivered everything (`main.ts`).
 *
 * Why "by its own node": a node hands a message to all its members in the
 * room at once, so if anyone there saw it before the member sent its `part`
 * or barrier, it was in the member's queue before the answer. A message
 * that another node delivered may still be on its way from Redis to this
 * one, which answers the member's lines without waiting for the feed.
 *
 * @module
 */

import { firstAfter, ledger } from "./ledger.ts";
import type { Peer } from "./peer.ts";

/** Deliveries a set of members was owed and what became of them. */
export interface Check {
  owed: number;
  lost: number;
  duplicated: number;
  /**
   * Delivered in a room the member was not in (not between asking to enter
   * it and being told it had left), or under another room's name.
   */
  strays: number;
  /** Received after a message with a higher id (ids are the server's order). */
  disordered: number;
}

/** A check with nothing counted yet. */
export function emptyCheck(): Check {
  return { owed: 0, lost: 0, duplicated: 0, strays: 0, disordered: 0 };
}

/** Compares what `peer` received with what it was owed, adding to `into`. */
export function check(peer: Peer, into: Check): void {
  if (Number.isNaN(peer.joinedAt) || Number.isNaN(peer.drainedAt)) return;
  const seqs = peer.got.map((g) => g.seq).sort((a, b) => a - b);
  for (let i = 1; i < seqs.length; i++) if (seqs[i] === seqs[i - 1]) into.duplicated++;
  let lastId = 0;
  for (const g of peer.got) {
    const sent = ledger[g.seq];
    const inRoom = peer.spans.some((s) => s.room === g.room && s.asked <= g.at && g.at <= s.until);
    if (sent === undefined || sent.room !== g.room || !inRoom) into.strays++;
    // Ids are known once a WebSocket member received the message.
    const id = sent?.id;
    if (id === undefined) continue;
    if (id <= lastId) into.disordered++;
    lastId = id;
  }
  const have = new Set(seqs);
  for (const span of peer.spans) {
    if (Number.isNaN(span.from)) continue;
    const end = Math.min(span.to, peer.drainedAt);
    for (let seq = firstAfter(span.from); seq < ledger.length; seq++) {
      const sent = ledger[seq]!;
      if (sent.at >= end) break;
      if (sent.room !== span.room || !sent.accepted) continue;
      if (!peer.observer && (sent.publishedOn[peer.node.index] ?? Infinity) >= end) continue;
      if (peer.kind === "tcp" && sent.from === peer) continue;
      into.owed++;
      if (!have.has(seq)) into.lost++;
    }
  }
}
