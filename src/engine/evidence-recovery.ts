import { findLoggedDrafts, loggedKey, type CheckpointRef, type EvidenceLog } from '../evidence/index.js';
import { isUnconfirmed, type EntryState, type EvidenceDraft, type SecretStore, type StoreMeta } from '../stores/contract.js';
import { errorMessage } from '../errors.js';
import type { Log } from '../log.js';
import type { Target } from './context.js';
import { mapWithConcurrency } from './concurrency.js';
import { unconfirmedDrafts } from './state.js';

/** Runs `write` holding the target's cross-machine lease (engine/leases.ts); skips it if another runner holds it. */
export type UnderLease = (target: Target, write: () => Promise<void>) => Promise<void>;

export const draftKey = (draft: EvidenceDraft): string => `${draft.runId}|${draft.rotationId}|${draft.event}|${draft.environment}`;

/**
 * Recovery for one locked store (rotate and doctor --fix): its meta, the states of `targets` that
 * hold unconfirmed drafts (read by `read`, `readers` at a time, kept in policy order), and the drafts
 * the log lacks appended. Returns the store meta it read, how many events it appended, and how
 * many secrets held drafts (appended now or already in the log; their drafts are cleared).
 */
export async function recoverStoreEvidence(
  store: SecretStore,
  targets: Target[],
  evidenceDir: string,
  append: (drafts: EvidenceDraft[]) => Promise<void>,
  options: { readers: number; read: (target: Target) => Promise<EntryState | null>; recoveredBy: string; underLease?: UnderLease },
): Promise<{ meta: StoreMeta; recovered: number; secretsWithDrafts: number }> {
  const meta = await store.readMeta();
  const read = await mapWithConcurrency(targets, options.readers, async (target) => {
    const state = await options.read(target);
    return unconfirmedDrafts(state, meta).length > 0 ? ([target, state] as const) : null;
  });
  const states = new Map<Target, EntryState | null>(read.filter((entry) => entry !== null));
  const recovered = states.size > 0 ? await recoverEvidence(states, meta, evidenceDir, append, options) : 0;
  return { meta, recovered, secretsWithDrafts: states.size };
}

/**
 * A run that died between a store write and its evidence line leaves the event as a draft in the
 * store. Under the store lock, before anything else, we append the drafts the log lacks and clear
 * them, so the chain shows every event that happened. Each appended record names the run that
 * appended it (`recoveredBy`): the same draft may also be in the log of the run that announced it
 * (another machine's, whose confirmation this state dir cannot see), and a log that starts with it
 * must still have a chain id of its own (the hash of its first record).
 */
export async function recoverEvidence(
  states: Map<Target, EntryState | null>,
  meta: StoreMeta,
  evidenceDir: string,
  append: (drafts: EvidenceDraft[]) => Promise<void>,
  { recoveredBy, underLease, keepDrafts = false }: { recoveredBy: string; underLease?: UnderLease; keepDrafts?: boolean },
): Promise<number> {
  const pending = [...states].flatMap(([target, state]) => unconfirmedDrafts(state, meta).map((draft) => ({ target, draft })));
  if (pending.length === 0) return 0;
  const logged = await findLoggedDrafts(evidenceDir, pending.map((p) => p.draft));
  const missing = pending.filter(({ draft }) => !logged.has(loggedKey(draft)));
  missing.sort((a, b) => a.draft.at.localeCompare(b.draft.at));
  if (missing.length > 0) await append(missing.map((m) => ({ ...m.draft, recoveredBy })));
  // The caller clears them once its run is signed and anchored (reencrypt/rewrap-evidence.ts).
  if (keepDrafts) return missing.length;
  // Clearing is best effort: the drafts are in the log now, and one left in the store is found
  // logged next time. A secret the store refuses to write (or a failing call) must not abort the
  // run for every other secret: its own step reports it.
  for (const target of new Set(pending.map((p) => p.target))) {
    const state = states.get(target) as EntryState;
    if (!underLease) {
      await target.store.apply(target.key, [], { rotation: state.rotation, lastRotatedAt: state.lastRotatedAt, pendingEvents: [] }).catch(() => undefined);
      continue;
    }
    // Another machine may be rotating this secret: write only under its lease, from a fresh read,
    // keeping drafts announced since (a held lease leaves the drafts; they are found logged next time).
    const cleared = new Set(pending.filter((p) => p.target === target).map(({ draft }) => draftKey(draft)));
    await underLease(target, async () => {
      const fresh = await target.store.read(target.key);
      if (!fresh) return;
      const kept = fresh.pendingEvents.filter((draft) => !cleared.has(draftKey(draft)) && isUnconfirmed(draft, meta.confirmedRuns));
      if (kept.length === fresh.pendingEvents.length) return;
      await target.store.apply(target.key, [], { rotation: fresh.rotation, lastRotatedAt: fresh.lastRotatedAt, pendingEvents: kept });
    }).catch(() => undefined);
  }
  return missing.length;
}

/**
 * Record the log's head in the store (truncation of the log cannot reach it) and confirm this run's
 * drafts. A run where a step failed is not confirmed: the failed step's store write may have landed
 * (e.g. the version was created, then the read after it failed) without its evidence line, and the
 * next run must append that draft (recovery skips drafts the log already holds).
 */
export async function anchorEvidence(store: SecretStore, meta: StoreMeta, evidence: EvidenceLog, runId: string, confirm = true, checkpoint: CheckpointRef | null = null): Promise<void> {
  const head = await evidence.head();
  const anchors = { ...meta.evidenceAnchors };
  if (head) anchors[head.chainId] = { seq: head.seq, hash: head.hash, at: new Date().toISOString() };
  // The rollback checkpoint this run's check read or wrote: the store vouches for it (state-checkpoint.ts).
  const checkpoints = checkpoint ? { ...meta.checkpoints, [checkpoint.chainId]: checkpoint.digest } : meta.checkpoints;
  await store.writeMeta({
    evidenceAnchors: anchors,
    confirmedRuns: confirm ? [...meta.confirmedRuns, runId].slice(-50) : meta.confirmedRuns,
    ...(checkpoints ? { checkpoints } : {}),
  });
}

/**
 * anchorEvidence at the end of a run, for a store it wrote to (`meta` null: read now). A store that
 * cannot give its metadata or take the anchor is logged, never thrown: the run's changes and their
 * evidence stand, and the run's exit code is theirs.
 */
export async function anchorOrLog(log: Log, store: SecretStore, meta: StoreMeta | null, evidence: EvidenceLog, runId: string, confirm = true, checkpoint: CheckpointRef | null = null): Promise<void> {
  try {
    await anchorEvidence(store, meta ?? (await store.readMeta()), evidence, runId, confirm, checkpoint);
  } catch (error) {
    log.error({ store: store.location, err: errorMessage(error) }, 'could not record the evidence anchor in the store');
  }
}

/**
 * Before a run's first write: refuses (ERR_EVIDENCE_CORRUPT) a log that ends before the record
 * `store` anchored or holds another record at its seq, and cuts the incomplete line a killed append
 * left (EvidenceLog.prepare). Without it a run (rollback, reencrypt) would append after a cut, anchor
 * its new end in the store, and `evidence verify` would pass again over the cut.
 */
export async function refuseCutEvidence(evidence: EvidenceLog, store: SecretStore, meta?: StoreMeta): Promise<void> {
  evidence.expectAnchors(`store ${store.location}`, (meta ?? (await store.readMeta())).evidenceAnchors);
  await evidence.prepare();
}
