import type { EngineContext } from '../engine/context.js';
import { operatorName } from '../engine/ids.js';
import { anchorEvidence } from '../engine/evidence-recovery.js';
import type { EvidenceLog } from '../evidence/index.js';
import { signEvidence } from '../evidence/sign.js';
import { errorMessage } from '../errors.js';
import type { SecretStore } from '../stores/contract.js';

/**
 * Ends a run that appended `reencrypt-stage` records the way `rotate` ends its runs: a `signed`
 * record over the head (with KEYSHIFT_SIGNING_KEY), then the head anchored in the environment's
 * store, so `evidence verify` finds these records edited, re-chained or cut off like any other.
 * Best effort, as in rotate: a failure is logged, and the next run that anchors covers them.
 */
export async function anchorStageRecords(ctx: EngineContext, evidence: EvidenceLog, store: SecretStore, run: { runId: string; sign: boolean; reason: string }): Promise<void> {
  if (run.sign) await signReencryptRun(ctx, evidence, run, 'the next run signs these records');
  // Not a confirmation of the store's drafts: this run wrote none.
  await anchorInStore(ctx, evidence, store, run.runId, 'the next run that anchors covers these records');
}

/** A `signed` record over the head, with a signing key; false only when signing failed (logged, `ifFailed` says what follows). */
export async function signReencryptRun(ctx: EngineContext, evidence: EvidenceLog, run: { runId: string; reason: string }, ifFailed: string): Promise<boolean> {
  if (!ctx.signer) return true;
  const who = { runId: run.runId, operator: operatorName(ctx.env), reason: run.reason, ticket: null, emergency: false, now: ctx.now };
  return signEvidence(evidence, ctx.signer, who).then(
    () => true,
    (error: unknown) => {
      ctx.logger.error({ err: errorMessage(error) }, `could not append the signed record; ${ifFailed}`);
      return false;
    },
  );
}

/**
 * The log's head recorded in `store`, without confirming its drafts, then `more` under the same lock.
 * writeMeta needs the store's lock; a rotate holding it makes us wait --lock-timeout at most.
 * Best effort: a failure is logged (`ifFailed` says what follows).
 */
export async function anchorInStore(ctx: EngineContext, evidence: EvidenceLog, store: SecretStore, runId: string, ifFailed: string, more?: () => Promise<void>): Promise<void> {
  try {
    const lock = await store.lock({ waitMs: ctx.lockWaitMs, owner: `keyshift reencrypt (${operatorName(ctx.env)}, ${runId})` });
    try {
      await anchorEvidence(store, await store.readMeta(), evidence, runId, false);
      await more?.();
    } finally {
      await lock.release();
    }
  } catch (error) {
    ctx.logger.error({ store: store.location, err: errorMessage(error) }, `could not record the evidence anchor in the store; ${ifFailed}`);
  }
}
