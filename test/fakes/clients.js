// Real AWS SDK clients pointed at a fake: static credentials (no provider chain, no IMDS probe),
// the fake's region and endpoint. Options override the defaults (e.g. {maxAttempts: 1}).
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { KMSClient } from '@aws-sdk/client-kms';

// Node 20 would otherwise get the SDK's NodeVersionSupportWarning on every client.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.AWS_EC2_METADATA_DISABLED = 'true';

export const TEST_CREDENTIALS = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' };

export function secretsManagerClient(fake, options = {}) {
  return new SecretsManagerClient({ region: fake.region ?? 'us-east-1', endpoint: fake.endpoint, credentials: TEST_CREDENTIALS, ...options });
}

export function kmsClient(fake, options = {}) {
  return new KMSClient({ region: fake.region ?? 'us-east-1', endpoint: fake.endpoint, credentials: TEST_CREDENTIALS, ...options });
}

/**
 * Environment for a child process (the CLI) that should reach the fakes through the SDK's own
 * endpoint resolution. Spawn it asynchronously: a spawnSync would block the fakes in this process.
 */
export function awsEnv({ secretsManager, kms } = {}) {
  const fake = secretsManager ?? kms;
  return {
    AWS_REGION: fake?.region ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...(secretsManager ? { AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint } : {}),
    ...(kms ? { AWS_ENDPOINT_URL_KMS: kms.endpoint } : {}),
  };
}
