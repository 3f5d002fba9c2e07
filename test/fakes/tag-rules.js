// AWS tag rules shared by the fakes: at most 50 tags per resource, key 1-128 and value 0-256
// characters of letters, digits, spaces and _ . : / = + - @, and the aws: key prefix reserved.
import { AwsError } from './aws-json-server.js';

export const MAX_TAGS = 50;
const ALLOWED = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

/**
 * Checks [{key, value}] pairs. Length limits are model constraints (ValidationException); the other
 * rules are the service's own and use `codes.invalid` (Secrets Manager: InvalidParameterException,
 * KMS: TagException).
 */
export function checkTags(pairs, codes) {
  for (const { key, value, keyName, valueName } of pairs) {
    if (typeof key !== 'string' || key.length < 1 || key.length > 128) {
      throw lengthError(keyName, key, 1, 128);
    }
    if (typeof value !== 'string' || value.length > 256) throw lengthError(valueName, value, 0, 256);
    if (!ALLOWED.test(key) || !ALLOWED.test(value)) {
      throw new AwsError(codes.invalid, `Tag ${JSON.stringify(key)} contains characters that are not allowed. Use letters, numbers, spaces and _ . : / = + - @.`);
    }
    if (key.toLowerCase().startsWith('aws:')) {
      throw new AwsError(codes.invalid, `Tag keys beginning with "aws:" are reserved for AWS use: ${JSON.stringify(key)}.`);
    }
  }
}

export function checkTagKeys(keys, keyName) {
  for (const key of keys ?? []) if (typeof key !== 'string' || key.length < 1 || key.length > 128) throw lengthError(keyName, key, 1, 128);
}

/** Merges new tags into a Map, failing (codes.limit) when the resource would exceed 50 tags. */
export function mergeTags(current, pairs, codes) {
  const next = new Map(current);
  for (const { key, value } of pairs) next.set(key, value);
  if (next.size > MAX_TAGS) {
    throw new AwsError(codes.limit, `A resource can have at most ${MAX_TAGS} tags; this request would leave ${next.size}.`);
  }
  return next;
}

function lengthError(member, value, min, max) {
  const length = typeof value === 'string' ? value.length : 0;
  const bound = length < min ? `greater than or equal to ${min}` : `less than or equal to ${max}`;
  return new AwsError(
    'ValidationException',
    `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must have length ${bound}`,
  );
}
