import { createHash, randomUUID } from 'node:crypto';
import type * as KMS from '@aws-sdk/client-kms';
import { KeyshiftError } from '../../errors.js';
import type { EntryLease, LeaseOptions } from '../contract.js';
import { decodeLease, diedHere, encodeLease, keepAlive, leaseHeld, type LeaseRecord } from '../aws/lease.js';
import type { KmsApi } from './kms-api.js';

/**
 * The lease of one KMS alias, with KMS's compare-and-set: CreateAlias fails with
 * AlreadyExistsException when the alias exists (docs/stores/aws-kms.md#lease).
 * - held: the lease alias `alias/keyshift-lease/<name>` exists. It points at the key behind the
 *   store's alias, whose tag `keyshift:lease:<hash>` says by whom and until when. Aliases cannot be
 *   tagged; KMS gives the lease alias's own CreationDate, so a lease whose holder died before its tag
 *   was written still expires (CreationDate + ttl).
 * - take: CreateAlias, then the tag. Release: DeleteAlias (only while the tag is ours).
 * - take over an expired lease: CreateAlias of a marker `<lease alias>/t<CreationDate ms>`, which
 *   only one taker of that lease can create; its creator checks the lease alias is still the
 *   expired one, deletes it and takes the lease as above, then deletes the marker.
 * Race analysis: docs/workflow.md#leases.
 */
export async function takeKeyLease(api: KmsApi, alias: string, options: LeaseOptions): Promise<EntryLease> {
  const what = `key ${alias}`;
  const current = await api.describe(alias);
  // Not created yet (createIfMissing makes it under the store lock), or a key the store refuses
  // (disabled, pending deletion: exit 3) that no alias may point at: nothing to lease.
  if (!current?.KeyId || current.KeyState !== 'Enabled') return { release: async () => undefined };
  const lease = leaseAliasOf(alias);
  const tagKey = `keyshift:lease:${createHash('sha256').update(lease).digest('hex').slice(0, 16)}`;
  const mine: LeaseRecord = { holder: options.holder, token: randomUUID(), expires: Date.now() + options.ttlMs };

  if (!(await createAlias(api, lease, current.KeyId))) {
    const seen = await readLease(api, lease, tagKey, options.ttlMs);
    if (!seen) throw leaseHeld(what, null, null); // released between the two calls: the next run takes it
    if (seen.expires > Date.now() && !diedHere(seen.holder)) throw leaseHeld(what, seen.holder, seen.expires);
    const marker = `${lease}/t${seen.created}`;
    await takeMarker(api, marker, current.KeyId, markerTagKey(lease), { ...mine, expires: seen.created }, options.ttlMs, what);
    try {
      const again = await readLease(api, lease, tagKey, options.ttlMs);
      if (again?.created === seen.created) await api.call('DeleteAlias', lease, { AliasName: lease });
      if (!(await createAlias(api, lease, current.KeyId))) throw leaseHeld(what, (await readLease(api, lease, tagKey, options.ttlMs))?.holder ?? null, null);
    } finally {
      await api.call('DeleteAlias', marker, { AliasName: marker }).catch(() => undefined);
    }
  }
  await api.tag(current.KeyId, [{ Key: tagKey, Value: encodeLease(mine) }]);
  const keyId = current.KeyId;
  const stillMine = async () => decodeLease((await api.tags(keyId)).find((t) => t.Key === tagKey)?.Value)?.token === mine.token;
  return keepAlive(
    async (expires) => {
      if (await stillMine()) await api.tag(keyId, [{ Key: tagKey, Value: encodeLease({ ...mine, expires }) }]);
    },
    options.ttlMs,
    () => undefined,
    async () => {
      if (await stillMine()) await api.call('DeleteAlias', lease, { AliasName: lease });
    },
  );
}

/**
 * The take-over marker, with the same compare-and-set. Its owner then names itself in the tag
 * `keyshift:lease-marker:<hash>` (`expires` there carries the lease incarnation it is for), so a
 * marker whose owner died on this host (`kill -9` mid take-over) is cleared at once; any other
 * marker (one whose owner died before its tag) is cleared once older than the ttl, like a lease.
 * Without this, a marker left by a killed taker would block that key's lease for good.
 */
async function takeMarker(api: KmsApi, marker: string, keyId: string, tagKey: string, taker: LeaseRecord, ttlMs: number, what: string): Promise<void> {
  if (!(await createAlias(api, marker, keyId))) {
    const left = await readAlias(api, marker);
    if (left) {
      const owner = decodeLease((await api.tags(left.keyId)).find((t) => t.Key === tagKey)?.Value);
      const ownerDied = owner !== null && owner.expires === taker.expires && diedHere(owner.holder);
      if (!ownerDied && left.created + ttlMs > Date.now()) throw leaseHeld(what, 'another runner taking over an expired lease', null);
      await api.call('DeleteAlias', marker, { AliasName: marker }).catch(() => undefined);
    }
    if (!(await createAlias(api, marker, keyId))) throw leaseHeld(what, 'another runner taking over an expired lease', null);
  }
  try {
    await api.tag(keyId, [{ Key: tagKey, Value: encodeLease(taker) }]);
  } catch (error) {
    await api.call('DeleteAlias', marker, { AliasName: marker }).catch(() => undefined);
    throw error;
  }
}

const markerTagKey = (lease: string) => `keyshift:lease-marker:${createHash('sha256').update(lease).digest('hex').slice(0, 16)}`;

/** `alias/keyshift-lease/<name>`, within the 256 characters an alias may have. */
export function leaseAliasOf(alias: string): string {
  const name = alias.replace(/^alias\//, '');
  const lease = `alias/keyshift-lease/${name}`;
  return lease.length <= 230 ? lease : `alias/keyshift-lease/${name.slice(0, 180)}-${createHash('sha256').update(name).digest('hex').slice(0, 16)}`;
}

/** false when the alias exists already (the compare-and-set failed). Sent once: a retry of a
 * CreateAlias that landed would see its own alias and report it as someone else's. */
async function createAlias(api: KmsApi, name: string, keyId: string): Promise<boolean> {
  try {
    await api.call('CreateAlias', name, { AliasName: name, TargetKeyId: keyId }, { once: true });
    return true;
  } catch (error) {
    const cause = error instanceof KeyshiftError ? (error as { cause?: { name?: string } }).cause : error;
    if ((cause as { name?: string })?.name === 'AlreadyExistsException') return false;
    throw error;
  }
}

/** An alias's key and CreationDate; null when it does not exist. */
async function readAlias(api: KmsApi, name: string): Promise<{ keyId: string; created: number } | null> {
  const key = await api.describe(name);
  if (!key?.KeyId) return null;
  const page = await api.call<KMS.ListAliasesResponse>('ListAliases', name, { KeyId: key.KeyId, Limit: 100 });
  const entry = page.Aliases?.find((a) => a.AliasName === name);
  return entry ? { keyId: key.KeyId, created: (entry.CreationDate ?? new Date(0)).getTime() } : null;
}

/** The lease alias's holder and expiry; null when it does not exist. */
async function readLease(api: KmsApi, lease: string, tagKey: string, ttlMs: number): Promise<{ holder: string | null; expires: number; created: number } | null> {
  const alias = await readAlias(api, lease);
  if (!alias) return null;
  const { created } = alias;
  const record = decodeLease((await api.tags(alias.keyId)).find((t) => t.Key === tagKey)?.Value);
  // A tag older than the alias is a former holder's: the alias's own age decides then.
  const current = record && record.expires >= created ? record : null;
  return { holder: current?.holder ?? null, expires: Math.max(current?.expires ?? 0, created + ttlMs), created };
}
