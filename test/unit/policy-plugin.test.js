// The plugin store in a policy: module paths resolve against the working directory, package
// names stay names, the other keys are the plugin's options; exportAs is a variable name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { load } from '../helpers/policy-fixture.js';

const secret = (store, extra = '') => `secrets:
  - name: api-key
    interval: 90d
    fallbackWindow: 48h
    generator: { type: random, bytes: 32 }
${extra}    environments:
      - name: dev
        store: ${store}
`;

test('plugin store: a relative module becomes absolute, a package name stays, other keys are options', async () => {
  const relative = await load(secret('{ type: plugin, module: ./stores/s.js, path: x.json, nested: { a: 1 } }'));
  assert.deepEqual(relative.errors, []);
  assert.deepEqual(relative.policies[0].environments[0].store, {
    type: 'plugin',
    module: join(relative.cwd, 'stores', 's.js'),
    key: 'api-key',
    options: { path: 'x.json', nested: { a: 1 } },
  });
  const named = await load(secret('{ type: plugin, module: keyshift-store-foo, key: apps/api }'));
  assert.deepEqual(named.policies[0].environments[0].store, { type: 'plugin', module: 'keyshift-store-foo', key: 'apps/api', options: {} });
});

test('plugin store: a missing or empty module and a bad key are errors with file, line and column', async () => {
  for (const [store, message] of [
    ['{ type: plugin }', /store\.module: /],
    ['{ type: plugin, module: "" }', /module: must not be empty/],
    ['{ type: plugin, module: ./s.js, key: "a b" }', /key: must be 1-200 characters/],
  ]) {
    const { errors } = await load(secret(store));
    assert.equal(errors.length, 1, store);
    assert.match(`${errors[0].file}:${errors[0].line}:${errors[0].col}: ${errors[0].message}`, new RegExp(`^policies/p\\.yaml:\\d+:\\d+: .*${message.source}`), store);
  }
});

test('exportAs: kept when it is a variable name, an error otherwise; null by default', async () => {
  const ok = await load(secret('{ type: local, path: a.store }', '    exportAs: WEBHOOK_KEY_2\n'));
  assert.equal(ok.policies[0].exportAs, 'WEBHOOK_KEY_2');
  assert.equal((await load(secret('{ type: local, path: a.store }'))).policies[0].exportAs, null);
  for (const bad of ['2KEY', 'WEBHOOK-KEY', '"A B"', '""']) {
    const { errors } = await load(secret('{ type: local, path: a.store }', `    exportAs: ${bad}\n`));
    assert.match(errors[0]?.message ?? '', /exportAs: must be an environment variable name/, bad);
  }
});
