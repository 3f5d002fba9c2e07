import type { DotenvStoreSpec } from '../../policy/types.js';
import type { SecretStore, StoreContext } from '../contract.js';
import { DotenvStore } from './dotenv-store.js';

/** The `dotenv` store (docs/stores/dotenv.md), loaded only when a policy names one. Opening reads nothing. */
export function openDotenvStore(spec: DotenvStoreSpec, context: StoreContext): SecretStore {
  return new DotenvStore(spec, context);
}

export { DotenvStore } from './dotenv-store.js';
