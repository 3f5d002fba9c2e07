// Reads a local store for the crash and concurrency invariants with the independent reader of the
// format (test/fuzz/store-format.js, written from docs/local-store.md), not with the adapter under
// test: a bug in keyshift's own reader cannot hide a bug in its writer. The master key is the
// store's `<store>.key` file (the tests never set KEYSHIFT_MASTER_KEY).
import { readFileSync } from 'node:fs';
import { readStore, storeKeys, versionAt } from '../fuzz/store-format.js';

/** The decoded store, or throws naming the damage (a store must never read as damaged). */
export function readStoreFile(path) {
  const state = readStore(readFileSync(path), storeKeys(readFileSync(`${path}.key`, 'utf8')));
  if (state.corrupt) throw new Error(`${path} is damaged: ${state.corrupt}`);
  return state;
}

/**
 * Per key: { versions: [{ id, stages }], current, pending, previous (version lists),
 * currentValue, previousValue (text, or null) } as the bytes on disk say.
 */
export async function inspectStore(path, keys) {
  const state = readStoreFile(path);
  const out = new Map();
  for (const key of keys) {
    const versions = (state.entries.get(key)?.versions ?? []).map((v) => ({ id: v.id, stages: v.stages }));
    const at = (stage) => versions.filter((v) => v.stages.includes(stage));
    out.set(key, {
      versions,
      current: at('CURRENT'),
      pending: at('PENDING'),
      previous: at('PREVIOUS'),
      currentValue: versionAt(state, key, 'CURRENT')?.value ?? null,
      previousValue: versionAt(state, key, 'PREVIOUS')?.value ?? null,
    });
  }
  return out;
}
