// The KMS fake's data: keys (with their key material generations), aliases, and the key-state
// rules of the KMS developer guide's key state table.
import { randomBytes, randomUUID } from 'node:crypto';
import { AwsError } from './aws-json-server.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function createKmsState({ region, accountId, now }) {
  const keys = new Map(); // id -> key
  const aliases = new Map(); // name -> {name, arn, targetKeyId, creationDate, lastUpdatedDate}
  const deleted = new Set(); // ids of keys whose deletion completed
  const prefix = `arn:aws:kms:${region}:${accountId}:`;
  const keyArn = (id) => `${prefix}key/${id}`;
  const aliasArn = (name) => `${prefix}${name}`;

  function createKey({ keySpec, keyUsage, description = '', policy, tags = new Map(), state = 'Enabled' }) {
    const id = randomUUID();
    const key = {
      id,
      arn: keyArn(id),
      keySpec,
      keyUsage,
      description,
      policy: policy ?? defaultPolicy(accountId),
      tags,
      state,
      creationDate: now(),
      deletionDate: undefined,
      pendingWindowInDays: undefined,
      rotation: { enabled: false, periodInDays: undefined, nextRotationDate: undefined },
      materials: [],
      onDemandRotations: 0,
    };
    addMaterial(key, undefined);
    keys.set(id, key);
    return key;
  }

  /** New key material under the same key id; ciphertexts keep naming the material they used. */
  function addMaterial(key, rotationType) {
    key.materials.push({ secret: randomBytes(32), date: now(), rotationType });
  }

  /**
   * The key named by a key id, key ARN, or (when `alias` is allowed) an alias name or alias ARN;
   * NotFoundException otherwise.
   */
  function resolveKey(identifier, { alias = false } = {}) {
    purgeExpired();
    if (typeof identifier !== 'string' || identifier.length === 0) {
      throw new AwsError('ValidationException', "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null");
    }
    const bare = identifier.startsWith(prefix) ? identifier.slice(prefix.length) : identifier;
    if (bare.startsWith('alias/')) {
      if (!alias) throw invalidKeyId(identifier);
      const entry = aliases.get(bare);
      if (!entry) throw new AwsError('NotFoundException', `Alias ${aliasArn(bare)} is not found.`);
      return keys.get(entry.targetKeyId);
    }
    const isArn = bare !== identifier;
    if (isArn && !bare.startsWith('key/')) throw invalidKeyId(identifier);
    const id = isArn ? bare.slice(4) : bare;
    if (!UUID.test(id)) throw invalidKeyId(identifier);
    const key = keys.get(id);
    if (!key) throw new AwsError('NotFoundException', `Key '${keyArn(id)}' does not exist`);
    return key;
  }

  /** The key for an identifier, or undefined: never throws (for logs and deny rules). */
  function findKey(identifier) {
    try {
      return resolveKey(identifier, { alias: true });
    } catch {
      return undefined;
    }
  }

  function completeDeletion(key) {
    keys.delete(key.id);
    deleted.add(key.id);
    for (const [name, entry] of aliases) if (entry.targetKeyId === key.id) aliases.delete(name);
  }

  function purgeExpired() {
    const at = now().getTime();
    for (const key of [...keys.values()]) {
      if (key.state === 'PendingDeletion' && key.deletionDate.getTime() <= at) completeDeletion(key);
    }
  }

  return { keys, aliases, deleted, keyArn, aliasArn, createKey, addMaterial, resolveKey, findKey, completeDeletion, purgeExpired, now, accountId };
}

/** Cryptographic use: a disabled key is DisabledException, a key pending deletion KMSInvalidStateException. */
export function assertUsable(key) {
  if (key.state === 'Disabled') throw new AwsError('DisabledException', `${key.arn} is disabled.`);
  assertNotPendingDeletion(key);
}

export function assertNotPendingDeletion(key) {
  if (key.state === 'PendingDeletion') throw new AwsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
}

/** Key rotation exists for symmetric encryption keys only. */
export function assertRotatable(key) {
  if (key.keySpec !== 'SYMMETRIC_DEFAULT') {
    throw new AwsError('UnsupportedOperationException', `${key.arn} key spec ${key.keySpec} is not valid for this operation.`);
  }
}

function invalidKeyId(identifier) {
  return new AwsError('NotFoundException', `Invalid keyId '${identifier}'`);
}

function defaultPolicy(accountId) {
  return JSON.stringify({
    Version: '2012-10-17',
    Id: 'key-default-1',
    Statement: [
      {
        Sid: 'Enable IAM User Permissions',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${accountId}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
    ],
  });
}
