import { findLoggedEvents } from '../evidence/index.js';
import type { EntryState, EvidenceDraft, StoreMeta } from '../stores/contract.js';
import type { Target } from './context.js';
import { unconfirmedDrafts } from './state.js';

/**
 * A run that died between a store write and its evidence line leaves the event as a draft in the
 * store. Under the store lock, before anything else, we append the drafts the log lacks and clear
 * them, so the chain shows every event that happened.
 */
export async function recoverEvidence(
  states: Map<Target, EntryState | null>,
  meta: StoreMeta,
  evidenceDir: string,
  append: (drafts: EvidenceDraft[]) => Promise<void>,
): Promise<number> {
  const pending = [...states].flatMap(([target, state]) => unconfirmedDrafts(state, meta).map((draft) => ({ target, draft })));
  if (pending.length === 0) return 0;
  const logged = await findLoggedEvents(evidenceDir, new Set(pending.map((p) => p.draft.rotationId ?? '')));
  const missing = pending.filter(({ draft }) => !logged.has(`${draft.rotationId}|${draft.event}|${draft.environment}`));
  missing.sort((a, b) => a.draft.at.localeCompare(b.draft.at));
  if (missing.length > 0) await append(missing.map((m) => m.draft));
  // Clearing is best effort: the drafts are in the log now, and one left in the store is found
  // logged next time. A secret the store refuses to write (or a failing call) must not abort the
  // run for every other secret: its own step reports it.
  for (const target of new Set(pending.map((p) => p.target))) {
    const state = states.get(target) as EntryState;
    await target.store.apply(target.key, [], { rotation: state.rotation, lastRotatedAt: state.lastRotatedAt, pendingEvents: [] }).catch(() => undefined);
  }
  return missing.length;
}
