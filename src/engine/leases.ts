import { errorMessage } from '../errors.js';
import type { LockSpec } from '../policy/lock-schema.js';
import type { EntryLease, EntryState, StoreMeta } from '../stores/contract.js';
import type { LockTable } from '../stores/dynamodb-lock/index.js';
import type { Log } from '../log.js';
import type { EngineContext, Target } from './context.js';
import { targetLabel } from './context.js';
import { isExecutable, planTarget } from './planner.js';
import { unconfirmedDrafts } from './state.js';

/** How long a store's own lease lives unrenewed (docs/workflow.md#leases); KEYSHIFT_LEASE_TTL_MS overrides. */
const NATIVE_LEASE_TTL_MS = 10 * 60_000;

/**
 * The cross-machine leases of one run (docs/workflow.md#leases): per target, from the store's
 * `lock:` table if it names one, else from the store itself (`SecretStore.lease`), else none (a
 * local store's lock already spans every process that can open its file). A lease is taken only
 * for a target with work to do, so a run over many secrets that are not due costs no lease calls.
 */
export class RunLeases {
  readonly #tables = new Map<string, Promise<LockTable>>();

  constructor(private readonly ctx: EngineContext) {}

  /** The target's lease, or null where it needs none. ERR_LEASED (exit 3) if another runner holds it. */
  async take(target: Target, holder: string, meta: StoreMeta | undefined, planOptions: { now: Date; force: boolean; horizonMs: number }): Promise<EntryLease | null> {
    const lock = target.environment.store.lock;
    if (!lock && !target.store.lease) return null;
    const state = await target.store.read(target.key);
    if (!hasWork(target, state, meta, planOptions)) return null;
    return this.#lease(target, holder);
  }

  /** The target's lease whatever the plan says (rollback, doctor --fix); ERR_LEASED if another runner holds it. */
  hold(target: Target, holder: string): Promise<EntryLease | null> {
    return this.#lease(target, holder);
  }

  #lease(target: Target, holder: string): Promise<EntryLease | null> {
    const lock = target.environment.store.lock;
    if (lock) {
      return this.#table(lock).then((table) => table.lease(leaseName(target), `${targetLabel(target)} (${target.key})`, { holder, ttlMs: lock.ttlMs }));
    }
    const ttlMs = Number(this.ctx.env.KEYSHIFT_LEASE_TTL_MS) || NATIVE_LEASE_TTL_MS;
    if (!target.store.lease) return Promise.resolve(null);
    return target.store.lease(target.key, { holder, ttlMs });
  }

  /** Run `write` under the target's lease (taken whatever the plan says); skip it if another runner holds it. */
  async underLease(target: Target, holder: string, write: () => Promise<void>): Promise<void> {
    const lease = await this.#lease(target, holder).catch((error: unknown) => {
      this.ctx.logger.debug({ target: targetLabel(target), err: errorMessage(error) }, 'lease not taken; drafts left for a later run');
      return undefined;
    });
    if (lease === undefined) return;
    try {
      await write();
    } finally {
      await lease?.release();
    }
  }

  async close(): Promise<void> {
    for (const opening of this.#tables.values()) {
      await opening.then((table) => table.close()).catch((error: unknown) => this.ctx.logger.debug({ err: errorMessage(error) }, 'lock table'));
    }
    this.#tables.clear();
  }

  #table(lock: LockSpec): Promise<LockTable> {
    const id = `${lock.table}|${lock.region ?? ''}|${lock.endpoint ?? ''}|${lock.profile ?? ''}`;
    let opening = this.#tables.get(id);
    if (!opening) {
      opening = import('../stores/dynamodb-lock/index.js').then(({ openLockTable }) => openLockTable(lock, { env: this.ctx.env, log: this.ctx.logger, aws: this.ctx.aws ?? {} }));
      this.#tables.set(id, opening);
    }
    return opening;
  }
}

/** One name per entry, the same on every machine: the store type, where a local store's file is, the key. */
export function leaseName(target: Target): string {
  const spec = target.environment.store;
  return spec.type === 'local' ? `local:${spec.path}#${target.key}` : `${spec.type}:${target.key}`;
}

function hasWork(target: Target, state: EntryState | null, meta: StoreMeta | undefined, planOptions: { now: Date; force: boolean; horizonMs: number }): boolean {
  if (state && meta && unconfirmedDrafts(state, meta).length > 0) return true;
  return planTarget({ policy: target.policy, environment: target.environment, state }, planOptions).some((action) => isExecutable(action, planOptions.now));
}

/** Releases a lease this run held; a release that fails is logged, not thrown: the lease expires on its own. */
export async function releaseLease(lease: EntryLease | null, target: Target, log: Log): Promise<void> {
  await lease?.release().catch((error: unknown) => log.warn({ target: targetLabel(target), err: errorMessage(error) }, 'could not release the lease; it expires on its own'));
}
