// The LocalStore calls one by one (src/stores/local/local-store.ts, index.ts): what each returns or
// refuses, word for word, on real store files in temp dirs: keys, the lock and its release, the
// states handed out (copies), records that authenticate but do not decode, diagnose, fingerprint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore, MASTER_KEY_ENV, openLocalStore } from '../../dist/stores/local/index.js';
import { buildHeader, chainStart, recordTag, writeRecord, recordBytes } from '../../dist/stores/local/file-format.js';
import { deriveKeys, fingerprintValue } from '../../dist/stores/local/master-key.js';
import { SecretValue } from '../../dist/secret-value.js';

const LOCK = { waitMs: 500, owner: 'local-store-calls' };
const meta = () => ({ rotation: null, lastRotatedAt: null, pendingEvents: [] });
const create = (versionId, text, stage = 'CURRENT') => ({ type: 'create', versionId, value: SecretValue.fromString(text), stage });
const master = randomBytes(32);
const env = { KEYSHIFT_MASTER_KEY: master.toString('base64') };

function tempStore(t, options) {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-local-calls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'dev.store');
  return { dir, path, store: openLocalStore({ path }, env, options) };
}

async function write(store, key, ops, m = meta()) {
  const lock = await store.lock(LOCK);
  try {
    return await store.apply(key, ops, m);
  } finally {
    await lock.release();
  }
}

/** A store file whose records are the given texts (authenticated, whatever they hold). */
function storeWith(path, texts) {
  const keys = deriveKeys(master, MASTER_KEY_ENV);
  const header = buildHeader({ storeId: 'c'.repeat(32), generation: 1, createdAt: '2026-12-01T10:00:00.000Z', name: 'dev.store' }, keys);
  const data = Buffer.alloc(texts.reduce((n, text) => n + recordBytes(text), 0));
  let at = 0;
  let tag = chainStart(header.header);
  texts.forEach((text, i) => {
    at += writeRecord(keys, header.digest, i, text, data, at, tag);
    tag = recordTag(data, at);
  });
  writeFileSync(path, Buffer.concat([header.bytes, data]));
}

test('openLocalStore opens a LocalStore at the path, of kind local, with its capabilities; nothing is created', async (t) => {
  const { dir, path, store } = tempStore(t);
  assert.ok(store instanceof LocalStore);
  assert.equal(store.kind, 'local');
  assert.equal(store.location, path);
  assert.deepEqual(store.capabilities, { atomicApply: true, groupCommit: true, rewrap: true });
  assert.equal(store.lockFile(), `${path}.lock`);
  assert.equal(MASTER_KEY_ENV, 'KEYSHIFT_MASTER_KEY');
  assert.match(store.identity(), /^[0-9a-f]{32}$/);
  assert.deepEqual(readdirSync(dir), []);
  // Without options: versions are dated now, and compaction waits for 1,000 dead records.
  const before = Date.now();
  const state = await write(store, 'api', [create('v1', 'one')]);
  const created = Date.parse(state.versions[0].createdAt);
  assert.ok(created >= before - 1000 && created <= Date.now() + 1000, state.versions[0].createdAt);
  for (let i = 2; i <= 30; i++) await write(store, 'api', [create(`v${i}`, `${i}`, 'PENDING'), { type: 'promote', versionId: `v${i}` }]);
  assert.equal(store.stats.generation, 1);
  assert.equal(store.stats.records, 30);
  await store.close();
});

test('the options: a clock for version and retirement times, and the compaction threshold', async (t) => {
  const { store } = tempStore(t, { now: () => new Date('2030-01-02T03:04:05.000Z'), compactMinDead: 2 });
  const lock = await store.lock(LOCK);
  await store.apply('api', [create('v1', 'one')], meta());
  for (let i = 2; i <= 5; i++) await store.apply('api', [create(`v${i}`, `${i}`, 'PENDING'), { type: 'promote', versionId: `v${i}` }], meta());
  const state = await store.read('api');
  assert.deepEqual(state.versions.map((v) => v.createdAt), ['2030-01-02T03:04:05.000Z', '2030-01-02T03:04:05.000Z']);
  assert.deepEqual(state.retired.map((r) => r.retiredAt), ['2030-01-02T03:04:05.000Z', '2030-01-02T03:04:05.000Z', '2030-01-02T03:04:05.000Z']);
  assert.ok(store.stats.generation >= 2, `compacted with compactMinDead 2 (${JSON.stringify(store.stats)})`);
  await lock.release();
  await store.close();
});

test('a key must be a non-empty string, for every call that takes one', async (t) => {
  const { store } = tempStore(t);
  const refused = { code: 'ERR_INTERNAL', message: 'a store key must be a non-empty string (this is a bug in keyshift)' };
  await assert.rejects(store.read(''), refused);
  await assert.rejects(store.read(42), refused);
  await assert.rejects(store.readValue('', 'v1'), refused);
  const lock = await store.lock(LOCK);
  await assert.rejects(store.apply('', [create('v1', 'one')], meta()), refused);
  await assert.rejects(store.apply(undefined, [create('v1', 'one')], meta()), refused);
  await lock.release();
  await store.close();
});

test('apply and writeMeta without the lock name the call and the store', async (t) => {
  const { path, store } = tempStore(t);
  await assert.rejects(store.apply('api', [create('v1', 'one')], meta()), { code: 'ERR_INTERNAL', message: `apply on store ${path} without holding its lock (this is a bug in keyshift)` });
  await assert.rejects(store.writeMeta({ evidenceAnchors: {}, confirmedRuns: [] }), { code: 'ERR_INTERNAL', message: `writeMeta on store ${path} without holding its lock (this is a bug in keyshift)` });
  // After a release, the lock is not held any more.
  await write(store, 'api', [create('v1', 'one')]);
  await assert.rejects(store.apply('api', [], meta()), { code: 'ERR_INTERNAL' });
  assert.ok(!existsSync(`${path}.lock`));
  await store.close();
});

test('readValue of a missing version or a missing secret names the store, secret and version', async (t) => {
  const { path, store } = tempStore(t);
  await write(store, 'api', [create('v1', 'one')]);
  await assert.rejects(store.readValue('api', 'v9'), { code: 'ERR_VERSION_NOT_FOUND', message: `store ${path}, secret api: version v9 does not exist (it may have been retired)` });
  await assert.rejects(store.readValue('db', 'v1'), { code: 'ERR_VERSION_NOT_FOUND', message: `store ${path}, secret db: version v1 does not exist (it may have been retired)` });
  assert.equal((await store.readValue('api', 'v1')).reveal(), 'one');
  await store.close();
});

test('the lock: named in the message of a second locker; released once; a failed start releases it', async (t) => {
  const { path, store } = tempStore(t);
  const lock = await store.lock(LOCK);
  const other = openLocalStore({ path }, env);
  await assert.rejects(other.lock({ waitMs: 0, owner: 'second' }), (error) => {
    assert.equal(error.code, 'ERR_LOCKED');
    assert.ok(error.message.startsWith(`store ${path} is locked by local-store-calls (pid ${process.pid}`), error.message);
    return true;
  });
  await lock.release();
  assert.ok(!existsSync(`${path}.lock`));
  // Released twice, or after another instance took the lock: the second release leaves it alone.
  const second = await other.lock(LOCK);
  await lock.release();
  assert.ok(existsSync(`${path}.lock`), 'the other holder keeps its lock');
  await second.release();
  // A stale release of this instance's earlier lock does not end the lock it holds now.
  const first = await store.lock(LOCK);
  await first.release();
  const now = await store.lock(LOCK);
  await first.release();
  assert.ok(existsSync(`${path}.lock`));
  await store.apply('api', [create('v1', 'one')], meta());
  await now.release();
  assert.ok(!existsSync(`${path}.lock`));
  // A store that cannot be started (damaged): the lock is let go.
  writeFileSync(path, 'not a store at all, just text');
  await assert.rejects(store.lock(LOCK), { code: 'ERR_STORE_CORRUPT' });
  assert.ok(!existsSync(`${path}.lock`), 'no lock left behind');
  await store.close();
  await other.close();
});

test('close releases a held lock and forgets what was read', async (t) => {
  const { path, store } = tempStore(t);
  await write(store, 'api', [create('v1', 'one')]);
  await store.lock(LOCK);
  assert.ok(existsSync(`${path}.lock`));
  await store.close();
  assert.ok(!existsSync(`${path}.lock`));
  assert.equal(store.stats.records, 0);
  assert.equal((await store.read('api')).versions[0].id, 'v1');
});

test('a record that authenticates but does not decode is damage, named with its key', async (t) => {
  const { path, store } = tempStore(t);
  storeWith(path, ['["e","api",1,2,3]', '["e","db",[["v1",["CURRENT"],"t","eA=="]],"x",null,null,[]]']);
  const damaged = (key) => ({ code: 'ERR_STORE_CORRUPT', message: `store ${path} is damaged: the record of ${key} has an unknown layout` });
  await assert.rejects(store.read('api'), damaged('api'));
  await assert.rejects(store.readValue('api', 'v1'), damaged('api'));
  await assert.rejects(store.read('db'), damaged('db'));
  assert.equal((await store.readValue('db', 'v1')).reveal(), 'x', 'reading a value decodes only the versions');
  const lock = await store.lock(LOCK);
  await assert.rejects(store.apply('api', [], meta()), damaged('api'));
  await lock.release();
  await store.close();
});

test('read and apply hand out copies: changing them changes nothing stored, nor the next read', async (t) => {
  const { store } = tempStore(t);
  const lock = await store.lock(LOCK);
  const drafts = [{ event: 'issued', secret: 'k', checks: [{ hook: 'verify', ok: true }] }, { event: 'retired', secret: 'k' }];
  await store.apply('k', [create('v1', 'one'), create('v2', 'two', 'PENDING')], { rotation: { rotationId: 'r', phase: 'overlap' }, lastRotatedAt: 't0', pendingEvents: drafts });
  await store.apply('k', [{ type: 'retire', versionId: 'v2' }], { rotation: { rotationId: 'r', phase: 'overlap' }, lastRotatedAt: 't0', pendingEvents: drafts });
  const expected = { versions: [{ id: 'v1', stages: ['CURRENT'] }], retired: [{ id: 'v2' }], rotation: { rotationId: 'r', phase: 'overlap' }, lastRotatedAt: 't0', pendingEvents: drafts };
  const view = (s) => ({ versions: s.versions.map((v) => ({ id: v.id, stages: v.stages })), retired: s.retired.map((r) => ({ id: r.id })), rotation: s.rotation, lastRotatedAt: s.lastRotatedAt, pendingEvents: s.pendingEvents });
  for (let round = 0; round < 2; round++) {
    const state = await store.read('k');
    assert.deepEqual(view(state), expected, `round ${round}`);
    assert.equal(state.versions[0].createdAt.length, 24);
    state.versions[0].stages.push('PREVIOUS');
    state.versions[0].id = 'x';
    state.retired[0].id = 'y';
    state.rotation.phase = 'changed';
    state.pendingEvents[0].checks.push('changed');
    state.pendingEvents[1].event = 'changed';
    state.lastRotatedAt = 'changed';
  }
  const next = await store.apply('k', [], { rotation: null, lastRotatedAt: 't1', pendingEvents: [] });
  assert.deepEqual(next.versions.map((v) => [v.id, v.stages]), [['v1', ['CURRENT']]]);
  assert.deepEqual(next.retired.map((r) => r.id), ['v2']);
  assert.equal(next.rotation, null);
  await lock.release();
  const fresh = await openLocalStore({ path: store.location }, env).read('k');
  assert.deepEqual(fresh.versions.map((v) => [v.id, v.stages]), [['v1', ['CURRENT']]]);
  assert.deepEqual(drafts[0].checks, [{ hook: 'verify', ok: true }]);
  await store.close();
});

test('a read after another process wrote the key decodes the new record, not the one this instance wrote', async (t) => {
  const { path, store } = tempStore(t);
  await write(store, 'api', [create('v1', 'one')]);
  assert.deepEqual((await store.read('api')).versions.map((v) => v.id), ['v1']);
  const other = openLocalStore({ path }, env);
  await write(other, 'api', [create('v2', 'two', 'PENDING')]);
  await other.close();
  assert.deepEqual((await store.read('api')).versions.map((v) => v.id), ['v1', 'v2']);
  const next = await write(store, 'api', [{ type: 'promote', versionId: 'v2' }]);
  assert.deepEqual(next.versions.map((v) => [v.id, v.stages]), [['v1', ['PREVIOUS']], ['v2', ['CURRENT']]]);
  await store.close();
});

test('meta: empty for a new store, a copy in and out', async (t) => {
  const { path, store } = tempStore(t);
  assert.deepEqual(await store.readMeta(), { evidenceAnchors: {}, confirmedRuns: [] });
  const lock = await store.lock(LOCK);
  const given = { evidenceAnchors: { main: { seq: 3, hash: 'sha256:aa', at: 't' } }, confirmedRuns: ['r1'] };
  await store.writeMeta(given);
  given.confirmedRuns.push('changed after the write');
  const read = await store.readMeta();
  assert.deepEqual(read, { evidenceAnchors: { main: { seq: 3, hash: 'sha256:aa', at: 't' } }, confirmedRuns: ['r1'] });
  read.confirmedRuns.push('changed after the read');
  assert.deepEqual((await store.readMeta()).confirmedRuns, ['r1']);
  await lock.release();
  assert.deepEqual((await openLocalStore({ path }, env).readMeta()).confirmedRuns, ['r1']);
  await store.close();
});

test('listKeys lists every secret the file holds, also those another process wrote', async (t) => {
  const { path, store } = tempStore(t);
  assert.deepEqual(await store.listKeys(), []);
  await write(store, 'b', [create('v1', 'one')]);
  await write(openLocalStore({ path }, env), 'a', [create('v1', 'one')]);
  assert.deepEqual((await store.listKeys()).sort(), ['a', 'b']);
  await store.close();
});

test('diagnose reports versions no rotation names, with their stages, and nothing otherwise', async (t) => {
  const { path, store } = tempStore(t);
  assert.deepEqual(await store.diagnose('missing'), []);
  await write(store, 'api', [create('v1', 'one')]);
  assert.deepEqual(await store.diagnose('api'), [], 'only CURRENT');
  const rotation = { rotationId: 'r', phase: 'overlap', newVersionId: 'v2', oldVersionId: 'v1' };
  await write(store, 'api', [create('v2', 'two', 'PENDING')], { rotation, lastRotatedAt: null, pendingEvents: [] });
  assert.deepEqual(await store.diagnose('api'), [], 'the PENDING one is the rotation\'s');
  await write(store, 'api', [{ type: 'promote', versionId: 'v2' }], { rotation: { ...rotation, oldVersionId: null }, lastRotatedAt: null, pendingEvents: [] });
  assert.deepEqual(await store.diagnose('api'), [{
    check: 'unknown-versions',
    severity: 'warning',
    message: `store ${path}, secret api holds v1 (PREVIOUS), which no rotation record names`,
    hint: 'no keyshift step leaves such a version: find out what else writes this store (restore it from a backup if it was edited); keyshift never deletes it',
  }]);
  await write(store, 'api', [create('v3', 'three', 'PENDING')], meta());
  const [finding, ...more] = await store.diagnose('api');
  assert.equal(finding.message, `store ${path}, secret api holds v1 (PREVIOUS), v3 (PENDING), which no rotation record names`);
  assert.deepEqual(more, []);
  await store.close();
});

test('fingerprint: with the store\'s key; a reader of a missing store without a key is refused, a writer creates the key', async (t) => {
  const { path, store } = tempStore(t);
  const value = SecretValue.fromString('the value');
  const expected = fingerprintValue(deriveKeys(master, MASTER_KEY_ENV), value.revealBytes());
  assert.equal(store.fingerprint(value), expected, 'from the env key before anything exists');
  await write(store, 'api', [create('v1', 'one')]);
  assert.equal(openLocalStore({ path }, env).fingerprint(value), expected);
  // With a key file: a reader never creates one…
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-local-calls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const filePath = join(dir, 'dev.store');
  const reader = openLocalStore({ path: filePath }, {});
  assert.throws(() => reader.fingerprint(value), { code: 'ERR_STORE_NO_KEY', message: `no master key yet for store ${filePath} (it is created by the first write)` });
  assert.deepEqual(readdirSync(dir), []);
  // …a lock holder about to write does.
  const writer = openLocalStore({ path: filePath }, {});
  const lock = await writer.lock(LOCK);
  const print = writer.fingerprint(value);
  assert.match(print, /^hmac-sha256:[0-9a-f]{64}$/);
  assert.ok(existsSync(`${filePath}.key`));
  await writer.apply('api', [create('v1', 'one')], meta());
  await lock.release();
  assert.equal(openLocalStore({ path: filePath }, {}).fingerprint(value), print);
  // An existing store whose key file is gone: the error for an existing store.
  rmSync(`${filePath}.key`);
  assert.throws(() => openLocalStore({ path: filePath }, {}).fingerprint(value), { code: 'ERR_STORE_NO_KEY', message: `no master key for store ${filePath}: ${filePath}.key is missing and KEYSHIFT_MASTER_KEY is not set` });
  await writer.close();
  await store.close();
});
