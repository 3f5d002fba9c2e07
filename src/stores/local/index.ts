import { LocalStore, type LocalStoreOptions } from './local-store.js';

/**
 * The `local` store adapter: an encrypted, append-only file per store (docs/local-store.md).
 * Opening is free: nothing is read, created or locked until the first call that needs it.
 */

export { LocalStore, type LocalStoreOptions } from './local-store.js';
export { MASTER_KEY_ENV } from './master-key.js';

export function openLocalStore(spec: { path: string }, env: NodeJS.ProcessEnv, options: LocalStoreOptions = {}): LocalStore {
  return new LocalStore(spec.path, env, options);
}
