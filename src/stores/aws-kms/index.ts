import type * as KMS from '@aws-sdk/client-kms';
import type { KmsStoreSpec } from '../../policy/types.js';
import type { SecretStore, StoreContext } from '../contract.js';
import { KmsStore } from './kms-store.js';

/** Loaded only when a policy names an `aws-kms` store: the SDK comes with it. */
export async function openKmsStore(spec: KmsStoreSpec, context: StoreContext): Promise<SecretStore> {
  // The SDK is CommonJS: bundled, its exports arrive as `default`; unbundled (tests of dist/), as names.
  const loaded = (await import('@aws-sdk/client-kms')) as Partial<typeof KMS> & { default?: typeof KMS };
  const sdk = (loaded.KMSClient ? loaded : loaded.default) as typeof KMS;
  return new KmsStore(spec, context, sdk);
}
