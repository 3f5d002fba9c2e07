import { z } from 'zod';

/**
 * `tags:` on an aws-secrets-manager or aws-kms store (docs/policies.md#aws-tags): opt-in tags that
 * say who rotated the resource, when, and under which ticket, as runbooks ask. `tags: true` writes
 * the three under their default keys; a map renames (a string) or leaves one out (false). Never a
 * value: only the operator, a time and the ticket. Checked by hand rather than as a zod union, so
 * each wrong form gets its own message (like `env:` in schema-hooks.ts).
 */

export const ROTATION_TAGS = ['rotated-by', 'rotated-at', 'rotation-ticket'] as const;
type RotationTag = (typeof ROTATION_TAGS)[number];

/** The tag keys to write (null = not written); policy/types.ts puts it on the AWS store specs. */
export interface RotationTagKeys {
  rotatedBy: string | null;
  rotatedAt: string | null;
  ticket: string | null;
}

export type AwsTagsInput = boolean | Partial<Record<RotationTag, boolean | string>>;

// AWS's tag rules: letters, digits, spaces and _ . : / = + - @; keys up to 128 characters in the API
// model (127 in Secrets Manager's guide, so keyshift keeps to 127); aws: is reserved; keyshift: is
// where keyshift keeps its own state.
const TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,127}$/u;
const EXAMPLE = 'e.g. tags: true, or tags: { rotated-by: RotatedBy, rotation-ticket: false }';

export const awsTagsSchema = z
  .custom<AwsTagsInput>(() => true)
  .check(checkTags)
  .meta({
    description: `Tag the resource with ${ROTATION_TAGS.join(', ')} at each switch (default: no tags). true: under these keys; a map renames one (a string) or leaves it out (false).`,
    anyOf: [
      { type: 'boolean' },
      {
        type: 'object',
        additionalProperties: false,
        properties: Object.fromEntries(ROTATION_TAGS.map((tag) => [tag, { anyOf: [{ type: 'boolean' }, { type: 'string', pattern: TAG_KEY.source.replace('\\p{L}\\p{Z}\\p{N}', 'A-Za-z0-9 '), maxLength: 127 }] }])),
      },
    ],
  });

export function normaliseAwsTags(input: AwsTagsInput | undefined): RotationTagKeys | null {
  if (input === undefined || input === false) return null;
  const name = (tag: RotationTag): string | null => {
    const given = input === true ? true : (input[tag] ?? true);
    return given === false ? null : given === true ? tag : given;
  };
  const keys = { rotatedBy: name('rotated-by'), rotatedAt: name('rotated-at'), ticket: name('rotation-ticket') };
  return keys.rotatedBy || keys.rotatedAt || keys.ticket ? keys : null;
}

function checkTags(ctx: z.core.ParsePayload<unknown>): void {
  const value = ctx.value;
  const fail = (path: string[], message: string) => ctx.issues.push({ code: 'custom', input: value, path, message });
  if (typeof value === 'boolean') return;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail([], `must be true, false or a map of ${ROTATION_TAGS.join(', ')}; ${EXAMPLE}`);
    return;
  }
  const seen = new Map<string, string>();
  for (const [tag, given] of Object.entries(value)) {
    if (!(ROTATION_TAGS as readonly string[]).includes(tag)) {
      fail([tag], `is not a tag keyshift writes; use ${ROTATION_TAGS.join(', ')}`);
      continue;
    }
    if (typeof given === 'boolean') {
      if (given) seen.set(tag, tag);
      continue;
    }
    if (typeof given !== 'string' || !TAG_KEY.test(given)) {
      fail([tag], 'must be true, false or a tag key of 1-127 letters, digits, spaces and _ . : / = + - @; e.g. RotatedBy');
    } else if (/^(aws|keyshift):/i.test(given)) {
      fail([tag], `must not start with ${given.split(':')[0]}: (${/^aws:/i.test(given) ? 'reserved by AWS' : 'where keyshift keeps its rotation state'}); e.g. RotatedBy`);
    } else if ([...seen.values()].includes(given)) {
      fail([tag], `uses the key "${given}" of another tag; give each its own key`);
    } else seen.set(tag, given);
  }
}
