import { KeyshiftError } from '../../errors.js';
import { SecretValue } from '../../secret-value.js';
import type { EntryMeta, EntryState, LockOptions, StoreLock, VersionOp } from '../contract.js';
import { applyOps, notFound } from '../local/entry-ops.js';
import type { StoredEntry } from '../local/entry-codec.js';
import { GroupCommit } from './group-commit.js';

/** One entry's change waiting for (or in) a write: `before` is what the file holds now. */
export interface Staged {
  before: StoredEntry | null;
  after: StoredEntry;
}

/**
 * What the stores that keep many secrets in one text file (dotenv, k8s-secret) share: entries read
 * from the parsed file, applies staged in memory and written in batches (group-commit.ts), the
 * writer lock around them. An adapter supplies the format: how it locks, loads, resolves an entry
 * from the file and writes a batch.
 */
export abstract class FileStore {
  abstract readonly kind: string;
  /** A batch lands in one atomic replacement (the dotenv adapter explains its two files). */
  readonly capabilities = { atomicApply: true, batchedWrites: true };
  readonly #commit: GroupCommit;
  #held: { release(): Promise<void> } | null = null;
  #staged = new Map<string, Staged>();
  #inflight = new Map<string, Staged>();

  constructor(readonly location: string) {
    this.#commit = new GroupCommit(
      () => {
        const batch = this.#staged;
        this.#staged = new Map();
        this.#inflight = batch;
        return this.writeBatch(batch).then(() => void (this.#inflight = new Map()));
      },
      () => {
        this.#staged.clear();
        this.#inflight.clear();
        this.forget(); // the model was changed in memory: read the files again
      },
    );
  }

  /** Takes the adapter's writer lock. */
  protected abstract acquireLock(options: LockOptions): Promise<{ release(): Promise<void> }>;
  /** Under the lock, before any change: clean up after a killed writer and read the file afresh. */
  protected abstract prepareUnderLock(): Promise<void>;
  /** The entry as the file holds it now (cached by the adapter's model), null when absent. */
  protected abstract entryInFile(key: string): Promise<StoredEntry | null>;
  /** Refuses a value the format cannot hold, before it is staged (nothing written). */
  protected checkWritable(_key: string, _entry: StoredEntry): void {}
  /** Writes a batch (called synchronously as it starts: take any other staged change first). */
  protected abstract writeBatch(batch: Map<string, Staged>): Promise<void>;
  /** Drops the parsed model, so the next access reads the files. */
  protected abstract forget(): void;
  /** `store <path>, <variable|secret> <key>` for messages. */
  protected abstract where(key: string): string;

  async read(key: string): Promise<EntryState | null> {
    const entry = await this.entry(key);
    return entry ? toState(entry) : null;
  }

  async readValue(key: string, versionId: string): Promise<SecretValue> {
    const version = (await this.entry(key))?.versions.find((v) => v.id === versionId);
    if (!version) throw notFound(this.where(key), versionId);
    return SecretValue.fromBytes(Buffer.from(version.value, 'base64'));
  }

  async lock(options: LockOptions): Promise<StoreLock> {
    const held = await this.acquireLock(options);
    try {
      await this.prepareUnderLock();
    } catch (error) {
      await held.release();
      throw error;
    }
    this.#held = held;
    return {
      release: async () => {
        if (this.#held !== held) return;
        await this.#commit.idle();
        this.#held = null;
        await held.release();
      },
    };
  }

  async apply(key: string, ops: VersionOp[], meta: EntryMeta): Promise<EntryState> {
    this.requireLock('apply');
    const before = this.#latest(key) ?? (await this.entryInFile(key));
    const after = applyOps(before ?? undefined, ops, meta, new Date().toISOString(), this.where(key));
    this.checkWritable(key, after);
    this.#staged.set(key, { before: this.#staged.get(key)?.before ?? before, after });
    await this.#commit.written();
    return toState(after);
  }

  async close(): Promise<void> {
    await this.#commit.idle();
    const held = this.#held;
    this.#held = null;
    await held?.release();
    this.forget();
  }

  /** Writes made so far (fewer than the applies when batching works; for tests). */
  get batches(): number {
    return this.#commit.batches;
  }

  protected get locked(): boolean {
    return this.#held !== null;
  }

  protected requireLock(what: string): void {
    if (!this.#held) throw new KeyshiftError('ERR_INTERNAL', `${what} on store ${this.location} without holding its lock (this is a bug in keyshift)`);
  }

  /** Stages a change with no entry of its own (the dotenv store meta) and waits for its write. */
  protected written(): Promise<void> {
    return this.#commit.written();
  }

  /** What reads see: a staged or in-flight change, else the file. */
  protected async entry(key: string): Promise<StoredEntry | null> {
    return this.#latest(key) ?? (await this.entryInFile(key));
  }

  #latest(key: string): StoredEntry | undefined {
    return (this.#staged.get(key) ?? this.#inflight.get(key))?.after;
  }
}

/** The entry without values, as `read` returns it. */
export function toState(entry: StoredEntry): EntryState {
  return structuredClone({
    versions: entry.versions.map((v) => ({ id: v.id, stages: v.stages, createdAt: v.createdAt })),
    retired: entry.retired,
    rotation: entry.rotation,
    lastRotatedAt: entry.lastRotatedAt,
    pendingEvents: entry.pendingEvents,
  });
}
