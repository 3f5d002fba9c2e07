/**
 * A client-side token bucket per AWS API class, shared by every rotation of a run against one
 * account and Region. AWS enforces request quotas per account and Region (docs/stores/*.md); a run
 * that stays under them never sees ThrottlingException, instead of retrying its way through it.
 * The burst is a tenth of a second's worth of calls, so the client never exceeds the service's
 * one-second burst even when many rotations start at once.
 */
export class TokenBucket {
  #tokens: number;
  #last = Date.now();
  #queue: Promise<void> = Promise.resolve();
  readonly #capacity: number;

  constructor(readonly perSecond: number) {
    this.#capacity = Math.max(1, Math.floor(perSecond / 10));
    this.#tokens = this.#capacity;
  }

  /** Resolves when a call may be made. Callers are served in order. */
  take(): Promise<void> {
    const turn = this.#queue.then(() => this.#wait());
    this.#queue = turn;
    return turn;
  }

  async #wait(): Promise<void> {
    for (;;) {
      const now = Date.now();
      this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#last) / 1000) * this.perSecond);
      this.#last = now;
      if (this.#tokens >= 1) {
        this.#tokens -= 1;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.ceil(((1 - this.#tokens) / this.perSecond) * 1000)));
    }
  }
}

/**
 * Buckets by API class; a class without a rate is not limited. `share` (0 < share ≤ 1) is this
 * run's part of each quota when n sharded runners call the same account and Region at once: each
 * takes 1/n, so together they stay under the quota AWS enforces for all of them.
 */
export class QuotaGate<Class extends string> {
  readonly #buckets = new Map<Class, TokenBucket>();

  constructor(rates: Record<Class, number | null>, share = 1) {
    for (const [name, rate] of Object.entries(rates) as Array<[Class, number | null]>) {
      if (rate && rate > 0) this.#buckets.set(name, new TokenBucket(rate * share));
    }
  }

  async take(apiClass: Class): Promise<void> {
    await this.#buckets.get(apiClass)?.take();
  }
}
