import type * as SM from '@aws-sdk/client-secrets-manager';
import { awsErrorName, quotaExceeded } from '../aws/errors.js';

type Next = (args: { input: { SecretId?: string; Name?: string } }) => Promise<unknown>;

/**
 * Secrets Manager's LimitExceededException is a count quota (versions per secret, secrets per
 * account), not a rate. The SDK retries it as throttling (aws-notes.md section 5), which would only
 * wait half a minute for a certain failure; so inside the retry loop it becomes ERR_STORE_QUOTA, an
 * error the SDK does not retry.
 */
export function failFastOnQuotas(client: SM.SecretsManagerClient): void {
  const middleware = (next: Next, context: { commandName?: string }) => async (args: Parameters<Next>[0]) => {
    try {
      return await next(args);
    } catch (error) {
      if (awsErrorName(error) !== 'LimitExceededException') throw error;
      const op = (context.commandName ?? 'request').replace(/Command$/, '');
      throw quotaError(op, args.input, error);
    }
  };
  client.middlewareStack.addRelativeTo(middleware as never, { relation: 'after', toMiddleware: 'retryMiddleware', name: 'keyshiftQuotaNotRetried' });
}

function quotaError(op: string, input: Parameters<Next>[0]['input'], error: unknown) {
  const key = input.SecretId ?? input.Name ?? 'the secret';
  if (op !== 'PutSecretValue' && op !== 'UpdateSecret') {
    return quotaExceeded(error, input, `${op} on ${key}`, 'Secrets Manager refused it: it would exceed a quota of the account', 'see the quota named in the message (Service Quotas console, Secrets Manager); a rerun resumes once it is raised or freed');
  }
  return quotaExceeded(
    error,
    input,
    `${op} on ${key}`,
    `secret ${key} is at Secrets Manager's quota of versions per secret; no new version was written and AWSCURRENT is unchanged`,
    'AWS removes a secret\'s deprecated versions only past 100 and never one younger than 24 hours, so forced rotations faster than that pile up versions; ' +
      'wait until the oldest deprecated versions are 24 hours old, then rerun (the rotation resumes), and rotate one secret at most every few minutes (AWS advises one new version per 10 minutes sustained)',
  );
}
