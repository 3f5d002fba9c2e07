// KMS alias operations of the fake. Alias names are `alias/` plus letters, digits, / _ -
// (at most 256 characters); `alias/aws/` is reserved for AWS managed keys.
import { AwsError } from './aws-json-server.js';
import { assertNotPendingDeletion } from './kms-state.js';
import { pageMarker } from './kms-keys.js';

export const ALIASES_PER_KEY = 50;
const ALIAS = /^alias\/[a-zA-Z0-9/_-]+$/;

export function kmsAliasOperations(state) {
  const { aliases, now, resolveKey } = state;

  function existing(name) {
    checkAliasName(name);
    const entry = aliases.get(name);
    if (!entry) throw new AwsError('NotFoundException', `Alias ${state.aliasArn(name)} is not found.`);
    return entry;
  }

  /** An alias points at a key id or key ARN (not another alias), and never at a key pending deletion. */
  function target(input) {
    const key = resolveKey(input.TargetKeyId);
    assertNotPendingDeletion(key);
    return key;
  }

  return {
    CreateAlias(input) {
      checkAliasName(input.AliasName);
      if (aliases.has(input.AliasName)) {
        throw new AwsError('AlreadyExistsException', `An alias with the name ${state.aliasArn(input.AliasName)} already exists`);
      }
      const key = target(input);
      const count = [...aliases.values()].filter((a) => a.targetKeyId === key.id).length;
      if (count >= ALIASES_PER_KEY) {
        throw new AwsError('LimitExceededException', `${key.arn} already has ${ALIASES_PER_KEY} aliases.`);
      }
      const at = now();
      aliases.set(input.AliasName, { name: input.AliasName, targetKeyId: key.id, creationDate: at, lastUpdatedDate: at });
      return undefined;
    },

    UpdateAlias(input) {
      const entry = existing(input.AliasName);
      const key = target(input);
      const current = state.keys.get(entry.targetKeyId);
      if (current && (current.keySpec !== key.keySpec || current.keyUsage !== key.keyUsage)) {
        throw new AwsError(
          'ValidationException',
          `${input.AliasName} points to a ${current.keySpec}/${current.keyUsage} key; it cannot be moved to a ${key.keySpec}/${key.keyUsage} key.`,
        );
      }
      entry.targetKeyId = key.id;
      entry.lastUpdatedDate = now();
      return undefined;
    },

    DeleteAlias(input) {
      const entry = existing(input.AliasName);
      aliases.delete(entry.name);
      return undefined;
    },

    ListAliases(input) {
      const keyId = input.KeyId === undefined ? undefined : resolveKey(input.KeyId).id;
      const list = [...aliases.values()]
        .filter((a) => keyId === undefined || a.targetKeyId === keyId)
        .map((a) => ({
          AliasName: a.name,
          AliasArn: state.aliasArn(a.name),
          TargetKeyId: a.targetKeyId,
          CreationDate: a.creationDate,
          LastUpdatedDate: a.lastUpdatedDate,
        }));
      const { items, NextMarker, Truncated } = pageMarker(list, input.Limit, input.Marker);
      return { Aliases: items, NextMarker, Truncated };
    },
  };
}

export function checkAliasName(name) {
  if (typeof name !== 'string' || name.length < 1 || name.length > 256) {
    throw new AwsError('ValidationException', "1 validation error detected: Value at 'aliasName' failed to satisfy constraint: Member must have length between 1 and 256");
  }
  if (!name.startsWith('alias/')) {
    throw new AwsError('ValidationException', `Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/programming-aliases.html`);
  }
  if (name.startsWith('alias/aws/')) {
    throw new AwsError('NotAuthorizedException', `The alias name ${name} is reserved for AWS managed keys.`);
  }
  if (!ALIAS.test(name)) {
    throw new AwsError('ValidationException', `1 validation error detected: Value '${name}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$`);
  }
}
