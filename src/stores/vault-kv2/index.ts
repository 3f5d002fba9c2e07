import type { VaultKv2StoreSpec } from '../../policy/types.js';
import type { SecretStore } from '../contract.js';
import type { StoreContext } from '../registry.js';
import { VaultKv2Store } from './vault-store.js';

/** Loaded only when a policy names a `vault-kv2` store. */
export async function openVaultKv2Store(spec: VaultKv2StoreSpec, context: StoreContext): Promise<SecretStore> {
  return new VaultKv2Store(spec, context);
}
