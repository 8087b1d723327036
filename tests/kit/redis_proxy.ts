/**
 * A TCP proxy in front of a `redis-server` (`redis_server.ts`) that a test
 * can make fail as a network would, Redis itself running on: the clients
 * behind it lose Redis, and the test can still change Redis directly.
 *
 * @module
 */

/** See the module doc. */
export class RedisProxy implements AsyncDisposable {
  readonly #listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly #conns = new Set<Deno.Conn>();
  readonly #pipes: Promise<void>[] = [];
  readonly #accepting: Promise<void>;
  readonly #redisPort: number;
  #cutNext: ((answer: string) => boolean) | undefined;
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
        if (answers && this.#cutNext?.(new TextDecoder().decode(buffer.subarray(0, n)))) {
          this.#cutNext = undefined;
          both();
          this.cut.resolve();
          return;
        }
        await to.write(buffer.subarray(0, n));
      }
    } catch {
      // Closed by the other direction, or by the proxy.
    }
    both();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    await this.#accepting;
    for (const c of this.#conns) c.close();
    this.#conns.clear();
    await Promise.all(this.#pipes);
  }
}
