import type { CommandStoreSpec } from '../../policy/types.js';
import type { SecretStore } from '../contract.js';
import type { StoreContext } from '../contract.js';
import { CommandStore } from './command-store.js';

/** Loaded only when a policy names a `command` store. */
export async function openCommandStore(spec: CommandStoreSpec, context: StoreContext): Promise<SecretStore> {
  return new CommandStore(spec, context);
}
