import { ExitCode, KeyshiftError } from '../../errors.js';
import type { EntryMeta, EntryState, VersionOp } from '../contract.js';
import type { KeyLabels, StoredRecord } from '../aws/meta-tags.js';
import type { KeyMetadata } from './kms-api.js';

// Pure functions of what one read of an alias found: which key holds which keyshift version, where
// the labels go after a set of ops, and which keys keyshift refuses to touch. kms-store.ts does the
// calls.

export /** What one read of an alias found: the key behind it, its record and the keys the record names. */
interface Snapshot {
  current: KeyMetadata;
  record: StoredRecord | null;
  otherTags: number;
  keys: Map<string, KeyMetadata | null>; // by KMS key id
  /** mode managed: the key's material rotations. */
  rotations: Array<{ date: Date; type: string }>;
}

/** The version → key id map, kept small (it lives in tags): the current key, the rotation's, the retired ones. */
export function keptKeys(snapshot: Snapshot, meta: EntryMeta, ops: VersionOp[], labels: KeyLabels): Record<string, string> {
  const all = snapshot.record?.keys ?? {};
  const wanted = new Set<string>([
    ...[meta.rotation?.newVersionId, meta.rotation?.oldVersionId, labels.pending, labels.previous].filter((id): id is string => Boolean(id)),
    ...(snapshot.record?.retired ?? []).map((r) => r.id),
    ...ops.map((op) => op.versionId),
  ]);
  const currentId = snapshot.current.KeyId as string;
  return Object.fromEntries(Object.entries(all).filter(([versionId, keyId]) => wanted.has(versionId) || keyId === currentId));
}

/** A version id keyshift gave a key (v-…), or the KMS key id of a key it did not create. */
export function keyIdOf(versionId: string, record: StoredRecord | null): string {
  return record?.keys?.[versionId] ?? versionId;
}

export function versionOf(keyId: string, record: StoredRecord | null): string {
  return Object.entries(record?.keys ?? {}).find(([, id]) => id === keyId)?.[0] ?? keyId;
}

/** KMS key ids are UUIDs (multi-Region ones start with mrk-). */
export function looksLikeKeyId(id: string): boolean {
  return /^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/.test(id);
}

/**
 * Where PENDING and PREVIOUS will be after these ops, refusing what the contract forbids before
 * anything is written. As with Secrets Manager's labels, a promote pushes the old CURRENT to
 * PREVIOUS and retires whatever held PREVIOUS before.
 */
export function planLabels(alias: string, ops: VersionOp[], before: EntryState, labels: KeyLabels): { labels: KeyLabels; alsoRetire: string[] } {
  const next = { ...labels };
  const alsoRetire: string[] = [];
  const known = new Set(before.versions.map((v) => v.id));
  let current = before.versions.find((v) => v.stages.includes('CURRENT'))?.id ?? null;
  for (const op of ops) {
    if (op.type === 'create') {
      if (op.stage === 'CURRENT' && !known.has(op.versionId)) throw new KeyshiftError('ERR_STORE_REFUSED', `${alias} already points to a key; a new key must start as PENDING`);
      if (!known.has(op.versionId)) next.pending = op.versionId;
      known.add(op.versionId);
    } else if (op.type === 'restore') {
      known.add(op.versionId);
    } else if (op.type === 'promote') {
      if (!known.has(op.versionId)) throw new KeyshiftError('ERR_VERSION_NOT_FOUND', `${alias}: version ${op.versionId} is not a key of this alias`);
      if (op.versionId === current) continue;
      if (next.previous && next.previous !== op.versionId && next.previous !== current) alsoRetire.push(next.previous);
      next.previous = current;
      if (next.pending === op.versionId) next.pending = null;
      current = op.versionId;
    } else {
      if (op.versionId === current) throw new KeyshiftError('ERR_STORE_REFUSED', `${alias}: refusing to retire ${op.versionId}, which the alias points to`);
      if (next.pending === op.versionId) next.pending = null;
      if (next.previous === op.versionId) next.previous = null;
    }
  }
  return { labels: next, alsoRetire };
}

export function refuseUnusableKey(alias: string, key: KeyMetadata): void {
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
