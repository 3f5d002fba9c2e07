import { readdirSync, statSync, type Stats } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import type { PolicyProblem } from './types.js';

const POLICY_FILE = /^[^.].*\.ya?ml$/;

/**
 * The files to load; a missing path or a directory without policy files is a problem. Synchronous:
 * a stat and a listing of one directory, on the path of every command (a warm `plan` then never
 * loads node:fs/promises, bench/issue-17.md).
 */
export function policyFiles(path: string, cwd: string, errors: PolicyProblem[]): string[] {
  const shown = displayPath(path, cwd);
  const problem = (message: string) => errors.push({ file: shown, line: 1, col: 1, message });
  const info = attempt(() => statSync(path));
  if (info instanceof Error) {
    if (info.code === 'ENOENT' || info.code === 'ENOTDIR') {
      problem('no such file or directory; pass a policy file or a directory of *.yaml files');
    } else problem(`cannot read (${info.code ?? info.message}); check the path and its permissions`);
    return [];
  }
  if (info.isFile()) return [path];
  if (!info.isDirectory()) {
    problem('not a file or a directory; pass a policy file or a directory of *.yaml files');
    return [];
  }
  const names = attempt(() => readdirSync(path));
  if (names instanceof Error) {
    problem(`cannot list this directory (${names.code ?? names.message}); check its permissions`);
    return [];
  }
  const found: string[] = [];
  for (const name of names.filter((entry) => POLICY_FILE.test(entry)).sort()) {
    // stat (not the dirent) so a symlink to a file counts and one to a folder does not.
    const entry = attempt((): Stats => statSync(join(path, name)));
    if (!(entry instanceof Error)) {
      if (entry.isFile()) found.push(join(path, name));
      continue;
    }
    // Never skipped in silence: `rotate --all` would leave that file's secrets out unnoticed.
    const file = displayPath(join(path, name), cwd);
    errors.push({ file, line: 1, col: 1, message: unreadableEntry(entry) });
  }
  if (found.length === 0) problem('no policy files (*.yaml, *.yml) in this directory; add one, or run `keyshift init`');
  return found;
}

function unreadableEntry(error: NodeJS.ErrnoException): string {
  if (error.code === 'ENOENT') return 'a symbolic link to a file that does not exist; restore its target or remove the link';
  if (error.code === 'ELOOP') return 'a symbolic link that loops back on itself; point it at a policy file or remove it';
  return cannotRead(error.code ?? error.message);
}

/** What to do about a policy file that cannot be read, by the error's code. */
const READ_FIXES = new Map([
  ['EACCES', 'check its permissions'],
  ['EPERM', 'check its permissions'],
  ['EIO', 'the disk could not be read: check the device'],
  ['ENOENT', 'it was removed while keyshift read it: run again'],
]);

/** The one-line problem for a policy file the system refused to read (`code`: the error's code). */
export function cannotRead(code: string): string {
  return `cannot read (${code}); ${READ_FIXES.get(code) ?? 'check that it is a readable file'}`;
}

function attempt<T>(read: () => T): T | NodeJS.ErrnoException {
  try {
    return read();
  } catch (error) {
    return error as NodeJS.ErrnoException;
  }
}

/** A path as the user sees it: relative to the working directory when under it. */
export function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  if (rel === '') return '.';
  return rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel) ? path : rel;
}
