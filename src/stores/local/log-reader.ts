import { closeSync, fstatSync, openSync, statSync, type Stats } from 'node:fs';
import type { StoreMeta } from '../contract.js';
import { loadRecord } from './entry-codec.js';
import { loadLegacyRecord } from './legacy-codec.js';
import {
  chainStart,
  decryptRecord,
  FRAME_PREFIX_BYTES,
  HEADER_PREFIX_BYTES,
  headerBlockLength,
  looksUnwritten,
  parseHeader,
  recordTag,
  TAG_BYTES,
  verifyHeader,
  type ParsedHeader,
} from './file-format.js';
import type { StoreKeys } from './master-key.js';
import { KeyshiftError } from '../../errors.js';
import { corruptError } from './store-errors.js';
import { readAt, ReadWindow, RecordFile } from './record-file.js';

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

/**
 * A key's newest record: where it is in the file, and its text (format 2, entry-codec.ts) while the
 * text is kept. A replay keeps the text it decrypted (a run reads most entries, some twice, and
 * decrypting a record again costs more than keeping it); a record this process writes keeps its
 * text only until it is durable, and is read and authenticated again when wanted (readEntryText).
 * So a run that rewrites every entry of a 10,000-secret store ends holding none of the ~1 KB texts
 * instead of all of them, and the values it wrote are not held in memory for the rest of the run.
 */
export interface EntryHandle {
  text: string | null;
  /** Where its frame starts; its body (nonce, ciphertext, tag) is `length` bytes after the prefix. */
  at: number;
  length: number;
  /** Its record number, which its AAD names. */
  index: number;
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
  /** Each key's newest record. */
  entries: Map<string, EntryHandle>;
  meta: StoreMeta | null;
  /**
   * A descriptor open on the file `entries` point into, or null when there is none: a compaction by
   * another process renames a new file over the path, and the offsets must go on meaning the file
   * they were read from. Whoever replaces a snapshot closes its reader (closeReader).
   */
  reader: RecordFile | null;
}

export const emptySnapshot = (): LogSnapshot => ({ fileId: null, header: null, validEnd: 0, recordCount: 0, lastTag: null, entries: new Map(), meta: null, reader: null });

/** Closes a snapshot's reader, unless `next` goes on using it. */
export function closeReader(snap: LogSnapshot, next?: LogSnapshot): void {
  if (snap.reader !== null && snap.reader !== next?.reader) snap.reader.close();
}

/** A handle for a record that is only in memory (a commit not durable yet). */
export const textHandle = (text: string): EntryHandle => ({ text, at: -1, length: 0, index: -1 });

/** The entry's text: kept, or its record read from the snapshot's file and authenticated again. */
export function readEntryText(snap: LogSnapshot, handle: EntryHandle, keys: StoreKeys, path: string): string {
  if (handle.text !== null) return handle.text;
  const header = snap.header;
  // A handle lets go of its text only while its snapshot has a reader (append-log.ts markDurable).
  if (!header || snap.reader === null) throw new KeyshiftError('ERR_INTERNAL', `store ${path}: a record at byte ${handle.at} has no text and no open file to read it from (this is a bug in keyshift)`);
  // Format 3 chains each record to the tag of the one before: the last 16 bytes before its frame.
  const chain = chainStart(header.header);
  const linked = chain !== null && handle.index > 0;
  const before = linked ? TAG_BYTES : 0;
  const size = before + FRAME_PREFIX_BYTES + handle.length;
  const bytes = snap.reader.bytesAt(handle.at - before, size, snap.validEnd);
  const text = bytes && decryptRecord(keys, header.digest, handle.index, bytes.subarray(before + FRAME_PREFIX_BYTES), linked ? bytes.subarray(0, TAG_BYTES) : chain);
  if (text === null) throw corruptError(path, `record ${handle.index} at byte ${handle.at} fails authentication`);
  return text;
}

export const fileIdOf = (st: Stats): FileId => ({ dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs });

/**
 * Brings `snap` up to date. Cheap when nothing changed (one stat); reads only the appended bytes when
 * the same file grew; replays the whole file when it was replaced (compaction) or is new to us.
 */
export async function refreshSnapshot(path: string, snap: LogSnapshot, keys: () => StoreKeys): Promise<LogSnapshot> {
  const seen = statOrNull(path);
  if (!seen) return snap.fileId === null ? snap : emptySnapshot();
  if (snap.fileId && sameFile(fileIdOf(seen), snap.fileId)) return snap;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptySnapshot();
    throw error;
  }
  let kept = false;
  try {
    const st = fstatSync(fd);
    const header = await readHeader(fd, st.size, path);
    const storeKeys = keys();
    const sameLog = snap.header !== null && snap.reader !== null && snap.fileId?.ino === st.ino && snap.fileId.dev === st.dev && header.bytes.equals(snap.header.bytes);
    if (sameLog && st.size >= snap.validEnd) {
      // Only the appended bytes; if they do not fit (the file was rewritten in place, e.g. a backup
      // copied over it), the full replay below decides. The snapshot's reader is on this same file.
      const appended = await replayRecords(fd, st.size, snap.validEnd, snap.recordCount, snap.lastTag, header, storeKeys, path).catch(() => null);
      if (appended) {
        for (const [key, entry] of appended.entries) snap.entries.set(key, entry);
        return { ...snap, fileId: fileIdOf(st), validEnd: appended.end, recordCount: appended.count, lastTag: appended.lastTag, meta: appended.meta ?? snap.meta };
      }
    }
    verifyHeader(header, storeKeys, path);
    const replay = await replayRecords(fd, st.size, header.bytes.length, 0, chainStart(header.header), header, storeKeys, path);
    kept = true;
    return { fileId: fileIdOf(st), header, validEnd: replay.end, recordCount: replay.count, lastTag: replay.lastTag, entries: replay.entries, meta: replay.meta, reader: new RecordFile(fd) };
  } finally {
    if (!kept) closeSync(fd);
  }
}

async function readHeader(fd: number, size: number, path: string): Promise<ParsedHeader> {
  const prefix = await readAt(fd, 0, Math.min(size, HEADER_PREFIX_BYTES));
  const length = headerBlockLength(prefix, path);
  if (size < length) throw corruptError(path, 'its header is cut short');
  return parseHeader(await readAt(fd, 0, length), path);
}

interface Replay {
  entries: Map<string, EntryHandle>;
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
async function replayRecords(fd: number, size: number, start: number, startIndex: number, startTag: Buffer | null, header: ParsedHeader, keys: StoreKeys, path: string): Promise<Replay> {
  const window = new ReadWindow(fd, size);
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
    if (item.type === 'entry') replay.entries.set(item.key, { text: item.text, at: offset, length, index });
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
