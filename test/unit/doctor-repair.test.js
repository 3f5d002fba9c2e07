// `keyshift doctor --fix`, in-process (src/engine/doctor/repair.ts): what it repairs in real local
// stores and a real evidence log after a run killed mid-rotation, the `repaired` records it writes
// word for word, the anchors it leaves, and what it refuses or cannot do (a change ticket, a store a
// live run holds, a resume whose hook fails), with the exit code of each.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { verifyEvidence } from '../../dist/evidence/index.js';
import { signerFromEnv } from '../../dist/evidence/sign.js';
import { doctorProject, secret, crashRotation, lockText, DEAD_PID } from '../helpers/doctor-project.js';

const HOOK = '        deploy: [{ run: "true" }]\n';
const DAY = 86_400_000;
const checks = (report) => report.findings.map((f) => `${f.check} ${f.secret ?? '-'}${f.fixable ? ' fixable' : ''}${f.fixed ? ' fixed' : ''}`);
const repairedOf = (events) => events.filter((e) => e.event === 'repaired');

/** The state and CURRENT version of `name`, read afresh. */
async function entryOf(p, name) {
  const target = (await p.targets()).find((x) => x.policy.name === name);
  const state = await target.store.read(target.key);
  return { state, current: state.versions.find((v) => v.stages.includes('CURRENT')).id, meta: await target.store.readMeta() };
}

describe('after a run killed mid-rotation', () => {
  it('removes both dead locks, appends the lost record, resumes the rotation; one repaired record each, the anchors moved on', async (t) => {
    const p = await doctorProject(t, [secret('api', { extra: HOOK }), secret('db')]);
    const rotation = await crashRotation(p, 'api');
    const storeLock = join(p.dir, 'stores', 'dev.store.lock');
    const evidenceLock = join(p.dir, 'evidence', 'evidence.lock');
    writeFileSync(storeLock, lockText(DEAD_PID));
    writeFileSync(evidenceLock, lockText(DEAD_PID, 'keyshift evidence writer'));
    const seen = await p.doctor();
    p.later(1000);
    const report = await p.doctor({ fix: true });

    assert.equal(report.exitCode, 0, JSON.stringify(report.findings, null, 1));
    assert.equal(report.evidenceFile, join(p.dir, 'evidence', 'evidence.jsonl'));
    assert.deepEqual(checks(report), ['dead-lock - fixable fixed', 'dead-lock - fixable fixed', 'evidence-gap api fixable fixed', 'stale-pending api fixable fixed']);
    assert.deepEqual(report.findings.map((f) => f.message), seen.findings.map((f) => f.message), 'the same words, now fixed');
    assert.ok(!existsSync(storeLock) && !existsSync(evidenceLock), 'the dead locks are gone, and doctor left none of its own');

    const events = p.evidence();
    const at = new Date(p.clock.ms).toISOString();
    const [runId] = new Set(repairedOf(events).map((e) => e.runId));
    assert.match(runId, /^run-/);
    assert.deepEqual(events.slice(2).map((e) => `${e.event}${e.event === 'repaired' ? `:${e.checks[0].check}` : ''}`), ['repaired:dead-lock', 'repaired:dead-lock', 'issued', 'repaired:evidence-gap', 'deployed', 'switched', 'repaired:stale-pending']);
    const strip = ({ seq, prevHash, hash, ...rest }) => rest;
    const who = (path, owner) => `${owner} (pid ${DEAD_PID} on ${hostname()}, since 2026-01-01T00:00:00.000Z)`;
    const wide = (store, path, owner) => ({
      event: 'repaired', rotationId: null, secret: '*', environment: '*', store, fromVersion: null, toVersion: null, fingerprint: null, at,
      operator: 'tester', reason: 'doctor --fix', ticket: null, emergency: false,
      checks: [{ check: 'dead-lock', action: `removed ${path}, left by ${who(path, owner)} (process ${DEAD_PID} on this host is not running)` }], runId,
    });
    assert.deepEqual(strip(events[2]), wide('evidence', evidenceLock, 'keyshift evidence writer'));
    assert.deepEqual(strip(events[3]), wide('local', storeLock, 'keyshift rotate (test)'));
    assert.equal(events[4].reason, 'crash', 'the crashed run\'s own record, as it announced it');
    assert.equal(events[4].recoveredBy, runId, 'appended by this run');
    const [gap, resumed] = repairedOf(events).slice(2);
    assert.deepEqual([gap.secret, gap.environment, gap.rotationId, gap.fromVersion, gap.toVersion, gap.reason, gap.operator], ['api', 'dev', null, null, null, 'doctor --fix', 'tester']);
    assert.deepEqual(gap.checks, [{ check: 'evidence-gap', action: 'appended 1 evidence record(s) (issued) that run-crashed announced in the store but never wrote' }]);
    assert.deepEqual([resumed.secret, resumed.rotationId, resumed.fromVersion, resumed.toVersion], ['api', rotation.rotationId, rotation.oldVersionId, rotation.newVersionId]);
    assert.deepEqual(resumed.checks, [{ check: 'stale-pending', action: `resumed rotation ${rotation.rotationId} as keyshift rotate does: ${rotation.newVersionId} is CURRENT` }]);

    const api = await entryOf(p, 'api');
    assert.equal(api.current, rotation.newVersionId);
    assert.equal(api.state.rotation.phase, 'fallback');
    const last = events.at(-1);
    assert.deepEqual(Object.values(api.meta.evidenceAnchors).map((a) => [a.seq, a.hash]), [[last.seq, last.hash]], 'the store is anchored at the log\'s head');
    assert.ok(api.meta.confirmedRuns.includes(runId));
    assert.equal((await verifyEvidence(p.ctx.evidenceDir, [])).ok, true);
    assert.deepEqual(await p.doctor(), { findings: [], notes: [], exitCode: 0, evidenceFile: null });
  });

  it('in an environment that needs a change ticket: the lost record is appended, the rotation is left (exit 1)', async (t) => {
    const p = await doctorProject(t, [secret('api', { extra: `${HOOK}        requireTicket: true\n` })], { provision: { ticket: 'CHG-1' } });
    const rotation = await crashRotation(p, 'api');
    p.later(2 * 3_600_000);
    const report = await p.doctor({ fix: true });
    assert.equal(report.exitCode, 1);
    assert.deepEqual(checks(report), ['evidence-gap api fixable fixed', 'stale-pending api']);
    assert.deepEqual(repairedOf(p.evidence()).map((e) => e.checks[0].check), ['evidence-gap']);
    const api = await entryOf(p, 'api');
    assert.equal(api.state.rotation.phase, 'overlap');
    assert.equal(api.current, rotation.oldVersionId);
  });

  it('a resume whose deploy hook fails: rolled back as rotate does, the finding says so (exit 1)', async (t) => {
    const p = await doctorProject(t, [secret('api', { extra: '        deploy: [{ run: "exit 3" }]\n' })]);
    const rotation = await crashRotation(p, 'api');
    writeFileSync(join(p.dir, 'stores', 'dev.store.lock'), lockText(DEAD_PID));
    const report = await p.doctor({ fix: true });
    assert.equal(report.exitCode, 1);
    assert.deepEqual(checks(report), ['dead-lock - fixable fixed', 'evidence-gap api fixable fixed', 'stale-pending api fixable']);
    const stuck = report.findings[2].message;
    assert.ok(stuck.startsWith(`rotation ${rotation.rotationId} is stuck in overlap since ${rotation.startedAt}: the run that held the store died; resuming it did not complete: `), stuck);
    assert.match(stuck, /did not complete: .*exit/);
    const events = p.evidence();
    assert.deepEqual(events.slice(-3).map((e) => e.event), ['repaired', 'failed', 'rolled-back']);
    assert.equal(repairedOf(events).length, 2, 'no repaired record for the resume');
    const api = await entryOf(p, 'api');
    assert.equal(api.current, rotation.oldVersionId);
    assert.equal(api.state.rotation, null);
    const last = events.at(-1);
    assert.deepEqual(Object.values(api.meta.evidenceAnchors).map((a) => a.seq), [last.seq], 'evidence was written: the store is anchored');
  });
});

describe('a store whose metadata cannot be read when the repairs are done', () => {
  it('is logged with its path, as rotate and rollback do; the other store is anchored and the report comes back (exit 0)', async (t) => {
    const p = await doctorProject(t, [secret('api', { store: 'stores/a.store', extra: HOOK }), secret('db', { store: 'stores/b.store', extra: HOOK })]);
    await crashRotation(p, 'api');
    await crashRotation(p, 'db');
    const logged = [];
    const logger = { child: () => logger, trace() {}, debug() {}, info() {}, warn() {}, error: (fields, message) => logged.push({ ...fields, message }) };
    p.ctx.logger = logger;
    // The run's signature is its last write before the anchors: from then on a.store's metadata is unreadable.
    let signed = false;
    p.ctx.signer = { keyId: 'sha256:test', sign: () => ((signed = true), assert.fail('no signature in this test')) };
    const { LocalStore } = await import('../../dist/stores/local/local-store.js');
    const readMeta = LocalStore.prototype.readMeta;
    LocalStore.prototype.readMeta = function () {
      return signed && this.location.endsWith('a.store') ? Promise.reject(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' })) : readMeta.call(this);
    };
    t.after(() => (LocalStore.prototype.readMeta = readMeta));
    p.later(1000);

    const report = await p.doctor({ fix: true });
    signed = false;
    assert.equal(report.exitCode, 0, JSON.stringify(report.findings, null, 1));
    assert.deepEqual(checks(report), ['evidence-gap api fixable fixed', 'evidence-gap db fixable fixed']);
    const failed = logged.filter((l) => l.message === 'could not record the evidence anchor in the store');
    assert.deepEqual(failed.map((l) => [l.store, l.err]), [[join(p.dir, 'stores', 'a.store'), 'EIO: i/o error, read']]);
    const last = p.evidence().at(-1);
    const anchorOf = async (name) => Object.values((await entryOf(p, name)).meta.evidenceAnchors)[0];
    assert.equal((await anchorOf('db')).seq, last.seq, 'b.store vouches for the whole log');
    assert.ok((await anchorOf('api')).seq < last.seq, 'a.store keeps the anchor it had');
  });
});

describe('nothing to repair', () => {
  it('a healthy project: --fix writes nothing (no evidence, no lock file), exit 0', async (t) => {
    const p = await doctorProject(t, [secret('api')]);
    const before = p.snapshot();
    assert.deepEqual(await p.doctor({ fix: true }), { findings: [], notes: [], exitCode: 0, evidenceFile: null });
    assert.deepEqual(p.snapshot(), before);
  });

  it('only what is never repaired (overdue, an unknown entry): reported, nothing written, exit 1', async (t) => {
    const p = await doctorProject(t, [secret('api'), secret('old')]);
    await p.rewrite([secret('api')]);
    p.later(31 * DAY);
    const before = p.snapshot();
    const report = await p.doctor({ fix: true });
    assert.equal(report.exitCode, 1);
    assert.equal(report.evidenceFile, null);
    assert.deepEqual(checks(report), ['unknown-versions -', 'overdue api']);
    assert.deepEqual(p.snapshot(), before);
  });
});

describe('only a dead store lock', () => {
  it('removed, with one repaired record of the store; the store itself is neither locked nor written', async (t) => {
    const p = await doctorProject(t, [secret('api')]);
    const path = join(p.dir, 'stores', 'dev.store.lock');
    writeFileSync(path, lockText(DEAD_PID));
    const store = readFileSync(join(p.dir, 'stores', 'dev.store'));
    const report = await p.doctor({ fix: true });
    assert.equal(report.exitCode, 0);
    assert.deepEqual(checks(report), ['dead-lock - fixable fixed']);
    assert.equal(existsSync(path), false);
    assert.deepEqual(p.evidence().slice(1).map((e) => [e.event, e.store, e.checks[0].check]), [['repaired', 'local', 'dead-lock']]);
    assert.deepEqual(readFileSync(join(p.dir, 'stores', 'dev.store')), store, 'not anchored: only a store doctor locked is');
  });
});

describe('only the incomplete last line of a killed append', () => {
  it('named with its line and fixable; --fix cuts it with one repaired record, and the log verifies', async (t) => {
    const p = await doctorProject(t, [secret('api'), secret('db')]);
    const file = join(p.dir, 'evidence', 'evidence.jsonl');
    const whole = readFileSync(file, 'utf8');
    const records = whole.split('\n').length - 1;
    writeFileSync(file, `${whole}{"seq":${records + 1},"at":"2026-`); // what a killed append leaves
    const report = await p.doctor();
    assert.equal(report.exitCode, 1);
    assert.deepEqual(report.findings, [{
      secret: null, environment: null, store: null, check: 'evidence-gap', severity: 'error',
      message: `evidence/evidence.jsonl:${records + 1}: the line is incomplete (no newline at the end): a run was killed while appending it; the next run that writes evidence (rotate, or doctor --fix) cuts it and appends its records again from the stores`,
      hint: 'keyshift doctor --fix (or the next keyshift rotate) cuts it', fixable: true, fixed: false,
    }]);
    const store = readFileSync(join(p.dir, 'stores', 'dev.store'));
    const fixed = await p.doctor({ fix: true });
    assert.equal(fixed.exitCode, 0, JSON.stringify(fixed.findings));
    assert.deepEqual(checks(fixed), ['evidence-gap - fixable fixed']);
    assert.equal(fixed.evidenceFile, file, 'the report names the log it wrote');
    const after = p.evidence();
    assert.equal(after.length, records + 1, 'the fragment cut, one record appended');
    assert.deepEqual([after.at(-1).event, after.at(-1).store, after.at(-1).checks[0].check], ['repaired', 'evidence', 'evidence-gap']);
    assert.match(after.at(-1).checks[0].action, new RegExp(`^cut the incomplete last line ${records + 1} of evidence/evidence\\.jsonl that a killed run left$`));
    assert.equal((await verifyEvidence(join(p.dir, 'evidence'))).ok, true);
    assert.deepEqual(readFileSync(join(p.dir, 'stores', 'dev.store')), store, 'no store is touched');
    assert.deepEqual((await p.doctor()).findings, []);
  });
});

describe('only a dead evidence lock', () => {
  it('removed, with one repaired record of the evidence log; no store is locked or anchored', async (t) => {
    const p = await doctorProject(t, [secret('api')]);
    const path = join(p.dir, 'evidence', 'evidence.lock');
    writeFileSync(path, lockText(DEAD_PID, 'keyshift evidence writer'));
    const store = readFileSync(join(p.dir, 'stores', 'dev.store'));
    const report = await p.doctor({ fix: true });
    assert.equal(report.exitCode, 0);
    assert.deepEqual(checks(report), ['dead-lock - fixable fixed']);
    assert.equal(existsSync(path), false);
    assert.deepEqual(p.evidence().slice(1).map((e) => [e.event, e.store, e.checks[0].check]), [['repaired', 'evidence', 'dead-lock']]);
    assert.deepEqual(readFileSync(join(p.dir, 'stores', 'dev.store')), store, 'the store is untouched');
    assert.equal(existsSync(join(p.dir, 'stores', 'dev.store.lock')), false);
  });

  it('with a signing key: the run ends with a signed record', async (t) => {
    const p = await doctorProject(t, [secret('api')]);
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(join(p.dir, 'k.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    p.ctx.signer = await signerFromEnv({ KEYSHIFT_SIGNING_KEY: 'k.pem' }, p.dir);
    writeFileSync(join(p.dir, 'evidence', 'evidence.lock'), lockText(DEAD_PID, 'keyshift evidence writer'));
    assert.equal((await p.doctor({ fix: true })).exitCode, 0);
    assert.deepEqual(p.evidence().slice(1).map((e) => e.event), ['repaired', 'signed']);
  });
});

describe('a store a live run holds', () => {
  it('--fix waits --lock-timeout, then leaves it: a locked finding, nothing written, exit 3', async (t) => {
    const p = await doctorProject(t, [secret('api', { extra: HOOK })]);
    await crashRotation(p, 'api');
    writeFileSync(join(p.dir, 'stores', 'dev.store.lock'), lockText(process.pid));
    const before = p.snapshot();
    const report = await p.doctor({ fix: true });
    assert.equal(report.exitCode, 3, JSON.stringify(report.findings));
    assert.equal(report.evidenceFile, null);
    assert.equal(report.notes.length, 1);
    assert.equal(report.findings.length, 1);
    const [locked] = report.findings;
    assert.deepEqual({ ...locked, message: undefined, hint: undefined }, { secret: null, environment: null, store: join(p.dir, 'stores', 'dev.store'), check: 'locked', severity: 'error', message: undefined, hint: undefined, fixable: false, fixed: false });
    assert.match(locked.message, /locked by keyshift rotate \(test\).*: nothing was repaired in this store$/);
    assert.ok(locked.hint.length > 0);
    assert.deepEqual(p.snapshot(), before);
  });

  it('exit 1 when another store still has a problem; the free store is repaired meanwhile', async (t) => {
    const p = await doctorProject(t, [secret('api', { store: 'stores/a.store' }), secret('db', { store: 'stores/b.store', extra: HOOK })]);
    await crashRotation(p, 'db');
    writeFileSync(join(p.dir, 'stores', 'a.store.lock'), lockText(process.pid));
    writeFileSync(join(p.dir, 'stores', 'b.store.lock'), lockText(DEAD_PID));
    p.later(31 * DAY);
    const report = await p.doctor({ fix: true });
    assert.deepEqual(checks(report), ['overdue api', 'locked -', 'dead-lock - fixable fixed', 'evidence-gap db fixable fixed', 'stale-pending db fixable fixed']);
    assert.equal(report.exitCode, 1);
  });
});
