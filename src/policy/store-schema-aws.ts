// The AWS stores' policy schemas (docs/stores/aws-secrets-manager.md, docs/stores/aws-kms.md).
import { z } from 'zod';
import { quote, strict, wholeNumber } from './schema-common.js';
import { lockSchema } from './lock-schema.js';
import { awsTagsSchema } from './schema-aws-tags.js';

// AWS stores share these connection fields (docs/stores/). Unset ones come from the AWS environment.
export const AWS_REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d+$/;
export const awsConnection = {
  region: z
    .string()
    .regex(AWS_REGION_PATTERN, { error: (issue) => `${quote(issue.input)} is not an AWS Region; e.g. region: us-east-1` })
    .optional()
    .meta({ description: 'AWS Region (default: --region, AWS_REGION, the profile\'s region).' }),
  endpoint: z
    .string()
    .regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, { error: 'must be an http(s) URL, e.g. endpoint: http://127.0.0.1:4566' })
    .optional()
    .meta({ description: 'Another endpoint (a VPC endpoint, a local emulator); default: --endpoint-url, AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL.' }),
  profile: z.string().min(1, { error: 'must not be empty' }).optional().meta({ description: 'Profile of the shared AWS config (default: --profile, AWS_PROFILE).' }),
};

export const SECRET_ID_PATTERN = /^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+|[A-Za-z0-9/_+=.@-]{1,512})$/;

export const secretsManagerStoreSchema = strict({
  type: z.literal('aws-secrets-manager'),
  secretId: z
    .string()
    .regex(SECRET_ID_PATTERN, { error: 'must be a secret name (letters, digits and /_+=.@-) or a Secrets Manager secret ARN' })
    .meta({ description: 'The secret\'s name or ARN.' }),
  ...awsConnection,
  createIfMissing: z.boolean({ error: 'must be true or false' }).optional().meta({ description: 'Let the first rotate create the secret (default false: a missing secret is an error).' }),
  quotas: strict({
    versionWritesPerSecond: wholeNumber(1, 10_000, 'PutSecretValue/UpdateSecretVersionStage calls per second (default 50).').optional(),
    readsPerSecond: wholeNumber(1, 100_000, 'DescribeSecret/GetSecretValue calls per second (default 10000).').optional(),
    tagWritesPerSecond: wholeNumber(1, 10_000, 'TagResource/CreateSecret calls per second (default 50).').optional(),
  })
    .optional()
    .meta({ description: 'Client-side request rates shared by all rotations of a run (AWS quotas per account and Region).' }),
  lock: lockSchema.optional(),
  tags: awsTagsSchema.optional(),
});

export const KMS_ALIAS_PATTERN = /^alias\/[A-Za-z0-9/_-]{1,250}$/;

export const kmsStoreSchema = strict({
  type: z.literal('aws-kms'),
  alias: z
    .string()
    .regex(KMS_ALIAS_PATTERN, { error: (issue) => `${quote(issue.input)} is not a KMS alias; use alias/<name> with letters, digits and / _ -, e.g. alias: alias/payments-data` })
    .refine((alias) => !alias.startsWith('alias/aws/'), { error: 'alias/aws/ is reserved for AWS managed keys, which only AWS rotates; use an alias of a customer managed key' })
    .meta({ description: 'The alias of the customer managed key (alias/…); keyshift rotates the key behind it.' }),
  ...awsConnection,
  mode: z
    .enum(['alias', 'managed'], { error: 'must be alias (a new key behind the alias) or managed (new key material under the same key id)' })
    .optional()
    .meta({ description: 'alias: a new key, switched by moving the alias (default); managed: KMS key rotation under the same key id.', default: 'alias' }),
  pendingWindowDays: wholeNumber(7, 30, 'Days between decommission and the deletion of the old key (ScheduleKeyDeletion; default 30).').optional(),
  createIfMissing: z.boolean({ error: 'must be true or false' }).optional().meta({ description: 'Let the first rotate create a symmetric key and the alias (default false: a missing alias is an error).' }),
  quotas: strict({
    controlPlanePerSecond: wholeNumber(1, 1_000, 'Calls per second of each control-plane API (CreateKey, UpdateAlias, TagResource…; default 5).').optional(),
    readsPerSecond: wholeNumber(1, 10_000, 'DescribeKey/List* calls per second (default 100).').optional(),
  })
    .optional()
    .meta({ description: 'Client-side request rates shared by all rotations of a run (KMS quotas per account and Region).' }),
  lock: lockSchema.optional(),
  tags: awsTagsSchema.optional(),
});
