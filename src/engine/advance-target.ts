import { asDiskError } from '../disk-errors.js';
import { errorMessage, ExitCode, KeyshiftError } from '../errors.js';
import { StoreRegistry } from '../stores/registry.js';
import type { EntryState } from '../stores/contract.js';
import type { EngineContext, Target } from './context.js';
import { targetLabel } from './context.js';
import { HookFailedError } from './overlap-hooks.js';
import { isExecutable, planTarget, type PlannedAction } from './planner.js';
import { outcomeOnly, toErrorInfo, type RotateResult } from './rotate-result.js';
import { previousEnvironment } from './selection.js';
import { currentVersion } from './state.js';
import { markFailed, provision, resumeRotation, startRotation, type RunInfo, type StepResult } from './steps.js';
import { rollback } from './rollback-steps.js';
import { decommission, decommissionAndRotate, joinsRotation, rotateAndRetire } from './decommission.js';

/** One target as `rotate` advances it; `doctor --fix` resumes a stuck rotation through it too. */
export async function advanceTarget(target: Target, run: RunInfo, force: boolean, stores: StoreRegistry, log: EngineContext['logger']): Promise<RotateResult[]> {
  const results: RotateResult[] = [];
  let state = await target.store.read(target.key);
  const now = run.now();
  const read = await previousEnvironment(target, stores);
  const previous = read ? { ...read, switchesNow: false } : undefined;
  const actions = planTarget({ policy: target.policy, environment: target.environment, state, previous }, { now, force, horizonMs: 0 });
  if (log.enabled?.('debug') !== false) log.debug({ target: targetLabel(target), store: target.store.location, actions: actions.map((a) => `${a.action}: ${a.reason}`) }, 'planned');
  for (let index = 0; index < actions.length; index++) {
    const action = actions[index] as PlannedAction;
    if (!isExecutable(action, run.now())) {
      results.push(outcomeOnly(target, action.action, 'skipped', { reason: action.reason }));
      continue;
    }
    try {
      // Steps with nothing to run between them are one store write where the store allows it: a
      // decommission and the rotation after it, a rotation and (fallback window 0) its decommission.
      const following = actions[index + 1];
      const joins = joinsRotation(target);
      const joined =
        joins && action.action === 'decommission' && following?.action === 'rotate' && isExecutable(following, run.now())
          ? await decommissionAndRotate(target, state as EntryState, run)
          : joins && action.action === 'rotate'
            ? await rotateAndRetire(target, state as EntryState, run)
            : null;
      const steps = joined ?? [
        action.action === 'provision'
          ? await provision(target, run)
          : action.action === 'resume'
            ? await resumeRotation(target, state as EntryState, run)
            : action.action === 'decommission'
              ? await decommission(target, state as EntryState, run)
              : await startRotation(target, state as EntryState, run),
      ];
      for (const [i, step] of steps.entries()) {
        // A joined step the plan listed is the next action; one it did not (rotateAndRetire's
        // decommission) carries its own reason.
        if (i > 0 && step.reason === undefined) index += 1;
        const done = actions[index] as PlannedAction;
        state = step.state;
        log.info({ secret: target.policy.name, environment: target.environment.name, action: step.action, rotationId: step.rotationId }, step.outcome);
        results.push({
          secret: target.policy.name,
          environment: target.environment.name,
          action: step.reason === undefined ? done.action : step.action,
          outcome: step.outcome,
          fromVersion: step.fromVersion,
          toVersion: step.toVersion,
          rotationId: step.rotationId,
          reason: step.reason ?? done.reason,
        });
      }
      const step = steps[steps.length - 1] as StepResult;
      // A fallback window of 0 (an emergency) ends at the switch: retire the old version now.
      if ((step.outcome === 'rotated' || step.outcome === 'resumed') && index === actions.length - 1) {
        const at = run.now();
        const follow = planTarget({ policy: target.policy, environment: target.environment, state }, { now: at, force: false, horizonMs: 0 }).find((a) => a.action === 'decommission' && isExecutable(a, at));
        if (follow) actions.push(follow);
      }
    } catch (error) {
      if (error instanceof KeyshiftError && error.exitCode === ExitCode.blocked) {
        // The store refused before anything changed (e.g. a rotation Lambda owns the secret).
        log.warn({ target: targetLabel(target), action: action.action, err: error.message }, 'blocked');
        results.push(outcomeOnly(target, action.action, 'blocked', { error: toErrorInfo(error) }));
        break;
      }
      const rollBack = error instanceof HookFailedError && action.action !== 'decommission' ? () => rollBackAfterHookFailure(target, run, error) : undefined;
      results.push(await failedStep(target, run, action.action, error, state, log, rollBack));
      break;
    }
  }
  return results;
}

/**
 * The result of a step that failed (its write refused or never made durable, a hook failed), after
 * `rollBack` where a hook failure puts the old version back, else a `failed` record saying why. It
 * names what the store holds now: a rotation that had started (a rerun resumes it under that id),
 * or, when it failed before it started (a rejected value), the CURRENT it would have replaced, as
 * its `failed` evidence record does.
 */
export async function failedStep(
  target: Target,
  run: RunInfo,
  action: RotateResult['action'],
  error: unknown,
  known: EntryState | null,
  log: EngineContext['logger'],
  rollBack?: () => Promise<string | null>,
): Promise<RotateResult> {
  log.error({ target: targetLabel(target), action, err: errorMessage(error) }, 'step failed');
  const after = await target.store.read(target.key).catch(() => known);
  const started = after?.rotation ?? null;
  const versions = started
    ? { rotationId: started.rotationId, fromVersion: started.oldVersionId, toVersion: started.newVersionId }
    : { fromVersion: currentVersion(after)?.id ?? null };
  const rolledBack = (await rollBack?.()) ?? null;
  if (!rolledBack) await markFailed(target, run, error);
  return outcomeOnly(target, action, 'failed', { ...versions, error: toErrorInfo(asDiskError(error, target.store.location)), ...(rolledBack ? { reason: rolledBack } : {}) });
}

/** A deploy or verify hook failed: put the environment back on the old version. Returns what happened. */
async function rollBackAfterHookFailure(target: Target, run: RunInfo, failure: HookFailedError): Promise<string | null> {
  try {
    const state = await target.store.read(target.key);
    if (!state?.rotation) return null;
    const step = await rollback(target, state, run, failure);
    const hooks = step.rollbackHooksFailed ?? [];
    return `rolled back: ${step.toVersion} is CURRENT again${hooks.length > 0 ? `; rollback hook(s) failed: ${hooks.join(', ')}` : ''}`;
  } catch (error) {
    run.warn?.(`${targetLabel(target)}: rollback after the failed hook did not complete (${errorMessage(error)}); a rerun resumes the rotation`);
    return null;
  }
}
