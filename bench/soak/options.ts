/**
 * What a soak run is asked to do (its flags) and the shape every run has:
 * how many observers, the mix of transports, the ramps, how long a member
 * stays.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** Most nodes `--nodes` may ask for: each is a process on this machine, with its observers. */
export const NODES_MAX = 8;

export const USAGE = `Usage: deno task soak [flags]

Soak test on 127.0.0.1: members join, chat and leave a real server for a while.

Flags:
  --seconds N   length of the run (default 180)
  --members N   members at the peak, observers included (default 3000)
  --rate N      messages sent per second by all members together (default 20)
  --stay N      seconds a member stays, on average (default: as long as --seconds)
  --rooms N     rooms the members are spread over, #lobby among them (default 50,
                at most 60)
  --rounds N    rounds of all that against the same server, to see whether its
                memory after a round keeps growing (default 1)
  --nodes N     servers: 1 is one main.ts with a database; 2 or more are that
                many main.ts --redis nodes of one service, over a redis-server
                of the run's own, the members spread over them (default 1, at
                most ${NODES_MAX})
  --help        show this text
`;

/** What the run is asked to do. */
export interface Options {
  seconds: number;
  members: number;
  rate: number;
  stay: number;
  rounds: number;
  rooms: number;
  nodes: number;
}

/** Observers of each transport on each node: they stay for the whole run and send nothing but a flush. */
export const OBSERVERS_WS = 3;
export const OBSERVERS_TCP = 3;

/** Observers in all, on every node: they count among `--members`. */
export function observerCount(options: Pick<Options, "nodes">): number {
  return (OBSERVERS_WS + OBSERVERS_TCP) * options.nodes;
}
/** Out of every ten members who come and go: terminals, then bare-socket WebSockets. */
export const MIX_TCP = 3;
export const MIX_RAW_WS = 1;
/** Share of the run spent ramping up, and again ramping down. */
export const RAMP_SHARE = 0.2;
/** A member stays between these multiples of `--stay`, uniformly. */
export const STAY_SPREAD = [0.25, 1.75] as const;
/** Rooms a member who comes and goes is in at once: from 1 to this many. */
export const ROOMS_PER_MEMBER = 3;
/** Out of every ten members who come and go, this many move: enter and part rooms while there. */
export const MIX_MOVERS = 4;
/** A mover moves (enters a room or parts one) every this many seconds, uniformly. */
export const MOVE_EVERY_S = [2, 12] as const;
/**
 * Most rooms `--rooms` may name: each observer is in a third of them, and a
 * member may be in 20 at once.
 */
export const ROOMS_MAX = 60;

/** The name of room `i` of `n`: the first is `#lobby`, where terminals land. */
export function roomName(i: number): string {
  return i === 0 ? "#lobby" : `#s${i}`;
}

/** Parses the flags; a string is an error message, undefined means --help. */
export function parseOptions(args: string[]): Options | string | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        seconds: { type: "string", default: "180" },
        members: { type: "string", default: "3000" },
        rate: { type: "string", default: "20" },
        stay: { type: "string" },
        rounds: { type: "string", default: "1" },
        rooms: { type: "string", default: "50" },
        nodes: { type: "string", default: "1" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    return `${e.message} (see --help)`;
  }
  if (values.help) return undefined;
  const options = {
    seconds: Number(values.seconds),
    members: Number(values.members),
    rate: Number(values.rate),
    stay: Number(values.stay ?? values.seconds),
    rounds: Number(values.rounds),
    rooms: Number(values.rooms),
    nodes: Number(values.nodes),
  };
  for (const [flag, n] of Object.entries(options)) {
    if (!Number.isInteger(n) || n < 1) return `--${flag} must be a whole number from 1`;
  }
  if (options.rooms > ROOMS_MAX) return `--rooms must be at most ${ROOMS_MAX}`;
  if (options.nodes > NODES_MAX) return `--nodes must be at most ${NODES_MAX}`;
  if (options.members <= observerCount(options)) {
    return `--members must be more than the ${observerCount(options)} observers`;
  }
  return options;
}
