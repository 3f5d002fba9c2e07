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
