// The loopback Vault answers as Vault's KV v2 API documents (test/fakes/vault/): a fake that drifts
// from Vault would let the store pass here and fail against the real thing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startVault } from './vault/server.js';

let vault;
before(async () => {
  vault = await startVault({ token: 't' });
});
after(() => vault?.close());

const call = async (method, path, body, token = 't') => {
  const res = await fetch(`${vault.address}/v1/${path}`, { method, headers: { 'X-Vault-Token': token, 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
};

test('data: write with cas, read the latest or a version, 404 {errors: []} when missing', async () => {
  assert.deepEqual(await call('GET', 'secret/data/a'), { status: 404, body: { errors: [] } });
  assert.equal((await call('POST', 'secret/data/a', { data: { v: '1' }, options: { cas: 0 } })).body.data.version, 1);
  assert.deepEqual(await call('POST', 'secret/data/a', { data: { v: '2' }, options: { cas: 0 } }), { status: 400, body: { errors: ['check-and-set parameter did not match the current version'] } });
  assert.equal((await call('POST', 'secret/data/a', { data: { v: '2' }, options: { cas: 1 } })).body.data.version, 2);
  assert.deepEqual((await call('GET', 'secret/data/a')).body.data.data, { v: '2' });
  assert.deepEqual((await call('GET', 'secret/data/a?version=1')).body.data.data, { v: '1' });
});

test('metadata: versions map, custom_metadata validated (64 keys, 128-byte keys, 512-byte values)', async () => {
  const meta = (await call('GET', 'secret/metadata/a')).body.data;
  assert.equal(meta.current_version, 2);
  assert.deepEqual(Object.keys(meta.versions), ['1', '2']);
  assert.equal(meta.versions['1'].destroyed, false);
  assert.equal((await call('POST', 'secret/metadata/a', { custom_metadata: { ok: 'x'.repeat(512) } })).status, 204);
  for (const bad of [{ ok: 'x'.repeat(513) }, { ['k'.repeat(129)]: 'v' }, Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']))]) {
    const answer = await call('POST', 'secret/metadata/a', { custom_metadata: bad });
    assert.equal(answer.status, 400);
    assert.match(answer.body.errors[0], /custom_metadata validation failed/);
  }
  assert.deepEqual((await call('GET', 'secret/metadata/a')).body.data.custom_metadata, { ok: 'x'.repeat(512) }, 'a refused write changes nothing');
});

test('max_versions trims the oldest; destroy empties a version; 403 and 503 sealed', async () => {
  await call('POST', 'secret/metadata/b', { max_versions: 2 });
  for (let i = 0; i < 3; i++) await call('POST', 'secret/data/b', { data: { i: String(i) } });
  assert.deepEqual(Object.keys((await call('GET', 'secret/metadata/b')).body.data.versions), ['2', '3']);
  assert.equal((await call('POST', 'secret/destroy/b', { versions: [2] })).status, 204);
  const destroyed = await call('GET', 'secret/data/b?version=2');
  assert.equal(destroyed.status, 404);
  assert.equal(destroyed.body.data.data, null);
  assert.equal(destroyed.body.data.metadata.destroyed, true);
  assert.deepEqual(await call('GET', 'secret/data/b', undefined, 'bad'), { status: 403, body: { errors: ['permission denied'] } });
  vault.seal();
  assert.deepEqual(await call('GET', 'secret/data/b'), { status: 503, body: { errors: ['Vault is sealed'] } });
  vault.unseal();
});
