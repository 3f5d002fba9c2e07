// `keyshift doctor` on a plugin store (docs/plugins.md), in-process: a store of the user's own
// (in memory, no lock file) whose entry or entry list cannot be read, whose own diagnose brings a
// repair (store-ops: applied under its lock by --fix, with its repaired record and the anchor), and
// whose lock or write refuses. src/engine/doctor/store.ts and repair.ts through src/stores/plugin.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { doctorProject, secret, lockText, DEAD_PID } from '../helpers/doctor-project.js';

const DAY = 86_400_000;

describe('a store of a plugin: reads that fail one by one', () => {
  // A plugin store (docs/plugins.md) kept in memory: `db` reads fine, `broken` fails to read, and
  // listKeys fails when the spec says so. It has no lock file and no diagnose of its own.
  const PLUGIN = `export default function createStore(spec) {
  const state = { versions: [{ id: 'v1', stages: ['CURRENT'], createdAt: '2026-11-01T10:00:00.000Z' }], retired: [], rotation: null, lastRotatedAt: '2026-11-01T10:00:00.000Z', pendingEvents: [] };
  const fail = (code, message) => Object.assign(new Error(message), { code });
  return {
    kind: 'memory', location: 'memory ' + spec.name,
    async read(key) { if (key === 'broken') throw fail('ERR_STORE_UNAVAILABLE', 'memory: entry broken is unreachable'); return key === 'db' ? state : null; },
    async readValue() { throw new Error('not used'); },
    fingerprint() { return 'hmac-sha256:' + '0'.repeat(64); },
    async lock() { return { release: async () => undefined }; },
    async apply() { throw new Error('not used'); },
    async readMeta() { if (spec.metaFails) throw fail('ERR_STORE_ACCESS_DENIED', 'memory: meta denied'); return { evidenceAnchors: {}, confirmedRuns: [] }; },
    async writeMeta() {},
    async close() {},
    ...(spec.listFails ? { async listKeys() { throw new Error('listing refused'); } } : {}),
  };
}
`;
  const store = (extra = '') => `{ type: plugin, module: ./memory.js, name: m${extra} }`;
  const pluginSecret = (name, extra) => `  - name: ${name}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: dev\n        store: ${store(extra)}\n`;

  it('one entry that cannot be read is a store-error on its secret; the others of the store are judged', async (t) => {
    const p = await doctorProject(t, [secret('api')]);
    writeFileSync(join(p.dir, 'memory.js'), PLUGIN);
    await p.rewrite([pluginSecret('broken'), pluginSecret('db'), pluginSecret('fresh')]);
    p.later(31 * DAY);
    const report = await p.doctor();
    assert.equal(report.exitCode, 1);
    assert.deepEqual(report.findings.map((f) => [f.check, f.secret, f.environment, f.store]), [
      ['store-error', 'broken', 'dev', 'memory m'],
      ['overdue', 'db', 'dev', 'memory m'],
      ['overdue', 'fresh', 'dev', 'memory m'],
    ]);
    assert.deepEqual(report.findings[0].error, { code: 'ERR_STORE_UNAVAILABLE', message: 'memory: entry broken is unreachable', hint: 'rerun later to resume: every step is safe to repeat' });
    assert.equal(report.findings[2].message, 'fresh/dev is not provisioned yet (no CURRENT version)');
  });

  it('a store whose own meta cannot be read: one store-error for the store, its entries not read', async (t) => {
    const p = await doctorProject(t, [secret('api')]);
    writeFileSync(join(p.dir, 'memory.js'), PLUGIN);
    await p.rewrite([pluginSecret('db', ', metaFails: true'), secret('api')]);
    p.later(31 * DAY);
    const report = await p.doctor();
    assert.equal(report.exitCode, 1);
    assert.deepEqual(report.findings.map((f) => [f.check, f.secret, f.store, f.message]), [['store-error', null, 'memory m', 'memory: meta denied'], ['overdue', 'api', join(p.dir, 'stores', 'dev.store'), report.findings[1].message]]);
    assert.deepEqual(report.findings[0].error, { code: 'ERR_STORE_ACCESS_DENIED', message: 'memory: meta denied', hint: 'give the identity keyshift runs as access to this store, then rerun: a rerun resumes where this run stopped' });
  });

  it('a store whose entry list cannot be read: one store-error for the store, nothing else of it', async (t) => {
    const p = await doctorProject(t, [secret('api')]);
    writeFileSync(join(p.dir, 'memory.js'), PLUGIN);
    await p.rewrite([secret('api'), pluginSecret('db', ', listFails: true')]);
    p.later(31 * DAY);
    const report = await p.doctor();
    assert.deepEqual(report.findings.map((f) => [f.check, f.secret, f.store]), [['overdue', 'api', join(p.dir, 'stores', 'dev.store')], ['store-error', null, 'memory m']]);
    assert.equal(report.findings[1].error.code, 'ERR_PLUGIN_FAILED');
    assert.match(report.findings[1].message, /listing refused/);
  });
});

describe('a plugin store\'s own repair (store-ops), and what its lock or write refuses', () => {
  // An in-memory store (docs/plugins.md): `db` holds CURRENT v1 and a PENDING x9 that its own
  // diagnose calls foreign and repairs by retiring x9. `fail` in the spec makes lock or apply refuse.
  const PLUGIN = `const at = '2026-11-01T10:00:00.000Z';
export default function createStore(spec) {
  const entry = { versions: [{ id: 'v1', stages: ['CURRENT'], createdAt: at }, { id: 'x9', stages: ['PENDING'], createdAt: at }], retired: [], rotation: null, lastRotatedAt: at, pendingEvents: [] };
  let meta = { evidenceAnchors: {}, confirmedRuns: [] };
  globalThis.memoryStore = { entry, meta: () => meta };
  return {
    kind: 'memory', location: 'memory ' + spec.name,
    async read(key) { return key === 'db' ? structuredClone(entry) : null; },
    async diagnose(key) {
      if (key !== 'db' || !entry.versions.some((v) => v.id === 'x9')) return [];
      return [{ check: 'foreign-pending', severity: 'error', message: 'x9 is not keyshift\\'s', hint: 'remove x9', repair: { ops: [{ type: 'retire', versionId: 'x9' }], action: 'retired x9 of db', versionId: 'x9' } }];
    },
    async readValue() { throw new Error('not used'); },
    fingerprint() { return 'hmac-sha256:' + '0'.repeat(64); },
    async lock(options) {
      globalThis.memoryStore.lockedWith = options;
      if (spec.fail === 'locked') throw Object.assign(new Error('memory m is locked by another run'), { code: 'ERR_LOCKED', exitCode: 3 });
      if (spec.fail === 'lock') throw new Error('the lock service is down');
      return { release: async () => undefined };
    },
    async apply(key, ops, next) {
      if (spec.fail === 'apply') throw new Error('write refused');
      for (const op of ops) if (op.type === 'retire') entry.versions = entry.versions.filter((v) => v.id !== op.versionId);
      Object.assign(entry, next);
      return structuredClone(entry);
    },
    async readMeta() { return structuredClone(meta); },
    async writeMeta(next) { meta = structuredClone(next); },
    async close() {},
  };
}
`;
  const pluginSecret = (fail = '') => `  - name: db\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: dev\n        store: { type: plugin, module: ./memory.js, name: m${fail ? `, fail: ${fail}` : ''} }\n`;
  const project = async (t, fail) => {
    const p = await doctorProject(t, [secret('api')]);
    writeFileSync(join(p.dir, 'memory.js'), PLUGIN);
    await p.rewrite([pluginSecret(fail)]);
    return p;
  };

  it('--fix applies the store\'s ops under its lock, records them, and anchors the store', async (t) => {
    const p = await project(t);
    const report = await p.doctor({ fix: true });
    assert.equal(report.exitCode, 0, JSON.stringify(report.findings));
    assert.deepEqual(report.findings.map((f) => [f.check, f.secret, f.store, f.message, f.hint, f.fixable, f.fixed]), [['foreign-pending', 'db', 'memory m', 'x9 is not keyshift\'s', 'remove x9', true, true]]);
    const { entry, meta } = globalThis.memoryStore;
    assert.deepEqual(entry.versions.map((v) => v.id), ['v1']);
    const events = p.evidence();
    const record = events.at(-1);
    assert.deepEqual([record.event, record.secret, record.environment, record.store, record.rotationId, record.fromVersion, record.toVersion, record.reason], ['repaired', 'db', 'dev', 'plugin', null, 'x9', null, 'doctor --fix']);
    assert.deepEqual(record.checks, [{ check: 'foreign-pending', action: 'retired x9 of db' }]);
    assert.deepEqual(entry.pendingEvents.map((d) => [d.event, d.fromVersion]), [['repaired', 'x9']], 'announced in the same write as the ops');
    assert.deepEqual(Object.values(meta().evidenceAnchors).map((a) => a.seq), [record.seq]);
    assert.deepEqual(meta().confirmedRuns, [record.runId]);
    assert.deepEqual(globalThis.memoryStore.lockedWith, { waitMs: 200, owner: `keyshift doctor --fix (tester, ${record.runId})` }, 'locked as rotate locks it, naming doctor');
  });

  it('a write the store refuses: the finding says the repair failed, nothing recorded (exit 1)', async (t) => {
    const p = await project(t, 'apply');
    const before = readFileSync(join(p.dir, 'evidence', 'evidence.jsonl'), 'utf8');
    const report = await p.doctor({ fix: true });
    assert.equal(report.exitCode, 1);
    assert.deepEqual(report.findings.map((f) => [f.check, f.fixed, f.message]), [['foreign-pending', false, 'x9 is not keyshift\'s; the repair failed: plugin store memory m: write refused']]);
    assert.equal(readFileSync(join(p.dir, 'evidence', 'evidence.jsonl'), 'utf8'), before);
    assert.deepEqual(globalThis.memoryStore.meta(), { evidenceAnchors: {}, confirmedRuns: [] }, 'nothing written: not anchored');
  });

  it('a store locked by another run: a locked finding with the default hint (exit 3); any other lock error is thrown', async (t) => {
    const p = await project(t, 'locked');
    const report = await p.doctor({ fix: true });
    assert.equal(report.exitCode, 3);
    assert.deepEqual(report.findings.map((f) => [f.check, f.store, f.fixed, f.message, f.hint]), [
      ['foreign-pending', 'memory m', false, 'x9 is not keyshift\'s', 'remove x9'],
      ['locked', 'memory m', false, 'memory m is locked by another run: nothing was repaired in this store', 'wait for that run to finish, then rerun keyshift doctor --fix'],
    ]);
    const q = await project(t, 'lock');
    await assert.rejects(q.doctor({ fix: true }), { code: 'ERR_PLUGIN_FAILED', message: 'plugin store memory m: the lock service is down' });
  });

  it('a dead lock another run takes over between doctor\'s look and its repair: left, and the finding says so (exit 1)', async (t) => {
    // The store's lock file names a dead pid; while doctor reads the store, a live run takes the lock over.
    const TAKEOVER = `import { hostname } from 'node:os';
import { writeFileSync } from 'node:fs';
export default function createStore(spec) {
  const path = spec.lockPath;
  return {
    kind: 'memory', location: 'memory ' + spec.name,
    lockFile: () => path,
    async read() {
      writeFileSync(path, JSON.stringify({ pid: process.pid, host: hostname(), owner: 'keyshift rotate (other)', token: 'live', acquiredAt: '2026-11-01T10:00:00.000Z' }));
      return null;
    },
    async readValue() { throw new Error('not used'); },
    fingerprint() { return 'hmac-sha256:' + '0'.repeat(64); },
    async lock() { throw new Error('not used'); },
    async apply() { throw new Error('not used'); },
    async readMeta() { return { evidenceAnchors: {}, confirmedRuns: [] }; },
    async writeMeta() {},
    async close() {},
  };
}
`;
    const p = await doctorProject(t, [secret('api')]);
    const path = join(p.dir, 'memory.lock');
    writeFileSync(join(p.dir, 'memory.js'), TAKEOVER);
    writeFileSync(path, lockText(DEAD_PID));
    await p.rewrite([`  - name: db\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: dev\n        store: { type: plugin, module: ./memory.js, name: m, lockPath: ${path} }\n`]);
    const before = readFileSync(join(p.dir, 'evidence', 'evidence.jsonl'), 'utf8');
    const report = await p.doctor({ fix: true });
    assert.equal(report.exitCode, 1);
    assert.deepEqual(report.findings.map((f) => [f.check, f.store, f.fixed]), [['dead-lock', 'memory m', false], ['overdue', 'memory m', false]]);
    assert.ok(report.findings[0].message.endsWith(`process ${DEAD_PID} on this host is not running; not removed: a live run holds it now`), report.findings[0].message);
    assert.match(readFileSync(path, 'utf8'), /keyshift rotate \(other\)/, 'the live run keeps its lock');
    assert.equal(readFileSync(join(p.dir, 'evidence', 'evidence.jsonl'), 'utf8'), before, 'nothing repaired, nothing recorded');
  });
});
