import { KeyshiftError } from '../../errors.js';
import type { CommandStoreSpec } from '../../policy/types.js';
import { SecretValue } from '../../secret-value.js';
import { childEnvironment } from '../../util/child-env.js';
import type { EntryMeta, EntryState, LockOptions, RetiredVersion, SecretStore, Stage, StoreLock, StoreMeta, VersionInfo, VersionOp } from '../contract.js';
import type { StoreContext } from '../contract.js';
import { LocalStoreState } from '../aws/state-dir.js';
import { applyOps } from '../stage-ops.js';
import { callStore, type CallOptions } from './protocol.js';

/** What keyshift keeps with an entry through the program (`state`, opaque to it): no values. */
interface KeptState extends EntryMeta {
  retired: RetiredVersion[];
}

/**
 * A store written in any language, protocol v1 (docs/stores/command.md). keyshift checks each
 * apply against the contract before sending it, keeps its record in the entry's opaque `state`,
 * and locks with a lock file on this machine plus the program's lease if it supports `lock`. Store meta goes to the program (readMeta/writeMeta)
 * unless it answers UNSUPPORTED; then it stays on this machine.
 */
export class CommandStore implements SecretStore {
  readonly kind = 'command';
  readonly location: string;
  readonly capabilities = { atomicApply: false, remoteReads: false };
  readonly #call: CallOptions;
  readonly #config: Record<string, unknown>;
  readonly #local: LocalStoreState;
  #metaSupported = true;
  #leaseSupported = true;
  /** Entries as the program returned them while this process held the lock: an apply builds on the
   * engine's read of the same entry instead of starting the program once more to read it again. */
  readonly #seen = new Map<string, EntryState | null>();

  constructor(spec: CommandStoreSpec, context: StoreContext) {
    this.#call = { run: spec.run, timeoutMs: spec.timeoutMs, env: childEnvironment(context.env, {}) };
    this.#config = spec.config;
    this.location = `command ${spec.run[0]}`;
    this.#local = new LocalStoreState(context.env, this.kind, context.storeId);
  }

  async read(key: string): Promise<EntryState | null> {
    const entry = toEntry(key, (await this.#request({ op: 'read', key })).entry);
    if (this.#local.held) this.#seen.set(key, structuredClone(entry));
    return entry;
  }

  async readValue(key: string, versionId: string): Promise<SecretValue> {
    const reply = await this.#request({ op: 'readValue', key, versionId });
    if (typeof reply.value !== 'string') throw new KeyshiftError('ERR_STORE_PROTOCOL', `${this.location} (op readValue) replied without a string "value"`);
    return SecretValue.fromString(reply.value);
  }

  fingerprint(value: SecretValue): string {
    return this.#local.fingerprint(value.revealBytes());
  }

  /** The lock file on this machine, plus the program's lease when it supports `lock`/`unlock`. */
  async lock(options: LockOptions): Promise<StoreLock> {
    const local = await this.#local.lock(options, `store ${this.location}`);
    this.#seen.clear(); // read afresh under this lock: another run may have changed the entries
    if (!this.#leaseSupported) return local;
    let lease: unknown;
    try {
      lease = (await this.#request({ op: 'lock', owner: options.owner, waitMs: options.waitMs })).lease;
    } catch (error) {
      const code = (error as KeyshiftError).code;
      if (code === 'ERR_STORE_UNSUPPORTED') {
        this.#leaseSupported = false;
        return local;
      }
      await local.release();
      if (code !== 'ERR_STORE_REFUSED') throw error;
      throw new KeyshiftError('ERR_LOCKED', `${this.location} is locked by another run (${(error as Error).message})`, { exitCode: 3, hint: 'wait for the other run to finish, then rerun' });
    }
    return {
      release: async () => {
        try {
          await this.#request({ op: 'unlock', lease: lease ?? null });
        } finally {
          await local.release();
        }
      },
    };
  }

  lockFile(): string {
    return this.#local.lockPath();
  }

  async apply(key: string, ops: VersionOp[], meta: EntryMeta): Promise<EntryState> {
    if (!this.#local.held) throw new KeyshiftError('ERR_INTERNAL', `${this.location}: apply without the store lock`);
    const before = this.#seen.has(key) ? structuredClone(this.#seen.get(key) as EntryState | null) : await this.read(key);
    const ids = { CURRENT: null, PENDING: null, PREVIOUS: null } as Record<Stage, string | null>;
    for (const v of before?.versions ?? []) for (const s of v.stages) ids[s] = v.id;
    // Refuse what the contract forbids before the program sees it; note what the ops retire.
    const { retired } = applyOps(key, ids, ops);
    const now = new Date().toISOString();
    const state: KeptState = { ...meta, retired: [...(before?.retired ?? []), ...retired.map((id) => ({ id, retiredAt: now }))].slice(-5) };
    const wire = ops.map((op) => {
      if (op.type === 'restore') throw new KeyshiftError('ERR_INTERNAL', 'command stores cannot restore a retired version (this is a bug)');
      if (op.type !== 'create') return op;
      if (!op.value) throw new KeyshiftError('ERR_INTERNAL', `create of ${op.versionId} has no value (this is a bug)`);
      return { type: 'create', versionId: op.versionId, value: op.value.reveal(), stage: op.stage };
    });
    this.#seen.delete(key); // until the program says what it holds now
    const entry = toEntry(key, (await this.#request({ op: 'apply', key, ops: wire, state })).entry);
    if (entry) this.#seen.set(key, structuredClone(entry));
    if (!entry) throw new KeyshiftError('ERR_STORE_PROTOCOL', `${this.location} (op apply) replied with no entry`);
    return entry;
  }

  async readMeta(): Promise<StoreMeta> {
    if (this.#metaSupported) {
      try {
        const { meta } = await this.#request({ op: 'readMeta' });
        if (meta === null || meta === undefined) return { evidenceAnchors: {}, confirmedRuns: [] };
        const m = meta as Partial<StoreMeta>;
        return { evidenceAnchors: m.evidenceAnchors ?? {}, confirmedRuns: m.confirmedRuns ?? [] };
      } catch (error) {
        if ((error as KeyshiftError).code !== 'ERR_STORE_UNSUPPORTED') throw error;
        this.#metaSupported = false;
      }
    }
    return this.#local.readMeta();
  }

  async writeMeta(meta: StoreMeta): Promise<void> {
    if (this.#metaSupported) {
      try {
        await this.#request({ op: 'writeMeta', meta });
        return;
      } catch (error) {
        if ((error as KeyshiftError).code !== 'ERR_STORE_UNSUPPORTED') throw error;
        this.#metaSupported = false;
      }
    }
    await this.#local.writeMeta(meta);
  }

  async close(): Promise<void> {}

  #request(request: Record<string, unknown>): Promise<Record<string, unknown>> {
    return callStore(this.#call, { ...request, config: this.#config });
  }
}

const STAGE_NAMES = new Set(['CURRENT', 'PENDING', 'PREVIOUS']);

/** The program's entry as an EntryState, checked: a malformed one is a protocol error, not a guess. */
function toEntry(key: string, entry: unknown): EntryState | null {
  if (entry === null || entry === undefined) return null;
  const bad = (why: string) => new KeyshiftError('ERR_STORE_PROTOCOL', `command store entry ${key}: ${why} (docs/stores/command.md#protocol)`);
  const e = entry as { versions?: unknown; state?: unknown };
  if (!Array.isArray(e.versions)) throw bad('"versions" is not a list');
  const versions: VersionInfo[] = e.versions.map((v: { id?: unknown; stages?: unknown; createdAt?: unknown }) => {
    if (typeof v?.id !== 'string' || !Array.isArray(v.stages) || !v.stages.every((s) => STAGE_NAMES.has(s))) throw bad('a version needs "id" and "stages" of CURRENT, PENDING, PREVIOUS');
    return { id: v.id, stages: v.stages as Stage[], createdAt: typeof v.createdAt === 'string' ? v.createdAt : new Date(0).toISOString() };
  });
  if (versions.filter((v) => v.stages.includes('CURRENT')).length > 1) throw bad('more than one CURRENT version');
  const state = (e.state ?? null) as Partial<KeptState> | null;
  return {
    versions,
    retired: state?.retired ?? [],
    rotation: state?.rotation ?? null,
    lastRotatedAt: state?.lastRotatedAt ?? null,
    pendingEvents: state?.pendingEvents ?? [],
  };
}
