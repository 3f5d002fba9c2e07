import { ExitCode, KeyshiftError } from '../../errors.js';
import type { EntryLease } from '../contract.js';
import { hostName } from '../../util/process-identity.js';

/**
 * What the cross-machine leases of every store share (docs/workflow.md#leases): the record kept
 * with a lease, the blocked error, and the renewal that keeps a long step's lease alive. Each
 * store's compare-and-set is in its own folder (aws-secrets-manager/lease.ts, aws-kms/lease.ts,
 * dynamodb-lock/).
 */

/** What a lease says about itself; `token` is this acquisition's own id (a holder may run twice). */
export interface LeaseRecord {
  holder: string;
  token: string;
  /** Epoch ms; after it, the lease is dead and may be taken over. */
  expires: number;
}

/** `<expires ms> <token> <holder>`: only the characters AWS tags allow (letters, digits, spaces, _ . : / = + - @). */
export function encodeLease(record: LeaseRecord): string {
  return `${record.expires} ${record.token} ${record.holder}`.slice(0, 256);
}

export function decodeLease(text: string | undefined | null): LeaseRecord | null {
  const match = /^(\d{1,15}) ([0-9a-f-]{36}) (.*)$/s.exec(text ?? '');
  if (!match) return null;
  return { expires: Number(match[1]), token: match[2] as string, holder: match[3] as string };
}

/** The holder written with a lease: who, which run, where; in the characters a tag allows. */
export function leaseHolder(operator: string, runId: string, command = 'rotate'): string {
  return tagSafe(`keyshift ${command} by ${operator} run ${runId} on ${hostName()} pid ${process.pid}`).slice(0, 200);
}

/**
 * Whether a lease's holder ran on this host and its process is gone (`kill -9`, a crash): its lease
 * is taken over at once, like the store lock of a dead holder, instead of after its expiry. Hosts
 * are told apart by name, so containers that share a hostname must not share leases' stores.
 */
export function diedHere(holder: string | null): boolean {
  const match = / on (\S+) pid (\d+)$/.exec(holder ?? '');
  if (!match || match[1] !== tagSafe(hostName())) return false;
  const pid = Number(match[2]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

const tagSafe = (text: string) => text.replace(/[^\p{L}\p{N} _.:/=+@-]/gu, '_');

/** A live lease of someone else: the target is blocked (exit 3), nothing was changed. */
export function leaseHeld(what: string, holder: string | null, expires: number | null): KeyshiftError {
  const until = expires ? ` until ${new Date(expires).toISOString()}` : '';
  return new KeyshiftError('ERR_LEASED', `${what} is being rotated by ${holder ?? 'another runner (it is taking the lease now)'}: its lease is held${until}`, {
    exitCode: ExitCode.blocked,
    hint: `rerun once that run is done; if it died, its lease is taken over after it expires${until ? ` (${new Date(expires as number).toISOString()})` : ''}`,
  });
}

/**
 * Renews a held lease every third of its lifetime, so a step that runs long (a slow deploy hook)
 * keeps it, and a runner that dies stops renewing and loses it one `ttlMs` later.
 */
export function keepAlive(renew: (expires: number) => Promise<void>, ttlMs: number, onLost: (error: unknown) => void, release: () => Promise<void>): EntryLease {
  let renewing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    renewing = renew(Date.now() + ttlMs).catch(onLost);
  }, Math.max(250, Math.floor(ttlMs / 3)));
  timer.unref();
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      clearInterval(timer);
      await renewing;
      await release();
    },
  };
}
