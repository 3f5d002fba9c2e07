import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { KeyshiftError, errorMessage } from '../../errors.js';
import type { DotenvStoreSpec } from '../../policy/types.js';
import type { SecretValue } from '../../secret-value.js';
import { acquireFileLock } from '../../util/file-lock.js';
import type { LockOptions, SecretStore, Stage, StoreContext, StoreMeta } from '../contract.js';
import { LocalStoreState } from '../aws/state-dir.js';
import type { StoredEntry } from '../local/entry-codec.js';
import { fileStamp, readTextFile, removeStaleTemps, replaceFile } from '../file-store/atomic-file.js';
import { FileStore, type Staged } from '../file-store/file-store.js';
import { formatEnvFile, parseEnvFile, quoteValue, type EnvFile } from './env-lines.js';
import { resolveEntry, SUFFIX, toSidecarState, writeEntryLines } from './entry-state.js';
import { emptySidecar, formatSidecar, parseSidecar, type Sidecar } from './sidecar.js';

/**
 * The `dotenv` store (docs/stores/dotenv.md): CURRENT in `NAME=`, PENDING in `NAME_PENDING=`,
 * PREVIOUS in `NAME_PREVIOUS=`; keyshift's state in the sidecar `<path>.keyshift.json`.
 *
 * Crash safety with two files: each write replaces the sidecar first, then the .env file (each
 * atomically). The sidecar keeps, for every variable the write changed, the new state and the one
 * before it, each version with a keyed check of its value. A reader takes whichever of the two the
 * .env lines match: a crash between the writes leaves the old .env, so the old state is in effect
 * and the apply simply did not happen (no value was ever announced). The whole apply is atomic.
 */


interface Loaded {
  env: EnvFile;
  sidecar: Sidecar;
  /** Each sidecar entry as JSON text, so a write re-encodes only the entries it changed. */
  entryText: Map<string, string>;
  envStamp: string | null;
  sidecarStamp: string | null;
  envMtime: string;
  /** Resolved entries (with values), filled as they are read. */
  entries: Map<string, StoredEntry | null>;
}

/** Sidecar and .env lines of one apply land together or not at all (see above). */
export class DotenvStore extends FileStore implements SecretStore {
  readonly kind = 'dotenv';
  readonly sidecarPath: string;
  readonly #local: LocalStoreState;
  #loaded: Loaded | null = null;
  #stagedMeta: StoreMeta | null = null;
  /** Variables whose sidecar entry still carries a prior state (the last write's). */
  #priorKeys: string[] = [];
  /** Variables the policies keep here (configureEntry), adopted into the sidecar on the first write. */
  readonly #managed = new Set<string>();

  constructor(spec: DotenvStoreSpec, context: StoreContext) {
    super(spec.path);
    this.sidecarPath = `${spec.path}.keyshift.json`;
    this.#managed.add(spec.key);
    this.#local = new LocalStoreState(context.env, this.kind, context.storeId);
  }

  configureEntry(spec: DotenvStoreSpec): void {
    this.#managed.add(spec.key);
  }

  fingerprint(value: SecretValue): string {
    return this.#local.fingerprint(value.revealBytes());
  }

  protected async acquireLock(options: LockOptions): Promise<{ release(): Promise<void> }> {
    await fs.mkdir(dirname(this.location), { recursive: true });
    return acquireFileLock(this.lockFile(), { waitMs: options.waitMs, owner: options.owner, what: `store ${this.location}` });
  }

  protected async prepareUnderLock(): Promise<void> {
    try {
      await removeStaleTemps(this.location);
      await removeStaleTemps(this.sidecarPath);
      // Build on what is on disk now: not locked yet, #load keeps its parse only if both stamps match.
      await this.#load();
    } catch (error) {
      throw readError(this.location, error);
    }
  }

  protected override checkWritable(key: string, entry: StoredEntry): void {
    for (const version of entry.versions) this.#quoted(key, version.stages[0] as Stage, version.value);
  }

  async readMeta(): Promise<StoreMeta> {
    return structuredClone(this.#stagedMeta ?? (await this.#load()).sidecar.meta);
  }

  async writeMeta(meta: StoreMeta): Promise<void> {
    this.requireLock('writeMeta');
    this.#stagedMeta = structuredClone(meta);
    await this.written();
  }

  protected forget(): void {
    this.#stagedMeta = null;
    this.#loaded = null;
    this.#priorKeys = [];
  }

  async listKeys(): Promise<string[]> {
    return Object.keys((await this.#load()).sidecar.entries);
  }

  lockFile(): string {
    return `${this.location}.lock`;
  }

  protected async entryInFile(key: string): Promise<StoredEntry | null> {
    const loaded = await this.#load();
    if (!loaded.entries.has(key)) loaded.entries.set(key, this.#resolve(loaded, key));
    return loaded.entries.get(key) ?? null;
  }

  /** The parsed files; re-read when another process replaced them (never while we hold the lock). */
  async #load(): Promise<Loaded> {
    if (this.#loaded && this.locked) return this.#loaded;
    try {
      if (this.#loaded) {
        const [envStamp, sidecarStamp] = await Promise.all([fileStamp(this.location), fileStamp(this.sidecarPath)]);
        if (envStamp === this.#loaded.envStamp && sidecarStamp === this.#loaded.sidecarStamp) return this.#loaded;
      }
      // The sidecar, then the .env file, then the sidecar's stamp again: a writer replaces the sidecar
      // first, so an unchanged stamp means the .env read belongs to this sidecar or the one before.
      let sidecarFile = await readTextFile(this.sidecarPath);
      let envFile = await readTextFile(this.location);
      for (let attempt = 0; attempt < 20 && (await fileStamp(this.sidecarPath)) !== (sidecarFile?.stamp ?? null); attempt++) {
        sidecarFile = await readTextFile(this.sidecarPath);
        envFile = await readTextFile(this.location);
      }
      const sidecar = sidecarFile ? parseSidecar(sidecarFile.text) : emptySidecar();
      if (typeof sidecar === 'string') throw damaged(this.sidecarPath, sidecar);
      const env = parseEnvFile(envFile?.text ?? '');
      const envMtime = envFile ? new Date((await fs.stat(this.location)).mtimeMs).toISOString() : new Date(0).toISOString();
      const entryText = new Map(Object.entries(sidecar.entries).map(([key, entry]) => [key, JSON.stringify(entry)]));
      this.#loaded = { env, sidecar, entryText, envStamp: envFile?.stamp ?? null, sidecarStamp: sidecarFile?.stamp ?? null, envMtime, entries: new Map() };
      return this.#loaded;
    } catch (error) {
      throw readError(this.location, error);
    }
  }

  /** Which recorded state the .env lines hold (see the class comment); the adopted value when there is none. */
  #resolve(loaded: Loaded, key: string): StoredEntry | null {
    const entry = resolveEntry(loaded.env, loaded.sidecar, key, loaded.envMtime);
    if (entry !== 'mismatch') return entry;
    throw new KeyshiftError('ERR_STORE_CORRUPT', `store ${this.location}: the lines of ${key} do not hold the values keyshift recorded in ${this.sidecarPath} (edited by hand?)`, {
      hint: `put the values back from a backup; or, to take the file's ${key}= as the current value, remove "${key}" from the entries of ${this.sidecarPath}`,
    });
  }

  /** One write of everything staged: the sidecar, then the .env file (the order the class comment
   * explains). The model is changed in place; a failed write makes the next access read the files. */
  protected async writeBatch(batch: Map<string, Staged>): Promise<void> {
    const meta = this.#stagedMeta;
    this.#stagedMeta = null;
    const loaded = await this.#load();
    const { sidecar, env } = loaded;
    if (meta) sidecar.meta = meta;
    // The last write's .env landed before this one started: its variables need no prior state any more.
    for (const key of this.#priorKeys) {
      const entry = sidecar.entries[key];
      if (!entry || entry.prior === null || batch.has(key)) continue;
      sidecar.entries[key] = { state: entry.state, prior: null };
      loaded.entryText.set(key, JSON.stringify(sidecar.entries[key]));
    }
    // A value that was in the file before keyshift is recorded on the first write, so its age stays
    // the file's modification time as first seen (later writes change that time).
    for (const key of this.#managed) {
      if (sidecar.entries[key] || batch.has(key)) continue;
      const adopted = this.#resolve(loaded, key);
      if (!adopted) continue;
      sidecar.entries[key] = { state: toSidecarState(sidecar.checkKey, adopted), prior: null };
      loaded.entryText.set(key, JSON.stringify(sidecar.entries[key]));
    }
    let envChanged = false;
    for (const [key, { before, after }] of batch) {
      const entry = { state: toSidecarState(sidecar.checkKey, after), prior: before ? toSidecarState(sidecar.checkKey, before) : null };
      sidecar.entries[key] = entry;
      loaded.entryText.set(key, JSON.stringify(entry));
      envChanged = writeEntryLines(env, key, before, after, (stage, value) => this.#quoted(key, stage, value)) || envChanged;
    }
    try {
      await replaceFile(this.sidecarPath, formatSidecar(sidecar, loaded.entryText));
      if (envChanged) await replaceFile(this.location, formatEnvFile(env));
    } catch (error) {
      throw writeError(this.location, error);
    }
    [loaded.envStamp, loaded.sidecarStamp] = await Promise.all([fileStamp(this.location), fileStamp(this.sidecarPath)]);
    for (const [key, { after }] of batch) loaded.entries.set(key, after);
    this.#priorKeys = [...batch.keys()];
  }

  #quoted(key: string, stage: Stage, base64: string): string {
    const bytes = Buffer.from(base64, 'base64');
    const text = bytes.toString('utf8');
    const quoted = Buffer.from(text, 'utf8').equals(bytes) ? quoteValue(text) : { error: 'it is not UTF-8 text' };
    if ('text' in quoted) return quoted.text;
    throw new KeyshiftError('ERR_STORE_REFUSED', `store ${this.location}: the value for ${key + SUFFIX[stage]} cannot be written on one .env line: ${quoted.error}`, {
      hint: 'nothing was written; use a generator whose values are one line of text (random bytes as base64 or hex, or a password)',
    });
  }

  protected where(key: string): string {
    return `store ${this.location}, variable ${key}`;
  }
}

function damaged(path: string, detail: string): KeyshiftError {
  return new KeyshiftError('ERR_STORE_CORRUPT', `store state ${path} is damaged: ${detail}`, {
    hint: `restore ${path} from a backup; if it is lost, move it away: keyshift then takes each variable's current value as it is (rotation history is lost, no value is)`,
  });
}

function readError(path: string, error: unknown): unknown {
  if (error instanceof KeyshiftError) return error;
  return new KeyshiftError('ERR_STORE_READ', `cannot read store ${path}: ${(error as NodeJS.ErrnoException).code ?? errorMessage(error)}`, {
    hint: 'check that the file, its sidecar and their directory are readable by the user running keyshift',
    cause: error,
  });
}

function writeError(path: string, error: unknown): unknown {
  if (error instanceof KeyshiftError) return error;
  return new KeyshiftError('ERR_STORE_WRITE', `cannot write store ${path}: ${(error as NodeJS.ErrnoException).code ?? errorMessage(error)}`, {
    hint: 'the store holds its state from before this write; fix the cause (disk full, permissions) and rerun',
    retryable: true,
    cause: error,
  });
}
