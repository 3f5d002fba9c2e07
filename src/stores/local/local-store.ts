import { promises as fs, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { KeyshiftError } from '../../errors.js';
import { SecretValue } from '../../secret-value.js';
import { acquireFileLock, type HeldLock } from '../../util/file-lock.js';
import { emptyStoreMeta, type EntryMeta, type EntryState, type LockOptions, type ReadOptions, type SecretStore, type StoreFinding, type StoreLock, type StoreMeta, type VersionOp } from '../contract.js';
import { AppendLog, type LogStats } from './append-log.js';
import type { EntryHandle } from './log-reader.js';
import { clone, decodeEntry, decodeVersions, encodeEntry, toEntryState, type StoredEntry, type StoredVersion } from './entry-codec.js';
import { corruptError } from './store-errors.js';
import { applyOps, notFound } from './entry-ops.js';
import { fingerprintValue, MasterKeyProvider, type StoreKeys } from './master-key.js';
import { isoTime } from '../../util/iso-time.js';

/**
 * The embedded `local` store: one encrypted append-only file (docs/local-store.md). Readers take no
 * lock and never create or change a file, so `plan` and `--dry-run` leave the disk untouched;
 * writers hold `<path>.lock` and append one authenticated record per apply.
 */

export interface LocalStoreOptions {
  /** Clock for version and retirement times (tests). */
  now?: () => Date;
  /** Compact once dead records exceed max(this, live records). Default 1000. */
  compactMinDead?: number;
}

export class LocalStore implements SecretStore {
  readonly kind = 'local';
  /** One apply is one authenticated record: all of its ops land or none; concurrent applies share
   * one write and one fsync. */
  readonly capabilities = { atomicApply: true, groupCommit: true, rewrap: true };
  readonly location: string;
  readonly #keys: MasterKeyProvider;
  readonly #log: AppendLog;
  readonly #now: () => Date;
  #held: HeldLock | null = null;
  /**
   * What recent reads and applies decoded: the next apply of the same key (a decommission after the
   * read, then the rotation, of one secret) builds on it instead of decoding its text again. applyOps
   * reads only its versions and retired list, which it copies; callers get detached copies. Used
   * only while the key's latest text is still the one it was decoded from.
   */
  readonly #written = new Map<string, { handle: EntryHandle; entry: StoredEntry }>();

  constructor(path: string, env: NodeJS.ProcessEnv, options: LocalStoreOptions = {}) {
    this.location = path;
    this.#keys = new MasterKeyProvider(path, env);
    this.#log = new AppendLog(path, this.#keys, { compactMinDead: options.compactMinDead ?? 1000 });
    this.#now = options.now ?? (() => new Date());
  }

  async read(key: string, options?: ReadOptions): Promise<EntryState | null> {
    checkKey(key);
    await this.#log.refresh();
    // A writer reads its own queued writes (queueApply): what the key's next step builds on.
    const handle = this.#log.latestHandle(key);
    if (handle === undefined) return null;
    // The apply that usually follows a read (rotate reads each entry, then decommissions) builds on
    // the same decoded entry instead of reading and parsing the record again.
    const confirmed = this.#log.meta()?.confirmedRuns ?? [];
    const known = this.#known(key, handle);
    if (known) return toEntryState(known, confirmed);
    const entry = this.#decode(key, this.#log.textOf(handle));
    // A check over every entry (lookOnly) would only push out what the steps in flight build on.
    if (!options?.lookOnly) this.#remember(key, handle, entry);
    return toEntryState(entry, confirmed);
  }

  async readValue(key: string, versionId: string): Promise<SecretValue> {
    checkKey(key);
    await this.#log.refresh();
    const handle = this.#log.latestHandle(key);
    // The entry a step just read is decoded already (a decommission reads the old value after it).
    const versions = handle === undefined ? [] : (this.#known(key, handle)?.versions ?? this.#versions(key, this.#log.textOf(handle)));
    const version = versions.find((v) => v.id === versionId);
    if (!version) throw notFound(this.#where(key), versionId);
    return SecretValue.fromBytes(Buffer.from(version.value, 'base64'));
  }

  identity(): string {
    return this.#log.storeId();
  }

  fingerprint(value: SecretValue): string {
    return fingerprintValue(this.#fingerprintKeys(), value.revealBytes());
  }

  async lock(options: LockOptions): Promise<StoreLock> {
    await fs.mkdir(dirname(this.location), { recursive: true, mode: 0o700 });
    const held = await acquireFileLock(this.lockFile(), { waitMs: options.waitMs, owner: options.owner, what: `store ${this.location}` });
    try {
      await this.#log.startWriting(() => held.verify()); // see what other processes wrote before we build on it
    } catch (error) {
      await held.release();
      throw error;
    }
    this.#held = held;
    return {
      release: async () => {
        if (this.#held !== held) return;
        this.#held = null;
        await this.#log.stopWriting().finally(() => held.release());
      },
    };
  }

  async apply(key: string, ops: VersionOp[], meta: EntryMeta): Promise<EntryState> {
    const { next, durable } = this.#commit(key, ops, meta);
    this.#remember(key, this.#log.latestHandle(key)!, next); // the commit's handle, the same once durable
    await durable;
    // What was encoded, copied: no JSON parse of the text just written (two per secret in a rotation).
    return toEntryState(next);
  }

  /**
   * As apply, without waiting for the record to be durable: it joins the next batch, `durable`
   * resolves once it is on disk and rejects if its batch was not written. Reads see it meanwhile.
   * For a caller that advances secrets one after another (src/engine/queued-writes.ts): each
   * secret's objects then die young instead of waiting with a hundred others for a batch's fsync.
   */
  queueApply(key: string, ops: VersionOp[], meta: EntryMeta): { state: EntryState; durable: Promise<void> } {
    const { next, durable } = this.#commit(key, ops, meta);
    // The run does not read this entry again: its decoded copy is let go, not kept to grow old.
    this.#written.delete(key);
    return { state: toEntryState(next), durable };
  }

  /** Call before each secret whose writes go through queueApply (AppendLog.room). */
  queueRoom(): Promise<void> {
    return this.#log.room(QUEUED_MOST);
  }

  async readMeta(): Promise<StoreMeta> {
    await this.#log.refresh();
    return clone(this.#log.meta()) ?? emptyStoreMeta();
  }

  async writeMeta(meta: StoreMeta): Promise<void> {
    this.#requireLock('writeMeta');
    await this.#log.commit({ type: 'meta', meta: clone(meta) });
  }

  async close(): Promise<void> {
    const held = this.#held;
    this.#held = null;
    await this.#log.stopWriting().finally(() => held?.release());
    this.#log.reset();
    this.#written.clear();
  }

  /** A PENDING or PREVIOUS version the rotation record does not name: no step of keyshift leaves
   * one, so something else wrote the file. Report only: deleting a version is never "safe". */
  async diagnose(key: string): Promise<StoreFinding[]> {
    const state = await this.read(key);
    if (!state) return [];
    const named = new Set([state.rotation?.newVersionId, state.rotation?.oldVersionId].filter(Boolean));
    const unknown = state.versions.filter((v) => !v.stages.includes('CURRENT') && !named.has(v.id));
    if (unknown.length === 0) return [];
    const list = unknown.map((v) => `${v.id} (${v.stages.join(', ')})`).join(', ');
    return [
      {
        check: 'unknown-versions',
        severity: 'warning',
        message: `${this.#where(key)} holds ${list}, which no rotation record names`,
        hint: 'no keyshift step leaves such a version: find out what else writes this store (restore it from a backup if it was edited); keyshift never deletes it',
      },
    ];
  }

  async listKeys(): Promise<string[]> {
    await this.#log.refresh();
    return this.#log.entryKeys();
  }

  lockFile(): string {
    return `${this.location}.lock`;
  }

  /** Record counts and size, for tests and `doctor`-style diagnostics. */
  get stats(): LogStats {
    return this.#log.stats;
  }

  #fingerprintKeys(): StoreKeys {
    // A writer may create the key (it is about to write the store); a reader never does.
    if (this.#held) return this.#keys.forWriting();
    if (existsSync(this.location)) return this.#keys.forExistingStore();
    return this.#keys.forFingerprint();
  }

  /** The entry after `ops`, queued as one record. */
  #commit(key: string, ops: VersionOp[], meta: EntryMeta): { next: StoredEntry; durable: Promise<void> } {
    checkKey(key);
    this.#requireLock('apply');
    const latest = this.#log.latestHandle(key);
    const prev = latest === undefined ? undefined : (this.#known(key, latest) ?? this.#decode(key, this.#log.textOf(latest)));
    const next = applyOps(prev, ops, meta, isoTime(this.#now()), this.#where(key));
    return { next, durable: this.#log.commit({ type: 'entry', key, text: encodeEntry(key, next) }) };
  }

  #requireLock(what: string): void {
    if (!this.#held) {
      throw new KeyshiftError('ERR_INTERNAL', `${what} on store ${this.location} without holding its lock (this is a bug in keyshift)`);
    }
  }

  /** Bounded: a run advances at most a few hundred secrets of a store at once. */
  #remember(key: string, handle: EntryHandle, entry: StoredEntry): void {
    this.#written.delete(key);
    this.#written.set(key, { handle, entry });
    if (this.#written.size > WRITTEN_KEPT) this.#written.delete(this.#written.keys().next().value as string);
  }

  /** The entry a recent read or apply decoded from `handle`'s record, while that is still this key's newest. */
  #known(key: string, handle: EntryHandle): StoredEntry | undefined {
    const written = this.#written.get(key);
    return written?.handle === handle ? written.entry : undefined;
  }

  /** An authenticated record that does not decode was written by a bug (or another format). */
  #decode(key: string, text: string): StoredEntry {
    const entry = decodeEntry(text);
    if (!entry) throw corruptError(this.location, `the record of ${key} has an unknown layout`);
    return entry;
  }

  #versions(key: string, text: string): StoredVersion[] {
    const versions = decodeVersions(text);
    if (!versions) throw corruptError(this.location, `the record of ${key} has an unknown layout`);
    return versions;
  }

  #where(key: string): string {
    return `store ${this.location}, secret ${key}`;
  }
}

const WRITTEN_KEPT = 512;
/** Records a queueing writer may have waiting for a write, besides the batch being written. */
const QUEUED_MOST = 256;

function checkKey(key: unknown): void {
  if (typeof key !== 'string' || key.length === 0) throw new KeyshiftError('ERR_INTERNAL', 'a store key must be a non-empty string (this is a bug in keyshift)');
}
