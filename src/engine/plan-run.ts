import type { SecretPolicy } from '../policy/types.js';
import { StoreRegistry } from '../stores/registry.js';
import type { EngineContext } from './context.js';
import { planTarget, switchesNow, type PlannedAction, type PreviousEnvironment } from './planner.js';
import type { Target } from './context.js';
import { rethrowUsage, toErrorInfo } from './rotate-result.js';
import { requireTickets } from './ticket-gate.js';
import { previousEnvironment, selectPolicies, targetsOf, type Selection } from './selection.js';
import { isoTime } from '../util/iso-time.js';

/** A planned action, or `error` for a target whose store could not be read (with the reason). */
export type PlanRow = Omit<PlannedAction, 'action'> & { action: PlannedAction['action'] | 'error'; error?: { code: string; message: string; hint?: string } };

export interface PlanRunOptions extends Selection {
  force: boolean;
  horizonMs: number;
  /** `rotate --dry-run` without --ticket: refuse as the real run would (exit 3). */
  ticketGate?: boolean;
}

/** Read every selected target's state (no lock, no writes) and plan. Used by `plan` and `--dry-run`. */
export async function planRun(ctx: EngineContext, policies: SecretPolicy[], options: PlanRunOptions): Promise<PlanRow[]> {
  const stores = new StoreRegistry(ctx);
  try {
    const targets = await targetsOf(selectPolicies(policies, options), options.envs, stores);
    const now = ctx.now();
    if (options.ticketGate) await requireTickets(targets, { now, force: options.force, horizonMs: 0 });
    const planned: PlanRow[] = [];
    const previous = new Map<string, PreviousEnvironment>();
    for (const target of targets) {
      let state;
      let actions;
      try {
        state = await target.store.read(target.key);
        actions = planTarget(
          { policy: target.policy, environment: target.environment, state, previous: await previousOf(target, previous, stores) },
          { now, force: options.force, horizonMs: options.horizonMs },
        );
      } catch (error) {
        // One store that cannot be read is one `error` row; every other target is still planned.
        rethrowUsage(error);
        const info = toErrorInfo(error);
        planned.push({ secret: target.policy.name, environment: target.environment.name, action: 'error', reason: info.message, at: isoTime(now), error: info });
        previous.delete(target.policy.name);
        continue;
      }
      planned.push(...actions);
      previous.set(target.policy.name, { environment: target.environment, state, switchesNow: switchesNow(actions, now) });
    }
    return planned;
  } finally {
    await stores.closeAll();
  }
}

/** The environment just before `target`: as planned in this run, else as its store holds it (--env). */
async function previousOf(target: Target, planned: Map<string, PreviousEnvironment>, stores: StoreRegistry): Promise<PreviousEnvironment | undefined> {
  const index = target.policy.environments.indexOf(target.environment);
  const entry = planned.get(target.policy.name);
  if (index > 0 && entry?.environment === target.policy.environments[index - 1]) return entry;
  const read = await previousEnvironment(target, stores);
  return read ? { ...read, switchesNow: false } : undefined;
}
