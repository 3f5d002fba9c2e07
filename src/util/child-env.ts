/**
 * The environment of the programs keyshift starts for a policy (hooks, `command` generators).
 * They get a short allowlist of keyshift's environment, the variables their policy passes through
 * or sets (`env:`), and never keyshift's own keys, whatever the policy says (docs/hooks.md).
 */

/** keyshift's keys: never in a child's environment (the policy schema refuses them too). */
export const KEYSHIFT_KEYS = ['KEYSHIFT_MASTER_KEY', 'KEYSHIFT_FINGERPRINT_KEY', 'KEYSHIFT_SIGNING_KEY'] as const;
/** keyshift sets KEYSHIFT_* variables of a child itself; none is inherited or set by a policy. */
export const RESERVED_ENV_PREFIX = 'KEYSHIFT_';

/** What every child inherits: what a shell, a locale and a temp file need, and nothing secret. */
export const INHERITED_VARIABLES = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR'] as const;
const INHERITED_PREFIXES = ['LC_'];

export interface ChildEnvSpec {
  /** Variables set to these values. */
  env?: Record<string, string>;
  /** Names (or `PREFIX*` patterns) passed through from keyshift's environment. */
  passEnv?: readonly string[];
}

export function childEnvironment(parent: NodeJS.ProcessEnv, spec: ChildEnvSpec): NodeJS.ProcessEnv {
  const pass = spec.passEnv ?? [];
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value !== undefined && (isInherited(name) || pass.some((pattern) => matches(pattern, name)))) env[name] = value;
  }
  Object.assign(env, spec.env ?? {});
  for (const name of Object.keys(env)) if (name.startsWith(RESERVED_ENV_PREFIX)) delete env[name];
  return env;
}

/** `AWS_*` matches every name that starts with `AWS_`; anything else matches itself only. */
export function matches(pattern: string, name: string): boolean {
  return pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}

function isInherited(name: string): boolean {
  return (INHERITED_VARIABLES as readonly string[]).includes(name) || INHERITED_PREFIXES.some((prefix) => name.startsWith(prefix));
}
