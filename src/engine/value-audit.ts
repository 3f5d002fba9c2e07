import { checkValue, type RuleFailure } from '../generators/value-checks.js';
import type { SecretPolicy } from '../policy/types.js';
import { StoreRegistry } from '../stores/registry.js';
import type { EngineContext } from './context.js';
import type { ErrorInfo } from './inspect.js';
import { rethrowUsage, toErrorInfo } from './rotate-result.js';
import { selectPolicies, targetsOf, type Selection } from './selection.js';
import { currentVersion } from './state.js';
import { heldValues } from './value-gate.js';

/**
 * `keyshift validate --values`: the CURRENT value of every secret that has `validate:` rules,
 * checked against them where it is stored, as an application's start-up validation would. Reads
 * only; the values never leave this function (a row says which rules failed, never the value).
 */

export interface ValueCheckRow {
  secret: string;
  environment: string;
  /** The CURRENT version checked; null when there is none or the store could not be read. */
  versionId: string | null;
  /** ok: passes every rule; rejected: fails one (see failed); missing: not provisioned yet; error: the store failed. */
  status: 'ok' | 'rejected' | 'missing' | 'error';
  failed: RuleFailure[];
  error: ErrorInfo | null;
}

export async function checkStoredValues(ctx: EngineContext, policies: SecretPolicy[], selection: Selection): Promise<ValueCheckRow[]> {
  const stores = new StoreRegistry(ctx);
  try {
    const rows: ValueCheckRow[] = [];
    const ruled = selectPolicies(policies, selection).filter((p) => p.validate !== null);
    for (const target of await targetsOf(ruled, selection.envs, stores)) {
      const row: ValueCheckRow = { secret: target.policy.name, environment: target.environment.name, versionId: null, status: 'missing', failed: [], error: null };
      rows.push(row);
      try {
        const state = await target.store.read(target.key);
        const current = currentVersion(state);
        if (!current) continue;
        row.versionId = current.id;
        const rules = target.policy.validate!;
        const value = await target.store.readValue(target.key, current.id);
        // forbidPrevious: CURRENT must differ from the other versions the store holds.
        const others = rules.forbidPrevious ? (await heldValues(target, state)).filter((h) => h.versionId !== current.id) : [];
        row.failed = checkValue(value, rules, () => others.map((h) => h.value));
        row.status = row.failed.length > 0 ? 'rejected' : 'ok';
      } catch (error) {
        // One store that cannot be read is one row; every other value is still checked.
        rethrowUsage(error);
        const info = toErrorInfo(error);
        row.status = 'error';
        row.error = { ...info, hint: info.hint ?? `fix the store ${target.store.location} and rerun` };
      }
    }
    return rows;
  } finally {
    await stores.closeAll();
  }
}
