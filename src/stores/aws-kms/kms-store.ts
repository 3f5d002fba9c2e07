import type * as KMS from '@aws-sdk/client-kms';
import { ExitCode, KeyshiftError } from '../../errors.js';
import type { KmsStoreSpec } from '../../policy/types.js';
import { SecretValue } from '../../secret-value.js';
import type { EntryMeta, EntryState, LockOptions, RetiredVersion, SecretStore, StoreCapabilities, StoreLock, StoreMeta, VersionInfo, VersionOp } from '../contract.js';
import type { StoreContext } from '../registry.js';
import { countOtherTags, decodeRecord, effectiveMeta, encodeRecord, TAG_PREFIX, type StoredRecord } from '../aws/meta-tags.js';
import { LocalStoreState } from '../aws/state-dir.js';
import { KmsApi, type KeyMetadata, type Sdk } from './kms-api.js';
import { ManagedRotation } from './managed-rotation.js';

const VERSION_TAG = `${TAG_PREFIX}version-id`;

/** What one read of an alias found: the key behind it, its record and the keys the record names. */
interface Snapshot {
  current: KeyMetadata;
  record: StoredRecord | null;
  otherTags: number;
  keys: Map<string, KeyMetadata | null>; // by KMS key id
  /** mode managed: the key's material rotations. */
  rotations: Array<{ date: Date; type: string }>;
}

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
  #held = false;

  constructor(
    private readonly spec: KmsStoreSpec,
    context: StoreContext,
    sdk: Sdk,
  ) {
    this.#api = new KmsApi(spec, context, sdk);
    this.location = this.#api.location;
    this.#local = new LocalStoreState(context.env, this.kind, context.storeId);
    this.#managed = spec.mode === 'managed' ? new ManagedRotation(this.#api) : null;
    this.capabilities = spec.mode === 'managed' ? { atomicApply: true, valueless: true } : { atomicApply: false, valueless: true, restoreRetired: true };
  }

  configureEntry(spec: KmsStoreSpec): void {
    this.#pendingWindowDays.set(spec.key, spec.pendingWindowDays);
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

  async lock(options: LockOptions): Promise<StoreLock> {
    const held = await this.#local.lock(options, `store ${this.location}`);
    this.#held = true;
    return {
      release: async () => {
        this.#held = false;
        await held.release();
      },
    };
  }

  async apply(alias: string, ops: VersionOp[], meta: EntryMeta): Promise<EntryState> {
    if (!this.#held) throw new KeyshiftError('ERR_INTERNAL', `${this.location}: apply without the store lock`);
    const snapshot = await this.#snapshot(alias);
    if (!snapshot) {
      throw new KeyshiftError('ERR_STORE_NOT_FOUND', `alias ${alias} does not exist in ${this.location}`, {
        hint: `create the key and its alias first (aws kms create-key, then aws kms create-alias --alias-name ${alias} --target-key-id <key id>)`,
      });
    }
    refuseUnusableKey(alias, snapshot.current);
    if (this.#managed) {
      await this.#managed.apply(alias, snapshot, ops, meta, (record) => this.#writeRecord(snapshot.current.KeyId as string, record, snapshot.otherTags));
      return (await this.read(alias)) as EntryState;
    }
    const before = this.#toState(snapshot);
    const keys = keptKeys(snapshot, meta, ops);
    const record: StoredRecord = {
      ...meta,
      intent: ops,
      before: ops.length > 0 ? { rotation: before.rotation, lastRotatedAt: before.lastRotatedAt, drafts: before.pendingEvents.length } : null,
      created: {},
      keys,
      retired: [...(snapshot.record?.retired ?? []), ...this.#retiredBy(alias, ops, keys)].slice(-5),
    };
    // The record goes on the key the alias will point to once these ops are done, before them.
    // A key pending deletion takes no tags: a restore first announces itself on the current key.
    const promoted = ops.find((op) => op.type === 'promote');
    const home = promoted ? keyIdOf(promoted.versionId, snapshot.record) : (snapshot.current.KeyId as string);
    const restoring = ops.some((op) => op.type === 'restore');
    await this.#writeRecord(restoring ? (snapshot.current.KeyId as string) : home, record, snapshot.otherTags);
    for (const op of ops) {
      if (op.type === 'create') {
        keys[op.versionId] = await this.#createKey(alias, op.versionId, snapshot, meta);
        await this.#writeRecord(snapshot.current.KeyId as string, { ...record, keys, intent: ops.filter((o) => o !== op) }, snapshot.otherTags);
      } else if (op.type === 'restore') {
        await this.#restoreKey(keyIdOf(op.versionId, snapshot.record));
        await this.#writeRecord(home, record, snapshot.otherTags);
      } else if (op.type === 'promote') {
        if ((await this.#api.describe(alias))?.KeyId !== home) await this.#api.call('UpdateAlias', alias, { AliasName: alias, TargetKeyId: home });
      } else {
        await this.#retireKey(alias, keyIdOf(op.versionId, snapshot.record));
      }
    }
    return (await this.read(alias)) as EntryState;
  }

  readMeta(): Promise<StoreMeta> {
    return this.#local.readMeta();
  }

  writeMeta(meta: StoreMeta): Promise<void> {
    return this.#local.writeMeta(meta);
  }

  async close(): Promise<void> {
    this.#api.client.destroy();
  }

  async #snapshot(alias: string): Promise<Snapshot | null> {
    const current = await this.#api.describe(alias);
    if (!current?.KeyId) return null;
    const tags = await this.#api.tags(current.KeyId);
    const record = decodeRecord(tags, alias);
    const keys = new Map<string, KeyMetadata | null>();
    const rotation = record?.rotation;
    const named = [rotation?.newVersionId, rotation?.oldVersionId, record?.retired.at(-1)?.id].filter((id): id is string => Boolean(id));
    for (const versionId of named) {
      const keyId = keyIdOf(versionId, record);
      if (keyId !== current.KeyId && !keys.has(keyId) && (versionId !== rotation?.newVersionId || record?.keys?.[versionId])) keys.set(keyId, await this.#api.describe(keyId));
    }
    const rotations = this.#managed ? await this.#managed.rotations(current.KeyId) : [];
    return { current, record, otherTags: countOtherTags(tags), keys, rotations };
  }

  #toState(snapshot: Snapshot): EntryState {
    const { current, record } = snapshot;
    const currentId = current.KeyId as string;
    const versionOf = (keyId: string) => Object.entries(record?.keys ?? {}).find(([, id]) => id === keyId)?.[0] ?? keyId;
    const info = (key: KeyMetadata, stage: VersionInfo['stages'][number]): VersionInfo => ({
      id: versionOf(key.KeyId as string),
      stages: [stage],
      createdAt: (key.CreationDate ?? new Date(0)).toISOString(),
      resourceId: key.KeyId as string,
    });
    const versions: VersionInfo[] = [info(current, 'CURRENT')];
    const usable = (key: KeyMetadata | null | undefined): key is KeyMetadata => Boolean(key && key.KeyId !== currentId && key.KeyState !== 'PendingDeletion' && key.KeyState !== 'PendingReplicaDeletion');
    if (this.#managed) return this.#managed.toState(snapshot, versions);
    const rotation = record?.rotation;
    if (rotation) {
      const fresh = snapshot.keys.get(keyIdOf(rotation.newVersionId, record));
      const old = snapshot.keys.get(keyIdOf(rotation.oldVersionId ?? '', record));
      if (usable(fresh)) versions.push(info(fresh, 'PENDING'));
      if (usable(old) && old.KeyState === 'Enabled') versions.push(info(old, 'PREVIOUS'));
    }
    if (!record) return { versions, retired: [], rotation: null, lastRotatedAt: (current.CreationDate ?? new Date()).toISOString(), pendingEvents: [] };
    const retired = record.retired.map((r, index) => (index === record.retired.length - 1 ? this.#withRestoreWindow(r, snapshot) : r));
    const applied = (op: VersionOp): boolean => {
      const keyId = keyIdOf(op.versionId, record);
      const key = keyId === currentId ? current : snapshot.keys.get(keyId);
      if (op.type === 'create') return Boolean(record.keys?.[op.versionId]);
      if (op.type === 'promote') return keyId === currentId;
      if (op.type === 'restore') return key?.KeyState === 'Enabled';
      return !key || key.KeyState === 'PendingDeletion';
    };
    return { versions, retired, ...effectiveMeta(record, applied) };
  }

  /** A retired key can be restored while its deletion is pending (the deletion date from KMS). */
  #withRestoreWindow(retired: RetiredVersion, snapshot: Snapshot): RetiredVersion {
    const key = snapshot.keys.get(retired.resourceId ?? retired.id);
    if (!key) return { ...retired, restorableUntil: undefined };
    const until = key.KeyState === 'PendingDeletion' ? key.DeletionDate?.toISOString() : new Date(Date.now() + 86_400_000).toISOString();
    return { ...retired, ...(until ? { restorableUntil: until } : {}) };
  }

  #retiredBy(alias: string, ops: VersionOp[], keys: Record<string, string>): RetiredVersion[] {
    const days = this.#pendingWindowDays.get(alias) ?? this.spec.pendingWindowDays;
    const retiredAt = new Date();
    return ops
      .filter((op) => op.type === 'retire')
      .map((op) => ({
        id: op.versionId,
        retiredAt: retiredAt.toISOString(),
        resourceId: keys[op.versionId] ?? op.versionId,
        restorableUntil: new Date(retiredAt.getTime() + days * 86_400_000).toISOString(),
      }));
  }

  async #writeRecord(keyId: string, record: StoredRecord, otherTags: number): Promise<void> {
    await this.#api.tag(keyId, encodeRecord(record, otherTags));
  }

  /**
   * issue: a key like the current one. CreateKey is not idempotent, so the new key carries its
   * version id in a tag from birth; a rerun after a crash finds it instead of creating a second.
   */
  async #createKey(alias: string, versionId: string, snapshot: Snapshot, meta: EntryMeta): Promise<string> {
    const known = snapshot.record?.keys?.[versionId];
    if (known) return known;
    // An earlier attempt announced this key and died: it may have been created without being recorded.
    const attempted = snapshot.record?.intent.some((op) => op.type === 'create' && op.versionId === versionId);
    const found = attempted ? await this.#findKey(versionId) : null;
    if (found) return found;
    const current = snapshot.current;
    const currentId = current.KeyId as string;
    const policy = (await this.#api.call<KMS.GetKeyPolicyResponse>('GetKeyPolicy', currentId, { KeyId: currentId, PolicyName: 'default' })).Policy;
    const ownTags = (await this.#api.tags(currentId)).filter((t) => !t.Key.startsWith(TAG_PREFIX));
    const rotationId = meta.rotation?.rotationId ?? 'unknown';
    const created = await this.#api.call<KMS.CreateKeyResponse>('CreateKey', `for ${alias}`, {
      ...(policy ? { Policy: policy } : {}),
      KeySpec: current.KeySpec,
      KeyUsage: current.KeyUsage,
      Description: `${alias}: rotated by keyshift on ${new Date().toISOString().slice(0, 10)} (rotation ${rotationId}); replaces ${currentId}`,
      Tags: [...ownTags, { Key: VERSION_TAG, Value: versionId }, { Key: `${TAG_PREFIX}alias`, Value: alias }].map((t) => ({ TagKey: t.Key, TagValue: t.Value })),
    });
    const keyId = created.KeyMetadata?.KeyId;
    if (!keyId) throw new KeyshiftError('ERR_STORE_REQUEST', `CreateKey for ${alias} returned no key id`);
    return keyId;
  }

  /** Only after an interrupted issue: is there a key that carries this version id? */
  async #findKey(versionId: string): Promise<string | null> {
    for await (const keyId of this.#api.keyIds()) {
      const key = await this.#api.describe(keyId);
      if (!key || key.KeyManager !== 'CUSTOMER' || key.KeyState === 'PendingDeletion') continue;
      if ((await this.#api.tags(keyId)).some((t) => t.Key === VERSION_TAG && t.Value === versionId)) return keyId;
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

/** The version → key id map, kept small (it lives in tags): the current key, the rotation's, the retired ones. */
function keptKeys(snapshot: Snapshot, meta: EntryMeta, ops: VersionOp[]): Record<string, string> {
  const all = snapshot.record?.keys ?? {};
  const wanted = new Set<string>([
    ...[meta.rotation?.newVersionId, meta.rotation?.oldVersionId].filter((id): id is string => Boolean(id)),
    ...(snapshot.record?.retired ?? []).map((r) => r.id),
    ...ops.map((op) => op.versionId),
  ]);
  const currentId = snapshot.current.KeyId as string;
  return Object.fromEntries(Object.entries(all).filter(([versionId, keyId]) => wanted.has(versionId) || keyId === currentId));
}

/** A version id keyshift gave a key (v-…), or the KMS key id of a key it did not create. */
function keyIdOf(versionId: string, record: StoredRecord | null): string {
  return record?.keys?.[versionId] ?? versionId;
}

function refuseUnusableKey(alias: string, key: KeyMetadata): void {
  if (key.KeyManager === 'AWS') {
    throw new KeyshiftError('ERR_STORE_REFUSED', `${alias} points to an AWS managed key, which only AWS rotates`, { exitCode: ExitCode.blocked, hint: 'point the alias at a customer managed key' });
  }
  if (key.KeyState !== 'Enabled') {
    throw new KeyshiftError('ERR_STORE_REFUSED', `${alias} points to key ${key.KeyId}, which is ${key.KeyState}`, {
      exitCode: ExitCode.blocked,
      hint: `enable it (aws kms enable-key --key-id ${key.KeyId}), or cancel its deletion first (aws kms cancel-key-deletion)`,
    });
  }
}
