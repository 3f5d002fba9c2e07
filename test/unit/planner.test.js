// The pure planner, table-driven with a fixed clock: what rotate does for each state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planTarget, isExecutable } from '../../dist/engine/planner.js';

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
