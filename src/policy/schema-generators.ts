import { z } from 'zod';
import { strict, timeoutSchema, wholeNumber } from './schema-common.js';
import { childEnvSchema } from './schema-hooks.js';
import { dataKeyGeneratorSchema } from './schema-data-key.js';

// The `generator:` of a secret (docs/policies.md): random bytes, a random password, a command, or
// a data key wrapped by a master key (schema-data-key.ts).

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
