import type { StoreSpec } from '../policy/types.js';
import type { SecretStore } from './contract.js';
// The embedded default is always there; cloud adapters are imported only when a policy names them.
import { openLocalStore } from './local/index.js';

/**
 * Opens store adapters by policy type, once per location per run. Adapters are imported lazily so a
 * run that only uses the local store never loads a cloud SDK.
 */
export class StoreRegistry {
  readonly #open = new Map<string, Promise<SecretStore>>();

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  get(spec: StoreSpec): Promise<SecretStore> {
    const id = storeId(spec);
    let store = this.#open.get(id);
    if (!store) {
      store = openAdapter(spec, this.env);
      this.#open.set(id, store);
    }
    return store;
  }

  async closeAll(): Promise<void> {
    const stores = await Promise.allSettled(this.#open.values());
    this.#open.clear();
    await Promise.all(stores.map((s) => (s.status === 'fulfilled' ? s.value.close() : undefined)));
  }
}

/** Identity of a store location (which lock, which file), independent of the entry key. */
export function storeId(spec: StoreSpec): string {
  return `${spec.type}:${spec.path}`;
}

async function openAdapter(spec: StoreSpec, env: NodeJS.ProcessEnv): Promise<SecretStore> {
  switch (spec.type) {
    case 'local': {
      return openLocalStore({ path: spec.path }, env);
    }
  }
}
