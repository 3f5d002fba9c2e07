import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { lockSchema } from './lock-schema.js';

/**
 * The `plugin` store (docs/plugins.md): a JavaScript module whose default export is
 * `createStore(spec, context)`. keyshift reads `type`, `module` and `key`; every other key of the
 * store object is the plugin's own option and is handed to it untouched.
 */

export interface PluginStoreSpec {
  type: 'plugin';
  /** An absolute file path (a relative `module` resolves against where keyshift runs) or a package name. */
  module: string;
  /** Entry name inside the store; defaults to the secret's name. */
  key: string;
  /** The store object's other keys, for the plugin. */
  options: Record<string, unknown>;
}

const RESERVED = new Set(['type', 'module', 'key', 'lock']);
// The local store's entry-key rule (schema.ts imports this file, so it is not imported from there).
const STORE_KEY_PATTERN = /^[A-Za-z0-9._/-]{1,200}$/;

export const pluginStoreSchema = z
  .object({
    type: z.literal('plugin'),
    lock: lockSchema.optional(),
    module: z
      .string({ error: 'must be a path (./stores/my-store.js) or a package name (keyshift-store-foo)' })
      .min(1, { error: 'must not be empty; e.g. module: ./stores/my-store.js', abort: true })
      .refine((text) => !text.includes('\0'), { error: 'must not contain a NUL character (\\0)' })
      .meta({ description: 'The plugin: a path (relative to the directory keyshift runs in) or a package name installed in the project.' }),
    key: z
      .string()
      .regex(STORE_KEY_PATTERN, { error: 'must be 1-200 characters from letters, digits and . _ / -' })
      .optional()
      .meta({ description: "Entry name inside the store (default: the secret's name)." }),
  })
  .catchall(z.unknown())
  .meta({ description: 'A store written in JavaScript (docs/plugins.md); other keys are the plugin\'s own options.' });

type PluginStoreInput = z.output<typeof pluginStoreSchema>;

/** A file path when it looks like one (./, ../, /); anything else is a package name. */
export function normalisePluginStore(store: PluginStoreInput, secretName: string, cwd: string): PluginStoreSpec {
  const isPath = store.module.startsWith('.') || isAbsolute(store.module);
  const options = Object.fromEntries(Object.entries(store).filter(([name]) => !RESERVED.has(name)));
  return { type: 'plugin', module: isPath ? resolve(cwd, store.module) : store.module, key: store.key ?? secretName, options };
}
