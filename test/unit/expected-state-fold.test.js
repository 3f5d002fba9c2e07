// What the evidence log says each store must hold (src/evidence/expected-state.ts), the fold rotate's
// rollback check compares stores with: CURRENT from the last provision, switch or rollback; the
// versions a decommission or a rollback retired; the store id and the newest record per store.
// The log here is written line by line (the fold trusts an intact log: `evidence verify` checks the
// chain), so that each kind of record, and each record the fold must pass over, is exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHECKPOINT_EVERY, expectedStates, targetKey } from '../../dist/evidence/expected-state.js';
import { CHECKPOINT_FILE } from '../../dist/evidence/state-checkpoint.js';

const KEY = targetKey('db', 'prod');
const wanted = new Set([KEY]);

function logOf(t, records, tail = '') {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-fold-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const lines = records.map((r, i) => JSON.stringify({ seq: i + 1, hash: `h${i + 1}`, secret: 'db', environment: 'prod', at: `2026-01-01T00:00:${String(i % 60).padStart(2, '0')}.000Z`, ...r }));
  writeFileSync(join(dir, 'evidence.jsonl'), lines.map((l) => `${l}\n`).join('') + tail);
  return dir;
}

const stateOf = async (dir, options) => (await expectedStates(dir, wanted, options)).targets.get(KEY);

test('CURRENT follows provision, switch and rollback; issue changes nothing; decommission and rollback retire', async (t) => {
  const dir = logOf(t, [
    { event: 'provisioned', fromVersion: null, toVersion: 'v1' },
    { event: 'issued', fromVersion: 'v1', toVersion: 'v2' },
  ]);
  let s = await stateOf(dir);
  assert.deepEqual([s.current, s.currentSeq, s.currentEvent, s.currentAt], ['v1', 1, 'provisioned', '2026-01-01T00:00:00.000Z'], 'issued moves nothing');
  assert.deepEqual([...s.retired], []);

  const more = [
    { event: 'provisioned', fromVersion: null, toVersion: 'v1' },
    { event: 'issued', fromVersion: 'v1', toVersion: 'v2' },
    { event: 'switched', fromVersion: 'v1', toVersion: 'v2' },
    { event: 'decommissioned', fromVersion: 'v1', toVersion: 'v2' },
    { event: 'switched', fromVersion: 'v2', toVersion: 'v3' },
    { event: 'rolled-back', fromVersion: 'v3', toVersion: 'v2' },
  ];
  s = await stateOf(logOf(t, more));
  assert.deepEqual([s.current, s.currentSeq, s.currentEvent, s.currentAt], ['v2', 6, 'rolled-back', '2026-01-01T00:00:05.000Z']);
  assert.deepEqual([...s.retired], [['v1', 4], ['v3', 6]], 'the decommissioned v1 and the rolled-back v3');

  // A version back as CURRENT (rollback to a retired one, or provisioned again) is no longer retired.
  s = await stateOf(logOf(t, [...more, { event: 'rolled-back', fromVersion: 'v2', toVersion: 'v3' }]));
  assert.deepEqual([s.current, [...s.retired]], ['v3', [['v1', 4], ['v2', 7]]]);
  s = await stateOf(logOf(t, [...more, { event: 'provisioned', fromVersion: null, toVersion: 'v1' }]));
  assert.deepEqual([s.current, [...s.retired]], ['v1', [['v3', 6]]]);

  // A decommission or a rollback without a version names nothing to retire; a rollback without a target keeps CURRENT.
  s = await stateOf(logOf(t, [...more, { event: 'decommissioned', fromVersion: null, toVersion: 'v2' }, { event: 'rolled-back', fromVersion: null, toVersion: null }]));
  assert.deepEqual([s.current, s.currentSeq, [...s.retired]], ['v2', 6, [['v1', 4], ['v3', 6]]]);
  // Other events (failed, signed, ...) move nothing.
  s = await stateOf(logOf(t, [...more, { event: 'failed', fromVersion: 'v2', toVersion: 'v9' }, { event: 'promoted', fromVersion: 'v2', toVersion: 'v8' }]));
  assert.deepEqual([s.current, [...s.retired]], ['v2', [['v1', 4], ['v3', 6]]]);
});

test('a record without a time leaves currentAt empty; versions that are not strings count as none', async (t) => {
  const s = await stateOf(logOf(t, [{ event: 'provisioned', fromVersion: null, toVersion: 'v1', at: undefined }, { event: 'switched', fromVersion: 5, toVersion: 7 }, { event: 'decommissioned', fromVersion: 6, toVersion: 'v1' }]));
  assert.deepEqual([s.current, s.currentAt, [...s.retired]], ['v1', '', []]);
  const back = await stateOf(logOf(t, [{ event: 'provisioned', fromVersion: null, toVersion: 'v1' }, { event: 'rolled-back', fromVersion: 'v1', toVersion: 'v0', at: undefined }]));
  assert.deepEqual([back.current, back.currentEvent, back.currentAt], ['v0', 'rolled-back', ''], 'a rollback without a time');
});

test('a target with records but no CURRENT yet: nothing current, no event, no time', async (t) => {
  const s = await stateOf(logOf(t, [{ event: 'issued', fromVersion: null, toVersion: 'v1', storeId: 'A' }]));
  assert.deepEqual({ ...s, retired: [...s.retired], lastSeqByStore: [...s.lastSeqByStore] }, {
    current: null, currentSeq: 0, currentEvent: '', currentAt: '', retired: [], storeId: 'A', storeIdSeq: 1, lastSeqByStore: [['A', 1]],
  });
});

test('records that lack a secret or an environment count for no target, even one named "undefined" or "null"', async (t) => {
  // Such records are never written (record.ts requires both); a damaged or hand-made log must still not
  // give a secret whose name happens to be what a missing field prints as.
  const odd = new Set([targetKey('undefined', 'prod'), targetKey('null', 'prod'), targetKey('db', '7'), targetKey('db', 'undefined')]);
  const dir = logOf(t, [
    { event: 'provisioned', fromVersion: null, toVersion: 'v1', secret: undefined },
    { event: 'provisioned', fromVersion: null, toVersion: 'v2', secret: null },
    { event: 'provisioned', fromVersion: null, toVersion: 'v3', environment: 7 },
    { event: 'provisioned', fromVersion: null, toVersion: 'v4', environment: undefined },
  ]);
  assert.deepEqual([...(await expectedStates(dir, odd)).targets.keys()], []);
});

test('the store id is the newest one named; the newest record is kept per store id', async (t) => {
  const s = await stateOf(logOf(t, [
    { event: 'provisioned', fromVersion: null, toVersion: 'v1', storeId: 'A' },
    { event: 'switched', fromVersion: 'v1', toVersion: 'v2' },
    { event: 'switched', fromVersion: 'v2', toVersion: 'v3', storeId: 'B' },
    { event: 'issued', fromVersion: 'v3', toVersion: 'v4', storeId: 7 },
  ]));
  assert.deepEqual([s.storeId, s.storeIdSeq], ['B', 3]);
  assert.deepEqual([...s.lastSeqByStore].sort(), [['', 4], ['A', 1], ['B', 3]]);
});

test('passed over: re-encryption records, other targets, records without a secret, environment or seq, lines that are not records, a torn last line', async (t) => {
  const base = [{ event: 'provisioned', fromVersion: null, toVersion: 'v1', storeId: 'A' }];
  const skipped = [
    { event: 'reencrypt-stage', fromVersion: 'v1', toVersion: 'v2', storeId: 'R' },
    { event: 'switched', fromVersion: 'v1', toVersion: 'v2', secret: 'other' },
    { event: 'switched', fromVersion: 'v1', toVersion: 'v3', environment: 'stage' },
    { event: 'switched', fromVersion: 'v1', toVersion: 'v4', secret: null },
    { event: 'switched', fromVersion: 'v1', toVersion: 'v5', environment: 7 },
    { event: 'switched', fromVersion: 'v1', toVersion: 'v6', seq: 'x' },
  ];
  const torn = JSON.stringify({ seq: 99, hash: 'h99', secret: 'db', environment: 'prod', event: 'switched', fromVersion: 'v1', toVersion: 'v7' });
  const dir = logOf(t, [...base, ...skipped], `[1,2]\nnot json\n${torn}`);
  const got = await expectedStates(dir, wanted);
  const s = got.targets.get(KEY);
  assert.deepEqual([s.current, s.storeId, [...s.lastSeqByStore]], ['v1', 'A', [['A', 1]]]);
  assert.deepEqual([...got.targets.keys()], [KEY], 'only the wanted targets');
  assert.equal(got.chainId, 'h1', 'the chain id is the hash of the seq-1 record');
  // The other target is there when asked for.
  const other = await expectedStates(dir, new Set([targetKey('other', 'prod')]));
  assert.equal(other.targets.get(targetKey('other', 'prod')).current, 'v2');
});

test('no log, or no target asked for: nothing expected, no chain, no checkpoint', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-fold-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.deepEqual(await expectedStates(dir, wanted, { checkpoint: { vouched: () => true } }), { chainId: null, targets: new Map(), checkpoint: null });
  const logged = logOf(t, [{ event: 'provisioned', fromVersion: null, toVersion: 'v1' }]);
  assert.deepEqual(await expectedStates(logged, new Set(), { checkpoint: { vouched: () => true } }), { chainId: null, targets: new Map(), checkpoint: null });
});

test(`a checkpoint is written once ${CHECKPOINT_EVERY} records are read, not one fewer, and names the last of them`, async (t) => {
  const records = (n) => Array.from({ length: n }, (_, i) => ({ event: 'switched', fromVersion: `v${i}`, toVersion: `v${i + 1}` }));
  const short = logOf(t, records(CHECKPOINT_EVERY - 1));
  const trusting = { checkpoint: { vouched: () => true } };
  assert.equal((await expectedStates(short, wanted, trusting)).checkpoint, null);
  assert.equal(existsSync(join(short, CHECKPOINT_FILE)), false);
  const enough = logOf(t, records(CHECKPOINT_EVERY));
  const got = await expectedStates(enough, wanted, trusting);
  assert.equal(got.checkpoint.chainId, 'h1');
  assert.match(got.checkpoint.digest, /^sha256:[0-9a-f]{64}$/);
  assert.ok(existsSync(join(enough, CHECKPOINT_FILE)));
  // Only records (a number seq and a string hash) count towards it.
  for (const [what, odd] of [['a seq that is not a number', { seq: 'x' }], ['no hash', { hash: undefined }]]) {
    const dir = logOf(t, [...records(CHECKPOINT_EVERY - 1), { event: 'switched', fromVersion: 'a', toVersion: 'b', ...odd }]);
    assert.equal((await expectedStates(dir, wanted, trusting)).checkpoint, null, `a line with ${what} is not counted`);
    assert.equal(existsSync(join(dir, CHECKPOINT_FILE)), false);
  }
  // Read from the checkpoint, a record appended since is folded in on top of it.
  appendFileSync(join(enough, 'evidence.jsonl'), `${JSON.stringify({ seq: CHECKPOINT_EVERY + 1, hash: 'hx', secret: 'db', environment: 'prod', event: 'rolled-back', fromVersion: `v${CHECKPOINT_EVERY}`, toVersion: 'v1', at: 'later' })}\n`);
  const s = (await expectedStates(enough, wanted, trusting)).targets.get(KEY);
  assert.deepEqual([s.current, s.currentSeq, s.currentAt, s.retired.get(`v${CHECKPOINT_EVERY}`)], ['v1', CHECKPOINT_EVERY + 1, 'later', CHECKPOINT_EVERY + 1]);
});
