import { EvidenceLog } from '../../evidence/index.js';
import { errorMessage, ExitCode, KeyshiftError } from '../../errors.js';
import type { SecretPolicy } from '../../policy/types.js';
import { leaseHolder } from '../../stores/aws/lease.js';
import type { EntryLease, EntryState, EvidenceDraft, StoreLock } from '../../stores/contract.js';
import type { StoreRegistry } from '../../stores/registry.js';
import { breakFileLock } from '../../util/file-lock.js';
import type { EngineContext, Target } from '../context.js';
import { openEvidenceLog } from '../evidence-log.js';
import type { Diagnosis, Repair } from './checks.js';
import { diagnoseStore, type LockState, type StoreGroup } from './store.js';
import { announceDrafts, evidenceDraft } from '../evidence-drafts.js';
import { anchorOrLog, recoverStoreEvidence } from '../evidence-recovery.js';
import { notifyTargets, signRun, startRun } from '../run-info.js';
import { releaseLease, RunLeases } from '../leases.js';
import { advanceTarget } from '../advance-target.js';
import type { RunInfo } from '../steps.js';

/**
 * `doctor --fix`: the repairs that are safe, each followed by a `repaired` evidence record (so it
 * runs only while the evidence log is intact). Dead locks are removed first; then every store with
 * something to repair (or that a live run held) is locked as `rotate` locks it, diagnosed again
 * under the lock, and repaired: the evidence a crashed run never appended goes into the log
 * (exactly as `rotate` does it), foreign labels are removed through the store's own write-ahead
 * `apply`, stuck rotations are resumed by `rotate`'s own code.
 */

export interface RepairInput {
  policies: SecretPolicy[];
  groups: StoreGroup[];
  stores: StoreRegistry;
  evidenceFindings: Diagnosis[];
  byStore: Map<string, Diagnosis[]>;
  locks: Map<string, LockState>;
}

export async function repairAll(ctx: EngineContext, input: RepairInput): Promise<{ wroteEvidence: boolean; lockedOut: Set<string> }> {
  const lockedOut = new Set<string>();
  const all = () => [...input.evidenceFindings, ...[...input.byStore.values()].flat()];
  const needed = input.groups.filter((g) => input.locks.get(g.storeId)?.state === 'live' || (input.byStore.get(g.storeId) ?? []).some((d) => d.repair && d.repair.kind !== 'break-lock'));
  if (!all().some((d) => d.repair) && needed.length === 0) return { wroteEvidence: false, lockedOut };

  const evidence = openEvidenceLog(ctx);
  const { run, settle } = startRun(ctx, evidence, input.stores, { reason: 'doctor --fix', ticket: null, emergency: false, notifyFor: notifyTargets(input.policies), policies: input.policies });
  const log = ctx.logger.child({ runId: run.runId });
  const held = new Map<string, StoreLock>();
  // Each target is changed under the same cross-machine lease as rotate takes (docs/workflow.md#leases).
  const leases = new RunLeases(ctx);
  const holder = leaseHolder(run.operator, run.runId, 'doctor --fix');
  let wroteEvidence = false;
  try {
    // Dead locks first: taking a store's lock below would take them over silently.
    for (const d of all().filter((x) => x.repair?.kind === 'break-lock')) {
      const { path, storeId, action } = d.repair as Extract<Repair, { kind: 'break-lock' }>;
      if (await breakFileLock(path)) {
        d.fixed = true;
        const kind = input.groups.find((g) => g.storeId === storeId)?.store.kind ?? 'evidence';
        await run.record([wideDraft(run, kind, d, action)]);
        wroteEvidence = true;
      } else {
        d.message += '; not removed: a live run holds it now';
      }
    }

    // The incomplete last line a killed append left: appending this record cuts it (EvidenceLog).
    for (const d of all().filter((x) => x.repair?.kind === 'cut-killed-append')) {
      await run.record([wideDraft(run, 'evidence', d, (d.repair as Extract<Repair, { kind: 'cut-killed-append' }>).action)]);
      d.fixed = true;
      wroteEvidence = true;
    }

    for (const group of [...needed].sort((a, b) => a.storeId.localeCompare(b.storeId))) {
      try {
        held.set(group.storeId, await group.store.lock({ waitMs: ctx.lockWaitMs, owner: `keyshift doctor --fix (${run.operator}, ${run.runId})` }));
      } catch (error) {
        if (!(error instanceof KeyshiftError) || error.code !== 'ERR_LOCKED') throw error;
        lockedOut.add(group.storeId);
        input.byStore.get(group.storeId)?.push(lockedFinding(group, error));
      }
    }

    for (const group of input.groups.filter((g) => held.has(g.storeId))) {
      // Judged again under the lock: what a live run left, or what changed since the first look.
      const before = input.byStore.get(group.storeId) ?? [];
      const lockState = input.locks.get(group.storeId);
      const fresh = await diagnoseStore(ctx, group, input.policies, { judgeInFlight: true, holderDied: lockState?.state === 'dead', logIntact: true });
      const diagnoses = [...before.filter((d) => d.check === 'dead-lock'), ...fresh];
      input.byStore.set(group.storeId, diagnoses);
      if (await repairStore(ctx, group, diagnoses, run, evidence, input, log, { leases, holder })) wroteEvidence = true;
    }

    await settle();
    if (wroteEvidence) await signRun(ctx, evidence, run);
    for (const [id, lock] of held) {
      const group = input.groups.find((g) => g.storeId === id) as StoreGroup;
      // As at the end of rotate and rollback: a store that cannot take its anchor is logged, and the
      // repairs already made (and the other stores' anchors) stand.
      if (wroteEvidence) await anchorOrLog(log, group.store, null, evidence, run.runId);
      await lock.release();
      held.delete(id);
    }
    return { wroteEvidence, lockedOut };
  } finally {
    for (const lock of held.values()) await lock.release().catch(() => undefined);
    await evidence.close();
    await leases.close();
  }
}

/** Under the store's lock. True when evidence was written. */
async function repairStore(
  ctx: EngineContext,
  group: StoreGroup,
  diagnoses: Diagnosis[],
  run: RunInfo,
  evidence: EvidenceLog,
  input: RepairInput,
  log: EngineContext['logger'],
  lease: { leases: RunLeases; holder: string },
): Promise<boolean> {
  const { store } = group;
  let wrote = false;
  // As rotate does before anything else: append what crashed runs announced, clear their drafts.
  const { recovered, secretsWithDrafts } = await recoverStoreEvidence(store, group.targets, ctx.evidenceDir, (drafts) => evidence.append(drafts).then(() => undefined), {
    readers: 1,
    read: (target) => store.read(target.key, { draftsOnly: true }).catch(() => null),
    recoveredBy: run.runId,
    underLease: (target, write) => lease.leases.underLease(target, lease.holder, write),
  });
  if (secretsWithDrafts > 0) {
    wrote ||= recovered > 0;
    for (const d of diagnoses.filter((x) => x.repair?.kind === 'append-drafts')) {
      d.fixed = true;
      await run.record([targetDraft(d, run, null, null, null, (d.repair as Extract<Repair, { kind: 'append-drafts' }>).action)]);
      wrote = true;
    }
  }

  for (const d of diagnoses) {
    const target = d.target;
    const repair = d.repair;
    if (!target || !repair || d.fixed || repair.kind === 'break-lock' || repair.kind === 'append-drafts' || repair.kind === 'cut-killed-append') continue;
    let held: EntryLease | null;
    try {
      held = await lease.leases.hold(target, lease.holder);
    } catch (error) {
      // Another runner is advancing this target: its state is that run's to change.
      d.message += `; not repaired: ${errorMessage(error)}`;
      if (error instanceof KeyshiftError && error.exitCode === ExitCode.blocked) d.leased = true;
      continue;
    }
    try {
      if (repair.kind === 'store-ops') {
        const state = (await store.read(target.key)) as EntryState;
        const draft = targetDraft(d, run, null, repair.versionId, null, repair.action);
        await store.apply(target.key, repair.ops, { rotation: state.rotation, lastRotatedAt: state.lastRotatedAt, pendingEvents: announceDrafts(state, run, [draft]) });
        await run.record([draft]);
        d.fixed = true;
        wrote = true;
      } else {
        const results = await advanceTarget(target, run, false, input.stores, log);
        wrote ||= results.some((r) => r.outcome !== 'skipped');
        const resumed = results.find((r) => r.outcome === 'resumed');
        if (resumed) {
          await run.record([targetDraft(d, run, resumed.rotationId, resumed.fromVersion, resumed.toVersion, `resumed rotation ${repair.rotationId} as keyshift rotate does: ${resumed.toVersion} is CURRENT`)]);
          d.fixed = true;
        } else {
          const failed = results.find((r) => r.error);
          d.message += `; resuming it did not complete: ${failed?.error?.message ?? failed?.reason ?? 'nothing to resume'}`;
        }
      }
    } catch (error) {
      d.message += `; the repair failed: ${errorMessage(error)}`;
    } finally {
      await releaseLease(held, target, log);
    }
  }
  return wrote;
}

function targetDraft(d: Diagnosis, run: RunInfo, rotationId: string | null, fromVersion: string | null, toVersion: string | null, action: string): EvidenceDraft {
  const draft = evidenceDraft(d.target as Target, run, 'repaired', { rotationId, fromVersion, toVersion, value: null });
  draft.checks = [{ check: d.check, action }];
  return draft;
}

/** A repair that concerns a whole store or the evidence log, not one secret. */
function wideDraft(run: RunInfo, store: string, d: Diagnosis, action: string): EvidenceDraft {
  return {
    event: 'repaired',
    rotationId: null,
    secret: '*',
    environment: '*',
    store,
    fromVersion: null,
    toVersion: null,
    fingerprint: null,
    at: run.now().toISOString(),
    operator: run.operator,
    reason: run.reason,
    ticket: run.ticket,
    emergency: false,
    checks: [{ check: d.check, action }],
    runId: run.runId,
  };
}

function lockedFinding(group: StoreGroup, error: KeyshiftError): Diagnosis {
  return {
    secret: null,
    environment: null,
    store: group.store.location,
    check: 'locked',
    severity: 'error',
    message: `${error.message}: nothing was repaired in this store`,
    hint: error.hint ?? 'wait for that run to finish, then rerun keyshift doctor --fix',
    fixable: false,
    fixed: false,
    storeId: group.storeId,
  };
}
