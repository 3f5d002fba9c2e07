import { ExitCode, KeyshiftError } from '../errors.js';
import type { SecretValue } from '../secret-value.js';
import type { EntryState, RotationRecord, VersionOp } from '../stores/contract.js';
import type { Target } from './context.js';
import { HookFailedError, toCheck, type HookCheck } from './overlap-hooks.js';
import { announceDrafts, evidenceDraft } from './evidence-drafts.js';
import { currentVersion } from './state.js';
import { windowEndedReason } from './planner.js';
import { hasOverlapWork, issueAndSwitch, keyIds, meta, newValue, requireRotation, startRecord, valueOf, type RunInfo, type StepResult } from './steps.js';
import { isoTime } from '../util/iso-time.js';

/**
 * The last step of a rotation: once its gate passes (built-in checks, decommissionCheck and revoke
 * hooks), the old version is retired. On a store of this machine the retirement may share one
 * write with the next rotation (decommissionAndRotate).
 */

export async function decommission(target: Target, state: EntryState, run: RunInfo): Promise<StepResult> {
  const gate = await passDecommissionGate(target, state, run);
  return retireOld(target, state, run, gate);
}

/**
 * A decommission and the rotation after it in one store write, for a store that applies several
 * ops atomically and writes on this machine (a write and an fsync saved per secret; batching.ts),
 * when the rotation has nothing to run while both keys are valid. The evidence, in the same order,
 * and the results are those of the two steps one after the other. Returns only the decommission
 * when no new value could be drawn: the rotation then fails on its own, as it would after it.
 */
export async function decommissionAndRotate(target: Target, state: EntryState, run: RunInfo): Promise<StepResult[]> {
  const gate = await passDecommissionGate(target, state, run);
  const current = currentVersion(state);
  // No CURRENT (startRotation then says so) or no value drawn: the decommission is written alone.
  const value = current ? await newValue(target, run).catch(() => undefined) : undefined;
  if (!current || value === undefined) return [await retireOld(target, state, run, gate)];
  const retired = decommissionedStep(target, run, gate);
  const now = run.now();
  const rotation = issueAndSwitch(target, run, startRecord(run, now, current.id), now, value);
  const drafts = [retired.draft, ...rotation.drafts];
  const next = await target.store.apply(target.key, [...retired.ops, ...rotation.ops], { rotation: rotation.rotation, lastRotatedAt: isoTime(now), pendingEvents: announceDrafts(state, run, drafts) });
  await run.record(drafts);
  return [retired.result(next), rotation.result(next)];
}

/**
 * A rotation whose fallback window is 0 (`--fallback-window 0`, an emergency) and the decommission
 * right after its switch, in one store write, where decommissionAndRotate would join steps and the
 * old version may go at once: the policy has no decommission gate or hook (they would run before
 * the switch), and no data key is wrapped only under the old version. Null otherwise, or when no
 * value could be drawn: the steps then go one by one. Evidence: issued, switched, decommissioned.
 */
export async function rotateAndRetire(target: Target, state: EntryState, run: RunInfo): Promise<StepResult[] | null> {
  const { policy } = target;
  const current = currentVersion(state);
  const windowMs = run.fallbackWindowMs ?? policy.fallbackWindowMs;
  if (windowMs !== 0 || !current || state.rotation || policy.reencrypt || policy.decommissionCheck.length > 0 || policy.revoke.length > 0) return null;
  if (await run.wrappedDataKeysHold?.(target, current)) return null;
  const value = await newValue(target, run).catch(() => undefined);
  if (value === undefined) return null;
  const oldValue = await valueOf(target, current.id);
  const now = run.now();
  const record = startRecord(run, now, current.id);
  const rotation = issueAndSwitch(target, run, record, now, value);
  // No gate to pass: the policy has none (checked above).
  const retired = decommissionedStep(target, run, { record, old: current.id, value: oldValue, checks: [] });
  const drafts = [...rotation.drafts, retired.draft];
  const next = await target.store.apply(target.key, [...rotation.ops, ...retired.ops], { rotation: null, lastRotatedAt: isoTime(now), pendingEvents: announceDrafts(state, run, drafts) });
  await run.record(drafts);
  const decommissioned = retired.result(next);
  decommissioned.reason = windowEndedReason(now, record);
  return [rotation.result(next), decommissioned];
}

/**
 * Whether decommissionAndRotate may join a decommission of this target to the rotation after it:
 * a random value (drawing it again after a refusal has no side effect, unlike a command's) on a
 * store whose writes are this machine's (a remote store keeps one call per step).
 */
export function joinsRotation(target: Target): boolean {
  const capabilities = target.store.capabilities;
  return !hasOverlapWork(target) && target.policy.generator?.type === 'random' && (capabilities?.groupCommit === true || capabilities?.batchedWrites === true);
}

interface DecommissionGate {
  record: RotationRecord;
  old: string | null;
  value: SecretValue | null;
  checks: HookCheck[];
}

/**
 * What must pass before the old version goes: the built-in gates and decommissionCheck hooks (a
 * failing one holds it: recorded, then thrown), then the revoke hooks (a failing one throws).
 */
async function passDecommissionGate(target: Target, state: EntryState, run: RunInfo): Promise<DecommissionGate> {
  const record = requireRotation(target, state);
  const old = record.oldVersionId;
  const value = old && state.versions.some((v) => v.id === old) ? await valueOf(target, old) : null;
  // Made per hook: most policies have none, and a 10,000-secret run would build it for nothing.
  const context = (phase: 'decommission-check' | 'revoke') => ({ secret: target.policy.name, environment: target.environment.name, rotationId: record.rotationId, newVersion: record.newVersionId, oldVersion: old, value, phase, ...keyIds(state, record) });
  // The gate first (e.g. "no ciphertext under the old key remains"): while a check fails, nothing
  // is revoked or retired; the hold is recorded in the rotation (status, plan) and the evidence.
  const checks: HookCheck[] = [];
  // Built in for `reencrypt:`: no row may still be under the old version (loaded only for such secrets).
  if (target.policy.reencrypt && old) {
    const { rowsUnderVersion } = await import('../reencrypt/decommission-gate.js');
    const left = await rowsUnderVersion(target.policy.reencrypt, old);
    if (left.rows > 0) await holdDecommission(target, state, run, `reencrypt: ${left.rows} row(s) in ${left.database} still under ${old}; run keyshift reencrypt ${target.policy.name} --env ${target.environment.name}`, checks);
  }
  // Built in for a master key: no data key may still be wrapped only under the old version.
  const oldInfo = state.versions.find((v) => v.id === old);
  const wrapped = oldInfo ? await run.wrappedDataKeysHold?.(target, oldInfo) : null;
  if (wrapped) await holdDecommission(target, state, run, wrapped, checks);
  for (const hook of target.policy.decommissionCheck) {
    const result = await run.runHook(hook, context('decommission-check'));
    checks.push(toCheck(result, 'decommission-check'));
    if (!result.ok) await holdDecommission(target, state, run, result.error ?? `${result.label} failed`, checks);
  }
  // Then revoke hooks (e.g. revoke a vendor key); while one fails the old version stays PREVIOUS.
  for (const hook of target.policy.revoke) {
    const result = await run.runHook(hook, context('revoke'));
    checks.push(toCheck(result, 'revoke'));
    if (!result.ok) throw new HookFailedError(result, checks);
  }
  return { record, old, value, checks };
}

/** The decommission's draft, ops and result, once its gate passed. */
function decommissionedStep(target: Target, run: RunInfo, { record, old, value, checks }: DecommissionGate) {
  const draft = evidenceDraft(target, run, 'decommissioned', { rotationId: record.rotationId, fromVersion: old, toVersion: record.newVersionId, value, checks });
  const ops: VersionOp[] = old ? [{ type: 'retire', versionId: old }] : [];
  const result = (state: EntryState): StepResult => ({ action: 'decommission', outcome: 'decommissioned', fromVersion: old, toVersion: record.newVersionId, rotationId: record.rotationId, state });
  return { draft, ops, result };
}

async function retireOld(target: Target, state: EntryState, run: RunInfo, gate: DecommissionGate): Promise<StepResult> {
  const { draft, ops, result } = decommissionedStep(target, run, gate);
  const next = await target.store.apply(target.key, ops, meta(state, { rotation: null, pendingEvents: announceDrafts(state, run, [draft]) }));
  await run.record([draft]);
  return result(next);
}

/** A decommissionCheck failed: record why in the rotation and the evidence, then stop (exit 3). */
async function holdDecommission(target: Target, state: EntryState, run: RunInfo, why: string, checks: HookCheck[]): Promise<never> {
  const record = requireRotation(target, state);
  const message = `held by decommissionCheck: ${why}`;
  const draft = evidenceDraft(target, run, 'failed', { rotationId: record.rotationId, fromVersion: record.oldVersionId, toVersion: record.newVersionId, value: null, checks });
  draft.error = message;
  await target.store.apply(target.key, [], meta(state, { rotation: { ...record, error: message }, pendingEvents: announceDrafts(state, run, [draft]) }));
  await run.record([draft]);
  throw new KeyshiftError('ERR_DECOMMISSION_HELD', `${target.policy.name}/${target.environment.name}: decommission ${message}`, {
    exitCode: ExitCode.blocked,
    hint: `${record.oldVersionId} stays until every decommissionCheck passes; fix what the check reports (e.g. re-encrypt data still under the old key), then rerun keyshift rotate`,
  });
}

