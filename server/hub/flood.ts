/**
 * Flood control: a token bucket for how fast a member may act, and one per
 * address for how fast joins may come from it. Pure: the clock is passed in.
 *
 * @module
 */

/** Settings for {@linkcode TokenBucket}. */
export interface Rate {
  /** Actions allowed at once, after a quiet spell. */
  burst: number;
  /** Actions allowed per second, sustained. */
  perSecond: number;
}

/** Flood control: `burst` actions at once, then `perSecond` on average. */
export class TokenBucket {
  readonly #rate: Rate;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  constructor(rate: Rate, now: () => number) {
    this.#rate = rate;
    this.#now = now;
    this.#tokens = rate.burst;
    this.#at = now();
  }

  /**
   * Takes `cost` tokens if there are that many (a cost above the burst is
   * taken as the burst, so it can always be paid after a quiet spell).
   */
  take(cost = 1): boolean {
    const due = Math.min(cost, this.#rate.burst);
    if (this.#refill() < due) return false;
    this.#tokens -= due;
    return true;
  }

  /**
   * Takes `cost` tokens whatever there are: for a cost known only once it
   * is paid (the time a search took). The bucket may go into debt, down to
   * minus its burst, which later takes wait out.
   */
  spend(cost: number): void {
    this.#tokens = Math.max(-this.#rate.burst, this.#refill() - cost);
  }

  /** Gives back `tokens` taken for more than was done (up to the burst). */
  refund(tokens: number): void {
    this.#tokens = Math.min(this.#rate.burst, this.#refill() + tokens);
  }

  /** Adds what the time since the last look earned (up to the burst); returns the tokens now. */
  #refill(): number {
    const now = this.#now();
    const { burst, perSecond } = this.#rate;
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#at) / 1000) * perSecond);
    this.#at = now;
    return this.#tokens;
  }

  /** Milliseconds until `cost` tokens are there (0: there now). */
  wait(cost = 1): number {
    const due = Math.min(cost, this.#rate.burst);
    return Math.max(0, Math.ceil(((due - this.#refill()) / this.#rate.perSecond) * 1000));
  }

  /** True if the bucket has filled up again: it is as good as a new one. */
  full(): boolean {
    const elapsed = (this.#now() - this.#at) / 1000;
    return this.#tokens + elapsed * this.#rate.perSecond >= this.#rate.burst;
  }
}

/**
 * A {@linkcode TokenBucket} per key (an address). A bucket that has filled
 * up again is forgotten, so the map holds only the keys active lately: it is
 * swept when it has doubled since the last sweep, which keeps the cost of a
 * sweep at most one step per key added.
 */
export class KeyedBuckets {
  readonly #rate: Rate;
  readonly #now: () => number;
  readonly #buckets = new Map<string, TokenBucket>();
  #sweepAt = 1024;

  constructor(rate: Rate, now: () => number) {
    this.#rate = rate;
    this.#now = now;
  }

  /** Takes a token from `key`'s bucket if there is one. */
  take(key: string): boolean {
    return this.#bucket(key).take();
  }

  /** Takes `cost` tokens from `key`'s bucket whatever there are (see {@linkcode TokenBucket.spend}). */
  spend(key: string, cost: number): void {
    this.#bucket(key).spend(cost);
  }

  /** Gives `tokens` back to `key`'s bucket (see {@linkcode TokenBucket.refund}). */
  refund(key: string, tokens: number): void {
    this.#buckets.get(key)?.refund(tokens);
  }

  /** Milliseconds until `key` has a token again. */
  wait(key: string): number {
    return this.#buckets.get(key)?.wait() ?? 0;
  }

  /** Keys with a bucket now. */
  get size(): number {
    return this.#buckets.size;
  }

  #bucket(key: string): TokenBucket {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#sweepAt) this.#sweep();
      bucket = new TokenBucket(this.#rate, this.#now);
      this.#buckets.set(key, bucket);
    }
    return bucket;
  }

  #sweep(): void {
    for (const [key, bucket] of this.#buckets) if (bucket.full()) this.#buckets.delete(key);
    this.#sweepAt = Math.max(1024, this.#buckets.size * 2);
  }
}
