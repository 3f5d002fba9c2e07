import type { Log } from '../log.js';
import type { StoreSpec } from '../policy/types.js';
import type { AwsOverrides } from './aws/client-config.js';
import type { SecretStore } from './contract.js';
// The embedded default is always there; cloud adapters are imported only when a policy names them.
import { openLocalStore } from './local/index.js';

/** What an adapter gets besides its spec. */
export interface StoreContext {
  env: NodeJS.ProcessEnv;
  log: Log;
  /** `--region`, `--profile`, `--endpoint-url`: defaults for AWS stores whose policy leaves them out. */
  aws: AwsOverrides;
  /** The registry's id of this store (one client, one lock, one quota per id). */
  storeId: string;
}

export interface RegistryContext {
  env: NodeJS.ProcessEnv;
  logger: Log;
  aws?: AwsOverrides;
}

/**
 * Opens store adapters by policy type, once per location per run. Adapters are imported lazily so a
 * run that only uses the local store never loads a cloud SDK.
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
  if (spec.type === 'plugin') return `plugin:${spec.module}|${JSON.stringify(spec.options)}`;
  // KMS stores of the two modes behave differently (capabilities), so each mode is its own store.
  if (spec.type === 'aws-kms') return `aws-kms:${spec.region ?? ''}|${spec.endpoint ?? ''}|${spec.profile ?? ''}|${spec.mode}`;
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
    case 'plugin': {
      const { openPluginStore } = await import('./plugin/index.js');
      return openPluginStore(spec, context);
    }
  }
}
