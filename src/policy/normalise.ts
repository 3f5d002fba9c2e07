import { resolve } from 'node:path';
import { parseDuration } from './durations.js';
import type { SecretInput } from './schema.js';
import { CHARSETS } from './schema-generators.js';
import { DEFAULT_NOTIFY_EVENTS } from './schema-notify.js';
import { splitChildEnv } from './schema-hooks.js';
import { defaultVariableName } from './store-schemas.js';
import { normaliseVaultKv2Store } from './store-schema-vault.js';
import { normaliseCommandStore } from './store-schema-command.js';
import { normalisePluginStore } from './store-schema-plugin.js';
import type { CommandHook, GeneratorSpec, HookSpec, NotifyTarget, SecretPolicy, SourcePosition, StoreSpec } from './types.js';
import { withLock } from './lock-schema.js';
import { normaliseValueRules } from './schema-validate.js';
import { normaliseAwsTags } from './schema-aws-tags.js';
import { normaliseReencrypt } from './reencrypt-schema.js';
import { normaliseDataKeyGenerator } from './schema-data-key.js';

/** The default timeout of a command generator, as written in docs/policies.md. */
export const DEFAULT_COMMAND_TIMEOUT = '30s';
/** Hook defaults, as written in docs/policies.md#hooks. */
export const DEFAULT_HOOK_TIMEOUT = '5m';
export const DEFAULT_HTTP_TIMEOUT = '30s';

export interface SecretSources {
  secret: SourcePosition;
  environments: SourcePosition[];
  /** Per environment, where each deploy / verify hook (list item) starts; absent = the environment's. */
  deploy?: SourcePosition[][];
  verify?: SourcePosition[][];
  /** Where each revoke hook starts; absent = the secret's position. */
  revoke?: SourcePosition[];
  /** Where each decommissionCheck hook starts. */
  decommissionCheck?: SourcePosition[];
}

type EnvironmentInput = SecretInput['environments'][number];
type CommandHookInput = NonNullable<SecretInput['revoke']>[number];
type VerifyHookInput = NonNullable<EnvironmentInput['verify']>[number];

/**
 * A schema-valid secret → the engine's SecretPolicy: durations in ms, store paths absolute against
 * the working directory (not the policy file, so `-p` elsewhere still writes where the user runs),
 * defaults filled in and named character sets expanded.
 */
export function normaliseSecret(input: SecretInput, sources: SecretSources, cwd: string): SecretPolicy {
  return {
    name: input.name,
    owner: input.owner ?? null,
    description: input.description ?? null,
    controls: [...new Set(input.controls ?? [])],
    interval: input.interval,
    intervalMs: durationMs(input.interval),
    fallbackWindow: input.fallbackWindow,
    fallbackWindowMs: durationMs(input.fallbackWindow),
    generator: input.generator ? normaliseGenerator(input.generator) : null,
    environments: input.environments.map((environment, index) => {
      const source = sources.environments[index] ?? sources.secret;
      const at = (list: SourcePosition[][] | undefined, item: number) => list?.[index]?.[item] ?? source;
      return {
        name: environment.name,
        store: withLock(normaliseStore(environment.store, input, cwd, source), environment.store.lock),
        deploy: (environment.deploy ?? []).map((hook, item) =>
          normaliseCommandHook(hook, `deploy[${item}]`, at(sources.deploy, item), cwd),
        ),
        verify: (environment.verify ?? []).map((hook, item) =>
          normaliseVerifyHook(hook, `verify[${item}]`, at(sources.verify, item), cwd),
        ),
        observeMs: environment.observe !== undefined ? durationMs(environment.observe) : 0,
        requireTicket: environment.requireTicket ?? false,
        source,
      };
    }),
    revoke: (input.revoke ?? []).map((hook, item) =>
      normaliseCommandHook(hook, `revoke[${item}]`, sources.revoke?.[item] ?? sources.secret, cwd),
    ),
    decommissionCheck: (input.decommissionCheck ?? []).map((hook, item) =>
      normaliseCommandHook(hook, `decommissionCheck[${item}]`, sources.decommissionCheck?.[item] ?? sources.secret, cwd),
    ),
    sharedValue: input.sharedValue ?? false,
    exportAs: input.exportAs ?? null,
    notify: (input.notify ?? []).map(normaliseNotifyTarget),
    validate: normaliseValueRules(input.validate),
    reencrypt: input.reencrypt ? normaliseReencrypt(input.reencrypt, cwd) : null,
    source: sources.secret,
  };
}

/** Events default to the ones an owner acts on; a repeated event is kept once, in order. */
function normaliseNotifyTarget(target: NonNullable<SecretInput['notify']>[number]): NotifyTarget {
  // The schema's check guarantees `webhook`.
  return { webhook: target.webhook as string, on: [...new Set(target.on ?? DEFAULT_NOTIFY_EVENTS)] };
}

function normaliseGenerator(generator: NonNullable<SecretInput['generator']>): GeneratorSpec {
  if (generator.type === 'data-key') return normaliseDataKeyGenerator(generator);
  if (generator.type === 'command') {
    return {
      type: 'command',
      run: [...generator.run],
      timeoutMs: durationMs(generator.timeout ?? DEFAULT_COMMAND_TIMEOUT),
      ...splitChildEnv(generator.env),
    };
  }
  // The schema's check guarantees exactly one of bytes and length.
  if (generator.bytes !== undefined) {
    return { type: 'random', bytes: generator.bytes, encoding: generator.encoding ?? 'base64' };
  }
  return {
    type: 'random',
    length: generator.length as number,
    characters: generator.chars !== undefined ? distinct(generator.chars) : CHARSETS[generator.charset ?? 'alphanumeric'],
  };
}

function normaliseCommandHook(hook: CommandHookInput, position: string, source: SourcePosition, cwd: string): CommandHook {
  // The schema's check guarantees `run` on command hooks.
  const run = hook.run as string[] | string;
  return {
    kind: 'command',
    run: typeof run === 'string' ? run : [...run],
    timeoutMs: durationMs(hook.timeout ?? DEFAULT_HOOK_TIMEOUT),
    ...splitChildEnv(hook.env),
    cwd: hook.cwd !== undefined ? resolve(cwd, hook.cwd) : null,
    label: `${position} ${programOf(run)}`,
    source,
  };
}

function normaliseVerifyHook(hook: VerifyHookInput, position: string, source: SourcePosition, cwd: string): HookSpec {
  if (hook.http === undefined) return normaliseCommandHook(hook, position, source, cwd);
  const { url, method = 'GET', expectStatus = 200, timeout = DEFAULT_HTTP_TIMEOUT } = hook.http;
  const parsed = new URL(url);
  return {
    kind: 'http',
    url,
    method,
    expectStatus,
    timeoutMs: durationMs(timeout),
    // Host and path only: never the query, fragment or user info (they may carry tokens).
    label: `${position} ${method} ${parsed.host}${parsed.pathname}`,
    source,
  };
}

/**
 * The program a hook runs, for its label: argv[0], or the first word of a shell line after any
 * leading `NAME=value` assignments (those may hold secret-looking literals). Nothing else of the
 * command is ever shown.
 */
export function programOf(run: string[] | string): string {
  if (Array.isArray(run)) return run[0] ?? 'sh';
  const words = run.trim().split(/\s+/);
  const program = words.find((word) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(word));
  return program ?? 'sh';
}

function normaliseStore(store: EnvironmentInput['store'], secret: SecretInput, cwd: string, source: SourcePosition): StoreSpec {
  const secretName = secret.name;
  if (store.type === 'local') return { type: 'local', path: resolve(cwd, store.path), key: store.key ?? secretName };
  if (store.type === 'dotenv') return { type: 'dotenv', path: resolve(cwd, store.path), key: store.name ?? defaultVariableName(secretName) };
  if (store.type === 'k8s-secret') {
    const dataKey = store.key ?? defaultVariableName(secretName);
    return { type: 'k8s-secret', path: resolve(cwd, store.path), name: store.name, dataKey, key: `${store.name}/${dataKey}`, gitCommit: store.git?.commit ?? false, source };
  }
  if (store.type === 'vault-kv2') return normaliseVaultKv2Store(store, cwd);
  if (store.type === 'command') return normaliseCommandStore(store, secretName, cwd);
  if (store.type === 'plugin') return normalisePluginStore(store, secretName, cwd);
  if (store.type === 'aws-kms') {
    return {
      type: 'aws-kms',
      key: store.alias,
      region: store.region ?? null,
      endpoint: store.endpoint ?? null,
      profile: store.profile ?? null,
      mode: store.mode ?? 'alias',
      pendingWindowDays: store.pendingWindowDays ?? 30,
      createIfMissing: store.createIfMissing ?? false,
      rotationPeriodDays: store.mode === 'managed' ? Math.round(durationMs(secret.interval) / 86_400_000) : null,
      quotas: { controlPlanePerSecond: store.quotas?.controlPlanePerSecond ?? 5, readsPerSecond: store.quotas?.readsPerSecond ?? 100 },
      tags: normaliseAwsTags(store.tags),
    };
  }
  return {
    type: 'aws-secrets-manager',
    key: store.secretId,
    // An ARN names its Region; the store must talk to that Region whatever the defaults say.
    region: store.region ?? store.secretId.match(/^arn:[^:]+:secretsmanager:([^:]+):/)?.[1] ?? null,
    endpoint: store.endpoint ?? null,
    profile: store.profile ?? null,
    createIfMissing: store.createIfMissing ?? false,
    quotas: {
      versionWritesPerSecond: store.quotas?.versionWritesPerSecond ?? 50,
      readsPerSecond: store.quotas?.readsPerSecond ?? 10_000,
      tagWritesPerSecond: store.quotas?.tagWritesPerSecond ?? 50,
    },
    tags: normaliseAwsTags(store.tags),
  };
}

/** A repeated character would be drawn more often than the others; keep each once, in order. */
function distinct(characters: string): string {
  return [...new Set(characters)].join('');
}

function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === null) throw new Error(`bug: schema accepted the duration ${JSON.stringify(text)}`);
  return ms;
}
