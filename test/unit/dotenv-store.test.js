// The dotenv store: the shared conformance suite, then what only a .env file shows — other lines
// kept byte for byte, the file's mode, quoting, refused values, adoption and the crash window
// between the sidecar write and the .env write.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync, readdirSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testStore } from '../helpers/store-conformance.js';
import { openDotenvStore } from '../../dist/stores/dotenv/index.js';
import { SecretValue } from '../../dist/secret-value.js';

const LOCK = { waitMs: 2_000, owner: 'dotenv-test' };

function open(dir, file = '.env', key = 'X') {
  const path = join(dir, file);
  const env = { HOME: dir, KEYSHIFT_STATE_DIR: join(dir, 'state') };
  return { path, store: openDotenvStore({ type: 'dotenv', path, key }, { env, log: null, aws: {}, storeId: `dotenv:${path}` }) };
}

const meta = (overrides = {}) => ({ rotation: null, lastRotatedAt: null, pendingEvents: [], ...overrides });
const create = (versionId, text, stage) => ({ type: 'create', versionId, value: SecretValue.fromString(text), stage });

testStore('dotenv', {
  create: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-dotenv-conf-'));
    // Conformance keys are `conf-…`: map them to variable names.
    const { store } = open(dir);
    const wrapped = withKeys(store, (k) => k.toUpperCase().replaceAll('-', '_'));
    return { store: wrapped, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  },
});

/** The store with the suite's keys mapped to this store's entry keys. */
export function withKeys(store, name) {
  return {
    kind: store.kind,
    location: store.location,
    capabilities: store.capabilities,
    read: (k) => store.read(name(k)),
    readValue: (k, id) => store.readValue(name(k), id),
    fingerprint: (value) => store.fingerprint(value),
    lock: (options) => store.lock(options),
    apply: (k, ops, m) => store.apply(name(k), ops, m),
    readMeta: () => store.readMeta(),
    writeMeta: (m) => store.writeMeta(m),
    close: () => store.close(),
  };
}

describe('dotenv store: the .env file', () => {
  it('keeps every other line, comment and the order byte for byte, and only its own lines change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-dotenv-'));
    const { path, store } = open(dir);
    const original = '# app settings\r\nexport DATABASE_URL="postgres://db/app" # primary\r\n\r\nAPI_KEY=old-value\r\nLOG_LEVEL=debug';
    writeFileSync(path, original);
    chmodSync(path, 0o640);
    const lock = await store.lock(LOCK);
    const adopted = await store.read('API_KEY');
    assert.deepEqual(adopted.versions.map((v) => [v.id, v.stages]), [['v-adopted', ['CURRENT']]]);
    assert.equal((await store.readValue('API_KEY', 'v-adopted')).reveal(), 'old-value');
    await store.apply('API_KEY', [create('v2', 'new-value', 'PENDING')], meta());
    assert.equal(readFileSync(path, 'utf8'), original.replace('API_KEY=old-value\r\n', 'API_KEY=old-value\r\nAPI_KEY_PENDING=new-value\r\n'));
    await store.apply('API_KEY', [{ type: 'promote', versionId: 'v2' }], meta());
    assert.equal(readFileSync(path, 'utf8'), original.replace('API_KEY=old-value\r\n', 'API_KEY=new-value\r\nAPI_KEY_PREVIOUS=old-value\r\n'));
    await store.apply('API_KEY', [{ type: 'retire', versionId: 'v-adopted' }], meta());
    assert.equal(readFileSync(path, 'utf8'), original.replace('old-value', 'new-value'));
    await store.apply('NEW_KEY', [create('n1', 'x y#z', 'CURRENT')], meta());
    assert.equal(readFileSync(path, 'utf8'), `${original.replace('old-value', 'new-value')}\r\nNEW_KEY='x y#z'\r\n`);
    assert.equal(statSync(path).mode & 0o777, 0o640, 'the mode of an existing file is kept');
    assert.equal(statSync(`${path}.keyshift.json`).mode & 0o777, 0o600);
    assert.ok(!readFileSync(`${path}.keyshift.json`, 'utf8').includes('new-value'), 'no value in the sidecar');
    await lock.release();
    await store.close();
  });

  it('creates a new .env file with mode 0600', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-dotenv-'));
    const { path, store } = open(dir, 'config/app.env');
    const lock = await store.lock(LOCK);
    await store.apply('TOKEN', [create('v1', 'abc', 'CURRENT')], meta());
    assert.equal(readFileSync(path, 'utf8'), 'TOKEN=abc\n');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    await lock.release();
    assert.deepEqual(readdirSync(join(dir, 'config')).sort(), ['app.env', 'app.env.keyshift.json'], 'no temp or lock file left');
  });

  it('refuses a value that cannot be one line, and writes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-dotenv-'));
    const { path, store } = open(dir);
    const lock = await store.lock(LOCK);
    await store.apply('TOKEN', [create('v1', 'abc', 'CURRENT')], meta());
    const before = readFileSync(path, 'utf8');
    for (const bad of ['two\nlines', 'nul\0byte', `#all'three"quotes\``]) {
      await assert.rejects(store.apply('TOKEN', [create('v2', bad, 'PENDING')], meta()), (error) => {
        assert.equal(error.code, 'ERR_STORE_REFUSED');
        assert.match(error.message, /TOKEN_PENDING cannot be written on one \.env line/);
        assert.ok(!error.message.includes(bad));
        return true;
      });
    }
    assert.equal(readFileSync(path, 'utf8'), before);
    assert.deepEqual((await store.read('TOKEN')).versions.map((v) => v.id), ['v1']);
    await lock.release();
  });

  it('quotes values so that dotenv reads them back unchanged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-dotenv-'));
    const { path, store } = open(dir);
    const lock = await store.lock(LOCK);
    const values = ['plain+/=', ' lead', 'trail ', 'has #hash', "it's", 'say "hi" it\'s', '', '#start', 'back\\slash'];
    for (const [i, v] of values.entries()) await store.apply(`V${i}`, [create('v1', v, 'CURRENT')], meta());
    await lock.release();
    await store.close();
    const { store: again } = open(dir);
    for (const [i, v] of values.entries()) assert.equal((await again.readValue(`V${i}`, 'v1')).reveal(), v, `V${i}`);
    assert.match(readFileSync(path, 'utf8'), /^V0=plain\+\/=$/m);
  });

  it('a crash between the sidecar write and the .env write leaves the state before the apply', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-dotenv-'));
    const { path, store } = open(dir);
    const lock = await store.lock(LOCK);
    await store.apply('TOKEN', [create('v1', 'one', 'CURRENT')], meta());
    await store.apply('TOKEN', [create('v2', 'two', 'PENDING')], meta());
    const envBefore = readFileSync(path, 'utf8');
    await store.apply('TOKEN', [{ type: 'promote', versionId: 'v2' }], meta({ lastRotatedAt: 'switched' }));
    await lock.release();
    await store.close();
    // The sidecar says "switched", the .env file is still the one before: as if the crash came between them.
    writeFileSync(path, envBefore);
    const { store: after } = open(dir);
    const state = await after.read('TOKEN');
    assert.deepEqual(state.versions.map((v) => [v.id, v.stages]), [['v1', ['CURRENT']], ['v2', ['PENDING']]]);
    assert.equal(state.lastRotatedAt, null);
    assert.equal((await after.readValue('TOKEN', 'v1')).reveal(), 'one');
    // A hand edit matches neither state: a clear error, not a guess.
    writeFileSync(path, envBefore.replace('TOKEN=one', 'TOKEN=edited'));
    const { store: edited } = open(dir);
    await assert.rejects(edited.read('TOKEN'), /do not hold the values keyshift recorded/);
  });

  it('batches concurrent applies into fewer writes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-dotenv-'));
    const { store } = open(dir);
    const lock = await store.lock(LOCK);
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.apply(`K${i}`, [create('v1', `value${i}`, 'CURRENT')], meta())));
    assert.ok(store.batches <= 3, `20 concurrent applies took ${store.batches} writes`);
    for (let i = 0; i < 20; i++) assert.equal((await store.readValue(`K${i}`, 'v1')).reveal(), `value${i}`);
    await lock.release();
  });

  it('records a value it found in the file on the first write, so later writes do not make it younger', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-dotenv-'));
    const { path, store } = open(dir, '.env', 'OLD_KEY');
    writeFileSync(path, 'OLD_KEY=from-before\n');
    utimesSync(path, new Date('2020-01-01T00:00:00Z'), new Date('2020-01-01T00:00:00Z'));
    const lock = await store.lock(LOCK);
    await store.apply('OTHER', [create('v1', 'x', 'CURRENT')], meta());
    await store.apply('OTHER', [create('v2', 'y', 'PENDING')], meta());
    await lock.release();
    await store.close();
    const { store: again } = open(dir, '.env', 'OLD_KEY');
    assert.deepEqual((await again.read('OLD_KEY')).versions.map((v) => [v.id, v.createdAt]), [['v-adopted', '2020-01-01T00:00:00.000Z']]);
    assert.equal((await again.readValue('OLD_KEY', 'v-adopted')).reveal(), 'from-before');
  });
});
