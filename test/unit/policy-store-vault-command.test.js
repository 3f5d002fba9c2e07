// Policy fields of the vault-kv2 and command stores: defaults after normalisation, and one-line
// errors naming the field and the fix.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicies } from '../../dist/policy/load.js';

const dirs = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

async function load(store) {
  const cwd = mkdtempSync(join(tmpdir(), 'keyshift-policy-store-'));
  dirs.push(cwd);
  mkdirSync(join(cwd, 'policies'));
  writeFileSync(join(cwd, 'policies', 'p.yaml'), `secrets:\n  - name: api-key\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments:\n      - name: dev\n        store: ${store}\n`);
  return { cwd, ...(await loadPolicies('policies', { cwd })) };
}

test('vault-kv2: defaults as the Vault CLI, the path is the entry key', async () => {
  const { errors, policies } = await load('{ type: vault-kv2, path: app/api-key }');
  assert.deepEqual(errors, []);
  assert.deepEqual(policies[0].environments[0].store, { type: 'vault-kv2', key: 'app/api-key', address: null, mount: 'secret', field: 'value', namespace: null, tokenFile: null });
});

test('command: run resolved against the working directory, config kept, timeout 30s by default', async () => {
  const { cwd, errors, policies } = await load('{ type: command, run: [./stores/s.sh, --flag], config: { dir: x } }');
  assert.deepEqual(errors, []);
  assert.deepEqual(policies[0].environments[0].store, { type: 'command', key: 'api-key', run: [join(cwd, 'stores/s.sh'), '--flag'], config: { dir: 'x' }, timeoutMs: 30_000 });
});

for (const [store, pattern] of [
  ['{ type: vault-kv2, path: "/abs" }', /store\.path: must be a secret path/],
  ['{ type: vault-kv2, path: a, address: "vault:8200" }', /store\.address: must be an http\(s\) URL/],
  ['{ type: vault-kv2, path: a, feild: x }', /store.*feild.*allowed keys: type, address, mount, path, field, namespace, tokenFile/],
  ['{ type: command, run: [] }', /store\.run: needs at least the program to run/],
  ['{ type: command, run: [x], timeout: 2d }', /store\.timeout: must be at most 24h/],
]) {
  test(`a bad store is one error naming the field: ${store}`, async () => {
    const { errors } = await load(store);
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0].message, pattern);
  });
}
