import { resolve } from 'node:path';
import { z } from 'zod';
import { parseDurationAllowZero } from './durations.js';
import { strict, wholeNumber } from './schema-common.js';

/**
 * `reencrypt:` on a secret (docs/reencrypt.md): where the data encrypted under the secret lives
 * and how `keyshift reencrypt` moves it to the new key. Its own file: schema.ts imports it once.
 */

// SQL identifiers keyshift quotes itself: letters, digits and _, optionally `schema.table`.
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TABLE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;
const PERCENT = /^(\d{1,3})(\.\d{1,3})?%$/;

const identifier = (example: string, description: string) =>
  z.string({ error: `must be a column name, e.g. ${example}` }).regex(IDENTIFIER, { error: `must be a column name (letters, digits and _, not starting with a digit), e.g. ${example}` }).meta({ description });

const percent = (example: string, description: string) =>
  z
    .string({ error: `must be a percentage, e.g. ${example}` })
    .regex(PERCENT, { error: `must be a percentage from 0.001% to 100%, e.g. ${example}`, abort: true })
    .refine((text) => fraction(text) > 0 && fraction(text) <= 1, { error: `must be a percentage from 0.001% to 100%, e.g. ${example}` })
    .meta({ description, examples: [example] });

const databaseSchema = z
  .discriminatedUnion(
    'type',
    [
      strict({
        type: z.literal('sqlite'),
        path: z.string().min(1, { error: 'must not be empty; e.g. path: data/app.db' }).meta({ description: 'The SQLite database file; a relative path resolves against the directory keyshift runs in.' }),
      }),
      strict({
        type: z.literal('postgres'),
        url: z
          .string()
          .regex(/^postgres(ql)?:\/\/\S+$/, { error: 'must be a postgres:// URL without a password, e.g. url: postgres://app@db.internal:5432/app (the password comes from PGPASSWORD or ~/.pgpass)' })
          // Neither in the user info nor as libpq's `password` query parameter.
          .refine((url) => !/^postgres(ql)?:\/\/[^@/]*:[^@/]*@/.test(url) && !/[?&]password=/i.test(url), { error: 'must not contain a password (policies are committed); set PGPASSWORD or use ~/.pgpass' })
          .meta({ description: 'A postgres:// connection URL without a password (PGPASSWORD, ~/.pgpass).' }),
      }),
    ],
    { error: 'must be { type: sqlite, path: … } or { type: postgres, url: … }' },
  )
  .meta({ description: 'The database whose rows are encrypted under this secret.' });

const tableSchema = strict({
  table: z.string({ error: 'must be a table name, e.g. table: users' }).regex(TABLE, { error: 'must be a table name (letters, digits and _, optionally schema.table), e.g. table: users' }).meta({ description: 'The table.' }),
  key: identifier('key: id', 'Its primary-key column: batches walk it in order.'),
  columns: z
    .array(identifier('columns: [email, ssn]', 'An encrypted column (ks1 fields; NULL is left alone).'), { error: 'must be a list of columns, e.g. columns: [email, ssn]' })
    .min(1, { error: 'is empty; list the encrypted columns, e.g. columns: [email, ssn]' }),
});

export const reencryptSchema = strict({
  database: databaseSchema,
  tables: z.array(tableSchema, { error: 'must be a list, e.g. - { table: users, key: id, columns: [email] }' }).min(1, { error: 'is empty; list the tables with encrypted columns' }),
  batchSize: wholeNumber(1, 100_000, 'Rows per batch, each followed by a checkpoint (default 1000).').optional(),
  canary: percent('1%', 'The random sample re-encrypted first (default 1%).').optional(),
  stages: z
    .array(percent('25%', 'Share of all rows done once this stage ends.'), { error: 'must be a list of percentages, e.g. stages: [25%, 50%, 75%, 100%]' })
    .min(1, { error: 'is empty; e.g. stages: [25%, 50%, 75%, 100%]', abort: true })
    .refine((list) => list.every((text, i) => i === 0 || fraction(text) > fraction(list[i - 1] as string)), { error: 'must increase, e.g. stages: [25%, 50%, 75%, 100%]' })
    .refine((list) => fraction(list[list.length - 1] as string) === 1, { error: 'must end with 100% (every row re-encrypted), e.g. stages: [25%, 50%, 75%, 100%]' })
    .optional()
    .meta({ description: 'The stages after the canary (default [25%, 50%, 75%, 100%]).' }),
  observe: z
    .string({ error: 'must be a duration, e.g. observe: 2h (0s for no gate)' })
    .refine((text) => parseDurationAllowZero(text) !== null, { error: 'must be a duration: a whole number with a unit s, m, h, d or w, e.g. observe: 2h (0s for no gate)' })
    .optional()
    .meta({ description: 'Observation gate after the canary and each stage but the last: a later run continues (default 2h; 0s for none).', examples: ['2h'] }),
  slo: strict({
    decryptErrorRate: percent('0.1%', 'The highest decrypt error rate a stage may show (default 0.1%).').optional(),
  }).optional(),
  aad: z.literal('row', { error: 'must be row (table, column and row key as associated data) or left out' }).optional().meta({ description: 'Bind each field to its cell: table, column and row key as GCM associated data (default none).' }),
}).meta({ description: 'Re-encrypt the database fields under this key after a rotation (keyshift reencrypt, docs/reencrypt.md).' });

export type ReencryptInput = z.output<typeof reencryptSchema>;

export type DatabaseSpec = { type: 'sqlite'; path: string } | { type: 'postgres'; url: string };

/** A normalised `reencrypt:` (SecretPolicy.reencrypt). Fractions in 0..1, durations in ms. */
export interface ReencryptSpec {
  database: DatabaseSpec;
  tables: Array<{ table: string; key: string; columns: string[] }>;
  batchSize: number;
  canary: number;
  stages: number[];
  observeMs: number;
  decryptErrorRate: number;
  aad: 'row' | null;
}

export function normaliseReencrypt(input: ReencryptInput, cwd: string): ReencryptSpec {
  return {
    database: input.database.type === 'sqlite' ? { type: 'sqlite', path: resolve(cwd, input.database.path) } : { type: 'postgres', url: input.database.url },
    tables: input.tables.map((t) => ({ table: t.table, key: t.key, columns: [...t.columns] })),
    batchSize: input.batchSize ?? 1000,
    canary: fraction(input.canary ?? '1%'),
    stages: (input.stages ?? ['25%', '50%', '75%', '100%']).map(fraction),
    observeMs: parseDurationAllowZero(input.observe ?? '2h') ?? 0,
    decryptErrorRate: fraction(input.slo?.decryptErrorRate ?? '0.1%'),
    aad: input.aad ?? null,
  };
}

type ReencryptShape = { reencrypt?: unknown; generator?: { type?: string; bytes?: number } };

/** Re-encryption uses the secret's value as an AES-256 key: a random generator of 32 bytes. */
export function reencryptKeyRule(ctx: z.core.ParsePayload<ReencryptShape>): void {
  const value = ctx.value;
  if (value.reencrypt === undefined || value.generator === undefined || value.generator.type === 'data-key') return;
  if (value.generator.type !== 'random' || value.generator.bytes !== 32) {
    ctx.issues.push({ code: 'custom', input: value, path: ['generator'], message: 'must make a 32-byte AES-256 key for reencrypt: generator: { type: random, bytes: 32 } or { type: data-key, master: … }' });
  }
}

function fraction(text: string): number {
  return Number(text.slice(0, -1)) / 100;
}
