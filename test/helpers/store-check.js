// Reads a local store the way a consumer would, through the compiled adapter, to check invariants.
import { openLocalStore } from '../../dist/stores/local/index.js';

export async function inspectStore(path, keys, env = {}) {
  const store = openLocalStore({ path }, env);
  const out = new Map();
  try {
    for (const key of keys) {
      const state = await store.read(key);
      const current = state?.versions.filter((v) => v.stages.includes('CURRENT')) ?? [];
      const pending = state?.versions.filter((v) => v.stages.includes('PENDING')) ?? [];
      const previous = state?.versions.filter((v) => v.stages.includes('PREVIOUS')) ?? [];
      const currentValue = current[0] ? (await store.readValue(key, current[0].id)).reveal() : null;
      const previousValue = previous[0] ? (await store.readValue(key, previous[0].id)).reveal() : null;
      out.set(key, { state, current, pending, previous, currentValue, previousValue });
    }
  } finally {
    await store.close();
  }
  return out;
}
