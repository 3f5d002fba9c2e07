import type { SecretPolicy } from '../policy/types.js';
import { StoreRegistry } from '../stores/registry.js';
import type { EngineContext } from './context.js';
import { planTarget, type PlannedAction } from './planner.js';
import { selectPolicies, targetsOf, type Selection } from './selection.js';

/** Read every selected target's state (no lock, no writes) and plan. Used by `plan` and `--dry-run`. */
export async function planRun(ctx: EngineContext, policies: SecretPolicy[], options: Selection & { force: boolean; horizonMs: number }): Promise<PlannedAction[]> {
  const stores = new StoreRegistry(ctx.env);
  try {
    const targets = await targetsOf(selectPolicies(policies, options), options.envs, stores);
    const now = ctx.now();
    const planned: PlannedAction[] = [];
    for (const target of targets) {
      const state = await target.store.read(target.key);
      planned.push(...planTarget({ policy: target.policy, environment: target.environment, state }, { now, force: options.force, horizonMs: options.horizonMs }));
    }
    return planned;
  } finally {
    await stores.closeAll();
  }
}
