import { KeyshiftError } from '../errors.js';
import type { EntryState, EvidenceDraft, RetiredVersion, VersionOp } from '../stores/contract.js';
import type { Target } from './context.js';
import { runRollbackHooks, type HookFailedError, type KeyIds } from './overlap-hooks.js';
import { announceDrafts, evidenceDraft } from './evidence-drafts.js';
import { newRotationId } from './ids.js';
import { currentVersion, previousVersion } from './state.js';
import { keyIds, newRecord, requireRotation, valueOf, type RunInfo, type StepResult } from './steps.js';

/** The steps that undo a rotation: before its decommission, and after it where the store can restore. */

/**
 * Before decommission: deploy hooks run again with the old value (KEYSHIFT_PHASE=rollback), then
 * the old version is back to CURRENT and the new one discarded. After a failed hook (`failure`) the
 * evidence says `failed` (with the hook's checks) and then `rolled-back`.
 */
export async function rollback(target: Target, state: EntryState, run: RunInfo, failure?: HookFailedError): Promise<StepResult> {
  const record = requireRotation(target, state);
  const old = record.oldVersionId;
  const fresh = record.newVersionId;
  const switched = currentVersion(state)?.id === fresh;
  const oldVersion = state.versions.find((v) => v.id === old);
  if (switched && (!old || previousVersion(state)?.id !== old || !oldVersion)) {
    throw new KeyshiftError('ERR_ROLLBACK_IMPOSSIBLE', `${target.policy.name}/${target.environment.name}: the old version is no longer in the store`, {
      exitCode: 2,
    });
  }
  const value = old ? await valueOf(target, old) : null;
  const rollbackChecks = await runRollbackHooks(target, record, value, run, keyIds(state, record));
  const drafts: EvidenceDraft[] = [];
  if (failure) {
    const failed = evidenceDraft(target, run, 'failed', { rotationId: record.rotationId, fromVersion: old, toVersion: fresh, value: null, checks: failure.checks });
    failed.error = failure.message;
    drafts.push(failed);
  }
  drafts.push(evidenceDraft(target, run, 'rolled-back', { rotationId: record.rotationId, fromVersion: fresh, toVersion: old, value, checks: rollbackChecks }));
  const ops: VersionOp[] = switched ? [{ type: 'promote', versionId: old as string }, { type: 'retire', versionId: fresh }] : [{ type: 'retire', versionId: fresh }];
  const lastRotatedAt = switched ? (oldVersion?.createdAt ?? state.lastRotatedAt) : state.lastRotatedAt;
  const next = await target.store.apply(target.key, ops, { rotation: null, lastRotatedAt, pendingEvents: announceDrafts(state, run, drafts) });
  await run.record(drafts);
  const hookTrouble = rollbackChecks.filter((c) => !c.ok).map((c) => c.hook);
  if (hookTrouble.length > 0) run.warn?.(`${target.policy.name}/${target.environment.name}: rollback hook(s) failed: ${hookTrouble.join(', ')}`);
  return { action: 'rollback', outcome: 'rolled-back', fromVersion: fresh, toVersion: old, rotationId: record.rotationId, state: next, rollbackHooksFailed: hookTrouble };
}

/**
 * After the decommission, for stores that can bring a retired version back (aws-kms while the old
 * key's deletion is pending): the retired version is restored and made CURRENT again, and the
 * version that replaced it is retired. Deploy hooks run again with KEYSHIFT_PHASE=rollback.
 */
export async function rollbackRetired(target: Target, state: EntryState, run: RunInfo): Promise<StepResult | null> {
  const now = run.now();
  const retired = restorable(state, now);
  const current = currentVersion(state);
  if (!retired || !current || !target.store.capabilities?.restoreRetired) return null;
  const rotationId = newRotationId(now);
  const record = newRecord(run, now, { rotationId, phase: 'fallback', newVersionId: current.id, oldVersionId: retired.id });
  const ids: KeyIds = { newKeyId: current.resourceId ?? null, oldKeyId: retired.resourceId ?? null };
  const rollbackChecks = await runRollbackHooks(target, record, null, run, ids);
  const drafts = [evidenceDraft(target, run, 'rolled-back', { rotationId, fromVersion: current.id, toVersion: retired.id, value: null, checks: rollbackChecks })];
  const ops: VersionOp[] = [{ type: 'restore', versionId: retired.id }, { type: 'promote', versionId: retired.id }, { type: 'retire', versionId: current.id }];
  const next = await target.store.apply(target.key, ops, { rotation: null, lastRotatedAt: state.lastRotatedAt, pendingEvents: announceDrafts(state, run, drafts) });
  await run.record(drafts);
  const hookTrouble = rollbackChecks.filter((c) => !c.ok).map((c) => c.hook);
  return { action: 'rollback', outcome: 'rolled-back', fromVersion: current.id, toVersion: retired.id, rotationId, state: next, rollbackHooksFailed: hookTrouble };
}

/** The most recently retired version, if the store can still bring it back. */
export function restorable(state: EntryState | null, now: Date): RetiredVersion | undefined {
  const last = [...(state?.retired ?? [])].sort((a, b) => a.retiredAt.localeCompare(b.retiredAt)).pop();
  return last?.restorableUntil && Date.parse(last.restorableUntil) > now.getTime() ? last : undefined;
}
