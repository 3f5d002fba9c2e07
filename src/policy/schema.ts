import { z } from 'zod';
import { parseDuration } from './durations.js';
import { durationSchema, quote, strict } from './schema-common.js';
import { commandHookSchema, hookList, verifyHookSchema } from './schema-hooks.js';
import { dotenvStoreSchema, k8sSecretStoreSchema } from './store-schemas.js';
import { vaultKv2StoreSchema } from './store-schema-vault.js';
import { commandStoreSchema } from './store-schema-command.js';
import { pluginStoreSchema } from './store-schema-plugin.js';
import { kmsStoreSchema, secretsManagerStoreSchema } from './store-schema-aws.js';
import { lockSchema } from './lock-schema.js';
import { valueRulesSchema, valueRulesFitGenerator } from './schema-validate.js';
import { reencryptKeyRule, reencryptSchema } from './reencrypt-schema.js';
import { dataKeyRules } from './schema-data-key.js';
import { CHARSETS, generatorSchema, type CharsetName } from './schema-generators.js';
import { notifyTargetSchema } from './schema-notify.js';

/**
 * The zod schema of one policy FILE, as the user writes it (before normalisation in load.ts).
 * Messages here are fragments without the field path: the loader prefixes `secrets[0].interval: `.
 * Every object is strict, so a typo (`fallbackWindw`) is an error rather than a silently ignored key.
 * To add a store type, add its object to `storeSchema`; to add an environment field (approvals…),
 * add it to `environmentSchema`; hooks and `env:` are in schema-hooks.ts, generators in
 * schema-generators.ts, notify targets in schema-notify.ts. The JSON Schema for editors is generated from this.
 */

export const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const STORE_KEY_PATTERN = /^[A-Za-z0-9._/-]{1,200}$/;

const nameSchema = (what: string) =>
  z
    .string()
    .regex(NAME_PATTERN, {
      error: (issue) =>
        `${quote(issue.input)} is not a valid ${what} name; use 1-63 lowercase letters, digits and dashes, starting with a letter or digit`,
    })
    .meta({ description: `The ${what}'s name: lowercase letters, digits and dashes.` });

const localStoreSchema = strict({
  type: z.literal('local'),
  path: z
    .string()
    .min(1, { error: 'must not be empty; e.g. path: .keyshift/dev.store', abort: true })
    // No file system accepts a NUL byte in a path: every command would fail on this store.
    .refine((path) => !path.includes('\0'), { error: 'must not contain a NUL character (\\0); e.g. path: .keyshift/dev.store' })
    .meta({ description: 'Store file; a relative path resolves against the directory keyshift runs in.' }),
  key: z
    .string()
    .regex(STORE_KEY_PATTERN, {
      error: 'must be 1-200 characters from letters, digits and . _ / -',
    })
    .optional()
    .meta({ description: "Entry name inside the store (default: the secret's name)." }),
  lock: lockSchema.optional(),
});

export const storeSchema = z
  .discriminatedUnion('type', [
    localStoreSchema,
    secretsManagerStoreSchema,
    kmsStoreSchema,
    dotenvStoreSchema,
    k8sSecretStoreSchema,
    vaultKv2StoreSchema,
    commandStoreSchema,
    pluginStoreSchema,
  ])
  .meta({ description: 'Where this environment keeps the secret.' });

export const environmentSchema = strict({
  name: nameSchema('environment'),
  store: storeSchema,
  deploy: hookList(commandHookSchema, 'Commands that roll the new value out during the overlap, in order (default none).'),
  verify: hookList(verifyHookSchema, 'Checks run after deploy; a failure rolls the environment back (default none).'),
  observe: durationSchema(
    '30m',
    'Bake time after this environment switched before the next environment may start (default none). A run does not sleep: a later run continues.',
  ).optional(),
  requireTicket: z
    .boolean()
    .optional()
    .meta({ description: 'Rotating this environment needs --ticket (default false).', default: false }),
});

export const secretSchema = strict({
  name: nameSchema('secret'),
  owner: z.string().optional().meta({ description: 'Team or person accountable for this secret.' }),
  description: z
    .string()
    .refine((text) => !text.trim().includes('\n'), { error: 'must be one line (it is shown in tables); put more in a YAML comment' })
    .optional()
    .meta({ description: 'What the secret protects (one line).' }),
  interval: durationSchema('90d', 'How often the secret is rotated.'),
  fallbackWindow: durationSchema('48h', 'How long the old value stays valid after the switch.'),
  generator: generatorSchema.optional(),
  environments: z
    .array(environmentSchema)
    .min(1, { error: 'is empty; add at least one environment, e.g. - name: dev' })
    .meta({ description: 'Environments, promoted in this order (e.g. dev, then prod).' }),
  revoke: hookList(commandHookSchema, 'Commands run at decommission, before the old version is removed (default none).'),
  decommissionCheck: hookList(
    commandHookSchema,
    'Checks that must pass before the old version is decommissioned, e.g. "no ciphertext under the old key remains"; while one fails the old version stays (default none).',
  ),
  sharedValue: z
    .boolean()
    .optional()
    .meta({ description: 'One value for every environment, rolled through them in order (default false).', default: false }),
  exportAs: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'must be an environment variable name (letters, digits and _, not starting with a digit), e.g. exportAs: WEBHOOK_SIGNING_KEY' })
    .optional()
    .meta({ description: "The variable `keyshift run` and `keyshift env` export the value as (default: the name upper-cased, - as _)." }),
  notify: z
    .array(notifyTargetSchema, { error: 'must be a list of webhooks, e.g. - webhook: https://hooks.example.com/keyshift' })
    .optional()
    .meta({ description: 'Webhooks notified of rotation events (default none).' }),
  controls: z
    .array(z.string().regex(/^\S+$/, { error: 'must be one control id without spaces, e.g. SOC2-CC6.1' }))
    .optional()
    .meta({ description: 'Compliance controls this rotation satisfies, e.g. [SOC2-CC6.1, ISO27001-A.8.24]; `keyshift report` groups by them (default none).' }),
  validate: valueRulesSchema.optional(),
  reencrypt: reencryptSchema.optional(),
})
  .check(keyOrValueRules)
  .check(reencryptKeyRule)
  .check(dataKeyRules)
  .meta({
    // generator: required for values, forbidden for aws-kms keys (KMS makes the key material).
    if: { properties: { environments: { items: { properties: { store: { properties: { type: { const: 'aws-kms' } } } } } } } },
    then: { not: { required: ['generator'] } },
    else: { required: ['generator'] },
  });

const secretsList = <Item extends z.ZodType>(item: Item) =>
  z
    .array(item)
    .min(1, { error: 'is empty; add at least one secret or delete the file' })
    .meta({ description: 'The secrets this file rotates.' });

/** `signing: { key }` at the top of a policy file: the evidence signing key (docs/evidence.md#signed-evidence). */
const signingSchema = strict({
  key: z.string().min(1, { error: 'is empty; give the path of an Ed25519 private key PEM' }).meta({ description: 'Path of an Ed25519 private key PEM (relative to where keyshift runs); KEYSHIFT_SIGNING_KEY wins over it.' }),
})
  .optional()
  .meta({ description: 'Sign the evidence: every run ends with a signed record (docs/evidence.md#signed-evidence).' });

export const policyFileSchema = strict({ secrets: secretsList(secretSchema), signing: signingSchema });

/** The file level alone: the loader checks each item with `secretSchema` (one pass per secret). */
export const policyFileShapeSchema = strict({ secrets: secretsList(z.unknown()), signing: signingSchema });

export type PolicyFileInput = z.input<typeof policyFileSchema>;
export type SecretInput = z.output<typeof secretSchema>;

type SecretShape = {
  interval?: unknown;
  generator?: unknown;
  validate?: unknown;
  reencrypt?: unknown;
  environments?: Array<{ store?: { type?: string; mode?: string }; deploy?: unknown[]; verify?: unknown[] }>;
};

/**
 * Keys in KMS are made inside KMS: a secret is either values (a generator, any value store) or keys
 * (aws-kms environments only, no generator). KMS-managed rotation runs on KMS's own schedule, which
 * must be 90-2560 whole days, and has no overlap for hooks to work in.
 */
function keyOrValueRules(ctx: z.core.ParsePayload<SecretShape>): void {
  const value = ctx.value;
  const fail = (path: Array<string | number>, message: string) => ctx.issues.push({ code: 'custom', input: value, path, message });
  const environments = value.environments ?? [];
  const kms = environments.map((e) => e.store?.type === 'aws-kms');
  if (kms.some(Boolean) && !kms.every(Boolean)) {
    fail(['environments'], 'mixes aws-kms keys with stored values; a secret is either a KMS key in every environment or a value in none');
    return;
  }
  if (kms.length > 0 && kms.every(Boolean)) {
    if (value.generator !== undefined) fail(['generator'], 'does not apply to aws-kms keys (KMS makes the key material); remove it');
    if (value.validate !== undefined) fail(['validate'], 'does not apply to aws-kms keys (their key material never leaves KMS); remove it');
    if (value.reencrypt !== undefined) {
      fail(['reencrypt'], 'does not apply to aws-kms keys (rows are encrypted with data keys, which a KMS key wraps); put it on a data key: generator: { type: data-key, master: { type: aws-kms, keyId: <alias> } } (docs/reencrypt.md#key-hierarchy)');
    }
  } else if (value.generator === undefined) {
    fail(['generator'], 'missing; add it, e.g. generator: { type: random, bytes: 32 }');
  } else {
    valueRulesFitGenerator(value as Parameters<typeof valueRulesFitGenerator>[0], fail, (g) =>
      new Set(typeof g.chars === 'string' ? g.chars : CHARSETS[(g.charset as CharsetName | undefined) ?? 'alphanumeric']).size,
    );
  }
  environments.forEach((environment, index) => {
    if (environment.store?.mode !== 'managed') return;
    const days = typeof value.interval === 'string' ? parseDuration(value.interval) : null;
    if (days !== null && (days % 86_400_000 !== 0 || days / 86_400_000 < 90 || days / 86_400_000 > 2560)) {
      fail(['interval'], 'must be whole days from 90d to 2560d for mode: managed (KMS RotationPeriodInDays); use mode: alias for other intervals');
    }
    for (const hooks of ['deploy', 'verify'] as const) {
      if (environment[hooks]?.length) fail(['environments', index, hooks], 'does not apply to mode: managed (the key id never changes, so there is no overlap to deploy in); use mode: alias');
    }
  });
}
