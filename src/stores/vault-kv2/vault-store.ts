import { KeyshiftError } from '../../errors.js';
import type { VaultKv2StoreSpec } from '../../policy/types.js';
import { SecretValue } from '../../secret-value.js';
import type { EntryMeta, EntryState, LockOptions, SecretStore, Stage, StoreLock, StoreMeta, VersionInfo, VersionOp } from '../contract.js';
import type { StoreContext } from '../registry.js';
import { LocalStoreState } from '../aws/state-dir.js';
import { VaultHttp, vaultError, type VaultReply } from './http.js';
import { applyOps, fieldOf, STAGES } from '../stage-ops.js';
import { decodeRecord, encodeRecord, otherKeys, type Ids, type VaultRecord } from './record.js';

interface Metadata {
  current_version: number;
  created_time?: string;
  custom_metadata: Record<string, string> | null;
  versions: Record<string, { created_time: string; deletion_time: string; destroyed: boolean }>;
}

/** What one read of the secret shows: the metadata, keyshift's record and the entry it implies. */
interface Snapshot {
  metadata: Metadata | null;
  record: VaultRecord | null;
  ids: Ids;
  meta: EntryMeta;
}

const NO_IDS: Ids = { CURRENT: null, PENDING: null, PREVIOUS: null };

/**
 * One field of a Vault KV v2 secret as a keyshift store (docs/stores/vault-kv2.md). The latest KV
 * version holds CURRENT in `<field>`, PENDING and PREVIOUS in `<field>_PENDING` / `_PREVIOUS`; each
 * change is one new KV version written with `cas`; the record lives in custom_metadata; retired
 * values' KV versions are destroyed. Locked with a lock file on this machine, like the AWS stores.
 */
export class VaultKv2Store implements SecretStore {
  readonly kind = 'vault-kv2';
  readonly location: string;
  readonly capabilities = { atomicApply: false, remoteReads: true };
  readonly #http: VaultHttp;
  readonly #mount: string;
  readonly #local: LocalStoreState;
  readonly #fields = new Map<string, string>();
  readonly #defaultField: string;

  constructor(spec: VaultKv2StoreSpec, context: StoreContext) {
    this.#http = new VaultHttp(spec, context.env);
    this.#mount = spec.mount;
    this.#defaultField = spec.field;
    this.location = `vault ${this.#http.address} ${spec.mount}/`;
    this.#local = new LocalStoreState(context.env, this.kind, context.storeId);
  }

  configureEntry(spec: VaultKv2StoreSpec): void {
    this.#fields.set(spec.key, spec.field);
  }

  async read(key: string): Promise<EntryState | null> {
    const snap = await this.#snapshot(key);
    return snap.ids.CURRENT ? toState(snap) : null;
  }

  async readValue(key: string, versionId: string): Promise<SecretValue> {
    const snap = await this.#snapshot(key);
    const stage = STAGES.find((s) => snap.ids[s] === versionId);
    const missing = () => new KeyshiftError('ERR_VERSION_NOT_FOUND', `${key}: version ${versionId} is not in ${this.location}`);
    if (!stage || !snap.metadata) throw missing();
    const value = await this.#fieldValue(key, snap, stage);
    if (value === undefined) throw missing();
    return SecretValue.fromString(value);
  }

  fingerprint(value: SecretValue): string {
    return this.#local.fingerprint(value.revealBytes());
  }

  lock(options: LockOptions): Promise<StoreLock> {
    return this.#local.lock(options, `store ${this.location}`);
  }

  lockFile(): string {
    return this.#local.lockPath();
  }

  async apply(key: string, ops: VersionOp[], meta: EntryMeta): Promise<EntryState> {
    if (!this.#local.held) throw new KeyshiftError('ERR_INTERNAL', `${this.location}: apply without the store lock`);
    const snap = await this.#snapshot(key);
    const where = `${this.#mount}/${key}`;
    const changed = applyOps(where, snap.ids, ops);
    const current = snap.metadata?.current_version ?? 0;
    const versions = snap.metadata?.versions ?? {};
    // KV versions a crash left undestroyed: destroy them now (idempotent). Only those of a record
    // whose data write landed: an announced retire that never happened retired nothing, and its list
    // holds the latest version, the one applications read.
    const landed = snap.record !== null && (current >= snap.record.at || !snap.record.before);
    const leftover = landed ? (snap.record?.destroy ?? []).filter((n) => versions[n] && !versions[n].destroyed) : [];
    const fieldsChange = STAGES.some((s) => changed.ids[s] !== snap.ids[s]);
    const now = new Date().toISOString();
    const record: VaultRecord = {
      ...meta,
      ids: fieldsChange ? changed.ids : snap.ids,
      at: fieldsChange ? current + 1 : (snap.record?.at ?? current),
      before: fieldsChange ? { ids: snap.ids, rotation: snap.meta.rotation, lastRotatedAt: snap.meta.lastRotatedAt, drafts: snap.meta.pendingEvents.length } : null,
      created: keepLive({ ...(snap.record?.created ?? adoptedCreated(snap)), ...Object.fromEntries(changed.created.map((id) => [id, now])) }, changed.ids),
      firstKv: keepLive({ ...(snap.record?.firstKv ?? adoptedFirstKv(snap)), ...Object.fromEntries(changed.created.map((id) => [id, current + 1])) }, changed.ids),
      retired: [...(snap.record?.retired ?? []), ...changed.retired.map((id) => ({ id, retiredAt: now }))].slice(-5),
      destroy: [...new Set([...leftover, ...changed.retired.flatMap((id) => kvRange(snap, id, current))])].sort((a, b) => a - b),
    };
    const custom = snap.metadata?.custom_metadata ?? null;
    await this.#writeMetadata(key, encodeRecord(record, otherKeys(custom), where));
    if (fieldsChange) {
      const data = await this.#latestData(key, snap);
      const values = new Map<string, string | undefined>();
      for (const stage of STAGES) if (snap.ids[stage]) values.set(snap.ids[stage] as string, data[fieldOf(this.#field(key), stage)]);
      for (const op of ops) if (op.type === 'create' && changed.created.includes(op.versionId)) values.set(op.versionId, valueOf(op).reveal());
      const next: Record<string, string> = { ...data };
      for (const stage of STAGES) {
        const id = changed.ids[stage];
        const value = id ? values.get(id) : undefined;
        if (value === undefined) delete next[fieldOf(this.#field(key), stage)];
        else next[fieldOf(this.#field(key), stage)] = value;
      }
      const reply = await this.#http.call('POST', `${this.#mount}/data/${key}`, { data: next, options: { cas: current } });
      if (reply.status >= 300) {
        // Someone else wrote the secret since we read it: take the announcement back, change nothing.
        await this.#writeMetadata(key, custom ?? {}).catch(() => undefined);
        if (isCasMismatch(reply)) {
          throw new KeyshiftError('ERR_STORE_CONFLICT', `${where} changed while keyshift was writing it (check-and-set version ${current} did not match)`, {
            hint: 'another writer updated the secret; rerun keyshift (it reads the secret again)',
            retryable: true,
          });
        }
        throw vaultError(`writing ${where}`, this.#http.address, reply);
      }
    }
    if (record.destroy.length > 0) {
      const reply = await this.#http.call('POST', `${this.#mount}/destroy/${key}`, { versions: record.destroy });
      if (reply.status >= 300) throw vaultError(`destroying retired versions of ${where}`, this.#http.address, reply);
    }
    return (await this.read(key)) as EntryState;
  }

  readMeta(): Promise<StoreMeta> {
    return this.#local.readMeta();
  }

  writeMeta(meta: StoreMeta): Promise<void> {
    return this.#local.writeMeta(meta);
  }

  async close(): Promise<void> {}

  #field(key: string): string {
    return this.#fields.get(key) ?? this.#defaultField;
  }

  async #snapshot(key: string): Promise<Snapshot> {
    const reply = await this.#http.call('GET', `${this.#mount}/metadata/${key}`);
    if (reply.status === 404) return { metadata: null, record: null, ids: NO_IDS, meta: emptyMeta() };
    if (reply.status >= 300) throw vaultError(`reading ${this.#mount}/${key}`, this.#http.address, reply);
    const metadata = reply.body.data as Metadata;
    const record = decodeRecord(metadata.custom_metadata, `${this.#mount}/${key}`);
    if (record) {
      if (metadata.current_version >= record.at || !record.before) return { metadata, record, ids: record.ids, meta: pick(record) };
      // The write the record announces has not happened: the entry is as it was, except that an
      // interrupted issue keeps its rotation (and so the version id it will write again).
      const drafts = record.pendingEvents.slice(0, record.before.drafts);
      const issuing = record.rotation && record.ids.PENDING === record.rotation.newVersionId && record.before.ids.PENDING !== record.ids.PENDING;
      const meta = issuing ? { rotation: record.rotation, lastRotatedAt: record.lastRotatedAt, pendingEvents: drafts } : { rotation: record.before.rotation, lastRotatedAt: record.before.lastRotatedAt, pendingEvents: drafts };
      return { metadata, record, ids: record.before.ids, meta };
    }
    // Never written by keyshift: the latest version's field, if any, is CURRENT.
    const data = await this.#readData(key, metadata.current_version);
    const ids = data && data[this.#field(key)] !== undefined ? { ...NO_IDS, CURRENT: `kv-${metadata.current_version}` } : NO_IDS;
    const created = metadata.versions[metadata.current_version]?.created_time ?? null;
    return { metadata, record: null, ids, meta: { ...emptyMeta(), lastRotatedAt: ids.CURRENT ? created : null } };
  }

  /** The value in `stage`'s field: from the latest version, or from the one keyshift wrote if a
   * foreign write (vault kv put) dropped the field since. */
  async #fieldValue(key: string, snap: Snapshot, stage: Stage): Promise<string | undefined> {
    const name = fieldOf(this.#field(key), stage);
    const latest = await this.#readData(key, snap.metadata?.current_version ?? 0);
    if (latest?.[name] !== undefined) return latest[name];
    const ours = snap.record ? Math.min(snap.record.at, snap.metadata?.current_version ?? 0) : 0;
    if (ours > 0 && ours !== snap.metadata?.current_version) return (await this.#readData(key, ours))?.[name];
    return undefined;
  }

  /** The latest version's data with keyshift's fields as the snapshot's ids say. */
  async #latestData(key: string, snap: Snapshot): Promise<Record<string, string>> {
    const data = { ...((await this.#readData(key, snap.metadata?.current_version ?? 0)) ?? {}) };
    for (const stage of STAGES) {
      const name = fieldOf(this.#field(key), stage);
      if (snap.ids[stage] && data[name] === undefined) {
        const value = await this.#fieldValue(key, snap, stage);
        if (value === undefined) throw new KeyshiftError('ERR_VERSION_NOT_FOUND', `${this.#mount}/${key}: field ${name} (version ${snap.ids[stage]}) is gone from the secret`, { hint: 'someone rewrote the secret without it; see docs/stores/vault-kv2.md#foreign-writes' });
        data[name] = value;
      }
    }
    return data;
  }

  async #readData(key: string, version: number): Promise<Record<string, string> | null> {
    if (version <= 0) return null;
    const reply = await this.#http.call('GET', `${this.#mount}/data/${key}?version=${version}`);
    if (reply.status === 404) return null;
    if (reply.status >= 300) throw vaultError(`reading ${this.#mount}/${key}`, this.#http.address, reply);
    return ((reply.body.data as { data?: Record<string, string> | null })?.data ?? null) as Record<string, string> | null;
  }

  async #writeMetadata(key: string, custom: Record<string, string>): Promise<void> {
    const reply = await this.#http.call('POST', `${this.#mount}/metadata/${key}`, { custom_metadata: custom });
    if (reply.status >= 300) throw vaultError(`writing keyshift's record to ${this.#mount}/metadata/${key}`, this.#http.address, reply);
  }
}

function toState(snap: Snapshot): EntryState {
  const created = snap.record?.created ?? adoptedCreated(snap);
  const versions: VersionInfo[] = [];
  for (const stage of STAGES) {
    const id = snap.ids[stage];
    if (id) versions.push({ id, stages: [stage], createdAt: created[id] ?? new Date(0).toISOString() });
  }
  versions.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  return { versions, retired: snap.record?.retired ?? [], ...snap.meta };
}

function adoptedCreated(snap: Snapshot): Record<string, string> {
  const id = snap.ids.CURRENT;
  const n = snap.metadata?.current_version ?? 0;
  return id ? { [id]: snap.metadata?.versions[n]?.created_time ?? new Date(0).toISOString() } : {};
}

function adoptedFirstKv(snap: Snapshot): Record<string, number> {
  return snap.ids.CURRENT ? { [snap.ids.CURRENT]: snap.metadata?.current_version ?? 0 } : {};
}

/** The KV versions that hold a version's value: from the first that did to the latest. */
function kvRange(snap: Snapshot, id: string, current: number): number[] {
  const first = snap.record?.firstKv[id] ?? adoptedFirstKv(snap)[id] ?? current + 1;
  const out: number[] = [];
  for (let n = Math.max(first, 1); n <= current; n++) {
    const version = snap.metadata?.versions[n];
    if (version && !version.destroyed) out.push(n);
  }
  return out;
}

function keepLive<T>(map: Record<string, T>, ids: Ids): Record<string, T> {
  const live = new Set(STAGES.map((s) => ids[s]).filter(Boolean));
  return Object.fromEntries(Object.entries(map).filter(([id]) => live.has(id)));
}

function pick(record: VaultRecord): EntryMeta {
  return { rotation: record.rotation, lastRotatedAt: record.lastRotatedAt, pendingEvents: record.pendingEvents };
}

function emptyMeta(): EntryMeta {
  return { rotation: null, lastRotatedAt: null, pendingEvents: [] };
}

function isCasMismatch(reply: VaultReply): boolean {
  return reply.status === 400 && (reply.body.errors ?? []).some((e) => e.includes('check-and-set'));
}

function valueOf(op: Extract<VersionOp, { type: 'create' }>): SecretValue {
  if (!op.value) throw new KeyshiftError('ERR_INTERNAL', `create of ${op.versionId} has no value (this is a bug)`);
  return op.value;
}
