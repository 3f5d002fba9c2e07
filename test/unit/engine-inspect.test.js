// The read-only runs, in-process on real local stores: `status` (inspect.ts statusRun), `get`
// (getRun), `plan` / `rotate --dry-run` (plan-run.ts planRun) and `run` / `env` (export-run.ts
// exportRun). Each row or value as a user reads it, the refusals word for word, and a store that
// cannot be read failing only its own rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { project, secretYaml, all, HOUR, DAY, START } from '../helpers/engine-project.js';
import { rotateRun } from '../../dist/engine/runner.js';
import { statusRun, getRun } from '../../dist/engine/inspect.js';
import { planRun } from '../../dist/engine/plan-run.js';
import { exportRun, exportName } from '../../dist/engine/export-run.js';

const rotate = (p, extra = {}) => rotateRun(p.ctx, p.policies, { ...all, force: false, concurrency: 1, ...extra });
const iso = (ms) => new Date(ms).toISOString();
const DAMAGED = (path) => `store ${path} is damaged: it does not start with a keyshift local store header`;

/** Put an error on the entry's rotation record (as a failed run leaves it), through the store's own write. */
async function failRotation(p, env, key, phase, error) {
  const store = p.store(env);
  const lock = await store.lock({ waitMs: 100, owner: 'test' });
  const state = await store.read(key);
  await store.apply(key, [], { rotation: { ...state.rotation, phase, error }, lastRotatedAt: state.lastRotatedAt, pendingEvents: state.pendingEvents });
  await lock.release();
}

test('statusRun: rows before anything is provisioned, after a provision and during a fallback window', async (t) => {
  const p = await project(t, [secretYaml('api')]);
  const empty = { phase: 'idle', currentVersion: null, previousVersion: null, pendingVersion: null, lastRotatedAt: null, nextDueAt: null, overdue: true, rotationId: null, decommissionAfter: null, waitingUntil: null, error: null };
  assert.deepEqual(await statusRun(p.ctx, p.policies, all), [
    { secret: 'api', environment: 'dev', ...empty },
    { secret: 'api', environment: 'prod', ...empty },
  ]);
  const first = await rotate(p);
  const [dev] = await statusRun(p.ctx, p.policies, { ...all, envs: ['dev'] });
  assert.deepEqual(dev, {
    secret: 'api', environment: 'dev', phase: 'idle', currentVersion: first.results[0].toVersion, previousVersion: null, pendingVersion: null,
    lastRotatedAt: iso(START), nextDueAt: iso(START + 90 * DAY), overdue: false, rotationId: null, decommissionAfter: null, waitingUntil: null, error: null,
  });
  p.advance(10 * DAY);
  const second = await rotate(p, { force: true, envs: ['dev'] });
  const rows = await statusRun(p.ctx, p.policies, { names: ['api'], all: false, envs: [] });
  assert.deepEqual(rows[0], {
    secret: 'api', environment: 'dev', phase: 'fallback', currentVersion: second.results[0].toVersion, previousVersion: first.results[0].toVersion, pendingVersion: null,
    lastRotatedAt: iso(START + 10 * DAY), nextDueAt: iso(START + 100 * DAY), overdue: false, rotationId: second.results[0].rotationId, decommissionAfter: iso(START + 12 * DAY), waitingUntil: null, error: null,
  });
  assert.equal(rows[1].environment, 'prod');
  assert.equal(rows[1].nextDueAt, iso(START + 90 * DAY));
  // Exactly at the due time it is overdue; a millisecond before, not.
  p.advance(80 * DAY - 1);
  assert.equal((await statusRun(p.ctx, p.policies, { ...all, envs: ['prod'] }))[0].overdue, false);
  p.advance(1);
  assert.equal((await statusRun(p.ctx, p.policies, { ...all, envs: ['prod'] }))[0].overdue, true);
});

test('statusRun: waitingUntil is the previous environment\'s switch plus its observe time', async (t) => {
  const p = await project(t, [secretYaml('api', { envs: [['dev', undefined, ['observe: 2h']], 'prod'] })]);
  await rotate(p);
  p.advance(HOUR);
  await rotate(p, { force: true, envs: ['dev'] });
  const rows = await statusRun(p.ctx, p.policies, all);
  assert.equal(rows[0].waitingUntil, null, 'the first environment waits for nobody');
  assert.equal(rows[1].waitingUntil, iso(START + 3 * HOUR));
  p.advance(3 * HOUR);
  assert.equal((await statusRun(p.ctx, p.policies, all))[1].waitingUntil, null, 'observe time over');
});

test('statusRun: a rotation record\'s error is shown with its code and the rerun that fixes it', async (t) => {
  const p = await project(t, [secretYaml('api', { envs: ['dev'] })]);
  await rotate(p);
  await rotate(p, { force: true });
  const rerun = 'keyshift rotate api --env dev';
  const cases = [
    ['fallback', 'held by decommissionCheck: still in use', { code: 'ERR_DECOMMISSION_HELD', hint: `fix what the check reports, then rerun ${rerun}` }],
    ['overlap', 'held by decommissionCheck: x', { code: 'ERR_DECOMMISSION_HELD', hint: `fix what the check reports, then rerun ${rerun}` }],
    ['fallback', 'revoke[0] exited with status 1', { code: 'ERR_DECOMMISSION_FAILED', hint: `${rerun} retries the decommission` }],
    ['failed', 'deploy[0] exited with status 1', { code: 'ERR_ROTATION_FAILED', hint: `${rerun} resumes it (keyshift doctor explains what is stuck)` }],
  ];
  for (const [phase, message, expected] of cases) {
    await failRotation(p, 'dev', 'api', phase, message);
    const [row] = await statusRun(p.ctx, p.policies, all);
    assert.deepEqual(row.error, { code: expected.code, message, hint: expected.hint }, `${phase}: ${message}`);
  }
});

test('statusRun: a store that cannot be read is one row of phase unknown; the other rows are still shown', async (t) => {
  const p = await project(t, [secretYaml('api'), secretYaml('web', { envs: ['qa'] })]);
  await rotate(p);
  writeFileSync(p.storePath('prod'), 'garbage');
  const rows = await statusRun(p.ctx, p.policies, all);
  assert.deepEqual(rows.map((r) => [r.environment, r.phase]), [['dev', 'idle'], ['prod', 'unknown'], ['qa', 'idle']]);
  assert.deepEqual(rows[1], {
    secret: 'api', environment: 'prod', phase: 'unknown', currentVersion: null, previousVersion: null, pendingVersion: null, lastRotatedAt: null, nextDueAt: null,
    overdue: false, rotationId: null, decommissionAfter: null, waitingUntil: null,
    error: { code: 'ERR_STORE_CORRUPT', message: DAMAGED(p.storePath('prod')), hint: `restore ${p.storePath('prod')} from a backup (keyshift never overwrites a damaged store); if the key is right and the file was edited, the edit is the damage` },
  });
  // The previous environment's store damaged: the row is shown, without a waitingUntil.
  writeFileSync(p.storePath('dev'), 'garbage');
  const [devRow, prodRow] = await statusRun(p.ctx, p.policies, { ...all, names: ['api'], all: false });
  assert.equal(devRow.phase, 'unknown');
  assert.equal(prodRow.phase, 'unknown');
  await assert.rejects(statusRun(p.ctx, p.policies, { names: ['nope'], all: false, envs: [] }), { code: 'ERR_USAGE', message: 'unknown secret "nope"' });
});

test('getRun: a value by stage, the first environment without --env; a missing stage or environment refused', async (t) => {
  const p = await project(t, [secretYaml('api')]);
  await assert.rejects(getRun(p.ctx, p.policies, 'api', undefined, 'CURRENT'), (error) => {
    assert.equal(error.code, 'ERR_NO_SUCH_STAGE');
    assert.equal(error.exitCode, 1);
    assert.equal(error.message, 'api/dev has no CURRENT version');
    assert.equal(error.hint, 'run `keyshift rotate api` to provision it first');
    return true;
  });
  const first = await rotate(p);
  await rotate(p, { force: true, envs: ['prod'] });
  const current = await getRun(p.ctx, p.policies, 'api', undefined, 'CURRENT');
  assert.deepEqual({ ...current, value: null }, { secret: 'api', environment: 'dev', stage: 'CURRENT', versionId: first.results[0].toVersion, value: null });
  assert.equal(current.value.reveal(), (await p.store('dev').readValue('api', first.results[0].toVersion)).reveal());
  const previous = await getRun(p.ctx, p.policies, 'api', 'prod', 'PREVIOUS');
  assert.deepEqual([previous.environment, previous.stage, previous.versionId], ['prod', 'PREVIOUS', first.results[1].toVersion]);
  assert.notEqual(previous.value.reveal(), (await getRun(p.ctx, p.policies, 'api', 'prod', 'CURRENT')).value.reveal());
  await assert.rejects(getRun(p.ctx, p.policies, 'api', 'dev', 'PENDING'), (error) => {
    assert.equal(error.message, 'api/dev has no PENDING version');
    assert.equal(error.hint, 'run `keyshift status api` to see which versions exist');
    assert.equal(error.exitCode, 1);
    return true;
  });
  await assert.rejects(getRun(p.ctx, p.policies, 'api', 'qa', 'CURRENT'), { code: 'ERR_USAGE', message: 'unknown environment "qa"' });
  await assert.rejects(getRun(p.ctx, p.policies, 'nope', undefined, 'CURRENT'), { code: 'ERR_USAGE', message: 'unknown secret "nope"' });
});

test('planRun: what rotate would do, per environment, with the horizon; nothing is written', async (t) => {
  const p = await project(t, [secretYaml('api')]);
  const plan = (extra = {}) => planRun(p.ctx, p.policies, { ...all, force: false, horizonMs: 0, ...extra });
  assert.deepEqual(await plan(), [
    { secret: 'api', environment: 'dev', action: 'provision', reason: 'not provisioned yet: the first version becomes CURRENT', at: iso(START) },
    { secret: 'api', environment: 'prod', action: 'provision', reason: 'not provisioned yet: the first version becomes CURRENT', at: iso(START) },
  ]);
  assert.equal(await p.store('dev').read('api'), null, 'plan writes nothing');
  await rotate(p);
  assert.deepEqual((await plan()).map((r) => [r.action, r.reason]), [
    ['none', `not due until ${iso(START + 90 * DAY)}`],
    ['none', `not due until ${iso(START + 90 * DAY)}`],
  ]);
  assert.deepEqual((await plan({ horizonMs: 100 * DAY })).map((r) => [r.environment, r.action, r.at]), [
    ['dev', 'rotate', iso(START + 90 * DAY)],
    ['prod', 'rotate', iso(START + 90 * DAY)],
  ]);
  const forced = await plan({ force: true, envs: ['prod'] });
  assert.deepEqual(forced.map((r) => [r.environment, r.action]), [['prod', 'rotate']]);
  assert.match(forced[0].reason, /^forced/);
});

test('planRun: the next environment is planned after the one before it switches in the same plan (promotion order)', async (t) => {
  const p = await project(t, [secretYaml('api', { envs: [['dev', undefined, ['observe: 2h']], 'prod'] })]);
  await rotate(p);
  p.advance(91 * DAY);
  const rows = await planRun(p.ctx, p.policies, { ...all, force: false, horizonMs: 0 });
  assert.deepEqual(rows.map((r) => [r.environment, r.action]), [['dev', 'rotate'], ['prod', 'wait']]);
  // With --env prod alone, the previous environment is what its store holds (not switching now).
  const prodOnly = await planRun(p.ctx, p.policies, { ...all, envs: ['prod'], force: false, horizonMs: 0 });
  assert.deepEqual(prodOnly.map((r) => [r.environment, r.action]), [['prod', 'rotate']]);
});

test('planRun: a store that cannot be read is an error row (with the reason); the others are planned', async (t) => {
  const p = await project(t, [secretYaml('api', { envs: ['dev'] }), secretYaml('web', { envs: ['qa', 'live'] })]);
  mkdirSync(join(p.cwd, '.keyshift'));
  writeFileSync(p.storePath('qa'), 'garbage');
  const rows = await planRun(p.ctx, p.policies, { ...all, force: false, horizonMs: 0 });
  assert.deepEqual(rows.map((r) => [r.secret, r.environment, r.action]), [['api', 'dev', 'provision'], ['web', 'qa', 'error'], ['web', 'live', 'error']]);
  const info = { code: 'ERR_STORE_CORRUPT', message: DAMAGED(p.storePath('qa')), hint: `restore ${p.storePath('qa')} from a backup (keyshift never overwrites a damaged store); if the key is right and the file was edited, the edit is the damage` };
  assert.deepEqual(rows[1], { secret: 'web', environment: 'qa', action: 'error', reason: info.message, at: iso(START), error: info });
  await assert.rejects(planRun(p.ctx, p.policies, { names: ['nope'], all: false, envs: [], force: false, horizonMs: 0 }), { code: 'ERR_USAGE' });
});

test('planRun: --dry-run without --ticket is refused where the real run would be (exit 3)', async (t) => {
  const p = await project(t, [secretYaml('api', { envs: [['dev', undefined, ['requireTicket: true']]] })]);
  await assert.rejects(planRun(p.ctx, p.policies, { ...all, force: false, horizonMs: 0, ticketGate: true }), { code: 'ERR_TICKET_REQUIRED', exitCode: 3 });
  assert.equal((await planRun(p.ctx, p.policies, { ...all, force: false, horizonMs: 0 })).length, 1);
});

test('exportRun: CURRENT, PREVIOUS in the fallback window, PENDING during the overlap, under exportAs or the upper-cased name', async (t) => {
  const p = await project(t, [secretYaml('api-key'), secretYaml('web', { envs: ['dev'], lines: ['exportAs: WEB_SIGNING'] })]);
  const first = await rotate(p);
  const names = async (selection) => (await exportRun(p.ctx, p.policies, selection)).map((v) => [v.name, v.secret, v.environment]);
  assert.deepEqual(await names({ names: [] }), [['API_KEY', 'api-key', 'dev'], ['WEB_SIGNING', 'web', 'dev']]);
  await rotate(p, { force: true, envs: ['prod'] });
  assert.deepEqual(await names({ names: ['api-key'], env: 'prod' }), [['API_KEY', 'api-key', 'prod'], ['API_KEY_PREVIOUS', 'api-key', 'prod']]);
  const values = await exportRun(p.ctx, p.policies, { names: ['api-key'], env: 'prod' });
  assert.equal(values[1].value.reveal(), (await p.store('prod').readValue('api-key', first.results[1].toVersion)).reveal());
  assert.notEqual(values[0].value.reveal(), values[1].value.reveal());
  // --env prod over all secrets: the ones without prod are left out.
  assert.deepEqual(await names({ names: [], env: 'prod' }), [['API_KEY', 'api-key', 'prod'], ['API_KEY_PREVIOUS', 'api-key', 'prod']]);
  // A PENDING version (the overlap): put one in through the store.
  const store = p.store('dev');
  const lock = await store.lock({ waitMs: 100, owner: 'test' });
  const { SecretValue } = await import('../../dist/secret-value.js');
  const state = await store.read('web');
  await store.apply('web', [{ type: 'create', versionId: 'v-pending', value: SecretValue.fromString('next'), stage: 'PENDING' }], { rotation: state.rotation, lastRotatedAt: state.lastRotatedAt, pendingEvents: [] });
  await lock.release();
  const web = await exportRun(p.ctx, p.policies, { names: ['web'] });
  assert.deepEqual(web.map((v) => v.name), ['WEB_SIGNING', 'WEB_SIGNING_PENDING']);
  assert.equal(web[1].value.reveal(), 'next');
});

test('exportRun: the refusals: no CURRENT, a name that is no variable, an unknown environment, two secrets on one variable', async (t) => {
  const p = await project(t, [secretYaml('api', { envs: ['dev'] }), secretYaml('web', { envs: ['qa'] })]);
  await assert.rejects(exportRun(p.ctx, p.policies, { names: ['api'] }), (error) => {
    assert.equal(error.code, 'ERR_NO_SUCH_STAGE');
    assert.equal(error.exitCode, 1);
    assert.equal(error.message, 'api/dev has no CURRENT version');
    assert.equal(error.hint, 'run `keyshift rotate` to provision it first; nothing was started');
    return true;
  });
  // Two secrets named, the environment only one of them has.
  await assert.rejects(exportRun(p.ctx, p.policies, { names: ['api', 'web'], env: 'qa' }), (error) => {
    assert.equal(error.code, 'ERR_USAGE');
    assert.equal(error.message, 'secret "api" has no environment "qa"');
    return true;
  });
  const q = await project(t, [secretYaml('9lives', { envs: ['dev'] })]);
  await assert.rejects(exportRun(q.ctx, q.policies, { names: [] }), (error) => {
    assert.equal(error.code, 'ERR_USAGE');
    assert.equal(error.exitCode, 2);
    assert.equal(error.message, 'secret "9lives" has no valid variable name (9LIVES)');
    assert.equal(error.hint, 'set exportAs on it in policies/p.yaml, e.g. exportAs: KEY_9LIVES');
    return true;
  });
  const d = await project(t, [secretYaml('a', { envs: ['dev'], lines: ['exportAs: SAME'] }), secretYaml('b', { envs: ['qa'], lines: ['exportAs: SAME'] })]);
  await rotate(d);
  await assert.rejects(exportRun(d.ctx, d.policies, { names: [] }), (error) => {
    assert.equal(error.code, 'ERR_USAGE');
    assert.equal(error.message, 'secrets "a" and "b" both export SAME');
    assert.equal(error.hint, 'give one of them another exportAs in its policy');
    return true;
  });
  assert.equal(exportName({ name: 'my-api-key-2', exportAs: null }), 'MY_API_KEY_2');
  assert.equal(exportName({ name: 'x', exportAs: 'Y' }), 'Y');
});
