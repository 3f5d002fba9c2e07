import { usageError } from '../errors.js';
import type { EnvironmentPolicy, SecretPolicy } from '../policy/types.js';
import type { EntryState } from '../stores/contract.js';
import { StoreRegistry, storeId } from '../stores/registry.js';
import type { Target } from './context.js';
import { inShard, type Shard } from './shard.js';

export interface Selection {
  names: string[];
  all: boolean;
  envs: string[];
  /** `--shard k/n`: only the secrets whose name hashes to shard k (src/engine/shard.ts). */
  shard?: Shard;
}

/** Resolve names/--all/--env to targets, in policy order. Unknown names are a usage error (exit 2). */
export function selectPolicies(policies: SecretPolicy[], selection: Selection): SecretPolicy[] {
  const known = new Map(policies.map((p) => [p.name, p]));
  const unknown = selection.names.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw usageError(`unknown secret ${unknown.map((n) => `"${n}"`).join(', ')}`, `known secrets: ${[...known.keys()].join(', ') || '(none)'}`);
  }
  const named = selection.all || selection.names.length === 0 ? policies : selection.names.map((name) => known.get(name) as SecretPolicy);
  const chosen = named.filter((p) => inShard(p.name, selection.shard));
  if (selection.envs.length > 0) {
    const envNames = new Set(named.flatMap((p) => p.environments.map((e) => e.name)));
    const missing = selection.envs.filter((e) => !envNames.has(e));
    if (missing.length > 0) {
      throw usageError(`unknown environment ${missing.map((n) => `"${n}"`).join(', ')}`, `environments of the selected secrets: ${[...envNames].join(', ')}`);
    }
  }
  return chosen;
}

export async function targetsOf(policies: SecretPolicy[], envs: string[], stores: StoreRegistry): Promise<Target[]> {
  const targets: Target[] = [];
  // One string per store, not one per target: an id is built by concatenation, which V8 keeps as
  // a tree of its pieces (10,000 targets of one store held 1 MB of them).
  const ids = new Map<string, string>();
  for (const policy of policies) {
    for (const environment of policy.environments) {
      if (envs.length > 0 && !envs.includes(environment.name)) continue;
      const id = storeId(environment.store);
      if (!ids.has(id)) ids.set(id, id);
      targets.push({
        policy,
        environment,
        store: await stores.get(environment.store),
        storeId: ids.get(id) as string,
        key: environment.store.key,
      });
    }
  }
  return targets;
}

/** The environment before `target` in its policy and what its store holds now (for promotion order). */
export async function previousEnvironment(target: Target, stores: StoreRegistry): Promise<{ environment: EnvironmentPolicy; state: EntryState | null } | undefined> {
  const index = target.policy.environments.indexOf(target.environment);
  const environment = index > 0 ? target.policy.environments[index - 1] : undefined;
  if (!environment) return undefined;
  const store = await stores.get(environment.store);
  return { environment, state: await store.read(environment.store.key) };
}
