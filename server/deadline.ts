/**
 * Waiting with a bound: shutdown must finish even when a peer never answers,
 * and a pause must not outlive what it paused.
 *
 * @module
 */

/**
 * Waits for `work` or `ms` milliseconds, whichever comes first. Returns true
 * if the work finished in time. The timer is cleared either way.
 */
export async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([work.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Pauses that end together: a component's waits between tries, cut short
 * when it closes, so no timer outlives it.
 */
export class Pauses {
  readonly #waiting = new Set<() => void>();
  #ended = false;

  /** Waits `ms`, or less if {@linkcode end} comes meanwhile (not at all after it). */
  wait(ms: number): Promise<void> {
    if (this.#ended) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiting.add(done);
    });
  }

  /** Ends every wait under way, and every later one at once. */
  end(): void {
    this.#ended = true;
    for (const done of [...this.#waiting]) done();
  }
}
