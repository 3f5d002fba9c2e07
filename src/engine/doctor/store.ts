import { findLoggedDrafts, loggedKey } from '../../evidence/index.js';
import type { SecretPolicy } from '../../policy/types.js';
import type { EntryState, SecretStore, StoreMeta } from '../../stores/contract.js';
import { storeId } from '../../stores/registry.js';
import { inspectFileLock, type LockHolder } from '../../util/file-lock.js';
import type { EngineContext, Target } from '../context.js';
import { fromStoreFinding, overdue, staleRotation, storeError, targetFinding, unappendedDrafts, type Diagnosis } from './checks.js';
import { unconfirmedDrafts } from '../state.js';
import { mapWithConcurrency } from '../concurrency.js';
import { findRollbacks } from '../store-rollback.js';

const READ_CONCURRENCY = 8;

/** `doctor` on one store: its lock, its entries, and each selected target it holds. Reads only. */

/** The stores of the selected targets, each with its targets in policy order. */
export interface StoreGroup {
  storeId: string;
  store: SecretStore;
  targets: Target[];
}

export interface LockState {
  /** The store's lock as found before any repair. */
  state: 'free' | 'live' | 'dead';
  holder: LockHolder | null;
  finding: Diagnosis | null;
}

/**
 * Everything a store shows about the selected targets. `judgeInFlight` is false while a live run
 * holds the store: its rotation in overlap and its unconfirmed drafts are that run's work.
 */
export async function diagnoseStore(
  ctx: EngineContext,
  group: StoreGroup,
  policies: SecretPolicy[],
  options: { judgeInFlight: boolean; holderDied: boolean; logIntact: boolean },
): Promise<Diagnosis[]> {
  const { store } = group;
  const where = { store: store.location, storeId: group.storeId };
  let meta: StoreMeta;
  try {
    meta = await store.readMeta();
  } catch (error) {
    return [storeError(error, where)];
  }
  const found: Diagnosis[] = [];
  if (store.listKeys) {
    try {
      for (const finding of unknownEntries(group, await store.listKeys(), policies)) found.push(finding); // any number of entries
    } catch (error) {
      return [storeError(error, where)];
    }
  }

  const states = new Map<Target, EntryState | null>();
  const perTarget = new Map<Target, Diagnosis[]>(group.targets.map((t) => [t, []]));
  // A remote store answers each read in a round trip: a few at once, results kept in policy order.
  const read = await mapWithConcurrency(group.targets, READ_CONCURRENCY, async (target) => {
    try {
      const state = await store.read(target.key);
      const own = ((await store.diagnose?.(target.key)) ?? []).map((finding) => fromStoreFinding(target, finding));
      return { target, state, own };
    } catch (error) {
      return { target, error };
    }
  });
  for (const entry of read) {
    if ('error' in entry) perTarget.get(entry.target)?.push(storeError(entry.error, { ...where, target: entry.target }));
    else {
      states.set(entry.target, entry.state);
      perTarget.get(entry.target)?.push(...entry.own);
    }
  }

  // Against the evidence: only an intact log says what the store must hold.
  if (options.logIntact) {
    for (const p of await findRollbacks(ctx.evidenceDir, [...states].map(([target, state]) => ({ target, state, meta })))) {
      perTarget.get(p.target)?.push(targetFinding(p.target, p.check, 'error', p.message, p.hint));
    }
  }

  const now = ctx.now();
  const drafts = new Map([...states].map(([target, state]) => [target, unconfirmedDrafts(state, meta)] as const));
  const announcedAll = [...drafts.values()].flat();
  const logged = options.judgeInFlight && announcedAll.length > 0 ? await findLoggedDrafts(ctx.evidenceDir, announcedAll) : new Set<string>();
  for (const [target, state] of states) {
    const list = perTarget.get(target) as Diagnosis[];
    if (options.judgeInFlight) {
      const announced = drafts.get(target) ?? [];
      const missing = announced.filter((d) => !logged.has(loggedKey(d)));
      const gap = unappendedDrafts(target, announced, missing, options.logIntact);
      if (gap) list.push(gap);
      const stale = staleRotation(target, state, now, options.holderDied);
      if (stale) list.push(stale);
    }
    const late = overdue(target, state, now);
    if (late) list.push(late);
  }
  return [...found, ...group.targets.flatMap((t) => perTarget.get(t) ?? [])];
}

/** A store's lock: a dead holder's is a finding; a live one means its in-flight state is not judged. */
export async function inspectStoreLock(group: StoreGroup): Promise<LockState> {
  const path = group.store.lockFile?.();
  if (!path) return { state: 'free', holder: null, finding: null };
  const lock = await inspectFileLock(path);
  if (lock.state === 'free') return { state: 'free', holder: null, finding: null };
  if (lock.state === 'live') return { state: 'live', holder: lock.holder, finding: null };
  return { state: 'dead', holder: lock.holder, finding: deadLock(path, lock.holder, lock.why, group.store.location, group.storeId) };
}

function unknownEntries(group: StoreGroup, keys: string[], policies: SecretPolicy[]): Diagnosis[] {
  const known = new Set(policies.flatMap((p) => p.environments).filter((e) => storeId(e.store) === group.storeId).map((e) => e.store.key));
  return keys
    .filter((key) => !known.has(key))
    .sort()
    .map((key) => ({
      secret: null,
      environment: null,
      store: group.store.location,
      check: 'unknown-versions' as const,
      severity: 'warning' as const,
      message: `store ${group.store.location} holds entry "${key}", which no policy names`,
      hint: `if a secret was renamed, set key: ${key} in its store so that the policy names the entry again; otherwise leave it: keyshift never deletes an entry`,
      fixable: false,
      fixed: false,
      storeId: group.storeId,
    }));
}

export function deadLock(path: string, holder: LockHolder | null, why: string, store: string | null, id: string | null): Diagnosis {
  const who = holder ? `${holder.owner} (pid ${holder.pid} on ${holder.host}, since ${holder.acquiredAt})` : 'a run that left it empty';
  return {
    secret: null,
    environment: null,
    store,
    check: 'dead-lock',
    severity: 'warning',
    message: `lock ${path} was left by ${who}, which is gone: ${why}`,
    hint: 'keyshift doctor --fix removes it (the next keyshift rotate also takes it over); the run that held it may have left work that the other findings describe',
    fixable: true,
    fixed: false,
    repair: { kind: 'break-lock', path, storeId: id, action: `removed ${path}, left by ${who} (${why})` },
    ...(id ? { storeId: id } : {}),
  };
}

