// `keyshift doctor --fix` at its edges, in-process (src/engine/doctor/repair.ts): what the repaired
// records say about the run, a resume that is the only write, young rotations left alone under the
// lock, a run that writes nothing is not signed, a failed resume's words, and locks released when
// a later store's lock fails. Real local stores and evidence; a plugin store where a lock must fail.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { signerFromEnv } from '../../dist/evidence/sign.js';
import { doctorProject, secret, crashRotation, lockText } from '../helpers/doctor-project.js';

const HOOK = '        deploy: [{ run: "true" }]\n';
const HOUR = 3_600_000;

async function sign(p) {
  const { privateKey } = generateKeyPairSync('ed25519');
  writeFileSync(join(p.dir, 'k.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  p.ctx.signer = await signerFromEnv({ KEYSHIFT_SIGNING_KEY: 'k.pem' }, p.dir);
}

describe('a stuck rotation whose records all reached the log', () => {
  it('the resume is the only write: evidence named, signed, the store anchored; every repaired record is no emergency', async (t) => {
    const p = await doctorProject(t, [secret('api', { extra: HOOK })]);
    const rotation = await crashRotation(p, 'api', { appended: true });
    await sign(p);
    p.later(HOUR);
    const report = await p.doctor({ fix: true });
    assert.equal(report.exitCode, 0, JSON.stringify(report.findings));
    assert.deepEqual(report.findings.map((f) => [f.check, f.fixed]), [['stale-pending', true]]);
    assert.equal(report.evidenceFile, join(p.dir, 'evidence', 'evidence.jsonl'));
    const events = p.evidence();
    assert.deepEqual(events.slice(2).map((e) => e.event), ['deployed', 'switched', 'repaired', 'signed']);
    assert.ok(events.filter((e) => e.event === 'repaired').every((e) => e.emergency === false && e.reason === 'doctor --fix'));
    const [target] = await p.targets();
    const meta = await target.store.readMeta();
    assert.deepEqual(Object.values(meta.evidenceAnchors).map((a) => a.seq), [events.at(-1).seq]);
    assert.equal((await target.store.read('api')).rotation.phase, 'fallback');
    assert.equal(rotation.phase, 'overlap');
  });

  it('a resume whose hook fails is the only write: rolled back, anchored; the finding ends with the hook\'s error', async (t) => {
    const p = await doctorProject(t, [secret('api', { extra: '        deploy: [{ run: "exit 3" }]\n' })]);
    await crashRotation(p, 'api', { appended: true });
    p.later(HOUR);
    const report = await p.doctor({ fix: true });
    assert.equal(report.exitCode, 1);
    assert.equal(report.evidenceFile, join(p.dir, 'evidence', 'evidence.jsonl'));
    const events = p.evidence();
    assert.deepEqual(events.slice(2).map((e) => e.event), ['failed', 'rolled-back']);
    assert.equal(report.findings[0].message.split('; resuming it did not complete: ')[1], events[2].error);
    const [target] = await p.targets();
    assert.deepEqual(Object.values((await target.store.readMeta()).evidenceAnchors).map((a) => a.seq), [events.at(-1).seq]);
  });
});

describe('young rotations under the lock', () => {
  it('while --fix appends another secret\'s lost record, a young rotation with no dead holder is left in overlap', async (t) => {
    const p = await doctorProject(t, [secret('api', { extra: HOOK }), secret('db', { extra: HOOK })]);
    await crashRotation(p, 'api', { appended: true });
    await crashRotation(p, 'db');
    const report = await p.doctor({ fix: true });
    assert.equal(report.exitCode, 0);
    assert.deepEqual(report.findings.map((f) => [f.check, f.secret, f.fixed]), [['evidence-gap', 'db', true]]);
    const states = await Promise.all((await p.targets()).map((x) => x.store.read(x.key)));
    assert.deepEqual(states.map((s) => s.rotation.phase), ['overlap', 'overlap'], 'neither rotation was resumed');
  });
});

describe('a run that writes nothing', () => {
  it('a store a live run holds, with a signing key: no signed record, the log untouched (exit 3)', async (t) => {
    const p = await doctorProject(t, [secret('api')]);
    await sign(p);
    writeFileSync(join(p.dir, 'stores', 'dev.store.lock'), lockText(process.pid));
    const before = p.snapshot();
    const report = await p.doctor({ fix: true });
    assert.equal(report.exitCode, 3);
    assert.deepEqual(p.snapshot(), before);
  });
});

describe('a later store\'s lock fails', () => {
  it('the error is thrown, and the store already locked is released', async (t) => {
    // Two plugin stores, each with a failed rotation to resume: `a` locks, then `b`'s lock fails.
    const PLUGIN = `export default function createStore(spec) {
  const at = '2026-11-01T10:00:00.000Z';
  return {
    kind: 'memory', location: 'memory ' + spec.name,
    async read() { return { versions: [{ id: 'v1', stages: ['CURRENT'], createdAt: at }], retired: [], rotation: { rotationId: 'r-m', phase: 'failed', newVersionId: 'v2', oldVersionId: 'v1', startedAt: at, switchedAt: null, decommissionAfter: null, reason: 'x', ticket: null, emergency: false, operator: 'o', error: 'boom' }, lastRotatedAt: at, pendingEvents: [] }; },
    async readValue() { throw new Error('not used'); },
    fingerprint() { return 'hmac-sha256:' + '0'.repeat(64); },
    async lock() {
      if (spec.name === 'b') throw new Error('the lock service is down');
      globalThis.memoryLocks.push('locked ' + spec.name);
      return { release: async () => void globalThis.memoryLocks.push('released ' + spec.name) };
    },
    async apply() { throw new Error('not used'); },
    async readMeta() { return { evidenceAnchors: {}, confirmedRuns: [] }; },
    async writeMeta() {},
    async close() {},
  };
}
`;
    globalThis.memoryLocks = [];
    const p = await doctorProject(t, [secret('api')]);
    writeFileSync(join(p.dir, 'memory.js'), PLUGIN);
    const plugin = (name) => `  - name: ${name}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: dev\n        store: { type: plugin, module: ./memory.js, name: ${name} }\n`;
    await p.rewrite([plugin('a'), plugin('b')]);
    await assert.rejects(p.doctor({ fix: true }), /the lock service is down/);
    assert.deepEqual(globalThis.memoryLocks, ['locked a', 'released a']);
    assert.equal(existsSync(join(p.dir, 'evidence', 'evidence.lock')), false);
  });
});
