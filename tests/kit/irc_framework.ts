/**
 * A real IRC client library in tests: `npm:irc-framework` (what The Lounge
 * and Kiwi IRC are built on), connected to a test server and kept as
 * events, so a test awaits the next event it expects as with the page's
 * and the terminal's clients ({@linkcode Waiters}: nothing sleeps).
 *
 * It is started without the timers it would otherwise leave behind (its
 * own PINGs, its ping timeout, reconnecting), so tests run with
 * `--sanitize-ops --sanitize-resources`; {@linkcode FrameworkClient.close}
 * sends QUIT and waits until its socket is closed.
 *
 * @module
 */

// @ts-types="./irc_framework_types.d.ts"
import { Client } from "irc-framework";
import type { ClientEvents, ConnectOptions } from "./irc_framework_types.d.ts";
import type { Listening } from "./server.ts";
import { Waiters } from "./waiters.ts";

export type { ClientEvents };

/** The events a {@linkcode FrameworkClient} keeps. */
const KEPT = [
  "privmsg",
  "notice",
  "action",
  "ctcp request",
  "ctcp response",
  "join",
  "part",
  "quit",
  "nick",
  "topic",
  "userlist",
  "batch end chathistory",
] as const satisfies readonly (keyof ClientEvents)[];

/** One of the kept events. */
type Kept = typeof KEPT[number];

/** Kept events not yet handed out, by name. */
type Pending = { [K in Kept]: ClientEvents[K][] };

/** irc-framework's client, registered, with what it receives kept for a test to await. */
export class FrameworkClient implements AsyncDisposable {
  /** The library's client itself, for what this wrapper does not cover. */
  readonly client: Client;
  readonly #waiters = new Waiters();
  readonly #pending: Pending = {
    privmsg: [],
    notice: [],
    action: [],
    "ctcp request": [],
    "ctcp response": [],
    join: [],
    part: [],
    quit: [],
    nick: [],
    topic: [],
    userlist: [],
    "batch end chathistory": [],
  };
  /** Every line the server sent, in order. */
  readonly lines: string[] = [];
  readonly #closed = Promise.withResolvers<void>();
  #isClosed = false;

  private constructor(client: Client) {
    this.client = client;
    client.on("raw", (e) => {
      if (!e.from_server) return;
      this.lines.push(e.line.replace(/\r?\n$/, ""));
      this.#waiters.wake();
    });
    for (const name of KEPT) this.#keep(name);
    client.on("close", () => {
      this.#isClosed = true;
      this.#waiters.end(new Error("the connection closed"));
      this.#closed.resolve();
    });
  }

  #keep<K extends Kept>(name: K): void {
    this.client.on(name, (event) => {
      this.#pending[name].push(event);
      this.#waiters.wake();
    });
  }

  /**
   * Connects as `nick` (irc-framework negotiates the capabilities it knows,
   * and `caps` besides) and waits until it is registered.
   */
  static async connect(
    server: Pick<Listening, "irc">,
    nick: string,
    options: { caps?: string[]; echo?: boolean } = {},
  ): Promise<FrameworkClient> {
    const client = new Client();
    const framework = new FrameworkClient(client);
    if (options.caps) client.requestCap(options.caps);
    const registered = new Promise<void>((resolve) => client.once("registered", () => resolve()));
    const connect: ConnectOptions = {
      host: server.irc.hostname,
      port: server.irc.port,
      nick,
      username: nick,
      gecos: `${nick} (irc-framework)`,
      auto_reconnect: false,
      ping_interval: 0,
      ping_timeout: 0,
      enable_echomessage: options.echo ?? false,
      version: null,
    };
    client.connect(connect);
    try {
      await Promise.race([
        registered,
        framework.#closed.promise.then(() => {
          throw new Error(`${nick} was not registered: ${framework.lines.join(" | ")}`);
        }),
      ]);
    } catch (e) {
      await framework.close();
      throw e;
    }
    return framework;
  }

  /**
   * Waits for the next event `name` that `where` accepts, taking it out of
   * those not yet handed out; earlier ones it does not accept stay.
   */
  next<K extends Kept>(
    name: K,
    where: (event: ClientEvents[K]) => boolean = () => true,
  ): Promise<ClientEvents[K]> {
    const pending: ClientEvents[K][] = this.#pending[name];
    return this.#waiters.until(() => {
      const i = pending.findIndex(where);
      return i === -1 ? undefined : pending.splice(i, 1)[0];
    }, () => `before a ${name} event matching ${where}; lines: ${this.lines.join(" | ")}`);
  }

  /** Waits until the server has sent a line `match` accepts (among every line so far); returns it. */
  line(match: (line: string) => boolean): Promise<string> {
    return this.#waiters.until(
      () => this.lines.find(match),
      () => `before a line matching ${match}; lines: ${this.lines.join(" | ")}`,
    );
  }

  /** Sends QUIT and waits until the connection is closed. Idempotent. */
  async close(): Promise<void> {
    if (!this.#isClosed) this.client.quit("done");
    await this.#closed.promise;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
