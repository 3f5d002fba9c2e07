import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { acquireFileLock, inspectFileLock } from '../util/file-lock.js';
import { beginsRecord, evidenceFile, readLines, type LogLine } from './log-file.js';
import { ZERO_HASH, isHash, recordHash, recordShapeProblem, type EvidenceHead } from './record.js';

/** The last seq/hash a store recorded for a chain (StoreMeta.evidenceAnchors), and which store. */
export interface EvidenceAnchorRef {
  source: string;
  chainId: string;
  seq: number;
  hash: string;
}

export type VerifyResult =
  | { ok: true; records: number; head: EvidenceHead | null; anchorsChecked: number }
  | {
      ok: false; line: number; seq: number | null; problem: string; records: number;
      /** The only problem is the incomplete start of the next record a killed run left: the next append cuts it. */
      killedAppend?: true;
    };

type Failure = Extract<VerifyResult, { ok: false }>;

/**
 * Checks the whole chain of `<dir>/evidence.jsonl` in one streaming pass and stops at the first
 * broken record. The chain finds edits, deletions, reordering and insertions; anchors kept in the
 * stores find records cut off the end, which the chain alone cannot see.
 */
export async function verifyEvidence(dir: string, anchors: EvidenceAnchorRef[] = [], options: { readOnly?: boolean } = {}): Promise<VerifyResult> {
  const file = evidenceFile(dir);
  const end = options.readOnly ? await sizeWithoutLock(dir, file) : await committedSize(dir, file);
  if (end === null) return { ok: true, records: 0, head: null, anchorsChecked: 0 };
  const chain = new ChainVerifier(anchors);
  for await (const line of readLines(file, end)) {
    if (!chain.add(line, parseLine(line))) break;
  }
  return chain.result();
}

/** The line's JSON value, or NOT_JSON; undefined for a line too long or without its newline. */
export function parseLine(line: LogLine): unknown {
  if (line.tooLong || !line.terminated) return undefined;
  try {
    return JSON.parse(line.bytes.toString('utf8'));
  } catch {
    return NOT_JSON;
  }
}

export const NOT_JSON: unique symbol = Symbol('not JSON');

/**
 * The chain check, one line at a time, so that a reader that needs the records for something else
 * (`report`) parses each line once and reads the file once. Stops at the first broken record.
 */
export class ChainVerifier {
  private head = null as EvidenceHead | null;
  private checked = 0;
  private failure: Failure | null = null;
  // The last line, incomplete, begins the next record: a killed append, unless anchors saw more.
  private killedAppendAt: number | null = null;
  private readonly bySeq = new Map<number, EvidenceAnchorRef[]>();

  constructor(private readonly anchors: EvidenceAnchorRef[] = []) {
    for (const anchor of anchors) this.bySeq.set(anchor.seq, [...(this.bySeq.get(anchor.seq) ?? []), anchor]);
  }

  /** Checks the next line, given parseLine's value for it; false once the chain is broken. */
  add(line: LogLine, parsed: unknown): boolean {
    if (this.failure) return false;
    if (!line.terminated && !line.tooLong && beginsRecord(line.bytes, (this.head?.seq ?? 0) + 1)) {
      this.killedAppendAt = line.number;
      return false;
    }
    const outcome = checkLine(line, parsed, this.head);
    if ('problem' in outcome) {
      this.broken(line.number, outcome.seq, outcome.problem);
      return false;
    }
    const head = { chainId: this.head?.chainId ?? outcome.hash, seq: outcome.seq, hash: outcome.hash };
    this.head = head;
    for (const anchor of this.bySeq.get(head.seq) ?? []) {
      if (anchor.chainId !== head.chainId) continue;
      this.checked += 1;
      if (anchor.hash !== head.hash) {
        this.broken(line.number, head.seq, `record seq ${head.seq} is not the one ${anchor.source} recorded (its hash differs): the log was rewritten from here or before`);
        return false;
      }
    }
    return true;
  }

  /** The outcome after the last line (call once): the first break, or records cut off that an anchor saw. */
  result(): VerifyResult {
    if (this.failure) return this.failure;
    const { head } = this;
    const records = head?.seq ?? 0;
    let cut: EvidenceAnchorRef | null = null;
    for (const anchor of this.anchors) {
      if (head === null || anchor.chainId !== head.chainId || anchor.seq <= records) continue;
      this.checked += 1;
      if (cut === null || anchor.seq > cut.seq) cut = anchor;
    }
    if (cut) return this.broken(records + 1, null, `log ends at seq ${records} but ${cut.source} recorded seq ${cut.seq} (records were cut off)`);
    if (this.killedAppendAt !== null) {
      const problem = 'the line is incomplete (no newline at the end): a run was killed while appending it; the next run that writes evidence (rotate, or doctor --fix) cuts it and appends its records again from the stores';
      return this.broken(this.killedAppendAt, null, problem, true);
    }
    return { ok: true, records, head, anchorsChecked: this.checked };
  }

  private broken(line: number, seq: number | null, problem: string, killedAppend = false): Failure {
    this.failure = { ok: false, line, seq, problem, records: this.head?.seq ?? 0, ...(killedAppend ? { killedAppend: true as const } : {}) };
    return this.failure;
  }
}

type LineOutcome = { seq: number; hash: string } | { seq: number | null; problem: string };

/** One line against the record before it. Order matters: the first failing check names the cause. */
function checkLine(line: LogLine, parsed: unknown, prev: EvidenceHead | null): LineOutcome {
  if (line.tooLong) return { seq: null, problem: 'the line is longer than 1 MiB: not a keyshift record' };
  if (!line.terminated) {
    return { seq: null, problem: 'the line is incomplete (no newline at the end): the log was cut or a write was interrupted' };
  }
  if (parsed === NOT_JSON) return { seq: null, problem: 'not valid JSON: the line was edited or corrupted' };
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { seq: null, problem: 'not a JSON object: the line was edited or corrupted' };
  }
  const record = parsed as Record<string, unknown>;
  const seq = record.seq;
  if (!Number.isSafeInteger(seq) || (seq as number) < 1) {
    return { seq: null, problem: 'seq is missing or not a positive integer: the record was edited' };
  }
  const n = seq as number;
  const expected = (prev?.seq ?? 0) + 1;
  if (n !== expected) return { seq: n, problem: seqProblem(n, prev) };
  if (!isHash(record.hash)) return { seq: n, problem: 'hash is missing or not "sha256:" + 64 hex digits: the record was edited' };
  if (recordHash(record) !== record.hash) return { seq: n, problem: 'hash mismatch: the record was edited' };
  if (record.prevHash !== (prev?.hash ?? ZERO_HASH)) {
    return {
      seq: n,
      problem: prev
        ? `prevHash is not the hash of seq ${prev.seq}: a record was replaced, inserted or removed here`
        : 'prevHash of seq 1 is not the zero hash: the start of the log was replaced',
    };
  }
  const shape = recordShapeProblem(record);
  if (shape) return { seq: n, problem: `${shape}: not valid keyshift evidence` };
  return { seq: n, hash: record.hash };
}

function seqProblem(seq: number, prev: EvidenceHead | null): string {
  if (prev === null) return `the log starts at seq ${seq} instead of 1: its first records were removed or the record was edited`;
  if (seq > prev.seq) return `seq ${seq} follows seq ${prev.seq}: a record was deleted or reordered`;
  return `seq ${seq} follows seq ${prev.seq}: a record was duplicated, inserted or reordered`;
}

/**
 * The file size without taking the lock (`doctor` changes nothing, not even a lock file): while a
 * live writer holds the lock, a last line without its newline is its append in progress, not damage.
 */
async function sizeWithoutLock(dir: string, file: string): Promise<number | null> {
  const size = await fs.stat(file).then((stat) => stat.size, () => null);
  if (size === null || size === 0) return size;
  if ((await inspectFileLock(join(dir, 'evidence.lock'))).state !== 'live') return size;
  const handle = await fs.open(file, 'r');
  try {
    const tailStart = Math.max(0, size - 2 * 1024 * 1024);
    const tail = Buffer.alloc(size - tailStart);
    await handle.read(tail, 0, tail.length, tailStart);
    return tailStart + tail.lastIndexOf(0x0a) + 1;
  } finally {
    await handle.close();
  }
}

/**
 * The file size at a moment when no writer is mid-append: writers append whole lines under the
 * evidence lock, so a size read under it ends on a line boundary and a concurrent `rotate` is not
 * mistaken for a torn line. A read-only copy (an auditor's) cannot be locked and has no writer.
 */
async function committedSize(dir: string, file: string): Promise<number | null> {
  const size = () => fs.stat(file).then((stat) => stat.size, () => null);
  if ((await size()) === null) return null;
  let lock;
  try {
    lock = await acquireFileLock(join(dir, 'evidence.lock'), { waitMs: 30_000, owner: `keyshift evidence verify (pid ${process.pid})`, what: `evidence log ${dir}` });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return size();
    throw error;
  }
  try {
    return await size();
  } finally {
    await lock.release();
  }
}
