import { KeyshiftError, errorMessage } from '../../errors.js';

/**
 * The local store's user-facing errors in one place: each names the file, never a value, and its
 * hint says what to do. Wrong key and damage are distinct codes so the fix is never a guess.
 */

export function corruptError(path: string, detail: string): KeyshiftError {
  return new KeyshiftError('ERR_STORE_CORRUPT', `store ${path} is damaged: ${detail}`, {
    hint: `restore ${path} from a backup (keyshift never overwrites a damaged store); if the key is right and the file was edited, the edit is the damage`,
  });
}

export function changedError(path: string): KeyshiftError {
  return new KeyshiftError('ERR_STORE_CHANGED', `store ${path} was changed by another process while this run held its lock`, {
    retryable: true,
    hint: 'nothing another writer wrote was cut, and this run reloaded the store: rerun; if it happens again, make sure only keyshift writes the store (and that its lock file is on a local disk)',
  });
}

export function readError(path: string, error: unknown): unknown {
  if (error instanceof KeyshiftError) return error;
  const code = (error as NodeJS.ErrnoException).code ?? errorMessage(error);
  return new KeyshiftError('ERR_STORE_READ', `cannot read store ${path}: ${code}`, {
    hint: 'check that the file and its directory are readable by the user running keyshift',
    cause: error,
  });
}

export function writeError(path: string, error: unknown): unknown {
  if (error instanceof KeyshiftError) return error;
  const code = (error as NodeJS.ErrnoException).code ?? errorMessage(error);
  return new KeyshiftError('ERR_STORE_WRITE', `cannot write store ${path}: ${code}`, {
    hint: 'nothing from this write was acknowledged; fix the cause (disk full, permissions) and rerun',
    retryable: true,
    cause: error,
  });
}
