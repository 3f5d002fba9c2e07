// An example plugin store (docs/plugins.md): every secret of one store in one JSON file, written
// atomically (temp file, fsync, rename) with mode 0600. Values are kept base64-encoded, NOT
// encrypted: this is a teaching example of the contract, not a place for production keys.
//   store: { type: plugin, module: ./examples/json-file-store/index.js, path: .keyshift/dev.json }
import { createHmac, randomBytes } from 'node:crypto';
import { open, readFile, rename, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { SecretValue, acquireFileLock, emptyStoreMeta, storeErrors } from 'keyshift/store';

export default function createStore(spec) {
  if (typeof spec.path !== 'string' || spec.path === '') throw new Error('needs path: the JSON file, e.g. path: .keyshift/dev.json');
  return new JsonFileStore(resolve(spec.path));
}

class JsonFileStore {
  kind = 'json-file';
  // The engine applies to several secrets at once: each change of the file waits for the last.
  #queue = Promise.resolve();
  // One `apply` is one rename: all of its ops land or none.
  capabilities = { atomicApply: true };

  constructor(path) {
    this.path = path;
    this.location = path;
  }

  async read(key) {
    const entry = (await this.#load()).entries[key];
    return entry ? withoutValues(entry) : null;
  }

  async readValue(key, versionId) {
    const version = (await this.#load()).entries[key]?.versions.find((v) => v.id === versionId);
    if (!version) throw storeErrors.versionNotFound(`${key}: version ${versionId} is not in ${this.path}`);
    return SecretValue.fromBytes(Buffer.from(version.value, 'base64'));
  }

  fingerprint(value) {
    // Keyed: the key is made once per file (a bare hash would let a weak value be guessed).
    if (!this.fingerprintKey) throw new Error('fingerprint before the first read or write of the store');
    return `hmac-sha256:${createHmac('sha256', Buffer.from(this.fingerprintKey, 'base64')).update(value.revealBytes()).digest('hex')}`;
  }

  async lock({ waitMs, owner }) {
    await mkdir(dirname(this.path), { recursive: true });
    return acquireFileLock(`${this.path}.lock`, { waitMs, owner, what: `store ${this.path}` });
  }

  /** For `keyshift doctor`: the lock file a dead run may have left. */
  lockFile() {
    return `${this.path}.lock`;
  }

  apply(key, ops, meta) {
    return this.#exclusive(async () => {
      const file = await this.#load();
      const entry = structuredClone(file.entries[key] ?? { versions: [], retired: [] });
      const now = new Date().toISOString();
      for (const op of ops) applyOp(entry, op, now, key); // throws before anything is written
      Object.assign(entry, { rotation: meta.rotation, lastRotatedAt: meta.lastRotatedAt, pendingEvents: meta.pendingEvents });
      file.entries[key] = entry;
      await this.#save(file);
      return withoutValues(entry);
    });
  }

  async readMeta() {
    return (await this.#load()).meta;
  }

  writeMeta(meta) {
    return this.#exclusive(async () => {
      const file = await this.#load();
      file.meta = meta;
      await this.#save(file);
    });
  }

  #exclusive(change) {
    const run = this.#queue.then(change);
    this.#queue = run.catch(() => {});
    return run;
  }

  async close() {}

  async #load() {
    let file;
    try {
      file = JSON.parse(await readFile(this.path, 'utf8'));
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
      file = { fingerprintKey: randomBytes(32).toString('base64'), entries: {}, meta: emptyStoreMeta() };
    }
    this.fingerprintKey ??= file.fingerprintKey;
    return file;
  }

  async #save(file) {
    await mkdir(dirname(this.path), { recursive: true });
    const temp = `${this.path}.${process.pid}.tmp`;
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(file));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, this.path);
  }
}

// The contract's version ops (keyshift/store VersionOp), each idempotent.
function applyOp(entry, op, now, key) {
  const find = (id) => entry.versions.find((v) => v.id === id);
  const holder = (stage) => entry.versions.find((v) => v.stages.includes(stage));
  if (op.type === 'create') {
    if (find(op.versionId)) return;
    if (op.stage === 'CURRENT' && holder('CURRENT')) throw storeErrors.refused(`${key} has a CURRENT version; a second one cannot be created`);
    entry.versions.push({ id: op.versionId, stages: [op.stage], createdAt: now, value: op.value.revealBytes().toString('base64') });
  } else if (op.type === 'promote') {
    const version = find(op.versionId);
    if (!version) throw storeErrors.versionNotFound(`${key}: cannot promote ${op.versionId}, it does not exist`);
    if (version.stages.includes('CURRENT')) return;
    const previous = holder('PREVIOUS');
    if (previous && previous !== version) retire(entry, previous, now);
    const current = holder('CURRENT');
    if (current) current.stages = ['PREVIOUS'];
    version.stages = ['CURRENT'];
  } else if (op.type === 'retire') {
    const version = find(op.versionId);
    if (!version) return;
    if (version.stages.includes('CURRENT')) throw storeErrors.refused(`${key}: the CURRENT version ${op.versionId} cannot be retired`);
    retire(entry, version, now);
  } else {
    throw storeErrors.refused(`${key}: ${op.type} is not supported by this store`);
  }
}

function retire(entry, version, now) {
  entry.versions = entry.versions.filter((v) => v !== version);
  entry.retired = [...entry.retired, { id: version.id, retiredAt: now }].slice(-5);
}

function withoutValues(entry) {
  return {
    versions: entry.versions.map(({ id, stages, createdAt }) => ({ id, stages: [...stages], createdAt })),
    retired: entry.retired.map((r) => ({ ...r })),
    rotation: entry.rotation ?? null,
    lastRotatedAt: entry.lastRotatedAt ?? null,
    pendingEvents: entry.pendingEvents ?? [],
  };
}
