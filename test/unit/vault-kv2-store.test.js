// The shared conformance suite on the vault-kv2 store, over HTTP to a loopback Vault
// (test/fakes/vault/), plus what only this store promises: fields of the latest KV version, one KV
// version per change written with cas, custom_metadata within Vault's limits, retired values' KV
// versions destroyed, Vault's errors as keyshift's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testStore } from '../helpers/store-conformance.js';
import { startVault } from '../fakes/vault/server.js';
import { openVaultKv2Store } from '../../dist/stores/vault-kv2/index.js';
import { SecretValue } from '../../dist/secret-value.js';

let vault;
before(async () => {
  vault = await startVault({ token: 'root-token' });
});
after(async () => {
  await vault?.close();
});

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child() { return silent; } };
const meta = (overrides = {}) => ({ rotation: null, lastRotatedAt: null, pendingEvents: [], ...overrides });
const create = (versionId, text, stage) => ({ type: 'create', versionId, value: SecretValue.fromString(text), stage });

async function open(extraEnv = {}, specExtra = {}) {
  const stateDir = mkdtempSync(join(tmpdir(), 'keyshift-vault-state-'));
  const env = { KEYSHIFT_STATE_DIR: stateDir, VAULT_ADDR: vault.address, VAULT_TOKEN: 'root-token', ...extraEnv };
  const spec = { type: 'vault-kv2', key: 'unused', address: null, mount: 'secret', field: 'value', namespace: null, tokenFile: null, ...specExtra };
  const store = await openVaultKv2Store(spec, { env, log: silent, aws: {}, storeId: `vault-kv2:${stateDir}` });
  return { store, cleanup: () => rmSync(stateDir, { recursive: true, force: true }) };
}

testStore('vault-kv2', { create: () => open() });

describe('vault-kv2 specifics', () => {
  test('fields of the latest KV version, one cas write per change, other fields kept, retired versions destroyed', async () => {
    vault.seed('secret', 'app/api', { value: 'original', other: 'kept' });
    const { store, cleanup } = await open();
    const lock = await store.lock({ waitMs: 1000, owner: 't' });
    try {
      const adopted = await store.read('app/api');
      assert.deepEqual(adopted.versions.map((v) => [v.id, v.stages]), [['kv-1', ['CURRENT']]]);
      await store.apply('app/api', [create('v2', 'second', 'PENDING')], meta());
      let kv = vault.inspect('secret', 'app/api');
      assert.equal(kv.current_version, 2);
      assert.deepEqual(kv.data[2], { value: 'original', value_PENDING: 'second', other: 'kept' });
      await store.apply('app/api', [{ type: 'promote', versionId: 'v2' }], meta());
      kv = vault.inspect('secret', 'app/api');
      assert.deepEqual(kv.data[3], { value: 'second', value_PREVIOUS: 'original', other: 'kept' });
      await store.apply('app/api', [{ type: 'retire', versionId: 'kv-1' }], meta());
      kv = vault.inspect('secret', 'app/api');
      assert.equal(kv.current_version, 4);
      assert.deepEqual(kv.data[4], { value: 'second', other: 'kept' });
      for (const n of [1, 2, 3]) assert.equal(kv.versions[n].destroyed, true, `KV version ${n} held the retired value`);
      assert.ok(!JSON.stringify(kv.data).includes('original'), 'the retired value is in no KV version');
      const writes = vault.calls.filter((c) => c.method === 'POST' && c.path === '/v1/secret/data/app/api').map((c) => JSON.parse(c.body).options.cas);
      assert.deepEqual(writes, [1, 2, 3], 'each change is one write with cas = the version read');
      // A meta-only apply writes no KV version.
      await store.apply('app/api', [], meta({ lastRotatedAt: '2026-01-01T00:00:00.000Z' }));
      assert.equal(vault.inspect('secret', 'app/api').current_version, 4);
      for (const [k, v] of Object.entries(vault.inspect('secret', 'app/api').custom_metadata)) {
        assert.ok(Buffer.byteLength(v) <= 512 && Buffer.byteLength(k) <= 128, k);
      }
    } finally {
      await lock.release();
      await cleanup();
    }
  });

  test('max_versions 2 drops old KV versions, and every value keyshift needs is still readable', async () => {
    vault.seed('secret', 'app/small', { value: 'v0' }, { maxVersions: 2 });
    const { store, cleanup } = await open();
    const lock = await store.lock({ waitMs: 1000, owner: 't' });
    try {
      await store.apply('app/small', [create('a', 'alpha', 'PENDING')], meta());
      await store.apply('app/small', [{ type: 'promote', versionId: 'a' }], meta());
      await store.apply('app/small', [create('b', 'beta', 'PENDING')], meta());
      const kv = vault.inspect('secret', 'app/small');
      assert.deepEqual(Object.keys(kv.versions), ['3', '4']);
      assert.equal((await store.readValue('app/small', 'a')).reveal(), 'alpha');
      assert.equal((await store.readValue('app/small', 'kv-1')).reveal(), 'v0');
      assert.equal((await store.readValue('app/small', 'b')).reveal(), 'beta');
    } finally {
      await lock.release();
      await cleanup();
    }
  });

  test('a write that loses the cas race changes nothing and says so', async () => {
    vault.seed('secret', 'app/race', { value: 'one' });
    const { store, cleanup } = await open();
    const lock = await store.lock({ waitMs: 1000, owner: 't' });
    try {
      const before = await store.read('app/race');
      // Another writer lands between keyshift's read and its write.
      vault.deny((method, path) => {
        if (method === 'POST' && path === 'secret/metadata/app/race') {
          vault.deny(() => false);
          vault.seed('secret', 'app/race', { value: 'one', extra: 'theirs' });
        }
        return false;
      });
      await assert.rejects(store.apply('app/race', [create('v2', 'two', 'PENDING')], meta()), { code: 'ERR_STORE_CONFLICT' });
      const after = await store.read('app/race');
      assert.deepEqual(after.versions.map((v) => v.stages), before.versions.map((v) => v.stages));
      assert.equal(vault.inspect('secret', 'app/race').current_version, 2, 'only the other writer wrote');
    } finally {
      vault.deny(() => false);
      await lock.release();
      await cleanup();
    }
  });

  test('a write cut off between the record and the data reads as before, and the repeated step writes one version', async () => {
    vault.seed('secret', 'app/cut', { value: 'one' });
    const { store, cleanup } = await open();
    const lock = await store.lock({ waitMs: 1000, owner: 't' });
    try {
      const rotation = { rotationId: 'r-1', phase: 'overlap', newVersionId: 'v2', oldVersionId: 'kv-1', startedAt: '2026-01-01T00:00:00.000Z', switchedAt: null, decommissionAfter: null, reason: 'r', ticket: null, emergency: false, operator: 'o', error: null };
      await store.apply('app/cut', [create('v2', 'two', 'PENDING')], meta({ rotation }));
      // The switch: the record is written, then the process "dies" before the data write lands.
      vault.deny((method, path) => (method === 'POST' && path === 'secret/data/app/cut' ? 'drop' : false));
      const switched = { ...rotation, phase: 'fallback', switchedAt: '2026-01-01T00:01:00.000Z' };
      await assert.rejects(store.apply('app/cut', [{ type: 'promote', versionId: 'v2' }], meta({ rotation: switched })), { code: 'ERR_STORE_UNAVAILABLE' });
      vault.deny(() => false);
      assert.equal(vault.inspect('secret', 'app/cut').custom_metadata['keyshift-phase'], 'fallback', 'the record announcing the switch was written');
      const seen = await store.read('app/cut');
      assert.deepEqual(seen.versions.map((v) => [v.id, v.stages]), [['kv-1', ['CURRENT']], ['v2', ['PENDING']]], 'the switch has not happened');
      assert.equal(seen.rotation.phase, 'overlap', 'the record announces it, the reader reports the entry before it');
      const done = await store.apply('app/cut', [{ type: 'promote', versionId: 'v2' }], meta({ rotation: switched }));
      assert.deepEqual(done.versions.map((v) => [v.id, v.stages]), [['kv-1', ['PREVIOUS']], ['v2', ['CURRENT']]]);
      assert.equal(vault.inspect('secret', 'app/cut').current_version, 3, 'one version for the issue, one for the switch');
      assert.equal((await store.readValue('app/cut', 'v2')).reveal(), 'two');
    } finally {
      vault.deny(() => false);
      await lock.release();
      await cleanup();
    }
  });

  test('a retiring write cut off before its data leaves the latest version alone: the next apply destroys nothing it announced', async () => {
    // Found by the crash suite: a switch that retires the old value announces the KV versions to
    // destroy, dies before its data write; the rerun's next apply (ops [] clearing drafts) destroyed
    // them, the latest among them, so applications read a version with no value.
    vault.seed('secret', 'app/cut-retire', { value: 'one' });
    const { store, cleanup } = await open();
    const lock = await store.lock({ waitMs: 1000, owner: 't' });
    try {
      const rotation = { rotationId: 'r-1', phase: 'overlap', newVersionId: 'v2', oldVersionId: 'kv-1', startedAt: '2026-01-01T00:00:00.000Z', switchedAt: null, decommissionAfter: null, reason: 'r', ticket: null, emergency: true, operator: 'o', error: null };
      await store.apply('app/cut-retire', [create('v2', 'two', 'PENDING')], meta({ rotation }));
      vault.deny((method, path) => (method === 'POST' && path === 'secret/data/app/cut-retire' ? 'drop' : false));
      const switched = { ...rotation, phase: 'fallback', switchedAt: '2026-01-01T00:01:00.000Z' };
      await assert.rejects(store.apply('app/cut-retire', [{ type: 'promote', versionId: 'v2' }, { type: 'retire', versionId: 'kv-1' }], meta({ rotation: switched })));
      vault.deny(() => false);
      await store.apply('app/cut-retire', [], meta({ rotation }));
      const kv = vault.inspect('secret', 'app/cut-retire');
      assert.equal(kv.data[kv.current_version]?.value, 'one', 'the latest version still holds CURRENT');
      assert.deepEqual(Object.values(kv.versions).map((v) => v.destroyed), [false, false], 'nothing destroyed: the retire never happened');
    } finally {
      vault.deny(() => false);
      await lock.release();
      await cleanup();
    }
  });

  test('403, 503 sealed, a missing token and a namespace are Vault CLI-like', async () => {
    const { store, cleanup } = await open({ VAULT_TOKEN: 'wrong' });
    await assert.rejects(store.read('app/x'), (e) => e.code === 'ERR_STORE_ACCESS_DENIED' && /permission denied/.test(e.message));
    await cleanup();
    const ok = await open();
    vault.seal();
    try {
      await assert.rejects(ok.store.read('app/x'), (e) => e.code === 'ERR_STORE_UNAVAILABLE' && /sealed/.test(e.message) && /unseal/.test(e.hint));
    } finally {
      vault.unseal();
      await ok.cleanup();
    }
    await assert.rejects(open({ VAULT_TOKEN: '', HOME: '/nonexistent' }), (e) => e.code === 'ERR_VAULT_TOKEN' && e.exitCode === 2);
    const ns = await open({ VAULT_NAMESPACE: 'team-a' });
    await assert.rejects(ns.store.read('app/x'), { code: 'ERR_STORE_ACCESS_DENIED' }); // the fake serves no namespace
    const sent = vault.calls.at(-1).headers['x-vault-namespace'];
    assert.equal(sent, 'team-a');
    await ns.cleanup();
  });

  test('https: VAULT_CACERT names the CA that signed Vault\'s certificate; without it the certificate is refused', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-vault-tls-'));
    try {
      const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
      try {
        ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=keyshift-test-ca');
      } catch {
        t.skip('openssl is not installed');
        return;
      }
      ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
      writeFileSync(join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1\n');
      ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'ext');
      const secure = await startVault({ token: 'root-token', tls: { key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) } });
      try {
        secure.seed('secret', 'app/tls', { value: 'over-tls' });
        const trusted = await open({ VAULT_ADDR: secure.address, VAULT_CACERT: join(dir, 'ca.pem') });
        assert.equal((await trusted.store.readValue('app/tls', 'kv-1')).reveal(), 'over-tls');
        await trusted.cleanup();
        const untrusted = await open({ VAULT_ADDR: secure.address });
        await assert.rejects(untrusted.store.read('app/tls'), (e) => e.code === 'ERR_STORE_UNAVAILABLE' && /VAULT_CACERT/.test(e.hint));
        await untrusted.cleanup();
        await assert.rejects(open({ VAULT_ADDR: secure.address, VAULT_CACERT: join(dir, 'missing.pem') }), (e) => e.code === 'ERR_VAULT_CACERT' && e.exitCode === 2);
      } finally {
        await secure.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('custom_metadata beyond 64 keys is refused before anything is written', async () => {
    vault.seed('secret', 'app/full', { value: 'x' });
    const own = Object.fromEntries(Array.from({ length: 62 }, (_, i) => [`k${i}`, 'v']));
    const { store, cleanup } = await open();
    const lock = await store.lock({ waitMs: 1000, owner: 't' });
    try {
      const { VaultHttp } = await import('../../dist/stores/vault-kv2/http.js');
      const http = new VaultHttp({ address: vault.address, namespace: null, tokenFile: null }, { VAULT_TOKEN: 'root-token' });
      assert.equal((await http.call('POST', 'secret/metadata/app/full', { custom_metadata: own })).status, 204);
      assert.equal((await http.call('POST', 'secret/metadata/app/full', { custom_metadata: { ...own, a: '1', b: '2', c: '3' } })).status, 400, 'the fake enforces 64 keys');
      await assert.rejects(store.apply('app/full', [create('v2', 'two', 'PENDING')], meta()), { code: 'ERR_STORE_TAG_LIMIT' });
      assert.equal(vault.inspect('secret', 'app/full').current_version, 1);
    } finally {
      await lock.release();
      await cleanup();
    }
  });
});
