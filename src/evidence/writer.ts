import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { KeyshiftError } from '../errors.js';
import type { EvidenceDraft } from '../stores/contract.js';
import { acquireFileLock } from '../util/file-lock.js';
import { ZERO_HASH, draftFields, sealRecord, type EvidenceHead, type EvidenceRecord } from './record.js';
import { evidenceFile, openExistingForAppend, openForAppend, takeBackTornAppend } from './log-file.js';
import { EVIDENCE_HINT, LogTail, type SeenTail } from './log-tail.js';
import { asDiskError } from '../disk-errors.js';
import { fsyncDir } from '../util/file-io.js';
import type { HeldLock } from '../util/file-lock.js';
import type { Log } from '../log.js';

export interface EvidenceLogOptions {
  /** How long a flush waits for another process holding the evidence lock (default 30s). */
  lockWaitMs?: number;
  /** Told when an append cuts the incomplete last line a killed append left. */
  logger?: Log;
}

type Fields = Record<string, unknown>;
/** A record whose fields depend on the head it follows (a `signed` record), made under the lock. */
type AtHead = (head: EvidenceHead) => EvidenceDraft;
interface Pending {
  fields: Array<Fields | AtHead>;
  resolve(records: EvidenceRecord[]): void;
  reject(error: unknown): void;
}

/**
 * The append-only, hash-chained evidence log `<dir>/evidence.jsonl`, shared by every process that
 * uses the same evidence dir. Appends issued concurrently in this process are group-committed: one
 * inter-process lock, one write and one fsync per batch instead of per record.
 */
export class EvidenceLog {
  readonly file: string;
  readonly #dir: string;
  readonly #lockPath: string;
  readonly #lockWaitMs: number;
  #queue: Pending[] = [];
  #draining: Promise<void> | null = null;
  #mutex: Promise<void> = Promise.resolve();
  readonly #tail: LogTail;
  #dirReady = false;
  #closed = false;

  constructor(dir: string, options: EvidenceLogOptions = {}) {
    this.#dir = dir;
    this.file = evidenceFile(dir);
    this.#lockPath = join(dir, 'evidence.lock');
    this.#lockWaitMs = options.lockWaitMs ?? 30_000;
    this.#tail = new LogTail(this.file, options.logger);
  }

  /** Appends one record per draft, in order and contiguous; resolves once they are fsynced. */
  async append(drafts: EvidenceDraft[]): Promise<EvidenceRecord[]> {
    if (this.#closed) throw new KeyshiftError('ERR_EVIDENCE_CLOSED', `evidence log ${this.file} is closed`);
    const fields = drafts.map((draft) => draftFields(draft));
    if (fields.length === 0) return [];
    return new Promise((resolve, reject) => {
      this.#queue.push({ fields, resolve, reject });
      this.#schedule();
    });
  }

  /**
   * Appends the record `make` builds from the head it will follow, decided under the evidence lock
   * (another process may append meanwhile); nothing when the log is empty. Resolves once fsynced.
   */
  async appendAtHead(make: AtHead): Promise<EvidenceRecord | null> {
    if (this.#closed) throw new KeyshiftError('ERR_EVIDENCE_CLOSED', `evidence log ${this.file} is closed`);
    const records = await new Promise<EvidenceRecord[]>((resolve, reject) => {
      this.#queue.push({ fields: [make], resolve, reject });
      this.#schedule();
    });
    return records[0] ?? null;
  }

  /**
   * The anchors a store holds (StoreMeta.evidenceAnchors, by chain id), named by `source`: every
   * later append first checks the log reaches them, and refuses with ERR_EVIDENCE_CORRUPT if not.
   */
  expectAnchors(source: string, anchors: Record<string, { seq: number; hash: string }>): void {
    this.#tail.expect(source, anchors);
  }

  /**
   * Before a run changes anything: checks that the log can be appended to as it is (it reaches the
   * expected anchors; a killed append's line is cut: log-tail.ts), so that a log that cannot take the run's records
   * stops the run before its first store write. Creates nothing.
   */
  async prepare(): Promise<void> {
    await this.#idle();
    await this.#exclusive(() => this.#underLock(openExistingForAppend, (handle, lock) => this.#tail.head(handle, lock))).catch(
      (error: unknown) => Promise.reject(asDiskError(error, this.file)),
    );
  }

  /** The newest record of the log as it is on disk now (any process), or null when it is empty. */
  async head(): Promise<EvidenceHead | null> {
    await this.#idle();
    return this.#exclusive(() => this.#underLock((file) => fs.open(file, 'r'), (handle) => this.#tail.head(handle)));
  }

  /** `work` on the log opened by `open`, under the evidence lock; null when there is no log (nothing is created). */
  async #underLock<T>(open: (file: string) => Promise<fs.FileHandle | null>, work: (handle: fs.FileHandle, lock: HeldLock) => Promise<T>): Promise<T | null> {
    if (!(await exists(this.file))) return null;
    const lock = await this.#lock();
    try {
      const handle = await open(this.file);
      if (handle === null) return null;
      try {
        return await work(handle, lock);
      } finally {
        await handle.close();
      }
    } finally {
      await lock.release();
    }
  }

  /** Waits for pending appends; later appends are refused. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#idle();
  }

  #schedule(): void {
    if (this.#draining) return;
    this.#draining = this.#drain().finally(() => {
      this.#draining = null;
      if (this.#queue.length > 0) this.#schedule();
    });
  }

  async #drain(): Promise<void> {
    await Promise.resolve(); // appends issued in the same tick join the first batch
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0);
      try {
        const records = await this.#exclusive(() => this.#writeBatch(batch.map((p) => p.fields)));
        batch.forEach((pending, i) => pending.resolve(records[i] ?? []));
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
  }

  async #writeBatch(groups: Array<Array<Fields | AtHead>>): Promise<EvidenceRecord[][]> {
    // A full disk or a read-only mount is named with its own code and this log's path.
    return this.#writeBatchOnDisk(groups).catch((error: unknown) => Promise.reject(asDiskError(error, this.file)));
  }

  async #writeBatchOnDisk(groups: Array<Array<Fields | AtHead>>): Promise<EvidenceRecord[][]> {
    const lock = await this.#lockCreatingDir();
    try {
      const { handle, created } = await this.#open();
      try {
        const head = await this.#tail.head(handle, lock);
        const { ino, size: before } = this.#tail.seen as SeenTail;
        let seq = head?.seq ?? 0;
        let prevHash = head?.hash ?? ZERO_HASH;
        let chainId = head?.chainId ?? null;
        const lines = new LineSink();
        const out = groups.map((group) =>
          group.flatMap((given) => {
            if (typeof given === 'function' && chainId === null) return [];
            const fields = typeof given === 'function' ? draftFields(given({ chainId: chainId as string, seq, hash: prevHash })) : given;
            const { record, line } = sealRecord(++seq, fields, prevHash);
            lines.add(line);
            prevHash = record.hash;
            chainId ??= record.hash;
            return record;
          }),
        );
        const data = lines.bytes();
        this.#tail.seen = null; // until the write is known to be complete
        await lock.verify(); // a run whose lock was taken over (it was paused) must not append
        try {
          await handle.writeFile(data);
          await handle.datasync();
        } catch (error) {
          // Take back our own partial line, so that no torn record remains; never anything else.
          if (await lock.verify().then(() => true, () => false)) await takeBackTornAppend(handle, before, data).catch(() => undefined);
          throw error;
        }
        if (created) await fsyncDir(this.#dir);
        this.#tail.seen = { ino, size: before + data.length, head: { chainId: chainId as string, seq, hash: prevHash } };
        return out;
      } finally {
        await handle.close();
      }
    } finally {
      await lock.release();
    }
  }

  /** Opened per flush (a long-lived handle would keep writing to a file moved aside meanwhile). */
  async #open(): Promise<{ handle: fs.FileHandle; created: boolean }> {
    const held = this.#tail.seen?.head;
    if (held && !(await exists(this.file))) {
      throw new KeyshiftError('ERR_EVIDENCE_CORRUPT', `evidence log ${this.file} disappeared while keyshift was appending to it (it held ${held.seq} records)`, { hint: EVIDENCE_HINT });
    }
    return openForAppend(this.file);
  }

  async #lockCreatingDir() {
    if (!this.#dirReady) await this.#makeDir();
    this.#dirReady = true;
    try {
      return await this.#lock();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      await this.#makeDir(); // removed while we ran
      return this.#lock();
    }
  }

  /** A file where the directory (or one of its parents) should be is the user's to move, not a bug. */
  async #makeDir(): Promise<void> {
    try {
      await fs.mkdir(this.#dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTDIR') throw error;
      throw new KeyshiftError('ERR_EVIDENCE_WRITE', `evidence directory ${this.#dir} is not a directory (a file is in its place)`, {
        hint: 'move that file away, or give --evidence-dir a directory',
      });
    }
  }

  #lock() {
    return acquireFileLock(this.#lockPath, {
      waitMs: this.#lockWaitMs,
      owner: `keyshift evidence writer (pid ${process.pid})`,
      what: `evidence log ${this.#dir}`,
    });
  }

  /** Serialises locked work inside this process: the file lock itself only polls. */
  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#mutex.then(work);
    this.#mutex = run.then(() => undefined, () => undefined);
    return run;
  }

  async #idle(): Promise<void> {
    while (this.#draining) await this.#draining;
  }
}

async function exists(path: string): Promise<boolean> {
  return fs.stat(path).then(() => true, () => false);
}

/**
 * A batch's lines as UTF-8, each written into the buffer as it is sealed: the line strings die young
 * instead of waiting, hundreds at a time, for the batch's write (the garbage collector would move
 * them to the old generation first).
 */
class LineSink {
  #data = Buffer.allocUnsafe(64 * 1024);
  #size = 0;

  add(line: string): void {
    const most = 3 * line.length + 1; // UTF-8 takes at most 3 bytes per UTF-16 unit
    if (this.#size + most > this.#data.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.#data.length, this.#size + most));
      this.#data.copy(grown, 0, 0, this.#size);
      this.#data = grown;
    }
    this.#size += this.#data.write(line, this.#size, 'utf8');
    this.#data[this.#size++] = 0x0a;
  }

  bytes(): Buffer {
    return this.#data.subarray(0, this.#size);
  }
}
