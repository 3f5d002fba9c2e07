import { promises as fs, constants, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { ExitCode, KeyshiftError } from '../errors.js';
import { hostName, pidScope, processStart } from './process-identity.js';

/**
 * An inter-process lock: a file created with O_EXCL that names its holder. A holder refreshes the
 * file's mtime (its heartbeat) while it lives. On this host a lock is judged by its pid alone: a
 * dead (or reused) pid is taken over at once, a live one never, however old its heartbeat (a paused
 * process, SIGSTOP or a suspended laptop, is alive). A holder on another host cannot be asked, so
 * its lock is taken over once its heartbeat is older than `staleMs`; that is why a holder checks
 * `verify()` before every write: a run paused that long finds its token gone and stops.
 */

export interface LockHolder {
  pid: number;
  host: string;
  owner: string;
  token: string;
  acquiredAt: string;
  /** Boot and pid namespace the pid belongs to (Linux; absent in locks of older versions). */
  pidScope?: string;
  /** The holder process's start time, so that a reused pid is not taken for it (Linux). */
  processStart?: string;
}

export interface FileLockOptions {
  waitMs: number;
  owner: string;
  /** A holder on another host whose heartbeat is older than this is taken over. */
  staleMs?: number;
  /** Words for the error message, e.g. "store .keyshift/dev.store". */
  what: string;
}

export interface HeldLock {
  readonly path: string;
  /** Throws ERR_LOCK_LOST unless the lock file still names this holder: call it before every write. */
  verify(): Promise<void>;
  release(): Promise<void>;
}

const HEARTBEAT_MS = 2_000;
const DEFAULT_STALE_MS = 30_000;

export async function acquireFileLock(lockPath: string, options: FileLockOptions): Promise<HeldLock> {
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const me: LockHolder = {
    pid: process.pid,
    host: hostName(),
    owner: options.owner,
    token: randomBytes(8).toString('hex'),
    acquiredAt: new Date().toISOString(),
    ...definedOnly({ pidScope: pidScope(), processStart: processStart(process.pid) }),
  };
  const deadline = Date.now() + options.waitMs;
  let delay = 5;
  for (;;) {
    if (await tryCreate(lockPath, me)) return holdLock(lockPath, me, options.what);
    const holder = await readHolder(lockPath);
    if (holder === 'gone') continue;
    if (holder === 'unreadable' || (await judge(lockPath, holder, staleMs)).stale) {
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
          hint: `wait for that run to finish, or raise --lock-timeout; a dead holder's lock is taken over automatically (on this host at once, from another host once its heartbeat is ${Math.round(staleMs / 1000)}s old), a live one's never, even when paused: stop that process if it hangs (${lockPath})`,
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
  const verdict = await judge(lockPath, holder, staleMs);
  return verdict.stale ? { state: 'dead', holder, why: verdict.why } : { state: 'live', holder };
}

/**
 * Removes a lock whose holder died, with the takeover `acquireFileLock` does: only if it is still
 * the same dead holder's lock (a live run that took it meanwhile keeps it). True if it was removed.
 */
export async function breakFileLock(lockPath: string, staleMs = DEFAULT_STALE_MS): Promise<boolean> {
  const holder = await readHolder(lockPath);
  if (holder === 'gone') return false;
  if (holder !== 'unreadable' && !(await judge(lockPath, holder, staleMs)).stale) return false;
  await takeOver(lockPath, holder);
  const after = await readHolder(lockPath);
  return after === 'gone' || (holder !== 'unreadable' && typeof after !== 'string' && after.token !== holder.token);
}

async function tryCreate(lockPath: string, me: LockHolder): Promise<boolean> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(lockPath, constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_WRONLY, 0o600);
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
  // A holder killed between create and write leaves an empty file; judged by its age.
  return parseHolder(text) ?? ((await ageMs(lockPath)) > 1_000 ? 'unreadable' : 'gone');
}

type Verdict = { stale: false } | { stale: true; why: string };

async function judge(lockPath: string, holder: LockHolder, staleMs: number): Promise<Verdict> {
  if (onThisMachine(holder)) {
    const dead = deadReason(holder);
    // Alive here: never taken over, whatever its heartbeat says (a stopped process is alive).
    return dead ? { stale: true, why: dead } : { stale: false };
  }
  if ((await ageMs(lockPath)) > staleMs) return { stale: true, why: `its heartbeat stopped more than ${Math.round(staleMs / 1000)}s ago` };
  return { stale: false };
}

/** Same host name, and (where both know it) the same boot and pid namespace: its pid can be asked. */
function onThisMachine(holder: LockHolder): boolean {
  if (holder.host !== hostName()) return false;
  const mine = pidScope();
  return holder.pidScope === undefined || mine === null || holder.pidScope === mine;
}

function deadReason(holder: LockHolder): string | null {
  if (holder.pid !== process.pid && !isAlive(holder.pid)) return `process ${holder.pid} on this host is not running`;
  const started = holder.processStart === undefined ? null : processStart(holder.pid);
  if (started !== null && started !== holder.processStart) return `process ${holder.pid} on this host is another process now (the holder exited and its pid was reused)`;
  return null;
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
      const holder = holderNow(lockPath);
      if (typeof holder !== 'string' && holder.token === token) rmSync(lockPath, { force: true });
    } catch {
      // Unreadable: not ours to remove.
    }
  }
  heldLocks.clear();
}

function holdLock(lockPath: string, me: LockHolder, what: string): HeldLock {
  heldLocks.set(lockPath, me.token);
  const isMine = (holder: Awaited<ReturnType<typeof readHolder>>) => typeof holder !== 'string' && holder.token === me.token;
  // The heartbeat touches only our own lock: a run that resumes after losing it must not keep the
  // new holder's lock looking fresh on its behalf (nor on its own).
  const timer = setInterval(() => {
    readHolder(lockPath)
      .then((holder) => {
        const now = new Date();
        return isMine(holder) ? fs.utimes(lockPath, now, now) : undefined;
      })
      .catch(() => undefined);
  }, HEARTBEAT_MS);
  timer.unref();
  let released = false;
  return {
    path: lockPath,
    async verify() {
      const holder = holderNow(lockPath);
      if (!isMine(holder)) throw lostError(lockPath, what, holder);
    },
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      heldLocks.delete(lockPath);
      if (isMine(await readHolder(lockPath))) await fs.rm(lockPath, { force: true });
    },
  };
}

/**
 * The lock file's holder, read synchronously: it runs before every append, and a 200-byte local file
 * reads in microseconds this way, where an async read's four thread-pool hops cost about a
 * millisecond on a busy machine.
 */
function holderNow(lockPath: string): LockHolder | 'gone' | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(lockPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw error;
  }
  return parseHolder(text) ?? 'unreadable';
}

function parseHolder(text: string): LockHolder | null {
  try {
    const parsed = JSON.parse(text) as LockHolder;
    if (typeof parsed.pid === 'number' && typeof parsed.token === 'string') return parsed;
  } catch {
    // not a holder (empty or torn): the caller decides what that means
  }
  return null;
}

function lostError(lockPath: string, what: string, holder: LockHolder | 'gone' | 'unreadable'): KeyshiftError {
  const now = holder === 'gone' ? 'is gone' : holder === 'unreadable' ? 'names no holder' : `names ${holder.owner} (pid ${holder.pid} on ${holder.host})`;
  return new KeyshiftError('ERR_LOCK_LOST', `${what}: this run lost its lock (${lockPath} ${now}), so it stopped before writing`, {
    retryable: true,
    hint: 'another run took the lock over while this one was paused (a holder on another host whose heartbeat stopped); nothing more was written: rerun once that run is done, and an in-flight rotation resumes from the store',
  });
}

/** Holder fields that this platform can tell: absent ones are left out of the lock file. */
function definedOnly<T extends Record<string, string | null>>(fields: T): { [K in keyof T]?: string } {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== null)) as { [K in keyof T]?: string };
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
