// Cases the first mutation runs of the engine's run files showed unchecked (test/mutation/
// review-engine-run.md), kept apart so that adding them re-tests only the mutants that survived:
// status of an entry before its switch and beside a damaged previous store, get of a later secret,
// plan --env of a later environment reading the earlier one's store, export with an unknown --env.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { project, secretYaml, all, DAY } from '../helpers/engine-project.js';
import { rotateRun } from '../../dist/engine/runner.js';
import { statusRun, getRun } from '../../dist/engine/inspect.js';
import { planRun } from '../../dist/engine/plan-run.js';
import { exportRun } from '../../dist/engine/export-run.js';

const rotate = (p, extra = {}) => rotateRun(p.ctx, p.policies, { ...all, force: false, concurrency: 1, ...extra });

test('statusRun: a rotation not switched yet has no decommission time; a previous store that cannot be read leaves waitingUntil null', async (t) => {
  const p = await project(t, [secretYaml('api')]);
  await rotate(p);
  await rotate(p, { force: true, envs: ['prod'] });
  const store = p.store('prod');
  const lock = await store.lock({ waitMs: 100, owner: 'test' });
  const state = await store.read('api');
  await store.apply('api', [], { rotation: { ...state.rotation, phase: 'overlap', switchedAt: null }, lastRotatedAt: state.lastRotatedAt, pendingEvents: state.pendingEvents });
  await lock.release();
  writeFileSync(p.storePath('dev'), 'garbage');
  const [dev, prod] = await statusRun(p.ctx, p.policies, all);
  assert.equal(dev.phase, 'unknown');
  assert.equal(prod.rotationId, state.rotation.rotationId);
  assert.strictEqual(prod.decommissionAfter, null);
  assert.strictEqual(prod.waitingUntil, null);
});

test('getRun: the named secret, not the first one of the policies', async (t) => {
  const p = await project(t, [secretYaml('api', { envs: ['dev'] }), secretYaml('web', { envs: ['dev'] })]);
  const report = await rotate(p);
  const got = await getRun(p.ctx, p.policies, 'web', undefined, 'CURRENT');
  assert.deepEqual([got.secret, got.environment, got.versionId], ['web', 'dev', report.results[1].toVersion]);
});

test('planRun: --env of a later environment reads the earlier one\'s store: just switched there, it waits its observe time', async (t) => {
  const p = await project(t, [secretYaml('api', { envs: [['dev', undefined, ['observe: 2h']], 'prod'] })]);
  await rotate(p);
  p.advance(91 * DAY);
  await rotate(p, { envs: ['dev'] });
  const rows = await planRun(p.ctx, p.policies, { ...all, envs: ['prod'], force: false, horizonMs: 0 });
  assert.deepEqual(rows.map((r) => [r.environment, r.action]), [['prod', 'wait']]);
});

test('exportRun: an --env no selected secret has is refused as unknown before anything is read', async (t) => {
  const p = await project(t, [secretYaml('api', { envs: ['dev'] })]);
  await assert.rejects(exportRun(p.ctx, p.policies, { names: ['api'], env: 'nope' }), (error) => {
    assert.equal(error.code, 'ERR_USAGE');
    assert.equal(error.message, 'unknown environment "nope"');
    return true;
  });
});

test('rollbackRun: only the named secret is rolled back; a store with nothing to roll back and no drafts is left unanchored', async (t) => {
  const { rollbackRun } = await import('../../dist/engine/rollback-run.js');
  const p = await project(t, [secretYaml('api'), secretYaml('web', { envs: ['qa'] })]);
  await rotate(p);
  const forced = await rotate(p, { force: true, envs: ['prod', 'qa'] });
  const metaBefore = await p.store('dev').readMeta();
  const report = await rollbackRun(p.ctx, p.policies, { name: 'api', envs: [] });
  assert.deepEqual(report.results.map((r) => `${r.secret}/${r.environment}:${r.outcome}`), ['api/prod:rolled-back']);
  assert.equal((await p.store('qa').read('web')).rotation.rotationId, forced.results[1].rotationId, 'web not rolled back');
  assert.deepEqual(await p.store('dev').readMeta(), metaBefore, 'dev had nothing to roll back: not anchored, not confirmed');
});

test('rollbackRun: two environments in one store are both rolled back under the one lock', async (t) => {
  const { rollbackRun } = await import('../../dist/engine/rollback-run.js');
  const shared = (key) => `{ type: local, path: .keyshift/shared.store, key: ${key} }`;
  const p = await project(t, [secretYaml('api', { envs: [['dev', shared('api-dev')], ['prod', shared('api-prod')]] })]);
  await rotate(p);
  await rotate(p, { force: true });
  const report = await rollbackRun(p.ctx, p.policies, { name: 'api', envs: [] });
  assert.deepEqual(report.results.map((r) => `${r.environment}:${r.outcome}`), ['dev:rolled-back', 'prod:rolled-back']);
});

test('rollbackRun: drafts that cannot be appended fail the rollback before anything changes', async (t) => {
  const { rollbackRun } = await import('../../dist/engine/rollback-run.js');
  const { rmSync } = await import('node:fs');
  const p = await project(t, [secretYaml('api', { envs: ['dev'] })]);
  await rotate(p);
  rmSync(p.ctx.evidenceDir, { recursive: true });
  writeFileSync(p.ctx.evidenceDir, 'not a dir');
  await assert.rejects(rotate(p, { force: true }), { code: 'ERR_EVIDENCE_WRITE' });
  const before = await p.store('dev').read('api');
  assert.equal(before.pendingEvents.length, 2);
  // The evidence log's own error comes through, naming the evidence dir and the fix.
  await assert.rejects(rollbackRun(p.ctx, p.policies, { name: 'api', envs: [] }), {
    code: 'ERR_EVIDENCE_WRITE',
    message: `evidence directory ${p.ctx.evidenceDir} is not a directory (a file is in its place)`,
  });
  const after = await p.store('dev').read('api');
  assert.equal(after.rotation.rotationId, before.rotation.rotationId, 'not rolled back');
  assert.deepEqual(after.pendingEvents.map((d) => d.event), before.pendingEvents.map((d) => d.event), 'drafts kept for the next run');
});

test('RunLeases: each lock table is its own (table and endpoint): a missing table fails only the environment that names it', async (t) => {
  const { startDynamoDb } = await import('../fakes/dynamodb/index.js');
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test', AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
  const one = await startDynamoDb({ tables: ['leases'] });
  const two = await startDynamoDb({ tables: ['other'] });
  t.after(async () => (await one.close(), await two.close()));
  const store = (name, table, ddb) => `{ type: local, path: .keyshift/${name}.store, lock: { type: dynamodb, table: ${table}, region: us-east-1, endpoint: "${ddb.endpoint}" } }`;
  const p = await project(t, [
    secretYaml('a', { envs: [['a1', store('a1', 'leases', one)]] }),
    secretYaml('b', { envs: [['b1', store('b1', 'missing', one)]] }),
    secretYaml('c', { envs: [['c1', store('c1', 'leases', two)]] }),
  ]);
  const report = await rotate(p);
  assert.deepEqual(report.results.map((r) => `${r.secret}:${r.outcome}`), ['a:provisioned', 'b:failed', 'c:failed']);
  assert.deepEqual([report.results[1].action, report.results[1].fromVersion], ['none', null]);
});

test('RunLeases: a store\'s own lease (Secrets Manager) lives 10 minutes unrenewed, or KEYSHIFT_LEASE_TTL_MS', async (t) => {
  const { startSecretsManager } = await import('../fakes/secrets-manager.js');
  const { RunLeases } = await import('../../dist/engine/leases.js');
  const { targetsOf } = await import('../../dist/engine/selection.js');
  const { StoreRegistry } = await import('../../dist/stores/registry.js');
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test', AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
  const sm = await startSecretsManager({ quotas: false });
  t.after(() => sm.close());
  const p = await project(t, [secretYaml('db', { envs: [['prod', `{ type: aws-secrets-manager, secretId: app/db, region: us-east-1, endpoint: "${sm.endpoint}", createIfMissing: true }`]] })]);
  p.ctx.env.KEYSHIFT_STATE_DIR = `${p.cwd}/state`;
  assert.deepEqual((await rotate(p)).results.map((r) => r.outcome), ['provisioned']);
  const expiry = async (env) => {
    const stores = new StoreRegistry({ ...p.ctx, env: { ...p.ctx.env, ...env } });
    const [target] = await targetsOf(p.policies, [], stores);
    const a = new RunLeases({ ...p.ctx, env: { ...p.ctx.env, ...env } });
    const b = new RunLeases(p.ctx);
    const before = Date.now();
    const lease = await a.hold(target, 'holder A');
    assert.notEqual(lease, null);
    try {
      await b.hold(target, 'holder B');
      assert.fail('not leased');
    } catch (error) {
      assert.equal(error.code, 'ERR_LEASED');
      return Date.parse(error.message.match(/held until (\S+)$/)[1]) - before;
    } finally {
      await lease.release();
      await a.close();
      await b.close();
      await stores.closeAll();
    }
  };
  const native = await expiry({});
  assert.ok(native >= 10 * 60_000 - 5_000 && native <= 10 * 60_000 + 30_000, `${native} ms`);
  const set = await expiry({ KEYSHIFT_LEASE_TTL_MS: '120000' });
  assert.ok(set >= 120_000 - 5_000 && set <= 120_000 + 30_000, `${set} ms`);
});

test('rotateRun: stores are locked in the order of their ids (two runs cannot deadlock), each logged with its path', async (t) => {
  const p = await project(t, [secretYaml('first', { envs: [['zz']] }), secretYaml('second', { envs: [['aa']] })]);
  await rotate(p);
  const locked = p.logs.filter((l) => l[1] === 'store locked').map((l) => l[2].store);
  assert.deepEqual(locked, [p.storePath('aa'), p.storePath('zz')]);
});

test('rotateRun: a lock that fails for another reason than a holder fails the store (exit 1), not blocks it', async (t) => {
  const { mkdirSync } = await import('node:fs');
  const p = await project(t, [secretYaml('api', { envs: ['dev'] })]);
  mkdirSync(`${p.storePath('dev')}.lock`, { recursive: true });
  const report = await rotate(p);
  assert.deepEqual(report.results.map((r) => `${r.environment}:${r.outcome}`), ['dev:failed']);
  assert.equal(report.exitCode, 1);
  assert.equal(await p.store('dev').read('api'), null);
});

test('rotateRun: drafts that cannot be appended stop the run before anything else; the drafts stay in the store', async (t) => {
  const { rmSync } = await import('node:fs');
  const p = await project(t, [secretYaml('api', { envs: ['dev'] })]);
  writeFileSync(p.ctx.evidenceDir, 'not a dir');
  await assert.rejects(rotate(p), { code: 'ERR_EVIDENCE_WRITE' });
  assert.equal((await p.store('dev').read('api')).pendingEvents.length, 1);
  // The evidence dir still cannot be written: recovery fails naming it and the fix, nothing is cleared.
  await assert.rejects(rotate(p), {
    code: 'ERR_EVIDENCE_WRITE',
    message: `evidence directory ${p.ctx.evidenceDir} is not a directory (a file is in its place)`,
    hint: 'move that file away, or give --evidence-dir a directory',
  });
  assert.equal((await p.store('dev').read('api')).pendingEvents.length, 1);
  assert.deepEqual((await p.store('dev').readMeta()).confirmedRuns, []);
  rmSync(p.ctx.evidenceDir);
});

test('rotateRun: a store put back from an old copy is not built on: its targets fail with the reason, the later ones are held', async (t) => {
  const { copyFileSync } = await import('node:fs');
  const p = await project(t, [secretYaml('api'), secretYaml('web', { envs: ['qa'] })]);
  await rotate(p);
  copyFileSync(p.storePath('dev'), `${p.storePath('dev')}.old`);
  await rotate(p, { force: true, names: ['api'], all: false, envs: ['dev'] });
  copyFileSync(`${p.storePath('dev')}.old`, p.storePath('dev'));
  const report = await rotate(p, { force: true });
  assert.deepEqual(report.results.map((r) => `${r.secret}/${r.environment}:${r.outcome}`), ['api/dev:failed', 'api/prod:skipped', 'web/qa:rotated']);
  assert.equal(report.results[0].error.code, 'ERR_STORE_ROLLED_BACK');
  assert.equal(report.results[0].action, 'none');
  assert.equal(report.results[1].reason, 'held: dev of this secret is failed in this run');
  assert.equal(report.exitCode, 1);
});
