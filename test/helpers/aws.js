// Shared bits of the tests that run keyshift against the loopback AWS servers in test/fakes/.
import { baseEnv } from './cli.js';

export const REGION = 'us-east-1';

/** The CLI's environment: static credentials, no instance-metadata probes, our own state dir. */
export function awsEnv(extra = {}) {
  return baseEnv({
    AWS_ACCESS_KEY_ID: 'AKIDTEST',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: REGION,
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  });
}

/** Credentials and endpoint for an SDK client in the test process itself. */
export function sdkConfig(endpoint) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  return { region: REGION, endpoint, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' }, maxAttempts: 1 };
}

/** A policy file with one secret per entry of `secrets`, each in its own Secrets Manager secret. */
export function secretsManagerPolicy(endpoint, secrets, { interval = '30d', fallbackWindow = '1h', generator = '{ type: random, length: 24, charset: alphanumeric }', store = '' } = {}) {
  let text = 'secrets:\n';
  for (const { name, secretId, extra = '' } of secrets) {
    text += `  - name: ${name}\n    interval: ${interval}\n    fallbackWindow: ${fallbackWindow}\n    generator: ${generator}\n    environments:\n      - name: prod\n        store: { type: aws-secrets-manager, secretId: ${secretId}, endpoint: "${endpoint}"${store}${extra} }\n`;
  }
  return text;
}

/** A policy file with one key per entry of `keys`, each an aws-kms alias. */
export function kmsPolicy(endpoint, keys, { interval = '30d', fallbackWindow = '1h', extra = '', secretExtra = '', environmentExtra = '' } = {}) {
  let text = 'secrets:\n';
  for (const { name, alias, store = '' } of keys) {
    text += `  - name: ${name}\n    interval: ${interval}\n    fallbackWindow: ${fallbackWindow}\n${secretExtra}    environments:\n      - name: prod\n        store: { type: aws-kms, alias: ${alias}, endpoint: "${endpoint}"${extra}${store} }\n${environmentExtra}`;
  }
  return text;
}
