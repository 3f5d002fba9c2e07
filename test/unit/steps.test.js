// Every state transition of one secret, on a real local store in a temp dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalStore } from '../../dist/stores/local/index.js';
import { SecretValue } from '../../dist/secret-value.js';
import { provision, startRotation, resumeRotation, decommission, rollback, markFailed } from '../../dist/engine/steps.js';

const HOUR = 3600_000;

async function setup() {
  const path = join(mkdtempSync(join(tmpdir(), 'keyshift-steps-')), 'test.store');
  const store = openLocalStore({ path }, {});
  const lock = await store.lock({ waitMs: 1000, owner: 'test' });
  const policy = { name: 'k', intervalMs: 30 * 24 * HOUR, fallbackWindowMs: 2 * HOUR, environments: [], revoke: [], decommissionCheck: [] };
  const target = { policy, environment: { name: 'dev', deploy: [], verify: [] }, store, storeId: `local:${path}`, key: 'k' };
  const events = [];
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
    record: async (drafts) => events.push(...drafts),
  };
  const value = async (stage) => {
    const state = await store.read('k');
    const version = state.versions.find((v) => v.stages.includes(stage));
    return version ? (await store.readValue('k', version.id)).reveal() : null;
  };
  return { store, lock, target, run, events, value, done: async () => (await lock.release(), await store.close()) };
}

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
