// Input checks of the Secrets Manager fake. Model constraints (lengths, ranges) fail with
// ValidationException as AWS's front end reports them; the service's own rules use the codes the
// API reference lists for them.
import { AwsError } from './aws-json-server.js';

const NAME = /^[A-Za-z0-9/_+=.@-]+$/;
const MAX_VALUE_BYTES = 65536;

export function checkName(name) {
  if (typeof name !== 'string' || name.length < 1 || name.length > 512) throw constraint('name', name, 1, 512);
  if (!NAME.test(name)) {
    throw new AwsError(
      'InvalidParameterException',
      'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
    );
  }
}

/** ClientRequestToken and VersionId: 32-64 characters (so a stage name is not a version id). */
export function checkVersionId(value, member) {
  if (value === undefined) return;
  if (typeof value !== 'string' || value.length < 32 || value.length > 64) throw constraint(member, value, 32, 64);
}

export function checkStage(stage, member = 'versionStage') {
  if (typeof stage !== 'string' || stage.length < 1 || stage.length > 256) throw constraint(member, stage, 1, 256);
}

export function checkStages(stages) {
  if (stages === undefined) return;
  if (!Array.isArray(stages) || stages.length < 1 || stages.length > 20) {
    throw constraint('versionStages', stages, 1, 20);
  }
  for (const stage of stages) checkStage(stage, 'versionStages.member');
}

export function checkDescription(description) {
  if (description !== undefined && (typeof description !== 'string' || description.length > 2048)) {
    throw constraint('description', description, 0, 2048);
  }
}

/** The value of a write as {kind, data}, or undefined when neither member is set and that is allowed. */
export function readValue(input, { required }) {
  const hasString = input.SecretString !== undefined;
  const hasBinary = input.SecretBinary !== undefined;
  if (hasString && hasBinary) {
    throw new AwsError(
      'InvalidParameterException',
      "You can't specify both a binary secret value and a string secret value in the same secret.",
    );
  }
  if (!hasString && !hasBinary) {
    if (required) throw new AwsError('InvalidRequestException', 'You must provide either SecretString or SecretBinary.');
    return undefined;
  }
  const value = hasString
    ? { kind: 'string', data: String(input.SecretString) }
    : { kind: 'binary', data: Buffer.from(String(input.SecretBinary), 'base64') };
  const bytes = value.kind === 'string' ? Buffer.byteLength(value.data) : value.data.length;
  if (bytes < 1 || bytes > MAX_VALUE_BYTES) {
    throw constraint(hasString ? 'secretString' : 'secretBinary', { length: bytes }, 1, MAX_VALUE_BYTES);
  }
  return value;
}

export function tagPairs(tags) {
  return (tags ?? []).map((t) => ({ key: t.Key, value: t.Value ?? '', keyName: 'tags.member.key', valueName: 'tags.member.value' }));
}

/** Pages through a list with an opaque offset token, as ListSecrets and ListSecretVersionIds do. */
export function page(items, maxResults, nextToken, max = 100) {
  if (maxResults !== undefined && !(Number.isInteger(maxResults) && maxResults >= 1 && maxResults <= max)) {
    throw new AwsError('ValidationException', `1 validation error detected: Value '${maxResults}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and ${max}`);
  }
  let start = 0;
  if (nextToken !== undefined) {
    start = Number.parseInt(Buffer.from(String(nextToken), 'base64url').toString(), 10);
    if (!Number.isInteger(start) || start < 0) throw new AwsError('InvalidNextTokenException', 'The NextToken value is invalid.');
  }
  const end = start + (maxResults ?? max);
  return {
    items: items.slice(start, end),
    NextToken: end < items.length ? Buffer.from(String(end)).toString('base64url') : undefined,
  };
}

function constraint(member, value, min, max) {
  const length = typeof value === 'string' || Array.isArray(value) ? value.length : (value?.length ?? 0);
  const bound = length < min ? `greater than or equal to ${min}` : `less than or equal to ${max}`;
  return new AwsError(
    'ValidationException',
    `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must have length ${bound}`,
  );
}
