import { closeSync, promises as fs, constants, openSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { KeyshiftError } from '../../errors.js';
import { encodeMeta } from './entry-codec.js';
import { buildHeader, chainStart, FRAME_PREFIX_BYTES, recordBytes, recordTag, writeRecord, type ParsedHeader } from './file-format.js';
import { closeReader, fileIdOf, readEntryText, refreshSnapshot, type FileId, type LogSnapshot } from './log-reader.js';
import type { MasterKeyProvider, StoreKeys } from './master-key.js';
import { RecordFile } from './record-file.js';
import { changedError } from './store-errors.js';
import { fsyncDir, writeAll } from '../../util/file-io.js';

/**
 * Whole-file writes: creating a store and compacting it. Both write a temp file (mode 0600) in the
 * store's directory, fsync it, put it in place atomically and fsync the directory, so a crash leaves
 * either the old file or the complete new one. Called only by the lock holder.
 */

const WRITE_CHUNK = 1024 * 1024;

/** Creates an empty store (header only). Never replaces an existing file. */
export async function createStoreFile(path: string, keys: StoreKeys, storeId: string): Promise<ParsedHeader> {
  await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const header = buildHeader({ storeId, generation: 1, createdAt: new Date().toISOString(), name: basename(path) }, keys);
  const temp = tempPath(path);
  try {
    await writeTemp(temp, async (handle) => {
      await handle.write(header.bytes, 0, header.bytes.length, 0);
    });
    await placeWithoutReplacing(temp, path);
  } finally {
    await fs.rm(temp, { force: true });
  }
  await fsyncDir(dirname(path));
  return header;
}

/** Encrypts record plaintexts straight into the write buffer (see writeRecord in file-format.ts). */
export interface RecordWriter {
  size(plaintext: string): number;
  /** Writes the next record at `at` in `target`; returns its size. */
  write(plaintext: string, target: Buffer, at: number): number;
}

/**
 * Writes `header` and the records into a temp file and renames it over the store. `beforeRename`
 * may refuse (throw) at the last moment, when the file it would replace is not the one it read.
 * `onRenamed` runs right after the rename, before the directory fsync, so the caller switches to
 * the new file even if that fsync fails. It is given a descriptor open for reading on the new file,
 * opened before the rename (so nothing can fail between the rename and the switch), to keep.
 */
export async function compactInto(path: string, header: ParsedHeader, plaintexts: Iterable<string>, records: RecordWriter, beforeRename: () => Promise<void>, onRenamed: (fileId: FileId, reader: number) => void): Promise<void> {
  const temp = tempPath(path);
  let fileId: FileId | undefined;
  let reader: number | null = null;
  try {
    await writeTemp(temp, async (handle) => {
      // Records are gathered in one buffer, reused for every write: no garbage megabytes to collect.
      const chunk = Buffer.allocUnsafe(WRITE_CHUNK);
      let position = 0;
      let used = 0;
      const write = async (data: Buffer) => {
        await writeAll(handle, data, position);
        position += data.length;
      };
      used += header.bytes.copy(chunk);
      for (const plaintext of plaintexts) {
        const size = records.size(plaintext);
        if (used + size > WRITE_CHUNK) {
          await write(chunk.subarray(0, used));
          used = 0;
        }
        if (size > WRITE_CHUNK) {
          const own = Buffer.allocUnsafe(size);
          records.write(plaintext, own, 0);
          await write(own);
        } else used += records.write(plaintext, chunk, used);
      }
      await write(chunk.subarray(0, used));
      fileId = fileIdOf(await handle.stat());
    });
    reader = openSync(temp, 'r');
    await beforeRename();
    await fs.rename(temp, path);
  } catch (error) {
    if (reader !== null) closeSync(reader);
    await fs.rm(temp, { force: true });
    throw error;
  }
  onRenamed(fileId!, reader);
  await fsyncDir(dirname(path));
}

/**
 * Compacts the store at `path` as the lock holder replayed it (`snap`): its live records become the
 * next generation (compactInto), and `snap` then points into the new file. `checkLock` throws
 * unless the writer lock still names this run.
 */
export async function compactSnapshot(path: string, snap: LogSnapshot, keys: MasterKeyProvider, checkLock: () => Promise<void>): Promise<void> {
  const writeKeys = keys.forWriting();
  const old = snap.header!.header;
  // A format-2 store gets its name now: the file name it has (format 3 verified it is the same).
  const header = buildHeader({ storeId: old.storeId, generation: old.generation + 1, createdAt: old.createdAt, name: old.name ?? basename(path) }, writeKeys);
  const count = snap.entries.size + (snap.meta ? 1 : 0);
  const readKeys = keys.forExistingStore();
  // Read and encrypted one at a time as the file is written: 10,000s of records never all exist at
  // once. In the order they are in the file, so reading them is sequential and the new file keeps
  // the order a run reads them in. Nothing changes the entries meanwhile (writes wait for this;
  // refresh trusts the lock).
  const order = [...snap.entries.values()].sort((a, b) => a.at - b.at);
  function* plaintexts(): Generator<string> {
    if (snap.meta) yield encodeMeta(snap.meta);
    for (const handle of order) yield readEntryText(snap, handle, readKeys, path);
  }
  let index = 0;
  let tag = chainStart(header.header);
  const sizes: number[] = [];
  const write = (text: string, target: Buffer, at: number) => {
    const size = writeRecord(writeKeys, header.digest, index++, text, target, at, tag);
    tag = recordTag(target, at + size);
    sizes.push(size);
    return size;
  };
  // Just before the rename: the lock is still ours and the file is still the one we replayed.
  // (A torn tail after our end is fine: the new generation leaves it out.)
  const unchanged = async () => {
    await checkLock();
    const st = await fs.stat(path);
    if (st.ino !== snap.fileId?.ino || st.dev !== snap.fileId.dev || st.size < snap.validEnd) throw changedError(path);
    if (st.size > snap.validEnd) {
      const probe = await refreshSnapshot(path, { ...snap, entries: new Map() }, () => keys.forExistingStore());
      closeReader(probe, snap);
      if (probe.validEnd !== snap.validEnd || probe.fileId?.ino !== st.ino) throw changedError(path);
    }
  };
  await compactInto(path, header, plaintexts(), { size: recordBytes, write }, unchanged, (fileId, reader) => {
    // The rename happened: from here on appends must use the new header, whatever fails next,
    // and entries are read again from the new file, where the records were written in this order
    // (a text kept stays kept: it is the same text).
    const oldReader = snap.reader;
    let at = header.bytes.length;
    let record = 0;
    if (snap.meta) at += sizes[record++] as number;
    for (const handle of order) {
      const size = sizes[record] as number;
      Object.assign(handle, { at, length: size - FRAME_PREFIX_BYTES, index: record });
      at += size;
      record += 1;
    }
    Object.assign(snap, { header, fileId, validEnd: fileId.size, recordCount: count, lastTag: tag, reader: new RecordFile(reader) });
    oldReader?.close();
  });
}

/** Removes temp files a crashed writer left (they hold only ciphertext, but they are clutter). */
export async function removeStaleTemps(path: string): Promise<void> {
  const prefix = `${basename(path)}.tmp-`;
  let names: string[];
  try {
    names = await fs.readdir(dirname(path));
  } catch {
    return;
  }
  await Promise.all(names.filter((name) => name.startsWith(prefix)).map((name) => fs.rm(join(dirname(path), name), { force: true })));
}

async function writeTemp(temp: string, fill: (handle: fs.FileHandle) => Promise<void>): Promise<void> {
  const handle = await fs.open(temp, constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_WRONLY, 0o600);
  try {
    await fill(handle);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** link() fails if the target exists, unlike rename(): a store that appeared meanwhile is kept. */
async function placeWithoutReplacing(temp: string, path: string): Promise<void> {
  try {
    await fs.link(temp, path);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw appeared(path);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw error;
  }
  // No hard links on this file system: check, then rename (we hold the writer lock).
  if (await fs.stat(path).then(() => true, () => false)) throw appeared(path);
  await fs.rename(temp, path);
}


function appeared(path: string): KeyshiftError {
  return new KeyshiftError('ERR_STORE_CHANGED', `store ${path} was created by another process while this run held its lock`, {
    retryable: true,
    hint: 'rerun; if it happens again, check that every writer uses keyshift (which locks the store)',
  });
}

function tempPath(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}
