import { expectedStates, findLoggedDrafts, loggedKey, targetKey, type ExpectedState } from '../evidence/index.js';
import { diskError } from '../disk-errors.js';
import { errorMessage, ExitCode, hintOf, INTERNAL_HINT, KeyshiftError } from '../errors.js';
import type { EntryState, EvidenceDraft, SecretStore, StoreLock, StoreMeta } from '../stores/contract.js';
import type { CheckpointRef, EvidenceAnchorRef } from '../evidence/index.js';
import type { SecretPolicy } from '../policy/types.js';
import { StoreRegistry } from '../stores/registry.js';
import type { EngineContext, Target } from './context.js';
import { targetsOf } from './selection.js';
import { currentVersion, unconfirmedDrafts } from './state.js';

/**
 * Compares what each store holds with what the evidence log says it must hold (its last record for
 * that secret and environment): a CURRENT older than the one the evidence made CURRENT, a retired
 * version back, or another store's id means the store file was put back from an old copy or copied
 * over from another store. `evidence verify`, `doctor` and `rotate` all ask this; rotate refuses
 * to build on such a store (docs/local-store.md#restored-copies).
 */

export type RollbackCheck = 'store-rolled-back' | 'store-replaced';

export interface RollbackProblem {
  target: Target;
  check: RollbackCheck;
  code: 'ERR_STORE_ROLLED_BACK' | 'ERR_STORE_REPLACED';
  message: string;
  hint: string;
}

export interface TargetRead {
  target: Target;
  state: EntryState | null;
  meta: StoreMeta;
  /** The store's identity() when it was read (a closed store no longer knows it). */
  identity?: string;
}

/**
 * What the check needs of a read: the CURRENT version's id and creation time, the ids of the versions
 * that hold a stage, and the unconfirmed drafts. rotate keeps one per secret of the run while the
 * log is read (10,000 at once): the versions as read were twice the size.
 */
interface StateView {
  currentId: string | null;
  currentCreatedAt: string | null;
  staged: string[];
  drafts: EvidenceDraft[];
}

interface JudgedRead {
  target: Target;
  view: StateView | null;
  meta: StoreMeta;
  identity?: string;
}

/** A read the check compares with the log: an entry there, in a store with an identity. */
type Judged = JudgedRead & { view: StateView };

const NO_DRAFTS: EvidenceDraft[] = [];

function viewOf(state: EntryState | null, meta: StoreMeta): StateView | null {
  if (!state) return null;
  const current = currentVersion(state);
  const drafts = unconfirmedDrafts(state, meta);
  return {
    currentId: current?.id ?? null,
    currentCreatedAt: current?.createdAt ?? null,
    staged: state.versions.filter((v) => v.stages.length > 0).map((v) => v.id),
    drafts: drafts.length > 0 ? drafts : NO_DRAFTS,
  };
}

/** `evidence verify` and `doctor`: the whole log read. */
export async function findRollbacks(evidenceDir: string, reads: TargetRead[]): Promise<RollbackProblem[]> {
  const judged = reads.map(({ target, state, meta, identity }): JudgedRead => ({ target, view: viewOf(state, meta), meta, ...(identity !== undefined ? { identity } : {}) }));
  return (await checkAgainstLog(evidenceDir, judged, false)).problems;
}

/**
 * The findings, and with `fromCheckpoint` (rotate) the log read from the checkpoint every judged
 * store vouches for (docs/evidence.md#the-rollback-checkpoint), and the checkpoint that holds after
 * it, for the stores to record with their anchor.
 */
async function checkAgainstLog(evidenceDir: string, reads: JudgedRead[], fromCheckpoint: boolean): Promise<{ problems: RollbackProblem[]; checkpoint: CheckpointRef | null }> {
  // Only stores whose state is a file someone can copy (they have an identity: local). An absent
  // entry brings no old value back.
  const judged = reads.filter((r): r is Judged => r.view !== null && (r.identity ?? r.target.store.identity?.()) !== undefined);
  const wanted = new Set(judged.map((r) => targetKey(r.target.policy.name, r.target.environment.name)));
  // Each store vouches only for itself: a checkpoint one store's key could bless must not hide another's rollback.
  const vouched = (ref: CheckpointRef) => judged.length > 0 && judged.every((r) => r.meta.checkpoints?.[ref.chainId] === ref.digest);
  const log = await expectedStates(evidenceDir, wanted, fromCheckpoint ? { checkpoint: { vouched } } : {});
  const expected = log.targets;
  const candidates = judged
    .map((read) => ({ read, expect: expected.get(targetKey(read.target.policy.name, read.target.environment.name)) }))
    .filter((c): c is { read: Judged; expect: ExpectedState } => c.expect !== undefined);
  // A store ahead of the log (a run died between its store write and its evidence line) shows the
  // newer state in drafts the log lacks: not a rollback. Looked up only for mismatches (rare).
  const drafts = candidates.flatMap((c) => c.read.view.drafts);
  const logged = drafts.length > 0 ? await findLoggedDrafts(evidenceDir, drafts) : new Set<string>();
  const problems: RollbackProblem[] = [];
  for (const { read, expect } of candidates) {
    const problem = judge(read, expect, logged);
    if (problem) problems.push(problem);
  }
  // Stores with no finding yet: is their anchor behind the log?
  const found = new Set(problems.map((p) => p.target.storeId));
  if (log.chainId) problems.push(...staleAnchors(log.chainId, candidates.filter((c) => !found.has(c.read.target.storeId))));
  return { problems, checkpoint: log.checkpoint };
}

/**
 * A store whose anchor for this log is older than the log's last record about that store: the
 * store file is older than the log. Only stores with an id of their own (local: the anchor lives in
 * the file), and not while a draft is unconfirmed (a run in progress, or one that died before its
 * anchor was written, which the next run completes).
 */
function staleAnchors(chainId: string, candidates: Array<{ read: Judged; expect: ExpectedState }>): RollbackProblem[] {
  const byStore = new Map<string, Array<{ read: Judged; expect: ExpectedState }>>();
  for (const c of candidates) {
    const group = byStore.get(c.read.target.storeId);
    if (group) group.push(c); // not a copy per candidate: 10,000 secrets of one store would copy 50 million
    else byStore.set(c.read.target.storeId, [c]);
  }
  const problems: RollbackProblem[] = [];
  for (const group of byStore.values()) {
    const first = group[0]!.read;
    const id = first.identity ?? first.target.store.identity?.();
    if (!id || group.some((c) => c.read.view.drafts.length > 0)) continue;
    const anchored = first.meta.evidenceAnchors[chainId]?.seq ?? 0;
    const newest = group
      .map((c) => ({ c, seq: Math.max(c.expect.lastSeqByStore.get(id) ?? 0, c.expect.lastSeqByStore.get('') ?? 0) }))
      .reduce((a, b) => (b.seq > a.seq ? b : a));
    if (newest.seq <= anchored) continue;
    const { target } = newest.c.read;
    problems.push({
      target,
      check: 'store-rolled-back',
      code: 'ERR_STORE_ROLLED_BACK',
      message: `store ${target.store.location} recorded the evidence log up to seq ${anchored}, but the log holds seq ${newest.seq} about ${target.policy.name}/${target.environment.name}: the store file is older than the log (an older copy put back?)`,
      hint: hintFor(target),
    });
  }
  return problems;
}

function hintFor(target: Target): string {
  return `put the newest copy of ${target.store.location} back; if this copy is all that is left, move it aside (keep it) and run keyshift rotate ${target.policy.name}, which provisions new values (docs/local-store.md#restored-copies)`;
}

/** The problem as an error for rotate's result of that target. */
export function rollbackError(problem: RollbackProblem): KeyshiftError {
  return new KeyshiftError(problem.code, problem.message, { hint: problem.hint });
}

function judge({ target, view, identity }: Judged, expect: ExpectedState, logged: Set<string>): RollbackProblem | null {
  const where = `store ${target.store.location}`;
  const name = `${target.policy.name}/${target.environment.name}`;
  const hint = hintFor(target);
  const id = identity ?? target.store.identity?.();
  if (id && expect.storeId && id !== expect.storeId) {
    return {
      target,
      check: 'store-replaced',
      code: 'ERR_STORE_REPLACED',
      message: `${where} has id ${id}, but the evidence of ${name} names store ${expect.storeId} (seq ${expect.storeIdSeq}): another store's file was copied over it`,
      hint: `put this store's own file back at ${target.store.location} (from your backup); a store copied from elsewhere serves another environment's values`,
    };
  }
  const current = view.currentId;
  const ahead = (version: string) => view.drafts.some((d) => d.toVersion === version && !logged.has(loggedKey(d)));
  // A CURRENT created after the record that made the expected version CURRENT was made by a later
  // run whose evidence went to another log (another runner: --shard, a second machine); an old
  // copy put back can only hold an older one.
  const createdAt = view.currentCreatedAt;
  const newer = createdAt !== null && expect.currentAt !== '' && createdAt > expect.currentAt;
  if (expect.current && current !== expect.current && !(current && ahead(current)) && !newer) {
    return {
      target,
      check: 'store-rolled-back',
      code: 'ERR_STORE_ROLLED_BACK',
      message: `${where} holds ${current ?? 'no version'} as CURRENT of ${name}, but the evidence made ${expect.current} CURRENT (seq ${expect.currentSeq}, ${expect.currentEvent}): the store file is an older copy (restored from a backup?) or was rolled back outside keyshift`,
      hint,
    };
  }
  const back = view.staged.find((id) => expect.retired.has(id));
  if (back) {
    return {
      target,
      check: 'store-rolled-back',
      code: 'ERR_STORE_ROLLED_BACK',
      message: `${where} holds ${back} of ${name} again, which the evidence retired (seq ${expect.retired.get(back)}): the store file is an older copy (restored from a backup?)`,
      hint,
    };
  }
  return null;
}

/** What `evidence verify` compares: every store's anchors, and each target's state. */
/** A store (or one entry of it) that `evidence verify` could not read: its anchors were not checked. */
export interface UnreadStore {
  store: string;
  secret: string | null;
  environment: string | null;
  error: { code: string; message: string; hint: string };
}

/**
 * What `evidence verify` needs from the stores: their anchors and each target's state. A store that
 * cannot be read (unreachable, denied, damaged, wrong key) is reported in `unread` and the others
 * are still read (DESIGN v2 "Failure isolation").
 */
export async function readStoresForVerify(ctx: EngineContext, policies: SecretPolicy[]): Promise<{ anchors: EvidenceAnchorRef[]; reads: TargetRead[]; unread: UnreadStore[] }> {
  const stores = new StoreRegistry(ctx);
  const anchors: EvidenceAnchorRef[] = [];
  const reads: TargetRead[] = [];
  const unread: UnreadStore[] = [];
  try {
    const metas = new Map<string, StoreMeta | null>();
    for (const target of await targetsOf(policies, [], stores)) {
      let meta = metas.get(target.storeId);
      if (meta === undefined) {
        meta = await target.store.readMeta().catch((error: unknown) => {
          unread.push(unreadStore(error, target.store.location, null));
          return null;
        });
        metas.set(target.storeId, meta);
        for (const [chainId, anchor] of Object.entries(meta?.evidenceAnchors ?? {})) anchors.push({ source: `store ${target.store.location}`, chainId, seq: anchor.seq, hash: anchor.hash });
      }
      if (!meta) continue;
      try {
        const state = await target.store.read(target.key);
        reads.push({ target, state, meta, ...(target.store.identity ? { identity: target.store.identity() } : {}) });
      } catch (error) {
        unread.push(unreadStore(error, target.store.location, target));
      }
    }
  } finally {
    await stores.closeAll();
  }
  return { anchors, reads, unread };
}

function unreadStore(thrown: unknown, store: string, target: Target | null): UnreadStore {
  if (thrown instanceof KeyshiftError && thrown.exitCode === ExitCode.usage) throw thrown; // e.g. a malformed KEYSHIFT_MASTER_KEY: the run's own error
  const error = diskError(thrown, store) ?? thrown;
  const info = error instanceof KeyshiftError ? { code: error.code, message: error.message, hint: hintOf(error) } : { code: 'ERR_INTERNAL', message: errorMessage(error), hint: INTERNAL_HINT };
  return { store, secret: target?.policy.name ?? null, environment: target?.environment.name ?? null, error: info };
}

/** Per locked store, what its targets hold that the evidence says they cannot (store-rollback.ts). */
export async function refuseRolledBack(
  evidenceDir: string,
  targets: Target[],
  locks: Map<string, StoreLock>,
  storeFailed: (id: string, store: SecretStore, error: unknown) => void,
): Promise<{ refused: Map<string, RollbackProblem[]>; draftsAt: Map<string, Set<Target>>; checkpoint: CheckpointRef | null }> {
  const reads: JudgedRead[] = [];
  // Per store read here, its targets whose entry holds unconfirmed drafts (evidence recovery's work).
  const draftsAt = new Map<string, Set<Target>>();
  for (const id of locks.keys()) {
    const storeTargets = targets.filter((t) => t.storeId === id);
    const store = storeTargets[0]?.store as SecretStore;
    if (!store.identity) continue; // only stores kept in a file someone can copy (store-rollback.ts)
    try {
      const meta = await store.readMeta();
      const storeReads: JudgedRead[] = [];
      for (const target of storeTargets) storeReads.push({ target, view: viewOf(await store.read(target.key, { lookOnly: true }), meta), meta });
      for (const read of storeReads) reads.push(read); // not push(...): a store of 200,000 secrets would overflow the stack
      draftsAt.set(id, new Set(storeReads.filter((r) => (r.view?.drafts.length ?? 0) > 0).map((r) => r.target)));
    } catch (error) {
      storeFailed(id, store, error);
    }
  }
  const refused = new Map<string, RollbackProblem[]>();
  // One pass over the evidence log (what it gained since the checkpoint) for every store of the run.
  const { problems, checkpoint } = reads.length > 0 ? await checkAgainstLog(evidenceDir, reads, true) : { problems: [], checkpoint: null };
  for (const problem of problems) refused.set(problem.target.storeId, [...(refused.get(problem.target.storeId) ?? []), problem]);
  return { refused, draftsAt, checkpoint };
}
