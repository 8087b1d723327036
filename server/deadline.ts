/**
 * Waiting with a bound: shutdown must finish even when a peer never answers.
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
