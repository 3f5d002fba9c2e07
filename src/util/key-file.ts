import { closeSync, constants, fstatSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { KeyshiftError } from '../errors.js';

/**
 * Key files (a local store's `<path>.key`, the AWS stores' `fingerprint.key`): read only when they
 * are a regular file of ours that nobody else can read, created whole or not at all. A symlink
 * planted before the first run, or a key others can read, is refused rather than used silently.
 */

/** The file's text, or null when it does not exist. */
export function readKeyFile(path: string, unreadableCode = 'ERR_KEY_FILE_UNREADABLE'): string | null {
  let fd: number;
  try {
    // O_NOFOLLOW: a symlink fails here (ELOOP) instead of being read through.
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP' || code === 'EMLINK') throw unsafe(path, 'is a symbolic link', `replace it with the key file itself (mode 0600), or remove it and set the key in the environment`);
    throw new KeyshiftError(unreadableCode, `cannot read key file ${path}: ${code ?? 'error'}`, {
      hint: 'check the file permissions (it should be mode 0600, owned by the user running keyshift)',
      cause: error,
    });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw unsafe(path, 'is not a regular file', 'replace it with the key file itself (mode 0600)');
    if ((st.mode & 0o077) !== 0) throw unsafe(path, `is readable or writable by others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')})`, `run: chmod 600 ${path} (and rotate the key if others may have read it)`);
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) throw unsafe(path, `is owned by uid ${st.uid}, not by the user running keyshift`, `chown it to the user running keyshift, or replace it with a key file of its own`);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `text` to a temp file (0600, O_EXCL), fsyncs it, and links it into place: the key appears
 * whole or not at all, and an existing file (another run's key) is never replaced. False when one
 * existed already.
 */
export function createKeyFile(path: string, text: string): boolean {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const fd = openSync(temp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | (constants.O_NOFOLLOW ?? 0), 0o600);
  try {
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(temp, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
  } finally {
    rmSync(temp, { force: true });
  }
  fsyncDirSync(dirname(path));
  return true;
}

function unsafe(path: string, what: string, fix: string): KeyshiftError {
  return new KeyshiftError('ERR_KEY_FILE_UNSAFE', `key file ${path} ${what}: keyshift does not use it`, { hint: fix });
}

function fsyncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms cannot fsync a directory; the file itself is durable.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
