// One target as `rotate` advances it (advance-target.ts), and its overlap hooks (overlap-hooks.ts),
// on real local stores opened through the store registry; hooks and the generator are the run's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { StoreRegistry } from '../../dist/stores/registry.js';
import { SecretValue } from '../../dist/secret-value.js';
import { KeyshiftError } from '../../dist/errors.js';
import { targetsOf } from '../../dist/engine/selection.js';
import { advanceTarget } from '../../dist/engine/advance-target.js';
import { acceptNewValue } from '../../dist/engine/value-gate.js';
import { runOverlapHooks, runRollbackHooks, toCheck, HookFailedError } from '../../dist/engine/overlap-hooks.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const hook = (label) => ({ kind: 'command', label, command: ['true'] });

/** A secret `k` in dev and prod (each its own local store, locked), a run with a clock and recorders. */
async function setup(t, { deploy = [], verify = [], revoke = [], fail = [], fallbackWindowMs = 2 * HOUR, observeMs = 0, generate, validate = null, logEnabled } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-advance-'));
  const stores = new StoreRegistry({ env: { KEYSHIFT_MASTER_KEY: randomBytes(32).toString('base64') }, logger: null });
  t.after(async () => (await stores.closeAll(), rmSync(dir, { recursive: true, force: true })));
  const environment = (name) => ({ name, store: { type: 'local', path: join(dir, `${name}.store`), key: 'k' }, deploy, verify, observeMs });
  const policy = { name: 'k', interval: '30d', intervalMs: 30 * DAY, fallbackWindowMs, environments: [environment('dev'), environment('prod')], revoke, decommissionCheck: [], notify: [], reencrypt: null, validate, generator: { type: 'random' } };
  const [dev, prod] = await targetsOf([policy], [], stores);
  for (const target of [dev, prod]) {
    const lock = await target.store.lock({ waitMs: 1000, owner: 'test' });
    t.after(() => lock.release());
  }
  const events = [];
  const recordSizes = []; // the number of drafts of each run.record call
  const hookCalls = [];
  const warnings = [];
  const logs = [];
  let counter = 0;
  let clock = Date.now();
  const run = {
    runId: 'run-test',
    operator: 'tester',
    reason: 'test',
    ticket: null,
    emergency: false,
    now: () => new Date((clock += 1000)),
    generate: generate ?? (async () => SecretValue.fromString(`value-${++counter}`)),
    record: async (drafts) => void (recordSizes.push(drafts.length), events.push(...drafts)),
    warn: (message) => warnings.push(message),
    runHook: async (spec, context) => {
      hookCalls.push({ label: spec.label, phase: context.phase, value: context.value?.reveal() ?? null });
      const ok = !fail.includes(`${spec.label}:${context.phase}`) && !fail.includes(spec.label);
      return { ok, label: spec.label, exitCode: ok ? 0 : 3, signal: null, timedOut: false, durationMs: 5, error: ok ? null : `${spec.label} exited with status 3` };
    },
  };
  const log = {
    ...(logEnabled === undefined ? {} : { enabled: (level) => (logs.push(['enabled', level]), logEnabled) }),
    debug: (obj, msg) => logs.push(['debug', msg, obj]),
    info: (obj, msg) => logs.push(['info', msg, obj]),
    warn: (obj, msg) => logs.push(['warn', msg, obj]),
    error: (obj, msg) => logs.push(['error', msg, obj]),
  };
  const advance = (target, force = false) => advanceTarget(target, run, force, stores, log);
  const stages = async (target) => ((await target.store.read('k'))?.versions ?? []).map((v) => [v.id, v.stages]);
  const advanceClock = (ms) => (clock += ms);
  return { dev, prod, run, stores, log, logs, events, recordSizes, hookCalls, warnings, advance, stages, advanceClock };
}

const summary = (results) => results.map((r) => `${r.action}:${r.outcome}`);

test('advanceTarget: a missing secret is provisioned, a fresh one skipped with the planner\'s reason', async (t) => {
  const s = await setup(t);
  const [first] = await s.advance(s.dev);
  assert.equal(first.secret, 'k');
  assert.equal(first.environment, 'dev');
  assert.equal(first.action, 'provision');
  assert.equal(first.outcome, 'provisioned');
  assert.equal(first.fromVersion, null);
  assert.match(first.toVersion, /^v-/);
  assert.equal(first.reason, 'not provisioned yet: the first version becomes CURRENT');
  assert.deepEqual(await s.stages(s.dev), [[first.toVersion, ['CURRENT']]]);
  const again = await s.advance(s.dev);
  assert.deepEqual(summary(again), ['none:skipped']);
  assert.match(again[0].reason, /^not due until /);
  assert.equal(again[0].toVersion, null);
  assert.deepEqual(s.events.map((e) => e.event), ['provisioned']);
});

test('advanceTarget: a due secret rotates; forced, one not due rotates too', async (t) => {
  const s = await setup(t);
  const [provisioned] = await s.advance(s.dev);
  const [forced] = await s.advance(s.dev, true);
  assert.equal(forced.action, 'rotate');
  assert.equal(forced.outcome, 'rotated');
  assert.equal(forced.fromVersion, provisioned.toVersion);
  assert.match(forced.rotationId, /^r-/);
  assert.equal(forced.toVersion, `v-${forced.rotationId.slice(2)}`);
  assert.match(forced.reason, /^forced \(next due /);
  assert.deepEqual(await s.stages(s.dev), [[provisioned.toVersion, ['PREVIOUS']], [forced.toVersion, ['CURRENT']]]);
  const waiting = await s.advance(s.dev);
  assert.deepEqual(summary(waiting), ['wait:skipped'], 'inside the fallback window');
  s.advanceClock(3 * HOUR);
  assert.deepEqual(summary(await s.advance(s.dev)), ['decommission:decommissioned']);
  assert.deepEqual(await s.stages(s.dev), [[forced.toVersion, ['CURRENT']]]);
});

test('advanceTarget: forced inside the fallback window, the decommission and the new rotation are one store write', async (t) => {
  const s = await setup(t);
  const [provisioned] = await s.advance(s.dev);
  const [first] = await s.advance(s.dev, true);
  const before = s.dev.store.stats;
  s.recordSizes.length = 0;
  const results = await s.advance(s.dev, true);
  assert.deepEqual(summary(results), ['decommission:decommissioned', 'rotate:rotated']);
  assert.equal(results[0].fromVersion, provisioned.toVersion);
  assert.equal(results[0].toVersion, first.toVersion);
  assert.match(results[0].reason, /^forced: retire /);
  assert.equal(results[1].fromVersion, first.toVersion);
  assert.match(results[1].reason, /^forced /);
  assert.deepEqual(await s.stages(s.dev), [[first.toVersion, ['PREVIOUS']], [results[1].toVersion, ['CURRENT']]]);
  assert.deepEqual(s.events.slice(-3).map((e) => [e.event, e.fromVersion, e.toVersion]), [
    ['decommissioned', provisioned.toVersion, first.toVersion],
    ['issued', first.toVersion, results[1].toVersion],
    ['switched', first.toVersion, results[1].toVersion],
  ]);
  assert.deepEqual(s.recordSizes, [3], 'the three drafts of one write');
  const fingerprint = s.dev.store.fingerprint(await s.dev.store.readValue('k', results[1].toVersion));
  assert.deepEqual(s.events.slice(-2).map((e) => e.fingerprint), [fingerprint, fingerprint], 'issued and switched name the new value');
  assert.equal(s.events.at(-3).fingerprint, s.events.find((e) => e.event === 'provisioned').fingerprint, 'decommissioned names the retired value');
  assert.equal(s.dev.store.stats.records, before.records + 1, 'one store record for both steps');
  const state = await s.dev.store.read('k');
  assert.deepEqual(state.retired.map((r) => r.id), [provisioned.toVersion]);
  assert.deepEqual(state.pendingEvents.slice(-3).map((d) => d.event), ['decommissioned', 'issued', 'switched'], 'the store announces all three');
  assert.equal(state.rotation.rotationId, results[1].rotationId);
  assert.equal(state.rotation.phase, 'fallback');
});

test('advanceTarget: with deploy hooks, or a refused value, the decommission is its own write', async (t) => {
  const hooked = await setup(t, { deploy: [hook('deploy')] });
  await hooked.advance(hooked.dev);
  await hooked.advance(hooked.dev, true);
  const before = hooked.dev.store.stats.records;
  assert.deepEqual(summary(await hooked.advance(hooked.dev, true)), ['decommission:decommissioned', 'rotate:rotated']);
  assert.equal(hooked.dev.store.stats.records, before + 4, 'decommission, issue, the deploy hook done, switch');

  const rules = { minLength: 32, minEntropyBits: null, pattern: null, forbidPrevious: false, forbidRepeats: null };
  const s = await setup(t, { validate: rules, generate: async (target) => acceptNewValue(target, SecretValue.fromString('x'.repeat(40))) });
  const [provisioned] = await s.advance(s.dev);
  const [first] = await s.advance(s.dev, true);
  s.run.generate = async (target) => acceptNewValue(target, SecretValue.fromString('short'));
  const results = await s.advance(s.dev, true);
  assert.deepEqual(summary(results), ['decommission:decommissioned', 'rotate:failed']);
  assert.equal(results[1].error.code, 'ERR_VALUE_REJECTED');
  assert.deepEqual(await s.stages(s.dev), [[first.toVersion, ['CURRENT']]], 'the old version retired, nothing new stored');
  assert.deepEqual(s.events.slice(-2).map((e) => [e.event, e.fromVersion]), [['decommissioned', provisioned.toVersion], ['failed', first.toVersion]]);
});

test('advanceTarget: with a fallback window of 0 the old version is retired in the same run', async (t) => {
  const s = await setup(t, { fallbackWindowMs: 0 });
  const [provisioned] = await s.advance(s.dev);
  const results = await s.advance(s.dev, true);
  assert.deepEqual(summary(results), ['rotate:rotated', 'decommission:decommissioned']);
  assert.equal(results[1].fromVersion, provisioned.toVersion);
  assert.match(results[1].reason, /^fallback window ended /);
  assert.deepEqual(await s.stages(s.dev), [[results[0].toVersion, ['CURRENT']]]);
  assert.deepEqual(s.events.map((e) => e.event), ['provisioned', 'issued', 'switched', 'decommissioned']);
  // Provisioning alone is not followed by a decommission.
  const p = await setup(t, { fallbackWindowMs: 0 });
  assert.deepEqual(summary(await p.advance(p.dev)), ['provision:provisioned']);
});

test('advanceTarget: with a fallback window of 0, the rotation and its decommission are one store write unless a decommission hook must run between them', async (t) => {
  const s = await setup(t, { fallbackWindowMs: 0 });
  const [provisioned] = await s.advance(s.dev);
  const before = s.dev.store.stats.records;
  s.recordSizes.length = 0;
  const results = await s.advance(s.dev, true);
  assert.deepEqual(summary(results), ['rotate:rotated', 'decommission:decommissioned']);
  assert.match(results[0].reason, /^forced /);
  assert.match(results[1].reason, new RegExp(`^fallback window ended \\S+: retire ${provisioned.toVersion}$`));
  assert.equal(s.dev.store.stats.records, before + 1, 'one store record');
  assert.deepEqual(s.recordSizes, [3]);
  assert.deepEqual(s.events.slice(-3).map((e) => [e.event, e.fromVersion, e.toVersion]), [
    ['issued', provisioned.toVersion, results[0].toVersion],
    ['switched', provisioned.toVersion, results[0].toVersion],
    ['decommissioned', provisioned.toVersion, results[0].toVersion],
  ]);
  assert.equal(s.events.at(-1).fingerprint, s.events.at(-4).fingerprint, 'the decommissioned record names the retired value, as provisioned did');
  const state = await s.dev.store.read('k');
  assert.deepEqual(state.versions.map((v) => [v.id, v.stages]), [[results[0].toVersion, ['CURRENT']]]);
  assert.deepEqual(state.retired.map((r) => r.id), [provisioned.toVersion]);
  assert.equal(state.rotation, null);

  // --fallback-window 0 of the run over a policy's window: the same one write.
  const o = await setup(t);
  await o.advance(o.dev);
  o.run.fallbackWindowMs = 0;
  const overBefore = o.dev.store.stats.records;
  assert.deepEqual(summary(await o.advance(o.dev, true)), ['rotate:rotated', 'decommission:decommissioned']);
  assert.equal(o.dev.store.stats.records, overBefore + 1);

  // A revoke hook runs after the switch, before the retirement: two writes, the hook between them.
  const r = await setup(t, { fallbackWindowMs: 0, revoke: [hook('revoke')] });
  await r.advance(r.dev);
  const hookedBefore = r.dev.store.stats.records;
  assert.deepEqual(summary(await r.advance(r.dev, true)), ['rotate:rotated', 'decommission:decommissioned']);
  assert.equal(r.dev.store.stats.records, hookedBefore + 2);
  assert.deepEqual(r.hookCalls.map((c) => `${c.label}:${c.phase}`), ['revoke:revoke']);
});

test('advanceTarget: a resumed rotation with a window of 0 is retired in the same run too', async (t) => {
  const s = await setup(t, { fallbackWindowMs: 0, deploy: [hook('deploy')], fail: ['deploy:deploy'] });
  await s.advance(s.dev);
  s.hookCalls.length = 0;
  // The deploy hook fails; the rollback hook (same hook, phase rollback) succeeds.
  const failed = await s.advance(s.dev, true);
  assert.deepEqual(summary(failed), ['rotate:failed']);
  assert.match(failed[0].reason, /^rolled back: v-\S+ is CURRENT again$/);
  assert.equal(failed[0].error.code, 'ERR_HOOK_FAILED');
  assert.deepEqual(s.hookCalls.map((c) => `${c.label}:${c.phase}`), ['deploy:deploy', 'deploy:rollback']);
  assert.deepEqual(s.events.map((e) => e.event), ['provisioned', 'issued', 'failed', 'rolled-back'], 'one failed record, from the rollback');
});

test('advanceTarget: a rotation left failed is resumed, then its old version retired with a window of 0', async (t) => {
  const s = await setup(t, { fallbackWindowMs: 0, deploy: [hook('d1')] });
  await s.advance(s.dev);
  const runHook = s.run.runHook;
  // The hook runner itself breaks (not a failed hook): no rollback, the rotation is marked failed.
  s.run.runHook = async () => {
    throw new Error('spawn broke');
  };
  const [broken] = await s.advance(s.dev, true);
  assert.equal(broken.outcome, 'failed');
  const state = await s.dev.store.read('k');
  assert.equal(state.rotation.phase, 'failed');
  assert.equal(broken.rotationId, state.rotation.rotationId, 'the failed rotation is named');
  assert.equal(broken.fromVersion, state.rotation.oldVersionId);
  assert.equal(broken.toVersion, state.rotation.newVersionId);
  assert.deepEqual(broken.error, { code: 'ERR_INTERNAL', message: 'spawn broke', hint: 'this is a bug in keyshift; rerun with --log-level debug and report it' });
  assert.ok(!('reason' in broken));
  assert.deepEqual(s.warnings, [], 'no rollback is tried for an error that is not a failed hook');
  assert.equal(s.events.at(-1).event, 'failed');
  s.run.runHook = runHook;
  const resumed = await s.advance(s.dev);
  assert.deepEqual(summary(resumed), ['resume:resumed', 'decommission:decommissioned']);
  assert.deepEqual(await s.stages(s.dev), [[broken.toVersion, ['CURRENT']]]);
});

test('advanceTarget: prod is not held back by an idle dev (the plan does not assume dev switches now)', async (t) => {
  const s = await setup(t, { observeMs: HOUR });
  await s.advance(s.dev);
  await s.advance(s.prod);
  s.advanceClock(31 * DAY);
  const results = await s.advance(s.prod);
  assert.deepEqual(summary(results), ['rotate:rotated']);
  assert.match(results[0].reason, /^due since /);
});

test('advanceTarget: when the rollback hook fails too, the result says so', async (t) => {
  const s = await setup(t, { deploy: [hook('d1'), hook('d2')], fail: ['d1', 'd2:rollback'] });
  await s.advance(s.dev);
  const failed = await s.advance(s.dev, true);
  assert.equal(failed[0].outcome, 'failed');
  assert.match(failed[0].reason, /^rolled back: v-\S+ is CURRENT again; rollback hook\(s\) failed: d1, d2$/);
  assert.equal((await s.stages(s.dev)).find(([, stages]) => stages.includes('CURRENT'))[0], failed[0].fromVersion);
});

test('advanceTarget: dev mid-rotation holds prod back', async (t) => {
  const s = await setup(t);
  await s.advance(s.dev);
  await s.advance(s.prod);
  s.advanceClock(31 * DAY);
  const state = await s.dev.store.read('k');
  await s.dev.store.apply('k', [], { rotation: { rotationId: 'r-x', phase: 'failed', newVersionId: 'v-new', oldVersionId: state.versions[0].id, startedAt: new Date().toISOString(), switchedAt: null, decommissionAfter: null, reason: 'test', ticket: null, emergency: false, operator: 't', error: 'boom' }, lastRotatedAt: state.lastRotatedAt, pendingEvents: [] });
  const results = await s.advance(s.prod);
  assert.deepEqual(summary(results), ['wait:skipped']);
  assert.equal(results[0].reason, 'waiting for dev to finish its rotation');
});

test('advanceTarget: a rollback that cannot complete is a warning; the rotation is left to resume', async (t) => {
  const s = await setup(t, { deploy: [hook('deploy')], fail: ['deploy:deploy'] });
  await s.advance(s.dev);
  // The rollback step's record of the evidence throws: the rollback did not complete.
  const record = s.run.record;
  s.run.record = async (drafts) => {
    if (drafts.some((d) => d.event === 'rolled-back')) throw new Error('log unavailable');
    return record(drafts);
  };
  const [failed] = await s.advance(s.dev, true);
  assert.equal(failed.outcome, 'failed');
  assert.ok(!('reason' in failed), 'no rollback to report');
  assert.deepEqual(s.warnings, [`k/dev: rollback after the failed hook did not complete (log unavailable); a rerun resumes the rotation`]);
});

test('advanceTarget: a run without a warn callback still reports the failed step', async (t) => {
  const s = await setup(t, { deploy: [hook('deploy')], fail: ['deploy:deploy'] });
  await s.advance(s.dev);
  delete s.run.warn;
  const record = s.run.record;
  s.run.record = async (drafts) => {
    if (drafts.some((d) => d.event === 'rolled-back')) throw new Error('log unavailable');
    return record(drafts);
  };
  const results = await s.advance(s.dev, true);
  assert.deepEqual(summary(results), ['rotate:failed']);
  assert.equal(results[0].error.code, 'ERR_HOOK_FAILED');
});

test('advanceTarget: a failed revoke hook holds the decommission; the new version stays CURRENT', async (t) => {
  const s = await setup(t, { fallbackWindowMs: 0, revoke: [hook('revoke')], fail: ['revoke:revoke'] });
  const [provisioned] = await s.advance(s.dev);
  const results = await s.advance(s.dev, true);
  assert.deepEqual(summary(results), ['rotate:rotated', 'decommission:failed']);
  assert.equal(results[1].error.code, 'ERR_HOOK_FAILED');
  assert.ok(!('reason' in results[1]), 'nothing rolled back');
  assert.deepEqual(await s.stages(s.dev), [[provisioned.toVersion, ['PREVIOUS']], [results[0].toVersion, ['CURRENT']]]);
  assert.deepEqual(s.events.map((e) => e.event), ['provisioned', 'issued', 'switched', 'failed']);
  assert.deepEqual(s.warnings, []);
});

test('advanceTarget: a refused value fails before the rotation starts and names the CURRENT it would replace', async (t) => {
  const rules = { minLength: 32, minEntropyBits: null, pattern: null, forbidPrevious: false, forbidRepeats: null };
  // As run-info.ts does: the generator's value passes the validate: gate.
  const s = await setup(t, { validate: rules, generate: async (target) => acceptNewValue(target, SecretValue.fromString('x'.repeat(40))) });
  const [provisioned] = await s.advance(s.dev);
  s.run.generate = async (target) => acceptNewValue(target, SecretValue.fromString('short'));
  const [failed] = await s.advance(s.dev, true);
  assert.equal(failed.action, 'rotate');
  assert.equal(failed.outcome, 'failed');
  assert.equal(failed.fromVersion, provisioned.toVersion);
  assert.equal(failed.toVersion, null);
  assert.equal(failed.rotationId, null);
  assert.equal(failed.error.code, 'ERR_VALUE_REJECTED');
  assert.ok(!('reason' in failed) || failed.reason === undefined);
  const last = s.events.at(-1);
  assert.equal(last.event, 'failed', 'markFailed recorded it');
  assert.equal(last.fromVersion, provisioned.toVersion);
  assert.ok(s.logs.some(([level, msg, obj]) => level === 'error' && msg === 'step failed' && obj.target === 'k/dev' && obj.action === 'rotate' && /fails validate\.minLength/.test(obj.err)));
});

test('advanceTarget: a blocked step stops the target with a blocked result and a warning', async (t) => {
  const s = await setup(t, {
    generate: async () => {
      throw new KeyshiftError('ERR_STORE_MANAGED', 'a rotation Lambda owns this secret', { exitCode: 3, hint: 'turn it off' });
    },
  });
  const results = await s.advance(s.dev);
  assert.deepEqual(results, [{
    secret: 'k', environment: 'dev', action: 'provision', outcome: 'blocked', fromVersion: null, toVersion: null, rotationId: null,
    error: { code: 'ERR_STORE_MANAGED', message: 'a rotation Lambda owns this secret', hint: 'turn it off' },
  }]);
  assert.deepEqual(s.logs.filter(([level]) => level === 'warn'), [['warn', 'blocked', { target: 'k/dev', action: 'provision', err: 'a rotation Lambda owns this secret' }]]);
  assert.ok(!s.events.some((e) => e.event === 'failed'), 'a block is not a failure');
  // Any other error fails the step.
  s.run.generate = async () => {
    throw new KeyshiftError('ERR_GENERATOR', 'generator broke');
  };
  const [failed] = await s.advance(s.dev);
  assert.equal(failed.outcome, 'failed');
  assert.equal(failed.error.code, 'ERR_GENERATOR');
  assert.equal(failed.fromVersion, null);
});

test('advanceTarget: a disk error of the store is named with the store\'s location', async (t) => {
  const s = await setup(t, {
    generate: async () => {
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    },
  });
  const [failed] = await s.advance(s.dev);
  assert.equal(failed.error.code, 'ERR_DISK_FULL');
  assert.equal(failed.error.message, `${s.dev.store.location}: no space left on the device (ENOSPC)`);
});

test('advanceTarget: logs its plan at debug unless debug is off, and each step at info', async (t) => {
  const s = await setup(t);
  const [provisioned] = await s.advance(s.dev);
  const debug = s.logs.filter(([level]) => level === 'debug');
  assert.deepEqual(debug, [['debug', 'planned', { target: 'k/dev', store: s.dev.store.location, actions: ['provision: not provisioned yet: the first version becomes CURRENT'] }]]);
  assert.deepEqual(s.logs.filter(([level]) => level === 'info'), [['info', 'provisioned', { secret: 'k', environment: 'dev', action: 'provision', rotationId: provisioned.rotationId }]]);
  const on = await setup(t, { logEnabled: true });
  await on.advance(on.dev);
  assert.deepEqual(on.logs.filter(([level]) => level !== 'info').map(([level, what]) => [level, what]), [['enabled', 'debug'], ['debug', 'planned']]);
  const off = await setup(t, { logEnabled: false });
  await off.advance(off.dev);
  assert.deepEqual(off.logs.filter(([level]) => level !== 'info').map(([level, what]) => [level, what]), [['enabled', 'debug']]);
});

// overlap-hooks.ts

test('runOverlapHooks: deploy then verify hooks with the new value, progress and evidence after each', async (t) => {
  const s = await setup(t, { deploy: [hook('d1'), hook('d2')], verify: [hook('v1')] });
  await s.advance(s.dev);
  const [rotated] = await s.advance(s.dev, true);
  assert.equal(rotated.outcome, 'rotated');
  assert.deepEqual(s.hookCalls.map((c) => `${c.label}:${c.phase}`), ['d1:deploy', 'd2:deploy', 'v1:verify']);
  assert.ok(s.hookCalls.every((c) => c.value === 'value-2'));
  const deployed = s.events.find((e) => e.event === 'deployed');
  const verified = s.events.find((e) => e.event === 'verified');
  assert.deepEqual(deployed.checks.map((c) => [c.hook, c.phase]), [['d1', 'deploy'], ['d2', 'deploy']]);
  assert.deepEqual(verified.checks.map((c) => [c.hook, c.phase]), [['v1', 'verify']]);
  assert.deepEqual(s.events.map((e) => e.event), ['provisioned', 'issued', 'deployed', 'verified', 'switched']);
  assert.ok(!s.recordSizes.includes(0), 'evidence is appended only when there is a record');
});

test('runOverlapHooks: resumes at the first hook not done; a failure throws with the checks so far', async (t) => {
  const s = await setup(t, { deploy: [hook('d1'), hook('d2')], verify: [hook('v1'), hook('v2')] });
  await s.advance(s.dev);
  const state = await s.dev.store.read('k');
  const current = state.versions[0].id;
  const lock = { rotationId: 'r-x', phase: 'overlap', newVersionId: 'v-new', oldVersionId: current, startedAt: new Date().toISOString(), switchedAt: null, decommissionAfter: null, reason: 'test', ticket: null, emergency: false, operator: 't', error: null, hooksDone: 1 };
  const inFlight = await s.dev.store.apply('k', [{ type: 'create', versionId: 'v-new', value: SecretValue.fromString('new'), stage: 'PENDING' }], { rotation: lock, lastRotatedAt: state.lastRotatedAt, pendingEvents: [] });
  const value = SecretValue.fromString('new');
  const keys = { newKeyId: 'kid-new', oldKeyId: 'kid-old' };
  const contexts = [];
  s.run.runHook = async (spec, context) => (contexts.push({ label: spec.label, ...context }), { ok: spec.label !== 'v2', label: spec.label, exitCode: spec.label === 'v2' ? 7 : 0, signal: spec.label === 'v2' ? 'SIGTERM' : null, timedOut: spec.label === 'v2', durationMs: 9, error: spec.label === 'v2' ? 'v2 timed out' : null });
  const error = await runOverlapHooks(s.dev, inFlight, value, s.run, keys).then(() => null, (e) => e);
  assert.ok(error instanceof HookFailedError);
  assert.equal(error.code, 'ERR_HOOK_FAILED');
  assert.equal(error.message, 'v2 timed out');
  assert.equal(error.hint, 'see the hook output in the logs (--log-level info); fix it and rerun keyshift rotate');
  assert.deepEqual(contexts.map((c) => c.label), ['d2', 'v1', 'v2'], 'd1 was done');
  assert.deepEqual(contexts[0], { label: 'd2', secret: 'k', environment: 'dev', phase: 'deploy', rotationId: 'r-x', newVersion: 'v-new', oldVersion: current, value, newKeyId: 'kid-new', oldKeyId: 'kid-old' });
  assert.equal(contexts[1].phase, 'verify');
  assert.deepEqual(error.checks, [
    { hook: 'd2', phase: 'deploy', ok: true, exitCode: 0, signal: null, timedOut: false, durationMs: 9 },
    { hook: 'v1', phase: 'verify', ok: true, exitCode: 0, signal: null, timedOut: false, durationMs: 9 },
    { hook: 'v2', phase: 'verify', ok: false, exitCode: 7, signal: 'SIGTERM', timedOut: true, durationMs: 9 },
  ]);
  const after = await s.dev.store.read('k');
  assert.equal(after.rotation.hooksDone, 3, 'd2 and v1 are recorded done');
  assert.deepEqual(s.events.filter((e) => e.rotationId === 'r-x').map((e) => [e.event, e.checks.map((c) => c.hook)]), [['deployed', ['d2']]]);
  assert.deepEqual(after.pendingEvents.map((e) => e.event), ['deployed']);
  // Rerun from there: only v2 runs, and `verified` carries the verify checks of this call.
  s.run.runHook = async (spec, context) => (contexts.push({ label: spec.label, ...context }), { ok: true, label: spec.label, exitCode: 0, signal: null, timedOut: false, durationMs: 1, error: null });
  contexts.length = 0;
  const done = await runOverlapHooks(s.dev, after, value, s.run, keys);
  assert.deepEqual(contexts.map((c) => c.label), ['v2']);
  assert.equal(done.rotation.hooksDone, 4);
  const verified = s.events.filter((e) => e.event === 'verified');
  assert.equal(verified.length, 1);
  assert.deepEqual(verified[0].checks.map((c) => c.hook), ['v2']);
  assert.equal(verified[0].fromVersion, current);
  assert.equal(verified[0].toVersion, 'v-new');
  assert.equal(verified[0].rotationId, 'r-x');
  assert.equal(verified[0].fingerprint, s.dev.store.fingerprint(value));
  assert.deepEqual(done.pendingEvents.map((e) => e.event), ['deployed', 'verified']);
  // Nothing left to run: the state comes back as it is.
  assert.equal(await runOverlapHooks(s.dev, done, value, s.run, keys), done);
});

test('runOverlapHooks: a failed hook without an error line is named by its label', async (t) => {
  const s = await setup(t, { deploy: [hook('d1')] });
  await s.advance(s.dev);
  s.run.runHook = async (spec) => ({ ok: false, label: spec.label, exitCode: 1, signal: null, timedOut: false, durationMs: 1, error: null });
  const [failed] = await s.advance(s.dev, true);
  assert.equal(failed.error.message, 'd1 failed');
});

test('runOverlapHooks: verify hooks only, or deploy hooks only, each give their one record', async (t) => {
  const v = await setup(t, { verify: [hook('v1'), hook('v2')] });
  await v.advance(v.dev);
  await v.advance(v.dev, true);
  assert.deepEqual(v.events.map((e) => e.event), ['provisioned', 'issued', 'verified', 'switched']);
  assert.deepEqual(v.events[2].checks.map((c) => c.hook), ['v1', 'v2']);
  const d = await setup(t, { deploy: [hook('d1')] });
  await d.advance(d.dev);
  await d.advance(d.dev, true);
  assert.deepEqual(d.events.map((e) => e.event), ['provisioned', 'issued', 'deployed', 'switched']);
});

test('runRollbackHooks: the deploy hooks again with the old value; failures are reported, not thrown', async (t) => {
  const s = await setup(t, { deploy: [hook('d1'), hook('d2')], verify: [hook('v1')] });
  const record = { rotationId: 'r-1', newVersionId: 'v2', oldVersionId: 'v1' };
  const old = SecretValue.fromString('old');
  const contexts = [];
  s.run.runHook = async (spec, context) => (contexts.push({ label: spec.label, ...context }), { ok: spec.label === 'd2', label: spec.label, exitCode: spec.label === 'd2' ? 0 : 2, signal: null, timedOut: false, durationMs: 4, error: null });
  const checks = await runRollbackHooks(s.dev, record, old, s.run, { newKeyId: null, oldKeyId: 'k-old' });
  assert.deepEqual(contexts, [
    { label: 'd1', secret: 'k', environment: 'dev', phase: 'rollback', rotationId: 'r-1', newVersion: 'v2', oldVersion: 'v1', value: old, newKeyId: null, oldKeyId: 'k-old' },
    { label: 'd2', secret: 'k', environment: 'dev', phase: 'rollback', rotationId: 'r-1', newVersion: 'v2', oldVersion: 'v1', value: old, newKeyId: null, oldKeyId: 'k-old' },
  ]);
  assert.deepEqual(checks, [
    { hook: 'd1', phase: 'rollback', ok: false, exitCode: 2, signal: null, timedOut: false, durationMs: 4 },
    { hook: 'd2', phase: 'rollback', ok: true, exitCode: 0, signal: null, timedOut: false, durationMs: 4 },
  ]);
});

test('toCheck: what evidence keeps of a hook result, never its output', () => {
  assert.deepEqual(toCheck({ ok: true, label: 'h', exitCode: 0, signal: null, timedOut: false, durationMs: 12, error: null, output: 'secret' }, 'verify'), {
    hook: 'h', phase: 'verify', ok: true, exitCode: 0, signal: null, timedOut: false, durationMs: 12,
  });
});

test('advanceTarget: a store that fails the rotation and then cannot be read still names the CURRENT the rotation started from', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-advance-cmd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const example = fileURLToPath(new URL('../../examples/command-store/file-store.sh', import.meta.url));
  // The example command store; once "failing" exists its apply fails (the service's disk is full)
  // and every read after that fails too (the service went down).
  const wrapper = join(dir, 'failing-store.sh');
  writeFileSync(wrapper, `#!/bin/sh
request=$(cat)
op=$(printf '%s' "$request" | jq -r .op)
if [ -f "$1/failing" ]; then
  case "$op" in
    apply) touch "$1/down"; printf '%s\\n' '{"error":{"code":"UNAVAILABLE","message":"disk full"}}'; exit 1 ;;
    read) if [ -f "$1/down" ]; then printf '%s\\n' '{"error":{"code":"UNAVAILABLE","message":"the service is down"}}'; exit 1; fi ;;
  esac
fi
printf '%s' "$request" | exec "$2"
`);
  chmodSync(wrapper, 0o755);
  const stores = new StoreRegistry({ env: { PATH: process.env.PATH, HOME: dir, KEYSHIFT_STATE_DIR: join(dir, 'state') }, logger: null });
  t.after(() => stores.closeAll());
  const store = { type: 'command', key: 'k', run: [wrapper, dir, example], config: { dir: join(dir, 'entries') }, timeoutMs: 10_000 };
  const policy = { name: 'k', interval: '30d', intervalMs: 30 * DAY, fallbackWindowMs: 2 * HOUR, environments: [{ name: 'dev', store, deploy: [], verify: [], observeMs: 0 }], revoke: [], decommissionCheck: [], notify: [], reencrypt: null, validate: null, generator: { type: 'random' } };
  const [target] = await targetsOf([policy], [], stores);
  const lock = await target.store.lock({ waitMs: 1000, owner: 'test' });
  t.after(() => lock.release());
  let clock = Date.now();
  let counter = 0;
  const events = [];
  const run = {
    runId: 'run-test', operator: 'tester', reason: 'test', ticket: null, emergency: false,
    now: () => new Date((clock += 1000)),
    generate: async () => SecretValue.fromString(`value-${++counter}-${'x'.repeat(32)}`),
    record: async (drafts) => void events.push(...drafts),
    warn: () => {},
    runHook: async () => { throw new Error('no hooks here'); },
  };
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const [provisioned] = await advanceTarget(target, run, false, stores, silent);
  assert.equal(provisioned.outcome, 'provisioned');
  writeFileSync(join(dir, 'failing'), '');
  const [failed, ...rest] = await advanceTarget(target, run, true, stores, silent);
  assert.deepEqual(rest, []);
  assert.equal(failed.action, 'rotate');
  assert.equal(failed.outcome, 'failed');
  assert.equal(failed.error.code, 'ERR_STORE_UNAVAILABLE');
  assert.match(failed.error.message, /disk full/);
  assert.equal(failed.fromVersion, provisioned.toVersion, 'the CURRENT read before the step, as the store cannot be read after it');
});
