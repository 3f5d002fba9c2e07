import { KeyshiftError } from '../errors.js';
import type { HookSpec } from '../policy/types.js';
import type { SecretValue } from '../secret-value.js';
import type { EntryState, RotationRecord } from '../stores/contract.js';
import type { HookPhase, HookResult } from '../hooks/run-hook.js';
import type { Target } from './context.js';
import type { RunInfo } from './steps.js';
import { announceDrafts, evidenceDraft } from './evidence-drafts.js';

/** The store's ids of the new and old keys (aws-kms), for hooks that get no value. */
export interface KeyIds {
  newKeyId: string | null;
  oldKeyId: string | null;
}

/** What evidence records about each hook that ran (`checks`); never its output. */
export interface HookCheck {
  hook: string;
  phase: HookPhase;
  ok: boolean;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
}

/** A deploy or verify hook failed: the caller rolls the environment back. */
export class HookFailedError extends KeyshiftError {
  constructor(readonly result: HookResult, readonly checks: HookCheck[]) {
    super('ERR_HOOK_FAILED', result.error ?? `${result.label} failed`, {
      hint: 'see the hook output in the logs (--log-level info); fix it and rerun keyshift rotate',
    });
  }
}

/**
 * The overlap of one environment: deploy hooks, then verify hooks, with the new value. Progress is
 * written to the rotation record after each hook, so a run killed during a hook resumes at that
 * hook (hooks must be idempotent: the one that was running runs again).
 */
export async function runOverlapHooks(target: Target, state: EntryState, value: SecretValue | null, run: RunInfo, keys: KeyIds): Promise<EntryState> {
  const { deploy, verify } = target.environment;
  const hooks: Array<{ hook: HookSpec; phase: HookPhase }> = [
    ...deploy.map((hook) => ({ hook, phase: 'deploy' as const })),
    ...verify.map((hook) => ({ hook, phase: 'verify' as const })),
  ];
  let current = state;
  const checks: HookCheck[] = [];
  for (let index = (current.rotation?.hooksDone ?? 0); index < hooks.length; index++) {
    const record = current.rotation as RotationRecord;
    const { hook, phase } = hooks[index] as { hook: HookSpec; phase: HookPhase };
    const result = await run.runHook(hook, { secret: target.policy.name, environment: target.environment.name, phase, rotationId: record.rotationId, newVersion: record.newVersionId, oldVersion: record.oldVersionId, value, ...keys });
    checks.push(toCheck(result, phase));
    if (!result.ok) throw new HookFailedError(result, checks);
    const done = index + 1;
    const base = { rotationId: record.rotationId, fromVersion: record.oldVersionId, toVersion: record.newVersionId, value, checks: checks.filter((c) => c.phase === phase) };
    const drafts =
      done === deploy.length && phase === 'deploy'
        ? [evidenceDraft(target, run, 'deployed', base)]
        : done === hooks.length && phase === 'verify'
          ? [evidenceDraft(target, run, 'verified', base)]
          : [];
    current = await target.store.apply(target.key, [], {
      rotation: { ...record, hooksDone: done },
      lastRotatedAt: current.lastRotatedAt,
      pendingEvents: announceDrafts(current, run, drafts),
    });
    if (drafts.length > 0) await run.record(drafts);
  }
  return current;
}

/** Deploy hooks again with the old value (KEYSHIFT_PHASE=rollback); failures are reported, not thrown. */
export async function runRollbackHooks(target: Target, record: RotationRecord, oldValue: SecretValue | null, run: RunInfo, keys: KeyIds): Promise<HookCheck[]> {
  const checks: HookCheck[] = [];
  for (const hook of target.environment.deploy) {
    const result = await run.runHook(hook, {
      secret: target.policy.name,
      environment: target.environment.name,
      phase: 'rollback',
      rotationId: record.rotationId,
      newVersion: record.newVersionId,
      oldVersion: record.oldVersionId,
      value: oldValue,
      ...keys,
    });
    checks.push(toCheck(result, 'rollback'));
  }
  return checks;
}

export function toCheck(result: HookResult, phase: HookPhase): HookCheck {
  return { hook: result.label, phase, ok: result.ok, exitCode: result.exitCode, signal: result.signal, timedOut: result.timedOut, durationMs: result.durationMs };
}
