import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import type { Document } from 'yaml';
import { KeyshiftError, errorMessage } from '../../errors.js';
import type { K8sSecretStoreSpec } from '../../policy/types.js';
import type { SecretValue } from '../../secret-value.js';
import type { EntryMeta, EvidenceDraft, LockOptions, RetiredVersion, SecretStore, Stage, StoreContext, StoreMeta } from '../contract.js';
import { LocalStoreState } from '../aws/state-dir.js';
import type { StoredEntry } from '../local/entry-codec.js';
import { fileStamp, readTextFile, removeStaleTemps, replaceFile } from '../file-store/atomic-file.js';
import { FileStore, toState, type Staged } from '../file-store/file-store.js';
import { commitManifest } from './git-commit.js';
import { findSecret, formatManifest, hasStringData, newSecret, parseManifest, readState, readValue, writeState, writeValue, type Manifest } from './manifest.js';

/**
 * The `k8s-secret` store (docs/stores/k8s-secret.md): a Secret manifest in a Git checkout.
 * `data.<KEY>` is CURRENT, `data.<KEY>_PENDING` and `data.<KEY>_PREVIOUS` the others; the state of
 * every key of a Secret is the JSON of its `keyshift.io/state` annotation. State and values live in
 * the same file, so one atomic file replacement carries both: an apply lands whole or not at all.
 * The lock, the store meta and the fingerprint key live in the state directory of this machine
 * (as for the AWS stores), so the checkout only ever shows the manifest changing.
 */

const SUFFIX: Record<Stage, string> = { CURRENT: '', PENDING: '_PENDING', PREVIOUS: '_PREVIOUS' };
const STAGES: Stage[] = ['CURRENT', 'PENDING', 'PREVIOUS'];
export const ADOPTED_VERSION = 'v-adopted';

/** What the annotation keeps per data key: the EntryState, no values. */
type KeyState = EntryMeta & { versions: Array<{ id: string; stages: Stage[]; createdAt: string }>; retired: RetiredVersion[] };

interface Loaded {
  manifest: Manifest;
  stamp: string | null;
  mtime: string;
  /** The parsed annotation of each Secret document (by document index). */
  states: Map<number, Record<string, KeyState>>;
  /** Each key's state as JSON text, so a write re-encodes only the keys it changed. */
  stateTexts: Map<number, Map<string, string>>;
  entries: Map<string, StoredEntry | null>;
}

export class K8sSecretStore extends FileStore implements SecretStore {
  readonly kind = 'k8s-secret';
  readonly #local: LocalStoreState;
  readonly #env: NodeJS.ProcessEnv;
  readonly #log: StoreContext['log'] | null;
  /** Per entry key: where the policy names it, and whether its changes are committed. */
  readonly #entrySpecs = new Map<string, { policyAt: string; gitCommit: boolean }>();
  #loaded: Loaded | null = null;

  constructor(spec: K8sSecretStoreSpec, context: StoreContext) {
    super(spec.path);
    this.#env = context.env;
    this.#log = context.log ?? null;
    this.#local = new LocalStoreState(context.env, this.kind, context.storeId);
    this.configureEntry(spec);
  }

  configureEntry(spec: K8sSecretStoreSpec): void {
    this.#entrySpecs.set(spec.key, { policyAt: `${spec.source.file}:${spec.source.line}:${spec.source.col}`, gitCommit: spec.gitCommit });
  }

  fingerprint(value: SecretValue): string {
    return this.#local.fingerprint(value.revealBytes());
  }

  protected acquireLock(options: LockOptions): Promise<{ release(): Promise<void> }> {
    return this.#local.lock(options, `store ${this.location}`);
  }

  protected async prepareUnderLock(): Promise<void> {
    await fs.mkdir(dirname(this.location), { recursive: true }); // a new manifest's directory
    await removeStaleTemps(this.location);
    // Build on what is on disk now: not locked yet, #load keeps its parse only if the stamp matches.
    await this.#load();
  }

  readMeta(): Promise<StoreMeta> {
    return this.#local.readMeta();
  }

  async writeMeta(meta: StoreMeta): Promise<void> {
    this.requireLock('writeMeta');
    await this.#local.writeMeta(meta);
  }

  protected forget(): void {
    this.#loaded = null; // the documents were edited in memory: read the file again
  }

  lockFile(): string {
    return this.#local.lockPath();
  }

  protected async entryInFile(key: string): Promise<StoredEntry | null> {
    const loaded = await this.#load();
    if (!loaded.entries.has(key)) loaded.entries.set(key, this.#resolve(loaded, key));
    return loaded.entries.get(key) ?? null;
  }

  async #load(): Promise<Loaded> {
    if (this.#loaded && (this.locked || (await fileStamp(this.location).catch(() => null)) === this.#loaded.stamp)) return this.#loaded;
    let file: Awaited<ReturnType<typeof readTextFile>>;
    try {
      file = await readTextFile(this.location);
    } catch (error) {
      throw new KeyshiftError('ERR_STORE_READ', `cannot read store ${this.location}: ${(error as NodeJS.ErrnoException).code ?? errorMessage(error)}`, {
        hint: 'check that the manifest and its directory are readable by the user running keyshift',
        cause: error,
      });
    }
    const mtime = file ? new Date((await fs.stat(this.location)).mtimeMs).toISOString() : new Date(0).toISOString();
    this.#loaded = { manifest: parseManifest(this.location, file?.text ?? ''), stamp: file?.stamp ?? null, mtime, states: new Map(), stateTexts: new Map(), entries: new Map() };
    return this.#loaded;
  }

  /** The Secret document of an entry key (`<name>/<dataKey>`); null when the file has none yet. */
  #secretIndex(loaded: Loaded, key: string): number | null {
    const name = key.slice(0, key.indexOf('/'));
    return findSecret(loaded.manifest, this.location, name, this.#entrySpecs.get(key)?.policyAt ?? 'the policy');
  }

  #states(loaded: Loaded, index: number): Record<string, KeyState> {
    let states = loaded.states.get(index);
    if (!states) {
      const text = readState(loaded.manifest.docs[index] as Document.Parsed);
      try {
        states = text ? (JSON.parse(text) as Record<string, KeyState>) : {};
        if (typeof states !== 'object' || states === null || Array.isArray(states)) throw new Error('not an object');
      } catch {
        throw new KeyshiftError('ERR_STORE_CORRUPT', `store ${this.location}: the ${'keyshift.io/state'} annotation is not keyshift's JSON`, {
          hint: 'restore the annotation from the Git history of the manifest (git log -p); keyshift changes nothing until then',
        });
      }
      loaded.states.set(index, states);
    }
    return states;
  }

  #resolve(loaded: Loaded, key: string): StoredEntry | null {
    const index = this.#secretIndex(loaded, key);
    if (index === null) return null;
    const doc = loaded.manifest.docs[index] as Document.Parsed;
    const dataKey = key.slice(key.indexOf('/') + 1);
    const state = this.#states(loaded, index)[dataKey];
    if (!state) {
      const current = readValue(doc, dataKey);
      if (current === null) return null;
      return { versions: [{ id: ADOPTED_VERSION, stages: ['CURRENT'], createdAt: loaded.mtime, value: current.toString('base64') }], retired: [], rotation: null, lastRotatedAt: null, pendingEvents: [] };
    }
    const versions = state.versions.map((v) => {
      const value = readValue(doc, dataKey + SUFFIX[v.stages[0] as Stage]);
      if (value === null) {
        throw new KeyshiftError('ERR_STORE_CORRUPT', `store ${this.location}: data.${dataKey + SUFFIX[v.stages[0] as Stage]} of ${key.split('/')[0]} is missing, but the keyshift.io/state annotation records version ${v.id} there`, {
          hint: 'restore the key from the Git history of the manifest (git log -p); keyshift changes nothing until then',
        });
      }
      return { id: v.id, stages: [...v.stages], createdAt: v.createdAt, value: value.toString('base64') };
    });
    return { versions, retired: structuredClone(state.retired), rotation: structuredClone(state.rotation), lastRotatedAt: state.lastRotatedAt, pendingEvents: structuredClone(state.pendingEvents) };
  }

  /** One write of everything staged: values and annotation in one file replacement. */
  protected async writeBatch(batch: Map<string, Staged>): Promise<void> {
    const loaded = await this.#load();
    const { manifest } = loaded;
    let commitWanted = false;
    const messages: string[] = [];
    const changedDocs = new Set<number>();
    for (const [key, { before, after }] of batch) {
      const dataKey = key.slice(key.indexOf('/') + 1);
      const index = this.#secretIndex(loaded, key) ?? newSecret(manifest, key.slice(0, key.indexOf('/')));
      const states = index < manifest.parsed ? this.#states(loaded, index) : (loaded.states.get(index) ?? {});
      loaded.states.set(index, states);
      for (const stage of STAGES) {
        const version = after.versions.find((v) => v.stages.includes(stage));
        const had = before?.versions.find((v) => v.stages.includes(stage));
        if (version && version.value === had?.value && !stringDataHas(manifest, index, dataKey + SUFFIX[stage])) continue;
        if (version || had) writeValue(manifest, index, dataKey + SUFFIX[stage], version ? Buffer.from(version.value, 'base64') : null);
      }
      states[dataKey] = toState(after);
      let texts = loaded.stateTexts.get(index);
      if (!texts) loaded.stateTexts.set(index, (texts = new Map(Object.entries(states).map(([k, v]) => [k, JSON.stringify(v)]))));
      texts.set(dataKey, JSON.stringify(states[dataKey]));
      changedDocs.add(index);
      if (this.#entrySpecs.get(key)?.gitCommit) {
        commitWanted = true;
        messages.push(commitLine(key, before, after));
      }
    }
    // A value that was in the Secret before keyshift is recorded on the first write, so its age stays
    // the file's modification time as first seen (later writes change that time).
    for (const key of this.#entrySpecs.keys()) {
      if (batch.has(key) || loaded.entries.get(key)?.versions[0]?.id !== ADOPTED_VERSION) continue;
      const index = this.#secretIndex(loaded, key) as number;
      const states = this.#states(loaded, index);
      const dataKey = key.slice(key.indexOf('/') + 1);
      if (states[dataKey]) continue;
      states[dataKey] = toState(loaded.entries.get(key) as StoredEntry);
      let texts = loaded.stateTexts.get(index);
      if (!texts) loaded.stateTexts.set(index, (texts = new Map(Object.entries(states).map(([k, v]) => [k, JSON.stringify(v)]))));
      texts.set(dataKey, JSON.stringify(states[dataKey]));
      changedDocs.add(index);
    }
    for (const index of changedDocs) {
      const texts = loaded.stateTexts.get(index) as Map<string, string>;
      writeState(manifest, index, `{${[...texts].map(([k, text]) => `${JSON.stringify(k)}:${text}`).join(',')}}`);
    }
    try {
      await replaceFile(this.location, formatManifest(manifest));
    } catch (error) {
      throw new KeyshiftError('ERR_STORE_WRITE', `cannot write store ${this.location}: ${(error as NodeJS.ErrnoException).code ?? errorMessage(error)}`, {
        hint: 'the manifest holds its state from before this write; fix the cause (disk full, permissions) and rerun',
        retryable: true,
        cause: error,
      });
    }
    loaded.stamp = await fileStamp(this.location);
    for (const [key, { after }] of batch) loaded.entries.set(key, after);
    if (commitWanted) {
      const subject = messages.length === 1 ? `keyshift: ${messages[0]}` : `keyshift: ${messages.length} secrets changed`;
      // The change is on disk and the rotation goes on: a failed commit is reported, and the next
      // commit of this file carries the change (git commits the file as it is then).
      await commitManifest(this.location, messages.length === 1 ? subject : `${subject}\n\n${messages.join('\n')}\n`, this.#env).catch((error: unknown) =>
        this.#log?.error({ store: this.location, err: errorMessage(error), hint: (error as KeyshiftError).hint }, 'could not commit the manifest'),
      );
    }
  }

  protected where(key: string): string {
    return `store ${this.location}, secret ${key}`;
  }
}

function stringDataHas(manifest: Manifest, index: number, key: string): boolean {
  const doc = manifest.docs[index] as Document.Parsed | undefined;
  return doc ? hasStringData(doc, key) : false;
}

/** `secrets-service-config/AES_KEY: issued, switched (rotation r-…)` — names and ids, never a value. */
function commitLine(key: string, before: StoredEntry | null, after: StoredEntry): string {
  const seen = new Set((before?.pendingEvents ?? []).map(draftId));
  const fresh = after.pendingEvents.filter((d) => !seen.has(draftId(d)));
  const events = [...new Set(fresh.map((d) => d.event))];
  const rotation = after.rotation?.rotationId ?? fresh[0]?.rotationId ?? null;
  return `${key}: ${events.length > 0 ? events.join(', ') : 'state updated'}${rotation ? ` (rotation ${rotation})` : ''}`;
}

function draftId(draft: EvidenceDraft): string {
  return `${draft.event}|${draft.rotationId ?? ''}|${draft.runId}|${draft.at}`;
}
