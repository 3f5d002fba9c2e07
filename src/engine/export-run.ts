import { KeyshiftError, usageError } from '../errors.js';
import type { SecretPolicy } from '../policy/types.js';
import type { SecretValue } from '../secret-value.js';
import { StoreRegistry } from '../stores/registry.js';
import type { EngineContext } from './context.js';
import { selectPolicies, targetsOf } from './selection.js';
import { currentVersion, pendingVersion, previousVersion } from './state.js';

export interface ExportedValue {
  /** The environment variable: `exportAs`, plus `_PREVIOUS` / `_PENDING` for those versions. */
  name: string;
  secret: string;
  environment: string;
  value: SecretValue;
}

const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The variable a secret's CURRENT value is exported as (docs/cli.md#run). */
export function exportName(policy: SecretPolicy): string {
  return policy.exportAs ?? policy.name.toUpperCase().replaceAll('-', '_');
}

/**
 * `run` and `env`: each selected secret's CURRENT value, plus PREVIOUS while the store still holds
 * it (the fallback window, until decommission) and PENDING during the overlap, so an application
 * can accept both keys. Without `env`, a secret's first environment (like `get`). Reads only; every
 * value is read before anything is returned, so a missing one fails before a child starts.
 */
export async function exportRun(ctx: EngineContext, policies: SecretPolicy[], selection: { names: string[]; env?: string }): Promise<ExportedValue[]> {
  const chosen = selectPolicies(policies, { names: selection.names, all: selection.names.length === 0, envs: selection.env ? [selection.env] : [] });
  const stores = new StoreRegistry(ctx);
  try {
    const out: ExportedValue[] = [];
    for (const policy of chosen) {
      const base = exportName(policy);
      if (!VARIABLE.test(base)) {
        throw usageError(`secret "${policy.name}" has no valid variable name (${base})`, `set exportAs on it in ${policy.source.file}, e.g. exportAs: KEY_${base.replace(/[^A-Za-z0-9_]/g, '_')}`);
      }
      const environment = selection.env ?? policy.environments[0]?.name;
      const [target] = await targetsOf([policy], environment ? [environment] : [], stores);
      if (!target) {
        if (selection.names.length > 0) throw usageError(`secret "${policy.name}" has no environment "${environment}"`);
        continue; // `--env prod` over all secrets: the ones without prod are not part of it
      }
      const state = await target.store.read(target.key);
      const current = currentVersion(state);
      if (!current) {
        throw new KeyshiftError('ERR_NO_SUCH_STAGE', `${policy.name}/${target.environment.name} has no CURRENT version`, {
          hint: 'run `keyshift rotate` to provision it first; nothing was started',
        });
      }
      const versions = [
        { name: base, version: current },
        { name: `${base}_PREVIOUS`, version: previousVersion(state) },
        { name: `${base}_PENDING`, version: pendingVersion(state) },
      ];
      for (const { name, version } of versions) {
        if (!version) continue;
        const value = await target.store.readValue(target.key, version.id);
        out.push({ name, secret: policy.name, environment: target.environment.name, value });
      }
    }
    const seen = new Map<string, string>();
    for (const item of out) {
      const other = seen.get(item.name);
      if (other !== undefined) throw usageError(`secrets "${other}" and "${item.secret}" both export ${item.name}`, 'give one of them another exportAs in its policy');
      seen.set(item.name, item.secret);
    }
    return out;
  } finally {
    await stores.closeAll();
  }
}
