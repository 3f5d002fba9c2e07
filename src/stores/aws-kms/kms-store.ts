import type * as KMS from '@aws-sdk/client-kms';
import { KeyshiftError } from '../../errors.js';
import type { KmsStoreSpec } from '../../policy/types.js';
import { SecretValue } from '../../secret-value.js';
import type { EntryLease, EntryMeta, EntryState, LeaseOptions, LockOptions, RetiredVersion, SecretStore, StoreCapabilities, StoreContext, StoreLock, StoreMeta, VersionInfo, VersionOp } from '../contract.js';
import { rotationTags } from '../aws/rotation-tags.js';
import type { RotationTagKeys } from '../../policy/schema-aws-tags.js';
import { countOtherTags, decodeRecord, effectiveMeta, encodeRecord, TAG_PREFIX, type KeyLabels, type StoredRecord } from '../aws/meta-tags.js';
import { LocalStoreState } from '../aws/state-dir.js';
import { KmsApi, type KeyMetadata, type Sdk } from './kms-api.js';
import { keptKeys, keyIdOf, looksLikeKeyId, planLabels, refuseUnusableKey, versionOf, type Snapshot } from './key-versions.js';
import { ManagedRotation } from './managed-rotation.js';
import { takeKeyLease } from './lease.js';

const VERSION_TAG = `${TAG_PREFIX}version-id`;
const ALIAS_TAG = `${TAG_PREFIX}alias`;

/**
 * A customer managed KMS key behind an alias (docs/stores/aws-kms.md). mode alias: a new key is
 * created with the old one's spec, usage, policy and tags, both stay enabled through the overlap,
 * the alias moves at the switch, and the old key is disabled and scheduled for deletion after the
 * fallback window (and can be brought back while its deletion is pending). mode managed: KMS
 * rotates the key material under the same key id. Key material never leaves KMS: this store is
 * `valueless`, hooks get key ids. The rotation record lives in `keyshift:*` tags on the key the
 * alias points to.
 */
export class KmsStore implements SecretStore {
  readonly kind = 'aws-kms';
  readonly location: string;
  readonly capabilities: StoreCapabilities;
  readonly #api: KmsApi;
  readonly #local: LocalStoreState;
  readonly #managed: ManagedRotation | null;
  readonly #pendingWindowDays = new Map<string, number>();
  readonly #createIfMissing = new Set<string>();
  readonly #rotationTags = new Map<string, RotationTagKeys>();

  constructor(
    private readonly spec: KmsStoreSpec,
    context: StoreContext,
    sdk: Sdk,
  ) {
    this.#api = new KmsApi(spec, context, sdk);
    this.location = this.#api.location;
    this.#local = new LocalStoreState(context.env, this.kind, context.storeId);
    this.#managed = spec.mode === 'managed' ? new ManagedRotation(this.#api) : null;
    this.capabilities = spec.mode === 'managed' ? { atomicApply: true, valueless: true, remoteReads: true } : { atomicApply: false, valueless: true, restoreRetired: true, remoteReads: true };
  }

  configureEntry(spec: KmsStoreSpec): void {
    this.#pendingWindowDays.set(spec.key, spec.pendingWindowDays);
    if (spec.createIfMissing) this.#createIfMissing.add(spec.key);
    if (spec.tags) this.#rotationTags.set(spec.key, spec.tags);
    this.#managed?.configure(spec.key, spec);
  }

  async read(alias: string): Promise<EntryState | null> {
    const snapshot = await this.#snapshot(alias);
    return snapshot ? this.#toState(snapshot) : null;
  }

  /** `get` on a KMS key prints the ARN of the key version: its material never leaves KMS. */
  async readValue(alias: string, versionId: string): Promise<SecretValue> {
    const snapshot = await this.#snapshot(alias);
    const keyId = snapshot ? keyIdOf(versionId, snapshot.record) : versionId;
    const key = snapshot?.keys.get(keyId) ?? (snapshot?.current.KeyId === keyId ? snapshot.current : await this.#api.describe(keyId));
    if (!key?.Arn || key.KeyState === 'PendingDeletion') throw new KeyshiftError('ERR_VERSION_NOT_FOUND', `${alias}: version ${versionId} is not an enabled key in ${this.location}`);
    return SecretValue.fromString(key.Arn);
  }

  fingerprint(value: SecretValue): string {
    return this.#local.fingerprint(value.revealBytes());
  }

  /** The alias's cross-machine lease: a lease alias made with CreateAlias (lease.ts). */
  lease(alias: string, options: LeaseOptions): Promise<EntryLease> {
    return takeKeyLease(this.#api, alias, options);
  }

  lock(options: LockOptions): Promise<StoreLock> {
    return this.#local.lock(options, `store ${this.location}`);
  }

  async apply(alias: string, ops: VersionOp[], meta: EntryMeta): Promise<EntryState> {
    if (!this.#local.held) throw new KeyshiftError('ERR_INTERNAL', `${this.location}: apply without the store lock`);
    const snapshot = await this.#snapshot(alias);
    if (!snapshot) return this.#provision(alias, ops, meta);
    refuseUnusableKey(alias, snapshot.current);
    // The opt-in rotated-by/-at/ticket tags go on the key that becomes CURRENT, with its record.
    const own = rotationTags(this.#rotationTags.get(alias), ops, meta);
    if (this.#managed) {
      await this.#managed.apply(alias, snapshot, ops, meta, (record) => this.#writeRecord(snapshot.current.KeyId as string, record, snapshot.otherTags, own));
      return (await this.read(alias)) as EntryState;
    }
    const before = this.#toState(snapshot);
    const labelsBefore = this.#labels(snapshot);
    const plan = planLabels(alias, ops, before, labelsBefore);
    const keys = keptKeys(snapshot, meta, ops, plan.labels);
    const record: StoredRecord = {
      ...meta,
      intent: [...ops, ...plan.alsoRetire.map((versionId) => ({ type: 'retire' as const, versionId }))],
      before: ops.length > 0 ? { rotation: before.rotation, lastRotatedAt: before.lastRotatedAt, drafts: before.pendingEvents.length } : null,
      created: {},
      keys,
      labels: plan.labels,
      labelsBefore,
      retired: [...(snapshot.record?.retired ?? []), ...this.#retiredBy(alias, [...ops.filter((op) => op.type === 'retire').map((op) => op.versionId), ...plan.alsoRetire], before, keys)].slice(-5),
    };
    // The record goes on the key the alias will point to once these ops are done, before them. A key
    // pending deletion takes no tags, and a key not created yet has no id: then the record first
    // announces the ops on the current key, and moves to the new home just before the alias does.
    const currentId = snapshot.current.KeyId as string;
    const promoted = ops.find((op) => op.type === 'promote');
    const home = (): string => (promoted ? (keys[promoted.versionId] ?? keyIdOf(promoted.versionId, snapshot.record)) : currentId);
    const homeReady = !ops.some((op) => op.type === 'restore' || (op.type === 'create' && !keys[op.versionId]));
    let recordOn = homeReady ? home() : currentId;
    await this.#writeRecord(recordOn, record, snapshot.otherTags, promoted && recordOn === home() ? own : []);
    for (const op of ops) {
      if (op.type === 'create') {
        if (keys[op.versionId]) continue;
        keys[op.versionId] = await this.#createKey(alias, op.versionId, snapshot, meta);
        await this.#writeRecord(currentId, { ...record, keys, intent: record.intent.filter((o) => o !== op) }, snapshot.otherTags);
      } else if (op.type === 'restore') {
        await this.#restoreKey(keyIdOf(op.versionId, snapshot.record));
      } else if (op.type === 'promote') {
        if (recordOn !== home()) {
          recordOn = home();
          await this.#writeRecord(recordOn, { ...record, keys }, snapshot.otherTags, own);
        }
        if ((await this.#api.describe(alias))?.KeyId !== recordOn) await this.#api.call('UpdateAlias', alias, { AliasName: alias, TargetKeyId: recordOn });
        for (const versionId of plan.alsoRetire) await this.#retireKey(alias, keyIdOf(versionId, snapshot.record));
      } else {
        await this.#retireKey(alias, keyIdOf(op.versionId, snapshot.record));
      }
    }
    return (await this.read(alias)) as EntryState;
  }

  /** A missing alias is created (key + alias) only with createIfMissing: true. */
  async #provision(alias: string, ops: VersionOp[], meta: EntryMeta): Promise<EntryState> {
    const first = ops[0];
    if (ops.length !== 1 || first?.type !== 'create' || first.stage !== 'CURRENT' || !this.#createIfMissing.has(alias)) {
      throw new KeyshiftError('ERR_STORE_NOT_FOUND', `alias ${alias} does not exist in ${this.location}`, {
        hint: `create the key and its alias (aws kms create-key, then aws kms create-alias --alias-name ${alias} --target-key-id <key id>), or set createIfMissing: true in the store`,
      });
    }
    // A run that died between CreateKey and CreateAlias left a key tagged for this alias: adopt it.
    const orphan = await this.#findKey((tags) => tags.some((t) => t.Key === ALIAS_TAG && t.Value === alias));
    const record: StoredRecord = { ...meta, intent: [], before: null, created: {}, keys: {}, labels: { pending: null, previous: null }, retired: [] };
    let keyId = orphan;
    if (!keyId) {
      keyId = await this.#createOnce(alias, first.versionId, {
        Description: `${alias}: created by keyshift on ${new Date().toISOString().slice(0, 10)}`,
        Tags: [{ Key: VERSION_TAG, Value: first.versionId }, { Key: ALIAS_TAG, Value: alias }].map((t) => ({ TagKey: t.Key, TagValue: t.Value })),
      });
    }
    const versionId = (await this.#api.tags(keyId)).find((t) => t.Key === VERSION_TAG)?.Value ?? first.versionId;
    await this.#writeRecord(keyId, { ...record, keys: { [versionId]: keyId } }, 0, rotationTags(this.#rotationTags.get(alias), ops, meta));
    await this.#api.call('CreateAlias', alias, { AliasName: alias, TargetKeyId: keyId });
    return (await this.read(alias)) as EntryState;
  }

  /** PENDING and PREVIOUS as the record holds them (effective: before an unfinished write). */
  #labels(snapshot: Snapshot): KeyLabels {
    const record = snapshot.record;
    if (!record) return { pending: null, previous: null };
    const stale = record.intent.length > 0 && !record.intent.every((op) => this.#applied(op, snapshot));
    return (stale ? record.labelsBefore : record.labels) ?? { pending: null, previous: null };
  }

  #applied(op: VersionOp, snapshot: Snapshot): boolean {
    const { record, current } = snapshot;
    const keyId = keyIdOf(op.versionId, record);
    const key = keyId === current.KeyId ? current : snapshot.keys.get(keyId);
    if (op.type === 'create') return Boolean(record?.keys?.[op.versionId]);
    if (op.type === 'promote') return keyId === current.KeyId;
    if (op.type === 'restore') return key?.KeyState === 'Enabled';
    return !key || key.KeyState === 'PendingDeletion';
  }

  readMeta(): Promise<StoreMeta> {
    return this.#local.readMeta();
  }

  writeMeta(meta: StoreMeta): Promise<void> {
    return this.#local.writeMeta(meta);
  }

  async close(): Promise<void> {
    this.#api.close();
  }

  async #snapshot(alias: string): Promise<Snapshot | null> {
    const current = await this.#api.describe(alias);
    if (!current?.KeyId) return null;
    const tags = await this.#api.tags(current.KeyId);
    const record = decodeRecord(tags, alias);
    const keys = new Map<string, KeyMetadata | null>();
    const named = [
      record?.rotation?.newVersionId,
      record?.rotation?.oldVersionId,
      record?.labels?.pending,
      record?.labels?.previous,
      record?.labelsBefore?.pending,
      record?.labelsBefore?.previous,
      ...(record?.intent ?? []).map((op) => op.versionId),
      record?.retired.at(-1)?.id,
    ];
    for (const versionId of named) {
      if (!versionId) continue;
      const keyId = record?.keys?.[versionId] ?? (looksLikeKeyId(versionId) ? versionId : null);
      if (keyId && keyId !== current.KeyId && !keys.has(keyId)) keys.set(keyId, await this.#api.describe(keyId));
    }
    const rotations = this.#managed ? await this.#managed.rotations(current.KeyId) : [];
    const optIn = this.#rotationTags.get(alias);
    const optInKeys = new Set([optIn?.rotatedBy, optIn?.rotatedAt, optIn?.ticket]);
    return { current, record, otherTags: countOtherTags(tags.filter((t) => !optInKeys.has(t.Key))), keys, rotations };
  }

  #toState(snapshot: Snapshot): EntryState {
    if (this.#managed) return this.#managed.toState(snapshot);
    const { current, record } = snapshot;
    const currentId = current.KeyId as string;
    const info = (key: KeyMetadata, stage: VersionInfo['stages'][number]): VersionInfo => ({
      id: versionOf(key.KeyId as string, record),
      stages: [stage],
      createdAt: (key.CreationDate ?? new Date(0)).toISOString(),
      resourceId: key.KeyId as string,
    });
    const versions: VersionInfo[] = [info(current, 'CURRENT')];
    const labels = this.#labels(snapshot);
    for (const [stage, versionId] of [['PENDING', labels.pending], ['PREVIOUS', labels.previous]] as const) {
      const key = versionId ? snapshot.keys.get(keyIdOf(versionId, record)) : null;
      if (key && key.KeyId !== currentId && key.KeyState === 'Enabled') versions.push(info(key, stage));
    }
    if (!record) return { versions, retired: [], rotation: null, lastRotatedAt: (current.CreationDate ?? new Date()).toISOString(), pendingEvents: [] };
    const retired = record.retired.map((r, index) => (index === record.retired.length - 1 ? this.#withRestoreWindow(r, snapshot) : r));
    return { versions, retired, ...effectiveMeta(record, (op) => this.#applied(op, snapshot)) };
  }

  /** A retired key can be restored while its deletion is pending (the deletion date from KMS). */
  #withRestoreWindow(retired: RetiredVersion, snapshot: Snapshot): RetiredVersion {
    const key = snapshot.keys.get(retired.resourceId ?? retired.id);
    if (!key) return { ...retired, restorableUntil: undefined };
    const until = key.KeyState === 'PendingDeletion' ? key.DeletionDate?.toISOString() : new Date(Date.now() + 86_400_000).toISOString();
    return { ...retired, ...(until ? { restorableUntil: until } : {}) };
  }

  /** Versions these ops retire (only ones that are still keys of this alias). */
  #retiredBy(alias: string, versionIds: string[], before: EntryState, keys: Record<string, string>): RetiredVersion[] {
    const days = this.#pendingWindowDays.get(alias) ?? this.spec.pendingWindowDays;
    const retiredAt = new Date();
    const present = new Set(before.versions.map((v) => v.id));
    return [...new Set(versionIds)]
      .filter((id) => present.has(id))
      .map((id) => ({ id, retiredAt: retiredAt.toISOString(), resourceId: keys[id] ?? id, restorableUntil: new Date(retiredAt.getTime() + days * 86_400_000).toISOString() }));
  }

  /** `otherTags` counts the key's tags that are neither keyshift's record nor `own` (the opt-in tags written with it). */
  async #writeRecord(keyId: string, record: StoredRecord, otherTags: number, own: Array<{ Key: string; Value: string }> = []): Promise<void> {
    await this.#api.tag(keyId, [...encodeRecord(record, otherTags + own.length), ...own]);
  }

  /**
   * issue: a key like the current one. CreateKey is not idempotent, so the new key carries its
   * version id in a tag from birth; a rerun after a crash finds it instead of creating a second.
   */
  async #createKey(alias: string, versionId: string, snapshot: Snapshot, meta: EntryMeta): Promise<string> {
    const known = snapshot.record?.keys?.[versionId];
    if (known) return known;
    // An earlier attempt announced this key (its rotation names it, even if a later meta-only write
    // replaced the intent) and died: it may have been created without being recorded.
    const record = snapshot.record;
    const attempted = record?.rotation?.newVersionId === versionId || record?.intent.some((op) => op.type === 'create' && op.versionId === versionId);
    const found = attempted ? await this.#findKey((tags) => tags.some((t) => t.Key === VERSION_TAG && t.Value === versionId)) : null;
    if (found) return found;
    const current = snapshot.current;
    const currentId = current.KeyId as string;
    const policy = (await this.#api.call<KMS.GetKeyPolicyResponse>('GetKeyPolicy', currentId, { KeyId: currentId, PolicyName: 'default' })).Policy;
    // The new key takes the current key's own tags, but not its rotated-by/-at/ticket: they are set at its switch.
    const optIn = this.#rotationTags.get(alias);
    const optInKeys = new Set([optIn?.rotatedBy, optIn?.rotatedAt, optIn?.ticket]);
    const ownTags = (await this.#api.tags(currentId)).filter((t) => !t.Key.startsWith(TAG_PREFIX) && !optInKeys.has(t.Key));
    const rotationId = meta.rotation?.rotationId ?? 'unknown';
    return this.#createOnce(alias, versionId, {
      ...(policy ? { Policy: policy } : {}),
      KeySpec: current.KeySpec,
      KeyUsage: current.KeyUsage,
      Description: `${alias}: rotated by keyshift on ${new Date().toISOString().slice(0, 10)} (rotation ${rotationId}); replaces ${currentId}`,
      Tags: [...ownTags, { Key: VERSION_TAG, Value: versionId }, { Key: ALIAS_TAG, Value: alias }].map((t) => ({ TagKey: t.Key, TagValue: t.Value })),
    });
  }

  /**
   * CreateKey tried as the SDK would retry it, except that a request whose reply was lost (a 500, a
   * dropped connection, a timeout: KMS may have created the key) is not sent again before looking
   * for a key carrying its version tag. Left to the SDK, such a retry creates a second key.
   */
  async #createOnce(alias: string, versionId: string, input: KMS.CreateKeyRequest): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      try {
        const keyId = (await this.#api.call<KMS.CreateKeyResponse>('CreateKey', `for ${alias}`, input, { once: true })).KeyMetadata?.KeyId;
        if (!keyId) throw new KeyshiftError('ERR_STORE_REQUEST', `CreateKey for ${alias} returned no key id`);
        return keyId;
      } catch (error) {
        const code = (error as KeyshiftError).code;
        const lostReply = code === 'ERR_STORE_UNAVAILABLE';
        const found = lostReply ? await this.#findKey((tags) => tags.some((t) => t.Key === VERSION_TAG && t.Value === versionId)) : null;
        if (found) return found;
        if ((!lostReply && code !== 'ERR_STORE_THROTTLED') || attempt >= this.#api.attempts) throw error;
        // Full jitter, as the SDK's standard retries (base 100 ms, 500 ms when throttled).
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(20_000, 2 ** (attempt - 1) * (lostReply ? 100 : 500))));
      }
    }
  }

  /** Only after an interrupted issue or provision: a live key of ours whose tags match. */
  async #findKey(matches: (tags: Array<{ Key: string; Value: string }>) => boolean): Promise<string | null> {
    for await (const keyId of this.#api.keyIds()) {
      const key = await this.#api.describe(keyId);
      if (!key || key.KeyManager !== 'CUSTOMER' || key.KeyState === 'PendingDeletion') continue;
      if (matches(await this.#api.tags(keyId))) return keyId;
    }
    return null;
  }

  /** decommission: disable, then schedule the deletion; both are skipped when already done. */
  async #retireKey(alias: string, keyId: string): Promise<void> {
    const key = await this.#api.describe(keyId);
    if (!key || key.KeyState === 'PendingDeletion') return;
    if ((await this.#api.describe(alias))?.KeyId === keyId) {
      throw new KeyshiftError('ERR_STORE_REFUSED', `${alias}: refusing to retire ${keyId}, which the alias points to`);
    }
    if (key.KeyState === 'Enabled') await this.#api.call('DisableKey', keyId, { KeyId: keyId });
    const days = this.#pendingWindowDays.get(alias) ?? this.spec.pendingWindowDays;
    await this.#api.call('ScheduleKeyDeletion', keyId, { KeyId: keyId, PendingWindowInDays: days });
  }

  /** rollback after decommission: cancel the deletion (the key comes back disabled), enable it. */
  async #restoreKey(keyId: string): Promise<void> {
    const key = await this.#api.describe(keyId);
    if (!key) throw new KeyshiftError('ERR_VERSION_NOT_FOUND', `key ${keyId} no longer exists (its pending deletion window ended)`);
    if (key.KeyState === 'PendingDeletion') await this.#api.call('CancelKeyDeletion', keyId, { KeyId: keyId });
    if (key.KeyState !== 'Enabled') await this.#api.call('EnableKey', keyId, { KeyId: keyId });
  }
}
