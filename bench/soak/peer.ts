/**
 * One soak member, whatever its transport: joins, sends numbered messages,
 * records the numbers of what it receives, and leaves behind a barrier.
 *
 * The barrier is how loss is counted (see `main.ts`'s module doc): before a
 * member leaves, it sends a private message to itself (or `/quit`) and waits
 * for the answer; the server handles a member's lines in order, so
 * everything it sent the member before has then arrived, and every earlier
 * line of the member has been handled.
 *
 * @module
 */

import { parseServerFrame } from "../../common/protocol.ts";
import { within } from "../../server/deadline.ts";
import { isDisconnect } from "../../server/transport/io.ts";
import { closeQuietly, dial } from "../../tests/kit/socket.ts";
import { HOST } from "../clients.ts";
import { ledger, type Sent, seqOf, textOf, totals } from "./ledger.ts";
import { describeError, problem } from "./problems.ts";

/** How a member is connected: WebSocket, WebSocket over a bare socket, or terminal. */
export type Kind = "ws" | "raw" | "tcp";

/** How a member leaves. */
export type Style = "close" | "drop" | "quit";

/** Longest wait for a connect, a welcome, a barrier's answer or a close. */
const STEP_MS = 30_000;

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
  /** Sequence numbers received, in order; sorted once the member is done. */
  received: number[] = [];
  /** Set when a stay is over. */
  stayTimer: ReturnType<typeof setTimeout> | undefined;
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
  readonly #gone = Promise.withResolvers<void>();

  constructor(
    readonly nick: string,
    readonly kind: Kind,
    readonly style: Style,
    readonly observer: boolean,
  ) {
    this.gone = this.#gone.promise;
  }

  /** Connects and sends the join; throws if the connection cannot be made. */
  protected abstract open(): Promise<void>;
  /** Sends a chat line. */
  protected abstract sayLine(text: string): void;
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

  /** Sends message number `seq`. */
  say(seq: number): void {
    const sent: Sent = {
      seq,
      from: this,
      at: performance.now(),
      accepted: false,
      publishedBy: Infinity,
      id: undefined,
    };
    ledger[seq] = sent;
    if (this.kind === "tcp") this.#unconfirmed.push(sent);
    this.sayLine(textOf(seq));
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

  /** The transport's welcome arrived. */
  protected welcomed(): void {
    this.joinedAt = performance.now();
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

  /** A chat message arrived: `id` is known on WebSocket only. */
  protected chat(from: string, text: string, id: number | undefined): void {
    if (this.state === "done") return;
    const now = performance.now();
    const seq = seqOf(text);
    const sent = seq === undefined ? undefined : ledger[seq];
    if (seq === undefined || sent === undefined || sent.from.nick !== from) {
      problem("unexpected events", `${this.nick} got <${from}> ${text}`);
      return;
    }
    totals.delivered++;
    this.received.push(seq);
    if (now < sent.publishedBy) sent.publishedBy = now;
    if (id === undefined) return;
    if (id <= this.#lastId) problem("out of order", `${this.nick}: id ${id} after ${this.#lastId}`);
    this.#lastId = id;
    sent.id ??= id;
    if (sent.id !== id) problem("unexpected events", `${this.nick}: #${seq} has id ${id}`);
    if (sent.from === this) sent.accepted = true;
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
      if (now < sent.publishedBy) sent.publishedBy = now;
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
    this.received.sort((a, b) => a - b);
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
          this.welcomed();
          break;
        case "message":
          if (event.to !== undefined) this.whispered(event.from, event.to, event.text);
          else if (event.action) {
            problem("unexpected events", `${this.nick}: ${JSON.stringify(event)}`);
          } else this.chat(event.from, event.text, event.id);
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
