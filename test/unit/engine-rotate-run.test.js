// `rotate` as the engine runs it (runner.ts rotateRun), in-process on real local stores and a real
// evidence log: results, exit-code class, store states and meta (anchors, confirmed runs), the
// evidence records, a locked or damaged store failing only its own targets, and recovery of the
// drafts a run left when its evidence could not be written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { project, secretYaml, all, DAY } from '../helpers/engine-project.js';
import { rotateRun } from '../../dist/engine/runner.js';
import { signerFromEnv } from '../../dist/evidence/sign.js';

const opts = (extra = {}) => ({ ...all, force: false, concurrency: 1, ...extra });
const summary = (report) => report.results.map((r) => `${r.secret}/${r.environment}:${r.action}:${r.outcome}`);

test('rotateRun: a first run provisions every environment, writes evidence, anchors and confirms it in each store', async (t) => {
  const p = await project(t, [secretYaml('api')]);
  const progress = [];
  const report = await rotateRun(p.ctx, p.policies, opts({ onProgress: (...args) => progress.push(args) }));
  assert.match(report.runId, /^run-[0-9a-f]{12}$/);
  assert.deepEqual(summary(report), ['api/dev:provision:provisioned', 'api/prod:provision:provisioned']);
  assert.equal(report.exitCode, 0);
  assert.equal(report.evidenceFile, join(p.ctx.evidenceDir, 'evidence.jsonl'));
  assert.deepEqual(progress, [[1, 1, 0]]);
  const records = p.evidence();
  assert.deepEqual(records.map((r) => [r.event, r.environment, r.runId, r.operator, r.reason, r.ticket, r.emergency]), [
    ['provisioned', 'dev', report.runId, 'tester', 'scheduled', null, false],
    ['provisioned', 'prod', report.runId, 'tester', 'scheduled', null, false],
  ]);
  for (const env of ['dev', 'prod']) {
    const meta = await p.store(env).readMeta();
    assert.deepEqual(meta.confirmedRuns, [report.runId]);
    const anchors = Object.values(meta.evidenceAnchors);
    assert.equal(anchors.length, 1);
    assert.deepEqual([anchors[0].seq, anchors[0].hash], [2, records[1].hash]);
    const state = await p.store(env).read('api');
    assert.deepEqual(state.versions.map((v) => v.stages), [['CURRENT']]);
    assert.equal(state.versions[0].id, report.results[env === 'dev' ? 0 : 1].toVersion);
  }
  assert.deepEqual(p.logs[0], ['child', { runId: report.runId }]);
  assert.deepEqual(p.messages('debug').filter((m) => m === 'store locked').length, 2);
});

test('rotateRun: nothing due takes no lock, writes no evidence and leaves the stores as they were', async (t) => {
  const p = await project(t, [secretYaml('api')]);
  const first = await rotateRun(p.ctx, p.policies, opts());
  p.logs.length = 0;
  const metaBefore = await p.store('dev').readMeta();
  const report = await rotateRun(p.ctx, p.policies, opts());
  assert.deepEqual(summary(report), ['api/dev:none:skipped', 'api/prod:none:skipped']);
  assert.match(report.results[0].reason, /^not due until 2027-02-21T10:00:00\.000Z/);
  assert.equal(report.evidenceFile, null);
  assert.equal(report.exitCode, 0);
  assert.equal(p.evidence().length, 2);
  assert.deepEqual(await p.store('dev').readMeta(), metaBefore);
  assert.deepEqual(metaBefore.confirmedRuns, [first.runId]);
  assert.deepEqual(p.messages('debug').filter((m) => m === 'store locked'), []);
});

test('rotateRun: forced, with reason and ticket; a window of 0 retires the old version in the same run', async (t) => {
  const p = await project(t, [secretYaml('api')]);
  const first = await rotateRun(p.ctx, p.policies, opts());
  const forced = await rotateRun(p.ctx, p.policies, opts({ force: true, reason: 'leaked in a log', ticket: 'CHG-7', names: ['api'], all: false }));
  assert.deepEqual(summary(forced), ['api/dev:rotate:rotated', 'api/prod:rotate:rotated']);
  assert.equal(forced.results[0].fromVersion, first.results[0].toVersion);
  const issued = p.evidence().filter((r) => r.runId === forced.runId);
  assert.deepEqual(issued.map((r) => [r.event, r.reason, r.ticket, r.emergency]), [
    ['issued', 'leaked in a log', 'CHG-7', true],
    ['switched', 'leaked in a log', 'CHG-7', true],
    ['issued', 'leaked in a log', 'CHG-7', true],
    ['switched', 'leaked in a log', 'CHG-7', true],
  ]);
  // forced without a reason is recorded as "forced"; the emergency window applies to this run's rotations
  const zero = await rotateRun(p.ctx, p.policies, opts({ force: true, fallbackWindowMs: 0, envs: ['dev'] }));
  // (the forced rotation of dev before it is still in its window: that old version goes first)
  assert.deepEqual(summary(zero), ['api/dev:decommission:decommissioned', 'api/dev:rotate:rotated', 'api/dev:decommission:decommissioned']);
  assert.deepEqual(new Set(p.evidence().filter((r) => r.runId === zero.runId).map((r) => r.reason)), new Set(['forced']));
  assert.deepEqual((await p.stages('dev', 'api')).map(([, s]) => s), [['CURRENT']]);
  assert.deepEqual((await p.store('prod').readMeta()).confirmedRuns, [first.runId, forced.runId], 'prod was not part of the --env dev run');
});

test('rotateRun: the fallback window ends, the next run decommissions', async (t) => {
  const p = await project(t, [secretYaml('api', { envs: ['dev'] })]);
  await rotateRun(p.ctx, p.policies, opts());
  await rotateRun(p.ctx, p.policies, opts({ force: true }));
  p.advance(3 * DAY);
  const report = await rotateRun(p.ctx, p.policies, opts());
  assert.deepEqual(summary(report), ['api/dev:decommission:decommissioned']);
  assert.equal(p.evidence().at(-1).reason, 'scheduled');
  assert.equal(p.evidence().at(-1).emergency, false);
});

test('rotateRun: a store locked by another run blocks its secret (exit 3); the later environment is held', async (t) => {
  const p = await project(t, [secretYaml('api'), secretYaml('other', { envs: ['staging'] })]);
  const lock = await p.store('dev').lock({ waitMs: 10, owner: 'someone else' });
  t.after(() => lock.release());
  const report = await rotateRun(p.ctx, p.policies, opts());
  assert.deepEqual(summary(report), ['api/dev:none:blocked', 'api/prod:none:skipped', 'other/staging:provision:provisioned']);
  assert.equal(report.results[0].error.code, 'ERR_LOCKED');
  assert.match(report.results[0].error.message, /^store .*dev\.store is locked by someone else/);
  assert.equal(report.results[1].reason, 'held: dev of this secret is blocked in this run');
  assert.equal(report.exitCode, 1, 'a blocked secret beside a changed one is exit 1');
  assert.deepEqual(p.messages('warn'), ['store is locked by another run']);
  assert.equal(await p.store('prod').read('api'), null, 'prod was not provisioned before dev');
  // Alone, a block is exit 3.
  const alone = await rotateRun(p.ctx, p.policies, opts({ names: ['api'], all: false }));
  assert.deepEqual(summary(alone), ['api/dev:none:blocked', 'api/prod:none:skipped']);
  assert.equal(alone.exitCode, 3);
  assert.equal(alone.evidenceFile, null);
});

test('rotateRun: a damaged store fails only its own secrets; the others are rotated (exit 1)', async (t) => {
  const p = await project(t, [secretYaml('api'), secretYaml('other', { envs: ['staging'] })]);
  mkdirSync(join(p.cwd, '.keyshift'));
  writeFileSync(p.storePath('dev'), 'not a store at all');
  const progress = [];
  const report = await rotateRun(p.ctx, p.policies, opts({ onProgress: (...args) => progress.push(args) }));
  assert.deepEqual(summary(report), ['api/dev:none:failed', 'api/prod:none:skipped', 'other/staging:provision:provisioned']);
  assert.equal(report.results[0].error.code, 'ERR_STORE_CORRUPT');
  assert.equal(report.results[0].error.message, `store ${p.storePath('dev')} is damaged: it does not start with a keyshift local store header`);
  assert.equal(report.results[1].reason, 'held: dev of this secret is failed in this run');
  assert.equal(report.exitCode, 1);
  assert.deepEqual(progress, [[1, 2, 1], [2, 2, 1]]);
  assert.deepEqual(p.messages('error'), ['store failed: its secrets fail, the others go on']);
  assert.equal(p.logs.find((l) => l[0] === 'error')[2].store, p.storePath('dev'));
  assert.deepEqual(p.evidence().map((r) => `${r.secret}/${r.environment}:${r.event}`), ['other/staging:provisioned']);
});

test('rotateRun: an unknown secret is a usage error (exit 2) before anything is locked', async (t) => {
  const p = await project(t, [secretYaml('api')]);
  await assert.rejects(rotateRun(p.ctx, p.policies, opts({ names: ['nope'], all: false })), (error) => {
    assert.equal(error.code, 'ERR_USAGE');
    assert.equal(error.exitCode, 2);
    assert.equal(error.message, 'unknown secret "nope"');
    return true;
  });
});

test('rotateRun: an environment that requires a ticket refuses the run without one (exit 3), nothing changed', async (t) => {
  const p = await project(t, [secretYaml('api', { envs: ['dev', ['prod', undefined, ['requireTicket: true']]] })]);
  await assert.rejects(rotateRun(p.ctx, p.policies, opts()), (error) => {
    assert.equal(error.code, 'ERR_TICKET_REQUIRED');
    assert.equal(error.exitCode, 3);
    return true;
  });
  assert.equal(await p.store('dev').read('api'), null);
  const report = await rotateRun(p.ctx, p.policies, opts({ ticket: 'CHG-1' }));
  assert.deepEqual(summary(report), ['api/dev:provision:provisioned', 'api/prod:provision:provisioned']);
});

test('rotateRun: evidence that cannot be written fails the run (ERR_EVIDENCE_WRITE); the next run appends the drafts and confirms them', async (t) => {
  const p = await project(t, [secretYaml('api')]);
  writeFileSync(p.ctx.evidenceDir, 'a file where the evidence dir should be');
  let lostRun;
  await assert.rejects(rotateRun(p.ctx, p.policies, opts()), (error) => {
    assert.equal(error.code, 'ERR_EVIDENCE_WRITE');
    assert.equal(error.exitCode, 1);
    assert.equal(error.message, `changes were applied but evidence could not be written: evidence directory ${p.ctx.evidenceDir} is not a directory (a file is in its place)`);
    assert.equal(error.hint, 'move that file away, or give --evidence-dir a directory; then rerun keyshift rotate: it appends the missing records');
    return true;
  });
  for (const env of ['dev', 'prod']) {
    const state = await p.store(env).read('api');
    assert.deepEqual(state.pendingEvents.map((d) => d.event), ['provisioned']);
    lostRun = state.pendingEvents[0].runId;
    assert.deepEqual(await p.store(env).readMeta(), { evidenceAnchors: {}, confirmedRuns: [] }, 'not confirmed, not anchored');
  }
  rmSync(p.ctx.evidenceDir);
  p.logs.length = 0;
  const report = await rotateRun(p.ctx, p.policies, opts());
  assert.deepEqual(summary(report), ['api/dev:none:skipped', 'api/prod:none:skipped']);
  assert.equal(report.evidenceFile, join(p.ctx.evidenceDir, 'evidence.jsonl'), 'the recovered records are this run\'s evidence');
  const records = p.evidence();
  assert.deepEqual(records.map((r) => [r.event, r.environment, r.runId, r.recoveredBy]), [
    ['provisioned', 'dev', lostRun, report.runId],
    ['provisioned', 'prod', lostRun, report.runId],
  ]);
  const warned = p.logs.filter((l) => l[1] === 'appended evidence that an interrupted run had not written');
  assert.deepEqual(warned.map((l) => [l[0], l[2].store, l[2].recovered]), [
    ['warn', p.storePath('dev'), 1],
    ['warn', p.storePath('prod'), 1],
  ]);
  for (const env of ['dev', 'prod']) {
    assert.deepEqual((await p.store(env).read('api')).pendingEvents, []);
    const meta = await p.store(env).readMeta();
    assert.deepEqual(meta.confirmedRuns, [report.runId]);
    assert.deepEqual(Object.values(meta.evidenceAnchors).map((a) => a.seq), [2]);
  }
  // Nothing left: the run after that writes nothing.
  assert.equal((await rotateRun(p.ctx, p.policies, opts())).evidenceFile, null);
  assert.equal(p.evidence().length, 2);
});

test('rotateRun: drafts already in the log but never confirmed (killed before the anchor) are confirmed, not appended twice', async (t) => {
  const p = await project(t, [secretYaml('api', { envs: ['dev'] })]);
  const first = await rotateRun(p.ctx, p.policies, opts());
  // The run died after its evidence, before its anchor: the store still holds its drafts, unconfirmed.
  const store = p.store('dev');
  const lock = await store.lock({ waitMs: 100, owner: 'test' });
  await store.writeMeta({ evidenceAnchors: {}, confirmedRuns: [] });
  await lock.release();
  assert.equal((await store.read('api')).pendingEvents.length, 1);
  p.logs.length = 0;
  const report = await rotateRun(p.ctx, p.policies, opts());
  assert.deepEqual(summary(report), ['api/dev:none:skipped']);
  assert.notEqual(report.evidenceFile, null);
  assert.deepEqual(p.evidence().map((r) => r.runId), [first.runId], 'no record appended twice');
  assert.deepEqual(p.messages('warn'), []);
  const meta = await store.readMeta();
  assert.deepEqual(meta.confirmedRuns, [report.runId]);
  assert.deepEqual(Object.values(meta.evidenceAnchors).map((a) => a.seq), [1]);
  assert.deepEqual((await store.read('api')).pendingEvents, []);
});

test('rotateRun: with a signing key, a run that wrote evidence ends with a signed record; one that wrote none adds none', async (t) => {
  const p = await project(t, [secretYaml('api', { envs: ['dev'] })]);
  const { privateKey } = generateKeyPairSync('ed25519');
  writeFileSync(join(p.cwd, 'k.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  p.ctx.signer = await signerFromEnv({ KEYSHIFT_SIGNING_KEY: 'k.pem' }, p.cwd);
  const report = await rotateRun(p.ctx, p.policies, opts());
  const records = p.evidence();
  assert.deepEqual(records.map((r) => [r.event, r.runId]), [['provisioned', report.runId], ['signed', report.runId]]);
  assert.equal(records[1].signature.keyId, p.ctx.signer.keyId);
  // The anchor includes the signed record.
  assert.deepEqual(Object.values((await p.store('dev').readMeta()).evidenceAnchors).map((a) => [a.seq, a.hash]), [[2, records[1].hash]]);
  await rotateRun(p.ctx, p.policies, opts());
  assert.equal(p.evidence().length, 2);
});

test('rotateRun: secrets in many stores run with --concurrency above 1; each store locked and anchored once', async (t) => {
  const names = ['a', 'b', 'c', 'd'];
  const p = await project(t, names.map((n) => secretYaml(n, { envs: [[`${n}env`]] })));
  const progress = [];
  const report = await rotateRun(p.ctx, p.policies, opts({ concurrency: 3, onProgress: (...args) => progress.push(args) }));
  assert.deepEqual(summary(report), names.map((n) => `${n}/${n}env:provision:provisioned`));
  assert.deepEqual(progress.map(([done, total, failed]) => [done, total, failed]), [[1, 4, 0], [2, 4, 0], [3, 4, 0], [4, 4, 0]]);
  for (const n of names) assert.deepEqual((await p.store(`${n}env`).readMeta()).confirmedRuns, [report.runId]);
});

test('rotateRun: a store where a step failed is anchored but the run is not confirmed there (its drafts are recovered next time)', async (t) => {
  const p = await project(t, [secretYaml('api', { envs: [['dev', undefined, ['deploy: [{ run: "exit 4" }]']], 'prod'] })]);
  const first = await rotateRun(p.ctx, p.policies, opts());
  const report = await rotateRun(p.ctx, p.policies, opts({ force: true }));
  assert.deepEqual(summary(report), ['api/dev:rotate:failed', 'api/prod:none:skipped']);
  assert.equal(report.results[0].error.code, 'ERR_HOOK_FAILED');
  assert.equal(report.exitCode, 1);
  const meta = await p.store('dev').readMeta();
  assert.deepEqual(meta.confirmedRuns, [first.runId], 'the failed run is not confirmed');
  const records = p.evidence();
  assert.deepEqual(Object.values(meta.evidenceAnchors).map((a) => [a.seq, a.hash]), [[records.length, records.at(-1).hash]], 'but anchored');
  assert.deepEqual((await p.store('prod').readMeta()).confirmedRuns, [first.runId], 'prod untouched');
});
