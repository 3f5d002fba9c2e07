import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalStore } from '../../dist/stores/local/index.js';
import { SecretValue } from '../../dist/secret-value.js';
import { testStore } from '../helpers/store-conformance.js';

const LOCK = { waitMs: 2_000, owner: 'local-store-test' };
const meta = () => ({ rotation: null, lastRotatedAt: null, pendingEvents: [] });
const create = (versionId, text, stage = 'CURRENT') => ({ type: 'create', versionId, value: SecretValue.fromString(text), stage });
const newKey = () => randomBytes(32).toString('base64');

function tempStore(env = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-local-'));
  const path = join(dir, 'nested', 'dev.store');
  return { dir, path, store: openLocalStore({ path }, env), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

testStore('local (key file)', { create: async () => tempStore() });
testStore('local (KEYSHIFT_MASTER_KEY)', { create: async () => tempStore({ KEYSHIFT_MASTER_KEY: newKey() }) });

describe('local store', () => {
  let t;
  beforeEach(() => (t = tempStore()));
  afterEach(() => t.store.close().then(t.cleanup));

  /** Opens the same file as a different instance: what another process would see. */
  const reopen = (env = {}) => openLocalStore({ path: t.path }, env);

  /** A user error: exit 1, names the store file, and a hint says what to do. */
  const failsWith = (code, check = () => {}) => (error) => {
    assert.equal(error.code, code, `${error.code}: ${error.message}`);
    assert.equal(error.exitCode, 1);
    assert.ok(error.message.includes(t.path) && error.hint, 'names the file and says what to do');
    check(error);
    return true;
  };

  async function write(store, key, ops) {
    const lock = await store.lock(LOCK);
    return store.apply(key, ops, meta()).finally(() => lock.release());
  }

  it('creates the store and key file with mode 0600 in a 0700 directory, and never stores a value in clear', async () => {
    const canary = `canary-${randomBytes(8).toString('hex')}`;
    await write(t.store, 'api', [create('v1', canary)]);
    assert.equal(statSync(t.path).mode & 0o777, 0o600);
    assert.equal(statSync(`${t.path}.key`).mode & 0o777, 0o600);
    assert.equal(statSync(join(t.dir, 'nested')).mode & 0o777, 0o700);
    const bytes = readFileSync(t.path);
    for (const form of [canary, Buffer.from(canary).toString('base64'), Buffer.from(canary).toString('hex')]) assert.equal(bytes.indexOf(form), -1, form);
    assert.deepEqual(readdirSync(join(t.dir, 'nested')).sort(), ['dev.store', 'dev.store.key']);
  });

  it('reads a missing store without creating anything: no store, key, lock or directory', async () => {
    const store = reopen();
    assert.equal(await store.read('api'), null);
    assert.deepEqual(await store.readMeta(), { evidenceAnchors: {}, confirmedRuns: [] });
    await assert.rejects(store.readValue('api', 'v1'), { code: 'ERR_VERSION_NOT_FOUND' });
    assert.throws(() => store.fingerprint(SecretValue.fromString('x')), { code: 'ERR_STORE_NO_KEY' });
    await store.close();
    assert.deepEqual(readdirSync(t.dir), []);
  });

  it('does not touch any file when reading an existing store', async () => {
    await write(t.store, 'api', [create('v1', 'one')]);
    const before = snapshotDir(join(t.dir, 'nested'));
    const store = reopen();
    assert.equal((await store.read('api')).versions.length, 1);
    store.fingerprint(SecretValue.fromString('x'));
    await store.close();
    assert.deepEqual(snapshotDir(join(t.dir, 'nested')), before);
  });

  it('tells a wrong master key apart from damage and leaves the file unchanged', async () => {
    const key = newKey();
    const owner = reopen({ KEYSHIFT_MASTER_KEY: key });
    await write(owner, 'api', [create('v1', 'one')]);
    const bytes = readFileSync(t.path);
    const wrong = reopen({ KEYSHIFT_MASTER_KEY: newKey() });
    const isWrongKey = failsWith('ERR_STORE_WRONG_KEY', (error) => assert.match(error.hint, /KEYSHIFT_MASTER_KEY/));
    await assert.rejects(wrong.read('api'), isWrongKey);
    await assert.rejects(wrong.lock(LOCK), isWrongKey);
    await assert.rejects(write(wrong, 'api', [create('v2', 'two', 'PENDING')]), isWrongKey);
    assert.deepEqual(readFileSync(t.path), bytes);
    assert.ok(!existsSync(`${t.path}.lock`), 'a failed lock() releases the lock');
    assert.equal((await reopen({ KEYSHIFT_MASTER_KEY: key }).read('api')).versions[0].id, 'v1');
  });

  it('reports a flipped byte in a record or in the header as ERR_STORE_CORRUPT and never overwrites the file', async () => {
    await write(t.store, 'api', [create('v1', 'one')]);
    const size = statSync(t.path).size;
    await write(t.store, 'api', [create('v2', 'two', 'PENDING')]);
    const good = readFileSync(t.path);
    for (const at of [size + 20, good.length - 1, 30]) {
      const bad = Buffer.from(good);
      bad[at] ^= 0x01;
      writeFileSync(t.path, bad);
      await assert.rejects(reopen().read('api'), failsWith('ERR_STORE_CORRUPT'), `byte ${at}`);
      await assert.rejects(write(reopen(), 'api', [create('v3', 'three', 'PENDING')]), failsWith('ERR_STORE_CORRUPT'));
      assert.deepEqual(readFileSync(t.path), bad);
    }
    writeFileSync(t.path, Buffer.concat([Buffer.from('NOTASTORE'), good.subarray(9)]));
    await assert.rejects(reopen().read('api'), { code: 'ERR_STORE_CORRUPT' });
  });

  it('ignores a torn final record, then cuts it off before the next append', async () => {
    await write(t.store, 'api', [create('v1', 'one')]);
    const before = statSync(t.path).size;
    await write(t.store, 'api', [create('v2', 'two', 'PENDING')]);
    const record = readFileSync(t.path).subarray(before);
    writeFileSync(t.path, readFileSync(t.path).subarray(0, before)); // as if the second append never finished…
    appendFileSync(t.path, record.subarray(0, Math.floor(record.length / 2))); // …half of it reached the disk
    const reader = reopen();
    assert.deepEqual(Object.keys(stages(await reader.read('api'))), ['v1']);
    const writer = reopen();
    await write(writer, 'api', [create('v3', 'tri', 'PENDING')]);
    assert.equal(statSync(t.path).size, before + record.length, 'the torn half was cut off, one record appended');
    assert.deepEqual(stages(await reopen().read('api')), { v1: ['CURRENT'], v3: ['PENDING'] });
    assert.deepEqual(stages(await reader.read('api')), { v1: ['CURRENT'], v3: ['PENDING'] }, 'an old reader catches up');
    await writer.close();
  });

  it('never cuts complete records another writer appended behind its back: fails, reloads, then builds on them', async () => {
    for (const wroteFirst of [false, true]) {
      const key = `api-${wroteFirst}`;
      await write(t.store, key, [create('v1', 'one')]);
      const a = reopen();
      const lockA = await a.lock(LOCK);
      if (wroteFirst) await a.apply('warm', [create('w1', 'warm')], meta()); // A's file handle is open
      // Behind A's back: its lock file is moved aside, writer B locks, appends and releases, and A's
      // lock file comes back, so only the store file itself can tell A that someone else wrote.
      const lockFile = `${t.path}.lock`;
      const aLock = readFileSync(lockFile);
      unlinkSync(lockFile);
      await write(reopen(), `other-${wroteFirst}`, [create('o1', 'other')]);
      writeFileSync(lockFile, aLock);
      appendFileSync(t.path, tornRecord()); // and a torn half record after B's complete one
      const withB = readFileSync(t.path);
      await assert.rejects(a.apply(key, [create('v2', 'two', 'PENDING')], meta()), failsWith('ERR_STORE_CHANGED'));
      assert.deepEqual(readFileSync(t.path), withB, "B's record was neither cut nor overwritten");
      // A reloaded: its next apply keeps B's record, cuts only the torn half, and appends after it.
      await a.apply(key, [create('v2', 'two', 'PENDING')], meta());
      await lockA.release();
      assert.deepEqual(readFileSync(t.path).subarray(0, withB.length - tornRecord().length), withB.subarray(0, withB.length - tornRecord().length));
      assert.deepEqual(stages(await reopen().read(`other-${wroteFirst}`)), { o1: ['CURRENT'] });
      assert.deepEqual(stages(await reopen().read(key)), { v1: ['CURRENT'], v2: ['PENDING'] });
      await a.close();
    }
  });

  it('a writer whose lock was taken over stops before it writes (ERR_LOCK_LOST) and leaves the new lock alone', async () => {
    await write(t.store, 'api', [create('v1', 'one')]);
    const a = reopen();
    const lockA = await a.lock(LOCK);
    const other = JSON.stringify({ pid: 4242, host: 'build-7.other.example', owner: 'a run on another host', token: 'feedface', acquiredAt: new Date().toISOString() });
    writeFileSync(`${t.path}.lock`, other); // taken over from another host while A was paused
    const bytes = readFileSync(t.path);
    await assert.rejects(a.apply('api', [create('v2', 'two', 'PENDING')], meta()), (error) => {
      assert.equal(error.code, 'ERR_LOCK_LOST');
      assert.equal(error.exitCode, 1);
      assert.equal(error.retryable, true);
      assert.match(error.message, /build-7\.other\.example/);
      assert.ok(error.message.includes(t.path) && error.hint);
      return true;
    });
    await assert.rejects(a.writeMeta(meta()), { code: 'ERR_LOCK_LOST' });
    assert.deepEqual(readFileSync(t.path), bytes, 'nothing was written');
    await lockA.release();
    assert.equal(readFileSync(`${t.path}.lock`, 'utf8'), other);
    await a.close();
  });

  it('treats zero bytes at the end (space allocated by a crash, never written) as a torn tail', async () => {
    await write(t.store, 'api', [create('v1', 'one')]);
    appendFileSync(t.path, Buffer.alloc(300));
    assert.equal((await reopen().read('api')).versions[0].id, 'v1');
  });

  it('rejects an invalid KEYSHIFT_MASTER_KEY with a message naming the variable, never the value', async () => {
    for (const value of ['not base64!', Buffer.alloc(16, 7).toString('base64'), '', `${newKey()}AAAA`]) {
      const store = reopen({ KEYSHIFT_MASTER_KEY: value });
      await assert.rejects(write(store, 'api', [create('v1', 'one')]), (error) => {
        assert.equal(error.code, 'ERR_MASTER_KEY_INVALID');
        assert.match(error.message, /KEYSHIFT_MASTER_KEY/);
        assert.match(error.message, /32 bytes/);
        if (value) assert.ok(!error.message.includes(value) && !error.hint.includes(value));
        return true;
      });
      await store.close();
    }
    assert.ok(!existsSync(t.path) && !existsSync(`${t.path}.key`));
    const ok = reopen({ KEYSHIFT_MASTER_KEY: ` ${Buffer.alloc(32, 9).toString('base64url')}\n` });
    await write(ok, 'api', [create('v1', 'one')]);
    assert.ok(!existsSync(`${t.path}.key`), 'an env key never writes a key file');
  });

  it('refuses to open an existing store without its key, and never creates a new key for it', async () => {
    await write(t.store, 'api', [create('v1', 'one')]);
    unlinkSync(`${t.path}.key`);
    const store = reopen();
    const noKey = failsWith('ERR_STORE_NO_KEY', (error) => assert.ok(error.hint.includes(`${t.path}.key`) && error.hint.includes('KEYSHIFT_MASTER_KEY')));
    await assert.rejects(store.read('api'), noKey);
    await assert.rejects(write(store, 'api', [create('v2', 'two', 'PENDING')]), noKey);
    assert.throws(() => store.fingerprint(SecretValue.fromString('x')), noKey);
    assert.ok(!existsSync(`${t.path}.key`));
  });

  it('a read leaves out the drafts of runs the meta confirms (appended already), from the file and from what it keeps', async () => {
    const lock = await t.store.lock(LOCK);
    const draft = (runId, event) => ({ event, rotationId: 'r-1', secret: 'api', environment: 'dev', store: 'local', fromVersion: null, toVersion: 'v1', fingerprint: null, at: '2026-12-04T10:00:00.000Z', operator: 'op', reason: 'r', ticket: null, emergency: false, checks: [], runId });
    await t.store.apply('api', [create('v1', 'one')], { rotation: null, lastRotatedAt: null, pendingEvents: [draft('run-done', 'provisioned'), draft('run-lost', 'issued')] });
    assert.deepEqual((await t.store.read('api')).pendingEvents.map((d) => d.runId), ['run-done', 'run-lost'], 'nothing confirmed yet');
    await t.store.writeMeta({ evidenceAnchors: {}, confirmedRuns: ['run-done'] });
    assert.deepEqual((await t.store.read('api')).pendingEvents.map((d) => [d.runId, d.event]), [['run-lost', 'issued']]);
    await lock.release();
    const other = reopen();
    assert.deepEqual((await other.read('api')).pendingEvents.map((d) => d.runId), ['run-lost'], 'decoded from the file');
    await other.close();
  });

  it('compacts a long log into a new generation and keeps every live entry, value and the meta', async () => {
    const lock = await t.store.lock(LOCK);
    const keys = Array.from({ length: 10 }, (_, i) => `secret-${i}`);
    await t.store.writeMeta({ evidenceAnchors: { main: { seq: 1, hash: 'sha256:1', at: 'now' } }, confirmedRuns: ['r1'] });
    await Promise.all(keys.map((k) => t.store.apply(k, [create('v0', `${k}-value-0`)], meta())));
    await Promise.all(keys.map(async (k) => {
      for (let i = 1; i <= 110; i++) {
        await t.store.apply(k, [create(`v${i}`, `${k}-value-${i}`, 'PENDING'), { type: 'promote', versionId: `v${i}` }], meta());
      }
    }));
    const sizeAfter = statSync(t.path).size;
    assert.ok(t.store.stats.generation >= 2, `compacted (generation ${t.store.stats.generation})`);
    assert.ok(t.store.stats.records < 1000, `${t.store.stats.records} records after compaction`);
    await t.store.apply('secret-0', [create('extra', 'extra value', 'PENDING')], meta()); // appends to the new file
    await lock.release();
    assert.ok(statSync(t.path).size > sizeAfter);
    const fresh = reopen();
    for (const k of keys) {
      const state = await fresh.read(k);
      assert.deepEqual(stages(state), k === 'secret-0' ? { v109: ['PREVIOUS'], v110: ['CURRENT'], extra: ['PENDING'] } : { v109: ['PREVIOUS'], v110: ['CURRENT'] });
      assert.equal((await fresh.readValue(k, 'v110')).reveal(), `${k}-value-110`);
      assert.equal((await fresh.readValue(k, 'v109')).reveal(), `${k}-value-109`);
      assert.deepEqual(state.retired.map((r) => r.id), Array.from({ length: 5 }, (_, i) => `v${i + 104}`));
    }
    assert.equal((await fresh.readMeta()).confirmedRuns[0], 'r1');
    assert.ok(!readdirSync(join(t.dir, 'nested')).some((n) => n.includes('.tmp-')), 'no temp file left');
  });

  it('lets another instance see writes: incrementally, across a compaction, and after taking the lock', async () => {
    const other = openLocalStore({ path: t.path }, {}, { compactMinDead: 5 });
    const reader = reopen();
    await write(t.store, 'a', [create('v1', 'one')]);
    assert.equal((await reader.read('a')).versions.length, 1);
    await write(t.store, 'b', [create('v1', 'bee')]);
    assert.equal((await reader.readValue('b', 'v1')).reveal(), 'bee');
    for (let i = 2; i < 12; i++) await write(other, 'a', [create(`v${i}`, `a${i}`, 'PENDING'), { type: 'promote', versionId: `v${i}` }]);
    assert.ok(other.stats.generation >= 2, 'the other instance compacted');
    assert.deepEqual(stages(await reader.read('a')), { v10: ['PREVIOUS'], v11: ['CURRENT'] });
    const applied = await write(t.store, 'a', [create('v12', 'a12', 'PENDING')]);
    assert.deepEqual(stages(applied), { v10: ['PREVIOUS'], v11: ['CURRENT'], v12: ['PENDING'] }, 'the lock holder built on the other instance\'s writes');
    await other.close();
    await reader.close();
  });

  it('reads a value from what another instance wrote since its own read, not from the entry it decoded then', async () => {
    await write(t.store, 'a', [create('v1', 'one')]);
    const reader = reopen();
    assert.equal((await reader.readValue('a', 'v1')).reveal(), 'one');
    assert.equal((await reader.read('a')).versions.length, 1); // the reader keeps this decoded entry
    await write(t.store, 'a', [create('v2', 'two', 'PENDING')]);
    assert.equal((await reader.readValue('a', 'v2')).reveal(), 'two');
    await reader.close();
  });

  it('appends about one record per apply, however many secrets the file holds', async () => {
    const lock = await t.store.lock(LOCK);
    const probe = async () => {
      const before = statSync(t.path).size;
      await t.store.apply('probe', [{ type: 'retire', versionId: 'none' }], meta());
      return statSync(t.path).size - before;
    };
    await t.store.apply('probe', [create('base', 'x'.repeat(32))], meta());
    const fill = (from, to) => Promise.all(Array.from({ length: to - from }, (_, i) => t.store.apply(`k${from + i}`, [create('v1', 'y'.repeat(32))], meta())));
    await fill(0, 10);
    const small = await probe();
    await fill(10, 1000);
    const big = await probe();
    await lock.release();
    assert.ok(small < 1000, `one record is small (${small} bytes)`);
    assert.equal(big, small, `with 1,000 secrets an apply appended ${big} bytes, with 10 it appended ${small}`);
  });

  it('hands apply\'s caller a state it may change without changing what the next apply builds on', async () => {
    const lock = await t.store.lock(LOCK);
    const drafts = [{ event: 'issued', secret: 'k', checks: [{ hook: 'verify', ok: true }] }];
    const rotation = { rotationId: 'r-1', phase: 'overlap', newVersionId: 'v2', oldVersionId: 'v1' };
    await t.store.apply('k', [create('v1', 'one')], meta());
    const applied = await t.store.apply('k', [create('v2', 'two', 'PENDING'), { type: 'promote', versionId: 'v2' }, { type: 'retire', versionId: 'v1' }], { rotation, lastRotatedAt: 't', pendingEvents: drafts });
    assert.deepEqual(applied.rotation, rotation);
    assert.deepEqual(applied.pendingEvents, drafts);
    assert.notEqual(applied.rotation, rotation, 'not the caller\'s own object');
    assert.notEqual(applied.pendingEvents[0], drafts[0]);
    // The caller changes everything it was given back; the next apply (built on the entry this one
    // wrote, not on the file) and another process see the entry as written.
    applied.versions[0].stages.push('PENDING');
    applied.versions.push({ id: 'v9', stages: ['CURRENT'], createdAt: 'x' });
    applied.retired.push({ id: 'v8', retiredAt: 'x' });
    applied.retired[0].id = 'changed';
    applied.rotation.phase = 'changed';
    applied.pendingEvents[0].checks[0].ok = false;
    applied.pendingEvents[0].checks.push('changed');
    const read = await t.store.read('k');
    read.pendingEvents[0].checks[0].hook = 'changed';
    assert.deepEqual((await t.store.read('k')).pendingEvents, drafts, 'a read hands out a copy too');
    const next = await t.store.apply('k', [], { rotation: null, lastRotatedAt: 't', pendingEvents: [] });
    await lock.release();
    const expected = { versions: [['v2', ['CURRENT']]], retired: ['v1'] };
    assert.deepEqual({ versions: next.versions.map((v) => [v.id, v.stages]), retired: next.retired.map((r) => r.id) }, expected);
    const other = reopen();
    const fresh = await other.read('k');
    assert.deepEqual({ versions: fresh.versions.map((v) => [v.id, v.stages]), retired: fresh.retired.map((r) => r.id) }, expected);
    await other.close();
    assert.deepEqual(drafts[0].checks, [{ hook: 'verify', ok: true }], 'the caller\'s drafts are untouched');
  });

  it('refuses apply and writeMeta without the lock (a programming error)', async () => {
    await assert.rejects(t.store.apply('api', [create('v1', 'one')], meta()), { code: 'ERR_INTERNAL' });
    await assert.rejects(t.store.writeMeta({ evidenceAnchors: {}, confirmedRuns: [] }), { code: 'ERR_INTERNAL' });
    assert.ok(!existsSync(t.path));
  });


  it('groups concurrent applies into few writes and acknowledges every one', async () => {
    const lock = await t.store.lock(LOCK);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => t.store.apply(`g${i}`, [create('v1', `value-${i}`)], meta())));
    await lock.release();
    // Every apply is acknowledged with its own entry's state, and every value is on disk.
    results.forEach((state, i) => assert.deepEqual(stages(state), { v1: ['CURRENT'] }, `g${i}`));
    assert.ok(t.store.stats.batches <= 5, `${t.store.stats.batches} appends for 200 applies`);
    const fresh = reopen();
    for (let i = 0; i < 200; i++) assert.equal((await fresh.readValue(`g${i}`, 'v1')).reveal(), `value-${i}`);
  });
});

/** The first bytes of a 100-byte record: a frame prefix that promises more than the file holds. */
function tornRecord() {
  const bytes = Buffer.alloc(40, 7);
  bytes.writeUInt32BE(100, 0);
  bytes.writeUInt32BE(~100 >>> 0, 4);
  return bytes;
}

function stages(state) {
  return Object.fromEntries(state.versions.map((v) => [v.id, v.stages]));
}

function snapshotDir(dir) {
  return readdirSync(dir).sort().map((name) => {
    const st = statSync(join(dir, name));
    return [name, st.size, st.mtimeMs, st.ino];
  });
}

describe('local store: rewrap (a data key re-wrapped by its master)', () => {
  it('replaces a version\'s value in place: id, stages and createdAt stay; another process reads the new value', async () => {
    const t = tempStore();
    try {
      assert.equal(t.store.capabilities.rewrap, true);
      const lock = await t.store.lock(LOCK);
      await t.store.apply('k', [create('v1', 'wrapped-one')], meta());
      await t.store.apply('k', [create('v2', 'wrapped-two', 'PENDING'), { type: 'promote', versionId: 'v2' }], meta());
      const before = await t.store.read('k');
      const after = await t.store.apply('k', [{ type: 'rewrap', versionId: 'v1', value: SecretValue.fromString('rewrapped-one') }, { type: 'rewrap', versionId: 'v2', value: SecretValue.fromString('rewrapped-two') }], meta());
      assert.deepEqual(after.versions, before.versions);
      await assert.rejects(t.store.apply('k', [{ type: 'rewrap', versionId: 'v1', value: SecretValue.fromString('x') }, { type: 'rewrap', versionId: 'gone', value: SecretValue.fromString('y') }], meta()), { code: 'ERR_VERSION_NOT_FOUND' });
      await lock.release();
      const other = openLocalStore({ path: t.path }, {});
      assert.deepEqual([(await other.readValue('k', 'v1')).reveal(), (await other.readValue('k', 'v2')).reveal()], ['rewrapped-one', 'rewrapped-two'], 'a refused apply changed nothing');
      await other.close();
    } finally {
      await t.store.close();
      t.cleanup();
    }
  });
});
