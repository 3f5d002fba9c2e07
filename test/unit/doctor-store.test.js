// `keyshift doctor` without --fix, in-process (src/engine/doctor/index.ts and store.ts): what it
// reports about real local stores, their lock files and a real evidence log damaged on disk, in
// which order, the exit code, and that it writes nothing (no store write, no evidence, no lock file).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { SecretValue } from '../../dist/secret-value.js';
import { doctorProject, secret, crashRotation, lockText, DEAD_PID } from '../helpers/doctor-project.js';

const DAY = 86_400_000;
const HOOK = '        deploy: [{ run: "true" }]\n';
const LOG_HINT = 'keyshift never repairs evidence: restore the log from a backup or, with your auditor\'s agreement, move it aside (keep it) so that the next run starts a new chain (docs/evidence.md)';
const LOCK_HINT = 'keyshift doctor --fix removes it (the next keyshift rotate also takes it over); the run that held it may have left work that the other findings describe';
const checks = (report) => report.findings.map((f) => `${f.check} ${f.secret ?? '-'}${f.fixable ? ' fixable' : ''}`);

describe('a healthy project', () => {
  it('no findings, no notes, exit 0; nothing is written, not even a lock file', async (t) => {
    const p = await doctorProject(t, [secret('api'), secret('db', { store: 'stores/db.store' })]);
    const before = p.snapshot();
    assert.deepEqual(await p.doctor(), { findings: [], notes: [], exitCode: 0, evidenceFile: null });
    assert.deepEqual(p.snapshot(), before);
  });
});

describe('store entries and versions', () => {
  it('entries no policy names: one warning per entry, sorted by key, with the fix; the same key in another store counts', async (t) => {
    const p = await doctorProject(t, [secret('zeta'), secret('beta'), secret('alpha')]);
    // beta now lives in another store: its entry in dev.store is named by no policy of dev.store.
    const [zeta] = await p.targets();
    // Two entries written by hand, in reverse order of their keys.
    const lock = await zeta.store.lock({ waitMs: 200, owner: 'test' });
    for (const key of ['omega', 'delta']) await zeta.store.apply(key, [{ type: 'create', versionId: 'v1', value: SecretValue.fromString(key), stage: 'CURRENT' }], { rotation: null, lastRotatedAt: null, pendingEvents: [] });
    await lock.release();
    await p.rewrite([secret('zeta'), secret('beta', { store: 'stores/other.store' })]);
    const [, beta] = await p.targets();
    const dev = join(p.dir, 'stores', 'dev.store');
    const report = await p.doctor();
    assert.equal(report.exitCode, 1);
    assert.deepEqual(report.findings.map((f) => f.message), [
      `store ${dev} holds entry "alpha", which no policy names`,
      `store ${dev} holds entry "beta", which no policy names`,
      `store ${dev} holds entry "delta", which no policy names`,
      `store ${dev} holds entry "omega", which no policy names`,
      'beta/dev is not provisioned yet (no CURRENT version)',
    ]);
    const [alpha] = report.findings;
    assert.deepEqual(alpha, {
      secret: null, environment: null, store: dev, check: 'unknown-versions', severity: 'warning',
      message: `store ${dev} holds entry "alpha", which no policy names`,
      hint: 'if a secret was renamed, set key: alpha in its store so that the policy names the entry again; otherwise leave it: keyshift never deletes an entry',
      fixable: false, fixed: false,
    });
    assert.equal(report.findings[4].store, beta.store.location);
  });

  it('a version no rotation record names: the store\'s own finding, on its secret', async (t) => {
    const p = await doctorProject(t, [secret('api')]);
    const [api] = await p.targets();
    const lock = await api.store.lock({ waitMs: 200, owner: 'test' });
    const state = await api.store.read('api');
    await api.store.apply('api', [{ type: 'create', versionId: 'v-stray', value: SecretValue.fromString('stray'), stage: 'PENDING' }], { rotation: null, lastRotatedAt: state.lastRotatedAt, pendingEvents: [] });
    await lock.release();
    const report = await p.doctor();
    assert.equal(report.exitCode, 1);
    assert.deepEqual(checks(report), ['unknown-versions api']);
    assert.match(report.findings[0].message, /holds v-stray \(PENDING\), which no rotation record names$/);
    assert.deepEqual([report.findings[0].environment, report.findings[0].severity, report.findings[0].store], ['dev', 'warning', api.store.location]);
  });
});

describe('stores that cannot be read', () => {
  it('a damaged store file: one store-error for the store; the other store is still judged', async (t) => {
    const p = await doctorProject(t, [secret('api', { store: 'stores/a.store' }), secret('db', { store: 'stores/b.store' })]);
    p.later(31 * DAY);
    writeFileSync(join(p.dir, 'stores', 'a.store'), 'not a keyshift store\n');
    const report = await p.doctor();
    assert.equal(report.exitCode, 1);
    assert.deepEqual(checks(report), ['store-error -', 'overdue db']);
    const [failed] = report.findings;
    assert.equal(failed.store, join(p.dir, 'stores', 'a.store'));
    assert.equal(failed.environment, null);
    assert.match(failed.error.code, /^ERR_STORE_/);
    assert.equal(failed.message, failed.error.message);
    assert.ok(failed.message.includes('a.store'), failed.message);
    assert.deepEqual(Object.keys(failed), ['secret', 'environment', 'store', 'check', 'severity', 'message', 'hint', 'fixable', 'fixed', 'error']);
  });

  it('a wrong master key: every store is a store-error with the hint about the key', async (t) => {
    const p = await doctorProject(t, [secret('api', { store: 'stores/a.store' }), secret('db', { store: 'stores/b.store' })]);
    p.ctx.env.KEYSHIFT_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');
    const report = await p.doctor();
    assert.equal(report.exitCode, 1);
    assert.deepEqual(checks(report), ['store-error -', 'store-error -']);
    assert.deepEqual(report.findings.map((f) => f.store), ['a.store', 'b.store'].map((name) => join(p.dir, 'stores', name)));
    for (const f of report.findings) assert.match(f.hint, /KEYSHIFT_MASTER_KEY/);
  });
});

describe('the evidence log', () => {
  it('an edited record: its line, as evidence verify prints it, and the hint; never fixable', async (t) => {
    const p = await doctorProject(t, [secret('api'), secret('db')]);
    const file = join(p.dir, 'evidence', 'evidence.jsonl');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"secret":"db"', '"secret":"dc"'));
    const report = await p.doctor();
    assert.equal(report.exitCode, 1);
    assert.equal(report.findings.length, 1);
    const [gap] = report.findings;
    assert.deepEqual({ ...gap, message: undefined }, { secret: null, environment: null, store: null, check: 'evidence-gap', severity: 'error', message: undefined, hint: LOG_HINT, fixable: false, fixed: false });
    assert.match(gap.message, /^evidence\/evidence\.jsonl:2: hash mismatch/);
  });

  it('an evidence dir outside the project: the log is named by its full path', async (t) => {
    const p = await doctorProject(t, [secret('api')]);
    const file = join(p.dir, 'evidence', 'evidence.jsonl');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"secret":"api"', '"secret":"apx"'));
    p.ctx.cwd = join(p.dir, 'evidence');
    const report = await p.doctor();
    assert.match(report.findings[0].message, new RegExp(`^evidence\\.jsonl:1: hash mismatch`));
    p.ctx.cwd = file;
    assert.match((await p.doctor()).findings[0].message, new RegExp(`^${file.replace(/[.]/g, '\\.')}:1: hash mismatch`));
  });

  it('a log moved aside: the stores\' anchors name a chain it is not, each store named once', async (t) => {
    const p = await doctorProject(t, [secret('api', { store: 'stores/a.store' }), secret('db', { store: 'stores/b.store' }), secret('web', { store: 'stores/b.store' })]);
    renameSync(join(p.dir, 'evidence', 'evidence.jsonl'), join(p.dir, 'evidence.old'));
    const report = await p.doctor();
    assert.equal(report.exitCode, 1);
    const [a, b] = ['a.store', 'b.store'].map((name) => join(p.dir, 'stores', name));
    assert.deepEqual(report.findings.map((f) => [f.check, f.message]), [
      ['evidence-gap', `evidence/evidence.jsonl: 2 store anchor(s) name an evidence chain this log is not (store ${a}, store ${b}): the log was deleted or replaced, or those stores write evidence to another --evidence-dir`],
    ]);
    assert.equal(report.findings[0].hint, LOG_HINT);
  });

  it('a dead evidence lock: a dead-lock finding of no store', async (t) => {
    const p = await doctorProject(t, [secret('api')]);
    const path = join(p.dir, 'evidence', 'evidence.lock');
    const text = lockText(DEAD_PID, 'keyshift evidence writer');
    writeFileSync(path, text);
    const before = p.snapshot();
    const report = await p.doctor();
    assert.equal(report.exitCode, 1);
    assert.deepEqual(report.findings, [{
      secret: null, environment: null, store: null, check: 'dead-lock', severity: 'warning',
      message: `lock ${path} was left by keyshift evidence writer (pid ${DEAD_PID} on ${hostname()}, since 2026-01-01T00:00:00.000Z), which is gone: process ${DEAD_PID} on this host is not running`,
      hint: LOCK_HINT, fixable: true, fixed: false,
    }]);
    assert.deepEqual(p.snapshot(), before, 'the lock is only read');
  });
});

describe('a run killed mid-rotation', () => {
  it('its dead lock, its unappended record and its stuck rotation, in that order; nothing written', async (t) => {
    const p = await doctorProject(t, [secret('api', { extra: HOOK }), secret('db')]);
    const rotation = await crashRotation(p, 'api');
    const path = join(p.dir, 'stores', 'dev.store.lock');
    writeFileSync(path, lockText(DEAD_PID));
    const store = join(p.dir, 'stores', 'dev.store');
    const before = p.snapshot();
    const report = await p.doctor();
    assert.equal(report.exitCode, 1);
    assert.deepEqual(report.notes, []);
    assert.equal(report.evidenceFile, null);
    assert.deepEqual(report.findings.map((f) => [f.check, f.secret, f.environment, f.store, f.severity, f.fixable, f.fixed, f.message]), [
      ['dead-lock', null, null, store, 'warning', true, false, `lock ${path} was left by keyshift rotate (test) (pid ${DEAD_PID} on ${hostname()}, since 2026-01-01T00:00:00.000Z), which is gone: process ${DEAD_PID} on this host is not running`],
      ['evidence-gap', 'api', 'dev', store, 'error', true, false, '1 evidence record(s) announced by run-crashed (issued) never reached the log: that run died before appending them'],
      ['stale-pending', 'api', 'dev', store, 'error', true, false, `rotation ${rotation.rotationId} is stuck in overlap since ${rotation.startedAt}: the run that held the store died`],
    ]);
    assert.deepEqual(p.snapshot(), before);
  });

  it('its record reached the log: no evidence gap; young and its lock gone: not stuck; after 1 h: stuck', async (t) => {
    const p = await doctorProject(t, [secret('api', { extra: HOOK })]);
    const rotation = await crashRotation(p, 'api', { appended: true });
    assert.deepEqual(await p.doctor(), { findings: [], notes: [], exitCode: 0, evidenceFile: null });
    p.later(3_600_000);
    const report = await p.doctor();
    assert.deepEqual(report.findings.map((f) => f.message), [`rotation ${rotation.rotationId} is stuck in overlap since ${rotation.startedAt}: it has been in flight for 60m`]);
  });

  it('a store a live run holds: its in-flight work is not judged (a note says so); its other secrets are', async (t) => {
    const p = await doctorProject(t, [secret('api', { extra: HOOK }), secret('db', { interval: '1d' })]);
    await crashRotation(p, 'api');
    p.later(2 * DAY);
    writeFileSync(join(p.dir, 'stores', 'dev.store.lock'), lockText(process.pid));
    const report = await p.doctor();
    assert.deepEqual(report.notes, [`store ${join(p.dir, 'stores', 'dev.store')} is locked by a live run (keyshift rotate (test), pid ${process.pid} on ${hostname()}): its in-flight rotations and evidence drafts were not judged`]);
    assert.deepEqual(checks(report), ['overdue db']);
    assert.equal(report.exitCode, 1);
  });

  it('a lock file left empty by a run that died creating it: dead once older than a second', async (t) => {
    const p = await doctorProject(t, [secret('api')]);
    const path = join(p.dir, 'stores', 'dev.store.lock');
    writeFileSync(path, '');
    utimesSync(path, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const report = await p.doctor();
    assert.deepEqual(report.findings.map((f) => [f.check, f.store, f.message]), [
      ['dead-lock', join(p.dir, 'stores', 'dev.store'), `lock ${path} was left by a run that left it empty, which is gone: it names no holder (a run died while creating it)`],
    ]);
  });
});

describe('a damaged log holds every repair', () => {
  it('each fixable finding says it is not repaired; --fix changes nothing and exits 1', async (t) => {
    const p = await doctorProject(t, [secret('api', { extra: HOOK })]);
    const rotation = await crashRotation(p, 'api');
    writeFileSync(join(p.dir, 'stores', 'dev.store.lock'), lockText(DEAD_PID));
    const file = join(p.dir, 'evidence', 'evidence.jsonl');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"secret":"api"', '"secret":"apx"'));
    const before = p.snapshot();
    for (const fix of [false, true]) {
      const report = await p.doctor({ fix });
      assert.equal(report.exitCode, 1);
      assert.equal(report.evidenceFile, null);
      assert.deepEqual(checks(report), ['evidence-gap -', 'dead-lock -', 'evidence-gap api', 'stale-pending api']);
      const held = '; not repaired while the evidence log is damaged (every repair is recorded there)';
      assert.ok(report.findings[1].message.endsWith(`not running${held}`), report.findings[1].message);
      assert.equal(report.findings[2].message, '1 evidence record(s) announced by run-crashed (issued) never reached the log: that run died before appending them; not appended while the log itself is damaged');
      assert.equal(report.findings[3].message, `rotation ${rotation.rotationId} is stuck in overlap since ${rotation.startedAt}: the run that held the store died${held}`);
      assert.ok(report.findings.every((f) => !f.fixed));
    }
    assert.deepEqual(p.snapshot(), before);
  });
});

describe('what the store held before: restored copies', () => {
  it('a store put back from an old copy is store-rolled-back; without an intact log it is not judged', async (t) => {
    const p = await doctorProject(t, [secret('api')]);
    const file = join(p.dir, 'stores', 'dev.store');
    copyFileSync(file, join(p.dir, 'dev.store.old'));
    p.later(60_000);
    assert.equal((await p.rotate({ force: true, reason: 'test' })).exitCode, 0);
    copyFileSync(join(p.dir, 'dev.store.old'), file);
    const report = await p.doctor();
    assert.equal(report.exitCode, 1);
    assert.deepEqual(report.findings.map((f) => [f.check, f.secret, f.severity, f.fixable]), [['store-rolled-back', 'api', 'error', false]]);
    // An edited record: the log no longer says what the store must hold.
    const log = join(p.dir, 'evidence', 'evidence.jsonl');
    writeFileSync(log, readFileSync(log, 'utf8').replace('"reason":"test"', '"reason":"tess"'));
    assert.deepEqual((await p.doctor()).findings.map((f) => f.check), ['evidence-gap']);
  });
});

describe('names and --env narrow the secrets, not the stores', () => {
  it('only the named secret is judged; its store\'s entries and the log still are', async (t) => {
    const p = await doctorProject(t, [secret('api'), secret('db'), secret('old')]);
    await p.rewrite([secret('api'), secret('db')]);
    p.later(31 * DAY);
    const all = await p.doctor();
    assert.deepEqual(checks(all), ['unknown-versions -', 'overdue api', 'overdue db']);
    const named = await p.doctor({ names: ['db'], all: false });
    assert.deepEqual(checks(named), ['unknown-versions -', 'overdue db']);
  });
});
