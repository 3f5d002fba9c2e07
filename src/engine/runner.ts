import { EvidenceLog } from '../evidence/index.js';
import { errorMessage, ExitCode, KeyshiftError } from '../errors.js';
import type { SecretPolicy } from '../policy/types.js';
import type { EntryLease, EntryState, SecretStore, StoreLock, StoreMeta } from '../stores/contract.js';
import { StoreRegistry } from '../stores/registry.js';
import type { EngineContext, Target } from './context.js';
import { targetLabel } from './context.js';
import { recoverStoreEvidence } from './evidence-recovery.js';
import { isExecutable, planTarget, type PlannedAction } from './planner.js';
import { decommission, markFailed, provision, resumeRotation, rollback, startRotation, type RunInfo } from './steps.js';
import { HookFailedError } from './overlap-hooks.js';
import { notifyTargets, startRun } from './run-info.js';
import { previousEnvironment, selectPolicies, targetsOf, type Selection } from './selection.js';
import { mapWithConcurrency } from './concurrency.js';
import { unconfirmedDrafts } from './state.js';
import { RunLeases } from './leases.js';
import { leaseHolder } from '../stores/aws/lease.js';

export interface RotateOptions extends Selection {
  force: boolean;
  reason?: string;
  ticket?: string;
  concurrency: number;
  /** Emergency: the fallback window for rotations started by this run (0 allowed). */
  fallbackWindowMs?: number;
  /** Called after each secret: how many are done, of how many, and how many failed so far. */
  onProgress?: (done: number, total: number, failed: number) => void;
}

export interface RotateResult {
  secret: string;
  environment: string;
  action: PlannedAction['action'] | 'rollback';
  outcome: 'provisioned' | 'rotated' | 'resumed' | 'decommissioned' | 'rolled-back' | 'skipped' | 'failed' | 'blocked';
  fromVersion: string | null;
  toVersion: string | null;
  rotationId: string | null;
  reason?: string;
  error?: { code: string; message: string; hint?: string };
}

export interface RotateReport {
  runId: string;
  results: RotateResult[];
  evidenceFile: string | null;
  exitCode: number;
}

/** Advance each selected secret: resume, decommission where the window elapsed, rotate where due or forced. */
export async function rotateRun(ctx: EngineContext, policies: SecretPolicy[], options: RotateOptions): Promise<RotateReport> {
  const stores = new StoreRegistry(ctx);
  const evidence = new EvidenceLog(ctx.evidenceDir, { lockWaitMs: ctx.lockWaitMs });
  const { run, settle } = startRun(ctx, evidence, stores, {
    reason: options.reason ?? (options.force ? 'forced' : 'scheduled'),
    ticket: options.ticket ?? null,
    emergency: options.force,
    fallbackWindowMs: options.fallbackWindowMs,
    notifyFor: notifyTargets(policies),
  });
  const runId = run.runId;
  const log = ctx.logger.child({ runId });
  const locks = new Map<string, StoreLock>();
  const leases = new RunLeases(ctx);
  const blocked = new Map<string, KeyshiftError>();
  // Stores where a step failed: its write may have landed without its evidence line being appended.
  const failedStores = new Set<string>();
  let wroteEvidence = false;
  try {
    const targets = await targetsOf(selectPolicies(policies, options), options.envs, stores);
    const planOptions = { now: ctx.now(), force: options.force, horizonMs: 0 };
    if (!options.ticket) await requireTickets(targets, planOptions);

    // Lock every store with work to do, in a fixed order so two runs cannot deadlock. States are
    // read and dropped one at a time: a run over 10,000 secrets must not hold them all.
    const unlockedMetas = new Map<string, StoreMeta>();
    const needed = new Map<string, SecretStore>();
    for (const target of targets) {
      if (needed.has(target.storeId)) continue;
      if (!unlockedMetas.has(target.storeId)) unlockedMetas.set(target.storeId, await target.store.readMeta());
      const state = await target.store.read(target.key);
      const actions = planTarget({ ...target, state }, planOptions);
      const recovery = unconfirmedDrafts(state, unlockedMetas.get(target.storeId) as StoreMeta).length > 0;
      if (recovery || actions.some((a) => isExecutable(a, planOptions.now))) needed.set(target.storeId, target.store);
    }
    for (const [id, store] of [...needed].sort(([a], [b]) => a.localeCompare(b))) {
      try {
        locks.set(id, await store.lock({ waitMs: ctx.lockWaitMs, owner: `keyshift rotate (${run.operator}, ${runId})` }));
        log.debug({ store: store.location }, 'store locked');
      } catch (error) {
        if (!(error instanceof KeyshiftError) || error.code !== 'ERR_LOCKED') throw error;
        blocked.set(id, error);
        log.warn({ store: store.location, err: error.message }, 'store is locked by another run');
      }
    }

    // Under the lock, first append the evidence a crashed run announced but never wrote.
    const metas = new Map<string, StoreMeta>();
    for (const [id] of locks) {
      const storeTargets = targets.filter((t) => t.storeId === id);
      const store = storeTargets[0]?.store as SecretStore;
      // Reads overlap with the run's concurrency on a remote store (each read is a round trip).
      const readers = store.capabilities?.remoteReads ? Math.max(1, options.concurrency) : 1;
      const { meta, recovered } = await recoverStoreEvidence(store, storeTargets, ctx.evidenceDir, (drafts) => evidence.append(drafts).then(() => undefined), {
        readers,
        read: (target) => store.read(target.key),
        underLease: (target, write) => leases.underLease(target, leaseHolder(run.operator, runId), write),
      });
      metas.set(id, meta);
      if (recovered > 0) {
        wroteEvidence = true;
        log.warn({ store: store.location, recovered }, 'appended evidence that an interrupted run had not written');
      }
    }

    const bySecret = groupBySecret(targets);
    let finished = 0;
    let failures = 0;
    const perSecret = await mapWithConcurrency(bySecret, Math.max(1, options.concurrency), async (secretTargets) => {
      const results: RotateResult[] = [];
      let failedEarlier = false;
      for (const target of secretTargets) {
        const lockError = blocked.get(target.storeId);
        if (lockError) {
          results.push(outcomeOnly(target, 'none', 'blocked', { error: toErrorInfo(lockError) }));
          continue;
        }
        if (failedEarlier) {
          results.push(outcomeOnly(target, 'none', 'skipped', { reason: 'an earlier environment of this secret failed' }));
          continue;
        }
        // The cross-machine lease (docs/workflow.md#leases): a live one of another runner blocks this
        // environment and, like any block, the secret's later ones.
        let lease: EntryLease | null;
        try {
          lease = await leases.take(target, leaseHolder(run.operator, runId), metas.get(target.storeId), planOptions);
        } catch (error) {
          const blockedByLease = error instanceof KeyshiftError && error.exitCode === ExitCode.blocked;
          log.warn({ target: targetLabel(target), err: errorMessage(error) }, blockedByLease ? 'leased by another runner' : 'could not take the lease');
          results.push(outcomeOnly(target, 'none', blockedByLease ? 'blocked' : 'failed', { error: toErrorInfo(error) }));
          failedEarlier = true;
          continue;
        }
        const targetResults = await advanceTarget(target, run, options.force, stores, log).finally(() =>
          lease?.release().catch((error: unknown) => log.warn({ target: targetLabel(target), err: errorMessage(error) }, 'could not release the lease; it expires on its own')),
        );
        if (targetResults.some((r) => r.outcome !== 'skipped')) wroteEvidence = true;
        failedEarlier = targetResults.some((r) => r.outcome === 'failed');
        if (failedEarlier) failedStores.add(target.storeId);
        results.push(...targetResults);
      }
      finished += 1;
      if (results.some((r) => r.outcome === 'failed')) failures += 1;
      options.onProgress?.(finished, bySecret.length, failures);
      return results;
    });
    const results = perSecret.flat();
    await settle();

    for (const [id, lock] of locks) {
      const store = targets.find((t) => t.storeId === id)?.store as SecretStore;
      await anchorEvidence(store, metas.get(id) as StoreMeta, evidence, runId, !failedStores.has(id)).catch((error: unknown) =>
        log.error({ store: store.location, err: errorMessage(error) }, 'could not record the evidence anchor in the store'),
      );
      await lock.release();
      locks.delete(id);
    }
    const exitCode = results.some((r) => r.outcome === 'failed') ? ExitCode.failed : results.some((r) => r.outcome === 'blocked') ? ExitCode.blocked : ExitCode.ok;
    return { runId, results, evidenceFile: wroteEvidence ? evidence.file : null, exitCode };
  } finally {
    for (const lock of locks.values()) await lock.release().catch(() => undefined);
    await evidence.close();
    await leases.close();
    await stores.closeAll();
  }
}

/** One target as `rotate` advances it; `doctor --fix` resumes a stuck rotation through it too. */
export async function advanceTarget(target: Target, run: RunInfo, force: boolean, stores: StoreRegistry, log: EngineContext['logger']): Promise<RotateResult[]> {
  const results: RotateResult[] = [];
  let state = await target.store.read(target.key);
  const now = run.now();
  const read = await previousEnvironment(target, stores);
  const previous = read ? { ...read, switchesNow: false } : undefined;
  const actions = planTarget({ ...target, state, previous }, { now, force, horizonMs: 0 });
  if (log.enabled?.('debug') !== false) log.debug({ target: targetLabel(target), store: target.store.location, actions: actions.map((a) => `${a.action}: ${a.reason}`) }, 'planned');
  for (let index = 0; index < actions.length; index++) {
    const action = actions[index] as PlannedAction;
    if (!isExecutable(action, run.now())) {
      results.push(outcomeOnly(target, action.action, 'skipped', { reason: action.reason }));
      continue;
    }
    try {
      const step =
        action.action === 'provision'
          ? await provision(target, run)
          : action.action === 'resume'
            ? await resumeRotation(target, state as EntryState, run)
            : action.action === 'decommission'
              ? await decommission(target, state as EntryState, run)
              : await startRotation(target, state as EntryState, run);
      state = step.state;
      log.info({ secret: target.policy.name, environment: target.environment.name, action: step.action, rotationId: step.rotationId }, step.outcome);
      results.push({
        secret: target.policy.name,
        environment: target.environment.name,
        action: action.action,
        outcome: step.outcome,
        fromVersion: step.fromVersion,
        toVersion: step.toVersion,
        rotationId: step.rotationId,
        reason: action.reason,
      });
      // A fallback window of 0 (an emergency) ends at the switch: retire the old version now.
      if ((step.outcome === 'rotated' || step.outcome === 'resumed') && index === actions.length - 1) {
        const at = run.now();
        const follow = planTarget({ ...target, state }, { now: at, force: false, horizonMs: 0 }).find((a) => a.action === 'decommission' && isExecutable(a, at));
        if (follow) actions.push(follow);
      }
    } catch (error) {
      if (error instanceof KeyshiftError && error.exitCode === ExitCode.blocked) {
        // The store refused before anything changed (e.g. a rotation Lambda owns the secret).
        log.warn({ target: targetLabel(target), action: action.action, err: error.message }, 'blocked');
        results.push(outcomeOnly(target, action.action, 'blocked', { error: toErrorInfo(error) }));
        break;
      }
      log.error({ target: targetLabel(target), action: action.action, err: errorMessage(error) }, 'step failed');
      const rolledBack = error instanceof HookFailedError && action.action !== 'decommission' ? await rollBackAfterHookFailure(target, run, error) : null;
      if (!rolledBack) await markFailed(target, run, error);
      results.push(outcomeOnly(target, action.action, 'failed', { error: toErrorInfo(error), ...(rolledBack ? { reason: rolledBack } : {}) }));
      break;
    }
  }
  return results;
}

/** Protected environments (`requireTicket`) with work to do refuse the whole run without --ticket. */
async function requireTickets(targets: Target[], planOptions: { now: Date; force: boolean; horizonMs: number }): Promise<void> {
  const gated: string[] = [];
  for (const target of targets.filter((t) => t.environment.requireTicket)) {
    const actions = planTarget({ ...target, state: await target.store.read(target.key) }, planOptions);
    if (actions.some((a) => isExecutable(a, planOptions.now))) gated.push(targetLabel(target));
  }
  if (gated.length === 0) return;
  throw new KeyshiftError('ERR_TICKET_REQUIRED', `${gated.join(', ')} require a change ticket; nothing was changed`, {
    exitCode: ExitCode.blocked,
    hint: 'rerun with --ticket <id> (it is recorded in the evidence), or leave those environments out with --env',
  });
}

/** A deploy or verify hook failed: put the environment back on the old version. Returns what happened. */
async function rollBackAfterHookFailure(target: Target, run: RunInfo, failure: HookFailedError): Promise<string | null> {
  try {
    const state = await target.store.read(target.key);
    if (!state?.rotation) return null;
    const step = await rollback(target, state, run, failure);
    const hooks = step.rollbackHooksFailed ?? [];
    return `rolled back: ${step.toVersion} is CURRENT again${hooks.length > 0 ? `; rollback hook(s) failed: ${hooks.join(', ')}` : ''}`;
  } catch (error) {
    run.warn?.(`${targetLabel(target)}: rollback after the failed hook did not complete (${errorMessage(error)}); a rerun resumes the rotation`);
    return null;
  }
}

/**
 * Record the log's head in the store (truncation of the log cannot reach it) and confirm this run's
 * drafts. A run where a step failed is not confirmed: the failed step's store write may have landed
 * (e.g. the version was created, then the read after it failed) without its evidence line, and the
 * next run must append that draft (recovery skips drafts the log already holds).
 */
export async function anchorEvidence(store: SecretStore, meta: StoreMeta, evidence: EvidenceLog, runId: string, confirm = true): Promise<void> {
  const head = await evidence.head();
  const anchors = { ...meta.evidenceAnchors };
  if (head) anchors[head.chainId] = { seq: head.seq, hash: head.hash, at: new Date().toISOString() };
  await store.writeMeta({ evidenceAnchors: anchors, confirmedRuns: confirm ? [...meta.confirmedRuns, runId].slice(-50) : meta.confirmedRuns });
}

function groupBySecret(targets: Target[]): Target[][] {
  const groups = new Map<string, Target[]>();
  for (const target of targets) {
    const group = groups.get(target.policy.name) ?? [];
    group.push(target);
    groups.set(target.policy.name, group);
  }
  return [...groups.values()];
}

function outcomeOnly(target: Target, action: RotateResult['action'], outcome: RotateResult['outcome'], extra: Partial<RotateResult>): RotateResult {
  return {
    secret: target.policy.name,
    environment: target.environment.name,
    action,
    outcome,
    fromVersion: null,
    toVersion: null,
    rotationId: null,
    ...extra,
  };
}

export function toErrorInfo(error: unknown): { code: string; message: string; hint?: string } {
  if (error instanceof KeyshiftError) return { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
  return { code: 'ERR_INTERNAL', message: errorMessage(error) };
}
