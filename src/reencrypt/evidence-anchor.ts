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
  if (run.sign && ctx.signer) {
    const who = { runId: run.runId, operator: operatorName(ctx.env), reason: run.reason, ticket: null, emergency: false, now: ctx.now };
    await signEvidence(evidence, ctx.signer, who).catch((error: unknown) =>
      ctx.logger.error({ err: errorMessage(error) }, 'could not append the signed record; the next run signs these records'),
    );
  }
  try {
    // writeMeta needs the store's lock; a rotate holding it makes us wait --lock-timeout at most.
    const lock = await store.lock({ waitMs: ctx.lockWaitMs, owner: `keyshift reencrypt (${operatorName(ctx.env)}, ${run.runId})` });
    try {
      // Not a confirmation of the store's drafts: this run wrote none.
      await anchorEvidence(store, await store.readMeta(), evidence, run.runId, false);
    } finally {
      await lock.release();
    }
  } catch (error) {
    ctx.logger.error({ store: store.location, err: errorMessage(error) }, 'could not record the evidence anchor in the store; the next run that anchors covers these records');
  }
}
