// The pure parts of the report: interval adherence at its edges, and check's problem list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { intervalAdherence } from '../../dist/report/adherence.js';
import { findProblems } from '../../dist/report/check.js';
import { prometheusText } from '../../dist/report/prometheus.js';

const DAY = 86_400_000;
const H = 3_600_000;

test('adherence: every gap and the open one count; lateness in whole days; never without a change', () => {
  const cases = [
    // changes (days), interval (days), now (days), since (days or null) → adherence, lateBy (h)
    [[], 30, 100, null, 'never', null],
    [[0], 30, 29, null, 'on-time', null],
    [[0], 30, 30 + 23 / 24, null, 'on-time', null], // 23 h after due: the next daily run
    [[0], 30, 31, null, 'late', 24], // a whole day late, still not rotated (the open gap)
    [[0, 30.5, 60], 30, 61, null, 'on-time', null],
    [[0, 45, 75], 30, 80, null, 'late', 15 * 24], // the first gap was 15 days over
    [[0, 45, 75], 30, 80, 50, 'on-time', null], // … but it ended before the window
    [[0, 45, 75], 30, 80, 44, 'late', 15 * 24], // a gap that ends inside the window counts whole
    [[75, 0, 45], 30, 80, null, 'late', 15 * 24], // order of the records does not matter
  ];
  for (const [changes, interval, now, since, adherence, lateH] of cases) {
    const got = intervalAdherence(changes.map((d) => d * DAY), interval * DAY, now * DAY, since === null ? null : since * DAY);
    assert.deepEqual(got, { adherence, lateByMs: lateH === null ? null : lateH * H }, JSON.stringify({ changes, interval, now, since }));
  }
});

test('check: overdue, never rotated, failed, stuck past the fallback window (24 h grace), unreadable', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  const row = (over) => ({ secret: 's', environment: 'prod', phase: 'idle', lastRotatedAt: '2026-05-01T00:00:00Z', nextDueAt: '2026-07-01T00:00:00Z', overdue: false, rotationId: null, decommissionAfter: null, error: null, ...over });
  const kinds = (over) => findProblems([row(over)], now).map((p) => p.kind);
  assert.deepEqual(kinds({}), []);
  assert.deepEqual(kinds({ overdue: true, nextDueAt: '2026-05-30T00:00:00Z' }), ['overdue']);
  assert.deepEqual(kinds({ overdue: true, nextDueAt: null, lastRotatedAt: null }), ['never-rotated']);
  assert.deepEqual(kinds({ phase: 'failed', rotationId: 'r-1', error: 'verify hook failed' }), ['failed']);
  assert.deepEqual(kinds({ phase: 'fallback', decommissionAfter: '2026-05-31T01:00:00Z' }), []);
  assert.deepEqual(kinds({ phase: 'fallback', decommissionAfter: '2026-05-30T23:00:00Z' }), ['stuck']);
  assert.deepEqual(kinds({ phase: 'unknown', error: 'ERR_STORE_ACCESS_DENIED' }), ['error']);
});

test('prometheus text: labels escaped, a never-provisioned secret has only overdue and the counter', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  const rows = [
    { secret: 'a"b', environment: 'pr\\od', lastRotatedAt: '2026-05-31T00:00:00Z', nextDueAt: '2026-06-30T00:00:00Z', overdue: false },
    { secret: 'n', environment: 'dev', lastRotatedAt: null, nextDueAt: null, overdue: true },
  ];
  const text = prometheusText(rows, new Map([['n\u0000dev', 2]]), now, (s, e) => `${s}\u0000${e}`);
  assert.match(text, /^keyshift_secret_age_seconds\{secret="a\\"b",environment="pr\\\\od"\} 86400$/m);
  assert.match(text, /^keyshift_secret_next_due_timestamp_seconds\{secret="a\\"b",environment="pr\\\\od"\} 1782777600$/m);
  assert.doesNotMatch(text, /keyshift_secret_age_seconds\{secret="n"/);
  assert.match(text, /^keyshift_secret_overdue\{secret="n",environment="dev"\} 1$/m);
  assert.match(text, /^keyshift_rotation_failures_total\{secret="n",environment="dev"\} 2$/m);
  assert.match(text, /^# TYPE keyshift_rotation_failures_total counter$/m);
});

test('html timeline: a log of 200,000 events is drawn (no stack overflow), starting at its first event', async () => {
  const { timelineSvg } = await import('../../dist/report/timeline-svg.js');
  const now = Date.parse('2027-01-01T00:00:00Z');
  const first = Date.parse('2024-01-01T00:00:00Z');
  const timeline = Array.from({ length: 200_000 }, (_, i) => ({ at: first + i * 60_000, kind: 'issued', emergency: false, rotationId: `r-${i}` }));
  const row = { secret: 's', environment: 'prod', overdue: false, nextDueAt: null, timeline };
  const svg = timelineSvg([row], now, null);
  assert.equal(svg.match(/<rect class="issue"/g).length, 200_000);
  assert.match(svg, /<rect class="issue" x="229\.0" /, 'the first event is at the left edge of the chart');
});
