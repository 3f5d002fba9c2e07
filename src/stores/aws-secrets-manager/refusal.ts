import type * as SM from '@aws-sdk/client-secrets-manager';
import { ExitCode, KeyshiftError } from '../../errors.js';
import { foreignPending, foreignPendingText, type Labels } from './labels.js';

/**
 * What keyshift must not touch: a secret scheduled for deletion, one a rotation Lambda rotates, one
 * with an AWSPENDING version keyshift did not write. Refused with exit 3, before anything changes.
 */
export function refuseForeignState(key: string, description: SM.DescribeSecretResponse, ours: Array<string | undefined>): void {
  if (description.DeletedDate) {
    throw blocked(`secret ${key} is scheduled for deletion (on ${description.DeletedDate.toISOString()})`, `restore it first (aws secretsmanager restore-secret --secret-id ${key}), or remove it from the policy`);
  }
  if (description.RotationEnabled) {
    throw blocked(
      `secret ${key} has AWS-managed rotation enabled (${description.RotationLambdaARN ?? 'managed rotation'}); keyshift will not fight a rotation Lambda`,
      `turn it off with aws secretsmanager cancel-rotate-secret --secret-id ${key} (docs/stores/aws-secrets-manager.md#migrating-from-a-rotation-lambda)`,
    );
  }
  const foreign = foreignPending((description.VersionIdsToStages ?? {}) as Labels, ours);
  if (foreign) {
    const { message, hint } = foreignPendingText(key, foreign);
    throw blocked(message, hint);
  }
}

function blocked(message: string, hint: string): KeyshiftError {
  return new KeyshiftError('ERR_STORE_REFUSED', message, { exitCode: ExitCode.blocked, hint });
}
