/**
 * One soak member, whatever its transport: joins into its rooms, sends
 * numbered messages to them, enters and parts rooms if it is a mover,
 * records the numbers of what it receives and in which room, and leaves
 * behind a barrier.
 *
 * The barrier is how loss is counted (see `main.ts`'s module doc): before a
 * member leaves, it sends a private message to itself (or `/quit`) and waits
 * for the answer; its server handles a member's lines in order, so
 * everything that server handed the member before has then arrived, and
 * every earlier line of the member has been handled (on a node of several,
 * handed on to Redis: the nodes deliver it from there later).
 *
 * @module
 */

import { parseServerFrame } from "../../common/protocol.ts";
import { within } from "../../server/deadline.ts";
import { isDisconnect } from "../../server/transport/io.ts";
import { closeQuietly, dial } from "../../tests/kit/socket.ts";
import { HOST } from "../clients.ts";
import { Waiters } from "../../tests/kit/waiters.ts";
import { ledger, published, type Sent, seqOf, textOf, totals } from "./ledger.ts";
import { describeError, problem } from "./problems.ts";
import type { Node } from "./service.ts";

/** How a member is connected: WebSocket, WebSocket over a bare socket, or terminal. */
export type Kind = "ws" | "raw" | "tcp";

/** How a member leaves. */
export type Style = "close" | "drop" | "quit";

/** Longest wait for a connect, a welcome, a barrier's answer or a close. */
const STEP_MS = 30_000;

/** One stay of a member in a room, with the times the checks need. */
export interface Span {
  readonly room: string;
  /** When the join or `enter` was sent: from then on the room's messages may arrive. */
  readonly asked: number;
  /** When the server said the member was in (welcome, entered): owed what was sent after. */
  from: number;
  /** When the `part` was sent: owed what was published before (Infinity: never parted). */
  to: number;
  /** When the server said the member was out (parted): after it nothing of the room may arrive. */
  until: number;
}

/** A chat message as a member received it. */
export interface Got {
  readonly seq: number;
  /** The room it came in: its `room` (WebSocket), or its label or the current room (terminal). */
  readonly room: string;
  readonly at: number;
}

/**
 * One member, either transport: joins, sends, keeps the sequence numbers of
 * what it receives, and leaves behind a barrier.
 */
export abstract class Peer {
  state: "joining" | "live" | "leaving" | "done" = "joining";
  /** When the welcome arrived. */
  joinedAt = NaN;
  /** How long joining took, from the start of the connect to the welcome. */
  joinMs = NaN;
  /** When the last barrier was sent, if it was answered. */
  drainedAt = NaN;
  /** Chat messages received, in the order received. */
  readonly got: Got[] = [];
  /** Every stay in a room, in the order begun. */
  readonly spans: Span[] = [];
  /** The rooms it is in, as far as it has asked, in the order entered. */
  readonly rooms: string[];
  /** Set when a stay is over. */
  stayTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set when a mover's next move is due. */
  moveTimer: ReturnType<typeof setTimeout> | undefined;
  /** Rooms entered and parted after joining (a mover's moves). */
  moves = 0;
  /** Settles when the connection has ended. */
  readonly gone: Promise<void>;
  /** The TCP connection under the member, once connected. */
  protected conn: Deno.TcpConn | undefined;
  /** Terminal lines sent and not yet confirmed by a barrier. */
  #unconfirmed: Sent[] = [];
  #lastId = 0;
  #endExpected = false;
  #welcome = Promise.withResolvers<boolean>();
  #answer: PromiseWithResolvers<boolean> | undefined;
  #barrierAt = NaN;
  #connectAt = NaN;
  readonly #gone = Promise.withResolvers<void>();
  /** Waits on what it is told: being in its rooms, a flush's messages. */
  readonly #told = new Waiters();

  constructor(
    readonly nick: string,
    readonly kind: Kind,
    readonly style: Style,
    readonly observer: boolean,
    /** The server it is connected to. */
    readonly node: Node,
    rooms: readonly string[],
  ) {
    this.gone = this.#gone.promise;
    this.rooms = [...rooms];
  }

  /** Connects and sends the join; throws if the connection cannot be made. */
  protected abstract open(): Promise<void>;
  /** Sends a chat line to `room`. */
  protected abstract sayLine(text: string, room: string): void;
  /** Asks to enter `room`. */
  protected abstract sendEnter(room: string): void;
  /** Asks to leave `room`. */
  protected abstract sendPart(room: string): void;

  /** The room its next line goes to: any of its rooms. */
  protected sayRoom(): string {
    return this.rooms[Math.floor(Math.random() * this.rooms.length)]!;
  }

  /** Begins a stay in `room`, asked for now; `from` is set when the server confirms it. */
  protected asked(room: string, at = performance.now()): Span {
    const span = { room, asked: at, from: NaN, to: Infinity, until: Infinity };
    this.spans.push(span);
    return span;
  }

  /** Enters `room`: the stay is owed the room's messages once the server confirms it. */
  protected enter(room: string): void {
    if (!this.rooms.includes(room)) this.rooms.push(room);
    this.asked(room);
    this.sendEnter(room);
  }

  /** Parts `room`: nothing published after now is owed, nothing after the answer may come. */
  protected part(room: string): void {
    const at = this.rooms.indexOf(room);
    if (at !== -1) this.rooms.splice(at, 1);
    const span = this.spans.findLast((s) => s.room === room && s.to === Infinity);
    if (span) span.to = performance.now();
    this.sendPart(room);
  }

  /**
   * Enters a room or parts one, at random, staying in 1 to `most` of the
   * `count` rooms named by `name`.
   */
  move(count: number, most: number, name: (i: number) => string): void {
    if (this.state !== "live") return;
    this.moves++;
    const canPart = this.rooms.length > 1;
    const canEnter = this.rooms.length < Math.min(most, count);
    if (!canPart && !canEnter) return;
    if (canEnter && (!canPart || Math.random() < 0.5)) {
      const others = Array.from({ length: count }, (_, i) => name(i))
        .filter((r) => !this.rooms.includes(r));
      this.enter(others[Math.floor(Math.random() * others.length)]!);
    } else {
      this.part(this.rooms[Math.floor(Math.random() * this.rooms.length)]!);
    }
  }

  /** The server confirmed a stay in `room` (welcome, entered). */
  protected inRoom(room: string): void {
    const span = this.spans.findLast((s) => s.room === room && Number.isNaN(s.from));
    if (span === undefined) {
      problem("unexpected events", `${this.nick}: in ${room}, never asked`);
      return;
    }
    span.from = performance.now();
    totals.entered++;
    this.#told.wake();
  }

  /** The server confirmed the member left `room` (parted). */
  protected outOfRoom(room: string): void {
    const span = this.spans.find((s) =>
      s.room === room && s.to !== Infinity && s.until === Infinity
    );
    if (span === undefined) {
      problem("unexpected events", `${this.nick}: out of ${room}, never parted`);
      return;
    }
    span.until = performance.now();
    totals.parted++;
  }
  /**
   * Sends the barrier: a private message to itself (cheap, and answered in
   * order like any line), or for `quit`, the `/quit`.
   */
  protected abstract sendBarrier(): void;

  /** Closes our side: cleanly for `close`, abruptly otherwise. */
  protected hangUp(): void {
    closeQuietly(this.conn);
  }

  /** Connects and joins; false (with the problem counted) if that failed. */
  async join(): Promise<boolean> {
    const start = performance.now();
    this.#connectAt = start;
    try {
      if (!(await within(this.open(), STEP_MS))) throw new Error("timed out");
    } catch (e) {
      problem("failed connects", `${this.nick}: ${describeError(e)}`);
      this.abort();
      return false;
    }
    const welcome = this.#welcome.promise;
    if (!(await within(welcome, STEP_MS))) problem("timeouts", `${this.nick}: no welcome`);
    else if (await welcome) {
      this.state = "live";
      this.joinMs = this.joinedAt - start;
      return true;
    }
    this.abort();
    return false;
  }

  /** Sends message number `seq` to `room`, by default one of its rooms. */
  say(seq: number, room = this.sayRoom()): void {
    const sent: Sent = {
      seq,
      from: this,
      room,
      at: performance.now(),
      accepted: false,
      publishedOn: [],
      id: undefined,
    };
    ledger[seq] = sent;
    if (this.kind === "tcp") this.#unconfirmed.push(sent);
    this.sayLine(textOf(seq), room);
  }

  /**
   * Waits until it has received every message numbered in `seqs`; false
   * (with the problem counted) if they do not all come.
   */
  received(seqs: readonly number[]): Promise<boolean> {
    const have = () => seqs.every((seq) => this.got.some((g) => g.seq === seq));
    return this.#until(have, `messages ${seqs.join(", ")}`);
  }

  /**
   * Waits until the server has confirmed it in every room it asked for (a
   * terminal enters its rooms after the welcome); false (with the problem
   * counted) if it has not in time.
   */
  inRooms(): Promise<boolean> {
    const confirmed = (room: string) =>
      this.spans.some((s) => s.room === room && !Number.isNaN(s.from));
    return this.#until(() => this.rooms.every(confirmed), `in ${this.rooms.join(", ")}`);
  }

  /** Waits until `done()`, as things are told; false, with the problem counted, if not in time. */
  async #until(done: () => boolean, what: string): Promise<boolean> {
    let why = "not in time";
    const settled = this.#told.until(() => done() || undefined, () => `before ${what}`)
      .then(() => true, (e: unknown) => {
        why = describeError(e);
        return false;
      });
    if ((await within(settled, STEP_MS)) && (await settled)) return true;
    problem("timeouts", `${this.nick}: waiting for ${what}: ${why}`);
    return false;
  }

  /** Sends a barrier, waits for its answer, then hangs up in this member's style. */
  async leave(): Promise<void> {
    if (this.state !== "live") return;
    this.state = "leaving";
    this.#answer = Promise.withResolvers<boolean>();
    this.#barrierAt = performance.now();
    this.sendBarrier();
    if (!(await within(this.#answer.promise, STEP_MS))) {
      problem("timeouts", `${this.nick}: no answer to the barrier`);
    }
    this.#endExpected = true;
    if (this.style !== "quit") this.hangUp();
    if (!(await within(this.gone, STEP_MS))) {
      problem("timeouts", `${this.nick}: the connection did not close`);
      this.abort();
    }
  }

  /** Opens a TCP connection; one that arrives after we gave up is closed at once. */
  protected async connect(port: number): Promise<Deno.TcpConn> {
    const conn = await dial({ hostname: HOST, port });
    if (this.state === "done") {
      conn.close();
      throw new Error("connected after giving up");
    }
    this.conn = conn;
    return conn;
  }

  /** Hangs up at once, expecting nothing more. */
  abort(): void {
    this.#endExpected = true;
    this.hangUp();
    this.ended();
  }

  /** The transport's welcome arrived, into `rooms`. */
  protected welcomed(rooms: readonly string[]): void {
    this.joinedAt = performance.now();
    for (const room of rooms) {
      this.asked(room, this.#connectAt).from = this.joinedAt;
      totals.entered++;
    }
    this.#welcome.resolve(true);
  }

  /** The server refused something; before the welcome, the join. */
  protected refused(what: string): void {
    problem("error events", `${this.nick}: ${what}`);
    this.#welcome.resolve(false);
  }

  /** A write failed: a problem unless our side has hung up or means to. */
  protected writeFailed(e: unknown): void {
    if (!this.#endExpected) problem("transport errors", `${this.nick}: write: ${describeError(e)}`);
  }

  /** A chat message arrived in `room`: `id` is known on WebSocket only. */
  protected chat(from: string, text: string, id: number | undefined, room: string): void {
    if (this.state === "done") return;
    const now = performance.now();
    const seq = seqOf(text);
    const sent = seq === undefined ? undefined : ledger[seq];
    if (seq === undefined || sent === undefined || sent.from.nick !== from) {
      problem("unexpected events", `${this.nick} got <${from}> ${text}`);
      return;
    }
    totals.delivered++;
    this.got.push({ seq, room, at: now });
    this.#told.wake();
    // Whoever received it, the service took it.
    sent.accepted = true;
    published(sent, this.node.index, now);
    if (id === undefined) return;
    if (id <= this.#lastId) problem("out of order", `${this.nick}: id ${id} after ${this.#lastId}`);
    this.#lastId = id;
    sent.id ??= id;
    if (sent.id !== id) problem("unexpected events", `${this.nick}: #${seq} has id ${id}`);
  }

  /** The text of this member's barrier. */
  protected get barrierText(): string {
    return `soak barrier ${this.nick}`;
  }

  /** A private message arrived: only barriers are expected. */
  protected whispered(from: string, to: string, text: string): void {
    if (from === this.nick && to === this.nick && text === this.barrierText) this.answered();
    else problem("unexpected events", `${this.nick} got a private message ${from} -> ${to}`);
  }

  /** The barrier's answer arrived: the server has handled every earlier line. */
  protected answered(): void {
    if (!this.#answer) {
      problem("unexpected events", `${this.nick}: an answer to a barrier never sent`);
      return;
    }
    const now = performance.now();
    for (const sent of this.#unconfirmed) {
      sent.accepted = true;
      // A lone server delivered each line as it handled it; a node of several
      // only handed it on to Redis, and delivers it when Redis's feed brings it.
      if (!this.node.clustered) published(sent, this.node.index, now);
    }
    this.#unconfirmed = [];
    this.drainedAt = this.#barrierAt;
    // After "-- Bye!" the server closes the connection.
    if (this.style === "quit") this.#endExpected = true;
    this.#answer.resolve(true);
  }

  /** The connection ended: by our doing, or else a problem. */
  protected ended(error?: unknown): void {
    if (this.state === "done") return;
    if (!this.#endExpected) {
      problem(
        "unexpected closes",
        `${this.nick} (${this.kind}, ${this.state}): ${error ? describeError(error) : "closed"}`,
      );
    } else if (error !== undefined && !isDisconnect(error)) {
      problem("transport errors", `${this.nick}: ${describeError(error)}`);
    }
    this.state = "done";
    this.#told.end(new Error(`${this.nick}'s connection ended`));
    this.#welcome.resolve(false);
    this.#answer?.resolve(false);
    this.#gone.resolve();
  }

  /** True once our side has hung up or means to. */
  protected get endExpected(): boolean {
    return this.#endExpected;
  }

  /** Handles one WebSocket text frame: an event or an array of them. */
  protected frame(data: string): void {
    const parsed = parseServerFrame(data);
    if (!parsed.ok) {
      problem("bad frames", `${this.nick}: ${parsed.message}`);
      return;
    }
    for (const event of parsed.value) {
      switch (event.type) {
        case "welcome":
          this.welcomed(event.rooms.map((r) => r.room));
          break;
        case "message":
          if (event.to !== undefined) this.whispered(event.from, event.to, event.text);
          else if (event.action) {
            problem("unexpected events", `${this.nick}: ${JSON.stringify(event)}`);
          } else this.chat(event.from, event.text, event.id, event.room ?? "(none)");
          break;
        case "entered":
          this.inRoom(event.room);
          break;
        case "parted":
          this.outOfRoom(event.room);
          break;
        case "join":
        case "leave":
          totals.presence++;
          break;
        case "error":
          this.refused(`${event.code}: ${event.message}`);
          break;
        case "notice":
          problem("notices", `${this.nick}: ${event.text}`);
          break;
        case "members":
        case "rename":
        case "history":
          problem("unexpected events", `${this.nick}: ${event.type}`);
          break;
      }
    }
  }
}
