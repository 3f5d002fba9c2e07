import { z } from 'zod';
import { DURATION_PATTERN, describeBadDuration, parseDuration } from './durations.js';

/**
 * The zod schema of one policy FILE, as the user writes it (before normalisation in load.ts).
 * Messages here are fragments without the field path: the loader prefixes `secrets[0].interval: `.
 * Every object is strict, so a typo (`fallbackWindw`) is an error rather than a silently ignored key.
 * To add a store type, add its object to `storeSchema`; to add an environment field (hooks,
 * approvals…), add it to `environmentSchema`. The JSON Schema for editors is generated from this.
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

const durationSchema = (example: string, description: string) =>
  z
    .string()
    .regex(new RegExp(DURATION_PATTERN), { error: (issue) => describeBadDuration(issue.input, example), abort: true })
    .refine((text) => parseDuration(text) !== null, { error: (issue) => describeBadDuration(issue.input, example) })
    .meta({ description, examples: [example] });

const wholeNumber = (min: number, max: number, description: string) => {
  const message = `must be a whole number from ${min} to ${max}`;
  return z
    .number()
    .int({ error: message, abort: true })
    .min(min, { error: message, abort: true })
    .max(max, { error: message }).meta({ description });
};

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
  timeout: durationSchema('30s', 'How long the command may run (default 30s).').optional(),
});

export const generatorSchema = z
  .discriminatedUnion('type', [randomGeneratorSchema, commandGeneratorSchema])
  .meta({ description: 'How a new value is made: random bytes, a random password, or an external command.' });

const localStoreSchema = strict({
  type: z.literal('local'),
  path: z
    .string()
    .min(1, { error: 'must not be empty; e.g. path: .keyshift/dev.store' })
    .meta({ description: 'Store file; a relative path resolves against the directory keyshift runs in.' }),
  key: z
    .string()
    .regex(STORE_KEY_PATTERN, {
      error: 'must be 1-200 characters from letters, digits and . _ / -',
    })
    .optional()
    .meta({ description: "Entry name inside the store (default: the secret's name)." }),
});

export const storeSchema = z
  .discriminatedUnion('type', [localStoreSchema])
  .meta({ description: 'Where this environment keeps the secret.' });

export const environmentSchema = strict({
  name: nameSchema('environment'),
  store: storeSchema,
});

export const secretSchema = strict({
  name: nameSchema('secret'),
  owner: z.string().optional().meta({ description: 'Team or person accountable for this secret.' }),
  description: z.string().optional().meta({ description: 'What the secret protects (one line).' }),
  interval: durationSchema('90d', 'How often the secret is rotated.'),
  fallbackWindow: durationSchema('48h', 'How long the old value stays valid after the switch.'),
  generator: generatorSchema,
  environments: z
    .array(environmentSchema)
    .min(1, { error: 'is empty; add at least one environment, e.g. - name: dev' })
    .meta({ description: 'Environments, promoted in this order (e.g. dev, then prod).' }),
});

const secretsList = <Item extends z.ZodType>(item: Item) =>
  z
    .array(item)
    .min(1, { error: 'is empty; add at least one secret or delete the file' })
    .meta({ description: 'The secrets this file rotates.' });

export const policyFileSchema = strict({ secrets: secretsList(secretSchema) });

/** The file level alone: the loader checks each item with `secretSchema` (one pass per secret). */
export const policyFileShapeSchema = strict({ secrets: secretsList(z.unknown()) });

export type PolicyFileInput = z.input<typeof policyFileSchema>;
export type SecretInput = z.output<typeof secretSchema>;

/** A strict object whose unknown-key message lists the allowed keys (the loader adds the key). */
function strict<Shape extends z.ZodRawShape>(shape: Shape) {
  const allowed = `allowed keys: ${Object.keys(shape).join(', ')}`;
  return z.strictObject(shape, { error: (issue) => (issue.code === 'unrecognized_keys' ? allowed : undefined) });
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

function quote(value: unknown): string {
  if (typeof value !== 'string') return 'this value';
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
}
