import { promises as fs, type Stats } from 'node:fs';
import type { StoreMeta } from '../contract.js';
import { decodeItem, type StoredEntry } from './entry-codec.js';
import {
  decryptRecord,
  FRAME_PREFIX_BYTES,
  frameBodyLength,
  HEADER_PREFIX_BYTES,
  headerBlockLength,
  looksUnwritten,
  parseHeader,
  verifyHeader,
  type ParsedHeader,
} from './file-format.js';
import type { StoreKeys } from './master-key.js';
import { corruptError } from './store-errors.js';
import { readAt } from '../../util/file-io.js';

/**
 * Loads a store file into memory by replaying its log (last record per key wins). Takes no lock and
 * writes nothing: it tolerates a concurrent append (a torn tail is simply where it stops) and a
 * concurrent compaction (the open descriptor keeps reading the old, complete file).
 */

export interface FileId {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

export interface LogSnapshot {
  /** The file as last seen; null when it did not exist. */
  fileId: FileId | null;
  header: ParsedHeader | null;
  /** End of the last complete record: anything after it is a torn tail, cut before the next append. */
  validEnd: number;
  recordCount: number;
  entries: Map<string, StoredEntry>;
  meta: StoreMeta | null;
}

const CHUNK_BYTES = 1024 * 1024;

export const emptySnapshot = (): LogSnapshot => ({ fileId: null, header: null, validEnd: 0, recordCount: 0, entries: new Map(), meta: null });

export const fileIdOf = (st: Stats): FileId => ({ dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs });

/**
 * Brings `snap` up to date. Cheap when nothing changed (one stat); reads only the appended bytes when
 * the same file grew; replays the whole file when it was replaced (compaction) or is new to us.
 */
export async function refreshSnapshot(path: string, snap: LogSnapshot, keys: () => StoreKeys): Promise<LogSnapshot> {
  const seen = await statOrNull(path);
  if (!seen) return snap.fileId === null ? snap : emptySnapshot();
  if (snap.fileId && sameFile(fileIdOf(seen), snap.fileId)) return snap;
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptySnapshot();
    throw error;
  }
  try {
    const st = await handle.stat();
    const header = await readHeader(handle, st.size, path);
    const storeKeys = keys();
    const sameLog = snap.header !== null && snap.fileId?.ino === st.ino && snap.fileId.dev === st.dev && header.bytes.equals(snap.header.bytes);
    if (sameLog && st.size >= snap.validEnd) {
      // Only the appended bytes; if they do not fit (the file was rewritten in place, e.g. a backup
      // copied over it), the full replay below decides.
      const appended = await replayRecords(handle, st.size, snap.validEnd, snap.recordCount, header, storeKeys, path).catch(() => null);
      if (appended) {
        for (const [key, entry] of appended.entries) snap.entries.set(key, entry);
        return { ...snap, fileId: fileIdOf(st), validEnd: appended.end, recordCount: appended.count, meta: appended.meta ?? snap.meta };
      }
    }
    verifyHeader(header, storeKeys, path);
    const replay = await replayRecords(handle, st.size, header.bytes.length, 0, header, storeKeys, path);
    return { fileId: fileIdOf(st), header, validEnd: replay.end, recordCount: replay.count, entries: replay.entries, meta: replay.meta };
  } finally {
    await handle.close();
  }
}

async function readHeader(handle: fs.FileHandle, size: number, path: string): Promise<ParsedHeader> {
  const prefix = await readAt(handle, 0, Math.min(size, HEADER_PREFIX_BYTES));
  const length = headerBlockLength(prefix, path);
  if (size < length) throw corruptError(path, 'its header is cut short');
  return parseHeader(await readAt(handle, 0, length), path);
}

interface Replay {
  entries: Map<string, StoredEntry>;
  meta: StoreMeta | null;
  end: number;
  count: number;
}

/** Decrypts every record from `start`; all or nothing, so a damaged record leaves `snap` as it was. */
async function replayRecords(handle: fs.FileHandle, size: number, start: number, startIndex: number, header: ParsedHeader, keys: StoreKeys, path: string): Promise<Replay> {
  const window = new ReadWindow(handle, size);
  const replay: Replay = { entries: new Map(), meta: null, end: start, count: startIndex };
  let offset = start;
  for (;;) {
    if (!(await window.ensure(offset, FRAME_PREFIX_BYTES))) break;
    const length = frameBodyLength(window.slice(offset, FRAME_PREFIX_BYTES));
    if (length === null) {
      if (await window.zeroFrom(offset)) break;
      throw corruptError(path, `record ${replay.count} at byte ${offset} has a damaged length`);
    }
    const bodyStart = offset + FRAME_PREFIX_BYTES;
    if (!(await window.ensure(bodyStart, length))) break;
    const body = window.slice(bodyStart, length);
    const plaintext = decryptRecord(keys, header.digest, replay.count, body);
    if (!plaintext) {
      if (bodyStart + length === size && looksUnwritten(body)) break;
      throw corruptError(path, `record ${replay.count} at byte ${offset} fails authentication`);
    }
    const item = decodeItem(plaintext);
    if (!item) throw corruptError(path, `record ${replay.count} at byte ${offset} has an unknown layout`);
    if (item.type === 'meta') replay.meta = item.meta;
    else replay.entries.set(item.key, item.entry);
    offset = bodyStart + length;
    replay.end = offset;
    replay.count += 1;
  }
  return replay;
}

/** A sliding buffer over the file so replaying 10,000s of records costs a few large reads. */
class ReadWindow {
  #start = 0;
  #bytes: Buffer = Buffer.alloc(0);

  constructor(
    private readonly handle: fs.FileHandle,
    private readonly size: number,
  ) {}

  /** False when the file ends before `offset + length`. */
  async ensure(offset: number, length: number): Promise<boolean> {
    if (offset + length > this.size) return false;
    if (offset >= this.#start && offset + length <= this.#start + this.#bytes.length) return true;
    this.#start = offset;
    this.#bytes = await readAt(this.handle, offset, Math.min(this.size - offset, Math.max(length, CHUNK_BYTES)));
    return this.#bytes.length >= length;
  }

  slice(offset: number, length: number): Buffer {
    return this.#bytes.subarray(offset - this.#start, offset - this.#start + length);
  }

  /** True when every byte from `offset` to the end is zero: space a crash allocated but never filled. */
  async zeroFrom(offset: number): Promise<boolean> {
    for (let at = offset; at < this.size; at += CHUNK_BYTES) {
      const chunk = await readAt(this.handle, at, Math.min(CHUNK_BYTES, this.size - at));
      if (!chunk.every((byte) => byte === 0)) return false;
    }
    return true;
  }
}


async function statOrNull(path: string): Promise<Stats | null> {
  try {
    return await fs.stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function sameFile(a: FileId, b: FileId): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}
