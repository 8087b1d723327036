/**
 * What each member was owed and what became of it: a member must have
 * received, exactly once, every accepted message sent after its welcome
 * arrived and known to have been published before its last barrier was
 * sent, its own terminal lines excepted.
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
}

/** A check with nothing counted yet. */
export function emptyCheck(): Check {
  return { owed: 0, lost: 0, duplicated: 0 };
}

/**
 * Compares what `peer` received with what it was owed: every accepted
 * message sent after its welcome and published before its last barrier (its
 * own terminal lines excepted).
 */
export function check(peer: Peer, into: Check): void {
  if (Number.isNaN(peer.joinedAt) || Number.isNaN(peer.drainedAt)) return;
  const got = peer.received;
  for (let i = 1; i < got.length; i++) if (got[i] === got[i - 1]) into.duplicated++;
  let g = 0;
  for (let seq = firstAfter(peer.joinedAt); seq < ledger.length; seq++) {
    const sent = ledger[seq]!;
    if (sent.at >= peer.drainedAt) break;
    if (!sent.accepted || sent.publishedBy >= peer.drainedAt) continue;
    if (peer.kind === "tcp" && sent.from === peer) continue;
    into.owed++;
    while (g < got.length && got[g]! < sent.seq) g++;
    if (got[g] !== sent.seq) into.lost++;
  }
}
