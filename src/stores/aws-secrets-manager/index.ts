import type { SecretsManagerStoreSpec } from '../../policy/types.js';
import type { SecretStore } from '../contract.js';
import type { StoreContext } from '../registry.js';
import { SecretsManagerStore } from './secrets-manager-store.js';

/** Loaded only when a policy names an `aws-secrets-manager` store: the SDK comes with it. */
export async function openSecretsManagerStore(spec: SecretsManagerStoreSpec, context: StoreContext): Promise<SecretStore> {
  const sdk = await import('@aws-sdk/client-secrets-manager');
  return new SecretsManagerStore(spec, context, sdk);
}
