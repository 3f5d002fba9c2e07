import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { KeyshiftError } from '../errors.js';
import type { EvidenceDraft } from '../stores/contract.js';
import { acquireFileLock } from '../util/file-lock.js';
import {
  ZERO_HASH, draftFields, parseSealedRecord, sealRecord, type EvidenceHead, type EvidenceRecord,
} from './record.js';
import {
  beginsRecord, countLines, evidenceFile, findRecordLine, openExistingForAppend, openForAppend, readLineAt, readLastLine, takeBackTornAppend, unterminatedTail,
} from './log-file.js';
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
interface Cached { ino: number; size: number; head: EvidenceHead | null }
interface ExpectedAnchor { source: string; chainId: string; seq: number; hash: string }

const HINT = 'run `keyshift evidence verify` for details; keyshift never repairs evidence itself: restore the file from a backup, or move it aside (keep it for the audit) to start a new chain';

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
  readonly #logger: Log | undefined;
  #queue: Pending[] = [];
  #draining: Promise<void> | null = null;
  #mutex: Promise<void> = Promise.resolve();
  // Head and size as of our last read or write; the tail is re-read only when the size changed.
  #cache: Cached | null = null;
  readonly #anchors: ExpectedAnchor[] = [];
  /** Anchors below the head found in the log (of the file with this inode): it only grows, so once is enough. */
  #anchorsFound: { ino: number; anchors: Set<ExpectedAnchor> } = { ino: -1, anchors: new Set() };
  #dirReady = false;
  #closed = false;

  constructor(dir: string, options: EvidenceLogOptions = {}) {
    this.#dir = dir;
    this.file = evidenceFile(dir);
    this.#lockPath = join(dir, 'evidence.lock');
    this.#lockWaitMs = options.lockWaitMs ?? 30_000;
    this.#logger = options.logger;
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
    for (const [chainId, { seq, hash }] of Object.entries(anchors)) this.#anchors.push({ source, chainId, seq, hash });
  }

  /**
   * Before a run changes anything: checks that the log can be appended to as it is (it reaches the
   * expected anchors; see also #cutKilledAppend), so that a log that cannot take the run's records
   * stops the run before its first store write. Creates nothing.
   */
  async prepare(): Promise<void> {
    await this.#idle();
    await this.#exclusive(() => this.#underLock(openExistingForAppend, (handle, lock) => this.#currentHead(handle, lock))).catch(
      (error: unknown) => Promise.reject(asDiskError(error, this.file)),
    );
  }

  /** The newest record of the log as it is on disk now (any process), or null when it is empty. */
  async head(): Promise<EvidenceHead | null> {
    await this.#idle();
    return this.#exclusive(() => this.#underLock((file) => fs.open(file, 'r'), (handle) => this.#currentHead(handle)));
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
        const head = await this.#currentHead(handle, lock);
        const { ino, size: before } = this.#cache as Cached;
        let seq = head?.seq ?? 0;
        let prevHash = head?.hash ?? ZERO_HASH;
        let chainId = head?.chainId ?? null;
        const lines: string[] = [];
        const out = groups.map((group) =>
          group.flatMap((given) => {
            if (typeof given === 'function' && chainId === null) return [];
            const fields = typeof given === 'function' ? draftFields(given({ chainId: chainId as string, seq, hash: prevHash })) : given;
            const { record, line } = sealRecord(++seq, fields, prevHash);
            lines.push(line);
            prevHash = record.hash;
            chainId ??= record.hash;
            return record;
          }),
        );
        const data = linesBuffer(lines);
        this.#cache = null; // until the write is known to be complete
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
        this.#cache = { ino, size: before + data.length, head: { chainId: chainId as string, seq, hash: prevHash } };
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
    if (this.#cache?.head && !(await exists(this.file))) {
      throw new KeyshiftError('ERR_EVIDENCE_CORRUPT', `evidence log ${this.file} disappeared while keyshift was appending to it (it held ${this.#cache.head.seq} records)`, { hint: HINT });
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

  /**
   * Head of the open file; caller holds the lock. Reads only the tail (and line 1 for a new file).
   * With the lock of an append, first checks the log still reaches every anchor given to
   * expectAnchors, then cuts the incomplete last line of an append that was killed.
   */
  async #currentHead(handle: fs.FileHandle, appending?: HeldLock): Promise<EvidenceHead | null> {
    const stat = await handle.stat();
    const { ino } = stat;
    let { size } = stat;
    const cache = this.#cache;
    if (cache && cache.ino === ino && cache.size === size) {
      if (appending) await this.#refuseCutOff(handle, ino, size, cache.head);
      return cache.head;
    }
    if (cache && cache.ino === ino && size < cache.size) {
      throw corrupt(this.file, await countLines(handle, size), `the file shrank from ${cache.size} to ${size} bytes while keyshift was appending: records were removed`);
    }
    const { line, torn } = size > 0 ? await readLastLine(handle, size) : { line: null, torn: false };
    const last = line === null ? null : parseSealedRecord(line);
    const incomplete = async () => corrupt(this.file, (await countLines(handle, size)) + 1, 'the last line is incomplete (a write was interrupted or the file was cut)');
    if (line !== null && last === null) {
      throw torn ? await incomplete() : corrupt(this.file, await countLines(handle, size), 'the last record is not valid evidence');
    }
    let head: EvidenceHead | null = null;
    if (last) {
      const chainId = cache && cache.ino === ino && cache.head ? cache.head.chainId : await this.#chainId(handle, last);
      head = { chainId, seq: last.seq, hash: last.hash };
    }
    if (appending) await this.#refuseCutOff(handle, ino, size, head);
    if (torn) {
      if (!appending || !(await this.#cutKilledAppend(handle, size, head?.seq ?? 0, appending))) throw await incomplete();
      // What is left ends with the last complete record, or is empty when the cut line was the first.
      size = (await handle.stat()).size;
    }
    this.#cache = { ino, size, head };
    return head;
  }

  /**
   * A log that ends before a record a store anchored was cut (or put back from an older copy):
   * appending would build a new end the next anchor vouches for, and hide the cut. Refused. So is a
   * log whose record at an older anchor's seq is another one: it was cut below that anchor and
   * written on since (by a run that did not expect that store's anchors, or by hand), and this run
   * would move the anchor past the rewrite.
   */
  async #refuseCutOff(handle: fs.FileHandle, ino: number, size: number, head: EvidenceHead | null): Promise<void> {
    if (head === null) return; // an empty or new log is a new chain: the anchors name the old one
    if (this.#anchorsFound.ino !== ino) this.#anchorsFound = { ino, anchors: new Set() };
    for (const anchor of this.#anchors) {
      if (anchor.chainId !== head.chainId) continue;
      if (anchor.seq > head.seq) {
        throw corrupt(this.file, head.seq + 1, `it ends at seq ${head.seq} but ${anchor.source} recorded seq ${anchor.seq} (records were cut off)`);
      }
      if (this.#anchorsFound.anchors.has(anchor)) continue;
      const found = anchor.seq === head.seq ? head : await recordAt(handle, size, anchor.seq);
      if (found?.hash !== anchor.hash) {
        const why = found ? 'its hash differs' : 'no valid record has that seq';
        throw corrupt(this.file, anchor.seq, `record seq ${anchor.seq} is not the one ${anchor.source} recorded (${why}): the log was rewritten`);
      }
      this.#anchorsFound.anchors.add(anchor);
    }
  }

  /**
   * A run killed mid-append (kill -9, power loss) leaves its last line incomplete; the records it
   * held are still unconfirmed drafts in their stores, which every run appends again. So that the
   * log does not stay unwritable, the incomplete line is cut, but only when it can be nothing else:
   * the line before it is a valid record no store anchored beyond, and it begins the next one
   * (`{"seq":N+1,`). Complete records are never cut.
   */
  async #cutKilledAppend(handle: fs.FileHandle, size: number, lastSeq: number, lock: HeldLock): Promise<boolean> {
    const fragment = await unterminatedTail(handle, size);
    if (fragment === null || !beginsRecord(fragment, lastSeq + 1)) return false;
    const line = (await countLines(handle, size)) + 1;
    await lock.verify();
    await handle.truncate(size - fragment.length);
    await handle.datasync();
    this.#logger?.warn(
      { evidence: this.file, line, bytes: fragment.length },
      'cut the incomplete last line of the evidence log that a killed run left (its records are appended again from the stores)',
    );
    return true;
  }

  async #chainId(handle: fs.FileHandle, last: { seq: number; hash: string }): Promise<string> {
    if (last.seq === 1) return last.hash;
    const first = parseSealedRecord(await readLineAt(handle));
    if (!first || first.seq !== 1) throw corrupt(this.file, 1, 'the first record is not valid evidence with seq 1');
    return first.hash;
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

function corrupt(file: string, line: number, what: string): KeyshiftError {
  return new KeyshiftError('ERR_EVIDENCE_CORRUPT', `evidence log ${file} is damaged at line ${line}: ${what}; nothing was appended`, { hint: HINT });
}

async function exists(path: string): Promise<boolean> {
  return fs.stat(path).then(() => true, () => false);
}

/** The lines as one UTF-8 buffer, each written straight into it (no joined copy on the heap). */
function linesBuffer(lines: string[]): Buffer {
  let size = 0;
  for (const line of lines) size += Buffer.byteLength(line, 'utf8');
  const data = Buffer.allocUnsafe(size);
  let at = 0;
  for (const line of lines) at += data.write(line, at, 'utf8');
  return data;
}

/** The valid record with this seq among the first `size` bytes of the log, or null. */
async function recordAt(handle: fs.FileHandle, size: number, seq: number): Promise<{ seq: number; hash: string } | null> {
  const line = await findRecordLine(handle, size, seq);
  const record = line === null ? null : parseSealedRecord(line);
  return record?.seq === seq ? record : null;
}
