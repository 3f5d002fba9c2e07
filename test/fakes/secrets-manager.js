// Loopback AWS Secrets Manager for tests: the real @aws-sdk/client-secrets-manager talks to it over
// HTTP (AWS JSON 1.1). Besides the server controls (quotas, faults, hooks, deny; see
// aws-json-server.js) it offers seed() and inspect() to set up and check state without HTTP.
import { randomUUID } from 'node:crypto';
import { startAwsJsonServer } from './aws-json-server.js';
import { createSecretState } from './sm-state.js';
import { secretsManagerOperations } from './sm-operations.js';

// aws-notes.md section 2. Classes shared by several operations share one bucket.
export const SECRETS_MANAGER_QUOTAS = {
  reads: 10000,
  versionWrites: 50,
  tags: 50,
  create: 50,
  delete: 50,
  rotation: 50,
  list: 50,
  listSecrets: 100,
};

export const QUOTA_CLASS_OF = {
  DescribeSecret: 'reads',
  GetSecretValue: 'reads',
  PutSecretValue: 'versionWrites',
  UpdateSecret: 'versionWrites',
  UpdateSecretVersionStage: 'versionWrites',
  TagResource: 'tags',
  UntagResource: 'tags',
  CreateSecret: 'create',
  DeleteSecret: 'delete',
  RestoreSecret: 'delete',
  RotateSecret: 'rotation',
  CancelRotateSecret: 'rotation',
  ListSecretVersionIds: 'list',
  ListSecrets: 'listSecrets',
};

/**
 * @param {object} [options]
 * @param {Record<string, number|false|null>|false} [options.quotas]  per-class overrides; false = no quotas
 * @param {string} [options.region]
 * @param {string} [options.accountId]
 * @param {() => Date} [options.now]  the service clock (dates, recovery windows, version clean-up)
 * @param {number} [options.versionsPerSecret]  the versions quota (AWS: 100)
 */
export async function startSecretsManager({ quotas, region = 'us-east-1', accountId = '111122223333', now = () => new Date(), versionsPerSecret } = {}) {
  const state = createSecretState({ region, accountId, now, versionsPerSecret });
  const server = await startAwsJsonServer({
    targetPrefix: 'secretsmanager',
    service: 'secretsmanager',
    signingScope: { region, service: 'secretsmanager' },
    accountId,
    handlers: secretsManagerOperations(state),
    quotaClassOf: QUOTA_CLASS_OF,
    defaultQuotas: SECRETS_MANAGER_QUOTAS,
    quotas,
    internalErrorCode: 'InternalServiceError',
    throttleMessage: 'Rate exceeded',
    resourcesOf: (op, input) => {
      const id = input.SecretId ?? input.Name;
      const secret = state.find(id);
      return secret ? [secret.name, secret.arn, id] : [id];
    },
  });

  /**
   * Creates a secret directly, without quotas or hooks. `value` makes one AWSCURRENT version;
   * `versions` lists them oldest first as {id?, value, stages?: string[] (default none), createdAt?},
   * labels placed exactly as given (no automatic AWSPREVIOUS), a later version taking a label over.
   */
  function seed(name, opts = {}) {
    if (state.find(name)) throw new Error(`seed: secret ${name} already exists`);
    const secret = state.create(name, { description: opts.description, tags: new Map(tagEntries(opts.tags)) });
    const versions = opts.versions ?? (opts.value === undefined ? [] : [{ value: opts.value, id: opts.versionId, stages: ['AWSCURRENT'] }]);
    for (const v of versions) {
      const createdDate = v.createdAt ? new Date(v.createdAt) : undefined;
      state.addVersion(secret, v.id ?? randomUUID(), storedValue(v.value), v.stages ?? [], { createdDate, exact: true });
    }
    if (opts.createdAt) secret.createdDate = new Date(opts.createdAt);
    if (opts.rotationEnabled) {
      secret.rotationEnabled = true;
      secret.rotationLambdaArn = opts.rotationLambdaArn ?? `arn:aws:lambda:${region}:${accountId}:function:keyshift-test-rotation`;
      secret.rotationRules = opts.rotationRules;
    }
    if (opts.markedForDeletion) {
      const days = opts.markedForDeletion.recoveryWindowInDays ?? 30;
      secret.deletedDate = now();
      secret.deletionDate = new Date(secret.deletedDate.getTime() + days * 86_400_000);
    }
    return inspect(name);
  }

  /** The stored state of a secret (by name or ARN), values included, or undefined. */
  function inspect(secretId) {
    const secret = state.find(secretId);
    if (!secret) return undefined;
    return {
      name: secret.name,
      arn: secret.arn,
      description: secret.description,
      versions: [...secret.versions.values()].map((v) => ({
        id: v.id,
        stages: [...v.stages],
        createdAt: v.createdDate,
        value: v.value.kind === 'string' ? v.value.data : Buffer.from(v.value.data),
        deprecated: v.stages.size === 0,
      })),
      tags: Object.fromEntries(secret.tags),
      rotationEnabled: secret.rotationEnabled,
      rotationLambdaArn: secret.rotationLambdaArn,
      rotationRules: secret.rotationRules,
      createdDate: secret.createdDate,
      lastChangedDate: secret.lastChangedDate,
      deletedDate: secret.deletedDate ?? null,
      deletionDate: secret.deletionDate ?? null,
    };
  }

  return Object.assign(server, {
    region,
    accountId,
    seed,
    inspect,
    /** Names of all secrets, including those marked for deletion. */
    names: () => (state.purgeExpired(), [...state.secrets.keys()]),
    /** The recovery window ends now: the secret is gone for good. */
    completeDeletion(secretId) {
      const secret = state.find(secretId);
      if (!secret) throw new Error(`completeDeletion: no secret ${secretId}`);
      state.secrets.delete(secret.name);
    },
  });
}

function storedValue(value) {
  if (typeof value === 'string') return { kind: 'string', data: value };
  if (value instanceof Uint8Array) return { kind: 'binary', data: Buffer.from(value) };
  throw new Error('seed: a version value must be a string or bytes');
}

function tagEntries(tags) {
  if (!tags) return [];
  if (Array.isArray(tags)) return tags.map((t) => [t.Key, t.Value ?? '']);
  return Object.entries(tags);
}
