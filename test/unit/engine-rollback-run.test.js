// `rollback` as the engine runs it (rollback-run.ts rollbackRun), in-process on real local stores:
// the old version back to CURRENT in every selected environment (later ones first), the refusals
// word for word, a locked or damaged store holding the earlier environments, evidence and anchors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { project, secretYaml, all, DAY } from '../helpers/engine-project.js';
import { rotateRun } from '../../dist/engine/runner.js';
import { rollbackRun } from '../../dist/engine/rollback-run.js';

const rotate = (p, extra = {}) => rotateRun(p.ctx, p.policies, { ...all, force: false, concurrency: 1, ...extra });
const summary = (report) => report.results.map((r) => `${r.environment}:${r.action}:${r.outcome}`);
const HINT = 'rollback works only between the issue of a new version and the decommission of the old one';

async function rotated(t, secrets = [secretYaml('api')]) {
  const p = await project(t, secrets);
  const first = await rotate(p);
  const second = await rotate(p, { force: true });
  return { p, first, second };
}

test('rollbackRun: the old version is CURRENT again in every environment; results in policy order, evidence and anchors written', async (t) => {
  const { p, first, second } = await rotated(t);
  const report = await rollbackRun(p.ctx, p.policies, { name: 'api', envs: [], reason: 'bad deploy', ticket: 'INC-9' });
  assert.match(report.runId, /^run-/);
  assert.deepEqual(summary(report), ['dev:rollback:rolled-back', 'prod:rollback:rolled-back']);
  assert.deepEqual(report.results.map((r) => [r.secret, r.fromVersion, r.toVersion, r.rotationId]), [
    ['api', second.results[0].toVersion, first.results[0].toVersion, second.results[0].rotationId],
    ['api', second.results[1].toVersion, first.results[1].toVersion, second.results[1].rotationId],
  ]);
  assert.equal(report.exitCode, 0);
  assert.equal(report.evidenceFile, join(p.ctx.evidenceDir, 'evidence.jsonl'));
  const mine = p.evidence().filter((r) => r.runId === report.runId);
  assert.deepEqual(mine.map((r) => [r.event, r.environment, r.reason, r.ticket, r.emergency, r.operator]), [
    ['rolled-back', 'prod', 'bad deploy', 'INC-9', false, 'tester'],
    ['rolled-back', 'dev', 'bad deploy', 'INC-9', false, 'tester'],
  ]);
  const records = p.evidence();
  for (const [i, env] of ['dev', 'prod'].entries()) {
    assert.deepEqual(await p.stages(env, 'api'), [[first.results[i].toVersion, ['CURRENT']]]);
    const meta = await p.store(env).readMeta();
    assert.equal(meta.confirmedRuns.at(-1), report.runId);
    assert.deepEqual(Object.values(meta.evidenceAnchors).map((a) => [a.seq, a.hash]), [[records.length, records.at(-1).hash]]);
  }
  // The default reason is "rollback".
  const again = await rotate(p, { force: true });
  assert.equal(again.exitCode, 0);
  const plain = await rollbackRun(p.ctx, p.policies, { name: 'api', envs: ['dev'] });
  assert.deepEqual(summary(plain), ['dev:rollback:rolled-back']);
  assert.deepEqual(p.evidence().filter((r) => r.runId === plain.runId).map((r) => [r.reason, r.ticket]), [['rollback', null]]);
  assert.equal((await p.store('prod').read('api')).rotation.rotationId, again.results[1].rotationId, 'prod not selected: untouched');
});

test('rollbackRun: nothing to roll back is ERR_NOTHING_TO_ROLL_BACK (exit 2), each environment\'s reason, later ones first', async (t) => {
  const p = await project(t, [secretYaml('api')]);
  const refused = (envs = []) =>
    rollbackRun(p.ctx, p.policies, { name: 'api', envs }).then(
      () => assert.fail('no refusal'),
      (error) => {
        assert.equal(error.code, 'ERR_NOTHING_TO_ROLL_BACK');
        assert.equal(error.exitCode, 2);
        assert.equal(error.hint, HINT);
        return error.message;
      },
    );
  assert.equal(await refused(), 'api/prod is not provisioned; api/dev is not provisioned');
  await rotate(p);
  assert.equal(await refused(), 'api/prod: nothing to roll back; no rotation in progress; api/dev: nothing to roll back; no rotation in progress');
  await rotate(p, { force: true });
  p.advance(3 * DAY);
  await rotate(p);
  const retired = (await p.store('prod').read('api')).retired;
  assert.equal(retired.length, 1);
  assert.equal(
    await refused(['prod']),
    `api/prod: nothing to roll back; no rotation is in flight or in its fallback window (the last version retired, ${retired[0].id}, was removed at ${retired[0].retiredAt} by a decommission or a rollback)`,
  );
  // With two retired, the one retired last is named.
  await rotate(p, { force: true });
  p.advance(3 * DAY);
  await rotate(p);
  const both = (await p.store('prod').read('api')).retired;
  const last = [...both].sort((a, b) => a.retiredAt.localeCompare(b.retiredAt)).at(-1);
  assert.match(await refused(['prod']), new RegExp(`the last version retired, ${last.id}, was removed at ${last.retiredAt} by`));
  assert.equal(p.evidence().filter((r) => r.event === 'rolled-back').length, 0);
});

test('rollbackRun: an environment with nothing to roll back is passed over when another one is rolled back', async (t) => {
  const p = await project(t, [secretYaml('api')]);
  await rotate(p);
  const forced = await rotate(p, { force: true, envs: ['dev'] });
  const report = await rollbackRun(p.ctx, p.policies, { name: 'api', envs: [] });
  assert.deepEqual(summary(report), ['dev:rollback:rolled-back']);
  assert.equal(report.results[0].fromVersion, forced.results[0].toVersion);
  assert.equal(report.exitCode, 0);
});

test('rollbackRun: a locked later environment blocks (exit 3) and holds the earlier one', async (t) => {
  const { p, second } = await rotated(t);
  const lock = await p.store('prod').lock({ waitMs: 10, owner: 'another rotate' });
  t.after(() => lock.release());
  const report = await rollbackRun(p.ctx, p.policies, { name: 'api', envs: [] });
  assert.deepEqual(summary(report), ['dev:rollback:skipped', 'prod:rollback:blocked']);
  assert.equal(report.results[0].reason, 'held: prod is blocked in this run; roll it back with --env once that one is');
  assert.deepEqual([report.results[0].fromVersion, report.results[0].toVersion, report.results[0].rotationId], [null, null, null]);
  assert.equal(report.results[1].error.code, 'ERR_LOCKED');
  assert.match(report.results[1].error.message, /is locked by another rotate/);
  assert.equal(report.exitCode, 3);
  assert.deepEqual(p.messages('error'), ['blocked']);
  assert.equal((await p.store('dev').read('api')).rotation.rotationId, second.results[0].rotationId, 'dev not rolled back');
});

test('rollbackRun: a damaged later store fails (exit 1) and holds the earlier one', async (t) => {
  const { p } = await rotated(t);
  writeFileSync(p.storePath('prod'), 'damaged');
  const report = await rollbackRun(p.ctx, p.policies, { name: 'api', envs: [] });
  assert.deepEqual(summary(report), ['dev:rollback:skipped', 'prod:rollback:failed']);
  assert.equal(report.results[0].reason, 'held: prod is failed in this run; roll it back with --env once that one is');
  assert.equal(report.results[1].error.code, 'ERR_STORE_CORRUPT');
  assert.equal(report.exitCode, 1);
  assert.deepEqual(p.messages('error'), ['could not roll back']);
  assert.equal(p.logs.find((l) => l[0] === 'error')[2].target, 'api/prod');
});

test('rollbackRun: two environments in one locked store: the later one is blocked, the earlier one held', async (t) => {
  const shared = (key) => `{ type: local, path: .keyshift/shared.store, key: ${key} }`;
  const p = await project(t, [secretYaml('api', { envs: [['dev', shared('api-dev')], ['prod', shared('api-prod')]] })]);
  const lock = await p.store('shared').lock({ waitMs: 10, owner: 'someone' });
  t.after(() => lock.release());
  const report = await rollbackRun(p.ctx, p.policies, { name: 'api', envs: [] });
  assert.deepEqual(summary(report), ['dev:rollback:skipped', 'prod:rollback:blocked']);
});

test('rollbackRun: drafts an interrupted run left are appended first (recoveredBy), then the rollback', async (t) => {
  const { p, second } = await rotated(t, [secretYaml('api', { envs: ['dev'] })]);
  // A run that issued and switched but could not write its evidence: its drafts stay in the store.
  rmSync(p.ctx.evidenceDir, { recursive: true });
  writeFileSync(p.ctx.evidenceDir, 'not a dir');
  await assert.rejects(rotate(p, { force: true }), { code: 'ERR_EVIDENCE_WRITE' });
  rmSync(p.ctx.evidenceDir);
  const lost = (await p.store('dev').read('api')).pendingEvents;
  assert.deepEqual(lost.map((d) => d.event), ['decommissioned', 'issued', 'switched']);
  const report = await rollbackRun(p.ctx, p.policies, { name: 'api', envs: [] });
  assert.deepEqual(summary(report), ['dev:rollback:rolled-back']);
  assert.notEqual(report.results[0].rotationId, second.results[0].rotationId);
  assert.deepEqual(p.evidence().map((r) => [r.event, r.runId === report.runId ? 'this' : r.runId, r.recoveredBy ?? null]), [
    ['decommissioned', lost[0].runId, report.runId],
    ['issued', lost[0].runId, report.runId],
    ['switched', lost[0].runId, report.runId],
    ['rolled-back', 'this', null],
  ]);
  assert.deepEqual((await p.store('dev').read('api')).pendingEvents.filter((d) => d.runId === lost[0].runId), []);
  assert.equal((await p.store('dev').readMeta()).confirmedRuns.at(-1), report.runId);
});

test('rollbackRun: an unknown secret or environment is a usage error', async (t) => {
  const p = await project(t, [secretYaml('api')]);
  await assert.rejects(rollbackRun(p.ctx, p.policies, { name: 'nope', envs: [] }), { code: 'ERR_USAGE', message: 'unknown secret "nope"' });
  await assert.rejects(rollbackRun(p.ctx, p.policies, { name: 'api', envs: ['qa'] }), { code: 'ERR_USAGE', message: 'unknown environment "qa"' });
});

test('rollbackRun: a store whose drafts were recovered is anchored and confirmed, though it had nothing to roll back', async (t) => {
  const p = await project(t, [secretYaml('api')]);
  writeFileSync(p.ctx.evidenceDir, 'not a dir');
  await assert.rejects(rotate(p), { code: 'ERR_EVIDENCE_WRITE' });
  rmSync(p.ctx.evidenceDir);
  await rotate(p, { force: true, envs: ['prod'] });
  assert.equal((await p.store('dev').read('api')).pendingEvents.length, 1, 'dev still holds its lost draft');
  const report = await rollbackRun(p.ctx, p.policies, { name: 'api', envs: [] });
  assert.deepEqual(summary(report), ['prod:rollback:rolled-back']);
  assert.equal(p.evidence().find((r) => r.environment === 'dev').recoveredBy, report.runId);
  const meta = await p.store('dev').readMeta();
  assert.equal(meta.confirmedRuns.at(-1), report.runId);
  const records = p.evidence();
  assert.deepEqual(Object.values(meta.evidenceAnchors).map((a) => a.hash), [records.at(-1).hash]);
});
