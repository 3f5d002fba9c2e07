import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ExitCode, KeyshiftError, errorMessage } from '../../errors.js';
import type { PluginStoreSpec } from '../../policy/store-schema-plugin.js';
import type { StoreContext } from '../contract.js';
import type { SecretStore } from '../contract.js';
import { PluginStore } from './plugin-store.js';

/** What a plugin's `createStore` receives as its spec: its own options, plus module and type. */
export type PluginSpec = Record<string, unknown> & { type: 'plugin'; module: string };

const REQUIRED = ['read', 'readValue', 'fingerprint', 'lock', 'apply', 'readMeta', 'writeMeta', 'close'] as const;

/**
 * Loads a plugin store (docs/plugins.md). Only a policy naming it gets here (registry.ts imports
 * this file lazily). A module that is missing, throws while loading or exports no `createStore`
 * is a policy error (exit 2) naming the module; nothing has changed at that point.
 */
export async function openPluginStore(spec: PluginStoreSpec, context: StoreContext): Promise<SecretStore> {
  const createStore = await loadCreateStore(spec.module);
  const pluginSpec: PluginSpec = { ...spec.options, type: 'plugin', module: spec.module };
  let store: unknown;
  try {
    store = await createStore(pluginSpec, context);
  } catch (error) {
    throw new KeyshiftError('ERR_PLUGIN', `plugin store ${spec.module}: createStore failed: ${errorMessage(error)}`, {
      exitCode: ExitCode.usage,
      hint: "check the store's options in the policy against the plugin's documentation",
      cause: error,
    });
  }
  const missing = REQUIRED.filter((name) => typeof (store as Record<string, unknown> | null)?.[name] !== 'function');
  if (missing.length > 0) {
    throw pluginError(spec.module, `createStore returned no store: ${missing.join(', ')} missing`, 'return an object with every method of the SecretStore interface (keyshift/store); run keyshift/testing on it');
  }
  return new PluginStore(store as SecretStore, spec.module);
}

type CreateStore = (spec: PluginSpec, context: StoreContext) => unknown;

async function loadCreateStore(module: string): Promise<CreateStore> {
  let url: string;
  try {
    // A path was made absolute by the policy loader; a package name resolves from the project.
    url = module.startsWith('/') ? pathToFileURL(module).href : pathToFileURL(createRequire(join(process.cwd(), 'package.json')).resolve(module)).href;
  } catch {
    throw pluginError(module, 'cannot be found', `install the package in this project (npm install ${module}) or give a path such as module: ./stores/my-store.js`);
  }
  let loaded: { default?: unknown };
  try {
    loaded = (await import(url)) as { default?: unknown };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes(module)) {
      throw pluginError(module, 'does not exist', 'a relative module path resolves against the directory keyshift runs in; fix the path in the policy');
    }
    throw pluginError(module, `failed to load: ${errorMessage(error).split('\n')[0]}`, 'run `node <module>` to see the error in the plugin');
  }
  if (typeof loaded.default !== 'function') {
    throw pluginError(module, 'has no default export createStore(spec, context)', 'export it: export default function createStore(spec, context) { … } (docs/plugins.md)');
  }
  return loaded.default as CreateStore;
}

function pluginError(module: string, problem: string, hint: string): KeyshiftError {
  return new KeyshiftError('ERR_PLUGIN', `plugin store module ${module} ${problem}`, { exitCode: ExitCode.usage, hint });
}
