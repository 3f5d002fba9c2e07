// Which secrets and environments a run takes (selection.ts) and how wide it may batch them
// (batching.ts), on real local and dotenv stores in a temp dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectPolicies, targetsOf, previousEnvironment } from '../../dist/engine/selection.js';
import { batchWidth, queuesWrites } from '../../dist/engine/batching.js';
import { shardOf } from '../../dist/engine/shard.js';
import { StoreRegistry } from '../../dist/stores/registry.js';
import { SecretValue } from '../../dist/secret-value.js';

const quiet = { child: () => quiet, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-selection-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function registry(t) {
  const stores = new StoreRegistry({ env: {}, logger: quiet });
  t.after(() => stores.closeAll());
  return stores;
}

const env = (name, store, extra = {}) => ({ name, store, deploy: [], verify: [], ...extra });
const secret = (name, environments, extra = {}) => ({ name, environments, revoke: [], decommissionCheck: [], notify: [], generator: { type: 'random' }, ...extra });
const local = (path, key) => ({ type: 'local', path, key });

/** Three secrets: a and b in dev and prod, c in staging only. */
function policies(dir = '/nowhere') {
  return [
    secret('a', [env('dev', local(join(dir, 'dev.store'), 'a')), env('prod', local(join(dir, 'prod.store'), 'a'))]),
    secret('b', [env('dev', local(join(dir, 'dev.store'), 'b')), env('prod', local(join(dir, 'prod.store'), 'b'))]),
    secret('c', [env('staging', local(join(dir, 'staging.store'), 'c'))]),
  ];
}
const names = (list) => list.map((p) => p.name);
const select = (selection) => selectPolicies(policies(), { names: [], all: false, envs: [], ...selection });

test('selectPolicies: no names or --all take every secret in policy order; names take the named ones', () => {
  assert.deepEqual(names(select({})), ['a', 'b', 'c']);
  assert.deepEqual(names(select({ all: true })), ['a', 'b', 'c']);
  assert.deepEqual(names(select({ all: true, names: ['c'] })), ['a', 'b', 'c'], '--all wins over names');
  assert.deepEqual(names(select({ names: ['c'] })), ['c']);
  assert.deepEqual(names(select({ names: ['c', 'a'] })), ['c', 'a']);
  const all = policies();
  assert.equal(selectPolicies(all, { names: ['b'], all: false, envs: [] })[0], all[1], 'the policy object itself');
});

test('selectPolicies: unknown names are a usage error naming each of them and the known secrets', () => {
  assert.throws(() => select({ names: ['a', 'x', 'y'] }), (error) => {
    assert.equal(error.code, 'ERR_USAGE');
    assert.equal(error.exitCode, 2);
    assert.equal(error.message, 'unknown secret "x", "y"');
    assert.equal(error.hint, 'known secrets: a, b, c');
    return true;
  });
  assert.throws(() => selectPolicies([], { names: ['x'], all: false, envs: [] }), (error) => {
    assert.equal(error.message, 'unknown secret "x"');
    assert.equal(error.hint, 'known secrets: (none)');
    return true;
  });
  assert.throws(() => select({ names: ['x'], all: true }), /unknown secret "x"/, 'with --all too');
});

test('selectPolicies: --shard keeps the secrets whose name hashes to the shard', () => {
  const many = Array.from({ length: 12 }, (_, i) => secret(`s${i}`, [env('dev', local('/x', `s${i}`))]));
  const run = (shard, selection = {}) => names(selectPolicies(many, { names: [], all: false, envs: [], shard, ...selection }));
  const first = run({ index: 1, count: 3 });
  const second = run({ index: 2, count: 3 });
  const third = run({ index: 3, count: 3 });
  assert.deepEqual(first, names(many).filter((n) => shardOf(n, 3) === 1));
  assert.ok(first.length > 0 && second.length > 0 && third.length > 0);
  assert.equal(first.length + second.length + third.length, 12);
  assert.deepEqual([...first, ...second, ...third].sort(), names(many).sort());
  assert.deepEqual(run({ index: shardOf('s5', 3), count: 3 }, { names: ['s5', 's0'] }).includes('s5'), true);
  assert.deepEqual(run(undefined), names(many));
});

test('selectPolicies: --env must name an environment of the named secrets', () => {
  assert.deepEqual(names(select({ envs: ['staging'] })), ['a', 'b', 'c'], 'the secrets are not filtered by --env');
  assert.deepEqual(names(select({ names: ['a'], envs: ['prod', 'dev'] })), ['a']);
  assert.throws(() => select({ names: ['a'], envs: ['staging', 'qa', 'dev'] }), (error) => {
    assert.equal(error.code, 'ERR_USAGE');
    assert.equal(error.exitCode, 2);
    assert.equal(error.message, 'unknown environment "staging", "qa"');
    assert.equal(error.hint, 'environments of the selected secrets: dev, prod');
    return true;
  });
});

test('selectPolicies: an environment of a named secret outside the shard is still known', () => {
  const many = Array.from({ length: 8 }, (_, i) => secret(`s${i}`, [env(`e${i}`, local('/x', `s${i}`))]));
  const outside = many.find((p) => shardOf(p.name, 2) === 2);
  const chosen = selectPolicies(many, { names: [], all: false, envs: [outside.environments[0].name], shard: { index: 1, count: 2 } });
  assert.ok(!names(chosen).includes(outside.name));
  assert.ok(chosen.length > 0);
});

test('targetsOf: one target per environment, filtered by --env, with its store, store id and key', async (t) => {
  const dir = tempDir(t);
  const stores = registry(t);
  const list = policies(dir);
  const targets = await targetsOf(list, [], stores);
  assert.deepEqual(targets.map((x) => `${x.policy.name}/${x.environment.name}`), ['a/dev', 'a/prod', 'b/dev', 'b/prod', 'c/staging']);
  assert.equal(targets[0].policy, list[0]);
  assert.equal(targets[1].environment, list[0].environments[1]);
  assert.equal(targets[0].storeId, `local:${join(dir, 'dev.store')}`);
  assert.equal(targets[3].storeId, `local:${join(dir, 'prod.store')}`);
  assert.deepEqual(targets.map((x) => x.key), ['a', 'a', 'b', 'b', 'c']);
  assert.equal(targets[0].store, targets[2].store, 'one store per location');
  assert.notEqual(targets[0].store, targets[1].store);
  assert.equal(targets[0].store, await stores.get(list[0].environments[0].store));
  const prod = await targetsOf(list, ['prod'], stores);
  assert.deepEqual(prod.map((x) => `${x.policy.name}/${x.environment.name}`), ['a/prod', 'b/prod']);
  const two = await targetsOf(list, ['staging', 'dev'], stores);
  assert.deepEqual(two.map((x) => `${x.policy.name}/${x.environment.name}`), ['a/dev', 'b/dev', 'c/staging']);
  assert.deepEqual(await targetsOf([], [], stores), []);
});

test('previousEnvironment: the environment before the target and what its store holds', async (t) => {
  const dir = tempDir(t);
  const stores = registry(t);
  const list = policies(dir);
  const targets = await targetsOf(list, [], stores);
  assert.equal(await previousEnvironment(targets[0], stores), undefined, 'the first environment has none');
  assert.equal(await previousEnvironment(targets[4], stores), undefined, 'a single environment has none');
  const empty = await previousEnvironment(targets[1], stores);
  assert.equal(empty.environment, list[0].environments[0]);
  assert.equal(empty.state, null, 'nothing stored in dev yet');
  const dev = targets[0].store;
  const lock = await dev.lock({ waitMs: 1000, owner: 'test' });
  await dev.apply('a', [{ type: 'create', versionId: 'v1', value: SecretValue.fromString('one'), stage: 'CURRENT' }], { rotation: null, lastRotatedAt: null, pendingEvents: [] });
  await lock.release();
  const held = await previousEnvironment(targets[1], stores);
  assert.equal(held.environment, list[0].environments[0]);
  assert.deepEqual(held.state.versions.map((v) => [v.id, v.stages]), [['v1', ['CURRENT']]]);
  assert.equal((await previousEnvironment(targets[3], stores)).state, null, 'b is not in dev yet');
});

test('batchWidth: local stores batch 128 secrets, file stores 10,000, others none', async (t) => {
  const dir = tempDir(t);
  const stores = registry(t);
  const list = [
    secret('a', [env('dev', local(join(dir, 'dev.store'), 'a'))]),
    secret('b', [env('dev', { type: 'dotenv', path: join(dir, '.env'), key: 'B' })]),
    secret('c', [env('dev', { type: 'dotenv', path: join(dir, '.env'), key: 'C' })]),
  ];
  const [a, b, c] = await targetsOf(list, [], stores);
  assert.equal(batchWidth([a]), 128);
  assert.equal(batchWidth([b, c]), 10_000);
  assert.equal(batchWidth([a, b]), 128, 'a local store with file stores: the narrower width');
  assert.equal(batchWidth([b, a, c]), 128);
  assert.equal(batchWidth([]), 10_000);
  // A store with neither capability (e.g. a cloud store) or with no capabilities at all.
  const plain = { ...a, store: { capabilities: { atomicApply: true } } };
  const bare = { ...a, store: {} };
  assert.equal(batchWidth([plain]), null);
  assert.equal(batchWidth([bare]), null);
  assert.equal(batchWidth([a, bare]), null);
  assert.equal(batchWidth([b, bare]), null);
  assert.equal(batchWidth([{ ...b, store: { capabilities: { batchedWrites: 1 } } }]), null, 'only true counts');
  assert.equal(batchWidth([{ ...b, store: { capabilities: { groupCommit: 1 } } }]), null, 'only true counts');
});

test('batchWidth: a secret that touches anything outside this machine is never batched', async (t) => {
  const dir = tempDir(t);
  const stores = registry(t);
  const [a] = await targetsOf([secret('a', [env('dev', local(join(dir, 'dev.store'), 'a'))])], [], stores);
  const hook = { kind: 'command', label: 'h', command: ['true'] };
  const withEnv = (extra) => ({ ...a, environment: { ...a.environment, ...extra } });
  const withStore = (extra) => ({ ...a, environment: { ...a.environment, store: { ...a.environment.store, ...extra } } });
  const withPolicy = (extra) => ({ ...a, policy: { ...a.policy, ...extra } });
  assert.equal(batchWidth([a]), 128);
  assert.equal(batchWidth([a, withEnv({ deploy: [hook] })]), null, 'deploy');
  assert.equal(batchWidth([withEnv({ verify: [hook] })]), null, 'verify');
  assert.equal(batchWidth([withStore({ lock: { table: 'locks' } })]), null, 'a lock table');
  assert.equal(batchWidth([withPolicy({ revoke: [hook] })]), null, 'revoke');
  assert.equal(batchWidth([withPolicy({ decommissionCheck: [hook] })]), null, 'decommissionCheck');
  assert.equal(batchWidth([withPolicy({ notify: [{ url: 'https://example.test' }] })]), null, 'notify');
  assert.equal(batchWidth([withPolicy({ generator: { type: 'command', command: ['gen'] } })]), null, 'a generator command');
  assert.equal(batchWidth([withPolicy({ generator: undefined })]), 128, 'no generator: the default one');
  assert.equal(batchWidth([withPolicy({ generator: { type: 'random' } })]), 128);
});

test('queuesWrites: only a secret of one environment, on a store that queues writes, waiting on nothing outside, in a run without data keys, without reencrypt:', async (t) => {
  const dir = tempDir(t);
  const stores = registry(t);
  const list = [
    secret('a', [env('dev', local(join(dir, 'dev.store'), 'a'))]),
    secret('b', [env('dev', local(join(dir, 'dev.store'), 'b')), env('prod', local(join(dir, 'prod.store'), 'b'))]),
    secret('c', [env('dev', { type: 'dotenv', path: join(dir, '.env'), key: 'C' })]),
  ];
  const [a, bDev, bProd, c] = await targetsOf(list, [], stores);
  assert.equal(queuesWrites([a], false), true);
  assert.equal(queuesWrites([a], true), false, 'a run with data-key secrets: a master key\'s gate reads its data keys');
  assert.equal(queuesWrites([bDev, bProd], false), false, 'two environments: the later one builds on the earlier one\'s writes');
  assert.equal(queuesWrites([bDev], false), true, 'one environment selected of two (--env)');
  assert.equal(queuesWrites([], false), false);
  assert.equal(queuesWrites([c], false), false, 'a file store queues no writes');
  assert.equal(queuesWrites([{ ...a, policy: { ...a.policy, reencrypt: { database: 'x' } } }], false), false, 'reencrypt: counts rows under the old version');
  assert.equal(queuesWrites([{ ...a, environment: { ...a.environment, deploy: [{ kind: 'command', label: 'h', command: ['true'] }] } }], false), false, 'a deploy hook');
  assert.equal(queuesWrites([{ ...a, policy: { ...a.policy, notify: [{ url: 'https://example.test' }] } }], false), false, 'a webhook');
});
