import type { EngineContext } from '../engine/context.js';
import { openEvidenceLog } from '../engine/evidence-log.js';
import { newRunId, operatorName } from '../engine/ids.js';
import type { SecretPolicy } from '../policy/types.js';
import { StoreRegistry } from '../stores/registry.js';
import { checkpointId, checkpointOf, freshState, saveState } from './checkpoint.js';
import type { ReencryptDatabase } from './databases/contract.js';
import { anchorStageRecords } from './evidence-anchor.js';
import { refuseCutEvidence } from '../engine/evidence-recovery.js';
import { loadKeys } from './keys.js';
import { openDatabase } from './databases/index.js';
import { walk } from './stage-walk.js';
import { inlineSealer } from './sealer.js';

/**
 * Before `keyshift rollback` discards the new version: every row already under it goes back under
 * the old one (PREVIOUS), or those rows would be left under a key that no longer exists. Returns
 * the rows moved per environment; environments whose rotation has not switched are left alone.
 */
export async function revertBeforeRollback(ctx: EngineContext, policies: SecretPolicy[], name: string, envs: string[]): Promise<Array<{ environment: string; rows: number; database: string }>> {
  const policy = policies.find((p) => p.name === name);
  if (!policy?.reencrypt) return [];
  const spec = policy.reencrypt;
  const stores = new StoreRegistry(ctx);
  const evidence = openEvidenceLog(ctx);
  const moved: Array<{ environment: string; rows: number; database: string }> = [];
  try {
    for (const environment of policy.environments) {
      if (envs.length > 0 && !envs.includes(environment.name)) continue;
      const store = await stores.get(environment.store);
      const keys = await loadKeys(policy, environment, store, { policies, stores, env: ctx.env, aws: ctx.aws, logger: ctx.logger });
      const rotation = keys.state.rotation;
      if (!keys.previous || !rotation || rotation.newVersionId !== keys.current || rotation.oldVersionId !== keys.previous) continue;
      const db: ReencryptDatabase = await openDatabase(spec.database);
      const id = checkpointId(policy.name, environment.name);
      const lock = await db.lockRun(id, { waitMs: ctx.lockWaitMs, owner: `keyshift rollback ${policy.name} (${operatorName(ctx.env)})` }).catch(async (error: unknown) => {
        await db.close();
        throw error;
      });
      try {
        await refuseCutEvidence(evidence, store);
        await db.ensureCheckpointTable();
        // Every row of every bucket: the whole range, walked from the start and checkpointed.
        const state = { ...freshState(keys.current, keys.previous, ctx.now()), phase: 'rolling-back' as const };
        const started = ctx.now();
        await walk({ db, spec, ring: keys.ring, sealer: inlineSealer(keys.ring, spec), state, range: [0, 1.1], save: () => saveState(db, id, state, ctx.now()), checkpoint: () => checkpointOf(id, state, ctx.now()), now: ctx.now, maxRowsPerSecond: null }, 'back');
        const runId = newRunId();
        await evidence.append([{
          event: 'reencrypt-stage', rotationId: rotation.rotationId, secret: policy.name, environment: environment.name, store: store.kind,
          fromVersion: keys.current, toVersion: keys.previous, fingerprint: null, at: ctx.now().toISOString(), operator: operatorName(ctx.env),
          reason: 'rollback: rows back under the old version before it is CURRENT again', ticket: null, emergency: false, checks: [], runId,
          ...({ stage: 'rollback', outcome: 'rolled-back', database: db.describe, rowsDone: state.stats.rolledBack, errors: 0, errorRate: 0, conflicts: state.stats.conflicts, durationMs: ctx.now().getTime() - started.getTime(), errorRows: [] } as object),
        }]);
        moved.push({ environment: environment.name, rows: state.stats.rolledBack, database: db.describe });
        // The rollback that follows signs and anchors again; this covers a rollback that then stops.
        await anchorStageRecords(ctx, evidence, store, { runId, sign: false, reason: 'rollback' });
      } finally {
        await lock.release();
        await db.close();
      }
    }
    return moved;
  } finally {
    await evidence.close();
    await stores.closeAll();
  }
}
