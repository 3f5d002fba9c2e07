import { z } from 'zod';
import { lockSchema } from './lock-schema.js';

/**
 * Schemas of the file stores that live in a checkout: `dotenv` (docs/stores/dotenv.md) and
 * `k8s-secret` (docs/stores/k8s-secret.md). Kept apart from schema.ts so each store's fields sit
 * together; schema.ts adds them to its `storeSchema` union.
 */

/** A variable name that `dotenv`, docker's `--env-file` and a POSIX shell all accept. */
export const ENV_VAR_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,199}$/;
/** A Kubernetes object name (DNS subdomain, RFC 1123). */
export const K8S_NAME_PATTERN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A key of a Secret's `data` (what Kubernetes accepts). */
export const K8S_DATA_KEY_PATTERN = /^[-._a-zA-Z0-9]{1,253}$/;

const pathField = (example: string, description: string) =>
  z
    .string()
    .min(1, { error: `must not be empty; e.g. path: ${example}`, abort: true })
    .refine((path) => !path.includes('\0'), { error: `must not contain a NUL character (\\0); e.g. path: ${example}` })
    .meta({ description });

export const dotenvStoreSchema = strict({
  type: z.literal('dotenv'),
  path: pathField('.env', 'The .env file; a relative path resolves against the directory keyshift runs in.'),
  name: z
    .string()
    .regex(ENV_VAR_PATTERN, { error: 'must be a variable name: a letter or _, then letters, digits and _ (e.g. name: WEBHOOK_SIGNING_KEY)' })
    .optional()
    .meta({ description: "The variable holding CURRENT (default: the secret's name upper-cased, - as _); NAME_PENDING and NAME_PREVIOUS hold the others." }),
  lock: lockSchema.optional(),
});

export const k8sSecretStoreSchema = strict({
  type: z.literal('k8s-secret'),
  path: pathField('deploy/k8s/secret.yaml', 'The Secret manifest in a checkout; a relative path resolves against the directory keyshift runs in.'),
  name: z
    .string()
    .regex(K8S_NAME_PATTERN, { error: 'must be a Kubernetes object name: lowercase letters, digits, - and . (e.g. name: secrets-service-config)' })
    .meta({ description: 'metadata.name of the Secret in the manifest.' }),
  key: z
    .string()
    .regex(K8S_DATA_KEY_PATTERN, { error: 'must be a Secret data key: letters, digits, -, _ and . (e.g. key: AES_KEY)' })
    .optional()
    .meta({ description: "The data key holding CURRENT (default: the secret's name upper-cased, - as _); KEY_PENDING and KEY_PREVIOUS hold the others." }),
  git: strict({
    commit: z.boolean({ error: 'must be true or false' }).meta({ description: 'Commit each change of the manifest (message names the rotation, never the value).' }),
  })
    .optional()
    .meta({ description: 'Git settings of the checkout the manifest is in.' }),
  lock: lockSchema.optional(),
});

/** The default variable or data key of a secret: `webhook-signing-key` → `WEBHOOK_SIGNING_KEY`. */
export function defaultVariableName(secretName: string): string {
  return secretName.toUpperCase().replaceAll('-', '_');
}

function strict<Shape extends z.ZodRawShape>(shape: Shape) {
  const allowed = `allowed keys: ${Object.keys(shape).join(', ')}`;
  return z.strictObject(shape, { error: (issue) => (issue.code === 'unrecognized_keys' ? allowed : undefined) });
}
