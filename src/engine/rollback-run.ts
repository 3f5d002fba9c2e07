import { EvidenceLog } from '../evidence/index.js';
import { ExitCode, KeyshiftError } from '../errors.js';
import type { SecretPolicy } from '../policy/types.js';
import type { EntryState, StoreLock } from '../stores/contract.js';
import { StoreRegistry } from '../stores/registry.js';
import type { EngineContext } from './context.js';
import { targetLabel } from './context.js';
import { recoverEvidence } from './evidence-recovery.js';
import { unconfirmedDrafts } from './state.js';
import { notifyTargets, signRun, startRun } from './run-info.js';
import { anchorEvidence, type RotateReport, type RotateResult } from './runner.js';
import { selectPolicies, targetsOf } from './selection.js';
import { rollback, rollbackRetired } from './steps.js';

export interface RollbackOptions {
  name: string;
  envs: string[];
  reason?: string;
  ticket?: string;
}

/**
 * Before decommission: the old version back to CURRENT and the new one discarded, in every selected
 * environment that has a rotation in flight or in its fallback window (later environments first).
 */
export async function rollbackRun(ctx: EngineContext, policies: SecretPolicy[], options: RollbackOptions): Promise<RotateReport> {
  const stores = new StoreRegistry(ctx);
  const evidence = new EvidenceLog(ctx.evidenceDir, { lockWaitMs: ctx.lockWaitMs });
  const { run, settle } = startRun(ctx, evidence, stores, {
    reason: options.reason ?? 'rollback',
    ticket: options.ticket ?? null,
    emergency: false,
    notifyFor: notifyTargets(policies),
  });
  const runId = run.runId;
  const held: StoreLock[] = [];
  try {
    const selected = selectPolicies(policies, { names: [options.name], all: false, envs: options.envs });
    const targets = (await targetsOf(selected, options.envs, stores)).reverse();
    const results: RotateResult[] = [];
    const refusals: string[] = [];
    const lockedStores = new Set<string>();
    for (const target of targets) {
      if (!lockedStores.has(target.storeId)) {
        held.push(await target.store.lock({ waitMs: ctx.lockWaitMs, owner: `keyshift rollback (${run.operator}, ${runId})` }));
        lockedStores.add(target.storeId);
      }
      // Evidence a crashed run announced but never wrote goes into the log before this run's own.
      let state = await target.store.read(target.key);
      const meta = await target.store.readMeta();
      if (unconfirmedDrafts(state, meta).length > 0) {
        await recoverEvidence(new Map([[target, state]]), meta, ctx.evidenceDir, (drafts) => evidence.append(drafts).then(() => undefined));
        state = await target.store.read(target.key);
      }
      const step = state?.rotation ? await rollback(target, state, run) : state ? await rollbackRetired(target, state, run) : null;
      if (!step) {
        refusals.push(nothingToRollBack(targetLabel(target), state));
        continue;
      }
      results.push({
        secret: target.policy.name,
        environment: target.environment.name,
        action: 'rollback',
        outcome: 'rolled-back',
        fromVersion: step.fromVersion,
        toVersion: step.toVersion,
        rotationId: step.rotationId,
      });
    }
    if (results.length === 0) {
      throw new KeyshiftError('ERR_NOTHING_TO_ROLL_BACK', refusals.join('; '), {
        exitCode: ExitCode.usage,
        hint: 'rollback works only between the issue of a new version and the decommission of the old one',
      });
    }
    await settle();
    await signRun(ctx, evidence, run);
    for (const target of targets) {
      if (!lockedStores.delete(target.storeId)) continue;
      await anchorEvidence(target.store, await target.store.readMeta(), evidence, runId);
    }
    return { runId, results: results.reverse(), evidenceFile: evidence.file, exitCode: ExitCode.ok };
  } finally {
    for (const lock of held) await lock.release().catch(() => undefined);
    await evidence.close();
    await stores.closeAll();
  }
}

function nothingToRollBack(label: string, state: EntryState | null): string {
  const retired = [...(state?.retired ?? [])].sort((a, b) => a.retiredAt.localeCompare(b.retiredAt)).pop();
  if (!state) return `${label} is not provisioned`;
  if (retired) {
    const gone = retired.restorableUntil ? `; it could be restored until ${retired.restorableUntil}` : '';
    return `${label}: nothing to roll back; the old version ${retired.id} was retired (decommissioned) at ${retired.retiredAt}${gone}`;
  }
  return `${label}: nothing to roll back; no rotation in progress`;
}
