import { closeSync, promises as fs, constants, openSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { KeyshiftError } from '../../errors.js';
import { buildHeader, type ParsedHeader } from './file-format.js';
import { fileIdOf, type FileId } from './log-reader.js';
import type { StoreKeys } from './master-key.js';
import { fsyncDir } from '../../util/file-io.js';

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
        for (let done = 0; done < data.length; ) done += (await handle.write(data, done, data.length - done, position + done)).bytesWritten;
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
