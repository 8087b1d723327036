/**
 * Waiting on data that arrives by itself: a client's received lines or
 * events, a child process's output. A wait is settled by the data, never by a
 * timer; when the stream ends first, every wait still pending fails, saying
 * what it waited for and what came instead, so a test that waits for
 * something that never comes fails as soon as the connection closes (and
 * while it stays open, the test shows as the one `deno test` is stuck in).
 *
 * @module
 */

/** Something the collected data is waited on for. */
interface Waiter {
  /** Returns true when satisfied (and resolves the wait itself). */
  check(): boolean;
  fail(error: Error): void;
}

/** Settles waiters as data arrives; fails the rest when the stream ends. */
export class Waiters {
  readonly #pending = new Set<Waiter>();
  #ended: Error | undefined;

  /** Waits until `take` returns a value; `what` describes it if the stream ends first. */
  until<T>(take: () => T | undefined, what: () => string): Promise<T> {
    const first = take();
    if (first !== undefined) return Promise.resolve(first);
    if (this.#ended) return Promise.reject(new Error(`${this.#ended.message} ${what()}`));
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    const waiter: Waiter = {
      check: () => {
        const value = take();
        if (value === undefined) return false;
        resolve(value);
        return true;
      },
      fail: (e) => reject(new Error(`${e.message} ${what()}`)),
    };
    this.#pending.add(waiter);
    return promise;
  }

  /** Re-checks every waiter against new data. */
  wake(): void {
    for (const waiter of [...this.#pending]) {
      if (waiter.check()) this.#pending.delete(waiter);
    }
  }

  /** Fails every waiter still pending, and every later one. */
  end(error: Error): void {
    this.wake();
    this.#ended ??= error;
    for (const waiter of this.#pending) waiter.fail(error);
    this.#pending.clear();
  }
}
