// What a rerun after a crash asks the log (src/evidence/index-events.ts): which events of its
// rotations are already logged (so that each is appended once), and whether a step's saved record
// made it to the log. The answer comes from the records' own top-level fields: a rotation id or run
// id quoted elsewhere in a line, a torn last line, or a line that is not a record never counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findLoggedEvents, findLoggedDrafts, loggedKey, isRecordLogged } from '../../dist/evidence/index-events.js';

function logOf(t, lines, tail = '') {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-index-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'evidence.jsonl'), lines.map((l) => `${typeof l === 'string' ? l : JSON.stringify(l)}\n`).join('') + tail);
  return dir;
}

const record = (fields) => ({ seq: 1, hash: 'h', secret: 'db', environment: 'prod', event: 'issued', rotationId: null, runId: 'run-0', ...fields });

test('findLoggedEvents: the events of the asked rotations, by rotation, event and environment', async (t) => {
  const dir = logOf(t, [
    record({ rotationId: 'r-1', event: 'issued' }),
    record({ rotationId: 'r-1', event: 'switched', environment: 'stage' }),
    record({ rotationId: 'r-2', event: 'issued' }),
    record({ rotationId: null, event: 'failed' }),
    // r-3 quoted inside another field, and an id that only starts like r-1.
    record({ rotationId: 'r-9', event: 'issued', checks: [{ rotationId: 'r-3' }], reason: '"rotationId":"r-3"' }),
    record({ rotationId: 'r-10', event: 'switched' }),
    // Not records: a JSON list, a number, text, null.
    '["rotationId","r-3"]',
    '42',
    'not json "rotationId":"r-3"',
    'null',
  ], JSON.stringify(record({ rotationId: 'r-3', event: 'decommissioned' })));
  const found = await findLoggedEvents(dir, new Set(['r-1', 'r-3']));
  assert.deepEqual([...found].sort(), ['r-1|issued|prod', 'r-1|switched|stage']);
  assert.deepEqual([...(await findLoggedEvents(dir, new Set(['r-2', 'r-10'])))].sort(), ['r-10|switched|prod', 'r-2|issued|prod']);
  assert.deepEqual([...(await findLoggedEvents(dir, new Set()))], []);
});

test('findLoggedDrafts: an event outside any rotation is found by its run, event, secret, environment and checks; a rotation\'s by its rotation', async (t) => {
  const repaired = (fields) => record({ event: 'repaired', runId: 'run-d', checks: [{ check: 'foreign-label', action: 'a' }], ...fields });
  const dir = logOf(t, [
    repaired({}),
    repaired({ secret: 'api' }),
    repaired({ runId: 'run-other', environment: 'dev' }),
    // The run named elsewhere in a line, and a rotation event of that run: neither is a repair of it.
    repaired({ runId: 'run-x', reason: '"runId":"run-d"', environment: 'qa' }),
    record({ rotationId: 'r-1', runId: 'run-d', event: 'issued' }),
  ]);
  const asked = [
    repaired({ seq: undefined, hash: undefined }),
    repaired({ environment: 'qa' }),
    repaired({ checks: [{ check: 'stray-pending', action: 'a' }] }),
    record({ rotationId: 'r-1', event: 'issued' }),
  ];
  const found = await findLoggedDrafts(dir, asked);
  assert.deepEqual(asked.map((d) => found.has(loggedKey(d))), [true, false, false, true]);
  assert.equal(found.size, 3, 'the repair of api by run-d, the one of db, and r-1');
  assert.equal(loggedKey(record({ rotationId: 'r-1', event: 'issued' })), 'r-1|issued|prod');
  assert.equal(loggedKey(repaired({})), 'run:run-d|repaired|db|prod|[{"check":"foreign-label","action":"a"}]');
  assert.deepEqual([...(await findLoggedDrafts(dir, []))], []);
  // Only repairs asked (no rotation at all), of two runs at once; a damaged record whose rotationId
  // is neither a string nor null is no repair of the run it names.
  const two = logOf(t, [repaired({}), repaired({ runId: 'run-e', secret: 'api' }), repaired({ rotationId: 5, secret: 'web' })]);
  const onlyRepairs = [repaired({}), repaired({ runId: 'run-e', secret: 'api' }), repaired({ rotationId: null, secret: 'web' })];
  const got = await findLoggedDrafts(two, onlyRepairs);
  assert.deepEqual(onlyRepairs.map((d) => got.has(loggedKey(d))), [true, true, false]);
  assert.equal(got.size, 2);
});

test('findLoggedEvents: an id written with an escape, or after a space, is still found by the exact check', async (t) => {
  const dir = logOf(t, ['{"seq":1,"rotationId":"r\\u002d5","event":"issued","environment":"prod"}', '{"seq":2,"rotationId": "r-6","event":"switched","environment":"prod"}']);
  assert.deepEqual([...(await findLoggedEvents(dir, new Set(['r-5', 'r-6'])))].sort(), ['r-5|issued|prod', 'r-6|switched|prod']);
});

test('findLoggedEvents and isRecordLogged: no log is an empty answer, not an error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-index-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.deepEqual([...(await findLoggedEvents(dir, new Set(['r-1'])))], []);
  assert.equal(await isRecordLogged(dir, 'run-1', { event: 'reencrypt-stage' }), false);
});

test('isRecordLogged: a record of the run with every field equal; not a torn line, another run, or a run id quoted elsewhere', async (t) => {
  const stage = { event: 'reencrypt-stage', secret: 'db', environment: 'prod', at: '2026-01-01T00:00:00.000Z', stage: '25%' };
  const dir = logOf(t, [
    record({ ...stage, runId: 'run-2', stage: 'canary' }),
    record({ ...stage, runId: 'run-other', reason: '"runId":"run-3"', checks: [{ runId: 'run-3' }] }),
    'not json "runId":"run-3"',
  ], JSON.stringify(record({ ...stage, runId: 'run-4' })));
  assert.equal(await isRecordLogged(dir, 'run-2', { event: 'reencrypt-stage', stage: 'canary' }), true);
  assert.equal(await isRecordLogged(dir, 'run-2', { event: 'reencrypt-stage', stage: '25%' }), false, 'another stage of the run');
  assert.equal(await isRecordLogged(dir, 'run-2', { ...stage, stage: 'canary', at: '2026-01-01T00:00:01.000Z' }), false, 'another time');
  assert.equal(await isRecordLogged(dir, 'run-3', stage), false, 'quoted in other fields only');
  assert.equal(await isRecordLogged(dir, 'run-4', stage), false, 'a torn last line was never appended');
  assert.equal(await isRecordLogged(dir, 'run-2', {}), true, 'no field to compare: any record of the run');
});
