import { promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { fsyncDir } from '../../util/file-io.js';

/**
 * Whole-file replacement for stores that keep many secrets in one text file (dotenv, k8s-secret):
 * a reader sees the old file or the new one, never a mix, and a crash leaves one of the two.
 */

const TEMP_MARK = '.keyshift-tmp-';

/** Writes `text` beside `path` (same directory, so the rename is atomic), fsyncs it, renames it over
 * `path` and fsyncs the directory. The mode of an existing file is kept; a new file gets 0600. */
export async function replaceFile(path: string, text: string | Buffer): Promise<void> {
  const mode = await modeOf(path);
  const temp = join(dirname(path), `.${basename(path)}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`);
  const handle = await fs.open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(text);
    await handle.chmod(mode ?? 0o600); // the umask may have narrowed the create mode
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await fs.rename(temp, path);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  await fsyncDir(dirname(path));
}

/** The file's text and a stamp that changes when it is replaced or written; null when absent. */
export async function readTextFile(path: string): Promise<{ text: string; stamp: string } | null> {
  try {
    const handle = await fs.open(path, 'r');
    try {
      const stat = await handle.stat();
      const text = await handle.readFile('utf8');
      return { text, stamp: stampOf(stat) };
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** The stamp of the file now (null when absent), to see cheaply whether a cached parse is stale. */
export async function fileStamp(path: string): Promise<string | null> {
  try {
    return stampOf(await fs.stat(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Temp files a killed writer left beside `path` (call with the writer lock held). */
export async function removeStaleTemps(path: string): Promise<void> {
  const prefix = `.${basename(path)}${TEMP_MARK}`;
  const names = await fs.readdir(dirname(path)).catch(() => [] as string[]);
  await Promise.all(names.filter((name) => name.startsWith(prefix)).map((name) => fs.rm(join(dirname(path), name), { force: true })));
}

function stampOf(stat: { ino: number; size: number; mtimeMs: number; ctimeMs: number }): string {
  return `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
}

async function modeOf(path: string): Promise<number | null> {
  try {
    return (await fs.stat(path)).mode & 0o7777;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
