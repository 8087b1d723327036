/**
 * First come, first served: a list that takes from its front without moving
 * the rest, {@linkcode Turns}, a limit on work under way at once, and
 * {@linkcode Pending}, what is under way, awaited as of a moment.
 *
 * @module
 */

/** A first-in first-out list whose `shift` does not move the rest. */
export class Queue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  first(): T | undefined {
    return this.#items[this.#head];
  }

  last(): T | undefined {
    return this.length > 0 ? this.#items[this.#items.length - 1] : undefined;
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    // Drops the spent front once it is most of the array.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

/**
 * Runs at most `size` pieces of work at once; the others wait their turn,
 * in the order they came.
 */
export class Turns {
  #free: number;
  readonly #waiting = new Queue<() => void>();

  constructor(size: number) {
    this.#free = size;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((go) => this.#waiting.push(go));
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

/**
 * Work under way, added in order, each never rejecting: {@linkcode settled}
 * is a promise of everything added so far, made only when asked. A member's
 * lines on their way to Redis are kept so, one by one at the flood rate
 * with limits lifted: a cost per line of one callback and a set entry,
 * where a chain of `Promise.all` cost a promise, an array and two
 * callbacks per line, and resolved its whole length at once.
 */
export class Pending {
  /** The number the next work gets. */
  #next = 0;
  /** Every work numbered below it has settled. */
  #low = 0;
  /** Those at or past `#low` still under way. */
  readonly #open = new Set<number>();
  /** Who waits for the works numbered below `upTo`, in the order asked (so by `upTo`). */
  readonly #waiting = new Queue<{ upTo: number; promise: Promise<void>; resolve: () => void }>();

  /** True while some work added is still under way. */
  get busy(): boolean {
    return this.#low < this.#next;
  }

  /** Adds `work`; a rejection is taken as settling (work is meant never to reject). */
  add(work: Promise<unknown>): void {
    const n = this.#next++;
    this.#open.add(n);
    const done = () => this.#settle(n);
    work.then(done, done);
  }

  /** Settles once every work added so far has; undefined if none is under way. */
  settled(): Promise<void> | undefined {
    if (!this.busy) return undefined;
    const last = this.#waiting.last();
    if (last?.upTo === this.#next) return last.promise;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiting.push({ upTo: this.#next, promise, resolve });
    return promise;
  }

  #settle(n: number): void {
    this.#open.delete(n);
    while (this.#low < this.#next && !this.#open.has(this.#low)) this.#low++;
    for (let first = this.#waiting.first(); first && first.upTo <= this.#low;) {
      this.#waiting.shift();
      first.resolve();
      first = this.#waiting.first();
    }
  }
}
