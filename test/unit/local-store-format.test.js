// Store formats: a format-1 store (written by keyshift before the compact records) is read as it
// is and rewritten in the current format by its first write; drafts of any shape round-trip.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalStore } from '../../dist/stores/local/index.js';
import { buildHeader, encodeRecord, FORMAT_VERSION } from '../../dist/stores/local/file-format.js';
import { deriveKeys } from '../../dist/stores/local/master-key.js';
import { encodeEntry, encodeMeta } from '../../dist/stores/local/entry-codec.js';
import { SecretValue } from '../../dist/secret-value.js';

const LOCK = { waitMs: 2_000, owner: 'format-test' };

function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-format-'));
  return { dir, path: join(dir, 'dev.store'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const draft = (event, extra = {}) => ({
  event, rotationId: 'r-1', secret: 'api', environment: 'dev', store: 'local', fromVersion: 'v1', toVersion: 'v2',
  fingerprint: 'hmac-sha256:00', at: '2026-01-01T00:00:00.000Z', operator: 'me', reason: 'scheduled', ticket: null,
  emergency: false, checks: [], runId: 'run-1', ...extra,
});

/**
 * A store written by keyshift itself while format 1 was current (commit be18e84^, by
 * test/fixtures/make-format-1-store.mjs.txt), committed with its master key: what a user upgrading
 * has on disk, not what today's encoder thinks format 1 was. Copied, as reading must not change it.
 */
function copyFormat1Store(path) {
  const fixture = new URL('../fixtures/format-1.store', import.meta.url);
  copyFileSync(fixture, path);
  chmodSync(path, 0o600);
  return readFileSync(new URL('../fixtures/format-1.store.key', import.meta.url), 'utf8').trim();
}

/** A store as keyshift wrote it in format 2: compact records, AAD without the tag chain, no name. */
function writeFormat2Store(path, masterKey, storeId) {
  const keys = deriveKeys(Buffer.from(masterKey, 'base64'), 'test');
  const header = buildHeader({ storeId, generation: 4, createdAt: '2026-01-01T00:00:00.000Z' }, keys, 2);
  const value = (text) => Buffer.from(text).toString('base64');
  const entry = (versions) => encodeEntry('api', { versions, retired: [], rotation: null, lastRotatedAt: null, pendingEvents: [draft('switched')] });
  const records = [
    entry([{ id: 'v1', stages: ['CURRENT'], createdAt: 't0', value: value('old') }]),
    encodeMeta({ evidenceAnchors: {}, confirmedRuns: ['run-0'] }),
    entry([{ id: 'v1', stages: ['PREVIOUS'], createdAt: 't0', value: value('old') }, { id: 'v2', stages: ['CURRENT'], createdAt: 't1', value: value('new') }]),
  ];
  const frames = records.map((text, index) => encodeRecord(keys, header.digest, index, text, null));
  writeFileSync(path, Buffer.concat([header.bytes, ...frames]), { mode: 0o600 });
}

const headerJson = (path) => JSON.parse(readFileSync(path).subarray(12, 12 + readFileSync(path).readUInt32BE(8)).toString('utf8'));

const headerFormat = (path) => JSON.parse(readFileSync(path).subarray(12, 12 + readFileSync(path).readUInt32BE(8)).toString('utf8')).format;

describe('local store formats', () => {
  it('reads a format-1 store without changing it, and its first write rewrites it in the current format', async () => {
    const t = tempDir();
    try {
      const env = { KEYSHIFT_MASTER_KEY: copyFormat1Store(t.path) };
      const before = readFileSync(t.path);
      assert.equal(headerFormat(t.path), 1, 'the fixture is a format-1 store');
      const reader = openLocalStore({ path: t.path }, env);
      const state = await reader.read('api');
      assert.deepEqual(state.versions.map((v) => [v.id, v.stages]), [['v1', ['PREVIOUS']], ['v2', ['CURRENT']]]);
      assert.deepEqual(state.retired.map((r) => r.id), ['v0']);
      assert.ok(!Number.isNaN(Date.parse(state.retired[0].retiredAt)));
      assert.deepEqual(state.pendingEvents, [draft('switched')]);
      assert.equal((await reader.readValue('api', 'v2')).reveal(), 'new');
      assert.deepEqual((await reader.readMeta()).confirmedRuns, ['run-0']);
      await reader.close();
      assert.deepEqual(readFileSync(t.path), before, 'reading never rewrites');

      const writer = openLocalStore({ path: t.path }, env);
      const lock = await writer.lock(LOCK);
      assert.equal(headerFormat(t.path), FORMAT_VERSION, 'taking the lock upgraded the file');
      assert.equal(writer.stats.generation, 2);
      await writer.apply('db', [{ type: 'create', versionId: 'd2', value: SecretValue.fromString('db2'), stage: 'PENDING' }], { rotation: null, lastRotatedAt: null, pendingEvents: [] });
      await lock.release();
      await writer.close();

      const fresh = openLocalStore({ path: t.path }, env);
      assert.equal((await fresh.readValue('api', 'v1')).reveal(), 'old');
      assert.deepEqual((await fresh.read('api')).pendingEvents, [draft('switched')]);
      assert.equal((await fresh.readValue('db', 'd2')).reveal(), 'db2');
      assert.deepEqual((await fresh.readMeta()).confirmedRuns, ['run-0']);
      await fresh.close();
    } finally {
      t.cleanup();
    }
  });

  it('reads a format-2 store as it is; its first write upgrades it to format 3, keeping its id and naming it', async () => {
    const t = tempDir();
    const env = { KEYSHIFT_MASTER_KEY: randomBytes(32).toString('base64') };
    const storeId = 'cd'.repeat(16);
    try {
      writeFormat2Store(t.path, env.KEYSHIFT_MASTER_KEY, storeId);
      const before = readFileSync(t.path);
      const reader = openLocalStore({ path: t.path }, env);
      assert.deepEqual((await reader.read('api')).versions.map((v) => [v.id, v.stages]), [['v1', ['PREVIOUS']], ['v2', ['CURRENT']]]);
      assert.equal((await reader.readValue('api', 'v2')).reveal(), 'new');
      await reader.close();
      assert.deepEqual(readFileSync(t.path), before, 'reading never rewrites');

      const writer = openLocalStore({ path: t.path }, env);
      const lock = await writer.lock(LOCK);
      const header = headerJson(t.path);
      assert.deepEqual([header.format, header.storeId, header.generation, header.name], [3, storeId, 5, 'dev.store']);
      assert.equal(writer.identity(), storeId);
      await writer.apply('api', [{ type: 'create', versionId: 'v3', value: SecretValue.fromString('newer'), stage: 'PENDING' }], { rotation: null, lastRotatedAt: null, pendingEvents: [] });
      await lock.release();
      await writer.close();
      const fresh = openLocalStore({ path: t.path }, env);
      assert.equal((await fresh.readValue('api', 'v1')).reveal(), 'old');
      assert.equal((await fresh.readValue('api', 'v3')).reveal(), 'newer');
      assert.deepEqual((await fresh.readMeta()).confirmedRuns, ['run-0']);
      await fresh.close();
    } finally {
      t.cleanup();
    }
  });

  it('format 3 chains each record to the one before: a record moved between two copies fails authentication', async () => {
    const t = tempDir();
    const env = { KEYSHIFT_MASTER_KEY: randomBytes(32).toString('base64') };
    const put = async (versionId) => {
      const store = openLocalStore({ path: t.path }, env);
      const lock = await store.lock(LOCK);
      await store.apply(versionId, [{ type: 'create', versionId, value: SecretValue.fromString(versionId), stage: 'CURRENT' }], { rotation: null, lastRotatedAt: null, pendingEvents: [] });
      await lock.release();
      await store.close();
    };
    try {
      await put('a');
      const base = readFileSync(t.path);
      await put('b');
      await put('c');
      const one = readFileSync(t.path);
      writeFileSync(t.path, base);
      await put('x');
      await put('y');
      const two = readFileSync(t.path);
      const tail = (bytes, skip) => {
        let at = base.length;
        for (let i = 0; i < skip; i++) at += 8 + bytes.readUInt32BE(at);
        return at;
      };
      // Copy one's record 'b' and then two's record 'y': each at the index it had.
      writeFileSync(t.path, Buffer.concat([base, one.subarray(base.length, tail(one, 1)), two.subarray(tail(two, 1))]));
      await assert.rejects(openLocalStore({ path: t.path }, env).read('a'), { code: 'ERR_STORE_CORRUPT', message: /record 2 .* fails authentication/ });
    } finally {
      t.cleanup();
    }
  });

  it('refuses a store written by a newer keyshift with ERR_STORE_UNSUPPORTED', async () => {
    const t = tempDir();
    const env = { KEYSHIFT_MASTER_KEY: randomBytes(32).toString('base64') };
    try {
      const keys = deriveKeys(Buffer.from(env.KEYSHIFT_MASTER_KEY, 'base64'), 'test');
      const header = buildHeader({ storeId: 'ab'.repeat(16), generation: 1, createdAt: 't' }, keys, FORMAT_VERSION + 1);
      writeFileSync(t.path, header.bytes);
      await assert.rejects(openLocalStore({ path: t.path }, env).read('api'), { code: 'ERR_STORE_UNSUPPORTED' });
    } finally {
      t.cleanup();
    }
  });

  it('round-trips evidence drafts of every shape, and each key keeps only its newest record', async () => {
    const t = tempDir();
    mkdirSync(t.dir, { recursive: true });
    try {
      const store = openLocalStore({ path: t.path }, {});
      const drafts = [
        draft('issued'),
        draft('switched', { fingerprint: null }),
        draft('failed', { error: 'hook "verify" exited 1', checks: [{ hook: 'verify', phase: 'verify', ok: false, ms: 3 }] }),
        draft('rolled-back', { error: 'hook "verify" exited 1' }),
        { ...draft('deployed'), newField: { nested: [1, 'two'] } },
        draft('decommissioned', { ticket: 'SEC-1', emergency: true, runId: 'run-2' }),
        { event: 'odd', secret: 'api' },
        draft('verified', { rotationId: null, reason: '~0 "quoted" \\ é' }),
      ];
      const base = { rotationId: 'r-1', phase: 'overlap', newVersionId: 'v2', oldVersionId: 'v1', startedAt: 't', switchedAt: null, decommissionAfter: null, reason: 'x', ticket: null, emergency: false, operator: 'me', error: null };
      const rotations = [
        { ...base, hooksDone: 1 }, // hooksDone without fallbackWindowOverrideMs: kept as an object
        { ...base, fallbackWindowOverrideMs: 0, hooksDone: 2, newVersionId: 'v1' },
        { ...base, phase: 'fallback', fallbackWindowOverrideMs: null, newVersionId: 'v2', switchedAt: 't2', decommissionAfter: 't3' },
      ];
      const rotation = rotations[2];
      const lock = await store.lock(LOCK);
      for (let i = 0; i < 3; i++) {
        const applied = await store.apply('api', [{ type: 'create', versionId: `v${i}`, value: SecretValue.fromString(`value ${i}`), stage: i === 0 ? 'CURRENT' : 'PENDING' }, ...(i > 0 ? [{ type: 'promote', versionId: `v${i}` }] : [])], { rotation: rotations[i], lastRotatedAt: `t${i}`, pendingEvents: drafts.slice(i) });
        assert.deepEqual(applied.rotation, rotations[i]);
        assert.deepEqual(applied.pendingEvents, drafts.slice(i));
      }
      await lock.release();
      await store.close();
      const fresh = openLocalStore({ path: t.path }, {});
      const state = await fresh.read('api');
      assert.deepEqual(state.pendingEvents, drafts.slice(2));
      assert.deepEqual(state.rotation, rotation);
      assert.equal(state.lastRotatedAt, 't2');
      assert.deepEqual(state.versions.map((v) => [v.id, v.stages]), [['v1', ['PREVIOUS']], ['v2', ['CURRENT']]]);
      assert.equal(fresh.stats.records, 3);
      assert.equal(fresh.stats.live, 1);
      state.pendingEvents[0].checks.push('mutated');
      assert.deepEqual((await fresh.read('api')).pendingEvents, drafts.slice(2), 'every read is a fresh copy');
      await fresh.close();
    } finally {
      t.cleanup();
    }
  });
});
