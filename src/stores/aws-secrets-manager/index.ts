import type * as SM from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerStoreSpec } from '../../policy/types.js';
import type { SecretStore, StoreContext } from '../contract.js';
import { SecretsManagerStore } from './secrets-manager-store.js';

/** Loaded only when a policy names an `aws-secrets-manager` store: the SDK comes with it. */
export async function openSecretsManagerStore(spec: SecretsManagerStoreSpec, context: StoreContext): Promise<SecretStore> {
  // The SDK is CommonJS: bundled, its exports arrive as `default`; unbundled (tests of dist/), as names.
  const loaded = (await import('@aws-sdk/client-secrets-manager')) as Partial<typeof SM> & { default?: typeof SM };
  const sdk = (loaded.SecretsManagerClient ? loaded : loaded.default) as typeof SM;
  return new SecretsManagerStore(spec, context, sdk);
}
