import { randomUUID } from 'node:crypto';
import type { EntryLease, LeaseOptions } from '../contract.js';
import { awsErrorName } from '../aws/errors.js';
import { decodeLease, diedHere, encodeLease, keepAlive, leaseHeld, type LeaseRecord } from '../aws/lease.js';
import { AWSCURRENT, holderOf, type Labels } from './labels.js';

/** The staging label whose presence means "free" (docs/stores/aws-secrets-manager.md#lease). */
export const LEASE_LABEL = 'KEYSHIFT_LEASE';
export const LEASE_TAG = 'keyshift:lease';
/**
 * What a taker whose detach was refused puts before its own holder when the tag it then reads is
 * its own: either it lost and its tag landed after the winner's, or its own detach succeeded and
 * only the reply was lost. Tag characters only (no parentheses or commas).
 */
export const LOSER_PREFIX = 'another runner - tag overwritten by: ';

/** What the lease needs from the store: each call goes through the store's quota gate. */
export interface LeaseApi {
  describe(key: string): Promise<{ labels: Labels; tag: string | undefined; refused: boolean } | null>;
  tag(key: string, value: string): Promise<void>;
  /** UpdateSecretVersionStage of LEASE_LABEL; false when the service refused it (InvalidParameterException). */
  move(key: string, to: string | undefined, from: string | undefined): Promise<boolean>;
  log(message: string, error: unknown): void;
}

/**
 * The lease of one secret, with Secrets Manager's one compare-and-set: UpdateSecretVersionStage with
 * RemoveFromVersionId fails unless the label is on that version right now.
 * - free: KEYSHIFT_LEASE is on a version; held: it is on none, and the `keyshift:lease` tag says by
 *   whom and until when.
 * - take: tag (holder, token, expiry), then detach the label from the version it was seen on. Of
 *   two runners that both saw it free, one detach succeeds; the other fails and is blocked.
 *   Detaching is a valid take whatever happened since the read: the label is there only when free.
 * - release: attach the label to the AWSCURRENT version. Renew: rewrite the tag.
 * - a held label with an expired tag (a dead runner), or a secret that never had the label: attach
 *   it (only if the tag is still the one that was read), then take it as above.
 * Race analysis: docs/workflow.md#leases.
 */
export async function takeSecretLease(api: LeaseApi, key: string, options: LeaseOptions): Promise<EntryLease> {
  const what = `secret ${key}`;
  let secret = await api.describe(key);
  // Not created yet (createIfMissing makes it under the store lock), or one the store refuses (a
  // rotation Lambda, a foreign AWSPENDING, marked for deletion: exit 3, nothing changed): no lease.
  if (!secret || secret.refused) return { release: async () => undefined };
  let free = holderOf(secret.labels, LEASE_LABEL);
  if (!free) {
    const seen = decodeLease(secret.tag);
    if (seen && seen.expires > Date.now() && !diedHere(seen.holder)) throw leaseHeld(what, seen.holder, seen.expires);
    // Never placed, or its holder died: free it, unless someone started taking it since the read.
    const again = await api.describe(key);
    free = holderOf(again?.labels ?? {}, LEASE_LABEL);
    if (again && !free) {
      if (again.tag !== secret.tag) throw leaseHeld(what, decodeLease(again.tag)?.holder ?? null, decodeLease(again.tag)?.expires ?? null);
      const current = holderOf(again.labels, AWSCURRENT);
      if (current) await api.move(key, current, undefined);
      secret = await api.describe(key);
      free = holderOf(secret?.labels ?? {}, LEASE_LABEL);
    }
    if (!free) throw leaseHeld(what, decodeLease(secret?.tag)?.holder ?? null, decodeLease(secret?.tag)?.expires ?? null);
  }
  const mine: LeaseRecord = { holder: options.holder, token: randomUUID(), expires: Date.now() + options.ttlMs };
  await api.tag(key, encodeLease(mine));
  if (!(await api.move(key, undefined, free))) {
    const now = await api.describe(key);
    const record = decodeLease(now?.tag);
    if (record?.token === mine.token) {
      // Our tag landed after the winner's last look at it (or our own detach went through and its
      // reply was lost): it hides the winner's token, whose renewals and release would then fail.
      // Marked, the winner takes it back (stillMine); our holder stays in it, so once we are gone
      // it is taken over like any dead holder's (diedHere, or after it expires).
      await api.tag(key, encodeLease({ ...mine, holder: `${LOSER_PREFIX}${options.holder}` }));
    }
    throw leaseHeld(what, record && record.token !== mine.token ? record.holder : null, record?.expires ?? null);
  }
  // A runner that lost the detach may have written its tag after ours: put ours back.
  const after = await api.describe(key);
  if (decodeLease(after?.tag)?.token !== mine.token) await api.tag(key, encodeLease(mine));
  // Renew and release only while the tag is ours: after a takeover the lease is someone else's.
  // A loser's marked tag from the race of our take is ours too; one from a later take (ours was
  // taken over after we stalled past the ttl) carries a later expiry and is not.
  const takenUntil = mine.expires;
  const ours = (tag: string | undefined) => {
    const record = decodeLease(tag);
    return record !== null && (record.token === mine.token || (record.holder.startsWith(LOSER_PREFIX) && record.expires < takenUntil + options.ttlMs / 2));
  };
  const stillMine = async () => {
    const now = await api.describe(key);
    return now && ours(now.tag) ? now : null;
  };
  return keepAlive(
    async (expires) => {
      if (await stillMine()) await api.tag(key, encodeLease({ ...mine, expires }));
    },
    options.ttlMs,
    (error) => api.log(`could not renew the lease of ${what}; another runner may take it over when it expires`, error),
    async () => {
      const now = await stillMine();
      const current = holderOf(now?.labels ?? {}, AWSCURRENT);
      if (now && current && !holderOf(now.labels, LEASE_LABEL)) await api.move(key, current, undefined);
    },
  );
}

export function isRefusedMove(error: unknown): boolean {
  return awsErrorName(error) === 'InvalidParameterException';
}
