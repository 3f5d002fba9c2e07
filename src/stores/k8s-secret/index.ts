import type { K8sSecretStoreSpec } from '../../policy/types.js';
import type { SecretStore, StoreContext } from '../contract.js';
import { K8sSecretStore } from './k8s-secret-store.js';

/** The `k8s-secret` store (docs/stores/k8s-secret.md), loaded only when a policy names one. Opening reads nothing. */
export function openK8sSecretStore(spec: K8sSecretStoreSpec, context: StoreContext): SecretStore {
  return new K8sSecretStore(spec, context);
}

export { K8sSecretStore } from './k8s-secret-store.js';
