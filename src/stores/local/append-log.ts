import { promises as fs, fstatSync, openSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { StoreMeta } from '../contract.js';
import { itemText, type LogItem } from './entry-codec.js';
import { chainStart, FORMAT_VERSION, FRAME_PREFIX_BYTES, recordBytes, recordTag, writeRecord } from './file-format.js';
import { closeReader, emptySnapshot, fileIdOf, readEntryText, refreshSnapshot, textHandle, type EntryHandle, type LogSnapshot } from './log-reader.js';
import { RecordFile } from './record-file.js';
import type { MasterKeyProvider } from './master-key.js';
import { compactSnapshot, createStoreFile, removeStaleTemps } from './store-file.js';
import { changedError, readError, writeError } from './store-errors.js';
import { writeAll } from '../../util/file-io.js';

/**
 * The writer side of the store: an in-memory replay of the file plus an append queue. Concurrent
 * commits are written as one batch with one write and one fsync (group commit); a commit resolves
 * only once its record is durable. All file work runs one step at a time (`#serial`).
 */

export interface AppendLogOptions {
  /** Compact once dead records exceed max(this, live records). */
  compactMinDead: number;
}

export interface LogStats {
  records: number;
  live: number;
  bytes: number;
  generation: number;
  /** Appends (write + fsync) this instance made: fewer than its applies when group commit works. */
  batches: number;
}

interface Queued {
  item: LogItem;
  /** An entry's handle: its text until the batch is durable, then where the record is. */
  handle: EntryHandle | null;
  resolve(): void;
  reject(error: unknown): void;
}

export class AppendLog {
  #snap: LogSnapshot = emptySnapshot();
  /** Committed-but-not-yet-durable entries, so a later apply on the same key builds on them. */
  readonly #pending = new Map<string, EntryHandle>();
  #queue: Queued[] = [];
  #draining: Promise<void> | null = null;
  /** Resolves when the batch being written ends (written or failed); null between batches. */
  #batchEnd: Promise<void> | null = null;
  /** room() calls since the event loop last turned. */
  #sinceTurn = 0;
  #tail: Promise<unknown> = Promise.resolve();
  #compactAfterCount = 0;
  #batches = 0;
  #writing = false;
  /** The id a store this log creates will have: known before the file exists, for evidence records.
   * Drawn on first use: `plan` on a store that does not exist yet never loads crypto for it. */
  #newStoreIdValue: string | null = null;
  /** The store file, open for appends while we hold the lock (saves an open and close per batch). */
  #handle: fs.FileHandle | null = null;
  /** Throws unless the writer lock still names this run (file-lock.ts `verify`). */
  #checkLock: () => Promise<void> = async () => undefined;

  constructor(
    private readonly path: string,
    private readonly keys: MasterKeyProvider,
    private readonly options: AppendLogOptions,
  ) {}

  /** Re-reads what other processes wrote (cheap when nothing changed; free while we hold the lock). */
  refresh(): Promise<void> {
    if (this.#writing) return Promise.resolve(); // nobody else writes while we hold the lock
    return this.#serial(async () => {
      try {
        this.#adopt(await refreshSnapshot(this.path, this.#snap, () => this.keys.forExistingStore()));
      } catch (error) {
        throw readError(this.path, error);
      }
    });
  }

  /**
   * Called with the writer lock just taken: reload, sweep temp files a crashed writer left, and
   * rewrite a store of an older format in the current one (appends must match the header's format).
   * `checkLock` runs before every write: a run whose lock was taken over must not write.
   */
  async startWriting(checkLock: () => Promise<void>): Promise<void> {
    await this.refresh();
    this.#checkLock = checkLock;
    await removeStaleTemps(this.path);
    this.#writing = true;
    const format = this.#snap.header?.header.format;
    if (format !== undefined && format < FORMAT_VERSION) {
      await this.#serial(() => this.#compact()).catch((error: unknown) => {
        throw writeError(this.path, error);
      });
    }
  }

  /**
   * Called before the writer lock is released: finish in-flight writes, leave the file compact
   * enough for the next reader, let go of the file.
   */
  async stopWriting(): Promise<void> {
    await this.idle();
    // A writer that leaves more than half as many dead records as live ones rewrites the file now:
    // every later replay would decrypt them (a forced run of every secret left one per secret, which
    // the next run read back before it compacted early on: bench/issue-17.md, eleventh round).
    if (this.#writing && this.#shouldCompact(0.5)) await this.#serial(() => this.#compact()).catch(() => this.#backOffCompaction());
    this.#writing = false;
    await this.#serial(() => this.#closeHandle());
  }

  /**
   * The handle of a key's durable record. It stays the same object while that record is the key's
   * newest, so a caller that decoded it can tell it has not changed without reading it again.
   */
  entryHandle(key: string): EntryHandle | undefined {
    return this.#snap.entries.get(key);
  }

  /** As entryHandle, including commits still waiting for their fsync: what the next apply must build
   * on (the same handle once durable). */
  latestHandle(key: string): EntryHandle | undefined {
    return this.#pending.get(key) ?? this.#snap.entries.get(key);
  }

  /** A handle's text, read from the file again when it is not kept (log-reader.ts). */
  textOf(handle: EntryHandle): string {
    return readEntryText(this.#snap, handle, this.keys.forExistingStore(), this.path);
  }

  /** Keys of every entry as last read. */
  entryKeys(): string[] {
    return [...this.#snap.entries.keys()];
  }

  meta(): StoreMeta | null {
    return this.#snap.meta;
  }

  /** The store's id (its header's storeId), or the one the first write will give it. */
  storeId(): string {
    return this.#snap.header?.header.storeId ?? this.#newStoreId();
  }

  get stats(): LogStats {
    const s = this.#snap;
    return { records: s.recordCount, live: liveCount(s), bytes: s.validEnd, generation: s.header?.header.generation ?? 0, batches: this.#batches };
  }

  /** Queues one record; resolves once it is on disk. */
  commit(item: LogItem): Promise<void> {
    const handle = item.type === 'entry' ? textHandle(item.text) : null;
    if (item.type === 'entry') this.#pending.set(item.key, handle!);
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ item, handle, resolve, reject });
      this.#draining ??= this.#drain();
    });
  }

  /**
   * For a writer that queues commits without waiting for each (LocalStore.queueApply): call before
   * each. Every TURN_EVERY calls it lets the event loop turn, so the batch being written goes on
   * meanwhile (the writer's own steps never wait on I/O); while `most` records wait for a write, it
   * waits for the batch in flight, which bounds what the queue holds.
   */
  async room(most: number): Promise<void> {
    if (++this.#sinceTurn >= TURN_EVERY) {
      this.#sinceTurn = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    while (this.#queue.length >= most && this.#draining) await (this.#batchEnd ?? new Promise<void>((resolve) => setImmediate(resolve)));
  }

  /** Resolves when no write or compaction is in flight (before a lock is released). */
  async idle(): Promise<void> {
    while (this.#draining) await this.#draining;
    await this.#tail;
  }

  /** Forget everything in memory (close). */
  reset(): void {
    this.#adopt(emptySnapshot());
    this.#pending.clear();
  }

  async #drain(): Promise<void> {
    await null; // let commits made in the same tick join the first batch
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0);
      let ended!: () => void;
      this.#batchEnd = new Promise<void>((resolve) => (ended = resolve));
      try {
        await this.#serial(() => this.#writeBatch(batch));
      } catch (error) {
        // Later commits may build on the failed ones: fail them too and fall back to the file.
        const failed = [...batch, ...this.#queue.splice(0)];
        this.#pending.clear();
        const wrapped = writeError(this.path, error);
        for (const q of failed) q.reject(wrapped);
        continue;
      } finally {
        this.#batchEnd = null;
        ended();
      }
      for (const q of batch) q.resolve();
      if (this.#shouldCompact()) await this.#serial(() => this.#compact()).catch(() => this.#backOffCompaction());
    }
    this.#draining = null;
  }

  async #writeBatch(batch: Queued[]): Promise<void> {
    await this.#checkLock();
    const keys = this.keys.forWriting();
    if (!this.#snap.header) {
      const header = await createStoreFile(this.path, keys, this.#newStoreId());
      const reader = new RecordFile(openSync(this.path, 'r')); // we hold the lock: the file we just made
      this.#adopt({ ...emptySnapshot(), header, validEnd: header.bytes.length, lastTag: chainStart(header.header), fileId: fileIdOf(fstatSync(reader.fd)), reader });
    }
    if (this.#handle && (await this.#handle.stat()).size !== this.#snap.validEnd) await this.#closeHandle(); // reopen and look
    const handle = this.#handle ?? (this.#handle = await this.#openForAppend());
    const snap = this.#snap;
    const header = snap.header!;
    let index = snap.recordCount;
    const texts = batch.map((q) => itemText(q.item));
    const data = Buffer.allocUnsafe(texts.reduce((bytes, text) => bytes + recordBytes(text), 0));
    const starts: number[] = [];
    let at = 0;
    let tag = snap.lastTag;
    for (const text of texts) {
      starts.push(at);
      at += writeRecord(keys, header.digest, index++, text, data, at, tag);
      tag = recordTag(data, at);
    }
    try {
      await writeAll(handle, data, snap.validEnd);
      await handle.sync();
    } catch (error) {
      await this.#closeHandle(); // the next batch reopens and cuts off a torn record this one left
      await this.#reload().catch(() => undefined); // a complete one is kept: it may be durable already
      throw error;
    }
    batch.forEach((q, i) => {
      const start = starts[i] as number;
      const end = starts[i + 1] ?? data.length;
      this.#markDurable(q, snap.validEnd + start, end - start - FRAME_PREFIX_BYTES, snap.recordCount + i);
    });
    snap.validEnd += data.length;
    snap.recordCount = index;
    snap.lastTag = tag;
    this.#batches += 1;
  }

  /**
   * Opens the store for appending at the end of the last record we know. Bytes beyond it are cut
   * only when they are a torn tail (no complete authenticated record: an append that never finished,
   * so never acknowledged). Complete records there were written by another writer behind our back:
   * they are acknowledged work, so we fail (ERR_STORE_CHANGED) and reload instead of cutting them.
   */
  async #openForAppend(): Promise<fs.FileHandle> {
    const handle = await fs.open(this.path, 'r+');
    try {
      const st = await handle.stat();
      const known = this.#snap;
      if (st.ino !== known.fileId?.ino || st.dev !== known.fileId.dev || st.size < known.validEnd) {
        await this.#reload(); // replaced (another writer compacted) or cut: never write over it
        throw changedError(this.path);
      }
      if (st.size > known.validEnd) {
        await this.#reload();
        const now = this.#snap;
        if (now.fileId?.ino !== st.ino || now.recordCount !== known.recordCount || now.validEnd !== known.validEnd) throw changedError(this.path);
        await handle.truncate(now.validEnd);
      }
      return handle;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Re-reads the file as it is now, even while we hold the lock (refresh() trusts it then). */
  async #reload(): Promise<void> {
    try {
      this.#adopt(await refreshSnapshot(this.path, this.#snap, () => this.keys.forExistingStore()));
    } catch (error) {
      throw readError(this.path, error);
    }
  }

  async #closeHandle(): Promise<void> {
    const handle = this.#handle;
    this.#handle = null;
    // Our appends moved size and mtime: make the next refresh look at the file again.
    if (this.#snap.fileId) this.#snap.fileId = { ...this.#snap.fileId, size: -1 };
    await handle?.close();
  }

  /** The record is in the file at `at`: its handle now says where, and lets go of the text. */
  #markDurable(queued: Queued, at: number, length: number, index: number): void {
    const { item, handle } = queued;
    if (item.type === 'meta') {
      this.#snap.meta = item.meta;
      return;
    }
    if (!handle) return;
    Object.assign(handle, { at, length, index });
    // The snapshot's reader is open on the file just written (refresh, createStoreFile, compaction).
    if (this.#snap.reader !== null) handle.text = null;
    this.#snap.entries.set(item.key, handle);
    if (this.#pending.get(item.key) === handle) this.#pending.delete(item.key);
  }

  /** Moves to `next`, closing the reader of the snapshot it replaces (unless `next` shares it). */
  #adopt(next: LogSnapshot): void {
    const previous = this.#snap;
    this.#snap = next;
    closeReader(previous, next);
  }

  /** More dead records than max(compactMinDead, `share` × live records), and no compaction failed since. */
  #shouldCompact(share = 1): boolean {
    const s = this.#snap;
    const live = liveCount(s);
    return s.recordCount >= this.#compactAfterCount && s.recordCount - live > Math.max(this.options.compactMinDead, share * live);
  }

  /** Rewrites the live state as a new generation (store-file.ts compactSnapshot). */
  async #compact(): Promise<void> {
    await this.#closeHandle(); // the rename retires this inode
    await this.#checkLock();
    await compactSnapshot(this.path, this.#snap, this.keys, () => this.#checkLock());
  }

  #newStoreId(): string {
    return (this.#newStoreIdValue ??= randomBytes(16).toString('hex'));
  }

  #backOffCompaction(): void {
    this.#compactAfterCount = this.#snap.recordCount + this.options.compactMinDead;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }
}

/** A queueing writer lets the event loop turn this often: a batch's write takes a few turns (the
 * lock check, a stat, the write, the fsync), so batches carry about four times this many records. */
const TURN_EVERY = 32;

function liveCount(s: LogSnapshot): number {
  return s.entries.size + (s.meta ? 1 : 0);
}
