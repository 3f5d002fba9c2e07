// Every state transition of one secret, on a real local store in a temp dir.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalStore } from '../../dist/stores/local/index.js';
import { SecretValue } from '../../dist/secret-value.js';
import { provision, startRotation, resumeRotation, markFailed, keyIds } from '../../dist/engine/steps.js';
import { rollback, rollbackRetired, restorable } from '../../dist/engine/rollback-steps.js';
import { decommission } from '../../dist/engine/decommission.js';
import { HookFailedError } from '../../dist/engine/overlap-hooks.js';
import { openKmsStore } from '../../dist/stores/aws-kms/index.js';
import { startKms } from '../fakes/kms.js';
import { TEST_CREDENTIALS } from '../fakes/clients.js';

const HOUR = 3600_000;

async function setup({ deploy = [], verify = [], revoke = [], decommissionCheck = [], reencrypt = null, fail = [], errors = {} } = {}) {
  const path = join(mkdtempSync(join(tmpdir(), 'keyshift-steps-')), 'test.store');
  const store = openLocalStore({ path }, {});
  const lock = await store.lock({ waitMs: 1000, owner: 'test' });
  const policy = { name: 'k', intervalMs: 30 * 24 * HOUR, fallbackWindowMs: 2 * HOUR, environments: [], revoke, decommissionCheck, reencrypt };
  const target = { policy, environment: { name: 'dev', deploy, verify }, store, storeId: `local:${path}`, key: 'k' };
  const events = [];
  const recordCalls = []; // the events of each run.record call: one call per store write
  const hookCalls = []; // each hook run: its label, the context it got, and what the store held then
  const warnings = [];
  let counter = 0;
  let clock = Date.parse('2026-11-23T10:00:00Z');
  const run = {
    runId: 'run-test',
    operator: 'tester',
    reason: 'test',
    ticket: null,
    emergency: false,
    now: () => new Date((clock += 1000)),
    generate: async () => SecretValue.fromString(`value-${++counter}`),
    record: async (drafts) => (events.push(...drafts), recordCalls.push(drafts.map((d) => d.event))),
    warn: (message) => warnings.push(message),
    // The shape src/hooks returns; `fail` lists the labels that fail, `errors` their error line.
    runHook: async (hook, context) => {
      hookCalls.push({ label: hook.label, context, stored: await store.read('k') });
      const ok = !fail.includes(hook.label);
      const error = ok ? null : hook.label in errors ? errors[hook.label] : `${hook.label} exited with status 3`;
      return { ok, label: hook.label, exitCode: ok ? 0 : 3, signal: null, timedOut: false, durationMs: 5, error };
    },
  };
  const value = async (stage) => {
    const state = await store.read('k');
    const version = state.versions.find((v) => v.stages.includes(stage));
    return version ? (await store.readValue('k', version.id)).reveal() : null;
  };
  const fingerprint = (text) => store.fingerprint(SecretValue.fromString(text));
  return { store, lock, target, run, events, recordCalls, hookCalls, warnings, fail, value, fingerprint, done: async () => (await lock.release(), await store.close()) };
}

const hook = (label) => ({ kind: 'command', label, command: ['true'] });
const check = (label, phase, ok = true) => ({ hook: label, phase, ok, exitCode: ok ? 0 : 3, signal: null, timedOut: false, durationMs: 5 });

test('provision: the first version becomes CURRENT directly', async () => {
  const t = await setup();
  const step = await provision(t.target, t.run);
  assert.equal(step.outcome, 'provisioned');
  assert.deepEqual(step.state.versions.map((v) => v.stages), [['CURRENT']]);
  assert.equal(await t.value('CURRENT'), 'value-1');
  assert.deepEqual(step.state.pendingEvents.map((e) => e.event), ['provisioned']);
  assert.deepEqual(t.events.map((e) => e.event), ['provisioned']);
  assert.match(t.events[0].fingerprint, /^hmac-sha256:[0-9a-f]{64}$/);
  await t.done();
});

test('rotate: issue PENDING, switch, old becomes PREVIOUS with the fallback window recorded', async () => {
  const t = await setup();
  const first = await provision(t.target, t.run);
  const step = await startRotation(t.target, first.state, t.run);
  assert.equal(step.fromVersion, first.toVersion);
  assert.equal(step.toVersion, `v-${step.rotationId.slice(2)}`, 'the version id derives from the rotation id');
  assert.equal(await t.value('CURRENT'), 'value-2');
  assert.equal(await t.value('PREVIOUS'), 'value-1');
  assert.equal(await t.value('PENDING'), null);
  const rotation = step.state.rotation;
  assert.equal(rotation.phase, 'fallback');
  assert.equal(Date.parse(rotation.decommissionAfter) - Date.parse(rotation.switchedAt), 2 * HOUR);
  assert.equal(step.state.lastRotatedAt, rotation.switchedAt);
  assert.deepEqual(t.events.map((e) => e.event), ['provisioned', 'issued', 'switched']);
  await t.done();
});

test('resume from overlap with PENDING stored: switches without issuing again', async () => {
  const t = await setup();
  const first = await provision(t.target, t.run);
  const record = { rotationId: 'r-20261123t100000z-0000000000000001', phase: 'overlap', newVersionId: 'v-20261123t100000z-0000000000000001', oldVersionId: first.toVersion, startedAt: new Date().toISOString(), switchedAt: null, decommissionAfter: null, reason: 'x', ticket: null, emergency: false, operator: 'o', error: null };
  const crashed = await t.store.apply('k', [{ type: 'create', versionId: record.newVersionId, value: SecretValue.fromString('pending-value'), stage: 'PENDING' }], { rotation: record, lastRotatedAt: first.state.lastRotatedAt, pendingEvent: null });
  const step = await resumeRotation(t.target, crashed, t.run);
  assert.equal(step.outcome, 'resumed');
  assert.equal(await t.value('CURRENT'), 'pending-value', 'the issued value is kept, not regenerated');
  assert.equal(step.state.versions.length, 2);
  assert.deepEqual(t.events.map((e) => e.event), ['provisioned', 'switched']);
  await t.done();
});

test('resume when the record was written but the version was not (write-ahead): issues with the recorded id', async () => {
  const t = await setup();
  const first = await provision(t.target, t.run);
  const record = { rotationId: 'r-20261123t100000z-0000000000000002', phase: 'overlap', newVersionId: 'v-20261123t100000z-0000000000000002', oldVersionId: first.toVersion, startedAt: new Date().toISOString(), switchedAt: null, decommissionAfter: null, reason: 'x', ticket: null, emergency: false, operator: 'o', error: null };
  const crashed = await t.store.apply('k', [], { rotation: record, lastRotatedAt: first.state.lastRotatedAt, pendingEvent: null });
  const step = await resumeRotation(t.target, crashed, t.run);
  assert.equal(step.toVersion, record.newVersionId);
  assert.deepEqual(step.state.versions.map((v) => v.id).sort(), [first.toVersion, record.newVersionId].sort());
  await t.done();
});

test('resume after the switch landed but the record still says overlap: no second promote', async () => {
  const t = await setup();
  const first = await provision(t.target, t.run);
  const record = { rotationId: 'r-20261123t100000z-0000000000000003', phase: 'overlap', newVersionId: 'v-20261123t100000z-0000000000000003', oldVersionId: first.toVersion, startedAt: new Date().toISOString(), switchedAt: null, decommissionAfter: null, reason: 'x', ticket: null, emergency: false, operator: 'o', error: null };
  const meta = { rotation: record, lastRotatedAt: first.state.lastRotatedAt, pendingEvent: null };
  await t.store.apply('k', [{ type: 'create', versionId: record.newVersionId, value: SecretValue.fromString('n'), stage: 'PENDING' }], meta);
  const crashed = await t.store.apply('k', [{ type: 'promote', versionId: record.newVersionId }], meta);
  const step = await resumeRotation(t.target, crashed, t.run);
  assert.equal(step.state.rotation.phase, 'fallback');
  assert.equal(await t.value('CURRENT'), 'n');
  assert.equal(await t.value('PREVIOUS'), 'value-1', 'the old version was not retired by a repeated promote');
  await t.done();
});

test('decommission retires PREVIOUS and ends the rotation', async () => {
  const t = await setup();
  const first = await provision(t.target, t.run);
  const rotated = await startRotation(t.target, first.state, t.run);
  const step = await decommission(t.target, rotated.state, t.run);
  assert.equal(step.state.rotation, null);
  assert.deepEqual(step.state.versions.map((v) => v.stages), [['CURRENT']]);
  assert.equal(step.state.retired.at(-1).id, first.toVersion);
  await assert.rejects(t.store.readValue('k', first.toVersion), { code: 'ERR_VERSION_NOT_FOUND' });
  assert.equal(t.events.at(-1).event, 'decommissioned');
  assert.equal(t.events.at(-1).fromVersion, first.toVersion);
  await t.done();
});

test('rollback in fallback: the old version is CURRENT again and the new one is gone', async () => {
  const t = await setup();
  const first = await provision(t.target, t.run);
  const rotated = await startRotation(t.target, first.state, t.run);
  const step = await rollback(t.target, rotated.state, t.run);
  assert.equal(await t.value('CURRENT'), 'value-1');
  assert.equal(await t.value('PREVIOUS'), null);
  assert.equal(step.state.rotation, null);
  assert.ok(!step.state.versions.some((v) => v.id === rotated.toVersion));
  assert.equal(t.events.at(-1).event, 'rolled-back');
  await t.done();
});

test('rollback in overlap discards the PENDING version', async () => {
  const t = await setup();
  const first = await provision(t.target, t.run);
  const record = { rotationId: 'r-20261123t100000z-0000000000000004', phase: 'overlap', newVersionId: 'v-20261123t100000z-0000000000000004', oldVersionId: first.toVersion, startedAt: new Date().toISOString(), switchedAt: null, decommissionAfter: null, reason: 'x', ticket: null, emergency: false, operator: 'o', error: null };
  const overlap = await t.store.apply('k', [{ type: 'create', versionId: record.newVersionId, value: SecretValue.fromString('n'), stage: 'PENDING' }], { rotation: record, lastRotatedAt: null, pendingEvent: null });
  const step = await rollback(t.target, overlap, t.run);
  assert.deepEqual(step.state.versions.map((v) => v.id), [first.toVersion]);
  assert.equal(await t.value('CURRENT'), 'value-1');
  await t.done();
});

test('markFailed marks an in-flight rotation failed; a resume completes it', async () => {
  const t = await setup();
  const first = await provision(t.target, t.run);
  const record = { rotationId: 'r-20261123t100000z-0000000000000005', phase: 'overlap', newVersionId: 'v-20261123t100000z-0000000000000005', oldVersionId: first.toVersion, startedAt: new Date().toISOString(), switchedAt: null, decommissionAfter: null, reason: 'x', ticket: null, emergency: false, operator: 'o', error: null };
  await t.store.apply('k', [], { rotation: record, lastRotatedAt: null, pendingEvent: null });
  await markFailed(t.target, t.run, new Error('store unreachable'));
  const failed = await t.store.read('k');
  assert.equal(failed.rotation.phase, 'failed');
  assert.equal(failed.rotation.error, 'store unreachable');
  assert.equal(t.events.at(-1).event, 'failed');
  const step = await resumeRotation(t.target, failed, t.run);
  assert.equal(step.state.rotation.phase, 'fallback');
  assert.equal(step.state.rotation.error, null);
  await t.done();
});

test('rotate on a store without atomic multi-op writes: issue and switch are separate, resumable writes', async () => {
  const t = await setup();
  const plain = new Proxy(t.store, { get: (s, p) => (p === 'capabilities' ? undefined : typeof s[p] === 'function' ? s[p].bind(s) : s[p]) });
  const target = { ...t.target, store: plain };
  const first = await provision(target, t.run);
  const writes = [];
  const counting = new Proxy(plain, { get: (s, p) => (p === 'apply' ? (...args) => (writes.push(args[1].map((op) => op.type)), s.apply(...args)) : s[p]) });
  const step = await startRotation({ ...target, store: counting }, first.state, t.run);
  assert.deepEqual(writes, [['create'], ['promote']]);
  assert.equal(step.state.rotation.phase, 'fallback');
  assert.equal(await t.value('PREVIOUS'), 'value-1');
  assert.deepEqual(t.events.map((e) => e.event), ['provisioned', 'issued', 'switched']);
  await t.done();
});

// A rotation record as a run writes it when it starts (overlap, nothing switched yet).
function overlapRecord(n, oldVersionId, extra = {}) {
  const id = `20261123t100000z-${String(n).padStart(16, '0')}`;
  return { rotationId: `r-${id}`, phase: 'overlap', newVersionId: `v-${id}`, oldVersionId, startedAt: '2026-11-23T10:00:00.000Z', switchedAt: null, decommissionAfter: null, reason: 'x', ticket: null, emergency: false, operator: 'o', error: null, ...extra };
}

test('provision: the step names the action, the versions and the rotation; the draft carries every field', async () => {
  const t = await setup();
  const step = await provision(t.target, t.run);
  assert.equal(step.action, 'provision');
  assert.equal(step.fromVersion, null);
  assert.match(step.rotationId, /^r-20261123t100001z-[0-9a-f]{16}$/);
  assert.equal(step.toVersion, `v-${step.rotationId.slice(2)}`);
  assert.equal(step.state.rotation, null);
  assert.equal(step.state.lastRotatedAt, '2026-11-23T10:00:01.000Z');
  assert.deepEqual(step.state.pendingEvents, t.events, 'the store holds the same draft the evidence gets');
  assert.deepEqual(t.events[0], {
    event: 'provisioned', rotationId: step.rotationId, secret: 'k', environment: 'dev', store: 'local', fromVersion: null, toVersion: step.toVersion,
    fingerprint: t.fingerprint('value-1'), at: '2026-11-23T10:00:02.000Z', operator: 'tester', reason: 'test', ticket: null, emergency: false,
    checks: [], runId: 'run-test', storeId: t.store.identity(), storeLocation: t.store.location,
  });
  await t.done();
});

test('rotate with no CURRENT version is refused as an internal error', async () => {
  const t = await setup();
  const empty = { versions: [], retired: [], rotation: null, lastRotatedAt: null, pendingEvents: [] };
  await assert.rejects(startRotation(t.target, empty, t.run), { code: 'ERR_INTERNAL', message: 'k has no CURRENT version to rotate' });
  assert.equal(await t.store.read('k'), null, 'nothing was written');
  await t.done();
});

test('rotate without hooks on an atomic store: issue and switch in one write, both drafts announced with it', async () => {
  const t = await setup();
  const first = await provision(t.target, t.run);
  const step = await startRotation(t.target, first.state, t.run);
  assert.equal(step.action, 'rotate');
  assert.equal(step.outcome, 'rotated');
  assert.equal(step.rotationId, step.state.rotation.rotationId);
  assert.deepEqual(t.recordCalls, [['provisioned'], ['issued', 'switched']], 'one store write, one record call for issue and switch');
  const [issued, switched] = t.events.slice(1);
  for (const draft of [issued, switched]) {
    assert.equal(draft.rotationId, step.rotationId);
    assert.equal(draft.fromVersion, first.toVersion);
    assert.equal(draft.toVersion, step.toVersion);
    assert.equal(draft.fingerprint, t.fingerprint('value-2'));
  }
  // This run's earlier draft stays announced until the run confirms its drafts.
  assert.deepEqual(step.state.pendingEvents.map((e) => e.event), ['provisioned', 'issued', 'switched']);
  assert.equal(step.state.lastRotatedAt, '2026-11-23T10:00:03.000Z');
  const rotation = step.state.rotation;
  assert.deepEqual(
    { ...rotation, rotationId: null, newVersionId: null },
    { rotationId: null, phase: 'fallback', newVersionId: null, oldVersionId: first.toVersion, startedAt: '2026-11-23T10:00:03.000Z', switchedAt: '2026-11-23T10:00:03.000Z', decommissionAfter: '2026-11-23T12:00:03.000Z', reason: 'test', ticket: null, emergency: false, operator: 'tester', error: null, fallbackWindowOverrideMs: null },
  );
  await t.done();
});

test("rotate: another run's unconfirmed drafts are not announced again by this run", async () => {
  const t = await setup();
  const first = await provision(t.target, { ...t.run, runId: 'run-earlier' });
  const step = await startRotation(t.target, first.state, t.run);
  assert.deepEqual(step.state.pendingEvents.map((e) => [e.event, e.runId]), [['issued', 'run-test'], ['switched', 'run-test']]);
  await t.done();
});

test("rotate in an emergency: the run's fallback window replaces the policy's and is kept in the record", async () => {
  const t = await setup();
  const first = await provision(t.target, t.run);
  const step = await startRotation(t.target, first.state, { ...t.run, fallbackWindowMs: 10 * 60_000 });
  const rotation = step.state.rotation;
  assert.equal(rotation.fallbackWindowOverrideMs, 10 * 60_000);
  assert.equal(Date.parse(rotation.decommissionAfter) - Date.parse(rotation.switchedAt), 10 * 60_000);
  await t.done();
});

test('rotate with a deploy and a verify hook: issue, hooks with the new value, then the switch, each its own write', async () => {
  const t = await setup({ deploy: [hook('deploy[0] app')], verify: [hook('verify[0] ping')] });
  const first = await provision(t.target, t.run);
  const step = await startRotation(t.target, first.state, t.run);
  assert.equal(step.action, 'rotate');
  assert.equal(step.outcome, 'rotated');
  assert.equal(step.fromVersion, first.toVersion);
  assert.equal(step.toVersion, step.state.rotation.newVersionId);
  assert.equal(step.rotationId, step.state.rotation.rotationId);
  assert.deepEqual(t.recordCalls, [['provisioned'], ['issued'], ['deployed'], ['verified'], ['switched']]);
  assert.deepEqual(t.hookCalls.map((c) => [c.label, c.context.phase, c.context.value.reveal()]), [['deploy[0] app', 'deploy', 'value-2'], ['verify[0] ping', 'verify', 'value-2']]);
  // While the deploy hook ran, the store held the issued version as PENDING, the rotation in overlap
  // and the issued draft announced.
  const during = t.hookCalls[0].stored;
  assert.equal(during.rotation.phase, 'overlap');
  assert.equal(during.rotation.error, null);
  assert.deepEqual(during.versions.map((v) => v.stages), [['CURRENT'], ['PENDING']]);
  assert.deepEqual(during.pendingEvents.map((e) => e.event), ['provisioned', 'issued']);
  const issued = t.events[1];
  assert.deepEqual([issued.rotationId, issued.fromVersion, issued.toVersion, issued.fingerprint], [step.rotationId, first.toVersion, step.toVersion, t.fingerprint('value-2')]);
  const switched = t.events.at(-1);
  assert.deepEqual([switched.rotationId, switched.fromVersion, switched.toVersion, switched.fingerprint], [step.rotationId, first.toVersion, step.toVersion, t.fingerprint('value-2')]);
  assert.deepEqual(step.state.pendingEvents.map((e) => e.event), ['provisioned', 'issued', 'deployed', 'verified', 'switched']);
  assert.equal(step.state.rotation.phase, 'fallback');
  assert.equal(await t.value('CURRENT'), 'value-2');
  assert.equal(await t.value('PREVIOUS'), 'value-1');
  await t.done();
});

// One kind of hook alone still makes an overlap: the hook runs before the switch, on PENDING.
for (const [kind, label, recorded] of [['verify', 'verify[0] ping', 'verified'], ['deploy', 'deploy[0] app', 'deployed']]) {
  test(`rotate with only a ${kind} hook still runs the overlap: the hook runs before the switch`, async () => {
    const t = await setup({ [kind]: [hook(label)] });
    const first = await provision(t.target, t.run);
    await startRotation(t.target, first.state, t.run);
    assert.deepEqual(t.hookCalls.map((c) => c.label), [label]);
    assert.deepEqual(t.hookCalls[0].stored.versions.map((v) => v.stages), [['CURRENT'], ['PENDING']], 'not switched yet');
    assert.deepEqual(t.recordCalls.slice(1), [['issued'], [recorded], ['switched']]);
    await t.done();
  });
}

test('resume keeps the why of the run that started the rotation and names this run as resumedBy', async () => {
  const t = await setup();
  const first = await provision(t.target, t.run);
  const record = overlapRecord(6, first.toVersion, { reason: 'leaked', ticket: 'SEC-1', emergency: true });
  const crashed = await t.store.apply('k', [], { rotation: record, lastRotatedAt: first.state.lastRotatedAt, pendingEvents: [] });
  const step = await resumeRotation(t.target, crashed, t.run);
  assert.equal(step.action, 'resume');
  assert.equal(step.outcome, 'resumed');
  assert.deepEqual([step.fromVersion, step.toVersion, step.rotationId], [first.toVersion, record.newVersionId, record.rotationId]);
  for (const draft of t.events.slice(1)) {
    assert.deepEqual([draft.reason, draft.ticket, draft.emergency, draft.runId, draft.resumedBy], ['leaked', 'SEC-1', true, 'run-test', 'run-test']);
  }
  assert.deepEqual(t.events.slice(1).map((e) => e.event), ['issued', 'switched']);
  await t.done();
});

test('resume of a failed rotation (nothing issued): the issued version is PENDING and the record back in overlap without the error during the hooks', async () => {
  const t = await setup({ deploy: [hook('deploy[0] app')] });
  const first = await provision(t.target, t.run);
  const record = overlapRecord(7, first.toVersion, { phase: 'failed', error: 'store unreachable' });
  const failed = await t.store.apply('k', [], { rotation: record, lastRotatedAt: first.state.lastRotatedAt, pendingEvents: [] });
  const step = await resumeRotation(t.target, failed, t.run);
  const during = t.hookCalls[0].stored;
  assert.equal(during.rotation.phase, 'overlap');
  assert.equal(during.rotation.error, null);
  assert.deepEqual(during.pendingEvents.map((e) => e.event), ['issued']);
  assert.equal(t.hookCalls[0].context.value.reveal(), 'value-2');
  assert.equal(step.state.rotation.phase, 'fallback');
  await t.done();
});

test('resume of a rotation already in fallback writes and records nothing', async () => {
  const t = await setup();
  const first = await provision(t.target, t.run);
  const rotated = await startRotation(t.target, first.state, t.run);
  const before = t.events.length;
  const step = await resumeRotation(t.target, rotated.state, t.run);
  assert.equal(t.events.length, before);
  assert.equal(step.state, rotated.state, 'the state read is returned as it was');
  assert.deepEqual([step.action, step.outcome, step.fromVersion, step.toVersion, step.rotationId], ['resume', 'resumed', first.toVersion, rotated.toVersion, rotated.rotationId]);
  assert.deepEqual(await t.store.read('k'), rotated.state);
  await t.done();
});

test('resume without a rotation in progress is an internal error', async () => {
  const t = await setup();
  const first = await provision(t.target, t.run);
  await assert.rejects(resumeRotation(t.target, first.state, t.run), { code: 'ERR_INTERNAL', message: 'k: no rotation in progress' });
  await assert.rejects(decommission(t.target, first.state, t.run), { code: 'ERR_INTERNAL', message: 'k: no rotation in progress' });
  await t.done();
});

async function rotated(t) {
  const first = await provision(t.target, t.run);
  const step = await startRotation(t.target, first.state, t.run);
  return { first, step, oldId: first.toVersion, newId: step.toVersion };
}

test('decommission: the step and its draft name the old and new version, with the old value fingerprinted', async () => {
  const t = await setup();
  const { step: rot, oldId, newId } = await rotated(t);
  const step = await decommission(t.target, rot.state, t.run);
  assert.deepEqual([step.action, step.outcome, step.fromVersion, step.toVersion, step.rotationId], ['decommission', 'decommissioned', oldId, newId, rot.rotationId]);
  const draft = t.events.at(-1);
  assert.deepEqual([draft.event, draft.rotationId, draft.fromVersion, draft.toVersion, draft.fingerprint], ['decommissioned', rot.rotationId, oldId, newId, t.fingerprint('value-1')]);
  assert.deepEqual(draft.checks, []);
  assert.deepEqual(step.state.pendingEvents.map((e) => e.event), ['provisioned', 'issued', 'switched', 'decommissioned']);
  assert.equal(step.state.lastRotatedAt, rot.state.lastRotatedAt, 'decommission is not a rotation');
  assert.deepEqual(step.state.retired.map((r) => r.id), [oldId]);
  await t.done();
});

test('decommission when the old version is already gone (a rerun after the retire): no value, no fingerprint', async () => {
  const t = await setup();
  const { step: rot, oldId } = await rotated(t);
  const gone = await t.store.apply('k', [{ type: 'retire', versionId: oldId }], { rotation: rot.state.rotation, lastRotatedAt: rot.state.lastRotatedAt, pendingEvents: [] });
  const step = await decommission(t.target, gone, t.run);
  assert.equal(t.events.at(-1).fingerprint, null);
  assert.equal(step.state.rotation, null);
  await t.done();
});

test('decommission of a rotation without an old version retires nothing', async () => {
  const t = await setup();
  const { step: rot } = await rotated(t);
  const record = { ...rot.state.rotation, oldVersionId: null };
  const state = await t.store.apply('k', [], { rotation: record, lastRotatedAt: rot.state.lastRotatedAt, pendingEvents: [] });
  const step = await decommission(t.target, state, t.run);
  assert.equal(step.fromVersion, null);
  assert.deepEqual(step.state.versions.map((v) => v.stages), [['PREVIOUS'], ['CURRENT']], 'PREVIOUS stays');
  assert.deepEqual(step.state.retired, []);
  await t.done();
});

test('decommission runs decommissionCheck then revoke hooks with the old value, and records their checks', async () => {
  const t = await setup({ decommissionCheck: [hook('decommissionCheck[0] scan')], revoke: [hook('revoke[0] vendor')] });
  const { step: rot, oldId, newId } = await rotated(t);
  const step = await decommission(t.target, rot.state, t.run);
  const expected = { secret: 'k', environment: 'dev', rotationId: rot.rotationId, newVersion: newId, oldVersion: oldId, newKeyId: null, oldKeyId: null };
  assert.deepEqual(t.hookCalls.map(({ context: { value, ...rest } }) => [rest, value.reveal()]), [
    [{ ...expected, phase: 'decommission-check' }, 'value-1'],
    [{ ...expected, phase: 'revoke' }, 'value-1'],
  ]);
  assert.deepEqual(t.events.at(-1).checks, [check('decommissionCheck[0] scan', 'decommission-check'), check('revoke[0] vendor', 'revoke')]);
  assert.equal(step.state.rotation, null);
  await t.done();
});

test('decommission held by a failing decommissionCheck: a failed draft, the reason in the rotation, nothing revoked or retired', async () => {
  const t = await setup({ decommissionCheck: [hook('decommissionCheck[0] ok'), hook('decommissionCheck[1] scan')], revoke: [hook('revoke[0] vendor')], fail: ['decommissionCheck[1] scan'] });
  const { step: rot, oldId, newId } = await rotated(t);
  const why = 'held by decommissionCheck: decommissionCheck[1] scan exited with status 3';
  await assert.rejects(decommission(t.target, rot.state, t.run), (error) => {
    assert.equal(error.code, 'ERR_DECOMMISSION_HELD');
    assert.equal(error.exitCode, 3);
    assert.equal(error.message, `k/dev: decommission ${why}`);
    assert.equal(error.hint, `${oldId} stays until every decommissionCheck passes; fix what the check reports (e.g. re-encrypt data still under the old key), then rerun keyshift rotate`);
    return true;
  });
  assert.deepEqual(t.hookCalls.map((c) => c.label), ['decommissionCheck[0] ok', 'decommissionCheck[1] scan'], 'revoke hooks do not run');
  const held = await t.store.read('k');
  assert.equal(held.rotation.phase, 'fallback');
  assert.equal(held.rotation.error, why);
  assert.equal(held.rotation.rotationId, rot.rotationId);
  assert.equal(held.lastRotatedAt, rot.state.lastRotatedAt);
  assert.deepEqual(held.versions.map((v) => [v.id, v.stages]), [[oldId, ['PREVIOUS']], [newId, ['CURRENT']]]);
  const failed = t.events.at(-1);
  assert.deepEqual([failed.event, failed.rotationId, failed.fromVersion, failed.toVersion, failed.fingerprint, failed.error], ['failed', rot.rotationId, oldId, newId, null, why]);
  assert.deepEqual(failed.checks, [check('decommissionCheck[0] ok', 'decommission-check'), check('decommissionCheck[1] scan', 'decommission-check', false)]);
  assert.deepEqual(held.pendingEvents.map((e) => e.event), ['provisioned', 'issued', 'switched', 'failed']);
  assert.deepEqual(held.pendingEvents.at(-1), failed);
  await t.done();
});

test('decommission held by a check without an error line: the reason names the hook', async () => {
  const t = await setup({ decommissionCheck: [hook('decommissionCheck[0] scan')], fail: ['decommissionCheck[0] scan'], errors: { 'decommissionCheck[0] scan': null } });
  const { step: rot } = await rotated(t);
  await assert.rejects(decommission(t.target, rot.state, t.run), { code: 'ERR_DECOMMISSION_HELD', message: 'k/dev: decommission held by decommissionCheck: decommissionCheck[0] scan failed' });
  await t.done();
});

test('decommission held by data keys still wrapped under the old version (master key)', async () => {
  const t = await setup({ decommissionCheck: [hook('decommissionCheck[0] scan')] });
  const { step: rot, oldId } = await rotated(t);
  const asked = [];
  const run = { ...t.run, wrappedDataKeysHold: async (target, old) => (asked.push([target.key, old.id]), `2 data key(s) still wrapped only under ${old.id}`) };
  await assert.rejects(decommission(t.target, rot.state, run), { code: 'ERR_DECOMMISSION_HELD', message: `k/dev: decommission held by decommissionCheck: 2 data key(s) still wrapped only under ${oldId}` });
  assert.deepEqual(asked, [['k', oldId]]);
  assert.deepEqual(t.hookCalls, [], 'the hooks wait for the built-in check');
  assert.equal((await t.store.read('k')).rotation.error, `held by decommissionCheck: 2 data key(s) still wrapped only under ${oldId}`);
  assert.deepEqual(t.events.at(-1).checks, []);
  // No data key left under it: the decommission goes ahead.
  const clear = { ...t.run, wrappedDataKeysHold: async () => null };
  const step = await decommission(t.target, await t.store.read('k'), clear);
  assert.equal(step.outcome, 'decommissioned');
  await t.done();
});

test('decommission with the old version gone does not ask about wrapped data keys', async () => {
  const t = await setup();
  const { step: rot, oldId } = await rotated(t);
  const gone = await t.store.apply('k', [{ type: 'retire', versionId: oldId }], { rotation: rot.state.rotation, lastRotatedAt: rot.state.lastRotatedAt, pendingEvents: [] });
  const asked = [];
  const run = { ...t.run, wrappedDataKeysHold: async (target, old) => (asked.push(old.id), 'held') };
  await decommission(t.target, gone, run);
  assert.deepEqual(asked, []);
  await t.done();
});

test('a failing revoke hook stops the decommission with HookFailedError; the old version stays PREVIOUS', async () => {
  const t = await setup({ decommissionCheck: [hook('decommissionCheck[0] scan')], revoke: [hook('revoke[0] vendor'), hook('revoke[1] other')], fail: ['revoke[0] vendor'] });
  const { step: rot, oldId } = await rotated(t);
  const error = await decommission(t.target, rot.state, t.run).then(() => null, (e) => e);
  assert.ok(error instanceof HookFailedError);
  assert.equal(error.code, 'ERR_HOOK_FAILED');
  assert.equal(error.message, 'revoke[0] vendor exited with status 3');
  assert.deepEqual(error.checks, [check('decommissionCheck[0] scan', 'decommission-check'), check('revoke[0] vendor', 'revoke', false)]);
  assert.deepEqual(t.hookCalls.map((c) => c.label), ['decommissionCheck[0] scan', 'revoke[0] vendor']);
  assert.deepEqual(await t.store.read('k'), rot.state, 'nothing written');
  assert.equal(await t.value('PREVIOUS'), 'value-1');
  assert.equal(t.events.at(-1).event, 'switched');
  void oldId;
  await t.done();
});

test('rollback after the switch: the old version is CURRENT again, the new one retired, lastRotatedAt back to the old version', async () => {
  const t = await setup();
  const { step: rot, oldId, newId } = await rotated(t);
  const oldCreated = rot.state.versions.find((v) => v.id === oldId).createdAt;
  const step = await rollback(t.target, rot.state, t.run);
  assert.deepEqual([step.action, step.outcome, step.fromVersion, step.toVersion, step.rotationId], ['rollback', 'rolled-back', newId, oldId, rot.rotationId]);
  assert.deepEqual(step.rollbackHooksFailed, []);
  assert.deepEqual(t.warnings, []);
  assert.notEqual(oldCreated, rot.state.lastRotatedAt);
  assert.equal(step.state.lastRotatedAt, oldCreated, 'the secret is as old as the version it went back to');
  assert.deepEqual(step.state.versions.map((v) => [v.id, v.stages]), [[oldId, ['CURRENT']]]);
  assert.deepEqual(step.state.retired.map((r) => r.id), [newId]);
  assert.deepEqual(t.recordCalls.at(-1), ['rolled-back']);
  const draft = t.events.at(-1);
  assert.deepEqual([draft.rotationId, draft.fromVersion, draft.toVersion, draft.fingerprint, draft.checks], [rot.rotationId, newId, oldId, t.fingerprint('value-1'), []]);
  assert.deepEqual(step.state.pendingEvents.map((e) => e.event), ['provisioned', 'issued', 'switched', 'rolled-back']);
  await t.done();
});

test('rollback in overlap keeps lastRotatedAt: nothing was switched', async () => {
  const t = await setup();
  const first = await provision(t.target, t.run);
  const record = overlapRecord(8, first.toVersion);
  const overlap = await t.store.apply('k', [{ type: 'create', versionId: record.newVersionId, value: SecretValue.fromString('n'), stage: 'PENDING' }], { rotation: record, lastRotatedAt: '2026-01-01T00:00:00.000Z', pendingEvents: [] });
  const step = await rollback(t.target, overlap, t.run);
  assert.equal(step.state.lastRotatedAt, '2026-01-01T00:00:00.000Z');
  assert.deepEqual(step.state.retired.map((r) => r.id), [record.newVersionId]);
  assert.equal(step.state.rotation, null);
  await t.done();
});

test('rollback after a failed hook: the evidence says failed (with the error and checks) and then rolled-back', async () => {
  const t = await setup();
  const { step: rot, oldId, newId } = await rotated(t);
  const result = { ok: false, label: 'verify[0] ping', exitCode: 1, signal: null, timedOut: false, durationMs: 7, error: 'verify[0] ping exited with status 1' };
  const checks = [check('verify[0] ping', 'verify', false)];
  await rollback(t.target, rot.state, t.run, new HookFailedError(result, checks));
  assert.deepEqual(t.recordCalls.at(-1), ['failed', 'rolled-back']);
  const failed = t.events.at(-2);
  assert.deepEqual([failed.event, failed.rotationId, failed.fromVersion, failed.toVersion, failed.fingerprint, failed.error, failed.checks], ['failed', rot.rotationId, oldId, newId, null, 'verify[0] ping exited with status 1', checks]);
  const stored = (await t.store.read('k')).pendingEvents.map((e) => e.event);
  assert.deepEqual(stored, ['provisioned', 'issued', 'switched', 'failed', 'rolled-back']);
  await t.done();
});

test('rollback runs the deploy hooks again with the old value; a failing one is reported and warned, the store is rolled back anyway', async () => {
  const t = await setup({ deploy: [hook('deploy[0] app'), hook('deploy[1] worker')] });
  const { step: rot, oldId, newId } = await rotated(t);
  t.hookCalls.length = 0;
  t.fail.push('deploy[1] worker'); // it worked for the rotation, it fails for the rollback
  const step = await rollback(t.target, rot.state, t.run);
  assert.deepEqual(t.hookCalls.map((c) => [c.label, c.context.phase, c.context.value.reveal(), c.context.oldVersion, c.context.newVersion]), [
    ['deploy[0] app', 'rollback', 'value-1', oldId, newId],
    ['deploy[1] worker', 'rollback', 'value-1', oldId, newId],
  ]);
  assert.deepEqual(step.rollbackHooksFailed, ['deploy[1] worker']);
  assert.deepEqual(t.warnings, ['k/dev: rollback hook(s) failed: deploy[1] worker']);
  assert.deepEqual(t.events.at(-1).checks, [check('deploy[0] app', 'rollback'), check('deploy[1] worker', 'rollback', false)]);
  assert.equal(await t.value('CURRENT'), 'value-1');
  await t.done();
});

test('rollback after the switch is refused when the old version is no longer PREVIOUS', async () => {
  const refused = { code: 'ERR_ROLLBACK_IMPOSSIBLE', message: 'k/dev: the old version is no longer in the store', exitCode: 2 };
  // The old version was retired (PREVIOUS gone).
  {
    const t = await setup();
    const { step: rot, oldId } = await rotated(t);
    const gone = await t.store.apply('k', [{ type: 'retire', versionId: oldId }], { rotation: rot.state.rotation, lastRotatedAt: rot.state.lastRotatedAt, pendingEvents: [] });
    await assert.rejects(rollback(t.target, gone, t.run), refused);
    assert.deepEqual(await t.store.read('k'), gone, 'nothing written');
    await t.done();
  }
  // The record names no old version.
  {
    const t = await setup();
    const { step: rot } = await rotated(t);
    const state = await t.store.apply('k', [], { rotation: { ...rot.state.rotation, oldVersionId: null }, lastRotatedAt: rot.state.lastRotatedAt, pendingEvents: [] });
    await assert.rejects(rollback(t.target, state, t.run), refused);
    await t.done();
  }
  // The record's old version exists but is not the PREVIOUS one.
  {
    const t = await setup();
    const { step: rot } = await rotated(t);
    const other = 'v-20261123t100000z-00000000000000ff';
    const state = await t.store.apply('k', [{ type: 'create', versionId: other, value: SecretValue.fromString('o'), stage: 'PENDING' }], { rotation: { ...rot.state.rotation, oldVersionId: other }, lastRotatedAt: rot.state.lastRotatedAt, pendingEvents: [] });
    await assert.rejects(rollback(t.target, state, t.run), refused);
    await t.done();
  }
});

test('rollbackRetired: a store that cannot restore retired versions (local) gives null and writes nothing', async () => {
  const t = await setup();
  const { step: rot } = await rotated(t);
  const done = await decommission(t.target, rot.state, t.run);
  const restorableState = { ...done.state, retired: done.state.retired.map((r) => ({ ...r, restorableUntil: '2099-01-01T00:00:00.000Z' })) };
  assert.equal(await rollbackRetired(t.target, restorableState, t.run), null);
  assert.deepEqual(await t.store.read('k'), done.state);
  await t.done();
});

test('restorable: the most recently retired version while its restorableUntil is still ahead', () => {
  const now = new Date('2026-11-23T10:00:00.000Z');
  const state = (retired) => ({ versions: [], retired, rotation: null, lastRotatedAt: null, pendingEvents: [] });
  const older = { id: 'v-old', retiredAt: '2026-11-20T00:00:00.000Z', restorableUntil: '2026-11-30T00:00:00.000Z' };
  const newer = { id: 'v-new', retiredAt: '2026-11-22T00:00:00.000Z', restorableUntil: '2026-11-29T00:00:00.000Z' };
  assert.equal(restorable(state([newer, older]), now), newer, 'by retiredAt, not by list order');
  assert.equal(restorable(state([older, newer]), now), newer);
  assert.equal(restorable(state([older, { ...newer, restorableUntil: '2026-11-23T09:59:59.999Z' }]), now), undefined, 'the newest is past its window; an older one is not brought back');
  assert.equal(restorable(state([{ ...newer, restorableUntil: now.toISOString() }]), now), undefined, 'a window ending now is over');
  assert.equal(restorable(state([{ id: 'v', retiredAt: '2026-11-22T00:00:00.000Z' }]), now), undefined, 'no restorableUntil: not restorable');
  assert.equal(restorable(state([]), now), undefined);
  assert.equal(restorable(null, now), undefined);
  const input = [newer, older];
  restorable(state(input), now);
  assert.deepEqual(input, [newer, older], 'the state is not reordered');
});

test('keyIds: the store resource ids of the new and old versions, null when absent', () => {
  const state = { versions: [{ id: 'v-1', stages: ['PREVIOUS'], createdAt: 'x', resourceId: 'key-1' }, { id: 'v-2', stages: ['CURRENT'], createdAt: 'x', resourceId: 'key-2' }, { id: 'v-3', stages: ['PENDING'], createdAt: 'x' }], retired: [], rotation: null, lastRotatedAt: null, pendingEvents: [] };
  assert.deepEqual(keyIds(state, { newVersionId: 'v-2', oldVersionId: 'v-1' }), { newKeyId: 'key-2', oldKeyId: 'key-1' });
  assert.deepEqual(keyIds(state, { newVersionId: 'v-1', oldVersionId: 'v-2' }), { newKeyId: 'key-1', oldKeyId: 'key-2' });
  assert.deepEqual(keyIds(state, { newVersionId: 'v-3', oldVersionId: null }), { newKeyId: null, oldKeyId: null });
  assert.deepEqual(keyIds(state, { newVersionId: 'v-9', oldVersionId: 'v-1' }), { newKeyId: null, oldKeyId: 'key-1' });
});

test('markFailed with a rotation in overlap: the rotation is failed with the error and a failed draft is announced and recorded', async () => {
  const t = await setup();
  const first = await provision(t.target, t.run);
  const record = overlapRecord(9, first.toVersion);
  await t.store.apply('k', [], { rotation: record, lastRotatedAt: first.state.lastRotatedAt, pendingEvents: first.state.pendingEvents });
  await markFailed(t.target, t.run, new Error('deploy timed out'));
  const failed = await t.store.read('k');
  assert.deepEqual(failed.rotation, { ...record, phase: 'failed', error: 'deploy timed out' });
  assert.equal(failed.lastRotatedAt, first.state.lastRotatedAt);
  const draft = t.events.at(-1);
  assert.deepEqual([draft.event, draft.rotationId, draft.fromVersion, draft.toVersion, draft.fingerprint, draft.error], ['failed', record.rotationId, first.toVersion, record.newVersionId, null, 'deploy timed out']);
  assert.deepEqual(failed.pendingEvents.map((e) => e.event), ['provisioned', 'failed']);
  assert.deepEqual(failed.pendingEvents.at(-1), draft);
  await t.done();
});

test('markFailed in fallback: the switched rotation is left as it is; the failure is only recorded, against CURRENT', async () => {
  const t = await setup();
  const { step: rot, newId } = await rotated(t);
  await markFailed(t.target, t.run, 'evidence disk full');
  assert.deepEqual(await t.store.read('k'), rot.state, 'nothing written');
  const draft = t.events.at(-1);
  assert.deepEqual([draft.event, draft.rotationId, draft.fromVersion, draft.toVersion, draft.error], ['failed', null, newId, null, 'evidence disk full']);
  await t.done();
});

test('markFailed without a rotation, and without an entry at all: only recorded', async () => {
  const t = await setup();
  await markFailed(t.target, t.run, new Error('generator failed'));
  assert.equal(await t.store.read('k'), null);
  assert.deepEqual([t.events.at(-1).event, t.events.at(-1).fromVersion, t.events.at(-1).toVersion, t.events.at(-1).error], ['failed', null, null, 'generator failed']);
  const first = await provision(t.target, t.run);
  await markFailed(t.target, t.run, new Error('generator failed again'));
  assert.deepEqual(await t.store.read('k'), first.state);
  assert.deepEqual([t.events.at(-1).event, t.events.at(-1).rotationId, t.events.at(-1).fromVersion], ['failed', null, first.toVersion]);
  await t.done();
});

test('markFailed when the store itself fails (a damaged store file): resolves, records nothing', async () => {
  const t = await setup();
  const path = join(mkdtempSync(join(tmpdir(), 'keyshift-steps-')), 'damaged.store');
  writeFileSync(path, 'not a keyshift store\n');
  const damaged = openLocalStore({ path }, {});
  await assert.rejects(damaged.read('k'), 'the store read fails');
  await markFailed({ ...t.target, store: damaged }, t.run, new Error('x'));
  assert.deepEqual(t.events, []);
  await damaged.close();
  await t.done();
});

// On CI's Node 24 leg better-sqlite3 is built for Node 20: this case then skips saying so.
const sqliteSkip = await (async () => {
  try {
    const { default: Database } = await import('better-sqlite3');
    new Database(':memory:').close();
    return false;
  } catch (error) {
    if (/NODE_MODULE_VERSION/.test(String(error?.message))) return `better-sqlite3 was built for another Node.js (this is ${process.version})`;
    throw error;
  }
})();

test('decommission held by the reencrypt gate while rows are still under the old version; goes ahead once none is', { skip: sqliteSkip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-steps-db-'));
  const dbPath = join(dir, 'app.db');
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(dbPath);
  db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)');
  const reencrypt = { database: { type: 'sqlite', path: dbPath }, tables: [{ table: 'users', key: 'id', columns: ['email'] }] };
  const t = await setup({ reencrypt, decommissionCheck: [hook('decommissionCheck[0] scan')] });
  const { step: rot, oldId, newId } = await rotated(t);
  const insert = db.prepare('INSERT INTO users (id, email) VALUES (?, ?)');
  insert.run(1, `ks1:${oldId}:AAAA`);
  insert.run(2, `ks1:${newId}:BBBB`);
  insert.run(3, null);
  const why = `held by decommissionCheck: reencrypt: 1 row(s) in sqlite:${dbPath} still under ${oldId}; run keyshift reencrypt k --env dev`;
  await assert.rejects(decommission(t.target, rot.state, t.run), { code: 'ERR_DECOMMISSION_HELD', message: `k/dev: decommission ${why}` });
  assert.deepEqual(t.hookCalls, [], 'the policy checks wait for the built-in gate');
  const held = await t.store.read('k');
  assert.equal(held.rotation.error, why);
  assert.equal(await t.value('PREVIOUS'), 'value-1');
  // Re-encrypted: the gate lets the decommission through.
  db.prepare('UPDATE users SET email = ? WHERE id = 1').run(`ks1:${newId}:CCCC`);
  db.close();
  const step = await decommission(t.target, held, t.run);
  assert.equal(step.outcome, 'decommissioned');
  assert.deepEqual(step.state.retired.map((r) => r.id), [oldId]);
  await t.done();
});

test('rollback hooks failing: every failed hook is named in the warning; a run without warn still rolls back', async () => {
  const t = await setup({ deploy: [hook('deploy[0] app'), hook('deploy[1] worker')] });
  const { step: rot } = await rotated(t);
  t.fail.push('deploy[0] app', 'deploy[1] worker');
  const { warn, ...noWarn } = t.run;
  void warn;
  const step = await rollback(t.target, rot.state, noWarn);
  assert.deepEqual(step.rollbackHooksFailed, ['deploy[0] app', 'deploy[1] worker']);
  assert.equal(await t.value('CURRENT'), 'value-1');
  await t.done();
});

test('rollback of a failing hook with two failures warns with both names', async () => {
  const t = await setup({ deploy: [hook('deploy[0] app'), hook('deploy[1] worker')] });
  const { step: rot } = await rotated(t);
  t.fail.push('deploy[0] app', 'deploy[1] worker');
  await rollback(t.target, rot.state, t.run);
  assert.deepEqual(t.warnings, ['k/dev: rollback hook(s) failed: deploy[0] app, deploy[1] worker']);
  await t.done();
});

test('rollbackRetired on a store without capabilities gives null', async () => {
  const t = await setup();
  const { step: rot } = await rotated(t);
  const done = await decommission(t.target, rot.state, t.run);
  const plain = new Proxy(t.store, { get: (s, p) => (p === 'capabilities' ? undefined : typeof s[p] === 'function' ? s[p].bind(s) : s[p]) });
  const restorableState = { ...done.state, retired: done.state.retired.map((r) => ({ ...r, restorableUntil: '2099-01-01T00:00:00.000Z' })) };
  assert.equal(await rollbackRetired({ ...t.target, store: plain }, restorableState, t.run), null);
  await t.done();
});

// rollbackRetired needs a store that can bring a retired version back; the local store cannot (it
// drops a retired version's value). The aws-kms store can while the old key's deletion is pending:
// here the real store code over the real SDK, against the loopback KMS of test/fakes/kms.js.
describe('rollbackRetired on aws-kms (loopback KMS)', () => {
  let fake;
  before(async () => {
    fake = await startKms({ quotas: false });
  });
  after(async () => {
    await fake?.close();
  });
  const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child: () => silent };

  let aliases = 0;
  async function kmsSetup({ deploy = [], decommissioned = true } = {}) {
    const alias = `alias/k${++aliases}`; // each test its own alias on the shared KMS
    const stateDir = mkdtempSync(join(tmpdir(), 'keyshift-steps-kms-'));
    process.env.AWS_ACCESS_KEY_ID = TEST_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
    const spec = { type: 'aws-kms', key: alias, region: 'us-east-1', endpoint: fake.endpoint, profile: null, mode: 'alias', pendingWindowDays: 7, createIfMissing: true, rotationPeriodDays: null, quotas: { controlPlanePerSecond: 1000, readsPerSecond: 10_000 } };
    const store = await openKmsStore(spec, { env: { KEYSHIFT_STATE_DIR: stateDir }, log: silent, aws: {}, storeId: `aws-kms:${stateDir}` });
    store.configureEntry(spec);
    const lock = await store.lock({ waitMs: 1000, owner: 'test' });
    const policy = { name: 'k', fallbackWindowMs: 2 * HOUR, revoke: [], decommissionCheck: [], reencrypt: null };
    const target = { policy, environment: { name: 'dev', deploy, verify: [] }, store, storeId: `aws-kms:${stateDir}`, key: alias };
    const events = [];
    const hookCalls = [];
    const fail = [];
    const run = {
      runId: 'run-test',
      operator: 'tester',
      reason: 'test',
      ticket: null,
      emergency: false,
      now: () => new Date(),
      generate: async () => assert.fail('a valueless store makes its own keys'),
      record: async (drafts) => void events.push(...drafts),
      runHook: async (hook, context) => {
        hookCalls.push({ label: hook.label, context });
        const ok = !fail.includes(hook.label);
        return { ok, label: hook.label, exitCode: ok ? 0 : 3, signal: null, timedOut: false, durationMs: 5, error: ok ? null : `${hook.label} exited with status 3` };
      },
    };
    // Provision, rotate and decommission: the old key is retired, its deletion pending.
    const first = await provision(target, run);
    const rot = await startRotation(target, first.state, run);
    const done = decommissioned ? await decommission(target, rot.state, run) : null;
    hookCalls.length = 0;
    return { alias, store, target, run, events, hookCalls, fail, oldId: first.toVersion, newId: rot.toVersion, rot, done, close: async () => (await lock.release(), await store.close?.()) };
  }

  test('the retired key is restored and CURRENT again, the one that replaced it retired; hooks get key ids', async () => {
    const t = await kmsSetup({ deploy: [hook('deploy[0] app'), hook('deploy[1] worker')] });
    t.fail.push('deploy[1] worker');
    const state = t.done.state;
    const oldKey = state.retired.at(-1).resourceId;
    const newKey = state.versions[0].resourceId;
    assert.ok(oldKey && newKey && oldKey !== newKey);
    const step = await rollbackRetired(t.target, state, t.run);
    assert.deepEqual([step.action, step.outcome, step.fromVersion, step.toVersion], ['rollback', 'rolled-back', t.newId, t.oldId]);
    assert.match(step.rotationId, /^r-\d{8}t\d{6}z-[0-9a-f]{16}$/);
    assert.deepEqual(step.rollbackHooksFailed, ['deploy[1] worker']);
    const expected = { secret: 'k', environment: 'dev', phase: 'rollback', rotationId: step.rotationId, newVersion: t.newId, oldVersion: t.oldId, value: null, newKeyId: newKey, oldKeyId: oldKey };
    assert.deepEqual(t.hookCalls.map((c) => c.context), [expected, expected]);
    const stored = await t.store.read(t.alias);
    assert.deepEqual(stored.versions.map((v) => [v.id, v.stages]), [[t.oldId, ['CURRENT']]]);
    assert.ok(stored.retired.some((r) => r.id === t.newId), 'the replacing version is retired');
    assert.equal(stored.rotation, null);
    assert.equal(stored.lastRotatedAt, state.lastRotatedAt);
    const draft = t.events.at(-1);
    assert.deepEqual([draft.event, draft.rotationId, draft.fromVersion, draft.toVersion, draft.fingerprint], ['rolled-back', step.rotationId, t.newId, t.oldId, null]);
    assert.deepEqual(draft.checks, [check('deploy[0] app', 'rollback'), check('deploy[1] worker', 'rollback', false)]);
    assert.deepEqual(stored.pendingEvents.at(-1), draft);
    assert.deepEqual(stored.pendingEvents.map((e) => e.event), ['provisioned', 'issued', 'deployed', 'switched', 'decommissioned', 'rolled-back']);
    await t.close();
  });

  test('without a failing hook nothing is reported failed', async () => {
    const t = await kmsSetup({ deploy: [hook('deploy[0] app')] });
    const step = await rollbackRetired(t.target, t.done.state, t.run);
    assert.deepEqual(step.rollbackHooksFailed, []);
    await t.close();
  });

  test('null once the deletion window is over (nothing restorable); nothing written', async () => {
    const t = await kmsSetup();
    const later = { ...t.run, now: () => new Date(Date.now() + 30 * 24 * HOUR) };
    assert.equal(await rollbackRetired(t.target, t.done.state, later), null);
    assert.deepEqual((await t.store.read(t.alias)).versions.map((v) => v.id), [t.newId]);
    assert.deepEqual(t.hookCalls, []);
    await t.close();
  });

  // aws-kms lists CURRENT first, so the old version is not simply the first one the store lists.
  test('rollback in fallback (before the decommission): lastRotatedAt goes back to when the old key was created', async () => {
    const t = await kmsSetup({ decommissioned: false });
    const state = t.rot.state;
    assert.equal(state.versions[0].id, t.newId, 'CURRENT listed first');
    const oldCreated = state.versions.find((v) => v.id === t.oldId).createdAt;
    assert.notEqual(oldCreated, state.versions[0].createdAt);
    const step = await rollback(t.target, state, t.run);
    assert.deepEqual([step.fromVersion, step.toVersion], [t.newId, t.oldId]);
    assert.equal(step.state.lastRotatedAt, oldCreated);
    assert.deepEqual((await t.store.read(t.alias)).versions.map((v) => [v.id, v.stages]), [[t.oldId, ['CURRENT']]]);
    await t.close();
  });
});
