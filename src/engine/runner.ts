import { asDiskError } from '../disk-errors.js';
import { errorMessage, ExitCode, KeyshiftError } from '../errors.js';
import type { SecretPolicy } from '../policy/types.js';
import type { EntryLease, SecretStore, StoreLock, StoreMeta } from '../stores/contract.js';
import { StoreRegistry } from '../stores/registry.js';
import { type EngineContext, type Target, targetLabel } from './context.js';
import { openEvidenceLog } from './evidence-log.js';
import { isExecutable, planTarget } from './planner.js';
import { anchorOrLog, recoverStoreEvidence } from './evidence-recovery.js';
import { advanceTarget } from './advance-target.js';
import { evidenceFailed, evidenceFault, outcomeOnly, rethrowUsage, rotateExitCode, toErrorInfo, type RotateResult } from './rotate-result.js';
import { notifyTargets, signRun, startRun } from './run-info.js';
import { selectPolicies, targetsOf, type Selection } from './selection.js';
import { limiter, mapWithConcurrency } from './concurrency.js';
import { batchWidth, queuesWrites } from './batching.js';
import { QueuedRun } from './queued-writes.js';
import { unconfirmedDrafts } from './state.js';
import { refuseRolledBack, rollbackError, type RollbackProblem } from './store-rollback.js';
import { requireTickets } from './ticket-gate.js';
import { releaseLease, RunLeases } from './leases.js';
import { leaseHolder } from '../stores/aws/lease.js';
import { collectGarbage } from '../util/collect-garbage.js';

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

export interface RotateReport {
  runId: string;
  results: RotateResult[];
  evidenceFile: string | null;
  exitCode: number;
}

/** Advance each selected secret: resume, decommission where the window elapsed, rotate where due or forced. */
export async function rotateRun(ctx: EngineContext, policies: SecretPolicy[], options: RotateOptions): Promise<RotateReport> {
  const stores = new StoreRegistry(ctx);
  const evidence = openEvidenceLog(ctx);
  const { run, settle } = startRun(ctx, evidence, stores, {
    reason: options.reason ?? (options.force ? 'forced' : 'scheduled'),
    ticket: options.ticket ?? null,
    emergency: options.force,
    fallbackWindowMs: options.fallbackWindowMs,
    notifyFor: notifyTargets(policies),
    policies,
  });
  const runId = run.runId;
  const log = ctx.logger.child({ runId });
  const locks = new Map<string, StoreLock>();
  const leases = new RunLeases(ctx);
  const blocked = new Map<string, KeyshiftError>();
  // Stores where a step failed: its write may have landed without its evidence line being appended.
  const failedStores = new Set<string>();
  // Stores this run wrote to: only they get the evidence anchor (a held or idle store stays untouched).
  const touchedStores = new Set<string>();
  // A store that cannot be opened, read or written fails only its own targets (DESIGN v2 "Failure
  // isolation"): the first error per store, or per target where only that entry failed.
  const storeErrors = new Map<string, unknown>();
  const targetErrors = new Map<Target, unknown>();
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
      if (needed.has(target.storeId) || storeErrors.has(target.storeId)) continue;
      try {
        if (!unlockedMetas.has(target.storeId)) {
          const meta = await target.store.readMeta();
          unlockedMetas.set(target.storeId, meta);
          // A log cut short of what a store anchored is not appended to (that would hide the cut).
          evidence.expectAnchors(`store ${target.store.location}`, meta.evidenceAnchors);
        }
      } catch (error) {
        storeFailed(target.storeId, target.store, error);
        continue;
      }
      try {
        const state = await target.store.read(target.key);
        const actions = planTarget({ ...target, state }, planOptions);
        const recovery = unconfirmedDrafts(state, unlockedMetas.get(target.storeId) as StoreMeta).length > 0;
        // A store with unconfirmed drafts gets this run's anchor and confirmation even when every
        // draft is logged already (a run killed after its evidence, before its anchor).
        if (recovery) touchedStores.add(target.storeId);
        if (recovery || actions.some((a) => isExecutable(a, planOptions.now))) needed.set(target.storeId, target.store);
      } catch (error) {
        rethrowUsage(error);
        targetErrors.set(target, asDiskError(error, target.store.location));
        log.error({ target: targetLabel(target), store: target.store.location, err: errorMessage(error) }, 'could not read the entry');
      }
    }
    for (const [id, store] of [...needed].sort(([a], [b]) => a.localeCompare(b))) {
      try {
        locks.set(id, await store.lock({ waitMs: ctx.lockWaitMs, owner: `keyshift rotate (${run.operator}, ${runId})` }));
        log.debug({ store: store.location }, 'store locked');
      } catch (error) {
        if (!(error instanceof KeyshiftError) || error.code !== 'ERR_LOCKED') {
          storeFailed(id, store, error);
          continue;
        }
        blocked.set(id, error);
        log.warn({ store: store.location, err: error.message }, 'store is locked by another run');
      }
    }

    // Before any store write: a log that cannot take this run's records (cut short of a store's
    // anchor) stops the run here; a killed append's incomplete last line is cut.
    if (locks.size > 0) await evidence.prepare();

    // A store put back from an old copy (or another store's file) is not built on: nothing of this
    // run touches it, not even the anchor; each of its targets fails with the reason.
    const { refused, draftsAt, checkpoint } = await refuseRolledBack(ctx.evidenceDir, targets, locks, storeFailed);
    // What the start built (the policies parsed, the store replayed, the check's expected states)
    // is garbage now, all of it: collected here, not after the rotation has grown the heap past it.
    collectGarbage();
    for (const id of [...refused.keys(), ...storeErrors.keys()]) await dropLock(id);

    // Under the lock, first append the evidence a crashed run announced but never wrote.
    const metas = new Map<string, StoreMeta>();
    for (const [id] of locks) {
      const storeTargets = targets.filter((t) => t.storeId === id);
      const store = storeTargets[0]?.store as SecretStore;
      // Reads overlap with the run's concurrency on a remote store (each read is a round trip).
      const readers = store.capabilities?.remoteReads ? Math.max(1, options.concurrency) : 1;
      let recovery;
      try {
        recovery = await recoverStoreEvidence(store, storeTargets, ctx.evidenceDir, (drafts) => evidence.append(drafts).then(() => undefined, (error: unknown) => Promise.reject(evidenceFailed(error))), {
          readers,
          recoveredBy: runId,
          // One entry that cannot be read (denied, throttled) fails that secret only, not its store.
          // The rollback check has just read this store under the same lock: only the entries it
          // found with unconfirmed drafts are read again (10,000 decodes fewer per 10,000 secrets).
          read: (target) =>
            targetErrors.has(target) || draftsAt.get(id)?.has(target) === false
              ? Promise.resolve(null)
              : store.read(target.key, { draftsOnly: true }).catch((error: unknown) => {
                  rethrowUsage(error);
                  targetErrors.set(target, asDiskError(error, store.location));
                  return null;
                }),
          underLease: (target, write) => leases.underLease(target, leaseHolder(run.operator, runId), write),
        });
      } catch (error) {
        // The evidence log itself cannot be written: no store may change without its record.
        if (evidenceFault(error)) throw error;
        storeFailed(id, store, error);
        await dropLock(id);
        continue;
      }
      const { meta, recovered, secretsWithDrafts } = recovery;
      metas.set(id, meta);
      if (recovered > 0) log.warn({ store: store.location, recovered }, 'appended evidence that an interrupted run had not written');
      // Unconfirmed drafts, even ones the log already holds, mean a run ended before its signature and
      // anchor: this run gives them, though it may have nothing else to write.
      if (secretsWithDrafts > 0) {
        wroteEvidence = true;
        touchedStores.add(id);
      }
    }

    const bySecret = groupBySecret(targets);
    let finished = 0;
    let failures = 0;
    // --concurrency bounds secrets whose steps wait on something (hooks, commands, the network);
    // the others are CPU and a share of their store's batched write: they go many at once, so
    // that one write (and one fsync) carries many of them (batching.ts, docs/workflow.md).
    // Of those, secrets on a store that queues its writes go one at a time, each without waiting for
    // its own write (queued-writes.ts): the store writes them in batches meanwhile.
    const concurrency = Math.max(1, options.concurrency);
    const heavy = limiter(concurrency);
    const lanes = new Map<number, ReturnType<typeof limiter>>();
    const hierarchy = policies.some((policy) => policy.generator?.type === 'data-key');
    const queued = bySecret.map((secretTargets) => queuesWrites(secretTargets, hierarchy));
    const widths = bySecret.map((secretTargets, i) => (queued[i] ? 1 : batchWidth(secretTargets)));
    for (const w of widths) if (w !== null && !lanes.has(w)) lanes.set(w, limiter(w));
    const width = Math.max(concurrency, ...widths.map((w) => w ?? 0));
    const queuedRun = new QueuedRun(log);
    const perSecret = await mapWithConcurrency(bySecret, width, (secretTargets, i) => (lanes.get(widths[i] ?? -1) ?? heavy)(() => advanceSecret(secretTargets, queued[i] === true)));
    for (const id of await queuedRun.settle()) failedStores.add(id);
    async function advanceSecret(secretTargets: Target[], queueing: boolean): Promise<RotateResult[]> {
      const results: RotateResult[] = [];
      // Promotion order is a safety rule: after a blocked or failed environment, the later ones wait.
      let heldBy: string | null = null;
      for (const target of secretTargets) {
        if (heldBy) {
          results.push(outcomeOnly(target, 'none', 'skipped', { reason: `held: ${heldBy}` }));
          continue;
        }
        const storeError = storeErrors.get(target.storeId) ?? targetErrors.get(target);
        if (storeError !== undefined) {
          results.push(outcomeOnly(target, 'none', 'failed', { error: toErrorInfo(storeError) }));
          heldBy = `${target.environment.name} of this secret is failed in this run`;
          continue;
        }
        const refusal = refused.get(target.storeId);
        if (refusal) {
          const own = refusal.find((p) => p.target === target);
          const error = own ? rollbackError(own) : new KeyshiftError((refusal[0] as RollbackProblem).code, `store ${target.store.location} is not built on: ${(refusal[0] as RollbackProblem).message}`, { hint: (refusal[0] as RollbackProblem).hint });
          results.push(outcomeOnly(target, 'none', 'failed', { error: toErrorInfo(error) }));
          heldBy = `${target.environment.name} of this secret is failed in this run`;
          continue;
        }
        const lockError = blocked.get(target.storeId);
        if (lockError) {
          results.push(outcomeOnly(target, 'none', 'blocked', { error: toErrorInfo(lockError) }));
          heldBy = `${target.environment.name} of this secret is blocked in this run`;
          continue;
        }
        // A store left unlocked had nothing due when the locks were taken: plan its targets at that
        // instant, so a secret falling due since then waits for the next run instead of being
        // changed without the lock.
        const targetRun = locks.has(target.storeId) ? run : { ...run, now: () => planOptions.now };
        // The cross-machine lease (docs/workflow.md#leases): a live one of another runner blocks this
        // environment and, like any block, the secret's later ones.
        let lease: EntryLease | null;
        try {
          lease = await leases.take(target, leaseHolder(run.operator, runId), metas.get(target.storeId), planOptions);
        } catch (error) {
          const blockedByLease = error instanceof KeyshiftError && error.exitCode === ExitCode.blocked;
          log.warn({ target: targetLabel(target), err: errorMessage(error) }, blockedByLease ? 'leased by another runner' : 'could not take the lease');
          const outcome = blockedByLease ? 'blocked' : 'failed';
          results.push(outcomeOnly(target, 'none', outcome, { error: toErrorInfo(error) }));
          heldBy = `${target.environment.name} of this secret is ${outcome} in this run`;
          continue;
        }
        if (queueing) await target.store.queueRoom?.();
        const queue = queueing ? queuedRun.begin(target, targetRun, results) : null;
        const targetResults = await advanceTarget(queue?.target ?? target, queue?.run ?? targetRun, options.force, stores, log)
          .catch((error: unknown) => {
            // A read before any step (this entry, the previous environment) failed: this target only.
            if (evidenceFault(error)) throw error;
            rethrowUsage(error);
            log.error({ target: targetLabel(target), store: target.store.location, err: errorMessage(error) }, 'could not read the entry');
            return [outcomeOnly(target, 'none', 'failed', { error: toErrorInfo(asDiskError(error, target.store.location)) })];
          })
          .finally(() => releaseLease(lease, target, log));
        if (queue) queuedRun.end(queue, targetResults);
        if (targetResults.some((r) => r.outcome !== 'skipped')) {
          wroteEvidence = true;
          touchedStores.add(target.storeId);
        }
        const stopped = targetResults.find((r) => r.outcome === 'failed' || r.outcome === 'blocked');
        if (stopped) heldBy = `${target.environment.name} of this secret is ${stopped.outcome} in this run`;
        if (stopped?.outcome === 'failed') failedStores.add(target.storeId);
        results.push(...targetResults);
      }
      finished += 1;
      if (results.some((r) => r.outcome === 'failed')) failures += 1;
      options.onProgress?.(finished, bySecret.length, failures);
      return results;
    }
    const results = perSecret.flat();
    await settle();
    if (wroteEvidence) await signRun(ctx, evidence, run);

    for (const [id, lock] of locks) {
      const store = targets.find((t) => t.storeId === id)?.store as SecretStore;
      if (touchedStores.has(id)) {
        await anchorOrLog(log, store, metas.get(id) as StoreMeta, evidence, runId, !failedStores.has(id), checkpoint);
      }
      await lock.release();
      locks.delete(id);
    }
    return { runId, results, evidenceFile: wroteEvidence ? evidence.file : null, exitCode: rotateExitCode(results) };

    function storeFailed(id: string, store: SecretStore, error: unknown): void {
      rethrowUsage(error);
      // A full disk or read-only mount under a file store: named with the store's path.
      if (!storeErrors.has(id)) storeErrors.set(id, asDiskError(error, store.location));
      log.error({ store: store.location, err: errorMessage(error) }, 'store failed: its secrets fail, the others go on');
    }
    async function dropLock(id: string): Promise<void> {
      await locks.get(id)?.release().catch(() => undefined);
      locks.delete(id);
    }
  } finally {
    for (const lock of locks.values()) await lock.release().catch(() => undefined);
    await evidence.close();
    await leases.close();
    await stores.closeAll();
  }
}

/** Secrets advanced at once when nothing but CPU and a group-committed store write is waited on:
 * an fsync then carries ~100 records; wider saves few fsyncs more, and every secret in flight keeps
 * its objects alive past the young generation's collections. */
function groupBySecret(targets: Target[]): Target[][] {
  const groups = new Map<string, Target[]>();
  for (const target of targets) {
    const group = groups.get(target.policy.name) ?? [];
    group.push(target);
    groups.set(target.policy.name, group);
  }
  return [...groups.values()];
}

