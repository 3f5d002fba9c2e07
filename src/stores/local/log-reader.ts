import { promises as fs, statSync, type Stats } from 'node:fs';
import type { StoreMeta } from '../contract.js';
import { loadRecord } from './entry-codec.js';
import { loadLegacyRecord } from './legacy-codec.js';
import {
  chainStart,
  decryptRecord,
  FRAME_PREFIX_BYTES,
  frameBodyLength,
  HEADER_PREFIX_BYTES,
  headerBlockLength,
  looksUnwritten,
  parseHeader,
  recordTag,
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
  /** The tag of the last complete record, which the next record's AAD chains to (null before format 3). */
  lastTag: Buffer | null;
  /** Each key's newest record, as its format-2 text (entry-codec.ts). */
  entries: Map<string, string>;
  meta: StoreMeta | null;
}

const CHUNK_BYTES = 1024 * 1024;

export const emptySnapshot = (): LogSnapshot => ({ fileId: null, header: null, validEnd: 0, recordCount: 0, lastTag: null, entries: new Map(), meta: null });

export const fileIdOf = (st: Stats): FileId => ({ dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs });

/**
 * Brings `snap` up to date. Cheap when nothing changed (one stat); reads only the appended bytes when
 * the same file grew; replays the whole file when it was replaced (compaction) or is new to us.
 */
export async function refreshSnapshot(path: string, snap: LogSnapshot, keys: () => StoreKeys): Promise<LogSnapshot> {
  const seen = statOrNull(path);
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
      const appended = await replayRecords(handle, st.size, snap.validEnd, snap.recordCount, snap.lastTag, header, storeKeys, path).catch(() => null);
      if (appended) {
        for (const [key, entry] of appended.entries) snap.entries.set(key, entry);
        return { ...snap, fileId: fileIdOf(st), validEnd: appended.end, recordCount: appended.count, lastTag: appended.lastTag, meta: appended.meta ?? snap.meta };
      }
    }
    verifyHeader(header, storeKeys, path);
    const replay = await replayRecords(handle, st.size, header.bytes.length, 0, chainStart(header.header), header, storeKeys, path);
    return { fileId: fileIdOf(st), header, validEnd: replay.end, recordCount: replay.count, lastTag: replay.lastTag, entries: replay.entries, meta: replay.meta };
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
  entries: Map<string, string>;
  meta: StoreMeta | null;
  end: number;
  count: number;
  lastTag: Buffer | null;
}

/**
 * Authenticates every record from `start`, all or nothing (a damaged record leaves `snap` as it
 * was). Two passes: the frames forward, to find where each record is and where a torn tail begins;
 * then the records newest first, so only the newest record of each key (and the newest meta) is
 * decoded and kept: the records it replaces are decrypted, never parsed, and die young.
 */
async function replayRecords(handle: fs.FileHandle, size: number, start: number, startIndex: number, startTag: Buffer | null, header: ParsedHeader, keys: StoreKeys, path: string): Promise<Replay> {
  const window = new ReadWindow(handle, size);
  const frames = await scanFrames(window, start, startIndex, path);
  const replay: Replay = { entries: new Map(), meta: null, end: frames.end, count: startIndex + frames.count, lastTag: startTag };
  const chained = startTag !== null;
  let newest = true;
  const load = header.header.format === 1 ? loadLegacyRecord : loadRecord;
  const isWanted = (key: string) => !replay.entries.has(key);
  for (let i = frames.count - 1; i >= 0; i--) {
    const offset = frames.offsets[i] as number;
    const length = frames.lengths[i] as number;
    const index = startIndex + i;
    const bodyStart = offset + FRAME_PREFIX_BYTES;
    // Format 3 chains each record to the tag of the one before: the last 16 bytes before its frame.
    const linked = chained && i > 0;
    await window.ensure(linked ? offset - 16 : bodyStart, linked ? length + FRAME_PREFIX_BYTES + 16 : length, 'backwards');
    const body = window.slice(bodyStart, length);
    const prevTag = !chained ? null : i > 0 ? window.slice(offset - 16, 16) : startTag;
    const plaintext = decryptRecord(keys, header.digest, index, body, prevTag);
    if (plaintext === null) {
      if (i === frames.count - 1 && bodyStart + length === size && looksUnwritten(body)) {
        // An append a power loss cut short: never acknowledged, so it is not part of the log.
        Object.assign(replay, { end: offset, count: index });
        continue;
      }
      throw corruptError(path, `record ${index} at byte ${offset} fails authentication`);
    }
    if (newest && chained) replay.lastTag = recordTag(body, body.length);
    newest = false;
    const item = load(plaintext, isWanted);
    if (item === 'skip') continue;
    if (!item) throw corruptError(path, `record ${index} at byte ${offset} has an unknown layout`);
    if (item.type === 'entry') replay.entries.set(item.key, item.text);
    else replay.meta ??= item.meta;
  }
  return replay;
}

interface Frames {
  offsets: number[];
  lengths: number[];
  count: number;
  /** End of the last complete frame. */
  end: number;
}

/** Where each record starts, up to a torn tail (a frame cut short, or zero bytes a crash left). */
async function scanFrames(window: ReadWindow, start: number, startIndex: number, path: string): Promise<Frames> {
  const frames: Frames = { offsets: [], lengths: [], count: 0, end: start };
  let offset = start;
  for (;;) {
    if (!(await window.ensure(offset, FRAME_PREFIX_BYTES))) break;
    const length = window.frameLength(offset);
    if (length === null) {
      if (await window.zeroFrom(offset)) break;
      throw corruptError(path, `record ${startIndex + frames.count} at byte ${offset} has a damaged length`);
    }
    if (!(await window.ensure(offset + FRAME_PREFIX_BYTES, length))) break;
    frames.offsets.push(offset);
    frames.lengths.push(length);
    frames.count += 1;
    offset += FRAME_PREFIX_BYTES + length;
    frames.end = offset;
  }
  return frames;
}

/**
 * A sliding buffer over the file so replaying 10,000s of records costs a few large reads. It reads
 * into one buffer again and again (a fresh megabyte per read would pile up as garbage outside the
 * JS heap until a full collection): a slice is valid only until the next `ensure`.
 */
class ReadWindow {
  #start = 0;
  #bytes: Buffer = Buffer.alloc(0);
  #buffer: Buffer | null = null;

  constructor(
    private readonly handle: fs.FileHandle,
    private readonly size: number,
  ) {}

  /**
   * False when the file ends before `offset + length`. A miss reads the next CHUNK_BYTES from
   * `offset`, or (`backwards`) the CHUNK_BYTES that end with the wanted bytes.
   */
  async ensure(offset: number, length: number, direction: 'forwards' | 'backwards' = 'forwards'): Promise<boolean> {
    if (offset + length > this.size) return false;
    if (offset >= this.#start && offset + length <= this.#start + this.#bytes.length) return true;
    const span = Math.max(length, CHUNK_BYTES);
    this.#start = direction === 'forwards' ? offset : Math.max(0, offset + length - span);
    this.#bytes = await this.#read(this.#start, Math.min(this.size - this.#start, span));
    return this.#bytes.length >= offset + length - this.#start;
  }

  /** The body length in the frame prefix at `offset` (see frameBodyLength); `ensure` it first. */
  frameLength(offset: number): number | null {
    return frameBodyLength(this.#bytes, offset - this.#start);
  }

  slice(offset: number, length: number): Buffer {
    return this.#bytes.subarray(offset - this.#start, offset - this.#start + length);
  }

  /** True when every byte from `offset` to the end is zero: space a crash allocated but never filled. */
  async zeroFrom(offset: number): Promise<boolean> {
    for (let at = offset; at < this.size; at += CHUNK_BYTES) {
      this.#bytes = Buffer.alloc(0); // the shared buffer is about to be overwritten
      const chunk = await this.#read(at, Math.min(CHUNK_BYTES, this.size - at));
      if (!chunk.every((byte) => byte === 0)) return false;
    }
    return true;
  }

  async #read(position: number, length: number): Promise<Buffer> {
    if (!this.#buffer || this.#buffer.length < length) this.#buffer = Buffer.allocUnsafe(Math.max(length, CHUNK_BYTES));
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.handle.read(this.#buffer, filled, length - filled, position + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return this.#buffer.subarray(0, filled);
  }
}

/** Synchronous: one stat, and a store not created yet is then read without loading node:fs/promises. */
function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function sameFile(a: FileId, b: FileId): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}
