import { errorMessage, KeyshiftError } from '../errors.js';
import type { SecretValue } from '../secret-value.js';
import type { EntryMeta, EntryState, EvidenceDraft, RotationRecord, VersionOp } from '../stores/contract.js';
import type { Target } from './context.js';
import type { HookSpec } from '../policy/types.js';
import type { HookContext, HookResult } from '../hooks/run-hook.js';
import { runOverlapHooks, type KeyIds } from './overlap-hooks.js';
import { announceDrafts, evidenceDraft } from './evidence-drafts.js';
import { newRotationId, versionIdFor } from './ids.js';
import { currentVersion } from './state.js';
import { isoTime } from '../util/iso-time.js';

/**
 * The state machine of one secret in one environment. Every step reads what the store holds first
 * and writes its record in the same store call as the change it announces, so any step can be
 * repeated after a crash: a version with the rotation's id exists → not issued again; CURRENT is
 * already the new version → the switch is done.
 */

export interface RunInfo {
  runId: string;
  operator: string;
  reason: string;
  ticket: string | null;
  emergency: boolean;
  /** Set while this run carries on a rotation an earlier run started (evidence `resumedBy`). */
  resumedBy?: string;
  /** Fallback window for rotations this run starts, instead of the policy's (emergencies). */
  fallbackWindowMs?: number;
  now: () => Date;
  generate: (target: Target) => Promise<SecretValue>;
  /**
   * For a master key (docs/reencrypt.md#key-hierarchy): why `oldVersionId` cannot be retired yet
   * (data keys still wrapped only under it), or null.
   */
  wrappedDataKeysHold?: (target: Target, old: { id: string; resourceId?: string }) => Promise<string | null>;
  /** A warning for the operator's log. */
  warn?: (message: string) => void;
  /** Runs one hook (src/hooks) with keyshift's working directory, environment and logger. */
  runHook: (hook: HookSpec, context: Omit<HookContext, 'cwd' | 'env' | 'log'>) => Promise<HookResult>;
  /** Appends evidence. The store already holds the drafts, so it may resolve before the lines are
   * durable; the run waits for every append before it confirms its drafts. With `after` (the
   * store's queued writes of these drafts), the append waits for it, and is dropped if it rejects:
   * the log never holds a record the store may not. */
  record: (drafts: EvidenceDraft[], after?: Promise<unknown>) => Promise<void>;
}

export interface StepResult {
  action: 'provision' | 'rotate' | 'resume' | 'decommission' | 'rollback';
  outcome: 'provisioned' | 'rotated' | 'resumed' | 'decommissioned' | 'rolled-back';
  fromVersion: string | null;
  toVersion: string | null;
  rotationId: string | null;
  state: EntryState;
  /** Rollback hooks that failed (the store was rolled back all the same). */
  rollbackHooksFailed?: string[];
  /** Why, for a step joined to the one before it that the plan did not list (rotateAndRetire). */
  reason?: string;
}

export async function provision(target: Target, run: RunInfo): Promise<StepResult> {
  const now = run.now();
  const rotationId = newRotationId(now);
  const versionId = versionIdFor(rotationId);
  const value = await newValue(target, run);
  const draft = evidenceDraft(target, run, 'provisioned', { rotationId, fromVersion: null, toVersion: versionId, value });
  const state = await target.store.apply(target.key, [{ type: 'create', versionId, value, stage: 'CURRENT' }], {
    rotation: null,
    lastRotatedAt: isoTime(now),
    pendingEvents: [draft], // a new entry has no earlier drafts
  });
  await run.record([draft]);
  return { action: 'provision', outcome: 'provisioned', fromVersion: null, toVersion: versionId, rotationId, state };
}

/** issue: the new value is stored as PENDING together with the rotation record; then overlap → switch. */
export async function startRotation(target: Target, state: EntryState, run: RunInfo): Promise<StepResult> {
  const now = run.now();
  const current = currentVersion(state);
  if (!current) throw new KeyshiftError('ERR_INTERNAL', `${target.key} has no CURRENT version to rotate`);
  const record = startRecord(run, now, current.id);
  if (hasOverlapWork(target)) {
    const issued = await issue(target, { ...state, rotation: record }, run);
    const done = await finishOverlap(target, issued, run);
    return { ...done, action: 'rotate', outcome: 'rotated' };
  }
  // Nothing to run while both keys are valid: issue and switch in one atomic store write.
  const value = await newValue(target, run);
  const write = issueAndSwitch(target, run, record, now, value);
  const next = await target.store.apply(target.key, write.ops, { rotation: write.rotation, lastRotatedAt: isoTime(now), pendingEvents: announceDrafts(state, run, write.drafts) });
  await run.record(write.drafts);
  return write.result(next);
}

/** The record of a rotation this run starts now, to replace `currentId`. */
export function startRecord(run: RunInfo, now: Date, currentId: string): RotationRecord {
  const rotationId = newRotationId(now);
  const record = newRecord(run, now, { rotationId, phase: 'overlap', newVersionId: versionIdFor(rotationId), oldVersionId: currentId });
  record.fallbackWindowOverrideMs = run.fallbackWindowMs ?? null;
  return record;
}

/**
 * What the one write that issues `value` and switches to it carries: its ops, its drafts (issued,
 * switched), the rotation record after the switch, and the step's result. startRotation writes it
 * alone; decommission.ts adds a retirement before or after it.
 */
export function issueAndSwitch(target: Target, run: RunInfo, record: RotationRecord, now: Date, value: SecretValue | null) {
  const detail = { rotationId: record.rotationId, fromVersion: record.oldVersionId, toVersion: record.newVersionId, value };
  const ops: VersionOp[] = [
    { type: 'create', versionId: record.newVersionId, value, stage: 'PENDING' },
    { type: 'promote', versionId: record.newVersionId },
  ];
  return {
    ops,
    drafts: [evidenceDraft(target, run, 'issued', detail), evidenceDraft(target, run, 'switched', detail)],
    rotation: switchedRecord(target, record, now),
    result: (state: EntryState): StepResult => ({ action: 'rotate', outcome: 'rotated', fromVersion: record.oldVersionId, toVersion: record.newVersionId, rotationId: record.rotationId, state }),
  };
}

/**
 * Whether the overlap has steps of its own (deploy/verify hooks, added with hooks). Without them a
 * store that applies several version ops atomically can issue and switch in one write.
 */
export function hasOverlapWork(target: Target): boolean {
  const hooks = target.environment.deploy.length + target.environment.verify.length;
  return hooks > 0 || !target.store.capabilities?.atomicApply;
}

/** Continue an in-flight (or failed) rotation from wherever the store says it stopped. */
export async function resumeRotation(target: Target, state: EntryState, run: RunInfo): Promise<StepResult> {
  const record = requireRotation(target, state);
  // The rotation keeps the why of the run that started it (an emergency stays an emergency, its
  // ticket stays its ticket); the evidence also names this run as the one that resumed it.
  const resuming: RunInfo = { ...run, reason: record.reason, ticket: record.ticket, emergency: record.emergency, resumedBy: run.runId };
  const hasNew = state.versions.some((v) => v.id === record.newVersionId);
  const issued = hasNew ? state : await issue(target, state, resuming);
  const done = await finishOverlap(target, issued, resuming);
  return { ...done, action: 'resume', outcome: 'resumed' };
}

/**
 * Best effort after a failed step: an in-flight rotation is marked failed (status shows it, a rerun
 * resumes it); a failure before anything was written (e.g. the issuer failed) is only recorded.
 */
export async function markFailed(target: Target, run: RunInfo, error: unknown): Promise<void> {
  try {
    const state = await target.store.read(target.key);
    const rotation = state?.rotation;
    const inFlight = rotation && rotation.phase !== 'fallback' ? rotation : null;
    const draft = evidenceDraft(target, run, 'failed', {
      rotationId: inFlight?.rotationId ?? null,
      fromVersion: inFlight ? inFlight.oldVersionId : (currentVersion(state)?.id ?? null),
      toVersion: inFlight?.newVersionId ?? null,
      value: null,
    });
    draft.error = errorMessage(error);
    if (inFlight && state) {
      await target.store.apply(target.key, [], meta(state, { rotation: { ...inFlight, phase: 'failed', error: draft.error }, pendingEvents: announceDrafts(state, run, [draft]) }));
    }
    await run.record([draft]);
  } catch {
    // The store itself is failing; the rotation record already says overlap, which a rerun resumes.
  }
}

async function issue(target: Target, state: EntryState, run: RunInfo): Promise<EntryState> {
  const record = requireRotation(target, state);
  const value = await newValue(target, run);
  const draft = evidenceDraft(target, run, 'issued', { rotationId: record.rotationId, fromVersion: record.oldVersionId, toVersion: record.newVersionId, value });
  const next = await target.store.apply(
    target.key,
    [{ type: 'create', versionId: record.newVersionId, value, stage: 'PENDING' }],
    meta(state, { rotation: { ...record, phase: 'overlap', error: null }, pendingEvents: announceDrafts(state, run, [draft]) }),
  );
  await run.record([draft]);
  return next;
}

/** Overlap: both versions valid (deploy/verify hooks come here), then the switch. */
async function finishOverlap(target: Target, state: EntryState, run: RunInfo): Promise<Omit<StepResult, 'action' | 'outcome'>> {
  const record = requireRotation(target, state);
  const base = { fromVersion: record.oldVersionId, toVersion: record.newVersionId, rotationId: record.rotationId };
  if (record.phase === 'fallback') return { ...base, state };
  const value = await valueOf(target, record.newVersionId);
  const deployed = await runOverlapHooks(target, state, value, run, keyIds(state, record));
  const now = run.now();
  const draft = evidenceDraft(target, run, 'switched', { ...base, value });
  const next = await target.store.apply(target.key, [{ type: 'promote', versionId: record.newVersionId }], {
    rotation: switchedRecord(target, requireRotation(target, deployed), now),
    lastRotatedAt: isoTime(now),
    pendingEvents: announceDrafts(deployed, run, [draft]),
  });
  await run.record([draft]);
  return { ...base, state: next };
}

/** A rotation record that starts now, on behalf of this run. */
export function newRecord(run: RunInfo, now: Date, ids: Pick<RotationRecord, 'rotationId' | 'phase' | 'newVersionId' | 'oldVersionId'>): RotationRecord {
  // Field by field: on Node 20 an object literal that adds fields after a spread costs ~1 µs per
  // field (a runtime call each), the largest single item of a rotation's CPU (bench/issue-17.md).
  return {
    rotationId: ids.rotationId,
    phase: ids.phase,
    newVersionId: ids.newVersionId,
    oldVersionId: ids.oldVersionId,
    startedAt: isoTime(now),
    switchedAt: null,
    decommissionAfter: null,
    reason: run.reason,
    ticket: run.ticket,
    emergency: run.emergency,
    operator: run.operator,
    error: null,
  };
}

/** A new value, or none when the store makes its own key material (aws-kms). */
export function newValue(target: Target, run: RunInfo): Promise<SecretValue | null> {
  return target.store.capabilities?.valueless ? Promise.resolve(null) : run.generate(target);
}

export function valueOf(target: Target, versionId: string): Promise<SecretValue | null> {
  return target.store.capabilities?.valueless ? Promise.resolve(null) : target.store.readValue(target.key, versionId);
}

/** The store's ids of the rotation's keys, for hooks of stores whose keys never leave them. */
export function keyIds(state: EntryState, record: RotationRecord): KeyIds {
  const resource = (id: string | null) => (id ? (state.versions.find((v) => v.id === id)?.resourceId ?? null) : null);
  return { newKeyId: resource(record.newVersionId), oldKeyId: resource(record.oldVersionId) };
}

function switchedRecord(target: Target, record: RotationRecord, now: Date): RotationRecord {
  const windowMs = record.fallbackWindowOverrideMs ?? target.policy.fallbackWindowMs;
  // A copy, then its fields set (not a spread with fields after it: see newRecord).
  const switched = { ...record };
  switched.phase = 'fallback';
  switched.switchedAt = isoTime(now);
  switched.decommissionAfter = isoTime(new Date(now.getTime() + windowMs));
  switched.error = null;
  return switched;
}

export function requireRotation(target: Target, state: EntryState): RotationRecord {
  if (!state.rotation) throw new KeyshiftError('ERR_INTERNAL', `${target.key}: no rotation in progress`);
  return state.rotation;
}

export function meta(state: EntryState, change: Partial<EntryMeta>): EntryMeta {
  return { rotation: state.rotation, lastRotatedAt: state.lastRotatedAt, pendingEvents: state.pendingEvents, ...change };
}
