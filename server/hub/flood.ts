/**
 * Flood control: a token bucket for how fast a member may act. Pure: the
 * clock is passed in.
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

  /** Takes a token if there is one. */
  take(): boolean {
    const now = this.#now();
    const { burst, perSecond } = this.#rate;
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#at) / 1000) * perSecond);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until the next token. */
  wait(): number {
    return Math.max(0, Math.ceil(((1 - this.#tokens) / this.#rate.perSecond) * 1000));
  }
}
