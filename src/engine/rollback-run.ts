import { asDiskError } from '../disk-errors.js';
import { errorMessage, ExitCode, KeyshiftError } from '../errors.js';
import type { SecretPolicy } from '../policy/types.js';
import { leaseHolder } from '../stores/aws/lease.js';
import type { EntryState, EvidenceDraft, StoreLock } from '../stores/contract.js';
import { StoreRegistry } from '../stores/registry.js';
import { type EngineContext, type Target, targetLabel } from './context.js';
import { openEvidenceLog } from './evidence-log.js';
import { releaseLease, RunLeases } from './leases.js';
import { anchorOrLog, recoverEvidence, refuseCutEvidence } from './evidence-recovery.js';
import { unconfirmedDrafts } from './state.js';
import { notifyTargets, signRun, startRun } from './run-info.js';
import { evidenceFailed, evidenceFault, rethrowUsage, rotateExitCode, toErrorInfo, type RotateResult } from './rotate-result.js';
import type { RotateReport } from './runner.js';
import { selectPolicies, targetsOf } from './selection.js';
import { rollback, rollbackRetired } from './rollback-steps.js';

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
  const evidence = openEvidenceLog(ctx);
  const { run, settle } = startRun(ctx, evidence, stores, {
    reason: options.reason ?? 'rollback',
    ticket: options.ticket ?? null,
    emergency: false,
    notifyFor: notifyTargets(policies),
    policies,
  });
  const runId = run.runId;
  const leases = new RunLeases(ctx);
  const holder = leaseHolder(run.operator, runId, 'rollback');
  const held = new Map<string, StoreLock>();
  const touched = new Set<string>();
  try {
    const selected = selectPolicies(policies, { names: [options.name], all: false, envs: options.envs });
    const targets = (await targetsOf(selected, options.envs, stores)).reverse();
    const results: RotateResult[] = [];
    const refusals: string[] = [];
    // Promotion order, backwards: an environment that was not rolled back holds the earlier ones, so
    // a later environment never keeps a newer version than an earlier one.
    let heldBy: string | null = null;
    for (const target of targets) {
      if (heldBy) {
        results.push(outcome(target, 'skipped', { reason: `held: ${heldBy}; roll it back with --env once that one is` }));
        continue;
      }
      try {
        const step = await rollbackTarget(target);
        if (!step) continue;
        results.push(outcome(target, 'rolled-back', step));
      } catch (error) {
        if (evidenceFault(error)) throw error;
        rethrowUsage(error);
        const blocked = error instanceof KeyshiftError && error.exitCode === ExitCode.blocked;
        ctx.logger.error({ target: targetLabel(target), store: target.store.location, err: errorMessage(error) }, blocked ? 'blocked' : 'could not roll back');
        results.push(outcome(target, blocked ? 'blocked' : 'failed', { error: toErrorInfo(asDiskError(error, target.store.location)) }));
        heldBy = `${target.environment.name} is ${blocked ? 'blocked' : 'failed'} in this run`;
      }
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
      if (!touched.delete(target.storeId)) continue;
      await anchorOrLog(ctx.logger, target.store, null, evidence, runId);
    }
    return { runId, results: results.reverse(), evidenceFile: evidence.file, exitCode: rotateExitCode(results) };

    /** One environment under its store's lock and its cross-machine lease; null: nothing to roll back. */
    async function rollbackTarget(target: Target): Promise<Pick<RotateResult, 'fromVersion' | 'toVersion' | 'rotationId'> | null> {
      // A store that cannot be locked fails (or, locked elsewhere, blocks) this environment, and so
      // holds the earlier ones: no other environment of this run tries it again.
      if (!held.has(target.storeId)) {
        held.set(target.storeId, await target.store.lock({ waitMs: ctx.lockWaitMs, owner: `keyshift rollback (${run.operator}, ${runId})` }));
      }
      const lease = await leases.hold(target, holder);
      try {
        // Evidence a crashed run announced but never wrote goes into the log before this run's own.
        let state = await target.store.read(target.key);
        const meta = await target.store.readMeta();
        // A log cut short of the store's anchor stops the rollback before its store write.
        await refuseCutEvidence(evidence, target.store, meta);
        if (unconfirmedDrafts(state, meta).length > 0) {
          const append = (drafts: EvidenceDraft[]) => evidence.append(drafts).then(() => undefined, (error: unknown) => Promise.reject(evidenceFailed(error)));
          await recoverEvidence(new Map([[target, state]]), meta, ctx.evidenceDir, append, { recoveredBy: runId });
          touched.add(target.storeId);
          state = await target.store.read(target.key);
        }
        const step = state?.rotation ? await rollback(target, state, run) : state ? await rollbackRetired(target, state, run) : null;
        if (!step) {
          refusals.push(nothingToRollBack(targetLabel(target), state));
          return null;
        }
        touched.add(target.storeId);
        return { fromVersion: step.fromVersion, toVersion: step.toVersion, rotationId: step.rotationId };
      } finally {
        await releaseLease(lease, target, ctx.logger);
      }
    }
  } finally {
    for (const lock of held.values()) await lock.release().catch(() => undefined);
    await evidence.close();
    await leases.close();
    await stores.closeAll();
  }
}

function outcome(target: Target, result: RotateResult['outcome'], extra: Partial<RotateResult>): RotateResult {
  return { secret: target.policy.name, environment: target.environment.name, action: 'rollback', outcome: result, fromVersion: null, toVersion: null, rotationId: null, ...extra };
}

function nothingToRollBack(label: string, state: EntryState | null): string {
  const retired = [...(state?.retired ?? [])].sort((a, b) => a.retiredAt.localeCompare(b.retiredAt)).pop();
  if (!state) return `${label} is not provisioned`;
  if (retired) {
    const gone = retired.restorableUntil ? `; it could be restored until ${retired.restorableUntil}` : '';
    // Retired by a decommission (an old version) or by a rollback (a discarded new one): the store does not say which.
    return `${label}: nothing to roll back; no rotation is in flight or in its fallback window (the last version retired, ${retired.id}, was removed at ${retired.retiredAt} by a decommission or a rollback)${gone}`;
  }
  return `${label}: nothing to roll back; no rotation in progress`;
}
