// Cross-machine leases (leases.ts RunLeases) on a local store with a `lock:` DynamoDB table, through
// the real SDK against the loopback DynamoDB (test/fakes/dynamodb): a lease only for a target with
// work, another runner's live lease blocking (ERR_LEASED, exit 3) in rotate and rollback, and
// underLease skipping a write it cannot lease.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { project, secretYaml, all } from '../helpers/engine-project.js';
import { RunLeases, leaseName } from '../../dist/engine/leases.js';
import { rotateRun } from '../../dist/engine/runner.js';
import { rollbackRun } from '../../dist/engine/rollback-run.js';
import { targetsOf } from '../../dist/engine/selection.js';
import { StoreRegistry } from '../../dist/stores/registry.js';
import { startDynamoDb } from '../fakes/dynamodb/index.js';

// The SDK takes its credentials from the process environment.
Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test', AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });

const rotate = (p, extra = {}) => rotateRun(p.ctx, p.policies, { ...all, force: false, concurrency: 1, ...extra });

async function leased(t, { table = 'keyshift-leases' } = {}) {
  const ddb = await startDynamoDb();
  t.after(() => ddb.close());
  const lock = `lock: { type: dynamodb, table: ${table}, region: us-east-1, endpoint: "${ddb.endpoint}" }`;
  const p = await project(t, [secretYaml('api', { envs: [['dev', `{ type: local, path: .keyshift/dev.store, ${lock} }`], 'prod'] })]);
  const stores = new StoreRegistry(p.ctx);
  const [dev, prod] = await targetsOf(p.policies, [], stores);
  const a = new RunLeases(p.ctx);
  const b = new RunLeases(p.ctx);
  t.after(async () => (await a.close(), await b.close(), await stores.closeAll()));
  const plan = (force = false) => ({ now: p.ctx.now(), force, horizonMs: 0 });
  return { p, dev, prod, a, b, plan, stores };
}

test('leases: one per entry, by store type, file and key', () => {
  const target = (store, key) => ({ environment: { store }, key });
  assert.equal(leaseName(target({ type: 'local', path: '/x/dev.store', key: 'k' }, 'k')), 'local:/x/dev.store#k');
  assert.equal(leaseName(target({ type: 'aws-secrets-manager', secretId: 'app/db' }, 'app/db')), 'aws-secrets-manager:app/db');
});

test('RunLeases: taken only where there is work; another runner\'s live lease is ERR_LEASED (exit 3) naming it', async (t) => {
  const s = await leased(t);
  assert.equal(await s.a.take(s.prod, 'holder A', undefined, s.plan()), null, 'a local store without lock: needs no lease');
  const lease = await s.a.take(s.dev, 'holder A', undefined, s.plan());
  assert.equal(typeof lease.release, 'function');
  await assert.rejects(s.b.take(s.dev, 'holder B', undefined, s.plan()), (error) => {
    assert.equal(error.code, 'ERR_LEASED');
    assert.equal(error.exitCode, 3);
    assert.match(error.message, /^api\/dev \(api\) is being rotated by holder A: its lease is held until /);
    return true;
  });
  await assert.rejects(s.b.hold(s.dev, 'holder B'), { code: 'ERR_LEASED' });
  await lease.release();
  const mine = await s.b.hold(s.dev, 'holder B');
  await mine.release();
  // Nothing due after a provision: no lease taken (another's would not even be looked at).
  await rotate(s.p, { envs: ['dev'] });
  const other = await s.a.hold(s.dev, 'holder A');
  assert.equal(await s.b.take(s.dev, 'holder B', undefined, s.plan()), null);
  await assert.rejects(s.b.take(s.dev, 'holder B', undefined, s.plan(true)), { code: 'ERR_LEASED' }, 'forced: work to do');
  await other.release();
});

test('RunLeases: unconfirmed drafts are work: the lease is taken though nothing is due', async (t) => {
  const s = await leased(t);
  await rotate(s.p, { envs: ['dev'] });
  const dev = s.p.store('dev');
  const lock = await dev.lock({ waitMs: 100, owner: 'test' });
  const state = await dev.read('api');
  const meta = await dev.readMeta();
  // The drafts of a run that never confirmed them.
  await dev.apply('api', [], { rotation: state.rotation, lastRotatedAt: state.lastRotatedAt, pendingEvents: [{ ...state.versions[0], event: 'issued', runId: 'run-lost', rotationId: 'r-lost', environment: 'dev', secret: 'api', at: state.lastRotatedAt }] });
  await lock.release();
  const other = await s.a.hold(s.dev, 'holder A');
  await assert.rejects(s.b.take(s.dev, 'holder B', meta, s.plan()), { code: 'ERR_LEASED' });
  assert.equal(await s.b.take(s.dev, 'holder B', undefined, s.plan()), null, 'without the store meta, only the plan counts');
  assert.equal(await s.b.take(s.dev, 'holder B', { ...meta, confirmedRuns: ['run-lost'] }, s.plan()), null, 'confirmed drafts are no work');
  await other.release();
});

test('RunLeases.underLease: the write runs under the lease and releases it; with the lease held elsewhere it is skipped', async (t) => {
  const s = await leased(t);
  const wrote = [];
  await s.a.underLease(s.dev, 'holder A', async () => {
    wrote.push('a');
    await assert.rejects(s.b.hold(s.dev, 'holder B'), { code: 'ERR_LEASED' }, 'held during the write');
  });
  assert.deepEqual(wrote, ['a']);
  const other = await s.b.hold(s.dev, 'holder B');
  await s.a.underLease(s.dev, 'holder A', async () => wrote.push('skipped'));
  assert.deepEqual(wrote, ['a']);
  assert.deepEqual(s.p.logs.at(-1)[1], 'lease not taken; drafts left for a later run');
  assert.equal(s.p.logs.at(-1)[2].target, 'api/dev');
  await other.release();
  // A write that fails still releases the lease.
  await assert.rejects(s.a.underLease(s.dev, 'holder A', async () => { throw new Error('write failed'); }), /write failed/);
  await (await s.b.hold(s.dev, 'holder B')).release();
  // No lease needed (no lock table, no store lease): the write just runs.
  await s.a.underLease(s.prod, 'holder A', async () => wrote.push('prod'));
  assert.deepEqual(wrote, ['a', 'prod']);
});

test('rotateRun and rollbackRun: another runner\'s lease blocks the environment (exit 3) and holds the next one', async (t) => {
  const s = await leased(t);
  const other = await s.a.hold(s.dev, 'keyshift rotate by someone');
  const report = await rotate(s.p);
  assert.deepEqual(report.results.map((r) => `${r.environment}:${r.outcome}`), ['dev:blocked', 'prod:skipped']);
  assert.equal(report.results[0].error.code, 'ERR_LEASED');
  assert.match(report.results[0].error.message, /is being rotated by keyshift rotate by someone/);
  assert.equal(report.results[1].reason, 'held: dev of this secret is blocked in this run');
  assert.equal(report.exitCode, 3);
  assert.ok(s.p.logs.some((l) => l[0] === 'warn' && l[1] === 'leased by another runner' && l[2].target === 'api/dev'));
  await other.release();
  const done = await rotate(s.p);
  assert.deepEqual(done.results.map((r) => `${r.environment}:${r.outcome}`), ['dev:provisioned', 'prod:provisioned']);
  await rotate(s.p, { force: true });
  const again = await s.a.hold(s.dev, 'keyshift rotate by someone');
  const rb = await rollbackRun(s.p.ctx, s.p.policies, { name: 'api', envs: ['dev'] });
  assert.deepEqual(rb.results.map((r) => `${r.environment}:${r.outcome}`), ['dev:blocked']);
  assert.equal(rb.results[0].error.code, 'ERR_LEASED');
  assert.equal(rb.exitCode, 3);
  await again.release();
  const ok = await rollbackRun(s.p.ctx, s.p.policies, { name: 'api', envs: [] });
  assert.deepEqual(ok.results.map((r) => `${r.environment}:${r.outcome}`), ['dev:rolled-back', 'prod:rolled-back']);
  // The rollback released its lease: another runner can take it.
  await (await s.b.hold(s.dev, 'holder B')).release();
});

test('rotateRun: a lease that cannot be taken (no such table) fails the environment (exit 1), not the run', async (t) => {
  const s = await leased(t, { table: 'no-such-table' });
  const report = await rotate(s.p);
  assert.deepEqual(report.results.map((r) => `${r.environment}:${r.outcome}`), ['dev:failed', 'prod:skipped']);
  assert.equal(report.results[1].reason, 'held: dev of this secret is failed in this run');
  assert.equal(report.exitCode, 1);
  assert.ok(s.p.logs.some((l) => l[0] === 'warn' && l[1] === 'could not take the lease'));
});

test('RunLeases: a lease table is reached in its own Region: the same table name and endpoint in another Region is another client', async (t) => {
  const ddb = await startDynamoDb(); // us-east-1: a request signed for another Region is refused
  t.after(() => ddb.close());
  const lock = (region) => `lock: { type: dynamodb, table: keyshift-leases, region: ${region}, endpoint: "${ddb.endpoint}" }`;
  const p = await project(t, [secretYaml('api', { envs: [['dev', `{ type: local, path: .keyshift/dev.store, ${lock('us-east-1')} }`], ['qa', `{ type: local, path: .keyshift/qa.store, ${lock('eu-west-1')} }`]] })]);
  const report = await rotate(p);
  assert.deepEqual(report.results.map((r) => `${r.environment}:${r.outcome}`), ['dev:provisioned', 'qa:failed']);
  assert.match(report.results[1].error.message, /eu-west-1/);
  assert.deepEqual([...new Set(ddb.calls.map((c) => c.errorCode ?? 'ok'))].sort(), ['InvalidSignatureException', 'ok'].sort());
});

test('RunLeases: a lease table is opened once per run and close() closes its client: no connection to DynamoDB stays open', async (t) => {
  const ddb = await startDynamoDb();
  t.after(() => ddb.close());
  const lock = `lock: { type: dynamodb, table: keyshift-leases, region: us-east-1, endpoint: "${ddb.endpoint}" }`;
  const p = await project(t, [secretYaml('api', { envs: [['dev', `{ type: local, path: .keyshift/dev.store, ${lock} }`]] })]);
  const stores = new StoreRegistry(p.ctx);
  t.after(() => stores.closeAll());
  const [dev] = await targetsOf(p.policies, [], stores);
  const leases = new RunLeases(p.ctx);
  // Twice: the table is opened once and its client used for both (a client per lease would leak).
  for (let i = 0; i < 2; i++) await (await leases.hold(dev, 'holder A')).release();
  assert.ok(ddb.openConnections() > 0, 'the client keeps its connection alive between calls');
  await leases.close();
  for (let i = 0; i < 100 && ddb.openConnections() > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(ddb.openConnections(), 0);
});
