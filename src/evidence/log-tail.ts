import type { promises as fs } from 'node:fs';
import { KeyshiftError } from '../errors.js';
import type { Log } from '../log.js';
import type { HeldLock } from '../util/file-lock.js';
import { parseSealedRecord, type EvidenceHead } from './record.js';
import { beginsRecord, countLines, findRecordLine, readLastLine, readLineAt, unterminatedTail } from './log-file.js';

/** What the log looked like after our last read or write of it. */
export interface SeenTail {
  ino: number;
  size: number;
  head: EvidenceHead | null;
}
interface ExpectedAnchor { source: string; chainId: string; seq: number; hash: string }

export const EVIDENCE_HINT = 'run `keyshift evidence verify` for details; keyshift never repairs evidence itself: restore the file from a backup, or move it aside (keep it for the audit) to start a new chain';

/**
 * The end of one evidence log as the writer (writer.ts) sees it under the evidence lock: its head,
 * the checks that the log still reaches every anchor the stores recorded, and the cut of a line a
 * killed append left. Remembers the size and head it last saw, so the tail is re-read only when
 * another process appended.
 */
export class LogTail {
  /** Head and size as of our last read or write; null until read, and while a write is under way. */
  seen: SeenTail | null = null;
  readonly #anchors: ExpectedAnchor[] = [];
  /** Anchors below the head found in the log (of the file with this inode): it only grows, so once is enough. */
  #anchorsFound: { ino: number; anchors: Set<ExpectedAnchor> } = { ino: -1, anchors: new Set() };

  constructor(
    private readonly file: string,
    private readonly logger?: Log,
  ) {}

  /** Anchors a store holds (by chain id), named by `source`; every later head() with a lock checks them. */
  expect(source: string, anchors: Record<string, { seq: number; hash: string }>): void {
    for (const [chainId, { seq, hash }] of Object.entries(anchors)) this.#anchors.push({ source, chainId, seq, hash });
  }

  /**
   * Head of the open file; caller holds the lock. Reads only the tail (and line 1 for a new file).
   * With the lock of an append, first checks the log still reaches every expected anchor, then cuts
   * the incomplete last line of an append that was killed.
   */
  async head(handle: fs.FileHandle, appending?: HeldLock): Promise<EvidenceHead | null> {
    const stat = await handle.stat();
    const { ino } = stat;
    let { size } = stat;
    const seen = this.seen;
    if (seen && seen.ino === ino && seen.size === size) {
      if (appending) await this.#refuseCutOff(handle, ino, size, seen.head);
      return seen.head;
    }
    if (seen && seen.ino === ino && size < seen.size) {
      throw corrupt(this.file, await countLines(handle, size), `the file shrank from ${seen.size} to ${size} bytes while keyshift was appending: records were removed`);
    }
    const { line, torn } = size > 0 ? await readLastLine(handle, size) : { line: null, torn: false };
    const last = line === null ? null : parseSealedRecord(line);
    const incomplete = async () => corrupt(this.file, (await countLines(handle, size)) + 1, 'the last line is incomplete (a write was interrupted or the file was cut)');
    if (line !== null && last === null) {
      throw torn ? await incomplete() : corrupt(this.file, await countLines(handle, size), 'the last record is not valid evidence');
    }
    let head: EvidenceHead | null = null;
    if (last) {
      const chainId = seen && seen.ino === ino && seen.head ? seen.head.chainId : await this.#chainId(handle, last);
      head = { chainId, seq: last.seq, hash: last.hash };
    }
    if (appending) await this.#refuseCutOff(handle, ino, size, head);
    if (torn) {
      if (!appending || !(await this.#cutKilledAppend(handle, size, head?.seq ?? 0, appending))) throw await incomplete();
      // What is left ends with the last complete record, or is empty when the cut line was the first.
      size = (await handle.stat()).size;
    }
    this.seen = { ino, size, head };
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
    this.logger?.warn(
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
}

function corrupt(file: string, line: number, what: string): KeyshiftError {
  return new KeyshiftError('ERR_EVIDENCE_CORRUPT', `evidence log ${file} is damaged at line ${line}: ${what}; nothing was appended`, { hint: EVIDENCE_HINT });
}

/** The valid record with this seq among the first `size` bytes of the log, or null. */
async function recordAt(handle: fs.FileHandle, size: number, seq: number): Promise<{ seq: number; hash: string } | null> {
  const line = await findRecordLine(handle, size, seq);
  const record = line === null ? null : parseSealedRecord(line);
  return record?.seq === seq ? record : null;
}
