import type { SecretPolicy } from '../policy/types.js';
import { StoreRegistry, storeId, type RegistryContext } from '../stores/registry.js';

export interface StoreAnchors {
  /** Where the store is (a file path, an AWS Region and endpoint), as the adapter names it. */
  store: string;
  type: string;
  anchors: Array<{ chainId: string; seq: number; hash: string; at: string }>;
}

/**
 * The evidence anchors every store of the policies keeps: for each evidence chain that wrote to it,
 * the last seq and hash it saw. Reads only. An auditor compares them with the log's last records.
 */
export async function readStoreAnchors(context: RegistryContext, policies: SecretPolicy[]): Promise<StoreAnchors[]> {
  const stores = new StoreRegistry(context);
  const seen = new Set<string>();
  const result: StoreAnchors[] = [];
  try {
    for (const environment of policies.flatMap((p) => p.environments)) {
      const id = storeId(environment.store);
      if (seen.has(id)) continue;
      seen.add(id);
      const store = await stores.get(environment.store);
      const meta = await store.readMeta();
      const anchors = Object.entries(meta.evidenceAnchors)
        .map(([chainId, a]) => ({ chainId, seq: a.seq, hash: a.hash, at: a.at }))
        .sort((a, b) => a.chainId.localeCompare(b.chainId));
      result.push({ store: store.location, type: environment.store.type, anchors });
    }
  } finally {
    await stores.closeAll();
  }
  return result;
}
