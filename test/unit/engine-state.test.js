// The engine's reading of a store entry (src/engine/state.ts): the phase `status` shows, when the
// secret was last rotated and is next due, the bake time and fallback window ends, and the evidence
// drafts a crashed run left unconfirmed. A missing secret (null) reads as idle and never due.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  currentVersion, decommissionAt, lastRotatedAt, nextDueAt, observeEndsAt, pendingVersion, phaseOf, previousVersion, unconfirmedDrafts,
} from '../../dist/engine/state.js';

const HOUR = 3600_000;
const now = new Date('2026-11-23T12:00:00.000Z');
const ago = (ms) => new Date(now.getTime() - ms).toISOString();
const v = (id, stages, createdAt = ago(10 * HOUR)) => ({ id, stages, createdAt });
const rotation = (extra = {}) => ({ rotationId: 'r-1', phase: 'fallback', newVersionId: 'v2', oldVersionId: 'v1', startedAt: ago(2 * HOUR), switchedAt: ago(HOUR), decommissionAfter: null, reason: 'scheduled', ticket: null, emergency: false, operator: 't', error: null, ...extra });
const entry = (extra = {}) => ({ versions: [v('v2', ['CURRENT']), v('v1', ['PREVIOUS']), v('v3', ['PENDING'])], retired: [], rotation: null, lastRotatedAt: null, pendingEvents: [], ...extra });
const policy = { intervalMs: 24 * HOUR, fallbackWindowMs: 2 * HOUR };

test('phase: idle without a rotation or secret, else the rotation\'s phase', () => {
  assert.equal(phaseOf(null), 'idle');
  assert.equal(phaseOf(entry()), 'idle');
  for (const phase of ['overlap', 'fallback', 'failed']) assert.equal(phaseOf(entry({ rotation: rotation({ phase }) })), phase);
});

test('the versions by stage, none for a missing secret', () => {
  assert.deepEqual([currentVersion(entry())?.id, previousVersion(entry())?.id, pendingVersion(entry())?.id], ['v2', 'v1', 'v3']);
  assert.deepEqual([currentVersion(null), previousVersion(null), pendingVersion(null)], [undefined, undefined, undefined]);
  assert.equal(pendingVersion(entry({ versions: [v('v2', ['CURRENT'])] })), undefined);
});

test('last rotated at the recorded switch, else when CURRENT was created; next due one interval later', () => {
  assert.equal(lastRotatedAt(entry({ lastRotatedAt: ago(3 * HOUR) })).toISOString(), ago(3 * HOUR));
  assert.equal(lastRotatedAt(entry()).toISOString(), ago(10 * HOUR), 'provisioned, never rotated');
  assert.equal(lastRotatedAt(entry({ versions: [] })), null);
  assert.equal(lastRotatedAt(null), null);
  assert.equal(nextDueAt(policy, entry()).toISOString(), ago(-14 * HOUR));
  assert.equal(nextDueAt(policy, null), null);
});

test('the bake time ends observe after the switch while it is ahead; the fallback window from the switch', () => {
  const switched = entry({ rotation: rotation() });
  assert.equal(observeEndsAt({ observeMs: 2 * HOUR }, switched, now).toISOString(), ago(-HOUR));
  assert.equal(observeEndsAt({ observeMs: HOUR }, switched, now), null, 'ends exactly now');
  assert.equal(observeEndsAt({ observeMs: 0 }, entry({ rotation: rotation({ switchedAt: ago(-HOUR) }) }), now), null, 'no observe time');
  assert.equal(observeEndsAt({ observeMs: 2 * HOUR }, entry({ rotation: rotation({ phase: 'overlap', switchedAt: null }) }), now), null);
  assert.equal(observeEndsAt({ observeMs: 2 * HOUR }, entry(), now), null);
  assert.equal(observeEndsAt({ observeMs: 2 * HOUR }, null, now), null);
  assert.equal(decommissionAt(policy, rotation()).toISOString(), ago(-HOUR));
  assert.equal(decommissionAt(policy, rotation({ fallbackWindowOverrideMs: 0 })).toISOString(), ago(HOUR));
  assert.equal(decommissionAt(policy, rotation({ phase: 'overlap', switchedAt: null })), null);
});

test('unconfirmed drafts: those of runs not listed as confirmed; none for a missing secret', () => {
  const draft = (runId) => ({ event: 'switched', runId });
  const state = entry({ pendingEvents: [draft('run-1'), draft('run-2'), draft('run-3')] });
  assert.deepEqual(unconfirmedDrafts(state, { evidenceAnchors: {}, confirmedRuns: ['run-2'] }).map((d) => d.runId), ['run-1', 'run-3']);
  assert.deepEqual(unconfirmedDrafts(state, { evidenceAnchors: {}, confirmedRuns: ['run-1', 'run-2', 'run-3'] }), []);
  assert.deepEqual(unconfirmedDrafts(null, { evidenceAnchors: {}, confirmedRuns: [] }), []);
});
