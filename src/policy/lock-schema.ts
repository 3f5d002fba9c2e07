import { z } from 'zod';
import { parseDuration } from './durations.js';
import { durationSchema, strict } from './schema-common.js';

/**
 * `lock:` on a store spec: where this store's cross-machine leases are kept instead of the store's
 * own (docs/workflow.md#leases, docs/policies.md#lock). Today one kind: a DynamoDB lock table with
 * conditional writes, like Terraform's S3 backend. Its own file: schema.ts imports it once.
 */

// DynamoDB's rule for table names: 3-255 characters from letters, digits, _ - and .
const TABLE_PATTERN = /^[A-Za-z0-9_.-]{3,255}$/;
const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const MIN_TTL_MS = 1_000;
const MAX_TTL_MS = 3_600_000;

export const lockSchema = strict({
  type: z.literal('dynamodb', { error: 'must be dynamodb (the only lock table keyshift knows); e.g. lock: { type: dynamodb, table: keyshift-leases, region: us-east-1 }' }),
  table: z
    .string({ error: 'must be a DynamoDB table name, e.g. table: keyshift-leases' })
    .regex(TABLE_PATTERN, { error: 'must be a DynamoDB table name: 3-255 letters, digits, _ - or .; e.g. table: keyshift-leases' })
    .meta({ description: 'The lock table; its partition key is the string attribute `lease` (docs/stores/dynamodb-lock.md).' }),
  region: z
    .string()
    .regex(REGION_PATTERN, { error: 'is not an AWS Region; e.g. region: us-east-1' })
    .optional()
    .meta({ description: "The table's Region (default: AWS_REGION, the profile's region)." }),
  endpoint: z
    .string()
    .regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, { error: 'must be an http(s) URL, e.g. endpoint: http://127.0.0.1:8000' })
    .optional()
    .meta({ description: 'Another endpoint (a VPC endpoint, DynamoDB Local); default: AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL.' }),
  profile: z.string().min(1, { error: 'must not be empty' }).optional().meta({ description: 'Profile of the shared AWS config (default: AWS_PROFILE).' }),
  ttl: durationSchema('2m', 'How long a lease lives without renewal: a dead runner\'s lease is taken over this long after its last renewal (default 2m; 1s-1h).')
    .refine((text) => {
      const ms = parseDuration(text) ?? 0;
      return ms >= MIN_TTL_MS && ms <= MAX_TTL_MS;
    }, { error: 'must be from 1s to 1h; e.g. ttl: 2m' })
    .optional(),
}).meta({ description: "Keep this store's cross-machine leases in a DynamoDB lock table instead of the store itself." });

export type LockInput = z.infer<typeof lockSchema>;

/** A normalised `lock:` (policy/types.ts StoreSpec.lock). */
export interface LockSpec {
  type: 'dynamodb';
  table: string;
  region: string | null;
  endpoint: string | null;
  profile: string | null;
  ttlMs: number;
}

export const DEFAULT_LEASE_TTL_MS = 120_000;

export function normaliseLock(lock: LockInput): LockSpec {
  return {
    type: 'dynamodb',
    table: lock.table,
    region: lock.region ?? null,
    endpoint: lock.endpoint ?? null,
    profile: lock.profile ?? null,
    ttlMs: lock.ttl ? (parseDuration(lock.ttl) as number) : DEFAULT_LEASE_TTL_MS,
  };
}

/** A store spec with its `lock:` (if any) normalised onto it. */
export function withLock<Spec extends object>(spec: Spec, lock: LockInput | undefined): Spec & { lock?: LockSpec } {
  return lock ? { ...spec, lock: normaliseLock(lock) } : spec;
}
