import type * as KMS from '@aws-sdk/client-kms';
import { KeyshiftError } from '../../errors.js';
import type { KmsStoreSpec } from '../../policy/types.js';
import type { EntryMeta, EntryState, VersionInfo, VersionOp } from '../contract.js';
import { effectiveMeta, type StoredRecord } from '../aws/meta-tags.js';
import type { KeyMetadata, KmsApi } from './kms-api.js';

/** KMS allows this many on-demand rotations per key (API reference; the developer guide says 25). */
export const ON_DEMAND_LIMIT = 10;

export interface ManagedSnapshot {
  current: KeyMetadata;
  record: StoredRecord | null;
  rotations: Array<{ date: Date; type: string }>;
}

/**
 * mode: managed — KMS rotates the key material under the same key id: `rotate` is RotateKeyOnDemand,
 * and automatic rotation is kept on with RotationPeriodInDays = the policy's interval. Old material
 * stays, so old ciphertexts keep decrypting and there is nothing to decommission. A rotation is
 * recorded in the key's tags before the call, with the number of rotations the key had; a rerun that
 * finds more does not rotate again.
 */
export class ManagedRotation {
  readonly #periods = new Map<string, number | null>();

  constructor(private readonly api: KmsApi) {}

  configure(alias: string, spec: KmsStoreSpec): void {
    this.#periods.set(alias, spec.rotationPeriodDays);
  }

  async rotations(keyId: string): Promise<ManagedSnapshot['rotations']> {
    const found: ManagedSnapshot['rotations'] = [];
    let marker: string | undefined;
    do {
      const page = await this.api.call<KMS.ListKeyRotationsResponse>('ListKeyRotations', keyId, { KeyId: keyId, ...(marker ? { Marker: marker } : {}) });
      for (const r of page.Rotations ?? []) if (r.RotationDate) found.push({ date: r.RotationDate, type: r.RotationType ?? 'AUTOMATIC' });
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
    return found;
  }

  async apply(alias: string, snapshot: ManagedSnapshot, ops: VersionOp[], meta: EntryMeta, write: (record: StoredRecord) => Promise<void>): Promise<void> {
    const keyId = snapshot.current.KeyId as string;
    const before = this.toState(snapshot);
    const issued = ops.find((op) => op.type === 'create');
    const startedAt = meta.rotation?.startedAt ?? new Date().toISOString();
    const record: StoredRecord = {
      ...meta,
      intent: ops,
      before: ops.length > 0 ? { rotation: before.rotation, lastRotatedAt: before.lastRotatedAt, drafts: before.pendingEvents.length } : null,
      created: issued ? { [issued.versionId]: startedAt } : { ...snapshot.record?.created },
      retired: [],
      rotationsBefore: issued ? snapshot.rotations.length : snapshot.record?.rotationsBefore,
    };
    await write(record);
    if (issued) {
      const onDemand = snapshot.rotations.filter((r) => r.type === 'ON_DEMAND').length;
      if (onDemand >= ON_DEMAND_LIMIT) {
        throw new KeyshiftError('ERR_KMS_ROTATION_LIMIT', `${alias}: key ${keyId} has had ${onDemand} on-demand rotations, the most KMS allows per key`, {
          hint: 'its automatic rotation continues on schedule; for another rotation now use mode: alias (a new key behind the alias)',
        });
      }
      await this.api.call('RotateKeyOnDemand', keyId, { KeyId: keyId });
    }
    const period = this.#periods.get(alias);
    if (period) {
      const status = await this.api.call<KMS.GetKeyRotationStatusResponse>('GetKeyRotationStatus', keyId, { KeyId: keyId });
      if (!status.KeyRotationEnabled || status.RotationPeriodInDays !== period) {
        await this.api.call('EnableKeyRotation', keyId, { KeyId: keyId, RotationPeriodInDays: period });
      }
    }
  }

  /** One CURRENT version: the key, named by the last rotation keyshift made (or its key id). */
  toState(snapshot: ManagedSnapshot): EntryState {
    const { current, record, rotations } = snapshot;
    const lastRotation = rotations.map((r) => r.date.getTime()).sort((a, b) => a - b).pop();
    const lastRotatedAt = new Date(lastRotation ?? (current.CreationDate ?? new Date(0)).getTime()).toISOString();
    // The last version keyshift issued is current once the key has more rotations than before it.
    const rotated = record?.rotationsBefore !== undefined && rotations.length > record.rotationsBefore;
    const issued = Object.keys(record?.created ?? {})[0];
    const version: VersionInfo = { id: rotated && issued ? issued : (current.KeyId as string), stages: ['CURRENT'], createdAt: lastRotatedAt, resourceId: current.KeyId as string };
    if (!record) return { versions: [version], retired: [], rotation: null, lastRotatedAt, pendingEvents: [] };
    const applied = (op: VersionOp): boolean => op.type === 'retire' || (op.versionId === issued && rotated);
    const meta = effectiveMeta(record, applied);
    // A finished managed rotation has no fallback to wait out: the old material stays in the key.
    const rotation = meta.rotation && meta.rotation.phase !== 'fallback' ? meta.rotation : null;
    return { versions: [version], retired: [], rotation, lastRotatedAt, pendingEvents: meta.pendingEvents };
  }
}

