import type { EntryMeta, SecretStore, VersionOp } from '../stores/contract.js';
import type { EngineContext, Target } from './context.js';
import { failedStep } from './advance-target.js';
import type { RotateResult } from './rotate-result.js';
import type { RunInfo } from './steps.js';

/**
 * Secrets advanced without waiting for their store writes (batching.ts queuesWrites): their steps
 * see a store whose `apply` queues the write (SecretStore.queueApply) and a run whose evidence
 * waits for those writes to be durable. So the engine advances such secrets one after another while
 * the store writes earlier ones in batches, and each secret's objects die young instead of waiting
 * with a hundred others for a batch's fsync (bench/issue-17.md, twelfth round). The order of
 * docs/workflow.md holds: a step's record is in the store's file before its evidence line is. A
 * write that is not made durable (a full disk) fails its target, as a step whose write fails does.
 */
export class QueuedRun {
  readonly #log: EngineContext['logger'];
  /** Targets whose writes were not made durable: their results are replaced in settle(). */
  readonly #unwritten: QueuedTarget[] = [];
  /** Per store, the last target that queued a write: once it is settled, all are (a store writes in order). */
  readonly #lastWriter = new Map<string, QueuedTarget>();

  constructor(log: EngineContext['logger']) {
    this.#log = log;
  }

  /** What `target`'s steps get; `results`: the secret's list its results go to. */
  begin(target: Target, run: RunInfo, results: RotateResult[]): QueuedTarget {
    return new QueuedTarget(target, run, results, (queued) => this.#unwritten.push(queued));
  }

  /** After the target's steps (its results are settled at the end of the run). */
  end(queued: QueuedTarget, results: RotateResult[]): void {
    queued.count = results.length;
    if (queued.wrote) this.#lastWriter.set(queued.storeId, queued);
  }

  /** Once every secret is done: waits for the queued writes, fails the targets whose writes did not
   * land (in their secrets' result lists); returns the ids of those targets' stores. */
  async settle(): Promise<string[]> {
    await Promise.all([...this.#lastWriter.values()].map((queued) => queued.durable().catch(() => undefined)));
    const failedStores: string[] = [];
    for (const queued of this.#unwritten.splice(0)) {
      const { results, at, count } = queued;
      results.splice(at, count, ...(await failedQueuedTarget(queued, results.slice(at, at + count), this.#log)));
      failedStores.push(queued.storeId);
    }
    return failedStores;
  }
}

/** One target of a QueuedRun: the store and run its steps get, and what became of their writes. */
export class QueuedTarget {
  /** The target as its steps see it: its store's `apply` queues. */
  readonly target: Target;
  /** The run as its steps see it: evidence waits for the target's writes. */
  readonly run: RunInfo;
  readonly plain: { target: Target; run: RunInfo };
  readonly results: RotateResult[];
  readonly at: number;
  count = 0;
  error: unknown;
  readonly #writes: Promise<void>[] = [];

  constructor(target: Target, run: RunInfo, results: RotateResult[], unwritten: (queued: QueuedTarget) => void) {
    this.plain = { target, run };
    this.results = results;
    this.at = results.length;
    let failed = false;
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      this.error = error;
      unwritten(this);
    };
    const writes = this.#writes;
    this.target = { ...target, store: queueing(target.store, writes, fail) };
    this.run = { ...run, record: (drafts) => run.record(drafts, written(writes)) };
  }

  get storeId(): string {
    return this.plain.target.storeId;
  }

  /** Whether a step queued a write. */
  get wrote(): boolean {
    return this.#writes.length > 0;
  }

  /** Resolves once every write so far is durable; rejects as the first that is not. */
  async durable(): Promise<void> {
    await written(this.#writes);
  }
}

/**
 * A target's results once a write of it was not made durable: from its first change on, it failed
 * (advance-target.ts failedStep).
 */
async function failedQueuedTarget(queued: QueuedTarget, results: RotateResult[], log: EngineContext['logger']): Promise<RotateResult[]> {
  const { target, run } = queued.plain;
  const first = Math.max(0, results.findIndex((r) => r.outcome !== 'skipped'));
  return [...results.slice(0, first), await failedStep(target, run, results[first]?.action ?? 'rotate', queued.error, null, log)];
}

function written(writes: Promise<void>[]): Promise<unknown> | undefined {
  return writes.length <= 1 ? writes[0] : Promise.all(writes);
}

/** `store` with an `apply` that queues the write and returns at once; everything else is the store's. */
function queueing(store: SecretStore, writes: Promise<void>[], fail: (error: unknown) => void): SecretStore {
  const apply = async (key: string, ops: VersionOp[], meta: EntryMeta) => {
    const { state, durable } = store.queueApply!(key, ops, meta);
    durable.catch(fail);
    writes.push(durable);
    return state;
  };
  return new Proxy(store, {
    get(real, name) {
      if (name === 'apply') return apply;
      const value: unknown = Reflect.get(real, name, real);
      return typeof value === 'function' ? value.bind(real) : value;
    },
  });
}
