/**
 * A TCP proxy in front of a `redis-server` (`redis_server.ts`) that a test
 * can make fail as a network would, Redis itself running on: the clients
 * behind it lose Redis, and the test can still change Redis directly.
 *
 * @module
 */

/** A request or answer held: `held` settles once one is, `release` lets it go on. */
export interface Held {
  held: Promise<void>;
  release: () => void;
}

/** What the proxy holds next, one way. */
interface Hold {
  which: (read: string) => boolean;
  held: () => void;
  gate: Promise<void>;
}

/** See the module doc. */
export class RedisProxy implements AsyncDisposable {
  readonly #listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly #conns = new Set<Deno.Conn>();
  readonly #pipes: Promise<void>[] = [];
  readonly #accepting: Promise<void>;
  readonly #redisPort: number;
  #cutNext: ((answer: string) => boolean) | undefined;
  #hold: Hold | undefined;
  #holdAnswer: Hold | undefined;
  /** The gates of requests held, or to be held: opened by {@linkcode releaseAll}. */
  readonly #gates = new Set<() => void>();
  #blocked = false;
  /** Settles once {@linkcode cutNextAnswer} has cut a connection. */
  readonly cut = Promise.withResolvers<void>();

  constructor(redisPort: number) {
    this.#redisPort = redisPort;
    this.#accepting = this.#accept();
  }

  /** The URL the clients behind the proxy use. */
  get url(): string {
    return `redis://127.0.0.1:${this.#listener.addr.port}`;
  }

  /**
   * Cuts the connection that Redis answers next, the answer not passed on:
   * as a connection lost after Redis ran a command, before its answer
   * arrived. Connections made later pass as usual. Only an answer that
   * `which` accepts (as read: RESP, maybe with more after it) is cut.
   */
  cutNextAnswer(which: (answer: string) => boolean = () => true): void {
    this.#cutNext = which;
  }

  /**
   * Holds the next request that `which` accepts (as read: RESP, maybe with
   * more after it) on its way to Redis, and what follows it on its
   * connection, until `release()`: as a command slow to arrive. `held`
   * settles once one is held.
   */
  holdNextRequest(which: (request: string) => boolean): Held {
    return this.#holdNext(which, false);
  }

  /**
   * Holds the next answer that `which` accepts, as {@linkcode holdNextRequest}
   * holds a request, on its way back from Redis: as an answer slow to
   * arrive, after Redis carried the command out.
   */
  holdNextAnswer(which: (answer: string) => boolean): Held {
    return this.#holdNext(which, true);
  }

  #holdNext(which: (read: string) => boolean, answers: boolean): Held {
    const held = Promise.withResolvers<void>();
    const gate = Promise.withResolvers<void>();
    const hold = { which, held: held.resolve, gate: gate.promise };
    if (answers) this.#holdAnswer = hold;
    else this.#hold = hold;
    this.#gates.add(gate.resolve);
    return { held: held.promise, release: gate.resolve };
  }

  /** Lets every request held (or waiting to be) go on: as a test ends, before its clients close. */
  releaseAll(): void {
    this.#hold = undefined;
    this.#holdAnswer = undefined;
    for (const release of this.#gates) release();
    this.#gates.clear();
  }

  /** Closes every connection through the proxy, and every new one at once, until {@linkcode unblock}. */
  block(): void {
    this.#blocked = true;
    for (const c of this.#conns) c.close();
    this.#conns.clear();
  }

  /** Lets connections through again. */
  unblock(): void {
    this.#blocked = false;
  }

  async #accept(): Promise<void> {
    try {
      for await (const client of this.#listener) {
        if (this.#blocked) {
          client.close();
          continue;
        }
        this.#conns.add(client);
        let upstream;
        try {
          upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.#redisPort });
        } catch {
          // Redis is down: so is this connection.
          this.#conns.delete(client);
          client.close();
          continue;
        }
        this.#conns.add(upstream);
        const both = () => {
          for (const c of [client, upstream]) {
            if (this.#conns.delete(c)) c.close();
          }
        };
        this.#pipes.push(this.#pipe(client, upstream, false, both));
        this.#pipes.push(this.#pipe(upstream, client, true, both));
      }
    } catch {
      // The listener closed.
    }
  }

  async #pipe(from: Deno.Conn, to: Deno.Conn, answers: boolean, both: () => void): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (let n; (n = await from.read(buffer)) !== null;) {
        const read = () => new TextDecoder().decode(buffer.subarray(0, n!));
        if (answers && this.#cutNext?.(read())) {
          this.#cutNext = undefined;
          both();
          this.cut.resolve();
          return;
        }
        const hold = answers ? this.#holdAnswer : this.#hold;
        if (hold?.which(read())) {
          if (answers) this.#holdAnswer = undefined;
          else this.#hold = undefined;
          hold.held();
          await hold.gate;
        }
        await to.write(buffer.subarray(0, n));
      }
    } catch {
      // Closed by the other direction, or by the proxy.
    }
    both();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.releaseAll();
    this.#listener.close();
    await this.#accepting;
    for (const c of this.#conns) c.close();
    this.#conns.clear();
    await Promise.all(this.#pipes);
  }
}
