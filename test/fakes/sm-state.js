// The Secrets Manager fake's data: secrets, their immutable versions and the staging labels.
// Label moves live here because AWS applies the same rules to every operation that moves a label
// (a label is on at most one version; AWSPREVIOUS follows AWSCURRENT when it leaves a version).
import { randomBytes } from 'node:crypto';
import { AwsError } from './aws-json-server.js';

export const NOT_FOUND = "Secrets Manager can't find the specified secret.";
export const MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion.";
/** AWS's "versions per secret" quota (aws-notes.md 1.3 and *Secrets Manager quotas*). */
export const VERSIONS_PER_SECRET = 100;
const CLEANUP_MIN_AGE_MS = 24 * 3600_000;

export function createSecretState({ region, accountId, now, versionsPerSecret = VERSIONS_PER_SECRET }) {
  const secrets = new Map(); // name -> secret
  const arnPrefix = `arn:aws:secretsmanager:${region}:${accountId}:secret:`;

  function find(secretId) {
    if (typeof secretId !== 'string') return undefined;
    purgeExpired();
    if (secrets.has(secretId)) return secrets.get(secretId);
    if (!secretId.startsWith(arnPrefix)) return undefined;
    for (const secret of secrets.values()) if (secret.arn === secretId) return secret;
    return secrets.get(secretId.slice(arnPrefix.length)); // a partial ARN (no random suffix)
  }

  /** The secret or ResourceNotFoundException; InvalidRequestException when marked for deletion. */
  function resolve(secretId, { allowDeleted = false } = {}) {
    const secret = find(secretId);
    if (!secret) throw new AwsError('ResourceNotFoundException', NOT_FOUND);
    if (secret.deletedDate && !allowDeleted) throw new AwsError('InvalidRequestException', MARKED_FOR_DELETION);
    return secret;
  }

  function create(name, { description, kmsKeyId, tags = new Map() } = {}) {
    const at = now();
    const secret = {
      name,
      arn: `${arnPrefix}${name}-${suffix()}`,
      description,
      kmsKeyId,
      tags,
      createdDate: at,
      lastChangedDate: at,
      lastAccessedDate: undefined,
      deletedDate: undefined,
      deletionDate: undefined,
      rotationEnabled: false,
      rotationLambdaArn: undefined,
      rotationRules: undefined,
      lastRotatedDate: undefined,
      nextRotationDate: undefined,
      versions: new Map(), // id -> {id, value, stages: Set, createdDate, lastAccessedDate}
    };
    secrets.set(name, secret);
    return secret;
  }

  /** Adds a version; the first version of a secret always gets AWSCURRENT (unless `exact`, for seeding). */
  function addVersion(secret, id, value, stages, { createdDate = now(), exact = false } = {}) {
    const labels = new Set(stages);
    if (!exact && !holder(secret, 'AWSCURRENT')) labels.add('AWSCURRENT');
    const version = { id, value, stages: new Set(), createdDate, lastAccessedDate: undefined };
    secret.versions.set(id, version);
    for (const stage of labels) {
      if (exact) {
        holder(secret, stage)?.stages.delete(stage);
        version.stages.add(stage);
      } else {
        moveStage(secret, stage, version);
      }
    }
    secret.lastChangedDate = now();
    return version;
  }

  function holder(secret, stage) {
    for (const version of secret.versions.values()) if (version.stages.has(stage)) return version;
    return undefined;
  }

  /** Puts stage on `to` (or removes it when `to` is undefined), taking it from its holder. */
  function moveStage(secret, stage, to) {
    const from = holder(secret, stage);
    if (from === to) return;
    from?.stages.delete(stage);
    to?.stages.add(stage);
    if (stage === 'AWSCURRENT' && from) moveStage(secret, 'AWSPREVIOUS', from);
  }

  /**
   * Before a write adds a version: AWS removes deprecated (unlabelled) versions only once a secret
   * would hold more than the quota, and never one younger than 24 hours by the service clock, so
   * writes faster than that pile up until the write itself fails with LimitExceededException.
   */
  function makeRoomForVersion(secret) {
    if (secret.versions.size < versionsPerSecret) return;
    const cutoff = now().getTime() - CLEANUP_MIN_AGE_MS;
    const removable = [...secret.versions.values()]
      .filter((v) => v.stages.size === 0 && v.createdDate.getTime() <= cutoff)
      .sort((a, b) => a.createdDate - b.createdDate);
    for (const version of removable) {
      if (secret.versions.size < versionsPerSecret) break;
      secret.versions.delete(version.id);
    }
    if (secret.versions.size < versionsPerSecret) return;
    // The code is AWS's (PutSecretValue's modeled errors); the wording is the fake's own.
    throw new AwsError(
      'LimitExceededException',
      `You can't create another version of secret ${secret.name}: it has ${secret.versions.size} versions, the quota for versions per secret, and none of its deprecated versions is older than 24 hours.`,
    );
  }

  function purgeExpired() {
    const at = now().getTime();
    for (const [name, secret] of secrets) if (secret.deletionDate && secret.deletionDate.getTime() <= at) secrets.delete(name);
  }

  return { secrets, find, resolve, create, addVersion, makeRoomForVersion, holder, moveStage, purgeExpired, now };
}

/** A secret value as stored: {kind: 'string'|'binary', data}. */
export function sameValue(a, b) {
  if (!a || !b || a.kind !== b.kind) return false;
  return a.kind === 'string' ? a.data === b.data : Buffer.compare(a.data, b.data) === 0;
}

export function labelled(secret) {
  return [...secret.versions.values()].filter((v) => v.stages.size > 0);
}

// The six random characters Secrets Manager appends to a secret's ARN.
function suffix() {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(6)].map((b) => chars[b % chars.length]).join('');
}
