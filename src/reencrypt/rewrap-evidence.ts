import type { EngineContext } from '../engine/context.js';
import { draftKey } from '../engine/evidence-recovery.js';
import type { EvidenceLog } from '../evidence/index.js';
import type { EvidenceDraft, SecretStore } from '../stores/contract.js';
import { anchorInStore, signReencryptRun } from './evidence-anchor.js';

/**
 * The end of a re-wrap run, as `rotate` ends its runs: a `signed` record over the head (with a
 * signing key), the head anchored in each store the run wrote to, and only then the data keys'
 * drafts cleared. Until then every `data-key-rewrapped` draft of the run (and any a killed run
 * left, recovered by this one) stays in its entry: a run killed before its end leaves them there,
 * and the rerun finds them (in the log already, so not appended again) and ends the run for them:
 * it signs and anchors. The run is never confirmed per data key, so that a later data key's draft
 * cut off from the log by a kill is still recovered (docs/reencrypt.md#key-hierarchy).
 */

/** A data key's entry that holds drafts whose records are in the log. */
export interface LoggedDrafts {
  store: SecretStore;
  key: string;
  drafts: EvidenceDraft[];
}

export async function endRewrapRun(ctx: EngineContext, evidence: EvidenceLog, entries: LoggedDrafts[], run: { runId: string; reason: string }): Promise<void> {
  if (entries.length === 0) return;
  const signed = await signReencryptRun(ctx, evidence, run, 'a rerun of this command signs these records');
  // Per store, per entry: one write clears an entry's recovered drafts and its new one together.
  const byStore = new Map<SecretStore, Map<string, EvidenceDraft[]>>();
  for (const { store, key, drafts } of entries) {
    const held = byStore.get(store) ?? new Map<string, EvidenceDraft[]>();
    held.set(key, [...(held.get(key) ?? []), ...drafts]);
    byStore.set(store, held);
  }
  for (const [store, held] of byStore) {
    // Unsigned (the signature failed), the drafts stay: a rerun signs for them.
    await anchorInStore(ctx, evidence, store, run.runId, 'a rerun of this command anchors these records', async () => {
      if (signed) for (const [key, drafts] of held) await clearDrafts(store, key, drafts);
    });
  }
}

/** Drops the entry's drafts that are logged, keeping any another run announced since. */
async function clearDrafts(store: SecretStore, key: string, drafts: EvidenceDraft[]): Promise<void> {
  const logged = new Set(drafts.map(draftKey));
  const state = await store.read(key);
  if (!state) return;
  const kept = state.pendingEvents.filter((draft) => !logged.has(draftKey(draft)));
  if (kept.length === state.pendingEvents.length) return;
  await store.apply(key, [], { rotation: state.rotation, lastRotatedAt: state.lastRotatedAt, pendingEvents: kept });
}
