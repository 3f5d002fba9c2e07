import { KeyshiftError } from '../../errors.js';
import { SecretValue } from '../../secret-value.js';
import type { EntryMeta, Stage, VersionOp } from '../contract.js';
import type { StoredEntry, StoredVersion } from './entry-codec.js';

/**
 * The version-op semantics of src/stores/contract.ts as a pure function: the previous entry and the
 * ops in, the next entry out (a new object; `prev` is never mutated, so a refused apply changes
 * nothing). Every op is idempotent so a rerun after a crash may repeat it.
 */

const KEEP_RETIRED = 5;

export function applyOps(prev: StoredEntry | undefined, ops: VersionOp[], meta: EntryMeta, now: string, where: string): StoredEntry {
  const next: StoredEntry = {
    // Field by field, not `{ ...v, stages }`: a spread with a field after it is slow on Node 20.
    versions: (prev?.versions ?? []).map((v) => ({ id: v.id, stages: [...v.stages], createdAt: v.createdAt, value: v.value })),
    retired: (prev?.retired ?? []).map((r) => ({ ...r })),
    // Only the EntryMeta fields: nothing else a caller attached is persisted.
    rotation: meta.rotation ?? null,
    lastRotatedAt: meta.lastRotatedAt ?? null,
    pendingEvents: meta.pendingEvents ?? [],
  };
  for (const op of ops) {
    if (op.type === 'create') create(next, op, now, where);
    else if (op.type === 'promote') promote(next, op.versionId, now, where);
    else if (op.type === 'retire') retire(next, op.versionId, now, where);
    else if (op.type === 'rewrap') rewrap(next, op, where);
    else throw new KeyshiftError('ERR_INTERNAL', `unknown version op ${JSON.stringify((op as { type: unknown }).type)} for ${where} (this is a bug)`);
  }
  const currents = next.versions.filter((v) => v.stages.includes('CURRENT')).length;
  if (next.versions.length > 0 && currents !== 1) {
    throw refused(where, `the ops would leave ${currents} CURRENT versions; a secret always has exactly one`);
  }
  return next;
}

export function notFound(where: string, versionId: string): KeyshiftError {
  return new KeyshiftError('ERR_VERSION_NOT_FOUND', `${where}: version ${versionId} does not exist (it may have been retired)`, {
    hint: 'run `keyshift status` to see which versions the store holds',
  });
}

function create(entry: StoredEntry, op: Extract<VersionOp, { type: 'create' }>, now: string, where: string): void {
  checkId(op.versionId, where);
  if (!(op.value instanceof SecretValue)) throw new KeyshiftError('ERR_INTERNAL', `create of ${op.versionId} in ${where} has no SecretValue (this is a bug)`);
  if (find(entry, op.versionId)) return;
  if (entry.retired.some((r) => r.id === op.versionId)) {
    throw refused(where, `version ${op.versionId} was retired; a retired version is never brought back`);
  }
  if (op.stage !== 'CURRENT' && op.stage !== 'PENDING') throw refused(where, `cannot create a version with stage ${String(op.stage)}`);
  const holder = withStage(entry, op.stage);
  if (holder) throw refused(where, `cannot create ${op.versionId} as ${op.stage}: ${holder.id} already is ${op.stage}`);
  entry.versions.push({ id: op.versionId, stages: [op.stage], createdAt: now, value: op.value.revealBytes().toString('base64') });
}

/** A new stored form of the same version; repeating it (after a crash) just writes it again. */
function rewrap(entry: StoredEntry, op: Extract<VersionOp, { type: 'rewrap' }>, where: string): void {
  const target = find(entry, op.versionId);
  if (!target) throw notFound(where, op.versionId);
  if (!(op.value instanceof SecretValue)) throw new KeyshiftError('ERR_INTERNAL', `rewrap of ${op.versionId} in ${where} has no SecretValue (this is a bug)`);
  const index = entry.versions.indexOf(target);
  entry.versions[index] = { ...target, value: op.value.revealBytes().toString('base64') };
}

function promote(entry: StoredEntry, versionId: string, now: string, where: string): void {
  const target = find(entry, versionId);
  if (!target) throw notFound(where, versionId);
  if (target.stages.includes('CURRENT')) return;
  const oldPrevious = withStage(entry, 'PREVIOUS');
  if (oldPrevious && oldPrevious !== target) removeVersion(entry, oldPrevious, now);
  const oldCurrent = withStage(entry, 'CURRENT');
  if (oldCurrent) oldCurrent.stages = ['PREVIOUS'];
  target.stages = ['CURRENT'];
}

function retire(entry: StoredEntry, versionId: string, now: string, where: string): void {
  const target = find(entry, versionId);
  if (!target) return;
  if (target.stages.includes('CURRENT')) throw refused(where, `cannot retire ${versionId}: it is the CURRENT version`);
  removeVersion(entry, target, now);
}

/** The value goes with the version (buffers are shared with the committed state, so no zeroing). */
function removeVersion(entry: StoredEntry, version: StoredVersion, now: string): void {
  entry.versions = entry.versions.filter((v) => v !== version);
  entry.retired = [...entry.retired.filter((r) => r.id !== version.id), { id: version.id, retiredAt: now }].slice(-KEEP_RETIRED);
}

function find(entry: StoredEntry, id: string): StoredVersion | undefined {
  return entry.versions.find((v) => v.id === id);
}

function withStage(entry: StoredEntry, stage: Stage): StoredVersion | undefined {
  return entry.versions.find((v) => v.stages.includes(stage));
}

function checkId(id: unknown, where: string): void {
  if (typeof id !== 'string' || id.length === 0 || id.length > 200) {
    throw new KeyshiftError('ERR_INTERNAL', `invalid version id for ${where} (this is a bug)`);
  }
}

function refused(where: string, detail: string): KeyshiftError {
  return new KeyshiftError('ERR_STORE_REFUSED', `${where}: ${detail}`, {
    hint: 'the store was left unchanged; run `keyshift status` to see its versions',
  });
}
