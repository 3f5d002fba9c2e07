import { z } from 'zod';
import { parseDuration } from './durations.js';
import { durationSchema, quote, strict, timeoutSchema, wholeNumber, isHttpUrl } from './schema-common.js';
import { childEnvSchema, commandHookSchema, hookList, verifyHookSchema } from './schema-hooks.js';
import { dotenvStoreSchema, k8sSecretStoreSchema } from './store-schemas.js';
import { vaultKv2StoreSchema } from './store-schema-vault.js';
import { commandStoreSchema } from './store-schema-command.js';
import { pluginStoreSchema } from './store-schema-plugin.js';
import { kmsStoreSchema, secretsManagerStoreSchema } from './store-schema-aws.js';
import { lockSchema } from './lock-schema.js';
import { valueRulesSchema, valueRulesFitGenerator } from './schema-validate.js';
import { reencryptKeyRule, reencryptSchema } from './reencrypt-schema.js';
import { dataKeyGeneratorSchema, dataKeyRules } from './schema-data-key.js';

/**
 * The zod schema of one policy FILE, as the user writes it (before normalisation in load.ts).
 * Messages here are fragments without the field path: the loader prefixes `secrets[0].interval: `.
 * Every object is strict, so a typo (`fallbackWindw`) is an error rather than a silently ignored key.
 * To add a store type, add its object to `storeSchema`; to add an environment field (approvals…),
 * add it to `environmentSchema`; hooks and `env:` are in schema-hooks.ts. The JSON Schema for editors is generated from this.
 */

export const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const STORE_KEY_PATTERN = /^[A-Za-z0-9._/-]{1,200}$/;

/** Named character sets of random password generators, expanded by the loader. */
export const CHARSETS = {
  alphanumeric: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
  'alphanumeric-symbols':
    'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&()*+,-.:;<=>?@[]^_{|}~',
  hex: '0123456789abcdef',
  digits: '0123456789',
} as const;
export type CharsetName = keyof typeof CHARSETS;

const ENCODINGS = ['base64', 'base64url', 'hex'] as const;

const nameSchema = (what: string) =>
  z
    .string()
    .regex(NAME_PATTERN, {
      error: (issue) =>
        `${quote(issue.input)} is not a valid ${what} name; use 1-63 lowercase letters, digits and dashes, starting with a letter or digit`,
    })
    .meta({ description: `The ${what}'s name: lowercase letters, digits and dashes.` });

// One object for all random generators (bytes XOR length) so errors name the actual conflict;
// the JSON Schema gets the same rule as `oneOf` below.
const randomGeneratorSchema = strict({
  type: z.literal('random'),
  bytes: wholeNumber(16, 1024, 'Random key material of this many bytes, encoded as `encoding`.').optional(),
  encoding: z
    .enum(ENCODINGS, { error: `must be one of ${ENCODINGS.join(', ')}` })
    .optional()
    .meta({ description: 'Encoding of the random bytes (default base64).', default: 'base64' }),
  length: wholeNumber(8, 4096, 'A password of this many characters.').optional(),
  charset: z
    .enum(Object.keys(CHARSETS) as [CharsetName, ...CharsetName[]], {
      error: `must be one of ${Object.keys(CHARSETS).join(', ')}`,
    })
    .optional()
    .meta({ description: 'Named character set of the password (default alphanumeric).', default: 'alphanumeric' }),
  chars: z
    .string()
    .min(2, { error: 'needs at least 2 distinct characters', abort: true })
    .refine((text) => new Set(text).size >= 2, { error: 'needs at least 2 distinct characters' })
    .optional()
    .meta({ description: 'Custom characters to draw the password from (at least 2 distinct).' }),
})
  .check(exclusiveRandomOptions)
  .meta({
    oneOf: [
      { required: ['bytes'], not: { anyOf: [{ required: ['length'] }, { required: ['charset'] }, { required: ['chars'] }] } },
      {
        required: ['length'],
        not: { anyOf: [{ required: ['bytes'] }, { required: ['encoding'] }, { required: ['charset', 'chars'] }] },
      },
    ],
  });

const commandGeneratorSchema = strict({
  type: z.literal('command'),
  run: z
    .array(z.string().min(1, { error: 'must not be an empty string' }), { error: 'must be a list (argv)' })
    .min(1, { error: 'needs at least the program to run, e.g. run: [./issue-key.sh]' })
    .meta({ description: 'Program and arguments (no shell); its stdout is the new value.' }),
  timeout: timeoutSchema('30s', 'How long the command may run (default 30s, at most 24h).').optional(),
  env: childEnvSchema.optional(),
});

export const generatorSchema = z
  .discriminatedUnion('type', [randomGeneratorSchema, commandGeneratorSchema, dataKeyGeneratorSchema])
  .meta({ description: 'How a new value is made: random bytes, a random password, an external command, or a data key wrapped by a master key.' });

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

// Notifications (docs/policies.md#notifications): a webhook receives a JSON body for the listed events.
export const NOTIFY_EVENTS = [
  'failed',
  'switched',
  'decommissioned',
  'rolled-back',
  'provisioned',
  'issued',
  'deployed',
  'verified',
] as const;
export const DEFAULT_NOTIFY_EVENTS = ['failed', 'switched', 'decommissioned', 'rolled-back'] as const;

const WEBHOOK_EXAMPLE = 'e.g. webhook: https://hooks.example.com/keyshift';

const notifyTargetSchema = strict({
  webhook: z
    .string()
    .refine(isHttpUrl, { error: `must be an absolute http:// or https:// URL, ${WEBHOOK_EXAMPLE}` })
    .optional()
    .meta({ description: 'The URL that receives a JSON POST (with a Slack-compatible `text`).', pattern: '^[hH][tT][tT][pP][sS]?://' }),
  on: z
    .array(z.enum(NOTIFY_EVENTS, { error: `must be one of ${NOTIFY_EVENTS.join(', ')}` }), {
      error: `must be a list of events, e.g. on: [failed, switched]`,
    })
    .min(1, { error: `is empty; list at least one event (${NOTIFY_EVENTS.join(', ')}) or leave on out for the default` })
    .optional()
    .meta({ description: `Events to send (default ${DEFAULT_NOTIFY_EVENTS.join(', ')}).`, default: [...DEFAULT_NOTIFY_EVENTS] }),
})
  .check((ctx) => {
    if (ctx.value.webhook === undefined) {
      ctx.issues.push({ code: 'custom', input: ctx.value, path: ['webhook'], message: `missing; a notify target needs a webhook, ${WEBHOOK_EXAMPLE}` });
    }
  })
  .meta({ description: 'A webhook notified of rotation events; the secret value is never sent.', required: ['webhook'] });

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

type RandomInput = { bytes?: number; encoding?: string; length?: number; charset?: string; chars?: string };

function exclusiveRandomOptions(ctx: z.core.ParsePayload<RandomInput>): void {
  const value = ctx.value;
  const fail = (path: string[], message: string) => ctx.issues.push({ code: 'custom', input: value, path, message });
  const has = (key: keyof RandomInput) => value[key] !== undefined;
  if (has('bytes') && has('length')) {
    fail([], 'use either bytes (random key material) or length (a password), not both');
  } else if (!has('bytes') && !has('length')) {
    fail([], 'a random generator needs bytes (e.g. bytes: 32) or length (e.g. length: 32)');
  } else if (has('bytes')) {
    for (const key of ['charset', 'chars'] as const) {
      if (has(key)) fail([key], `applies only to passwords (length); remove it or use length instead of bytes`);
    }
  } else {
    if (has('encoding')) fail(['encoding'], 'applies only to bytes; remove it (passwords are plain characters)');
    if (has('charset') && has('chars')) fail(['chars'], 'use either charset or chars, not both');
  }
}
