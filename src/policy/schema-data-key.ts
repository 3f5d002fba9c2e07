import { z } from 'zod';
import { strict } from './schema-common.js';
import { awsConnection } from './store-schema-aws.js';
import type { DataKeyGenerator } from './types.js';

/**
 * `generator: { type: data-key, master }` (docs/reencrypt.md#key-hierarchy): each version of the
 * secret is a new 32-byte data key, stored only wrapped by the master (`ksdk1:…`). The master is a
 * KMS key, or another keyshift secret of 32 random bytes (`local`).
 */

const KMS_KEY_ID = /^(alias\/[A-Za-z0-9/_-]{1,250}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}|arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/\S+)$/;

const kmsMasterSchema = strict({
  type: z.literal('aws-kms'),
  keyId: z
    .string({ error: 'must be a KMS key id, key ARN or alias, e.g. keyId: alias/app-master' })
    .regex(KMS_KEY_ID, { error: 'must be a KMS key id, key ARN or alias, e.g. keyId: alias/app-master' })
    .meta({ description: 'The KMS key that wraps the data keys: alias/…, a key id or an ARN.' }),
  ...awsConnection,
});

const localMasterSchema = strict({
  type: z.literal('local'),
  secret: z
    .string({ error: 'must name a secret of these policies, e.g. secret: app-master' })
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { error: 'must name a secret of these policies, e.g. secret: app-master' })
    .meta({ description: 'The keyshift secret (generator: { type: random, bytes: 32 }) whose CURRENT version wraps the data keys.' }),
});

export const dataKeyGeneratorSchema = strict({
  type: z.literal('data-key'),
  master: z
    .discriminatedUnion('type', [kmsMasterSchema, localMasterSchema], {
      error: 'must be { type: aws-kms, keyId: alias/… } or { type: local, secret: <secret name> }',
    })
    .meta({ description: 'What wraps the data keys: a KMS key, or a keyshift secret of 32 random bytes.' }),
}).meta({ description: 'A 32-byte data key per version, stored only wrapped by the master (ksdk1:…); for reencrypt.' });

export type DataKeyGeneratorInput = z.output<typeof dataKeyGeneratorSchema>;

export function normaliseDataKeyGenerator(input: DataKeyGeneratorInput): DataKeyGenerator {
  const master = input.master;
  if (master.type === 'local') return { type: 'data-key', master: { type: 'local', secret: master.secret } };
  return { type: 'data-key', master: { type: 'aws-kms', keyId: master.keyId, region: master.region ?? null, endpoint: master.endpoint ?? null, profile: master.profile ?? null } };
}

type DataKeyShape = {
  generator?: { type?: string };
  sharedValue?: unknown;
  validate?: unknown;
  environments?: Array<{ store?: { type?: string } }>;
};

/**
 * A data key's versions are re-wrapped in place when the master rotates, which the local store
 * can do (SecretsManager and Vault versions are immutable); the wrapping is bound to the secret and
 * environment, so one value cannot be shared across environments.
 */
export function dataKeyRules(ctx: z.core.ParsePayload<DataKeyShape>): void {
  const value = ctx.value;
  if (value.generator?.type !== 'data-key') return;
  const fail = (path: Array<string | number>, message: string) => ctx.issues.push({ code: 'custom', input: value, path, message });
  (value.environments ?? []).forEach((environment, index) => {
    const type = environment.store?.type;
    if (type !== undefined && type !== 'local' && type !== 'aws-kms') {
      fail(['environments', index, 'store', 'type'], `${type} cannot hold a data key (its versions are re-wrapped in place when the master rotates); use a local store`);
    }
  });
  if (value.sharedValue === true) fail(['sharedValue'], 'does not apply to data keys (each environment has its own, bound to it); remove it');
  if (value.validate !== undefined) fail(['validate'], 'does not apply to data keys (random 32-byte keys, stored wrapped); remove it');
}
