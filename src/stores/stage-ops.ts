import { KeyshiftError } from '../errors.js';
import type { Stage, VersionOp } from './contract.js';

/** Which version holds each stage (stores that keep one version per stage: vault-kv2, command). */
export type Ids = Record<Stage, string | null>;

export const STAGES: Stage[] = ['CURRENT', 'PENDING', 'PREVIOUS'];

/** The fields of the latest KV version after `ops` (contract.ts meanings), and the ids they retire. */
export function applyOps(key: string, ids: Ids, ops: VersionOp[]): { ids: Ids; retired: string[]; created: string[] } {
  const next: Ids = { ...ids };
  const retired: string[] = [];
  const created: string[] = [];
  const holds = (id: string) => STAGES.some((s) => next[s] === id);
  for (const op of ops) {
    if (op.type === 'create') {
      if (holds(op.versionId)) continue; // sent before: nothing to do
      if (op.stage === 'CURRENT' && next.CURRENT) throw new KeyshiftError('ERR_STORE_REFUSED', `${key} already has a CURRENT version; a new version must start as PENDING`);
      if (op.stage === 'PENDING' && next.PENDING) retired.push(next.PENDING);
      next[op.stage] = op.versionId;
      created.push(op.versionId);
    } else if (op.type === 'promote') {
      if (next.CURRENT === op.versionId) continue;
      if (!holds(op.versionId)) throw new KeyshiftError('ERR_VERSION_NOT_FOUND', `${key}: version ${op.versionId} is not in the secret`);
      const old = next.CURRENT;
      if (next.PREVIOUS && next.PREVIOUS !== op.versionId) retired.push(next.PREVIOUS);
      if (next.PENDING === op.versionId) next.PENDING = null;
      next.PREVIOUS = old;
      next.CURRENT = op.versionId;
    } else if (op.type === 'retire') {
      if (next.CURRENT === op.versionId) throw new KeyshiftError('ERR_STORE_REFUSED', `${key}: refusing to retire ${op.versionId}, which is CURRENT (a secret always keeps one readable current version)`);
      for (const stage of STAGES) {
        if (next[stage] === op.versionId) {
          next[stage] = null;
          retired.push(op.versionId);
        }
      }
    } else {
      throw new KeyshiftError('ERR_INTERNAL', 'this store cannot restore a retired version (this is a bug)');
    }
  }
  return { ids: next, retired: [...new Set(retired)].filter((id) => !holds(id)), created };
}

export function fieldOf(field: string, stage: Stage): string {
  return stage === 'CURRENT' ? field : `${field}_${stage}`;
}
