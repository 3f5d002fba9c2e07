import { KeyshiftError } from '../errors.js';
import { checkValue, type RuleFailure } from '../generators/value-checks.js';
import type { SecretValue } from '../secret-value.js';
import type { EntryState } from '../stores/contract.js';
import { targetLabel, type Target } from './context.js';

/**
 * The gate between a generator and the store: a new value that fails the secret's `validate:` rules
 * is never stored. The rotation fails with ERR_VALUE_REJECTED naming the rules (never the value);
 * nothing was written, so a rerun draws a new value.
 */
export async function acceptNewValue(target: Target, value: SecretValue): Promise<SecretValue> {
  const rules = target.policy.validate;
  if (!rules) return value;
  const held = rules.forbidPrevious ? await heldValues(target, await target.store.read(target.key)) : [];
  const failures = checkValue(value, rules, () => held.map((h) => h.value));
  if (failures.length === 0) return value;
  const command = target.policy.generator?.type === 'command';
  throw new KeyshiftError('ERR_VALUE_REJECTED', `${targetLabel(target)}: the new value fails ${describeFailures(failures)}; nothing was stored`, {
    hint: command
      ? 'fix what the generator command prints (run it by hand) or change the rule in validate:, then rerun keyshift rotate'
      : 'rerun keyshift rotate to draw a new value, or loosen the rule in validate: (docs/policies.md#value-checks)',
  });
}

/** Every value the store holds for the entry (CURRENT, PREVIOUS, PENDING), with its version id. */
export async function heldValues(target: Target, state: EntryState | null): Promise<Array<{ versionId: string; value: SecretValue }>> {
  const held = [];
  for (const version of state?.versions ?? []) held.push({ versionId: version.id, value: await target.store.readValue(target.key, version.id) });
  return held;
}

/** `validate.minLength (at least 32 characters) and validate.pattern (…)` */
export function describeFailures(failures: RuleFailure[]): string {
  return failures.map((f) => `validate.${f.rule} (${f.requirement})`).join(' and ');
}
