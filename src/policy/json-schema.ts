import { z } from 'zod';
import { policyFileSchema } from './schema.js';

/** Stable identifier of the policy file schema; bump the version when the format breaks. */
export const POLICY_SCHEMA_ID = 'urn:keyshift:policy-file:v1';

/**
 * The JSON Schema of policy files for editors (`keyshift schema > keyshift.schema.json`, then
 * `# yaml-language-server: $schema=./keyshift.schema.json`). Generated from the zod schema so the
 * two cannot drift. Draft-07 because yaml-language-server and most editors understand it best;
 * `io: 'input'` because users write the input side (defaulted fields are optional).
 * What JSON Schema cannot say (distinct characters, a fallback window no longer than the
 * interval, unique names across files) is left to `keyshift validate`.
 */
export function policyJsonSchema(): Record<string, unknown> {
  const options = { target: 'draft-7', io: 'input', unrepresentable: 'any' } as const;
  const generated = z.toJSONSchema(policyFileSchema, options) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: POLICY_SCHEMA_ID,
    title: 'keyshift policy file',
    description:
      'Secrets that keyshift rotates: how often, how new values are made, and where each environment stores them.',
    ...rest,
  };
}
