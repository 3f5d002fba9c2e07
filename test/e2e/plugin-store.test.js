// A plugin store through the CLI, as a user runs it: the example JSON-file plugin through a whole
// rotation, and the policy errors of a plugin that cannot be loaded (exit 2, the module named, a hint).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertNoStackTrace, cli, json, readEvidence, root, tempProject, writeFiles } from '../helpers/cli.js';

const EXAMPLE = join(root, 'examples', 'json-file-store', 'index.js');

const policy = (store) => `secrets:
  - name: api-key
    interval: 30d
    fallbackWindow: 1s
    generator: { type: random, bytes: 16, encoding: hex }
    environments:
      - name: dev
        store: ${store}
`;

test('plugin store: provision, rotate, fallback, decommission and evidence through the example plugin', async () => {
  const dir = tempProject('keyshift-plugin-');
  writeFiles(dir, { 'policies/p.yaml': policy(`{ type: plugin, module: "${EXAMPLE}", path: .keyshift/dev.json, key: apps/api }`) });
  const file = () => JSON.parse(readFileSync(join(dir, '.keyshift', 'dev.json'), 'utf8')).entries['apps/api'];
  const valueOf = (id) => Buffer.from(file().versions.find((v) => v.id === id).value, 'base64').toString();

  assert.equal((await cli(['validate'], { cwd: dir })).code, 0);
  const provisioned = json(await cli(['rotate', '--all', '--json'], { cwd: dir }));
  assert.equal(provisioned.results[0].outcome, 'provisioned');
  const first = provisioned.results[0].toVersion;
  assert.equal((await cli(['get', 'api-key'], { cwd: dir })).stdout, `${valueOf(first)}\n`);

  const rotated = json(await cli(['rotate', '--all', '--force', '--reason', 'test', '--json'], { cwd: dir }));
  assert.equal(rotated.results[0].outcome, 'rotated');
  const status = json(await cli(['status', '--json'], { cwd: dir })).secrets[0];
  assert.deepEqual([status.phase, status.currentVersion, status.previousVersion], ['fallback', rotated.results[0].toVersion, first]);
  assert.equal((await cli(['get', 'api-key', '--stage', 'previous'], { cwd: dir })).stdout, `${valueOf(first)}\n`);

  await sleep(1100);
  assert.equal(json(await cli(['rotate', '--all', '--json'], { cwd: dir })).results[0].outcome, 'decommissioned');
  assert.deepEqual(file().versions.map((v) => v.stages), [['CURRENT']]);
  assert.deepEqual(file().retired.map((r) => r.id), [first]);
  assert.equal((await cli(['evidence', 'verify'], { cwd: dir })).code, 0);
  assert.deepEqual(readEvidence(dir).map((e) => [e.event, e.store]).slice(0, 2), [['provisioned', 'plugin'], ['issued', 'plugin']]);

  // The plugin's lockFile() lets doctor find a lock a dead run left.
  writeFiles(dir, { '.keyshift/dev.json.lock': JSON.stringify({ pid: 999_999_999, host: hostname(), owner: 'dead run', token: 't', acquiredAt: '2026-01-01T00:00:00.000Z' }) });
  const doctor = json(await cli(['doctor', '--json'], { cwd: dir }));
  assert.ok(JSON.stringify(doctor).includes('dead-lock'), JSON.stringify(doctor));
});

test('plugin store: a module that is missing, fails to load or has no createStore is a policy error (exit 2) naming it', async () => {
  const dir = tempProject('keyshift-plugin-bad-');
  writeFiles(dir, {
    'stores/throws.js': "throw new Error('boom at load');\n",
    'stores/no-default.js': 'export const createStore = () => ({});\n',
    'stores/not-a-store.js': 'export default () => ({ read() {} });\n',
  });
  const cases = [
    ['./stores/missing.js', /plugin store module \/.*\/stores\/missing\.js does not exist\n  hint: a relative module path resolves against the directory keyshift runs in/],
    ['keyshift-store-not-installed', /plugin store module keyshift-store-not-installed cannot be found\n  hint: install the package/],
    ['./stores/throws.js', /throws\.js failed to load: boom at load\n  hint: /],
    ['./stores/no-default.js', /no-default\.js has no default export createStore\(spec, context\)/],
    ['./stores/not-a-store.js', /createStore returned no store: readValue, fingerprint, lock, apply, readMeta, writeMeta, close missing/],
  ];
  for (const [module, message] of cases) {
    writeFiles(dir, { 'policies/p.yaml': policy(`{ type: plugin, module: ${module} }`) });
    const result = await cli(['rotate', '--all'], { cwd: dir });
    assert.equal(result.code, 2, `${module}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assertNoStackTrace(assert, result.stderr);
  }
  writeFiles(dir, { 'policies/p.yaml': policy('{ type: plugin }') });
  const invalid = await cli(['validate'], { cwd: dir });
  assert.equal(invalid.code, 2);
  assert.match(invalid.stderr, /p\.yaml:\d+:\d+: .*module/);
});

test('plugin store: the module is loaded only when a selected secret uses it', async () => {
  const dir = tempProject('keyshift-plugin-lazy-');
  writeFiles(dir, {
    'stores/loud.cjs': "require('node:fs').writeFileSync('loaded', '');\n",
    'policies/a.yaml': policy('{ type: local, path: .keyshift/dev.store }'),
    'policies/b.yaml': policy('{ type: plugin, module: ./stores/loud.cjs }').replace('api-key', 'other-key'),
  });
  assert.equal((await cli(['rotate', 'api-key'], { cwd: dir })).code, 0);
  assert.throws(() => readFileSync(join(dir, 'loaded')), { code: 'ENOENT' }, 'not loaded for a secret on another store');
  assert.equal((await cli(['rotate', 'other-key'], { cwd: dir })).code, 2, 'loud.cjs exports no createStore');
  assert.doesNotThrow(() => readFileSync(join(dir, 'loaded')), 'loaded once a selected secret names it');
});
