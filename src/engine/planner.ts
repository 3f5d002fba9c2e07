import type { EnvironmentPolicy, SecretPolicy } from '../policy/types.js';
import type { EntryState, RotationRecord } from '../stores/contract.js';
import { formatDuration } from '../policy/durations.js';
import { currentVersion, decommissionAt, nextDueAt, observeEndsAt, phaseOf } from './state.js';
import { isoTime } from '../util/iso-time.js';

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
  /** The environment before this one in the policy: a new rotation here waits for it. */
  previous?: PreviousEnvironment;
}

export interface PreviousEnvironment {
  environment: EnvironmentPolicy;
  state: EntryState | null;
  /** The plan switches it in this same run (so its bake time starts now). */
  switchesNow: boolean;
}

export function planTarget(input: PlanInput, options: PlanOptions): PlannedAction[] {
  const { policy, environment, state } = input;
  const now = options.now;
  const action = (kind: ActionKind, reason: string, at: Date = now): PlannedAction => ({
    secret: policy.name,
    environment: environment.name,
    action: kind,
    reason,
    at: isoTime(at),
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
      actions.push(action('decommission', windowEndedReason(windowEnds, rotation)));
    } else if (options.force) {
      actions.push(action('decommission', `forced: retire ${rotation.oldVersionId} before its fallback window ends (${isoTime(windowEnds)})`));
    } else {
      const kind = windowEnds.getTime() <= horizon ? 'decommission' : 'wait';
      return [action(kind, `fallback window: ${rotation.oldVersionId} stays valid until ${isoTime(windowEnds)}`, windowEnds)];
    }
  }

  const dueAt = nextDueAt(policy, state) ?? now;
  const gate = promotionGate(input.previous, now, options.force);
  if (gate && (options.force || dueAt <= now)) {
    actions.push(action('wait', gate.reason, gate.until));
    return actions;
  }
  if (options.force) actions.push(action('rotate', dueAt <= now ? `forced (due since ${isoTime(dueAt)})` : `forced (next due ${isoTime(dueAt)})`));
  else if (dueAt <= now) actions.push(action('rotate', `due since ${isoTime(dueAt)} (interval ${policy.interval})`));
  else if (actions.length > 0) return actions;
  else if (dueAt.getTime() <= horizon) actions.push(action('rotate', `due ${isoTime(dueAt)} (interval ${policy.interval})`, dueAt));
  else actions.push(action('none', `not due until ${isoTime(dueAt)}`, dueAt));
  return actions;
}

/** Why a decommission is due: its rotation's fallback window is over. */
export function windowEndedReason(windowEnds: Date, rotation: Pick<RotationRecord, 'oldVersionId' | 'error'>): string {
  const held = rotation.error ? `; last attempt ${rotation.error}` : '';
  return `fallback window ended ${isoTime(windowEnds)}: retire ${rotation.oldVersionId}${held}`;
}

/** True for actions `rotate` carries out in this run. */
export function isExecutable(action: PlannedAction, now: Date): boolean {
  return action.action !== 'wait' && action.action !== 'none' && new Date(action.at) <= now;
}

/**
 * Environments are promoted in policy order: a new rotation in one waits while the one before it
 * is mid-rotation, and for that one's `observe` bake time after its switch. A run never sleeps
 * through a bake time; a later run starts the next environment. Emergencies (--force) skip it.
 */
function promotionGate(previous: PreviousEnvironment | undefined, now: Date, force: boolean): { until: Date; reason: string } | null {
  if (!previous) return null;
  const name = previous.environment.name;
  const phase = phaseOf(previous.state);
  if (phase === 'overlap' || phase === 'failed') return { until: now, reason: `waiting for ${name} to finish its rotation` };
  if (force || previous.environment.observeMs === 0) return null;
  if (previous.switchesNow) {
    return { until: new Date(now.getTime() + previous.environment.observeMs), reason: `after ${name} switches, its observe time (${formatDuration(previous.environment.observeMs)}) must pass` };
  }
  const until = observeEndsAt(previous.environment, previous.state, now);
  return until ? { until, reason: `observing ${name} until ${isoTime(until)}` } : null;
}


/** Whether a plan switches its target in this run (so the next environment's bake time starts now). */
export function switchesNow(actions: PlannedAction[], now: Date): boolean {
  return actions.some((a) => (a.action === 'rotate' || a.action === 'resume') && isExecutable(a, now));
}
