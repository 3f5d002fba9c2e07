// KMS key management operations of the fake: create/describe/list, policy, tags, enable/disable,
// scheduled deletion, and key rotation (automatic configuration and RotateKeyOnDemand).
import { AwsError } from './aws-json-server.js';
import { assertNotPendingDeletion, assertRotatable } from './kms-state.js';
import { checkTagKeys, checkTags, mergeTags } from './tag-rules.js';

const DAY_MS = 86_400_000;
const TAG_CODES = { invalid: 'TagException', limit: 'LimitExceededException' };
export const ON_DEMAND_ROTATION_LIMIT = 10;

// Which KeyUsage values each KeySpec family allows.
const USAGES = {
  SYMMETRIC_DEFAULT: ['ENCRYPT_DECRYPT'],
  RSA: ['ENCRYPT_DECRYPT', 'SIGN_VERIFY'],
  ECC: ['SIGN_VERIFY', 'KEY_AGREEMENT'],
  HMAC: ['GENERATE_VERIFY_MAC'],
};
const SPECS = /^(SYMMETRIC_DEFAULT|RSA_(2048|3072|4096)|ECC_(NIST_P(256|384|521)|SECG_P256K1)|HMAC_(224|256|384|512))$/;

export function kmsKeyOperations(state) {
  const { now, resolveKey } = state;
  const byId = (input) => resolveKey(input.KeyId); // management calls take a key id or key ARN, not an alias

  return {
    CreateKey(input) {
      const keySpec = input.KeySpec ?? input.CustomerMasterKeySpec ?? 'SYMMETRIC_DEFAULT';
      if (!SPECS.test(keySpec)) throw new AwsError('ValidationException', `1 validation error detected: Value '${keySpec}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set`);
      const keyUsage = input.KeyUsage ?? 'ENCRYPT_DECRYPT';
      if (!USAGES[family(keySpec)].includes(keyUsage)) {
        throw new AwsError('ValidationException', `KeyUsage ${keyUsage} is not compatible with KeySpec ${keySpec}.`);
      }
      if (input.Origin !== undefined && input.Origin !== 'AWS_KMS') {
        throw new AwsError('UnsupportedOperationException', `The KMS fake supports only Origin AWS_KMS, not ${input.Origin}.`);
      }
      if (input.Description !== undefined && input.Description.length > 8192) {
        throw new AwsError('ValidationException', "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192");
      }
      const pairs = tagPairs(input.Tags);
      checkTags(pairs, TAG_CODES);
      const tags = mergeTags(new Map(), pairs, TAG_CODES);
      const key = state.createKey({ keySpec, keyUsage, description: input.Description, policy: input.Policy, tags });
      return { KeyMetadata: keyMetadata(key, state.accountId) };
    },

    DescribeKey: (input) => ({ KeyMetadata: keyMetadata(resolveKey(input.KeyId, { alias: true }), state.accountId) }),

    ListKeys(input) {
      const keys = [...state.keys.values()].map((k) => ({ KeyId: k.id, KeyArn: k.arn }));
      const { items, NextMarker, Truncated } = pageMarker(keys, input.Limit, input.Marker);
      return { Keys: items, NextMarker, Truncated };
    },

    UpdateKeyDescription(input) {
      const key = byId(input);
      assertNotPendingDeletion(key);
      key.description = input.Description ?? '';
      return undefined;
    },

    GetKeyPolicy(input) {
      const key = byId(input);
      const name = input.PolicyName ?? 'default';
      if (name !== 'default') throw new AwsError('NotFoundException', `No such policy exists: ${name}`);
      return { Policy: key.policy, PolicyName: 'default' };
    },

    ListResourceTags(input) {
      const key = byId(input);
      const tags = [...key.tags].map(([TagKey, TagValue]) => ({ TagKey, TagValue }));
      const { items, NextMarker, Truncated } = pageMarker(tags, input.Limit, input.Marker, 50);
      return { Tags: items, NextMarker, Truncated };
    },

    TagResource(input) {
      const key = byId(input);
      assertNotPendingDeletion(key);
      const pairs = tagPairs(input.Tags);
      checkTags(pairs, TAG_CODES);
      key.tags = mergeTags(key.tags, pairs, TAG_CODES);
      return undefined;
    },

    UntagResource(input) {
      const key = byId(input);
      assertNotPendingDeletion(key);
      checkTagKeys(input.TagKeys, 'tagKeys.member');
      for (const tagKey of input.TagKeys ?? []) key.tags.delete(tagKey);
      return undefined;
    },

    EnableKey(input) {
      const key = byId(input);
      assertNotPendingDeletion(key);
      key.state = 'Enabled';
      return undefined;
    },

    DisableKey(input) {
      const key = byId(input);
      assertNotPendingDeletion(key);
      key.state = 'Disabled';
      return undefined;
    },

    ScheduleKeyDeletion(input) {
      const days = input.PendingWindowInDays ?? 30;
      if (!(Number.isInteger(days) && days >= 7 && days <= 30)) {
        throw new AwsError('ValidationException', `1 validation error detected: Value '${days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value between 7 and 30`);
      }
      const key = byId(input);
      assertNotPendingDeletion(key);
      key.state = 'PendingDeletion';
      key.pendingWindowInDays = days;
      key.deletionDate = new Date(now().getTime() + days * DAY_MS);
      return { KeyId: key.arn, DeletionDate: key.deletionDate, KeyState: key.state, PendingWindowInDays: days };
    },

    CancelKeyDeletion(input) {
      const key = byId(input);
      if (key.state !== 'PendingDeletion') throw new AwsError('KMSInvalidStateException', `${key.arn} is not pending deletion.`);
      key.state = 'Disabled'; // as AWS does: the caller must EnableKey
      key.deletionDate = undefined;
      key.pendingWindowInDays = undefined;
      return { KeyId: key.arn };
    },

    EnableKeyRotation(input) {
      const period = input.RotationPeriodInDays ?? 365;
      if (!(Number.isInteger(period) && period >= 90 && period <= 2560)) {
        throw new AwsError('ValidationException', `1 validation error detected: Value '${period}' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value between 90 and 2560`);
      }
      const key = rotationTarget(input);
      key.rotation = { enabled: true, periodInDays: period, nextRotationDate: new Date(now().getTime() + period * DAY_MS) };
      return undefined;
    },

    DisableKeyRotation(input) {
      const key = rotationTarget(input);
      key.rotation = { enabled: false, periodInDays: undefined, nextRotationDate: undefined };
      return undefined;
    },

    GetKeyRotationStatus(input) {
      const key = byId(input);
      assertRotatable(key);
      // While pending deletion the status reads false; cancelling the deletion restores it.
      const enabled = key.rotation.enabled && key.state !== 'PendingDeletion';
      return {
        KeyId: key.arn,
        KeyRotationEnabled: enabled,
        RotationPeriodInDays: enabled ? key.rotation.periodInDays : undefined,
        NextRotationDate: enabled ? key.rotation.nextRotationDate : undefined,
      };
    },

    RotateKeyOnDemand(input) {
      const key = rotationTarget(input);
      if (key.onDemandRotations >= ON_DEMAND_ROTATION_LIMIT) {
        throw new AwsError('LimitExceededException', `${key.arn} has reached the limit of ${ON_DEMAND_ROTATION_LIMIT} on-demand rotations.`);
      }
      key.onDemandRotations += 1;
      state.addMaterial(key, 'ON_DEMAND');
      return { KeyId: key.id };
    },

    ListKeyRotations(input) {
      const key = byId(input);
      assertRotatable(key);
      const rotations = key.materials
        .filter((m) => m.rotationType)
        .map((m) => ({ KeyId: key.id, RotationDate: m.date, RotationType: m.rotationType }));
      const { items, NextMarker, Truncated } = pageMarker(rotations, input.Limit, input.Marker, 1000);
      return { Rotations: items, NextMarker, Truncated };
    },
  };

  // Enable/DisableKeyRotation and RotateKeyOnDemand: symmetric keys in the Enabled state.
  function rotationTarget(input) {
    const key = byId(input);
    assertRotatable(key);
    if (key.state === 'Disabled') throw new AwsError('DisabledException', `${key.arn} is disabled.`);
    assertNotPendingDeletion(key);
    return key;
  }
}

export function keyMetadata(key, accountId) {
  const pending = key.state === 'PendingDeletion';
  const usage = key.keyUsage;
  return {
    AWSAccountId: accountId,
    KeyId: key.id,
    Arn: key.arn,
    CreationDate: key.creationDate,
    Enabled: key.state === 'Enabled',
    Description: key.description,
    KeyUsage: usage,
    KeyState: key.state,
    DeletionDate: pending ? key.deletionDate : undefined,
    PendingDeletionWindowInDays: pending ? key.pendingWindowInDays : undefined,
    Origin: 'AWS_KMS',
    KeyManager: 'CUSTOMER',
    CustomerMasterKeySpec: key.keySpec,
    KeySpec: key.keySpec,
    EncryptionAlgorithms: usage === 'ENCRYPT_DECRYPT' ? encryptionAlgorithms(key.keySpec) : undefined,
    SigningAlgorithms: usage === 'SIGN_VERIFY' ? signingAlgorithms(key.keySpec) : undefined,
    MacAlgorithms: usage === 'GENERATE_VERIFY_MAC' ? [`HMAC_SHA_${key.keySpec.slice(5)}`] : undefined,
    MultiRegion: false,
  };
}

/** Limit/Marker paging as the KMS List* operations do it. */
export function pageMarker(items, limit, marker, max = 100) {
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= max)) {
    throw new AwsError('ValidationException', `1 validation error detected: Value '${limit}' at 'limit' failed to satisfy constraint: Member must have value between 1 and ${max}`);
  }
  const start = marker === undefined ? 0 : Number.parseInt(Buffer.from(String(marker), 'base64url').toString(), 10);
  if (!Number.isInteger(start) || start < 0) throw new AwsError('InvalidMarkerException', 'The marker is not valid.');
  const end = start + (limit ?? Math.min(max, 100));
  const Truncated = end < items.length;
  return { items: items.slice(start, end), Truncated, NextMarker: Truncated ? Buffer.from(String(end)).toString('base64url') : undefined };
}

function tagPairs(tags) {
  return (tags ?? []).map((t) => ({ key: t.TagKey, value: t.TagValue ?? '', keyName: 'tags.member.tagKey', valueName: 'tags.member.tagValue' }));
}

function family(spec) {
  return spec === 'SYMMETRIC_DEFAULT' ? spec : spec.split('_')[0];
}

function encryptionAlgorithms(spec) {
  return spec === 'SYMMETRIC_DEFAULT' ? ['SYMMETRIC_DEFAULT'] : ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'];
}

function signingAlgorithms(spec) {
  if (spec.startsWith('RSA')) return ['RSASSA_PSS_SHA_256', 'RSASSA_PSS_SHA_384', 'RSASSA_PSS_SHA_512', 'RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512'];
  return [{ ECC_NIST_P256: 'ECDSA_SHA_256', ECC_SECG_P256K1: 'ECDSA_SHA_256', ECC_NIST_P384: 'ECDSA_SHA_384', ECC_NIST_P521: 'ECDSA_SHA_512' }[spec]];
}
