import { randomBytesFromPool } from '../util/random-pool.js';
import { userInfo } from 'node:os';
import { hostName } from '../util/process-identity.js';
import { isoTime } from '../util/iso-time.js';

/**
 * Rotation ids carry their start time and 64 random bits. The new version's id is derived from the
 * rotation id, so a rerun after a crash writes the same version id and the store recognises the
 * repeat (on AWS it is the ClientRequestToken: 32–64 characters of letters, digits and hyphens).
 */
export function newRotationId(now: Date): string {
  // `20261204t215301z`: the ISO time without separators or milliseconds, lower case.
  const iso = isoTime(now);
  const stamp = iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + 't' + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'z';
  return `r-${stamp}-${randomBytesFromPool(8).toString('hex')}`;
}

export function versionIdFor(rotationId: string): string {
  return `v-${rotationId.slice(2)}`;
}

export function newRunId(): string {
  return `run-${randomBytesFromPool(6).toString('hex')}`;
}

/** Who is rotating: KEYSHIFT_OPERATOR, else the OS user at this host. */
export function operatorName(env: NodeJS.ProcessEnv): string {
  const configured = env.KEYSHIFT_OPERATOR?.trim();
  if (configured) return configured;
  let user = env.USER ?? env.LOGNAME ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep the environment's idea of the user
  }
  return `${user}@${hostName()}`;
}
