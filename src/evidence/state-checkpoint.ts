import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { parseJsonArray, parseJsonObject, readLineAt, readLastLine, readLines } from './log-file.js';
import type { ExpectedState } from './expected-state.js';
import { SeqList } from './seq-list.js';
import { writeAll } from '../util/file-io.js';

/**
 * A checkpoint of the expected-state fold (expected-state.ts): what the evidence log says every
 * secret's store must hold, up to one record of the log. rotate's rollback check starts from it and
 * reads only the records written since, instead of the whole log on every run (a team's log only
 * grows). It is derived data, a cache: deleting it costs one full read. It is used only while the
 * log still holds, at the same byte offset, the record it names (same seq and hash: the hash chain
 * then vouches for every record before it) and the same first record, and while every store judged
 * records its digest (StoreMeta.checkpoints, written with the anchor at the end of the run that made
 * it: a store file is authenticated by its master key, so an edited checkpoint, or one no store saw,
 * is never trusted, and an old copy of a store put back names an older one). Anything else — a log
 * replaced, cut or merged, a damaged file — means a full read. `evidence verify` and `doctor` never
 * use it: they read the whole log (docs/evidence.md#the-rollback-checkpoint).
 */

export const CHECKPOINT_FILE = '.expected-states.json';
/** 2: a header line, then a line per target (1, one JSON text, was read whole: a run's peak). */
const FORMAT = 2;

export interface Checkpoint {
  /** Hash of the log's seq-1 record. */
  chainId: string;
  /** seq and hash of the last record folded in, and the byte offset just past its line. */
  seq: number;
  hash: string;
  end: number;
  targets: Map<string, ExpectedState>;
}

/** A checkpoint as the stores record it: the log it is of, and the SHA-256 of its file. */
export interface CheckpointRef {
  chainId: string;
  digest: string;
}

/**
 * The checkpoint of the log in `dir` when it still matches `file` (of `size` bytes) and `vouched`
 * accepts its digest, else null.
 */
export async function readCheckpoint(
  dir: string,
  file: string,
  size: number,
  vouched: (ref: CheckpointRef) => boolean,
): Promise<{ checkpoint: Checkpoint; ref: CheckpointRef } | null> {
  const loaded = await loadCheckpoint(join(dir, CHECKPOINT_FILE));
  if (!loaded || loaded.checkpoint.end > size) return null;
  const { checkpoint, ref } = loaded;
  if (!vouched(ref)) return null;
  const handle = await fs.open(file, 'r').catch(() => null);
  if (!handle) return null;
  try {
    const last = await readLastLine(handle, checkpoint.end);
    if (last.torn || last.line === null) return null;
    const record = parseJsonObject(last.line);
    if (record?.seq !== checkpoint.seq || record.hash !== checkpoint.hash) return null;
    const first = parseJsonObject(await readLineAt(handle));
    return first?.seq === 1 && first.hash === checkpoint.chainId ? { checkpoint, ref } : null;
  } finally {
    await handle.close();
  }
}

/**
 * The file decoded a line at a time, with the digest of its bytes; null for a file that is missing,
 * damaged, cut short or of another format, never a wrong state.
 */
async function loadCheckpoint(file: string): Promise<{ checkpoint: Checkpoint; ref: CheckpointRef } | null> {
  const size = await fs.stat(file).then((st) => (st.isFile() ? st.size : null), () => null);
  if (size === null) return null;
  const digest = createHash('sha256');
  let header: Omit<Checkpoint, 'targets'> & { count: number } | null = null;
  const targets = new Map<string, ExpectedState>();
  try {
    for await (const line of readLines(file, size)) {
      if (!line.terminated) return null;
      digest.update(line.bytes).update(NEWLINE);
      const text = line.bytes.toString('utf8');
      if (header === null) {
        header = decodeHeader(text);
        if (header === null) return null;
        continue;
      }
      const [key, row] = parseJsonArray(text) ?? [];
      const state = typeof key === 'string' && !targets.has(key) ? decodeState(row) : null;
      if (!state) return null;
      targets.set(key as string, state);
    }
  } catch {
    return null; // removed or replaced while read
  }
  if (header === null || targets.size !== header.count) return null;
  const { count: _count, ...fields } = header;
  return { checkpoint: { ...fields, targets }, ref: { chainId: header.chainId, digest: `sha256:${digest.digest('hex')}` } };
}

const NEWLINE = Buffer.from('\n');

/**
 * Replaces the checkpoint (a temp file renamed over it), and removes temp files a killed run left
 * (older than a minute: a live writer renames its own within milliseconds). A cache: failing to
 * write it is not an error (null).
 */
export async function writeCheckpoint(dir: string, checkpoint: Checkpoint): Promise<CheckpointRef | null> {
  const target = join(dir, CHECKPOINT_FILE);
  const temp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  let written: CheckpointRef | null = null;
  try {
    const digest = await writeEncoded(temp, checkpoint);
    await fs.rename(temp, target);
    written = { chainId: checkpoint.chainId, digest };
  } catch {
    await fs.rm(temp, { force: true }).catch(() => undefined);
  }
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const name of names.filter((n) => TEMP.test(n))) {
    const path = join(dir, name);
    const stat = await fs.lstat(path).catch(() => null);
    if (stat?.isFile() && Date.now() - stat.mtimeMs > STALE_TEMP_MS) await fs.rm(path, { force: true }).catch(() => undefined);
  }
  return written;
}

const TEMP = /^\.expected-states\.json\.\d+\.[0-9a-f]{8}\.tmp$/;
const STALE_TEMP_MS = 60_000;

// A state as an array: [current, currentSeq, currentEvent, currentAt, retired, storeId, storeIdSeq, lastSeqByStore].
type StateRow = [string | null, number, string, string, Array<[string, number]>, string | null, number, Array<[string, number]>];

/**
 * Writes the header line ({ format, chainId, seq, hash, end, targets: count }) and a line per target
 * ([key, row]) through one buffer, and returns the digest of the bytes written. Written and read a
 * line at a time: at 10,000 secrets the file is several MB, and as one JSON text it and what it
 * parsed to were, with the states made from them, the peak of a run's memory.
 */
async function writeEncoded(file: string, checkpoint: Checkpoint): Promise<string> {
  const hash = createHash('sha256');
  const handle = await fs.open(file, 'wx', 0o600);
  try {
    const chunk = Buffer.allocUnsafe(WRITE_CHUNK);
    let used = 0;
    let position = 0;
    const emit = async (bytes: Buffer) => {
      hash.update(bytes);
      await writeAll(handle, bytes, position);
      position += bytes.length;
    };
    const flush = async () => {
      await emit(chunk.subarray(0, used));
      used = 0;
    };
    const put = async (text: string) => {
      const bytes = Buffer.byteLength(text);
      if (used + bytes > WRITE_CHUNK) await flush();
      if (bytes > WRITE_CHUNK) await emit(Buffer.from(text));
      else used += chunk.write(text, used);
    };
    const { chainId, seq, hash: last, end } = checkpoint;
    await put(`${JSON.stringify({ format: FORMAT, chainId, seq, hash: last, end, targets: checkpoint.targets.size })}\n`);
    for (const [key, s] of checkpoint.targets) {
      const row: StateRow = [s.current, s.currentSeq, s.currentEvent, s.currentAt, [...s.retired], s.storeId, s.storeIdSeq, [...s.lastSeqByStore]];
      await put(`${JSON.stringify([key, row])}\n`);
    }
    await flush();
  } finally {
    await handle.close();
  }
  return `sha256:${hash.digest('hex')}`;
}

const WRITE_CHUNK = 256 * 1024;

function decodeHeader(text: string): (Omit<Checkpoint, 'targets'> & { count: number }) | null {
  const raw = parseJsonObject(text);
  if (!raw || raw.format !== FORMAT || typeof raw.chainId !== 'string' || typeof raw.hash !== 'string') return null;
  if (!isCount(raw.seq) || !isCount(raw.end) || raw.end === 0 || !isCount(raw.targets)) return null;
  return { chainId: raw.chainId, seq: raw.seq, hash: raw.hash, end: raw.end, count: raw.targets };
}

function decodeState(row: unknown): ExpectedState | null {
  if (!Array.isArray(row) || row.length !== 8) return null;
  const [current, currentSeq, currentEvent, currentAt, retired, storeId, storeIdSeq, lastSeqByStore] = row as unknown[];
  if (!isStringOrNull(current) || !isCount(currentSeq) || typeof currentEvent !== 'string' || typeof currentAt !== 'string') return null;
  if (!isStringOrNull(storeId) || !isCount(storeIdSeq) || !isSeqPairs(retired) || !isSeqPairs(lastSeqByStore)) return null;
  return { current, currentSeq, currentEvent, currentAt, retired: new SeqList(retired), storeId, storeIdSeq, lastSeqByStore: new SeqList(lastSeqByStore) };
}

function isSeqPairs(value: unknown): value is Array<[string, number]> {
  return Array.isArray(value) && value.every((pair) => Array.isArray(pair) && pair.length === 2 && typeof pair[0] === 'string' && isCount(pair[1]));
}

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isStringOrNull = (value: unknown): value is string | null => value === null || typeof value === 'string';
