import type { Log } from '../log.js';
import type { StoreSpec } from '../policy/types.js';
import type { AwsOverrides } from './aws/client-config.js';
import type { SecretStore, StoreContext } from './contract.js';
// The embedded default is always there; cloud adapters are imported only when a policy names them.
import { openLocalStore } from './local/index.js';

// Kept here too for code that imported it from the registry before it moved to the contract.
export type { StoreContext } from './contract.js';

export interface RegistryContext {
  env: NodeJS.ProcessEnv;
  logger: Log;
  aws?: AwsOverrides;
}

/**
 * Opens store adapters by policy type, once per location per run. Adapters are imported lazily so a
 * run that only uses the local store never loads a cloud SDK (or the file stores' code).
 */
export class StoreRegistry {
  readonly #open = new Map<string, Promise<SecretStore>>();

  constructor(private readonly context: RegistryContext) {}

  async get(spec: StoreSpec): Promise<SecretStore> {
    const id = storeId(spec);
    let opening = this.#open.get(id);
    if (!opening) {
      opening = openAdapter(spec, { env: this.context.env, log: this.context.logger, aws: this.context.aws ?? {}, storeId: id });
      this.#open.set(id, opening);
    }
    const store = await opening;
    store.configureEntry?.(spec);
    return store;
  }

  async closeAll(): Promise<void> {
    const stores = await Promise.allSettled(this.#open.values());
    this.#open.clear();
    await Promise.all(stores.map((s) => (s.status === 'fulfilled' ? s.value.close() : undefined)));
  }
}

/**
 * Identity of a store location (which lock, which client), independent of the entry key. For AWS
 * it is the account's Region as reached through one endpoint and profile: its quotas are shared.
 */
export function storeId(spec: StoreSpec): string {
  if (spec.type === 'local') return `local:${spec.path}`;
  // One file, one lock: every secret kept in the same .env or manifest shares the store.
  if (spec.type === 'dotenv' || spec.type === 'k8s-secret') return `${spec.type}:${spec.path}`;
  if (spec.type === 'plugin') return `plugin:${spec.module}|${JSON.stringify(spec.options)}`;
  // KMS stores of the two modes behave differently (capabilities), so each mode is its own store.
  if (spec.type === 'aws-kms') return `aws-kms:${spec.region ?? ''}|${spec.endpoint ?? ''}|${spec.profile ?? ''}|${spec.mode}`;
  if (spec.type === 'vault-kv2') return `vault-kv2:${spec.address ?? ''}|${spec.namespace ?? ''}|${spec.mount}|${spec.tokenFile ?? ''}`;
  if (spec.type === 'command') return `command:${JSON.stringify([spec.run, spec.config])}`;
  return `${spec.type}:${spec.region ?? ''}|${spec.endpoint ?? ''}|${spec.profile ?? ''}`;
}

async function openAdapter(spec: StoreSpec, context: StoreContext): Promise<SecretStore> {
  switch (spec.type) {
    case 'local':
      return openLocalStore({ path: spec.path }, context.env);
    case 'aws-secrets-manager': {
      const { openSecretsManagerStore } = await import('./aws-secrets-manager/index.js');
      return openSecretsManagerStore(spec, context);
    }
    case 'aws-kms': {
      const { openKmsStore } = await import('./aws-kms/index.js');
      return openKmsStore(spec, context);
    }
    case 'dotenv': {
      const { openDotenvStore } = await import('./dotenv/index.js');
      return openDotenvStore(spec, context);
    }
    case 'k8s-secret': {
      const { openK8sSecretStore } = await import('./k8s-secret/index.js');
      return openK8sSecretStore(spec, context);
    }
    case 'vault-kv2': {
      const { openVaultKv2Store } = await import('./vault-kv2/index.js');
      return openVaultKv2Store(spec, context);
    }
    case 'command': {
      const { openCommandStore } = await import('./command/index.js');
      return openCommandStore(spec, context);
    }
    case 'plugin': {
      const { openPluginStore } = await import('./plugin/index.js');
      return openPluginStore(spec, context);
    }
  }
}
