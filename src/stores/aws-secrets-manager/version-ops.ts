import { KeyshiftError } from '../../errors.js';
import type { SecretValue } from '../../secret-value.js';
import type { VersionOp } from '../contract.js';
import { AWSCURRENT, AWSPREVIOUS, holderOf, type Labels } from './labels.js';

// What a batch of version ops means for a secret's staging labels, worked out before any call.

/** Refuse what the contract forbids before anything is written (src/stores/contract.ts). */
export function checkOps(key: string, ops: VersionOp[], labels: Labels): void {
  const known = new Set(Object.keys(labels));
  for (const op of ops) {
    if (op.type === 'create') {
      if (op.stage === 'CURRENT' && holderOf(labels, AWSCURRENT) && !(op.versionId in labels)) {
        throw new KeyshiftError('ERR_STORE_REFUSED', `${key} already has an AWSCURRENT version; a new version must start as AWSPENDING`);
      }
      known.add(op.versionId);
    } else if (op.type === 'promote' && !known.has(op.versionId)) {
      throw new KeyshiftError('ERR_VERSION_NOT_FOUND', `${key}: version ${op.versionId} is not in the secret (or is deprecated)`);
    } else if (op.type === 'retire' && labels[op.versionId]?.includes(AWSCURRENT) && !ops.some((o) => o.type === 'promote')) {
      throw new KeyshiftError('ERR_STORE_REFUSED', `${key}: refusing to retire ${op.versionId}, which is AWSCURRENT (a secret always keeps one readable current version)`);
    }
  }
}

/** Versions that lose their last label with these ops: retired ones, and the PREVIOUS a promote pushes out. */
export function retiredBy(ops: VersionOp[], labels: Labels): Array<{ id: string; retiredAt: string }> {
  const retiredAt = new Date().toISOString();
  const ids: string[] = [];
  for (const op of ops) {
    if (op.type === 'retire' && labels[op.versionId]?.length) ids.push(op.versionId);
    if (op.type === 'promote' && holderOf(labels, AWSCURRENT) !== op.versionId) {
      const previous = holderOf(labels, AWSPREVIOUS);
      if (previous && previous !== op.versionId && labels[previous]?.length === 1) ids.push(previous);
    }
  }
  return [...new Set(ids)].map((id) => ({ id, retiredAt }));
}

export function valueOf(op: Extract<VersionOp, { type: 'create' }>): SecretValue {
  if (!op.value) throw new KeyshiftError('ERR_INTERNAL', `create of ${op.versionId} has no value (this is a bug)`);
  return op.value;
}

export function createdNow(ops: VersionOp[]): Record<string, string> {
  const now = new Date().toISOString();
  return Object.fromEntries(ops.filter((op) => op.type === 'create').map((op) => [op.versionId, now]));
}

/** Keep creation times only for versions that still carry a label (the record lives in 256-byte tags). */
export function pruneCreated(created: Record<string, string>, labels: Labels, ops: VersionOp[]): Record<string, string> {
  const keep = new Set([...Object.keys(labels), ...ops.map((op) => op.versionId)]);
  return Object.fromEntries(Object.entries(created).filter(([id]) => keep.has(id)));
}
