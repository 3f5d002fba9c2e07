import { KeyshiftError } from './errors.js';

/**
 * Environment errors of the file system, named by their own code with the path and the fix. One
 * place for the local store, the file stores and the evidence log: a full disk or a read-only
 * mount is the machine's state, never "a bug in keyshift".
 */
const DISK_ERRORS: Record<string, { code: string; what: string; hint: string }> = {
  ENOSPC: { code: 'ERR_DISK_FULL', what: 'no space left on the device', hint: 'free space on that file system (or point KEYSHIFT_STATE_DIR / the store path elsewhere) and rerun: a rerun completes what this run started' },
  EDQUOT: { code: 'ERR_DISK_QUOTA', what: 'the disk quota is exhausted', hint: 'free space within your quota or raise it, then rerun: a rerun completes what this run started' },
  EROFS: { code: 'ERR_READ_ONLY_FS', what: 'the file system is mounted read-only', hint: 'remount it read-write or use a writable location, then rerun' },
  EACCES: { code: 'ERR_FILE_ACCESS', what: 'permission denied', hint: 'give the user running keyshift read and write access to that path (and its directory), then rerun' },
  EPERM: { code: 'ERR_FILE_ACCESS', what: 'operation not permitted', hint: 'check the path\'s owner, mode and attributes (e.g. `lsattr` for the immutable flag), then rerun' },
  EFBIG: { code: 'ERR_FILE_TOO_LARGE', what: 'the file would exceed the allowed file size', hint: 'raise the file size limit (`ulimit -f`) or free the file system, then rerun' },
};

/** The KeyshiftError for a file-system error of the machine, or null when `error` is not one. */
export function diskError(error: unknown, path?: string): KeyshiftError | null {
  if (error instanceof KeyshiftError || typeof error !== 'object' || error === null) return null;
  const errno = (error as NodeJS.ErrnoException).code;
  const known = errno ? DISK_ERRORS[errno] : undefined;
  if (!known) return null;
  const where = (error as NodeJS.ErrnoException).path ?? path;
  return new KeyshiftError(known.code, `${where ?? 'a file keyshift uses'}: ${known.what} (${errno})`, { hint: known.hint, cause: error });
}

/** `error` as a KeyshiftError when it is a disk error, else unchanged. */
export function asDiskError(error: unknown, path?: string): unknown {
  return diskError(error, path) ?? error;
}

/** Whether `code` is one of the disk errors above (a caller keeps the code instead of wrapping it). */
export function isDiskErrorCode(code: string): boolean {
  return Object.values(DISK_ERRORS).some((known) => known.code === code);
}
