import { z } from 'zod';
import { INHERITED_VARIABLES, KEYSHIFT_KEYS, RESERVED_ENV_PREFIX } from '../util/child-env.js';
import { isHttpUrl, strict, timeoutSchema, wholeNumber } from './schema-common.js';

/**
 * The hooks section of the policy schema (docs/policies.md#hooks). `run` is argv (no shell) or one
 * shell line; an http verify hook is a separate form of the same object so that errors name the
 * actual conflict (like random generators); the JSON Schema gets the same rule as `oneOf`.
 * `env` (hooks and command generators) says what a child gets of keyshift's environment.
 */

export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const HTTP_METHODS = ['GET', 'HEAD', 'POST'] as const;

const RUN_EXAMPLE = 'e.g. run: [kubectl, rollout, restart, deployment/api] or run: ./deploy.sh';

// Checked by hand rather than as a zod union, so each wrong form gets its own message (a union
// only says that nothing matched); the JSON Schema gets the two forms as `anyOf`.
const runSchema = z
  .custom<string[] | string>(() => true)
  .check(checkRun)
  .meta({
    description: 'The command: a list (argv, no shell) or a string (a shell line, run with /bin/sh -c).',
    anyOf: [
      { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, description: 'Program and arguments, run without a shell.' },
      { type: 'string', minLength: 1, description: 'One shell line, run with /bin/sh -c.' },
    ],
  });

/** `env:` as written: a list of names to pass through (`NAME=value` sets one) or a map (a null value passes through). */
export type ChildEnvInput = string[] | Record<string, string | null>;

const ENV_EXAMPLE = 'e.g. env: [KUBECONFIG, AWS_PROFILE] or env: [AWS_*] or env: { NAMESPACE: payments }';

export const childEnvSchema = z
  .custom<ChildEnvInput>(() => true)
  .check(checkEnv)
  .meta({
    description:
      `What the command gets of keyshift's environment besides ${[...INHERITED_VARIABLES, 'LC_*'].join(', ')}: ` +
      `a list of variables to pass through (NAME, or PREFIX* for every NAME starting with PREFIX; NAME=value sets one), or a map of variables to set ` +
      `(a name without a value passes keyshift's through). Never ${RESERVED_ENV_PREFIX}*: keyshift sets those itself and never passes its keys.`,
    anyOf: [
      { type: 'array', items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*(\\*|=.*)?$', not: { pattern: `^${RESERVED_ENV_PREFIX}` } } },
      {
        type: 'object',
        propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*\\*?$', not: { pattern: `^${RESERVED_ENV_PREFIX}` } },
        additionalProperties: { type: ['string', 'null'] },
      },
    ],
  });

/** The normalised form of `env:`: values to set, names and patterns to pass through. */
export function splitChildEnv(input: ChildEnvInput | undefined): { env: Record<string, string>; passEnv: string[] } {
  const env: Record<string, string> = {};
  const passEnv: string[] = [];
  const entries: Array<[string, string | null]> = Array.isArray(input)
    ? input.map((item) => (item.includes('=') ? [item.slice(0, item.indexOf('=')), item.slice(item.indexOf('=') + 1)] : [item, null]))
    : Object.entries(input ?? {});
  for (const [name, value] of entries) {
    if (value === null) passEnv.push(name);
    else env[name] = value;
  }
  return { env, passEnv };
}

const commandHookShape = {
  run: runSchema.optional(),
  timeout: timeoutSchema('5m', 'How long the command may run (default 5m, at most 24h).').optional(),
  env: childEnvSchema.optional(),
  cwd: z
    .string()
    .min(1, { error: 'must not be empty; leave it out to run where keyshift runs, or e.g. cwd: deploy' })
    .optional()
    .meta({ description: 'Working directory; a relative path resolves against the directory keyshift runs in.' }),
};

const httpCheckSchema = strict({
  url: z
    .string()
    .refine(isHttpUrl, { error: 'must be an absolute http:// or https:// URL, e.g. https://api.example.com/healthz' })
    .meta({ description: 'The URL to call (http or https). The secret is never sent.', pattern: '^[hH][tT][tT][pP][sS]?://' }),
  method: z
    .enum(HTTP_METHODS, { error: `must be one of ${HTTP_METHODS.join(', ')}` })
    .optional()
    .meta({ description: 'HTTP method (default GET).', default: 'GET' }),
  expectStatus: wholeNumber(100, 599, 'The status the check expects (default 200).').optional(),
  timeout: timeoutSchema('30s', 'How long the request may take (default 30s, at most 24h).').optional(),
}).meta({ description: 'Call a URL and expect a status.' });

export const commandHookSchema = strict(commandHookShape)
  .check((ctx) => {
    if (ctx.value.run === undefined) {
      ctx.issues.push({ code: 'custom', input: ctx.value, path: ['run'], message: `missing; a hook needs run, ${RUN_EXAMPLE}` });
    }
  })
  .meta({ description: 'A command: argv (no shell) or one shell line.', required: ['run'] });

export const verifyHookSchema = strict({ ...commandHookShape, http: httpCheckSchema.optional() })
  .check(exclusiveVerifyForms)
  .meta({
    description: 'A check after deploy: a command (exit 0 = healthy) or an http call.',
    oneOf: [
      { required: ['run'], not: { required: ['http'] } },
      {
        required: ['http'],
        not: { anyOf: [{ required: ['run'] }, { required: ['timeout'] }, { required: ['env'] }, { required: ['cwd'] }] },
      },
    ],
  });

export const hookList = <Item extends z.ZodType>(item: Item, description: string) =>
  z.array(item, { error: 'must be a list of hooks, e.g. - run: [./deploy.sh]' }).optional().meta({ description });

function checkRun(ctx: z.core.ParsePayload<unknown>): void {
  const value = ctx.value;
  const fail = (path: number[], message: string) => ctx.issues.push({ code: 'custom', input: value, path, message });
  if (typeof value === 'string') {
    if (value.trim() === '') fail([], `is empty; give a command, ${RUN_EXAMPLE}`);
  } else if (Array.isArray(value)) {
    if (value.length === 0) fail([], 'is an empty list; give at least the program, e.g. run: [kubectl, rollout, restart, deployment/api]');
    value.forEach((word, index) => {
      if (typeof word !== 'string') fail([index], 'must be a string; quote numbers and booleans, e.g. "8080"');
      else if (word === '') fail([index], 'must not be an empty string');
    });
  } else if (value !== undefined) {
    fail([], `must be a list (argv, run without a shell) or a string (a shell line, run with /bin/sh -c); ${RUN_EXAMPLE}`);
  }
}

type VerifyInput = { run?: unknown; timeout?: unknown; env?: unknown; cwd?: unknown; http?: unknown };

function exclusiveVerifyForms(ctx: z.core.ParsePayload<VerifyInput>): void {
  const value = ctx.value;
  const fail = (path: string[], message: string) => ctx.issues.push({ code: 'custom', input: value, path, message });
  if (value.run !== undefined && value.http !== undefined) {
    fail([], 'a verify hook needs either run or http, not both; split it into two hooks');
  } else if (value.run === undefined && value.http === undefined) {
    fail([], `a verify hook needs either run or http; ${RUN_EXAMPLE}, or http: { url: https://api.example.com/healthz }`);
  } else if (value.http !== undefined) {
    for (const key of ['timeout', 'env', 'cwd'] as const) {
      if (value[key] === undefined) continue;
      const hint = key === 'timeout' ? 'put it inside http (http: { url: ..., timeout: 10s })' : 'remove it';
      fail([key], `applies only to run hooks; ${hint}`);
    }
  }
}

function checkEnv(ctx: z.core.ParsePayload<unknown>): void {
  const value = ctx.value;
  const fail = (path: Array<string | number>, message: string) => ctx.issues.push({ code: 'custom', input: value, path, message });
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      if (typeof item !== 'string') return fail([index], `must be a variable name, e.g. KUBECONFIG`);
      const equals = item.indexOf('=');
      const problem = equals === -1 ? nameProblem(item, true) : nameProblem(item.slice(0, equals), false);
      if (problem) fail([index], problem);
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [name, setting] of Object.entries(value)) {
      const problem = nameProblem(name, setting === null);
      if (problem) fail([name], problem);
      else if (setting !== null && typeof setting !== 'string') {
        fail([name], `expected a string, got a ${typeof setting}; quote numbers and booleans, e.g. "8080", or leave the value out to pass keyshift's own through`);
      }
    }
  } else if (value !== undefined) {
    fail([], `must be a list of variables to pass through or a map of variables to set; ${ENV_EXAMPLE}`);
  }
}

/** Why `name` cannot be in `env:` (null if it can); `pattern`: a PREFIX* form is allowed here. */
function nameProblem(name: string, pattern: boolean): string | null {
  if ((KEYSHIFT_KEYS as readonly string[]).includes(name)) {
    return `is one of keyshift's keys, which never reach a hook or a generator (${KEYSHIFT_KEYS.join(', ')}); remove it`;
  }
  if (name.startsWith(RESERVED_ENV_PREFIX)) {
    return `starts with ${RESERVED_ENV_PREFIX}, which is reserved: keyshift sets those variables itself (see docs/hooks.md); rename it`;
  }
  if (pattern && name.endsWith('*')) {
    const prefix = name.slice(0, -1);
    if (prefix === '') return `would pass keyshift's whole environment; list what the command needs, ${ENV_EXAMPLE}`;
    if (RESERVED_ENV_PREFIX.startsWith(prefix)) return `would match keyshift's own ${RESERVED_ENV_PREFIX}* variables; use a longer prefix or list the names`;
    name = prefix;
  }
  if (!ENV_NAME_PATTERN.test(name)) {
    return `is not a valid environment variable name; use letters, digits and _, not starting with a digit${pattern ? ' (PREFIX* passes every name that starts with PREFIX)' : ''}`;
  }
  return null;
}
