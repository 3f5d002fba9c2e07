import { ExitCode, KeyshiftError } from '../../errors.js';
import { redactSecrets } from '../../secret-forms.js';
import { SecretValue } from '../../secret-value.js';

/**
 * AWS SDK errors → keyshift errors. Throttled, access denied and not found stay distinct all the
 * way into the evidence (their codes and the AWS error name are in the message), so an operator
 * never mistakes a missing permission for a missing secret.
 */

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'LimitExceededException',
]);
const ACCESS_DENIED = new Set(['AccessDeniedException', 'AccessDenied', 'NotAuthorizedException', 'UnauthorizedOperation', 'UnrecognizedClientException', 'InvalidSignatureException']);
const BAD_SIGNATURE = new Set(['InvalidSignatureException', 'SignatureDoesNotMatch']);
const NOT_FOUND = new Set(['ResourceNotFoundException', 'NotFoundException']);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);

export interface AwsErrorContext {
  /** What was being done, for the message: `PutSecretValue on prod/db`. */
  what: string;
  /** The store's location, for hints. */
  service: string;
  /** Where the least-privilege IAM policy is documented. */
  iamDoc: string;
  /** The request's input: any value in it (sentValues) is scrubbed, in every form, from the message. */
  input?: object;
}

export function awsErrorName(error: unknown): string {
  const e = error as { name?: string; code?: string; Code?: string };
  return e?.code && NETWORK.has(e.code) ? e.code : (e?.name ?? e?.Code ?? 'Error');
}

export function toKeyshiftError(error: unknown, context: AwsErrorContext): KeyshiftError {
  if (error instanceof KeyshiftError) return error;
  const name = awsErrorName(error);
  const meta = (error as { $metadata?: { httpStatusCode?: number; attempts?: number } }).$metadata;
  // An endpoint (a proxy, an emulator, a misbehaving service) may echo the request, value included.
  const sent = context.input ? sentValues(context.input) : [];
  if (sent.length > 0) scrubError(error, sent);
  const detail = `${name}: ${oneLine(redactSecrets((error as Error)?.message ?? String(error), sent))}`;
  const attempts = meta?.attempts && meta.attempts > 1 ? ` after ${meta.attempts} attempts` : '';
  if (THROTTLING.has(name) || meta?.httpStatusCode === 429) {
    return new KeyshiftError('ERR_STORE_THROTTLED', `${context.what}: throttled by ${context.service}${attempts} (${detail})`, {
      retryable: true,
      hint: 'rerun to resume; lower --concurrency or the store\'s quotas if it keeps happening',
      cause: error,
    });
  }
  const scope = BAD_SIGNATURE.has(name) ? wrongScope(error, context, detail) : undefined;
  if (scope) return scope;
  if (ACCESS_DENIED.has(name)) {
    return new KeyshiftError('ERR_STORE_ACCESS_DENIED', `${context.what}: access denied by ${context.service} (${detail})`, {
      hint: `grant the permissions listed in ${context.iamDoc} to the identity keyshift runs as`,
      cause: error,
    });
  }
  if (NOT_FOUND.has(name)) {
    return new KeyshiftError('ERR_STORE_NOT_FOUND', `${context.what}: not found in ${context.service} (${detail})`, { cause: error });
  }
  if (name === 'CredentialsProviderError' || /credential/i.test(name)) {
    return new KeyshiftError('ERR_AWS_CREDENTIALS', `${context.what}: no usable AWS credentials (${detail})`, {
      exitCode: ExitCode.usage,
      hint: 'set AWS_PROFILE or --profile, run `aws sso login`, or provide AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY',
      cause: error,
    });
  }
  if (/region is missing/i.test(detail)) {
    return new KeyshiftError('ERR_AWS_REGION', `${context.what}: no AWS Region configured`, {
      exitCode: ExitCode.usage,
      hint: 'set region: in the store, --region, or AWS_REGION',
      cause: error,
    });
  }
  const fault = (error as { $fault?: string }).$fault;
  if (NETWORK.has(name) || fault === 'server' || (meta?.httpStatusCode ?? 0) >= 500) {
    return new KeyshiftError('ERR_STORE_UNAVAILABLE', `${context.what}: ${context.service} did not answer${attempts} (${detail})`, {
      retryable: true,
      hint: 'rerun to resume: every step is safe to repeat',
      cause: error,
    });
  }
  return new KeyshiftError('ERR_STORE_REQUEST', `${context.what}: ${context.service} refused the request (${detail})`, { cause: error });
}

/**
 * A request the service refused because it would exceed a count quota (LimitExceededException):
 * neither a retry nor a slower pace helps now. `hint` says what does, for that quota.
 */
export function quotaExceeded(error: unknown, input: object, what: string, message: string, hint: string): KeyshiftError {
  // The reply may echo the request, value included, like any other error (toKeyshiftError).
  const sent = sentValues(input);
  if (sent.length > 0) scrubError(error, sent);
  const detail = `${awsErrorName(error)}: ${oneLine(redactSecrets((error as Error)?.message ?? String(error), sent))}`;
  return new KeyshiftError('ERR_STORE_QUOTA', `${what}: ${message} (${detail})`, { hint, cause: error });
}

export function isNotFound(error: unknown): boolean {
  return NOT_FOUND.has(awsErrorName(error));
}

/** The values in an SDK request's input (Secrets Manager's SecretString/SecretBinary, KMS's Plaintext). */
export function sentValues(input: object): SecretValue[] {
  const values: SecretValue[] = [];
  for (const field of ['SecretString', 'SecretBinary', 'Plaintext']) {
    const value = (input as Record<string, unknown>)[field];
    if (typeof value === 'string' && value !== '') values.push(SecretValue.fromString(value));
    else if (value instanceof Uint8Array && value.length > 0) values.push(SecretValue.fromBytes(value));
  }
  return values;
}

/** The SDK error stays the cause: scrub its own texts too, so nothing that prints it shows a value. */
function scrubError(error: unknown, sent: SecretValue[]): void {
  if (!error || typeof error !== 'object') return;
  const fields = error as Record<string, unknown>;
  for (const field of ['message', 'Message', 'stack']) {
    const text = fields[field];
    if (typeof text !== 'string') continue;
    try {
      fields[field] = redactSecrets(text, sent);
    } catch {
      // a read-only property: the message built from it below is scrubbed anyway
    }
  }
}

/**
 * AWS checks the SigV4 credential scope first: a request signed for another Region or service than
 * the endpoint's is refused with "Credential should be scoped to a valid region, not 'eu-west-1'."
 * (or "… to correct service: 'kms'."). That is a configuration error, not missing permissions.
 */
function wrongScope(error: unknown, context: AwsErrorContext, detail: string): KeyshiftError | undefined {
  const text = (error as Error)?.message ?? '';
  const region = /scoped to a valid region, not '([^']*)'/i.exec(text);
  if (region) {
    return new KeyshiftError('ERR_AWS_REGION', `${context.what}: signed for Region ${region[1] || '(none)'}, but the endpoint (${context.service}) is in another Region (${detail})`, {
      exitCode: ExitCode.usage,
      hint: "make the store's region: (or --region, AWS_REGION) the endpoint's Region, or drop endpoint: (--endpoint-url, AWS_ENDPOINT_URL_*) to use that Region's own endpoint",
      cause: error,
    });
  }
  const service = /scoped to correct service: '([^']*)'/i.exec(text);
  if (service) {
    return new KeyshiftError('ERR_AWS_ENDPOINT', `${context.what}: the endpoint (${context.service}) serves '${service[1]}', not the service this store uses (${detail})`, {
      exitCode: ExitCode.usage,
      hint: "point the store's endpoint: (or --endpoint-url, AWS_ENDPOINT_URL_<SERVICE>) at the store's own service",
      cause: error,
    });
  }
  return undefined;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 300);
}
