import { z } from 'zod';
import { strict, wholeNumber } from './schema-common.js';

/**
 * `validate:` on a secret (docs/policies.md#value-checks): rules every new value must pass before
 * it is stored, and that `keyshift validate --values` applies to the values in the stores. Its own
 * file: schema.ts imports the schema once and calls `valueRulesFitGenerator` from its secret check.
 */

export const valueRulesSchema = strict({
  minLength: wholeNumber(1, 65_536, 'The value has at least this many characters.').optional(),
  minEntropyBits: wholeNumber(1, 8_192, "The value's estimated entropy (length × Shannon entropy per character) is at least this many bits.").optional(),
  pattern: z
    .string({ error: 'must be a regular expression in quotes, e.g. pattern: "[A-Za-z0-9_-]+"' })
    .min(1, { error: 'must not be empty; e.g. pattern: "[A-Za-z0-9_-]+"', abort: true })
    .refine(compiles, { error: (issue) => `is not a valid regular expression (${compileError(issue.input as string)}); e.g. pattern: "[A-Za-z0-9_-]+"` })
    .optional()
    .meta({ description: 'A JavaScript regular expression (u flag) the whole value must match; keyshift anchors it.' }),
  forbidPrevious: z
    .boolean({ error: 'must be true or false' })
    .optional()
    .meta({ description: 'The value differs from every value the store still holds for this secret (CURRENT, PREVIOUS, PENDING).' }),
  forbidRepeats: wholeNumber(2, 64, 'No character appears this many times in a row (e.g. 4 rejects "aaaa").').optional(),
}).meta({ description: 'Checks every new value must pass before it is stored (default none).' });

export type ValueRulesInput = z.infer<typeof valueRulesSchema>;

/** Normalised rules (policy/types.ts SecretPolicy.validate); null fields are not checked. */
export interface ValueRules {
  minLength: number | null;
  minEntropyBits: number | null;
  /** The user's pattern; the check anchors it. */
  pattern: string | null;
  forbidPrevious: boolean;
  forbidRepeats: number | null;
}

export function normaliseValueRules(input: ValueRulesInput | undefined): ValueRules | null {
  if (input === undefined) return null;
  return {
    minLength: input.minLength ?? null,
    minEntropyBits: input.minEntropyBits ?? null,
    pattern: input.pattern ?? null,
    forbidPrevious: input.forbidPrevious ?? false,
    forbidRepeats: input.forbidRepeats ?? null,
  };
}

type GeneratorShape = { type?: unknown; bytes?: unknown; encoding?: unknown; length?: unknown; charset?: unknown; chars?: unknown };
type SecretShape = { validate?: ValueRulesInput; generator?: GeneratorShape };
type Fail = (path: Array<string | number>, message: string) => void;

/**
 * A rule a random generator can never meet is a policy error, not a rotation that fails forever:
 * more characters than it makes, or more entropy than its bits. (The command generator's output is
 * unknown until it runs.)
 */
export function valueRulesFitGenerator(value: SecretShape, fail: Fail, alphabetSize: (generator: GeneratorShape) => number): void {
  const rules = value.validate;
  const generator = value.generator;
  if (!rules || generator?.type !== 'random') return;
  const made = randomOutput(generator, alphabetSize);
  if (!made) return;
  if (rules.minLength !== undefined && rules.minLength > made.length) {
    fail(['validate', 'minLength'], `is ${rules.minLength} but the generator makes ${made.length} characters; lower it or make the generator longer`);
  }
  if (rules.minEntropyBits !== undefined && rules.minEntropyBits > made.bits) {
    fail(['validate', 'minEntropyBits'], `is ${rules.minEntropyBits} but the generator makes values of at most ${Math.floor(made.bits)} bits; lower it or make the generator longer`);
  }
}

/** Length and true entropy of a random generator's values. */
function randomOutput(generator: GeneratorShape, alphabetSize: (generator: GeneratorShape) => number): { length: number; bits: number } | null {
  if (typeof generator.bytes === 'number') {
    const bytes = generator.bytes;
    const encoding = generator.encoding ?? 'base64';
    const length = encoding === 'hex' ? bytes * 2 : encoding === 'base64url' ? Math.ceil((bytes * 4) / 3) : Math.ceil(bytes / 3) * 4;
    return { length, bits: bytes * 8 };
  }
  if (typeof generator.length === 'number') return { length: generator.length, bits: generator.length * Math.log2(alphabetSize(generator)) };
  return null;
}

function compiles(pattern: string): boolean {
  return compileError(pattern) === null;
}

function compileError(pattern: string): string | null {
  try {
    new RegExp(pattern, 'u');
    return null;
  } catch (error) {
    // "Invalid regular expression: /(/u: Unterminated group" → "Unterminated group"
    return (error as Error).message.replace(/^.*: /, '');
  }
}
