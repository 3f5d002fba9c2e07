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
 * - a marker left by a taker killed mid-take-over expires like a lease (its CreationDate + ttl, or
 *   at once if its creator died on this host): the next taker creates the marker's successor
 *   `…-1`, `…-2` (again only one can), so a dead marker never blocks the lease for good.
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
    const takerTag = `keyshift:lease-taker:${tagKey.slice('keyshift:lease:'.length)}`;
    const markers = await takeMarker(api, `${lease}/t${seen.created}`, current.KeyId, takerTag, mine, options.ttlMs, what);
    try {
      const again = await readLease(api, lease, tagKey, options.ttlMs);
      if (again?.created === seen.created) await api.call('DeleteAlias', lease, { AliasName: lease });
      if (!(await createAlias(api, lease, current.KeyId))) throw leaseHeld(what, (await readLease(api, lease, tagKey, options.ttlMs))?.holder ?? null, null);
    } finally {
      // The lease alias is new (or someone else's) now: no taker can act on these markers any more,
      // nor on those of older incarnations (left by a taker killed after it deleted the lease alias).
      for (const marker of [...markers, ...seen.olderMarkers]) await api.call('DeleteAlias', marker, { AliasName: marker }).catch(() => undefined);
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

/** `alias/keyshift-lease/<name>`, within the 256 characters an alias may have. */
export function leaseAliasOf(alias: string): string {
  const name = alias.replace(/^alias\//, '');
  const lease = `alias/keyshift-lease/${name}`;
  return lease.length <= 230 ? lease : `alias/keyshift-lease/${name.slice(0, 180)}-${createHash('sha256').update(name).digest('hex').slice(0, 16)}`;
}

/**
 * Creates the first free marker of the chain `<first>`, `<first>-1`, `<first>-2`…, where each may be
 * created only once its predecessor is dead (a taker killed mid-take-over). Returns the markers to
 * delete once the take-over is done (the dead ones and ours); ERR_LEASED if a live taker holds one.
 */
async function takeMarker(api: KmsApi, first: string, keyId: string, tagKey: string, mine: LeaseRecord, ttlMs: number, what: string): Promise<string[]> {
  const chain: string[] = [];
  for (let n = 0; n < 20; n++) {
    const marker = n === 0 ? first : `${first}-${n}`;
    const name = marker.slice(marker.lastIndexOf('/') + 1); // t<CreationDate ms>[-n]: one per marker
    chain.push(marker);
    if (await createAlias(api, marker, keyId)) {
      // Who took it, so that a taker on this host sees at once that we died (aliases have no tags).
      const record = encodeLease({ ...mine, holder: `${name} ${mine.holder.slice(-180)}` });
      await api.tag(keyId, [{ Key: tagKey, Value: record }]).catch(async (error: unknown) => {
        await api.call('DeleteAlias', marker, { AliasName: marker }).catch(() => undefined);
        throw error;
      });
      return chain;
    }
    const taker = await readLease(api, marker, tagKey, ttlMs, (holder) => holder.startsWith(`${name} `));
    if (taker && taker.expires > Date.now() && !diedHere(taker.holder)) throw leaseHeld(what, 'another runner taking over an expired lease', taker.expires);
  }
  throw leaseHeld(what, 'other runners that died while taking over an expired lease', null);
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

/** The lease alias's holder and expiry; null when it does not exist. */
async function readLease(
  api: KmsApi,
  lease: string,
  tagKey: string,
  ttlMs: number,
  belongs: (holder: string) => boolean = () => true,
): Promise<{ holder: string | null; expires: number; created: number; olderMarkers: string[] } | null> {
  const key = await api.describe(lease);
  if (!key?.KeyId) return null;
  const page = await api.call<KMS.ListAliasesResponse>('ListAliases', lease, { KeyId: key.KeyId, Limit: 100 });
  const entry = page.Aliases?.find((a) => a.AliasName === lease);
  if (!entry) return null;
  const created = (entry.CreationDate ?? new Date(0)).getTime();
  const record = decodeLease((await api.tags(key.KeyId)).find((t) => t.Key === tagKey)?.Value);
  // A tag older than the alias is a former holder's: the alias's own age decides then.
  const current = record && record.expires >= created && belongs(record.holder) ? record : null;
  const olderMarkers = (page.Aliases ?? [])
    .map((a) => ({ name: a.AliasName ?? '', incarnation: Number(/\/t(\d+)(?:-\d+)?$/.exec(a.AliasName ?? '')?.[1] ?? Infinity) }))
    .filter((a) => a.name.startsWith(`${lease}/t`) && a.incarnation < created)
    .map((a) => a.name);
  return { holder: current?.holder ?? null, expires: Math.max(current?.expires ?? 0, created + ttlMs), created, olderMarkers };
}
