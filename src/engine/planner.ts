import type { EnvironmentPolicy, SecretPolicy } from '../policy/types.js';
import type { EntryState } from '../stores/contract.js';
import { currentVersion, decommissionAt, nextDueAt, phaseOf } from './state.js';

/**
 * The pure planner: policies + store states + clock in, actions out. `plan`, `rotate --dry-run` and
 * `rotate` all call it; `rotate` calls it again per secret under the store lock, on fresh state.
 */

export type ActionKind = 'provision' | 'rotate' | 'resume' | 'decommission' | 'wait' | 'none';

export interface PlannedAction {
  secret: string;
  environment: string;
  action: ActionKind;
  reason: string;
  /** ISO time: now for work `rotate` would do now, later for work inside the plan's horizon. */
  at: string;
}

export interface PlanOptions {
  now: Date;
  force: boolean;
  /** Also show work that becomes due within this many ms (plan --horizon). */
  horizonMs: number;
}

export interface PlanInput {
  policy: SecretPolicy;
  environment: EnvironmentPolicy;
  state: EntryState | null;
}

export function planTarget(input: PlanInput, options: PlanOptions): PlannedAction[] {
  const { policy, environment, state } = input;
  const now = options.now;
  const action = (kind: ActionKind, reason: string, at: Date = now): PlannedAction => ({
    secret: policy.name,
    environment: environment.name,
    action: kind,
    reason,
    at: at.toISOString(),
  });
  const horizon = now.getTime() + options.horizonMs;
  const rotation = state?.rotation ?? null;

  if (!currentVersion(state)) return [action('provision', 'not provisioned yet: the first version becomes CURRENT')];

  if (rotation && (rotation.phase === 'overlap' || rotation.phase === 'failed')) {
    const why = rotation.phase === 'failed' ? `failed (${rotation.error ?? 'unknown error'})` : 'in flight';
    return [action('resume', `rotation ${rotation.rotationId} ${why} since ${rotation.startedAt}: resume it`)];
  }

  const actions: PlannedAction[] = [];
  if (phaseOf(state) === 'fallback' && rotation) {
    const windowEnds = decommissionAt(policy, rotation) ?? now;
    if (windowEnds <= now) {
      actions.push(action('decommission', `fallback window ended ${windowEnds.toISOString()}: retire ${rotation.oldVersionId}`));
    } else if (options.force) {
      actions.push(action('decommission', `forced: retire ${rotation.oldVersionId} before its fallback window ends (${windowEnds.toISOString()})`));
    } else {
      const kind = windowEnds.getTime() <= horizon ? 'decommission' : 'wait';
      return [action(kind, `fallback window: ${rotation.oldVersionId} stays valid until ${windowEnds.toISOString()}`, windowEnds)];
    }
  }

  const dueAt = nextDueAt(policy, state) ?? now;
  if (options.force) actions.push(action('rotate', dueAt <= now ? `forced (due since ${dueAt.toISOString()})` : `forced (next due ${dueAt.toISOString()})`));
  else if (dueAt <= now) actions.push(action('rotate', `due since ${dueAt.toISOString()} (interval ${policy.interval})`));
  else if (actions.length > 0) return actions;
  else if (dueAt.getTime() <= horizon) actions.push(action('rotate', `due ${dueAt.toISOString()} (interval ${policy.interval})`, dueAt));
  else actions.push(action('none', `not due until ${dueAt.toISOString()}`, dueAt));
  return actions;
}

/** True for actions `rotate` carries out in this run. */
export function isExecutable(action: PlannedAction, now: Date): boolean {
  return action.action !== 'wait' && action.action !== 'none' && new Date(action.at) <= now;
}
