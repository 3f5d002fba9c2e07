// The parts every run is built of: ids.ts (rotation, version and run ids, the operator),
// context.ts (target labels), run-info.ts (startRun: generate, sharedValue, hooks, evidence
// appends and settle, webhooks; signRun) and evidence-recovery.ts (drafts a run left appended,
// cleared or kept; anchors and confirmations) — on real local stores and a real evidence log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { project, secretYaml, all, START } from '../helpers/engine-project.js';
import { newRotationId, versionIdFor, newRunId, operatorName } from '../../dist/engine/ids.js';
import { targetLabel } from '../../dist/engine/context.js';
import { startRun, signRun, notifyTargets } from '../../dist/engine/run-info.js';
import { rotateRun } from '../../dist/engine/runner.js';
import { recoverEvidence, recoverStoreEvidence, anchorEvidence, draftKey } from '../../dist/engine/evidence-recovery.js';
import { targetsOf } from '../../dist/engine/selection.js';
import { StoreRegistry } from '../../dist/stores/registry.js';
import { EvidenceLog } from '../../dist/evidence/index.js';
import { signerFromEnv } from '../../dist/evidence/sign.js';
import { hostName } from '../../dist/util/process-identity.js';

const rotate = (p, extra = {}) => rotateRun(p.ctx, p.policies, { ...all, force: false, concurrency: 1, ...extra });

test('ids: a rotation id carries its start time and 64 random bits; the version id is derived from it', () => {
  const id = newRotationId(new Date('2026-11-23T10:04:05.678Z'));
  assert.match(id, /^r-20261123t100405z-[0-9a-f]{16}$/);
  assert.notEqual(newRotationId(new Date(START)), newRotationId(new Date(START)));
  assert.equal(versionIdFor('r-20261123t100405z-0123456789abcdef'), 'v-20261123t100405z-0123456789abcdef');
  assert.match(newRunId(), /^run-[0-9a-f]{12}$/);
  assert.notEqual(newRunId(), newRunId());
});

test('ids: the operator is KEYSHIFT_OPERATOR (trimmed), else the OS user at this host', () => {
  assert.equal(operatorName({ KEYSHIFT_OPERATOR: '  alice@ci  ' }), 'alice@ci');
  const osUser = `${userInfo().username}@${hostName()}`;
  assert.equal(operatorName({ KEYSHIFT_OPERATOR: '   ', USER: 'someone-else' }), osUser);
  assert.equal(operatorName({}), osUser);
});

test('ids: without a passwd entry for the user (a container\'s uid) the operator is $USER, else $LOGNAME, else "unknown", at this host', { skip: process.getuid?.() !== 0 && 'needs root to run as a uid without a passwd entry' }, () => {
  const script = `import(${JSON.stringify(new URL('../../dist/engine/ids.js', import.meta.url).href)}).then(({ operatorName }) => console.log(JSON.stringify([operatorName({ USER: 'u1', LOGNAME: 'l1' }), operatorName({ LOGNAME: 'l1' }), operatorName({})])))`;
  const child = spawnSync(process.execPath, ['-e', script], { uid: 48_213, gid: 48_213, encoding: 'utf8', env: {} });
  assert.equal(child.status, 0, child.stderr);
  const host = hostName();
  assert.deepEqual(JSON.parse(child.stdout), [`u1@${host}`, `l1@${host}`, `unknown@${host}`]);
});

test('context: a target is labelled secret/environment', () => {
  assert.equal(targetLabel({ policy: { name: 'api-key' }, environment: { name: 'prod' } }), 'api-key/prod');
});

async function started(t, secrets, details = {}) {
  const p = await project(t, secrets);
  const stores = new StoreRegistry(p.ctx);
  const evidence = new EvidenceLog(p.ctx.evidenceDir, { lockWaitMs: 100 });
  t.after(async () => (await evidence.close(), await stores.closeAll()));
  const { run, settle } = startRun(p.ctx, evidence, stores, { reason: 'why', ticket: 'T-1', emergency: true, fallbackWindowMs: 5, policies: p.policies, ...details });
  const targets = await targetsOf(p.policies, [], stores);
  return { p, stores, evidence, run, settle, targets };
}

const draft = (i, extra = {}) => ({ at: new Date(START + i * 1000).toISOString(), event: 'issued', rotationId: `r-${i}`, secret: 'api', environment: 'dev', store: 'local', fromVersion: null, toVersion: null, fingerprint: null, operator: 'o', reason: 'scheduled', ticket: null, emergency: false, checks: [], runId: 'run-a', ...extra });

test('startRun: the run carries who, why and the clock; generate makes a value of the policy\'s generator', async (t) => {
  const s = await started(t, [secretYaml('api', { envs: ['dev'] })]);
  assert.match(s.run.runId, /^run-[0-9a-f]{12}$/);
  assert.equal(s.run.operator, 'tester');
  assert.deepEqual([s.run.reason, s.run.ticket, s.run.emergency, s.run.fallbackWindowMs], ['why', 'T-1', true, 5]);
  assert.equal(s.run.now().toISOString(), new Date(START).toISOString());
  assert.equal(s.run.notifyFor, undefined);
  assert.equal(s.run.policies, undefined);
  const value = await s.run.generate(s.targets[0]);
  assert.equal(Buffer.from(value.reveal(), 'base64').length, 32);
  assert.notEqual((await s.run.generate(s.targets[0])).reveal(), value.reveal());
  await assert.rejects(s.run.generate({ ...s.targets[0], policy: { ...s.targets[0].policy, generator: null } }), (error) => {
    assert.equal(error.code, 'ERR_INTERNAL');
    assert.equal(error.message, 'api has no generator (its store makes its own keys)');
    return true;
  });
  assert.equal(await s.run.wrappedDataKeysHold(s.targets[0], null), null, 'no data-key secret: nothing can be wrapped');
  s.run.warn('careful');
  assert.deepEqual(s.p.logs.at(-1), ['warn', 'careful', {}]);
  await s.settle();
});

test('startRun: sharedValue: later environments take the first environment\'s CURRENT value; without it each has its own', async (t) => {
  const p = await project(t, [secretYaml('shared', { lines: ['sharedValue: true'] }), secretYaml('own')]);
  // Only prod first: the first environment holds nothing yet, so prod gets a value of its own.
  await rotate(p, { envs: ['prod'], names: ['shared'], all: false });
  const value = async (env, key) => {
    const state = await p.store(env).read(key);
    const current = state.versions.find((v) => v.stages.includes('CURRENT'));
    return (await p.store(env).readValue(key, current.id)).reveal();
  };
  const prodAlone = await value('prod', 'shared');
  await rotate(p);
  assert.notEqual(await value('dev', 'shared'), prodAlone);
  const devBefore = await value('dev', 'shared');
  const forced = await rotate(p, { force: true, names: ['shared'], all: false });
  assert.deepEqual(forced.results.map((r) => r.outcome), ['rotated', 'rotated']);
  assert.notEqual(await value('dev', 'shared'), devBefore, 'the first environment issues a new value');
  assert.equal(await value('prod', 'shared'), await value('dev', 'shared'));
  assert.notEqual(await value('prod', 'own'), await value('dev', 'own'));
});

test('startRun: record appends in the background and settle waits; a failed append is ERR_EVIDENCE_WRITE with the log\'s hint', async (t) => {
  const s = await started(t, [secretYaml('api', { envs: ['dev'] })]);
  for (let i = 0; i < 300; i += 1) await s.run.record([draft(i)]);
  await s.settle();
  const lines = readFileSync(join(s.p.ctx.evidenceDir, 'evidence.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 300);
  assert.deepEqual(lines.slice(0, 3).map((l) => l.rotationId), ['r-0', 'r-1', 'r-2']);
  // The evidence file a symlink: the log refuses it with its own hint.
  const q = await started(t, [secretYaml('api', { envs: ['dev'] })]);
  mkdirSync(q.p.ctx.evidenceDir);
  writeFileSync(join(q.p.cwd, 'elsewhere.jsonl'), '');
  symlinkSync(join(q.p.cwd, 'elsewhere.jsonl'), join(q.p.ctx.evidenceDir, 'evidence.jsonl'));
  await q.run.record([draft(1)]);
  await q.run.record([draft(2)]);
  await assert.rejects(q.settle(), (error) => {
    assert.equal(error.code, 'ERR_EVIDENCE_WRITE');
    assert.match(error.message, /^changes were applied but evidence could not be written: /);
    assert.match(error.hint, /; then rerun keyshift rotate: it appends the missing records$/);
    assert.doesNotMatch(error.hint, /^fix the evidence directory/);
    return true;
  });
});

test('startRun: hooks run in the project directory; webhooks get the run\'s events before rotate returns', async (t) => {
  const posts = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => (posts.push([req.url, JSON.parse(body)]), res.end('ok')));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${server.address().port}`;
  const p = await project(t, [
    secretYaml('api', { envs: [['dev', undefined, ['deploy: [{ run: "pwd > deployed-in.txt" }]']]], lines: [`notify: [{ webhook: "${url}/api", on: [provisioned, switched] }]`] }),
    secretYaml('quiet', { envs: ['qa'] }),
  ]);
  await rotate(p);
  assert.deepEqual(posts.map(([path, body]) => [path, body.event, body.secret]), [['/api', 'provisioned', 'api']]);
  await rotate(p, { force: true });
  assert.equal(readFileSync(join(p.cwd, 'deployed-in.txt'), 'utf8').trim(), p.cwd);
  assert.deepEqual(posts.map(([, body]) => body.event), ['provisioned', 'switched']);
  const of = notifyTargets(p.policies);
  assert.deepEqual(of('api').map((n) => n.webhook), [`${url}/api`]);
  assert.deepEqual(of('quiet'), []);
  assert.deepEqual(of('unknown'), []);
});

test('signRun: no signer, no record; a signing that fails is logged and the run stands', async (t) => {
  const s = await started(t, [secretYaml('api', { envs: ['dev'] })]);
  await s.run.record([draft(1)]);
  await s.settle();
  await signRun(s.p.ctx, s.evidence, s.run);
  assert.equal(s.p.evidence().length, 1);
  assert.deepEqual(s.p.messages('error'), []);
  const { privateKey } = generateKeyPairSync('ed25519');
  writeFileSync(join(s.p.cwd, 'k.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  s.p.ctx.signer = await signerFromEnv({ KEYSHIFT_SIGNING_KEY: 'k.pem' }, s.p.cwd);
  await signRun(s.p.ctx, s.evidence, s.run);
  assert.deepEqual(s.p.evidence().map((r) => [r.event, r.runId]), [['issued', 'run-a'], ['signed', s.run.runId]]);
  const broken = { ...s.p.ctx.signer, sign: () => { throw new Error('no key'); } };
  await signRun({ ...s.p.ctx, signer: broken }, s.evidence, s.run);
  assert.deepEqual(s.p.logs.at(-1), ['error', 'could not append the signed record; the next run signs these records', { err: 'no key' }]);
  assert.equal(s.p.evidence().length, 2);
});

/** A store whose entries hold drafts of a run that never confirmed them (its evidence was lost). */
async function withDrafts(t, envs = ['dev']) {
  const p = await project(t, [secretYaml('api', { envs }), secretYaml('web', { envs })]);
  writeFileSync(p.ctx.evidenceDir, 'x');
  await assert.rejects(rotate(p), { code: 'ERR_EVIDENCE_WRITE' });
  const { rmSync } = await import('node:fs');
  rmSync(p.ctx.evidenceDir);
  const stores = new StoreRegistry(p.ctx);
  const evidence = new EvidenceLog(p.ctx.evidenceDir, { lockWaitMs: 100 });
  t.after(async () => (await evidence.close(), await stores.closeAll()));
  const targets = await targetsOf(p.policies, [], stores);
  // Recovery runs under the store's lock.
  const lock = await targets[0].store.lock({ waitMs: 100, owner: 'test' });
  t.after(() => lock.release());
  const appended = [];
  const append = async (drafts) => (appended.push(drafts.map((d) => `${d.secret}:${d.event}:${d.recoveredBy}`)), evidence.append(drafts));
  return { p, stores, evidence, targets, appended, append };
}

test('recoverStoreEvidence: the drafts the log lacks are appended in time order, named with the recovering run, and cleared', async (t) => {
  const s = await withDrafts(t);
  const store = s.targets[0].store;
  const reads = [];
  const result = await recoverStoreEvidence(store, s.targets, s.p.ctx.evidenceDir, s.append, {
    readers: 2,
    recoveredBy: 'run-now',
    read: (target) => (reads.push(target.policy.name), store.read(target.key)),
  });
  assert.deepEqual(reads.sort(), ['api', 'web']);
  assert.deepEqual([result.recovered, result.secretsWithDrafts, result.meta.confirmedRuns], [2, 2, []]);
  assert.deepEqual(s.appended, [['api:provisioned:run-now', 'web:provisioned:run-now']]);
  for (const key of ['api', 'web']) assert.deepEqual((await store.read(key)).pendingEvents, []);
  // Again: nothing left, nothing appended.
  const again = await recoverStoreEvidence(store, s.targets, s.p.ctx.evidenceDir, s.append, { readers: 1, recoveredBy: 'run-later', read: (target) => store.read(target.key) });
  assert.deepEqual([again.recovered, again.secretsWithDrafts], [0, 0]);
  assert.equal(s.appended.length, 1);
});

test('recoverEvidence: drafts already logged are not appended again; keepDrafts leaves them in the store', async (t) => {
  const s = await withDrafts(t);
  const store = s.targets[0].store;
  const meta = await store.readMeta();
  const states = new Map();
  for (const target of s.targets) states.set(target, await store.read(target.key));
  // api's draft is in the log already (its run wrote it, then died before confirming).
  await s.evidence.append([states.get(s.targets[0]).pendingEvents[0]]);
  const n = await recoverEvidence(states, meta, s.p.ctx.evidenceDir, s.append, { recoveredBy: 'run-now', keepDrafts: true });
  assert.equal(n, 1);
  assert.deepEqual(s.appended, [['web:provisioned:run-now']]);
  for (const key of ['api', 'web']) assert.equal((await store.read(key)).pendingEvents.length, 1, 'kept');
  assert.equal(await recoverEvidence(new Map([[s.targets[0], null]]), meta, s.p.ctx.evidenceDir, s.append, { recoveredBy: 'x' }), 0);
  // Without keepDrafts: cleared, and the one already logged is cleared too.
  assert.equal(await recoverEvidence(states, meta, s.p.ctx.evidenceDir, s.append, { recoveredBy: 'run-now' }), 0);
  for (const key of ['api', 'web']) assert.deepEqual((await store.read(key)).pendingEvents, []);
});

test('recoverEvidence: under a lease, only the recovered drafts are cleared, from a fresh read; a draft announced since stays', async (t) => {
  const s = await withDrafts(t);
  const store = s.targets[0].store;
  const meta = await store.readMeta();
  const [api, web] = s.targets;
  const states = new Map([[api, await store.read('api')], [web, await store.read('web')]]);
  // Since the read, another run announced a draft on api (its own, unconfirmed).
  const fresh = await store.read('api');
  const later = draft(99, { runId: 'run-other', rotationId: 'r-later' });
  await store.apply('api', [], { rotation: fresh.rotation, lastRotatedAt: fresh.lastRotatedAt, pendingEvents: [...fresh.pendingEvents, later] });
  const leased = [];
  const underLease = async (target, write) => (leased.push(target.policy.name), write());
  assert.equal(await recoverEvidence(states, meta, s.p.ctx.evidenceDir, s.append, { recoveredBy: 'run-now', underLease }), 2);
  assert.deepEqual(leased, ['api', 'web']);
  assert.deepEqual((await store.read('api')).pendingEvents.map((d) => d.rotationId), ['r-later']);
  assert.deepEqual((await store.read('web')).pendingEvents, []);
  // A lease held elsewhere: the write is skipped, the drafts stay (found logged next time).
  const states2 = new Map([[api, await store.read('api')]]);
  const held = async () => undefined;
  assert.equal(await recoverEvidence(states2, meta, s.p.ctx.evidenceDir, s.append, { recoveredBy: 'run-now', underLease: held }), 1);
  assert.deepEqual((await store.read('api')).pendingEvents.map((d) => d.rotationId), ['r-later']);
  // A confirmed run's drafts are cleared too; an entry gone meanwhile is left alone.
  const states3 = new Map([[api, await store.read('api')]]);
  const confirmed = { ...meta, confirmedRuns: ['run-zzz'] };
  assert.equal(await recoverEvidence(states3, confirmed, s.p.ctx.evidenceDir, s.append, { recoveredBy: 'run-now', underLease }), 0);
  assert.deepEqual((await store.read('api')).pendingEvents, []);
  assert.equal(draftKey(later), 'run-other|r-later|issued|dev');
});

test('recoverEvidence: a repair outside any rotation (rotationId null) already logged is not appended again; another of the same run is', async (t) => {
  // doctor --fix announces its `repaired` record in the entry, appends it, and confirms its run at
  // the end: killed in between, the next run finds the draft unconfirmed but already in the log.
  const s = await withDrafts(t);
  const store = s.targets[0].store;
  const meta = await store.readMeta();
  const repair = (check) => draft(5, { event: 'repaired', rotationId: null, runId: 'run-doctor', checks: [{ check, action: 'removed the label' }] });
  const logged = repair('foreign-label');
  const notLogged = repair('stray-pending');
  await s.evidence.append([logged]);
  const fresh = await store.read('api');
  await store.apply('api', [], { rotation: fresh.rotation, lastRotatedAt: fresh.lastRotatedAt, pendingEvents: [logged, notLogged] });
  const states = new Map([[s.targets[0], await store.read('api')]]);
  assert.equal(await recoverEvidence(states, meta, s.p.ctx.evidenceDir, s.append, { recoveredBy: 'run-now' }), 1);
  assert.deepEqual(s.appended, [['api:repaired:run-now']]);
  const repaired = s.p.evidence().filter((r) => r.event === 'repaired');
  assert.deepEqual(repaired.map((r) => [r.checks[0].check, r.recoveredBy ?? null]), [['foreign-label', null], ['stray-pending', 'run-now']]);
  // Once more: both are in the log now.
  const again = new Map([[s.targets[0], { ...(await store.read('api')), pendingEvents: [logged, notLogged] }]]);
  assert.equal(await recoverEvidence(again, meta, s.p.ctx.evidenceDir, s.append, { recoveredBy: 'run-later' }), 0);
  assert.equal(s.p.evidence().filter((r) => r.event === 'repaired').length, 2);
});

test('anchorEvidence: the log head is recorded in the store; the run confirmed unless told not to; a checkpoint kept', async (t) => {
  const s = await withDrafts(t);
  const store = s.targets[0].store;
  await s.evidence.append([draft(1)]);
  const head = await s.evidence.head();
  await anchorEvidence(store, { evidenceAnchors: { other: { seq: 9, hash: 'h', at: 'x' } }, confirmedRuns: ['run-1'] }, s.evidence, 'run-2');
  let meta = await store.readMeta();
  assert.deepEqual(meta.confirmedRuns, ['run-1', 'run-2']);
  assert.deepEqual(Object.keys(meta.evidenceAnchors).sort(), [head.chainId, 'other'].sort());
  assert.deepEqual([meta.evidenceAnchors[head.chainId].seq, meta.evidenceAnchors[head.chainId].hash], [1, head.hash]);
  assert.equal(meta.checkpoints, undefined);
  await anchorEvidence(store, meta, s.evidence, 'run-3', false, { chainId: head.chainId, digest: 'sha256:abc' });
  meta = await store.readMeta();
  assert.deepEqual(meta.confirmedRuns, ['run-1', 'run-2'], 'not confirmed');
  assert.deepEqual(meta.checkpoints, { [head.chainId]: 'sha256:abc' });
  const many = Array.from({ length: 50 }, (_, i) => `run-${i}`);
  await anchorEvidence(store, { ...meta, confirmedRuns: many }, s.evidence, 'run-new');
  meta = await store.readMeta();
  assert.equal(meta.confirmedRuns.length, 50);
  assert.deepEqual([meta.confirmedRuns[0], meta.confirmedRuns.at(-1)], ['run-1', 'run-new']);
  assert.deepEqual(meta.checkpoints, { [head.chainId]: 'sha256:abc' }, 'kept without a new checkpoint');
  // An empty log: no anchor added.
  const empty = new EvidenceLog(join(s.p.cwd, 'empty-evidence'), { lockWaitMs: 100 });
  await anchorEvidence(store, { evidenceAnchors: {}, confirmedRuns: [] }, empty, 'run-x');
  assert.deepEqual((await store.readMeta()).evidenceAnchors, {});
  await empty.close();
});

test('recoverEvidence: drafts of several secrets are appended oldest first; under a lease, drafts of confirmed runs are dropped too', async (t) => {
  const s = await withDrafts(t);
  const store = s.targets[0].store;
  const [api, web] = s.targets;
  const meta = await store.readMeta();
  const put = async (key, pendingEvents) => {
    const state = await store.read(key);
    await store.apply(key, [], { rotation: state.rotation, lastRotatedAt: state.lastRotatedAt, pendingEvents });
  };
  await put('api', [draft(5, { rotationId: 'r-api', runId: 'run-lost' })]);
  await put('web', [draft(1, { rotationId: 'r-web', runId: 'run-lost', secret: 'web' })]);
  const states = new Map([[api, await store.read('api')], [web, await store.read('web')]]);
  // Since the read, a draft of a run that is confirmed (its evidence is in the log) showed up on api.
  await put('api', [...states.get(api).pendingEvents, draft(7, { rotationId: 'r-done', runId: 'run-done' })]);
  const confirmed = { ...meta, confirmedRuns: ['run-done'] };
  assert.equal(await recoverEvidence(states, confirmed, s.p.ctx.evidenceDir, s.append, { recoveredBy: 'run-now', underLease: (target, write) => write() }), 2);
  assert.deepEqual(s.appended, [['web:issued:run-now', 'api:issued:run-now']]);
  assert.deepEqual((await store.read('api')).pendingEvents, []);
});
