import { resolve } from 'node:path';
import { lockSchema } from './lock-schema.js';
import { z } from 'zod';
import { parseDuration } from './durations.js';
import { strict, timeoutSchema } from './schema-common.js';

/** `command` store (docs/stores/command.md): a program speaking protocol v1 on stdin/stdout. */
export interface CommandStoreSpec {
  type: 'command';
  /** The entry name the program is asked about (default: the secret's name). */
  key: string;
  /** argv; a relative program path (./x, ../x) resolves against the working directory. */
  run: string[];
  /** Passed to the program in every request. */
  config: Record<string, unknown>;
  timeoutMs: number;
}

export const commandStoreSchema = strict({
  type: z.literal('command'),
  run: z
    .array(z.string().min(1, { error: 'must not be an empty string' }), { error: 'must be a list (argv)' })
    .min(1, { error: 'needs at least the program to run, e.g. run: [./stores/vault-store.sh]' })
    .meta({ description: 'Program and arguments (no shell), started once per call with one JSON request on stdin.' }),
  config: z.record(z.string(), z.unknown(), { error: 'must be a mapping' }).optional().meta({ description: 'Passed to the program in every request (no secrets: it is in the policy).' }),
  key: z.string().regex(/^[A-Za-z0-9._/-]{1,200}$/, { error: 'must be 1-200 characters from letters, digits and . _ / -' }).optional().meta({ description: "Entry name the program is asked about (default: the secret's name)." }),
  timeout: timeoutSchema('30s', 'How long one call may run (default 30s).').optional(),
  lock: lockSchema.optional(),
});

export function normaliseCommandStore(store: z.infer<typeof commandStoreSchema>, secretName: string, cwd: string): CommandStoreSpec {
  const [program, ...args] = store.run;
  const path = /^\.\.?\//.test(program as string) ? resolve(cwd, program as string) : (program as string);
  return { type: 'command', key: store.key ?? secretName, run: [path, ...args], config: store.config ?? {}, timeoutMs: parseDuration(store.timeout ?? '30s') as number };
}
