import type { LockSpec } from './lock-schema.js';
import type { ValueRules } from './schema-validate.js';
import type { RotationTagKeys } from './schema-aws-tags.js';
import type { ReencryptSpec } from './reencrypt-schema.js';
/** Policies after validation and normalisation: durations in ms, paths absolute. */
import type { PluginStoreSpec } from './store-schema-plugin.js';

export interface SourcePosition {
  file: string;
  line: number;
  col: number;
}

export type RandomBytesGenerator = {
  type: 'random';
  bytes: number; // 16–1024
  encoding: 'base64' | 'base64url' | 'hex';
};

export type RandomPasswordGenerator = {
  type: 'random';
  length: number; // 8–4096
  /** The characters to draw from (a named set already expanded). */
  characters: string;
};

export type CommandGenerator = {
  type: 'command';
  run: string[];
  timeoutMs: number;
  /** Variables set for the command, and names (or `PREFIX*`) passed through from keyshift's environment. */
  env: Record<string, string>;
  passEnv: string[];
};

/** What wraps a data key (docs/reencrypt.md#key-hierarchy). */
export type MasterSpec =
  | { type: 'aws-kms'; keyId: string; region: string | null; endpoint: string | null; profile: string | null }
  /** Another secret of these policies (32 random bytes); its environment of the same name, or its only one. */
  | { type: 'local'; secret: string };

/** A new 32-byte data key per version, stored wrapped by `master` (`ksdk1:…`). */
export type DataKeyGenerator = { type: 'data-key'; master: MasterSpec };

export type GeneratorSpec = RandomBytesGenerator | RandomPasswordGenerator | CommandGenerator | DataKeyGenerator;

export interface LocalStoreSpec {
  type: 'local';
  /** Absolute path of the store file (relative paths resolve against the working directory). */
  path: string;
  /** Entry name inside the store; defaults to the secret's name. */
  key: string;
}

/** Client-side request rates per API class (calls per second), shared by all rotations of a run. */
export interface SecretsManagerQuotas {
  versionWritesPerSecond: number;
  readsPerSecond: number;
  tagWritesPerSecond: number;
}

export interface SecretsManagerStoreSpec {
  type: 'aws-secrets-manager';
  /** The secret's name or ARN (the entry key). */
  key: string;
  region: string | null;
  endpoint: string | null;
  profile: string | null;
  /** Let the first `rotate` create the secret (otherwise a missing secret is an error). */
  createIfMissing: boolean;
  quotas: SecretsManagerQuotas;
  /** `tags:` (opt-in): the keys of the rotated-by / rotated-at / rotation-ticket tags; null = none. */
  tags: RotationTagKeys | null;
}

export interface KmsStoreSpec {
  type: 'aws-kms';
  /** The alias (alias/…) of the customer managed key: the entry key. */
  key: string;
  region: string | null;
  endpoint: string | null;
  profile: string | null;
  /** alias: a new key behind the alias; managed: new key material under the same key id. */
  mode: 'alias' | 'managed';
  /** ScheduleKeyDeletion's window for a decommissioned key (7-30). */
  pendingWindowDays: number;
  /** Let the first `rotate` create the key and the alias. */
  createIfMissing: boolean;
  /** mode managed: KMS's automatic rotation period, the policy's interval in days (90-2560). */
  rotationPeriodDays: number | null;
  quotas: { controlPlanePerSecond: number; readsPerSecond: number };
  /** `tags:` (opt-in): tags on the key that becomes CURRENT; null = none. */
  tags: RotationTagKeys | null;
}

export interface DotenvStoreSpec {
  type: 'dotenv';
  /** Absolute path of the .env file. */
  path: string;
  /** The variable that holds CURRENT: the entry key. */
  key: string;
}

export interface K8sSecretStoreSpec {
  type: 'k8s-secret';
  /** Absolute path of the Secret manifest. */
  path: string;
  /** metadata.name of the Secret. */
  name: string;
  /** The data key that holds CURRENT. */
  dataKey: string;
  /** The entry key: `<name>/<dataKey>` (unambiguous: a Secret's name has no `/`). */
  key: string;
  /** Commit each change of the manifest in its Git checkout. */
  gitCommit: boolean;
  /** Where the policy names this store, for the error when the manifest holds no such Secret. */
  source: SourcePosition;
}

import type { VaultKv2StoreSpec } from './store-schema-vault.js';
import type { CommandStoreSpec } from './store-schema-command.js';
export type { VaultKv2StoreSpec, CommandStoreSpec };
/** `lock:` (policy/lock-schema.ts): where the store's cross-machine leases are kept instead. */
export type StoreSpec = (
  | LocalStoreSpec
  | SecretsManagerStoreSpec
  | KmsStoreSpec
  | DotenvStoreSpec
  | K8sSecretStoreSpec
  | VaultKv2StoreSpec
  | CommandStoreSpec
  | PluginStoreSpec
) & { lock?: LockSpec };

/** A command hook: argv (no shell) or one shell line (run with /bin/sh -c). */
export interface CommandHook {
  kind: 'command';
  run: string[] | string;
  timeoutMs: number; // default 5m
  /** Variables set for the hook (never KEYSHIFT_*: keyshift sets those). */
  env: Record<string, string>;
  /** Names (or `PREFIX*` patterns) passed through from keyshift's environment (docs/hooks.md). */
  passEnv: string[];
  /** Absolute working directory (relative paths resolve against where keyshift runs); null = there. */
  cwd: string | null;
  /** Short human label for logs, evidence and errors, e.g. `deploy[0] kubectl` (never a value). */
  label: string;
  source: SourcePosition;
}

/** A verify hook that calls a URL and expects a status. The value is never sent. */
export interface HttpHook {
  kind: 'http';
  url: string;
  method: 'GET' | 'HEAD' | 'POST';
  expectStatus: number; // default 200
  timeoutMs: number; // default 30s
  label: string;
  source: SourcePosition;
}

export type HookSpec = CommandHook | HttpHook;

export interface EnvironmentPolicy {
  name: string;
  store: StoreSpec;
  /** Run during the overlap, in order: deploy hooks, then verify hooks; then the switch. */
  deploy: CommandHook[];
  verify: HookSpec[];
  /** Bake time after this environment switched before the next one may start (0 = none). */
  observeMs: number;
  /** Rotating this environment needs `--ticket` (exit 3 otherwise, before anything changes). */
  requireTicket: boolean;
  source: SourcePosition;
}

export type NotifyEvent = 'failed' | 'switched' | 'decommissioned' | 'rolled-back' | 'provisioned' | 'issued' | 'deployed' | 'verified';

/** A webhook that receives a JSON body (with a Slack-compatible `text`) for the listed events. */
export interface NotifyTarget {
  webhook: string;
  on: NotifyEvent[];
}

export interface SecretPolicy {
  name: string;
  owner: string | null;
  description: string | null;
  /** Compliance control ids (e.g. SOC2-CC6.1) that `keyshift report` groups by; [] when none. */
  controls: string[];
  interval: string;
  intervalMs: number;
  fallbackWindow: string;
  fallbackWindowMs: number;
  /** How a new value is made; null for keys made inside the store (aws-kms). */
  generator: GeneratorSpec | null;
  environments: EnvironmentPolicy[];
  /** Run at decommission, before the old version is removed (e.g. revoke a vendor key). */
  revoke: CommandHook[];
  /** Must all pass before the old version is decommissioned (the decommission gate). */
  decommissionCheck: CommandHook[];
  /** One value for every environment (e.g. one vendor key), rolled through them in order. */
  sharedValue: boolean;
  /** The variable `run` / `env` export the CURRENT value as; null = the name upper-cased, - → _. */
  exportAs: string | null;
  notify: NotifyTarget[];
  /** `validate:` rules every new value passes before it is stored; null = none. */
  validate: ValueRules | null;
  /** `reencrypt:` (docs/reencrypt.md): the database rows encrypted under this secret; null when none. */
  reencrypt: ReencryptSpec | null;
  source: SourcePosition;
}

export interface PolicyProblem {
  file: string;
  line: number;
  col: number;
  message: string;
}

export interface LoadedPolicies {
  policies: SecretPolicy[];
  errors: PolicyProblem[];
  warnings: PolicyProblem[];
  files: string[];
  /** `signing: { key }` of a policy file, if one sets it: the evidence signing key's path. */
  signingKey?: string | null;
}
