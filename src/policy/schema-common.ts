import { z } from 'zod';
import { DURATION_PATTERN, describeBadDuration, parseDuration } from './durations.js';

/** Building blocks shared by the policy schema's sections (schema.ts, schema-hooks.ts). */

export const durationSchema = (example: string, description: string) =>
  z
    .string()
    .regex(new RegExp(DURATION_PATTERN), { error: (issue) => describeBadDuration(issue.input, example), abort: true })
    .refine((text) => parseDuration(text) !== null, { error: (issue) => describeBadDuration(issue.input, example) })
    .meta({ description, examples: [example] });

// Node timers hold at most 2^31-1 ms (24.8 days); a day is far beyond any sane hook or issuer.
const MAX_TIMEOUT_MS = 24 * 3_600_000;
export const timeoutSchema = (example: string, description: string) =>
  durationSchema(example, description).refine((text) => (parseDuration(text) ?? 0) <= MAX_TIMEOUT_MS, {
    error: 'must be at most 24h (a command or request that runs longer is stuck, not slow)',
  });

export const wholeNumber = (min: number, max: number, description: string) => {
  const message = `must be a whole number from ${min} to ${max}`;
  return z
    .number()
    .int({ error: message, abort: true })
    .min(min, { error: message, abort: true })
    .max(max, { error: message }).meta({ description });
};

/** A strict object whose unknown-key message lists the allowed keys (the loader adds the key). */
export function strict<Shape extends z.ZodRawShape>(shape: Shape) {
  const allowed = `allowed keys: ${Object.keys(shape).join(', ')}`;
  return z.strictObject(shape, { error: (issue) => (issue.code === 'unrecognized_keys' ? allowed : undefined) });
}

export function isHttpUrl(text: string): boolean {
  // URL() also takes `https:host` and `https:/host`; a policy spells the // (as the JSON Schema's pattern says).
  // Past that test an http(s) URL that parses has its scheme and a host (an empty host does not parse).
  return /^https?:\/\//i.test(text) && URL.canParse(text);
}

export function quote(value: unknown): string {
  if (typeof value !== 'string') return 'this value';
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
}
