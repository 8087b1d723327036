/**
 * A connection's life, written once for every transport: where a connection
 * is counted, timed out, capped and cut off.
 *
 * A transport is a reader and a writer, nothing more (as ergo's
 * `irc/ircconn.go` is): it turns the peer's bytes into commands for its
 * {@linkcode Session}, turns events into bytes through its {@linkcode Link},
 * and reports the bytes it queued and the peer took. The session does the
 * rest, the same way for WebSocket, terminal and whatever comes next:
 *
 * - the connection cap, checked as a socket is accepted ({@linkcode admit},
 *   which `listener.ts` calls for every listener); the slot (`slot.ts`)
 *   follows the socket into its session, which owns it from then on (the
 *   operator's console lists and closes connections through their slots),
 *   and is released exactly once, at close;
 * - the join timeout, started at accept and cleared once the hub seats the
 *   member; each transport words the goodbye its own way;
 * - the slow-consumer rule ({@linkcode SendQueueWatch}), applied as bytes are
 *   queued, so a peer that stops reading cannot make the server hold more;
 * - the pace of its input ({@linkcode Session.readOn}): the flood rate, and
 *   no more read from a peer while what was sent to it waits unread;
 * - refusals of input the transport cannot make into a command (a line too
 *   long, a binary frame, bad JSON), counted and logged as the hub's own;
 * - leaving the hub (and every room) with the right reason (quit, connection lost, too
 *   slow), the connect and disconnect log lines, the open connections and
 *   their queued bytes that `/metrics` reads, and closing them all at
 *   shutdown with a grace period.
 *
 * The session is the {@linkcode Member} the hub sees: the hub never knows
 * a socket, and the transport never calls the hub.
 *
 * @module
 */

import type {
  ChatError,
  ClientMessage,
  ErrorCode,
  ServerEvent,
  Via,
} from "../../common/protocol.ts";
import { DEFAULTS } from "../config.ts";
import { within } from "../deadline.ts";
import { errorText, type LogFields, type Logger, SILENT } from "../log.ts";
import { Metrics } from "../metrics.ts";
import type { Hub, Member, Whois } from "../hub/hub.ts";
import { InputPace, inputRate, isDisconnect, pause } from "./io.ts";
import {
  type ConnectionLimits,
  QUEUE_GRACE_MS,
  QUEUE_SOFT_BYTES,
  SendQueueWatch,
} from "./limits.ts";
import type { Slot, SlotOwner } from "./slot.ts";

/** What a transport does for its {@linkcode Session}: write to the peer, and end. */
export interface Link {
  /**
   * Queues an event for the peer, rendered the transport's way, and reports
   * its bytes with {@linkcode Session.queued}. Not called once the session
   * is closing.
   */
  send(event: ServerEvent): void;
  /** Tells the peer, in the transport's own words, that it took too long to join. */
  joinTimedOut(seconds: number): void;
  /**
   * Ends the connection once what is queued is written, within a bound of
   * the transport's own; then calls {@linkcode Session.closed}.
   */
  close(): void;
  /**
   * Ends the connection now, dropping what is queued; then calls
   * {@linkcode Session.closed}, at once if it cannot cut off a connection
   * harder than it already has (a WebSocket already closing).
   */
  abort(reason: string): void;
}

/** Options for {@linkcode Sessions}. */
export interface SessionOptions {
  /** Open connections, shared by every transport. */
  limits: ConnectionLimits;
  /** Seconds a connection may take to join. @default {DEFAULTS.joinTimeout} */
  joinTimeout?: number;
  /** Counts refusals and disconnects. @default {new Metrics()} */
  metrics?: Metrics;
  /** @default {SILENT} */
  log?: Logger;
  /** The clock of the slow-consumer rule. @default {Date.now} */
  now?: () => number;
  /** See {@linkcode RELOAD_GRACE_MS}. @default {RELOAD_GRACE_MS} */
  reloadGraceMs?: number;
}

/**
 * How long a page closed without `/quit` (WebSocket close code 1001: its
 * tab closed, or it is being reloaded or left) keeps its seat before the
 * others are told it left. A reloaded page takes the seat back with its
 * token (carried in the tab's `sessionStorage`) well within this: the
 * others see no leave and no join, and the page gets the private messages
 * the seat keeps. A closed tab's leave is told this much later.
 */
export const RELOAD_GRACE_MS = 2_000;

/** Requests that may wait behind one waiting on Redis; past them, one is refused. */
const HELD_REQUESTS = 100;

/** Why a member cut off by the slow-consumer rule left. */
const TOO_SLOW = "too slow: stopped reading";
/** Why a member whose page was closed (without `/quit`) left. */
export const PAGE_CLOSED = "closed the page";

/** What every session of one transport shares. */
interface Env {
  readonly hub: Hub;
  readonly via: Via;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Seconds a connection may take to join. */
  readonly joinTimeout: number;
  readonly now: () => number;
  /** The sessions not yet closed. */
  readonly open: Set<Session>;
  readonly reloadGraceMs: number;
  /** Closed pages' sessions keeping their seats for {@linkcode RELOAD_GRACE_MS}. */
  readonly parting: Set<Session>;
}

/** One connection, from accept to close: the room's member for it. */
export class Session implements Member {
  readonly via: Via;
  readonly address: string;
  /** Settles once the connection is closed and its slot released. */
  readonly done: Promise<void>;
  readonly #env: Env;
  readonly #slot: Slot;
  readonly #watch: SendQueueWatch;
  /** How fast its input is read ({@linkcode inputRate}): its link waits on it between reads. */
  readonly pace: InputPace;
  readonly #ended = Promise.withResolvers<void>();
  readonly #link: Link;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Bytes queued for the peer and not yet taken. */
  #queued = 0;
  /** Settles once the queue is at most the soft bound again, or the session closes. */
  #drained: PromiseWithResolvers<void> | undefined;
  #joined = false;
  #closing = false;
  /** The last request still waiting on Redis (`--redis`), which the next ones wait for. */
  #pending: Promise<boolean> | undefined;
  /** Requests waiting behind it. */
  #held = 0;
  #cut = false;
  #closed = false;
  /** Why the member leaves the room, if it is still in it when it goes. */
  #reason = "connection lost";
  /** Whether its page was closed: its seat is kept a while once the connection is closed. */
  #pageClosed = false;
  /** Ends the seat kept for a closed page ({@linkcode RELOAD_GRACE_MS}); set while it waits. */
  #graceTimer: ReturnType<typeof setTimeout> | undefined;

  /** Made by {@linkcode Sessions.open}, which counts it first. */
  constructor(env: Env, slot: Slot, connect: (s: Session) => Link) {
    this.#env = env;
    this.via = env.via;
    this.address = slot.address;
    this.#slot = slot;
    slot.own(this);
    this.#watch = new SendQueueWatch(env.now);
    this.pace = new InputPace(inputRate(env.hub.flood));
    this.done = this.#ended.promise;
    this.#link = connect(this);
    // One that never joins would hold its connection slot for ever.
    this.#timer = setTimeout(() => this.#timedOut(), env.joinTimeout * 1000);
  }

  /** True once its page was closed (a seat it holds is kept only for a reload). */
  get parting(): boolean {
    return this.#pageClosed;
  }

  /** True once the room has seated it (and stays true). */
  get joined(): boolean {
    return this.#joined;
  }

  /** Its nickname, or undefined before it has joined. */
  get nick(): string | undefined {
    return this.#env.hub.nickOf(this);
  }

  /** Bytes queued for the peer and not yet taken. */
  get backlog(): number {
    return this.#queued;
  }

  /** Delivers an event to the peer, unless the connection is closing. */
  send(event: ServerEvent): void {
    if (this.#closing) return;
    if (event.type === "welcome" && !this.#joined) {
      // Seated (with `--redis`, a join is answered once Redis has been asked).
      this.#joined = true;
      clearTimeout(this.#timer);
    }
    this.#link.send(event);
  }

  /**
   * Ends the connection after what was sent; a closed page's seat, kept for
   * a reload, goes now. Idempotent.
   */
  close(): void {
    if (this.#graceTimer !== undefined) return this.#leave();
    if (this.#pageClosed) {
      // Its page is closing, and its seat must go now, not wait for a reload.
      this.#pageClosed = false;
      this.#env.hub.leave(this, this.#reason);
    }
    if (this.#closing) return;
    this.#closing = true;
    clearTimeout(this.#timer);
    this.#link.close();
  }

  /** Ends the connection now, dropping what is queued. */
  abort(reason: string): void {
    this.#closing = true;
    clearTimeout(this.#timer);
    this.#queued = 0;
    this.#link.abort(reason);
  }

  /** What others may know of a member, by nickname (IRC's WHOIS, ISON, USERHOST). */
  whois(nick: string): Whois | undefined {
    return this.#env.hub.whois(nick);
  }

  /**
   * Carries out what the peer asked for. False if it was refused (and told
   * why); a promise of that when it waits on Redis (`--redis`).
   */
  handle(message: ClientMessage): boolean | Promise<boolean> {
    if (this.#closing) return false;
    this.#slot.heardFrom();
    const hub = this.#env.hub;
    if (this.#pending === undefined) {
      const done = hub.handle(this, message);
      if (done instanceof Promise) this.#hold(done);
      return done;
    }
    // Requests are carried out in order: this one after the one waiting on Redis.
    if (this.#held >= HELD_REQUESTS) {
      this.refuse("rate_limited", "Too many requests at once; wait for the answers.");
      return false;
    }
    this.#held++;
    const done = this.#pending.then(() => {
      this.#held--;
      return this.#closing ? false : hub.handle(this, message);
    });
    this.#hold(done);
    return done;
  }

  /**
   * Settles once the requests waiting on Redis are answered (undefined if
   * none waits): a peer that closes after its last requests has them carried
   * out before it leaves.
   */
  settled(): Promise<unknown> | undefined {
    return this.#pending;
  }

  /** Keeps `done` as the request the next ones wait for, until it is answered. */
  #hold(done: Promise<boolean>): void {
    const pending = done.catch(() => false);
    this.#pending = pending;
    void pending.then(() => {
      if (this.#pending === pending) this.#pending = undefined;
    });
  }

  /**
   * Refuses input the transport could not make into a command: counted and
   * logged as the room's refusals are, and answered with an `error`.
   */
  refuse(code: ErrorCode, message: string): void {
    if (this.#closing) return;
    const { metrics, log, via } = this.#env;
    metrics.refused(code);
    log.debug("refused", { code, nick: this.nick, via });
    const event: ChatError = { type: "error", code, message };
    metrics.sent(via, event);
    this.#link.send(event);
  }

  /** The peer says it is leaving: it leaves the room saying so (`quit: …`). */
  quit(message = ""): Promise<void> | undefined {
    this.#reason = message ? `quit: ${message}` : "quit";
    return this.#afterPosting(() => this.#env.hub.leave(this, this.#reason));
  }
  /**
   * The peer closed its page without quitting (a tab closed, or a reload):
   * once the connection is closed, its seat is kept for
   * {@linkcode RELOAD_GRACE_MS}, then it leaves saying so.
   */
  pageClosed(): void {
    this.#reason = PAGE_CLOSED;
    this.#pageClosed = true;
  }

  /**
   * The peer vanished without closing (it answered no probe): it leaves the
   * room saying so, counted and logged; the transport then aborts.
   */
  vanished(): void {
    const { metrics, log, via, hub } = this.#env;
    this.#reason = "connection lost: no answer";
    metrics.disconnected("no_answer");
    log.info("peer vanished", { nick: this.nick, via, address: this.address });
    hub.leave(this, this.#reason);
  }

  /**
   * The peer stopped talking: it leaves the room (once what it said is
   * stored), and the connection closes.
   */
  hangUp(): void {
    this.#afterPosting(() => {
      this.#env.hub.leave(this, this.#reason);
      this.close();
    });
  }

  /**
   * Runs `leave` once what the member said is stored (`Hub.posting`), and
   * settles then; at once, returning undefined, if nothing is on its way.
   */
  #afterPosting(leave: () => void): Promise<void> | undefined {
    const posting = this.#env.hub.posting(this);
    if (posting) return posting.then(leave);
    leave();
    return undefined;
  }

  /**
   * The transport queued `bytes` more for the peer (or, negative, no longer
   * holds them, though the peer did not take them). A peer that stops
   * reading is cut off here, before its queue can grow further.
   */
  queued(bytes: number): void {
    this.#queued += bytes;
    if (!this.#cut && this.#watch.tooSlow(this.#queued)) this.#cutOff();
  }

  /** The peer took `bytes` of what was queued. */
  taken(bytes: number): void {
    this.#queued -= bytes;
    if (bytes > 0) this.#watch.progress();
    if (this.#queued <= QUEUE_SOFT_BYTES) this.#drain();
  }

  /**
   * Settles when the link may read more of the peer's input, which cost
   * `units` of `INPUT_RATE` (`io.ts`): once the input's pace allows, and once
   * what was sent to the peer is taken down to the soft bound (for at most
   * {@linkcode QUEUE_GRACE_MS} at a time, so the link still hears the peer
   * now and then). A member sending a burst that it does not read back
   * itself, its own lines included, is held to the pace it reads at; the
   * others' queues then grow no faster than its own drains.
   */
  async readOn(units: number): Promise<void> {
    await pause(this.pace.charge(units, Date.now()));
    if (this.#queued <= QUEUE_SOFT_BYTES || this.#closing) return;
    if (this.#drained === undefined) {
      this.#drained = Promise.withResolvers();
      this.#env.metrics.inputHeld[this.via]++;
    }
    await within(this.#drained.promise, QUEUE_GRACE_MS);
  }

  #drain(): void {
    this.#drained?.resolve();
    this.#drained = undefined;
  }

  /** Logs a read or write that failed, unless it is only the peer going away. */
  failed(what: string, e: unknown): void {
    if (!isDisconnect(e)) this.#env.log.error(what, { error: errorText(e) });
  }

  /**
   * The connection is closed: the member leaves the room if it has not, and
   * its slot is released. Idempotent; `fields` go to the log line.
   */
  closed(fields: LogFields = {}): void {
    if (this.#closed) return;
    this.#closed = this.#closing = true;
    clearTimeout(this.#timer);
    this.#drain();
    this.#queued = 0;
    const { open, log, hub, via } = this.#env;
    open.delete(this);
    this.#slot.release();
    log.debug("disconnected", { via, address: this.address, ...fields });
    this.#afterPosting(() => {
      const { parting, reloadGraceMs } = this.#env;
      if (!this.#pageClosed || reloadGraceMs <= 0 || hub.nickOf(this) === undefined) {
        return this.#leave();
      }
      // Kept for a reload: the seat's token takes it back (and closes this
      // session, which then leaves nothing), or it goes after the grace.
      parting.add(this);
      this.#graceTimer = setTimeout(() => this.#leave(), reloadGraceMs);
    });
  }

  /** The member leaves the room (if still in it), once the connection is closed. */
  #leave(): void {
    clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    this.#env.parting.delete(this);
    this.#env.hub.leave(this, this.#reason);
    this.#ended.resolve();
  }

  #timedOut(): void {
    const { metrics, log, via, joinTimeout } = this.#env;
    metrics.disconnected("join_timeout");
    log.warn("join timeout", { via, address: this.address });
    this.#link.joinTimedOut(joinTimeout);
    this.close();
  }

  #cutOff(): void {
    this.#cut = this.#closing = true;
    clearTimeout(this.#timer);
    this.#drain();
    this.#reason = TOO_SLOW;
    const { metrics, log, hub, via } = this.#env;
    metrics.disconnected("slow_consumer", via);
    log.warn("slow consumer disconnected", {
      nick: this.nick,
      via,
      address: this.address,
      queued: this.#queued,
    });
    // Once the room's delivery under way is done, so everyone sees what it
    // was sending before the leave.
    queueMicrotask(() => {
      hub.leave(this, TOO_SLOW);
      this.abort(TOO_SLOW);
    });
  }
}

/** Who counts and logs a refused connection. */
export interface Counting {
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly via: Via;
}

/**
 * Counts a connection from `address` against the caps, as it is accepted,
 * closed by `owner` until a session owns it: returns its slot, or, over the
 * caps, the fatal error the transport tells the peer before closing it
 * (counted and logged here).
 */
export function admit(
  limits: ConnectionLimits,
  address: string,
  { metrics, log, via }: Counting,
  owner: SlotOwner,
): Slot | ChatError {
  const release = limits.open(address, via, owner);
  if (typeof release !== "string") return release;
  metrics.refused("too_many_connections");
  log.warn("connection refused", { via, address, why: release });
  return { type: "error", code: "too_many_connections", message: release, fatal: true };
}

/** The open connections of one transport. */
export class Sessions {
  readonly #env: Env;
  readonly #limits: ConnectionLimits;
  #closing: Promise<void> | undefined;

  constructor(hub: Hub, via: Via, options: SessionOptions) {
    this.#limits = options.limits;
    this.#env = {
      hub,
      via,
      metrics: options.metrics ?? new Metrics(),
      log: options.log ?? SILENT,
      joinTimeout: options.joinTimeout ?? DEFAULTS.joinTimeout,
      now: options.now ?? Date.now,
      open: new Set(),
      reloadGraceMs: options.reloadGraceMs ?? RELOAD_GRACE_MS,
      parting: new Set(),
    };
  }

  /**
   * Counts a new connection from `address` and makes its session, with the
   * link `connect` makes for it. Over the caps, returns instead the fatal
   * error the transport tells the peer before closing it.
   */
  open(
    address: string,
    connect: (session: Session) => Link,
    fields: LogFields = {},
  ): Session | ChatError {
    // Owned by its session from the next line on.
    const slot = admit(this.#limits, address, this.#env, { close() {} });
    if (!("release" in slot)) return slot;
    return this.adopt(slot, connect, fields);
  }

  /**
   * Makes the session of a connection already counted by {@linkcode admit}
   * (at accept, by `listener.ts`); it owns the slot, and releases it once,
   * at close.
   */
  adopt(slot: Slot, connect: (session: Session) => Link, fields: LogFields = {}): Session {
    const { log, via, open } = this.#env;
    const session = new Session(this.#env, slot, connect);
    open.add(session);
    log.debug("connected", { via, address: slot.address, ...fields });
    return session;
  }

  /** Open connections, joined or not. */
  get size(): number {
    return this.#env.open.size;
  }

  /** Bytes waiting to be sent: in all, and to the one connection with the most. */
  queued(): { total: number; max: number } {
    let total = 0, max = 0;
    for (const session of this.#env.open) {
      const bytes = session.backlog;
      total += bytes;
      max = Math.max(max, bytes);
    }
    return { total, max };
  }

  /**
   * Closes every connection, joined or not: each may take `graceMs` to take
   * what is queued for it, then is cut off. Idempotent.
   */
  close(graceMs: number): Promise<void> {
    this.#closing ??= (async () => {
      const { open, parting } = this.#env;
      // Closed pages' seats kept for a reload go at once: none will come.
      for (const session of parting) session.close();
      const all = () => Promise.all([...open].map((session) => session.done));
      for (const session of open) session.close();
      if (await within(all(), graceMs)) return;
      for (const session of open) session.abort("the server is shutting down");
      await within(all(), graceMs);
    })();
    return this.#closing;
  }
}
