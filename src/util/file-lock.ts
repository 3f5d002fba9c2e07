import { promises as fs, constants, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { ExitCode, KeyshiftError } from '../errors.js';

/**
 * An inter-process lock: a file created with O_EXCL that names its holder. A holder refreshes the
 * file's mtime while it lives; a lock whose pid is dead (same host) or whose heartbeat stopped
 * (another host, a lost machine) is taken over. A live holder makes us wait `waitMs`, then exit 3.
 */

export interface LockHolder {
  pid: number;
  host: string;
  owner: string;
  token: string;
  acquiredAt: string;
}

export interface FileLockOptions {
  waitMs: number;
  owner: string;
  /** A lock whose heartbeat is older than this is stale even if we cannot check its pid. */
  staleMs?: number;
  /** Words for the error message, e.g. "store .keyshift/dev.store". */
  what: string;
}

export interface HeldLock {
  readonly path: string;
  release(): Promise<void>;
}

const HEARTBEAT_MS = 2_000;
const DEFAULT_STALE_MS = 30_000;

export async function acquireFileLock(lockPath: string, options: FileLockOptions): Promise<HeldLock> {
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    owner: options.owner,
    token: randomBytes(8).toString('hex'),
    acquiredAt: new Date().toISOString(),
  };
  const deadline = Date.now() + options.waitMs;
  let delay = 5;
  for (;;) {
    if (await tryCreate(lockPath, me)) return holdLock(lockPath, me);
    const holder = await readHolder(lockPath);
    if (holder === 'gone') continue;
    if (holder === 'unreadable' || (await isStale(lockPath, holder, staleMs))) {
      await takeOver(lockPath, holder);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new KeyshiftError(
        'ERR_LOCKED',
        `${options.what} is locked by ${holder.owner} (pid ${holder.pid} on ${holder.host}, since ${holder.acquiredAt})`,
        {
          exitCode: ExitCode.blocked,
          retryable: true,
          hint: `wait for that run to finish, or raise --lock-timeout; a lock whose holder died is taken over automatically (${lockPath})`,
        },
      );
    }
    await sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
    delay = Math.min(delay * 2, 250);
  }
}

/** What a lock file says about its holder, without touching it (`doctor`). */
export type LockInspection =
  | { state: 'free' }
  | { state: 'live'; holder: LockHolder }
  | { state: 'dead'; holder: LockHolder | null; why: string };

/** Reads a lock file the way `acquireFileLock` judges it, and changes nothing. */
export async function inspectFileLock(lockPath: string, staleMs = DEFAULT_STALE_MS): Promise<LockInspection> {
  const holder = await readHolder(lockPath);
  if (holder === 'gone') return { state: 'free' };
  if (holder === 'unreadable') return { state: 'dead', holder: null, why: 'it names no holder (a run died while creating it)' };
  if (!(await isStale(lockPath, holder, staleMs))) return { state: 'live', holder };
  const why = holder.host === hostname() && !isAlive(holder.pid)
    ? `process ${holder.pid} on this host is not running`
    : `its heartbeat stopped more than ${Math.round(staleMs / 1000)}s ago`;
  return { state: 'dead', holder, why };
}

/**
 * Removes a lock whose holder died, with the takeover `acquireFileLock` does: only if it is still
 * the same dead holder's lock (a live run that took it meanwhile keeps it). True if it was removed.
 */
export async function breakFileLock(lockPath: string, staleMs = DEFAULT_STALE_MS): Promise<boolean> {
  const holder = await readHolder(lockPath);
  if (holder === 'gone') return false;
  if (holder !== 'unreadable' && !(await isStale(lockPath, holder, staleMs))) return false;
  await takeOver(lockPath, holder);
  const after = await readHolder(lockPath);
  return after === 'gone' || (holder !== 'unreadable' && typeof after !== 'string' && after.token !== holder.token);
}

async function tryCreate(lockPath: string, me: LockHolder): Promise<boolean> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(lockPath, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(JSON.stringify(me));
  } finally {
    await handle.close();
  }
  return true;
}

async function readHolder(lockPath: string): Promise<LockHolder | 'gone' | 'unreadable'> {
  let text: string;
  try {
    text = await fs.readFile(lockPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as LockHolder;
    if (typeof parsed.pid === 'number' && typeof parsed.token === 'string') return parsed;
  } catch {
    // A holder killed between create and write leaves an empty file; judged by its age below.
  }
  return (await ageMs(lockPath)) > 1_000 ? 'unreadable' : 'gone';
}

async function isStale(lockPath: string, holder: LockHolder, staleMs: number): Promise<boolean> {
  if (holder.host === hostname()) {
    if (holder.pid === process.pid) return false;
    try {
      process.kill(holder.pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return true;
    }
  }
  return (await ageMs(lockPath)) > staleMs;
}

/** Move the stale lock aside; if someone replaced it meanwhile, put theirs back. */
async function takeOver(lockPath: string, stale: LockHolder | 'unreadable'): Promise<void> {
  const aside = `${lockPath}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fs.rename(lockPath, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = await readHolder(aside);
  const same = stale === 'unreadable' ? typeof moved === 'string' : typeof moved !== 'string' && moved.token === stale.token;
  if (!same) {
    // A fresh holder won the race: restore its lock unless yet another one exists.
    await fs.link(aside, lockPath).catch(() => undefined);
  }
  await fs.rm(aside, { force: true });
}

// Locks this process holds (path → token), so that a SIGTERM or SIGINT handler can release them.
const heldLocks = new Map<string, string>();

/** For signal handlers, which exit right after: remove every lock file this process still holds. */
export function releaseHeldLocksSync(): void {
  for (const [lockPath, token] of heldLocks) {
    try {
      if ((JSON.parse(readFileSync(lockPath, 'utf8')) as LockHolder).token === token) rmSync(lockPath, { force: true });
    } catch {
      // Gone or unreadable: not ours to remove.
    }
  }
  heldLocks.clear();
}

function holdLock(lockPath: string, me: LockHolder): HeldLock {
  heldLocks.set(lockPath, me.token);
  const timer = setInterval(() => {
    const now = new Date();
    fs.utimes(lockPath, now, now).catch(() => undefined);
  }, HEARTBEAT_MS);
  timer.unref();
  let released = false;
  return {
    path: lockPath,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      heldLocks.delete(lockPath);
      const holder = await readHolder(lockPath);
      if (typeof holder !== 'string' && holder.token === me.token) await fs.rm(lockPath, { force: true });
    },
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

async function ageMs(path: string): Promise<number> {
  try {
    const stat = await fs.stat(path);
    return Date.now() - stat.mtimeMs;
  } catch {
    return 0;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
