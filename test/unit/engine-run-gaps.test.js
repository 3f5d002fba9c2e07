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
