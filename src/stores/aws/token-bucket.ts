/**
 * A client-side token bucket per AWS API class, shared by every rotation of a run against one
 * account and Region. AWS enforces request quotas per account and Region (docs/stores/*.md); a run
 * that stays under them never sees ThrottlingException, instead of retrying its way through it.
 * The burst is a tenth of a second's worth of calls, so the client never exceeds the service's
 * one-second burst even when many rotations start at once.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;
  #queue: Promise<void> = Promise.resolve();
  readonly #capacity: number;
  readonly #clock: Clock;

  constructor(
    readonly perSecond: number,
    clock: Clock = systemClock,
  ) {
    this.#clock = clock;
    this.#capacity = Math.max(1, Math.floor(perSecond / 10));
    this.#tokens = this.#capacity;
    this.#last = clock.now();
  }

  /** Resolves when a call may be made. Callers are served in order. */
  take(): Promise<void> {
    const turn = this.#queue.then(() => this.#wait());
    this.#queue = turn;
    return turn;
  }

  async #wait(): Promise<void> {
    // A caller that slept for its token keeps what accrued while its timer fired late (timers fire
    // a few ms after their time, more on a busy event loop): at 12.5 calls/s (a quarter of a 50/s
    // quota) dropping that lateness on every call ran 3 % under the share. Capped at one token, so a
    // stalled event loop is never followed by more than one extra call at once.
    let ceiling = this.#capacity;
    for (;;) {
      const now = this.#clock.now();
      this.#tokens = Math.min(ceiling, this.#tokens + ((now - this.#last) / 1000) * this.perSecond);
      this.#last = now;
      if (this.#tokens >= 1) {
        this.#tokens -= 1;
        return;
      }
      await this.#clock.sleep(((1 - this.#tokens) / this.perSecond) * 1000);
      ceiling = this.#capacity + 1;
    }
  }
}

/** Time for the buckets; tests pass one that runs late on purpose. */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.ceil(ms))),
};

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
