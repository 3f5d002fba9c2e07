// The pure planner, table-driven with a fixed clock: what rotate does for each state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planTarget, isExecutable, switchesNow } from '../../dist/engine/planner.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const now = new Date('2026-11-23T12:00:00.000Z');
const ago = (ms) => new Date(now.getTime() - ms).toISOString();
const policy = { name: 'k', interval: '30d', intervalMs: 30 * DAY, fallbackWindow: '48h', fallbackWindowMs: 48 * HOUR, environments: [] };
const environment = { name: 'prod' };
const v = (id, stages, createdAt = ago(10 * DAY)) => ({ id, stages, createdAt });
const rotation = (phase, extra = {}) => ({
  rotationId: 'r-1',
  phase,
  newVersionId: 'v-new',
  oldVersionId: 'v-old',
  startedAt: ago(HOUR),
  switchedAt: phase === 'fallback' ? ago(HOUR) : null,
  decommissionAfter: null,
  reason: 'scheduled',
  ticket: null,
  emergency: false,
  operator: 't',
  error: null,
  ...extra,
});
const entry = (versions, rot = null, lastRotatedAt = ago(10 * DAY)) => ({ versions, retired: [], rotation: rot, lastRotatedAt, pendingEvents: [] });

const cases = [
  { name: 'missing secret → provision', state: null, expect: [['provision', true]] },
  { name: 'idle, not due → none at the due time', state: entry([v('v-old', ['CURRENT'])]), expect: [['none', false]], at: [ago(-20 * DAY)] },
  { name: 'idle, due → rotate', state: entry([v('v-old', ['CURRENT'])], null, ago(31 * DAY)), expect: [['rotate', true]] },
  { name: 'idle, due exactly now → rotate', state: entry([v('v-old', ['CURRENT'])], null, ago(30 * DAY)), expect: [['rotate', true]] },
  { name: 'idle, not due, forced → rotate', state: entry([v('v-old', ['CURRENT'])]), force: true, expect: [['rotate', true]] },
  { name: 'idle, due within the horizon → rotate later', state: entry([v('v-old', ['CURRENT'])]), horizon: 21 * DAY, expect: [['rotate', false]] },
  { name: 'overlap → resume', state: entry([v('v-old', ['CURRENT']), v('v-new', ['PENDING'])], rotation('overlap')), expect: [['resume', true]] },
  { name: 'failed → resume', state: entry([v('v-old', ['CURRENT'])], rotation('failed', { error: 'boom' })), expect: [['resume', true]] },
  { name: 'failed, forced → resume first, never a second rotation', state: entry([v('v-old', ['CURRENT'])], rotation('failed')), force: true, expect: [['resume', true]] },
  { name: 'fallback inside the window → wait', state: entry([v('v-new', ['CURRENT']), v('v-old', ['PREVIOUS'])], rotation('fallback'), ago(HOUR)), expect: [['wait', false]] },
  { name: 'fallback, window ends within the horizon → decommission later', state: entry([v('v-new', ['CURRENT']), v('v-old', ['PREVIOUS'])], rotation('fallback'), ago(HOUR)), horizon: 2 * DAY, expect: [['decommission', false]] },
  { name: 'fallback, window elapsed → decommission only', state: entry([v('v-new', ['CURRENT']), v('v-old', ['PREVIOUS'])], rotation('fallback', { switchedAt: ago(49 * HOUR) }), ago(49 * HOUR)), expect: [['decommission', true]] },
  {
    name: 'fallback, window elapsed and due → decommission then rotate',
    state: entry([v('v-new', ['CURRENT']), v('v-old', ['PREVIOUS'])], rotation('fallback', { switchedAt: ago(31 * DAY) }), ago(31 * DAY)),
    expect: [['decommission', true], ['rotate', true]],
  },
  { name: 'fallback, forced → decommission early then rotate', state: entry([v('v-new', ['CURRENT']), v('v-old', ['PREVIOUS'])], rotation('fallback'), ago(HOUR)), force: true, expect: [['decommission', true], ['rotate', true]] },
  { name: 'fallback with a per-rotation window of 0 → decommission', state: entry([v('v-new', ['CURRENT']), v('v-old', ['PREVIOUS'])], rotation('fallback', { fallbackWindowOverrideMs: 0 }), ago(HOUR)), expect: [['decommission', true]] },
];

for (const c of cases) {
  test(`planner: ${c.name}`, () => {
    const actions = planTarget({ policy, environment, state: c.state }, { now, force: c.force ?? false, horizonMs: c.horizon ?? 0 });
    assert.deepEqual(actions.map((a) => [a.action, isExecutable(a, now)]), c.expect);
    for (const a of actions) {
      assert.equal(a.secret, 'k');
      assert.equal(a.environment, 'prod');
      assert.ok(a.reason.length > 0);
    }
    if (c.at) assert.deepEqual(actions.map((a) => a.at), c.at);
  });
}

test('planner: editing the policy window changes when decommission is due', () => {
  const state = entry([v('v-new', ['CURRENT']), v('v-old', ['PREVIOUS'])], rotation('fallback', { switchedAt: ago(3 * HOUR), decommissionAfter: ago(-45 * HOUR) }), ago(3 * HOUR));
  const shorter = { ...policy, fallbackWindowMs: 2 * HOUR };
  assert.equal(planTarget({ policy: shorter, environment, state }, { now, force: false, horizonMs: 0 })[0].action, 'decommission');
  assert.equal(planTarget({ policy, environment, state }, { now, force: false, horizonMs: 0 })[0].action, 'wait');
});

// Promotion (docs/workflow.md): a due rotation waits while the environment before it is mid-rotation,
// and for that one's `observe` bake time after its switch; --force skips the bake time only.
const MIN = 60_000;
const dueState = entry([v('v-old', ['CURRENT'])], null, ago(31 * DAY));
const dev = (observeMs) => ({ name: 'dev', observeMs });
const previousIn = (state, observeMs = HOUR, switchesNow = false) => ({ environment: dev(observeMs), state, switchesNow });
const plan = (previous, { force = false, state = dueState, horizon = 0 } = {}) =>
  planTarget({ policy, environment, state, previous }, { now, force, horizonMs: horizon }).map((a) => [a.action, a.at, a.reason]);
const switched = (minutesAgo) => entry([v('v-new', ['CURRENT']), v('v-old', ['PREVIOUS'])], rotation('fallback', { switchedAt: ago(minutesAgo * MIN) }), ago(minutesAgo * MIN));

test('promotion: a due rotation waits while the environment before it is mid-rotation, forced or not', () => {
  for (const phase of ['overlap', 'failed']) {
    for (const force of [false, true]) {
      assert.deepEqual(plan(previousIn(entry([v('v-old', ['CURRENT'])], rotation(phase))), { force }), [['wait', now.toISOString(), 'waiting for dev to finish its rotation']], `${phase} force=${force}`);
    }
    const notDue = entry([v('v-old', ['CURRENT'])]);
    assert.deepEqual(plan(previousIn(entry([v('v-old', ['CURRENT'])], rotation(phase))), { force: true, state: notDue }).map(([action]) => action), ['wait'], `${phase}, forced before due`);
  }
});

test('promotion: after the environment before it switched, a due rotation waits out its observe time', () => {
  assert.deepEqual(plan(previousIn(switched(20), HOUR)), [['wait', ago(-40 * MIN), `observing dev until ${ago(-40 * MIN)}`]]);
  assert.deepEqual(plan(previousIn(dueState, 2 * HOUR, true)), [['wait', ago(-2 * HOUR), 'after dev switches, its observe time (2h) must pass']]);
});

test('promotion: a rotation goes ahead once the observe time has passed, when there is none, or when forced', () => {
  const rotateNow = (actions) => actions.length === 1 && actions[0][0] === 'rotate' && actions[0][1] === now.toISOString();
  assert.ok(rotateNow(plan(previousIn(switched(61), HOUR))), 'observe time passed');
  assert.ok(rotateNow(plan(previousIn(switched(60), HOUR))), 'observe time ends exactly now');
  assert.ok(rotateNow(plan(previousIn(dueState, HOUR))), 'the environment before it is idle, never switched');
  assert.ok(rotateNow(plan(previousIn(switched(20), 0))), 'no observe time');
  assert.ok(rotateNow(plan(previousIn(dueState, 0, true))), 'switches now, no observe time');
  assert.ok(rotateNow(plan(previousIn(switched(20), HOUR), { force: true })), 'forced: the bake time is skipped');
  assert.ok(rotateNow(plan(previousIn(dueState, HOUR, true), { force: true })), 'forced, switching now');
});

test('promotion: a rotation that is not due yet is not held back, and shows when it is due', () => {
  const notDue = entry([v('v-old', ['CURRENT'])]);
  assert.deepEqual(plan(previousIn(switched(20), HOUR), { state: notDue }).map(([action, at]) => [action, at]), [['none', ago(-20 * DAY)]]);
  assert.deepEqual(plan(previousIn(entry([v('v-old', ['CURRENT'])], rotation('overlap'))), { state: notDue }).map(([action]) => action), ['none']);
});

test('planner: the reasons and times a user reads in `plan`', () => {
  const idle = (lastAgo) => entry([v('v-old', ['CURRENT'])], null, ago(lastAgo));
  const one = (state, options = {}) => planTarget({ policy, environment, state }, { now, force: false, horizonMs: 0, ...options }).map((a) => [a.action, a.at, a.reason]);
  assert.deepEqual(one(null), [['provision', now.toISOString(), 'not provisioned yet: the first version becomes CURRENT']]);
  assert.deepEqual(one(idle(31 * DAY)), [['rotate', now.toISOString(), `due since ${ago(DAY)} (interval 30d)`]]);
  assert.deepEqual(one(idle(10 * DAY)), [['none', ago(-20 * DAY), `not due until ${ago(-20 * DAY)}`]]);
  assert.deepEqual(one(idle(10 * DAY), { horizonMs: 20 * DAY }), [['rotate', ago(-20 * DAY), `due ${ago(-20 * DAY)} (interval 30d)`]]);
  assert.deepEqual(one(idle(10 * DAY), { horizonMs: 20 * DAY - 1 }).map(([action]) => action), ['none']);
  assert.deepEqual(one(idle(10 * DAY), { force: true }), [['rotate', now.toISOString(), `forced (next due ${ago(-20 * DAY)})`]]);
  assert.deepEqual(one(idle(31 * DAY), { force: true }), [['rotate', now.toISOString(), `forced (due since ${ago(DAY)})`]]);
  const failed = entry([v('v-old', ['CURRENT'])], rotation('failed', { error: 'store refused' }));
  assert.deepEqual(one(failed), [['resume', now.toISOString(), `rotation r-1 failed (store refused) since ${ago(HOUR)}: resume it`]]);
  assert.deepEqual(one(entry([v('v-old', ['CURRENT'])], rotation('failed'))).map(([, , reason]) => reason), [`rotation r-1 failed (unknown error) since ${ago(HOUR)}: resume it`]);
  assert.deepEqual(one(entry([v('v-old', ['CURRENT']), v('v-new', ['PENDING'])], rotation('overlap'))).map(([, , reason]) => reason), [`rotation r-1 in flight since ${ago(HOUR)}: resume it`]);
  const fallback = (extra, lastAgo) => entry([v('v-new', ['CURRENT']), v('v-old', ['PREVIOUS'])], rotation('fallback', extra), ago(lastAgo));
  assert.deepEqual(one(fallback({}, HOUR)), [['wait', ago(-47 * HOUR), `fallback window: v-old stays valid until ${ago(-47 * HOUR)}`]]);
  assert.deepEqual(one(fallback({ switchedAt: ago(49 * HOUR), error: 'hook failed' }, 49 * HOUR)), [['decommission', now.toISOString(), `fallback window ended ${ago(HOUR)}: retire v-old; last attempt hook failed`]]);
  assert.deepEqual(one(fallback({}, HOUR), { horizonMs: 47 * HOUR }).map(([action, at]) => [action, at]), [['decommission', ago(-47 * HOUR)]], 'window ends at the horizon');
  assert.deepEqual(one(fallback({}, HOUR), { horizonMs: 47 * HOUR - 1 }).map(([action]) => action), ['wait']);
  assert.deepEqual(one(fallback({}, HOUR), { force: true })[0], ['decommission', now.toISOString(), `forced: retire v-old before its fallback window ends (${ago(-47 * HOUR)})`]);
});

test('planner: only rotate, resume, provision and decommission due now are carried out in this run', () => {
  const at = (ms) => new Date(now.getTime() + ms).toISOString();
  for (const action of ['rotate', 'resume', 'provision', 'decommission']) {
    assert.equal(isExecutable({ action, at: at(0) }, now), true, action);
    assert.equal(isExecutable({ action, at: at(-1) }, now), true, action);
    assert.equal(isExecutable({ action, at: at(1) }, now), false, `${action} later`);
  }
  for (const action of ['wait', 'none']) assert.equal(isExecutable({ action, at: at(-1) }, now), false, action);
});

test('planner: a plan switches its target in this run only by a rotate or resume carried out now', () => {
  const at = (ms) => new Date(now.getTime() + ms).toISOString();
  assert.equal(switchesNow([{ action: 'decommission', at: at(0) }, { action: 'rotate', at: at(0) }], now), true);
  assert.equal(switchesNow([{ action: 'resume', at: at(0) }], now), true);
  assert.equal(switchesNow([{ action: 'rotate', at: at(1) }], now), false, 'rotate later, inside the horizon');
  assert.equal(switchesNow([{ action: 'provision', at: at(0) }, { action: 'decommission', at: at(0) }, { action: 'wait', at: at(0) }], now), false);
  assert.equal(switchesNow([], now), false);
});

test('planner: due exactly now, and a fallback window ending exactly now, count as reached', () => {
  const dueNow = entry([v('v-old', ['CURRENT'])], null, ago(30 * DAY));
  const one = (state, options = {}, previous) => planTarget({ policy, environment, state, previous }, { now, force: false, horizonMs: 0, ...options }).map((a) => [a.action, a.at, a.reason]);
  assert.deepEqual(one(dueNow), [['rotate', now.toISOString(), `due since ${now.toISOString()} (interval 30d)`]]);
  assert.deepEqual(one(dueNow, { force: true }), [['rotate', now.toISOString(), `forced (due since ${now.toISOString()})`]]);
  assert.deepEqual(one(dueNow, {}, previousIn(entry([v('v-old', ['CURRENT'])], rotation('overlap')))).map(([action]) => action), ['wait']);
  const windowEndsNow = entry([v('v-new', ['CURRENT']), v('v-old', ['PREVIOUS'])], rotation('fallback', { switchedAt: ago(48 * HOUR) }), ago(48 * HOUR));
  assert.deepEqual(one(windowEndsNow), [['decommission', now.toISOString(), `fallback window ended ${now.toISOString()}: retire v-old`]]);
});

test('promotion: an environment before it that is not provisioned yet holds nothing back', () => {
  assert.deepEqual(plan(previousIn(null, HOUR)).map(([action, at]) => [action, at]), [['rotate', now.toISOString()]]);
});
