// What the mutation runs of rollback-run.ts and runner.ts left untested (test/mutation/review-engine-run.md):
// what the rollback's store lock and lease tell another run, a lease that cannot be released, the
// evidence lock waited for as long as --lock-timeout, an aws-kms refusal's restore date, anchors that
// cannot be written, and rotate's refusal of a cut log. Real local stores, a real evidence log and the
// loopback DynamoDB, KMS and Secrets Manager of test/fakes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { project, secretYaml, all, DAY, leaseWarnings } from '../helpers/engine-project.js';
import { rotateRun } from '../../dist/engine/runner.js';
import { rollbackRun } from '../../dist/engine/rollback-run.js';

const rotate = (p, extra = {}) => rotateRun(p.ctx, p.policies, { ...all, force: false, concurrency: 1, ...extra });
const summary = (report) => report.results.map((r) => `${r.environment}:${r.outcome}`);
const AWS_ENV = { AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test', AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

async function leasedProject(t) {
  const { startDynamoDb } = await import('../fakes/dynamodb/index.js');
  Object.assign(process.env, AWS_ENV);
  const ddb = await startDynamoDb({ tables: ['leases'] });
  t.after(() => ddb.close());
  // The deploy hook, in the rollback phase, copies the store's lock file as another process would read it.
  const hook = `deploy: [{ run: "if [ \\"$KEYSHIFT_PHASE\\" = rollback ]; then cat .keyshift/dev.store.lock > lock-seen.json; fi" }]`;
  const store = `{ type: local, path: .keyshift/dev.store, lock: { type: dynamodb, table: leases, region: us-east-1, endpoint: "${ddb.endpoint}" } }`;
  const p = await project(t, [secretYaml('api', { envs: [['dev', store, [hook]]] })]);
  assert.equal((await rotate(p)).exitCode, 0);
  assert.equal((await rotate(p, { force: true })).exitCode, 0);
  return { p, ddb };
}

test('rollbackRun: its store lock and its lease name the rollback, the operator and the run to other runs', async (t) => {
  const { p, ddb } = await leasedProject(t);
  const before = ddb.calls.length;
  const report = await rollbackRun(p.ctx, p.policies, { name: 'api', envs: [] });
  assert.deepEqual(summary(report), ['dev:rolled-back']);
  assert.equal(JSON.parse(readFileSync(join(p.cwd, 'lock-seen.json'), 'utf8')).owner, `keyshift rollback (tester, ${report.runId})`);
  const written = ddb.calls.slice(before).filter((c) => JSON.stringify(c.input ?? {}).includes(`keyshift rollback by tester run ${report.runId} on `));
  assert.ok(written.length > 0, 'a lease item names the rollback');
});

test('rollbackRun: a lease that cannot be released is logged with its target; the rollback stands (the lease expires on its own)', async (t) => {
  const { p, ddb } = await leasedProject(t);
  ddb.deny({ op: 'DeleteItem' });
  const report = await rollbackRun(p.ctx, p.policies, { name: 'api', envs: [] });
  assert.deepEqual(summary(report), ['dev:rolled-back']);
  assert.equal(report.exitCode, 0);
  const warned = leaseWarnings(p);
  assert.deepEqual(warned.map(([target]) => target), ['api/dev']);
  assert.match(warned[0][1], /DeleteItem/);
});

test('rollbackRun: the evidence log\'s lock is waited for as long as the run\'s --lock-timeout, not the log\'s own 30 s', async (t) => {
  const { acquireFileLock } = await import('../../dist/util/file-lock.js');
  const p = await project(t, [secretYaml('api', { envs: ['dev'] })]);
  await rotate(p);
  await rotate(p, { force: true });
  const held = await acquireFileLock(join(p.ctx.evidenceDir, 'evidence.lock'), { waitMs: 100, owner: 'another writer', what: 'evidence log' });
  t.after(() => held.release());
  const started = Date.now();
  const report = await rollbackRun(p.ctx, p.policies, { name: 'api', envs: [] });
  assert.ok(Date.now() - started < 10_000, `${Date.now() - started} ms`);
  // Blocked before its store write (the log is checked against the store's anchor first), exit 3.
  assert.deepEqual(summary(report), ['dev:blocked']);
  assert.equal(report.results[0].error.code, 'ERR_LOCKED');
  assert.match(report.results[0].error.message, /^evidence log .* is locked by another writer /);
  assert.equal(report.exitCode, 3);
});

test('rollbackRun: nothing to roll back after an aws-kms decommission whose restore window has passed says until when the key could be restored', async (t) => {
  const { startKms } = await import('../fakes/kms.js');
  Object.assign(process.env, AWS_ENV);
  const kms = await startKms({ quotas: false });
  t.after(() => kms.close());
  const store = `{ type: aws-kms, alias: alias/app-data, region: us-east-1, endpoint: "${kms.endpoint}", pendingWindowDays: 7, createIfMissing: true }`;
  const p = await project(t, [['  - name: data-key', '    interval: 365d', '    fallbackWindow: 1d', '    environments:', '      - name: prod', `        store: ${store}`].join('\n')]);
  p.ctx.env.KEYSHIFT_STATE_DIR = join(p.cwd, 'state');
  assert.deepEqual(summary(await rotate(p)), ['prod:provisioned']);
  const second = await rotate(p, { force: true });
  assert.deepEqual(summary(second), ['prod:rotated']);
  p.advance(2 * DAY);
  assert.deepEqual(summary(await rotate(p)), ['prod:decommissioned']);
  // The loopback KMS deletes on the wall clock, the engine's clock is the test's: 60 days on, the
  // key's deletion date (7 days after the decommission) has passed for the engine.
  p.advance(60 * DAY);
  await assert.rejects(rollbackRun(p.ctx, p.policies, { name: 'data-key', envs: [] }), (error) => {
    assert.equal(error.code, 'ERR_NOTHING_TO_ROLL_BACK');
    assert.match(error.message, new RegExp(`^data-key/prod: nothing to roll back; no rotation is in flight or in its fallback window \\(the last version retired, ${second.results[0].fromVersion}, was removed at \\S+ by a decommission or a rollback\\); it could be restored until \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z$`));
    return true;
  });
});

test('anchorOrLog (the end of rotate and rollback): a store whose metadata cannot be read is logged with its path, never thrown; a readable one gets the anchor', async (t) => {
  const { anchorOrLog } = await import('../../dist/engine/evidence-recovery.js');
  const { EvidenceLog } = await import('../../dist/evidence/index.js');
  const { writeFileSync } = await import('node:fs');
  const p = await project(t, [secretYaml('api', { envs: ['dev', 'qa'] })]);
  await rotate(p);
  const evidence = new EvidenceLog(p.ctx.evidenceDir);
  t.after(() => evidence.close());
  const head = await evidence.head();
  const good = p.store('dev');
  const lock = await good.lock({ waitMs: 100, owner: 'the test' }); // as a run holds it
  await anchorOrLog(p.ctx.logger, good, null, evidence, 'run-x');
  await lock.release();
  assert.deepEqual(p.logs.filter((l) => l[0] === 'error'), []);
  const meta = await p.store('dev').readMeta();
  assert.deepEqual(meta.evidenceAnchors[head.chainId].seq, head.seq);
  assert.equal(meta.confirmedRuns.at(-1), 'run-x');
  writeFileSync(p.storePath('qa'), 'not a store');
  const damaged = p.store('qa');
  await anchorOrLog(p.ctx.logger, damaged, null, evidence, 'run-x');
  const logged = p.logs.filter((l) => l[1] === 'could not record the evidence anchor in the store');
  assert.equal(logged.length, 1);
  assert.equal(logged[0][2].store, p.storePath('qa'));
  assert.match(logged[0][2].err, /\S/);
});

test('rotateRun: a log cut short of what a store anchored is refused before any store write, naming that store; a run with nothing to write passes', async (t) => {
  const { writeFileSync } = await import('node:fs');
  const p = await project(t, [secretYaml('api', { envs: ['dev'] })]);
  await rotate(p);
  await rotate(p, { force: true });
  const file = join(p.ctx.evidenceDir, 'evidence.jsonl');
  const lines = readFileSync(file, 'utf8').split('\n').slice(0, -1);
  writeFileSync(file, `${lines.slice(0, -1).join('\n')}\n`);
  const before = await p.stages('dev', 'api');
  // A run with nothing to write locks no store and leaves the log alone: it passes.
  assert.deepEqual((await rotate(p)).results.map((r) => r.outcome), ['skipped']);
  await assert.rejects(rotate(p, { force: true }), (error) => {
    assert.equal(error.code, 'ERR_EVIDENCE_CORRUPT');
    assert.match(error.message, new RegExp(`it ends at seq ${lines.length - 1} but store ${p.storePath('dev').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} recorded seq ${lines.length} \\(records were cut off\\); nothing was appended$`));
    return true;
  });
  assert.deepEqual(await p.stages('dev', 'api'), before, 'no store write');
});
