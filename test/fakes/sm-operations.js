// Secrets Manager operations over the fake's state (sm-state.js), with the semantics described in
// /work/shared/aws-notes.md section 1: staging labels, ClientRequestToken idempotency, deprecated
// versions, deletion marking. Rotation keeps its configuration only: there is no Lambda to run.
import { randomUUID } from 'node:crypto';
import { AwsError } from './aws-json-server.js';
import { labelled, sameValue } from './sm-state.js';
import { checkDescription, checkName, checkStage, checkStages, checkVersionId, page, readValue, tagPairs } from './sm-input.js';
import { checkTagKeys, checkTags, mergeTags } from './tag-rules.js';

const TAG_CODES = { invalid: 'InvalidParameterException', limit: 'InvalidParameterException' };
const DAY_MS = 86_400_000;

export function secretsManagerOperations(state) {
  const { resolve, now } = state;

  /** PutSecretValue and UpdateSecret: the token is the version id; a retry with it changes nothing. */
  function writeVersion(secret, token, value, stages) {
    const existing = secret.versions.get(token);
    if (existing) {
      if (sameValue(existing.value, value)) return existing;
      throw new AwsError(
        'ResourceExistsException',
        `You can't use ClientRequestToken ${token} because that value is already in use for a version of secret ${secret.arn}.`,
      );
    }
    state.makeRoomForVersion(secret);
    return state.addVersion(secret, token, value, stages);
  }

  return {
    CreateSecret(input) {
      checkName(input.Name);
      checkVersionId(input.ClientRequestToken, 'clientRequestToken');
      checkDescription(input.Description);
      const value = readValue(input, { required: false });
      const pairs = tagPairs(input.Tags);
      checkTags(pairs, TAG_CODES);
      const tags = mergeTags(new Map(), pairs, TAG_CODES);
      const token = input.ClientRequestToken ?? randomUUID();
      const existing = state.find(input.Name);
      if (existing && existing.name === input.Name) {
        if (existing.deletedDate) {
          throw new AwsError('InvalidRequestException', "You can't create this secret because a secret with this name is already scheduled for deletion.");
        }
        // A resent CreateSecret (same token, same value) succeeds without change, as tokens promise.
        const version = existing.versions.get(token);
        if (version && sameValue(version.value, value)) return { ARN: existing.arn, Name: existing.name, VersionId: token };
        throw new AwsError('ResourceExistsException', `The operation failed because the secret ${input.Name} already exists.`);
      }
      const secret = state.create(input.Name, { description: input.Description, kmsKeyId: input.KmsKeyId, tags });
      if (value) state.addVersion(secret, token, value, ['AWSCURRENT']);
      return { ARN: secret.arn, Name: secret.name, VersionId: value ? token : undefined };
    },

    DescribeSecret(input) {
      const secret = resolve(input.SecretId, { allowDeleted: true });
      return { ...summary(secret), VersionIdsToStages: stagesMap(secret) };
    },

    GetSecretValue(input) {
      checkVersionId(input.VersionId, 'versionId');
      if (input.VersionStage !== undefined) checkStage(input.VersionStage);
      const secret = resolve(input.SecretId);
      let version;
      if (input.VersionId !== undefined) {
        version = secret.versions.get(input.VersionId);
        if (!version) throw valueNotFound('VersionId', input.VersionId);
        if (input.VersionStage !== undefined && !version.stages.has(input.VersionStage)) {
          throw new AwsError('InvalidRequestException', 'You provided a VersionStage that is not associated to the provided VersionId.');
        }
      } else {
        const stage = input.VersionStage ?? 'AWSCURRENT';
        version = state.holder(secret, stage);
        if (!version) throw valueNotFound('staging label', stage);
      }
      const at = now();
      secret.lastAccessedDate = startOfDay(at);
      version.lastAccessedDate = startOfDay(at);
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.id,
        ...(version.value.kind === 'string' ? { SecretString: version.value.data } : { SecretBinary: version.value.data }),
        VersionStages: [...version.stages],
        CreatedDate: version.createdDate,
      };
    },

    PutSecretValue(input) {
      checkVersionId(input.ClientRequestToken, 'clientRequestToken');
      checkStages(input.VersionStages);
      const value = readValue(input, { required: true });
      const secret = resolve(input.SecretId);
      const token = input.ClientRequestToken ?? randomUUID();
      const version = writeVersion(secret, token, value, input.VersionStages ?? ['AWSCURRENT']);
      return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
    },

    UpdateSecret(input) {
      checkVersionId(input.ClientRequestToken, 'clientRequestToken');
      checkDescription(input.Description);
      const value = readValue(input, { required: false });
      const secret = resolve(input.SecretId);
      if (input.Description !== undefined) secret.description = input.Description;
      if (input.KmsKeyId !== undefined) secret.kmsKeyId = input.KmsKeyId;
      secret.lastChangedDate = now();
      if (!value) return { ARN: secret.arn, Name: secret.name };
      const version = writeVersion(secret, input.ClientRequestToken ?? randomUUID(), value, ['AWSCURRENT']);
      return { ARN: secret.arn, Name: secret.name, VersionId: version.id };
    },

    UpdateSecretVersionStage(input) {
      checkStage(input.VersionStage);
      checkVersionId(input.MoveToVersionId, 'moveToVersionId');
      checkVersionId(input.RemoveFromVersionId, 'removeFromVersionId');
      const secret = resolve(input.SecretId);
      const stage = input.VersionStage;
      const holder = state.holder(secret, stage);
      const remove = input.RemoveFromVersionId;
      if (remove !== undefined && !secret.versions.has(remove)) throw invalidVersion(remove);
      if (remove !== undefined && holder?.id !== remove) {
        throw new AwsError('InvalidParameterException', `Version stage ${stage} not found in version ${remove}`);
      }
      if (input.MoveToVersionId !== undefined) {
        const target = secret.versions.get(input.MoveToVersionId);
        if (!target) throw invalidVersion(input.MoveToVersionId);
        if (holder && holder !== target && remove === undefined) {
          throw new AwsError(
            'InvalidParameterException',
            `The parameter RemoveFromVersionId can't be empty. Staging label ${stage} is currently attached to version ${holder.id}, so you must explicitly reference that version in RemoveFromVersionId.`,
          );
        }
        state.moveStage(secret, stage, target);
      } else if (remove !== undefined) {
        if (stage === 'AWSCURRENT') {
          throw new AwsError('InvalidParameterException', "You can only move staging label AWSCURRENT to a different secret version. It can't be completely removed.");
        }
        state.moveStage(secret, stage, undefined);
      } else {
        throw new AwsError('InvalidParameterException', 'You must specify MoveToVersionId, RemoveFromVersionId, or both.');
      }
      secret.lastChangedDate = now();
      return { ARN: secret.arn, Name: secret.name };
    },

    ListSecretVersionIds(input) {
      const secret = resolve(input.SecretId);
      const versions = [...secret.versions.values()].filter((v) => input.IncludeDeprecated || v.stages.size > 0);
      const { items, NextToken } = page(versions, input.MaxResults, input.NextToken);
      return {
        ARN: secret.arn,
        Name: secret.name,
        NextToken,
        Versions: items.map((v) => ({
          VersionId: v.id,
          VersionStages: v.stages.size > 0 ? [...v.stages] : undefined,
          CreatedDate: v.createdDate,
          LastAccessedDate: v.lastAccessedDate,
        })),
      };
    },

    TagResource(input) {
      const pairs = tagPairs(input.Tags);
      checkTags(pairs, TAG_CODES);
      const secret = resolve(input.SecretId);
      secret.tags = mergeTags(secret.tags, pairs, TAG_CODES);
      return undefined;
    },

    UntagResource(input) {
      checkTagKeys(input.TagKeys, 'tagKeys.member');
      const secret = resolve(input.SecretId);
      for (const key of input.TagKeys ?? []) secret.tags.delete(key);
      return undefined;
    },

    DeleteSecret(input) {
      const days = input.RecoveryWindowInDays;
      const force = input.ForceDeleteWithoutRecovery === true;
      if (days !== undefined && force) {
        throw new AwsError('InvalidParameterException', "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
      }
      if (days !== undefined && !(Number.isInteger(days) && days >= 7 && days <= 30)) {
        throw new AwsError('InvalidParameterException', 'The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).');
      }
      const secret = resolve(input.SecretId, { allowDeleted: force });
      const at = now();
      if (force) {
        state.secrets.delete(secret.name);
        return { ARN: secret.arn, Name: secret.name, DeletionDate: at };
      }
      secret.deletedDate = at;
      secret.deletionDate = new Date(at.getTime() + (days ?? 30) * DAY_MS);
      return { ARN: secret.arn, Name: secret.name, DeletionDate: secret.deletionDate };
    },

    RestoreSecret(input) {
      const secret = resolve(input.SecretId, { allowDeleted: true });
      secret.deletedDate = undefined;
      secret.deletionDate = undefined;
      return { ARN: secret.arn, Name: secret.name };
    },

    RotateSecret(input) {
      checkVersionId(input.ClientRequestToken, 'clientRequestToken');
      const days = input.RotationRules?.AutomaticallyAfterDays;
      if (days !== undefined && !(Number.isInteger(days) && days >= 1 && days <= 1000)) {
        throw new AwsError('ValidationException', `1 validation error detected: Value '${days}' at 'rotationRules.automaticallyAfterDays' failed to satisfy constraint: Member must have value between 1 and 1000`);
      }
      const secret = resolve(input.SecretId);
      const lambda = input.RotationLambdaARN ?? secret.rotationLambdaArn;
      if (!lambda) throw noLambda();
      const pending = state.holder(secret, 'AWSPENDING');
      if (pending && pending !== state.holder(secret, 'AWSCURRENT')) {
        throw new AwsError('InvalidRequestException', "A previous rotation isn't complete. That rotation will be reattempted.");
      }
      secret.rotationEnabled = true;
      secret.rotationLambdaArn = lambda;
      if (input.RotationRules) secret.rotationRules = input.RotationRules;
      const every = secret.rotationRules?.AutomaticallyAfterDays;
      secret.nextRotationDate = every ? new Date(now().getTime() + every * DAY_MS) : undefined;
      return { ARN: secret.arn, Name: secret.name, VersionId: input.ClientRequestToken ?? randomUUID() };
    },

    CancelRotateSecret(input) {
      const secret = resolve(input.SecretId);
      if (!secret.rotationLambdaArn) throw noLambda();
      secret.rotationEnabled = false;
      secret.nextRotationDate = undefined;
      const pending = state.holder(secret, 'AWSPENDING');
      const inFlight = pending && pending !== state.holder(secret, 'AWSCURRENT');
      return { ARN: secret.arn, Name: secret.name, VersionId: inFlight ? pending.id : undefined };
    },

    ListSecrets(input) {
      let list = [...state.secrets.values()].filter((s) => input.IncludePlannedDeletion || !s.deletedDate);
      list = list.filter((s) => (input.Filters ?? []).every((f) => matches(s, f)));
      list.sort((a, b) => a.createdDate - b.createdDate);
      if (input.SortOrder === 'desc') list.reverse();
      const { items, NextToken } = page(list, input.MaxResults, input.NextToken);
      return { SecretList: items.map((s) => ({ ...summary(s), SecretVersionsToStages: stagesMap(s) })), NextToken };
    },
  };
}

function summary(secret) {
  return {
    ARN: secret.arn,
    Name: secret.name,
    Description: secret.description,
    KmsKeyId: secret.kmsKeyId,
    RotationEnabled: secret.rotationEnabled,
    RotationLambdaARN: secret.rotationLambdaArn,
    RotationRules: secret.rotationRules,
    LastRotatedDate: secret.lastRotatedDate,
    LastChangedDate: secret.lastChangedDate,
    LastAccessedDate: secret.lastAccessedDate,
    DeletedDate: secret.deletedDate,
    NextRotationDate: secret.nextRotationDate,
    Tags: secret.tags.size > 0 ? [...secret.tags].map(([Key, Value]) => ({ Key, Value })) : undefined,
    CreatedDate: secret.createdDate,
  };
}

/** Labelled versions only: deprecated ones are not listed. */
function stagesMap(secret) {
  const versions = labelled(secret);
  if (versions.length === 0) return undefined;
  return Object.fromEntries(versions.map((v) => [v.id, [...v.stages]]));
}

function matches(secret, { Key, Values = [] }) {
  const tags = [...secret.tags];
  const test = {
    name: (v) => secret.name.startsWith(v),
    description: (v) => (secret.description ?? '').startsWith(v),
    'tag-key': (v) => tags.some(([k]) => k.startsWith(v)),
    'tag-value': (v) => tags.some(([, val]) => val.startsWith(v)),
    all: (v) => [secret.name, secret.description ?? '', ...tags.flat()].some((s) => s.startsWith(v)),
  }[Key];
  if (!test) throw new AwsError('InvalidParameterException', `Invalid filter key: ${Key}`);
  return Values.some(test);
}

function valueNotFound(what, id) {
  return new AwsError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for ${what}: ${id}`);
}

function invalidVersion(id) {
  return new AwsError('InvalidParameterException', `Not a valid version: ${id}`);
}

function noLambda() {
  return new AwsError(
    'InvalidRequestException',
    "You tried to enable rotation on a secret that doesn't already have a Lambda function ARN configured and you didn't include such an ARN as a parameter in this call.",
  );
}

function startOfDay(date) {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
}
