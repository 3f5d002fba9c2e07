/**
 * Group commit for a store that rewrites one whole file: changes are staged in memory by the store,
 * and every change staged while a write is running goes into the next write, so concurrent applies
 * cost one write and one fsync per batch (as the local store's append log does). A change's promise
 * resolves only once a write that includes it is durable.
 */
export class GroupCommit {
  #waiting: Array<{ resolve(): void; reject(error: unknown): void }> = [];
  #draining: Promise<void> | null = null;
  #batches = 0;

  /**
   * @param flush writes everything staged so far; it must take the staged changes synchronously
   *   when called (before its first await), so changes staged during the write wait for the next.
   * @param discard drops every staged change after a failed write (they were never durable).
   */
  constructor(
    private readonly flush: () => Promise<void>,
    private readonly discard: () => void,
  ) {}

  /** Call right after staging a change; resolves once it is on disk. */
  written(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#draining ??= this.#drain();
    });
  }

  /** Resolves when no write is in flight (before the lock is released). */
  async idle(): Promise<void> {
    while (this.#draining) await this.#draining.catch(() => undefined);
  }

  /** Writes made so far (fewer than the applies when batching works; for tests). */
  get batches(): number {
    return this.#batches;
  }

  async #drain(): Promise<void> {
    await null; // let changes staged in the same tick join the first batch
    try {
      while (this.#waiting.length > 0) {
        const batch = this.#waiting.splice(0);
        try {
          this.#batches++;
          await this.flush();
          for (const w of batch) w.resolve();
        } catch (error) {
          // Later changes may build on this batch's: none of them may land.
          this.discard();
          for (const w of [...batch, ...this.#waiting.splice(0)]) w.reject(error);
        }
      }
    } finally {
      this.#draining = null;
    }
  }
}
