// Loopback AWS KMS for tests: the real @aws-sdk/client-kms talks to it over HTTP (AWS JSON 1.1,
// `TrentService.*` targets). Symmetric keys do real AES-256-GCM (kms-crypto.js). Besides the
// server controls (aws-json-server.js) it offers direct helpers to seed and inspect keys and to
// end a pending deletion window.
import { startAwsJsonServer } from './aws-json-server.js';
import { createKmsState } from './kms-state.js';
import { kmsKeyOperations } from './kms-keys.js';
import { kmsAliasOperations, checkAliasName } from './kms-aliases.js';
import { kmsCryptoOperations, keyIdOfBlob } from './kms-crypto.js';

// aws-notes.md section 3: each control-plane operation has its own bucket; the cryptographic
// operations share one.
const CONTROL_PLANE = [
  'CreateKey', 'CreateAlias', 'UpdateAlias', 'DeleteAlias', 'ScheduleKeyDeletion', 'CancelKeyDeletion',
  'EnableKey', 'DisableKey', 'EnableKeyRotation', 'DisableKeyRotation', 'TagResource', 'UntagResource',
  'RotateKeyOnDemand', 'UpdateKeyDescription',
];
const READS = ['DescribeKey', 'ListAliases', 'ListResourceTags', 'GetKeyPolicy', 'ListKeyRotations', 'ListKeys'];
const CRYPTOGRAPHIC = ['Encrypt', 'Decrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'ReEncrypt'];

export const KMS_QUOTAS = {
  ...Object.fromEntries(CONTROL_PLANE.map((op) => [op, 5])),
  ...Object.fromEntries(READS.map((op) => [op, 100])),
  GetKeyRotationStatus: 30,
  cryptographic: 5500,
};

export const QUOTA_CLASS_OF = {
  ...Object.fromEntries([...CONTROL_PLANE, ...READS, 'GetKeyRotationStatus'].map((op) => [op, op])),
  ...Object.fromEntries(CRYPTOGRAPHIC.map((op) => [op, 'cryptographic'])),
};

/**
 * @param {object} [options]
 * @param {Record<string, number|false|null>|false} [options.quotas]  per-class overrides; false = no quotas
 * @param {string} [options.region]
 * @param {string} [options.accountId]
 * @param {() => Date} [options.now]  the service clock (dates, deletion windows)
 */
export async function startKms({ quotas, region = 'us-east-1', accountId = '111122223333', now = () => new Date() } = {}) {
  const state = createKmsState({ region, accountId, now });
  const server = await startAwsJsonServer({
    targetPrefix: 'TrentService',
    service: 'kms',
    accountId,
    handlers: { ...kmsKeyOperations(state), ...kmsAliasOperations(state), ...kmsCryptoOperations(state) },
    quotaClassOf: QUOTA_CLASS_OF,
    defaultQuotas: KMS_QUOTAS,
    quotas,
    internalErrorCode: 'KMSInternalException',
    throttleMessage: 'You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.',
    resourcesOf: (op, input) => resourcesOf(state, input),
    beforeEach: () => state.purgeExpired(),
  });

  function keyOf(idOrAlias) {
    const key = state.findKey(idOrAlias);
    if (!key) throw new Error(`no KMS key ${idOrAlias}`);
    return key;
  }

  /** The stored state of a key (by id, ARN, alias name or alias ARN), or undefined. */
  function inspect(idOrAlias) {
    const key = state.findKey(idOrAlias);
    if (!key) return undefined;
    return {
      keyId: key.id,
      arn: key.arn,
      state: key.state,
      enabled: key.state === 'Enabled',
      keySpec: key.keySpec,
      keyUsage: key.keyUsage,
      description: key.description,
      policy: key.policy,
      tags: Object.fromEntries(key.tags),
      aliases: [...state.aliases.values()].filter((a) => a.targetKeyId === key.id).map((a) => a.name),
      creationDate: key.creationDate,
      deletionDate: key.deletionDate ?? null,
      rotationEnabled: key.rotation.enabled,
      rotationPeriodInDays: key.rotation.periodInDays ?? null,
      materials: key.materials.length,
      rotations: key.materials.filter((m) => m.rotationType).map((m) => ({ date: m.date, type: m.rotationType })),
      onDemandRotations: key.onDemandRotations,
    };
  }

  return Object.assign(server, {
    region,
    accountId,
    inspect,
    /** All keys not yet deleted (pending deletion included), as inspect() shows them. */
    keys: () => (state.purgeExpired(), [...state.keys.keys()].map(inspect)),
    aliases: () => [...state.aliases.values()].map((a) => ({ name: a.name, arn: state.aliasArn(a.name), targetKeyId: a.targetKeyId })),
    /**
     * Creates a key directly, without quotas or hooks: {description?, alias?, keySpec?, keyUsage?,
     * enabled? (default true), tags? ({k: v})}.
     */
    seedKey({ description = '', alias, keySpec = 'SYMMETRIC_DEFAULT', keyUsage = 'ENCRYPT_DECRYPT', enabled = true, tags = {} } = {}) {
      const key = state.createKey({ keySpec, keyUsage, description, tags: new Map(Object.entries(tags)), state: enabled ? 'Enabled' : 'Disabled' });
      if (alias !== undefined) {
        checkAliasName(alias);
        if (state.aliases.has(alias)) throw new Error(`seedKey: alias ${alias} exists`);
        state.aliases.set(alias, { name: alias, targetKeyId: key.id, creationDate: now(), lastUpdatedDate: now() });
      }
      return inspect(key.id);
    },
    /** The pending window ends now: the key and its aliases are deleted; its ciphertexts are dead. */
    completeDeletion(idOrAlias) {
      state.completeDeletion(keyOf(idOrAlias));
    },
    /** An automatic rotation happens now: new key material, RotationType AUTOMATIC. */
    simulateAutomaticRotation(idOrAlias) {
      state.addMaterial(keyOf(idOrAlias), 'AUTOMATIC');
    },
  });
}

// Identifiers a call names, resolved to key id, key ARN and the key's aliases so that deny()
// matches however the caller spelled the key. The first one is the log's `resource`.
function resourcesOf(state, input) {
  const named = [input.KeyId, input.AliasName, input.TargetKeyId, input.DestinationKeyId, input.SourceKeyId].filter(Boolean);
  if (named.length === 0 && input.CiphertextBlob) named.push(keyIdOfBlob(input.CiphertextBlob));
  const out = [];
  for (const id of named) {
    out.push(id);
    const key = state.findKey(id);
    if (!key) continue;
    out.push(key.id, key.arn);
    for (const alias of state.aliases.values()) if (alias.targetKeyId === key.id) out.push(alias.name, state.aliasArn(alias.name));
  }
  return out;
}
