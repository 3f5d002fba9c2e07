import type { z } from 'zod';
import { ruleFields, type SecretEntry, type SecretPositions } from './cross-checks.js';
import { explainIssue } from './issue-messages.js';
import { normaliseSecret } from './normalise.js';
import { policyFileShapeSchema, secretSchema } from './schema.js';
import type { PolicyProblem, SecretPolicy, SourcePosition } from './types.js';
import { keyPosition, valuePosition, type DataPath, type PolicySource } from './yaml-positions.js';

/**
 * Schema problems of one parsed file, and its secrets (valid or not) for the run-wide rules.
 * The file level and each secret are validated separately, so every secret is parsed by zod once
 * and its result is used both for its problems and for its policy.
 */
export function validateFile(
  source: PolicySource,
  data: Record<string, unknown>,
  cwd: string,
  errors: PolicyProblem[],
): SecretEntry[] {
  const shape = policyFileShapeSchema.safeParse(data);
  if (!shape.success) reportIssues(source, shape.error.issues, data, [], errors);
  const items = Array.isArray(data.secrets) ? (data.secrets as unknown[]) : [];
  return items.map((raw, index) => validateSecret(source, raw, index, cwd, errors));
}

/**
 * One item of `secrets:` (at `index` in its file). Everything that needs the YAML document is
 * done here, so the entry keeps no reference to it.
 */
export function validateSecret(
  source: PolicySource,
  raw: unknown,
  index: number,
  cwd: string,
  errors: PolicyProblem[],
): SecretEntry {
  const base = ['secrets', index];
  const at = (path: DataPath): SourcePosition => ({ file: source.file, ...valuePosition(source, [...base, ...path]) });
  const parsed = secretSchema.safeParse(raw);
  let policy: SecretPolicy | null = null;
  if (parsed.success) {
    const { environments: envs, revoke, decommissionCheck } = parsed.data;
    const hooks = (env: number, list: 'deploy' | 'verify', count: number) =>
      Array.from({ length: count }, (_, item) => at(['environments', env, list, item]));
    policy = normaliseSecret(
      parsed.data,
      {
        secret: at([]),
        environments: envs.map((_, env) => at(['environments', env])),
        deploy: envs.map((environment, env) => hooks(env, 'deploy', environment.deploy?.length ?? 0)),
        verify: envs.map((environment, env) => hooks(env, 'verify', environment.verify?.length ?? 0)),
        revoke: (revoke ?? []).map((_, item) => at(['revoke', item])),
        decommissionCheck: (decommissionCheck ?? []).map((_, item) => at(['decommissionCheck', item])),
      },
      cwd,
    );
  } else {
    reportIssues(source, parsed.error.issues, raw, base, errors);
  }
  const fields = ruleFields(raw);
  return { file: source.file, index, ...fields, policy, at: rulePositions(source, base, fields.environmentNames) };
}

/** Where the run-wide rules may point for this secret (see crossCheckSecrets). */
function rulePositions(source: PolicySource, base: DataPath, environmentNames: unknown[] | null): SecretPositions {
  const at = (path: DataPath) => valuePosition(source, [...base, ...path]);
  return {
    name: at(['name']),
    fallbackWindow: at(['fallbackWindow']),
    master: at(['generator', 'master', 'secret']),
    environments: (environmentNames ?? []).map((_, env) => ({
      name: at(['environments', env, 'name']),
      store: at(['environments', env, 'store']),
    })),
  };
}

/** `data` is the value the issues were raised on, `base` its path in the file. */
function reportIssues(
  source: PolicySource,
  issues: readonly z.core.$ZodIssue[],
  data: unknown,
  base: DataPath,
  errors: PolicyProblem[],
): void {
  for (const issue of issues) {
    for (const explained of explainIssue(issue, data, base)) {
      const at = explained.at === 'key' ? keyPosition(source, explained.path) : valuePosition(source, explained.path);
      errors.push({ file: source.file, ...at, message: explained.message });
    }
  }
}
