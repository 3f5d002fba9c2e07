import { join, relative } from 'node:path';
import { evidenceFile, verifyEvidence, type EvidenceAnchorRef } from '../../evidence/index.js';
import { ExitCode } from '../../errors.js';
import type { SecretPolicy } from '../../policy/types.js';
import { StoreRegistry } from '../../stores/registry.js';
import { inspectFileLock } from '../../util/file-lock.js';
import type { EngineContext, Target } from '../context.js';
import { publicFinding, type Diagnosis, type Finding } from './checks.js';
import { repairAll } from './repair.js';
import { deadLock, diagnoseStore, inspectStoreLock, type LockState, type StoreGroup } from './store.js';
import { selectPolicies, targetsOf, type Selection } from '../selection.js';

/**
 * `keyshift doctor`: finds stuck states and explains them (docs/cli.md#doctor). Without `fix` it
 * reads only — no lock is taken, no lock file is created or removed, nothing is written, like
 * `plan`. With `fix` the safe repairs run under the store locks, each with a `repaired` record.
 */

export interface DoctorOptions extends Selection {
  fix: boolean;
}

export interface DoctorReport {
  findings: Finding[];
  /** Things worth saying that are not problems (a store a live run holds was not judged). */
  notes: string[];
  exitCode: number;
  evidenceFile: string | null;
}

export async function doctorRun(ctx: EngineContext, policies: SecretPolicy[], options: DoctorOptions): Promise<DoctorReport> {
  const stores = new StoreRegistry(ctx);
  try {
    const targets = await targetsOf(selectPolicies(policies, options), options.envs, stores);
    const groups = groupByStore(targets);
    const notes: string[] = [];
    const evidenceFindings = await diagnoseEvidence(ctx, groups);
    // A killed append's incomplete last line is no damage to repairs: the first record they append cuts it.
    const logIntact = !evidenceFindings.some((d) => d.check === 'evidence-gap' && d.repair?.kind !== 'cut-killed-append');
    const locks = new Map<string, LockState>();
    const byStore = new Map<string, Diagnosis[]>();
    for (const group of groups) {
      const lock = await inspectStoreLock(group);
      locks.set(group.storeId, lock);
      if (lock.state === 'live' && lock.holder) {
        notes.push(`store ${group.store.location} is locked by a live run (${lock.holder.owner}, pid ${lock.holder.pid} on ${lock.holder.host}): its in-flight rotations and evidence drafts were not judged`);
      }
      const found = await diagnoseStore(ctx, group, policies, { judgeInFlight: lock.state !== 'live', holderDied: lock.state === 'dead', logIntact });
      byStore.set(group.storeId, [...(lock.finding ? [lock.finding] : []), ...found]);
    }
    if (!logIntact) holdRepairs([...evidenceFindings, ...[...byStore.values()].flat()]);
    let evidenceWritten: string | null = null;
    let lockedOut = new Set<string>();
    if (options.fix && logIntact) {
      const outcome = await repairAll(ctx, { policies, groups, stores, evidenceFindings, byStore, locks });
      evidenceWritten = outcome.wroteEvidence ? evidenceFile(ctx.evidenceDir) : null;
      lockedOut = outcome.lockedOut;
    }
    const all = [...evidenceFindings, ...groups.flatMap((g) => byStore.get(g.storeId) ?? [])];
    return { findings: all.map(publicFinding), notes, exitCode: exitCodeOf(all, lockedOut), evidenceFile: evidenceWritten };
  } finally {
    await stores.closeAll();
  }
}

/** The chain (and the stores' anchors), and the evidence log's own lock. */
async function diagnoseEvidence(ctx: EngineContext, groups: StoreGroup[]): Promise<Diagnosis[]> {
  const found: Diagnosis[] = [];
  const lockPath = join(ctx.evidenceDir, 'evidence.lock');
  const lock = await inspectFileLock(lockPath);
  if (lock.state === 'dead') found.push(deadLock(lockPath, lock.holder, lock.why, null, null));

  const anchors: EvidenceAnchorRef[] = [];
  for (const group of groups) {
    const meta = await group.store.readMeta().catch(() => null); // an unreadable store is its own finding
    for (const [chainId, anchor] of Object.entries(meta?.evidenceAnchors ?? {})) {
      anchors.push({ source: `store ${group.store.location}`, chainId, seq: anchor.seq, hash: anchor.hash });
    }
  }
  const file = evidenceFile(ctx.evidenceDir);
  const shown = relative(ctx.cwd, file) || file;
  const verified = await verifyEvidence(ctx.evidenceDir, anchors, { readOnly: true });
  const hint = 'keyshift never repairs evidence: restore the log from a backup or, with your auditor\'s agreement, move it aside (keep it) so that the next run starts a new chain (docs/evidence.md)';
  const gap = (message: string): Diagnosis => ({ secret: null, environment: null, store: null, check: 'evidence-gap', severity: 'error', message, hint, fixable: false, fixed: false });
  if (!verified.ok && verified.killedAppend) {
    const action = `cut the incomplete last line ${verified.line} of ${shown} that a killed run left`;
    found.push({ ...gap(`${shown}:${verified.line}: ${verified.problem}`), hint: 'keyshift doctor --fix (or the next keyshift rotate) cuts it', fixable: true, repair: { kind: 'cut-killed-append', action } });
  } else if (!verified.ok) found.push(gap(`${shown}:${verified.line}: ${verified.problem}`));
  else if (anchors.length > 0 && verified.anchorsChecked === 0) {
    const sources = [...new Set(anchors.map((a) => a.source))].join(', ');
    found.push(gap(`${shown}: ${anchors.length} store anchor(s) name an evidence chain this log is not (${sources}): the log was deleted or replaced, or those stores write evidence to another --evidence-dir`));
  }
  return found;
}

/** Every repair is recorded in the evidence log: none while the log itself is damaged. */
function holdRepairs(diagnoses: Diagnosis[]): void {
  for (const d of diagnoses.filter((x) => x.repair)) {
    delete d.repair;
    d.fixable = false;
    d.message += '; not repaired while the evidence log is damaged (every repair is recorded there)';
  }
}

/** 0 when nothing is left; 1 when a problem remains; 3 when only a store or lease a live run held kept --fix from repairing. */
function exitCodeOf(findings: Diagnosis[], lockedOut: Set<string>): number {
  const blocked = (d: Diagnosis) => d.check === 'locked' || d.leased === true || (d.fixable && d.storeId !== undefined && lockedOut.has(d.storeId));
  if (findings.some((d) => !d.fixed && !blocked(d))) return ExitCode.failed;
  return lockedOut.size > 0 || findings.some((d) => d.leased) ? ExitCode.blocked : ExitCode.ok;
}

function groupByStore(targets: Target[]): StoreGroup[] {
  const groups = new Map<string, StoreGroup>();
  for (const target of targets) {
    const group = groups.get(target.storeId) ?? { storeId: target.storeId, store: target.store, targets: [] };
    group.targets.push(target);
    groups.set(target.storeId, group);
  }
  return [...groups.values()];
}
