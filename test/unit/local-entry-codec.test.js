// What one record of the local store holds (src/stores/local/entry-codec.ts, docs/local-store.md):
// an entry as `["e", key, versions, retired, rotation, lastRotatedAt, drafts]` with repeated strings
// numbered, or the store meta as `["m", meta]`. The text written must read back as the same entry,
// and a record that does not have this layout must read as null (the store then reports damage),
// never as an entry with a field missing or taken from the wrong place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clone, decodeEntry, decodeVersions, encodeEntry, encodeMeta, isMeta, itemText, loadRecord, toEntryState } from '../../dist/stores/local/entry-codec.js';

const T1 = '2026-12-01T10:00:00.000Z';
const T2 = '2026-12-02T10:00:00.000Z';

const rotation = {
  rotationId: 'r1', phase: 'fallback', newVersionId: 'v2', oldVersionId: 'v1', startedAt: T2, switchedAt: T2,
  decommissionAfter: null, reason: 'scheduled', ticket: null, emergency: false, operator: 'ops', error: null,
  fallbackWindowOverrideMs: 60000, hooksDone: 2,
};
const draft = {
  event: 'switched', rotationId: 'r1', secret: 'api-key', environment: 'prod', store: 'local', fromVersion: 'v1',
  toVersion: 'v2', fingerprint: 'hmac-sha256:ab', at: T2, operator: 'ops', reason: 'scheduled', ticket: null,
  emergency: false, checks: [{ name: 'verify', ok: true }], runId: 'run-1',
};

/** An entry with every part filled, its strings repeated across parts. */
const fullEntry = () => ({
  versions: [
    { id: 'v1', stages: ['PREVIOUS'], createdAt: T1, value: 'b2xk' },
    { id: 'v2', stages: ['CURRENT'], createdAt: T2, value: 'bmV3' },
  ],
  retired: [{ id: 'v0', retiredAt: T1 }],
  rotation: { ...rotation },
  lastRotatedAt: T2,
  pendingEvents: [{ ...draft }, { ...draft, event: 'failed', error: 'deploy hook failed', storeId: 'abc', storeLocation: '/s' }],
});

/** The layout with one part replaced: `parts` index 2 is versions, 3 retired, 4 rotation, 5 lastRotatedAt, 6 drafts. */
const withPart = (index, value) => {
  const parts = JSON.parse(encodeEntry('api-key', fullEntry()));
  parts[index] = value;
  return JSON.stringify(parts);
};

/** A bare entry with one part replaced: no string of a later part refers back to the replaced one. */
const bareWith = (index, value) => {
  const parts = ['e', 'k', [['v1', ['CURRENT'], T1, 'eA==']], [], null, null, []];
  parts[index] = value;
  return JSON.stringify(parts);
};

test('an entry is written as the documented array, each string once and its repeats as numbers in written order', () => {
  const text = encodeEntry('api-key', fullEntry());
  assert.deepEqual(JSON.parse(text), [
    'e',
    'api-key',
    [['v1', ['PREVIOUS'], T1, 'b2xk'], ['v2', ['CURRENT'], T2, 'bmV3']],
    [['v0', 1]],
    ['r1', 'fallback', 2, 0, 3, 3, null, 'scheduled', null, false, 'ops', null, 60000, 2],
    3,
    [
      ['switched', 5, 'api-key', 'prod', 'local', 0, 2, 'hmac-sha256:ab', 3, 8, 7, null, false, [{ name: 'verify', ok: true }], 'run-1'],
      ['failed', 5, 10, 11, 12, 0, 2, 13, 3, 8, 7, null, false, [{ name: 'verify', ok: true }], 14, 'deploy hook failed', 'abc', '/s'],
    ],
  ]);
  assert.deepEqual(decodeEntry(text), fullEntry());
});

test('an entry without rotation, last rotation or drafts is written with null and [] and reads back so', () => {
  const bare = { versions: [{ id: 'v1', stages: ['CURRENT'], createdAt: T1, value: 'eA==' }], retired: [], rotation: null, lastRotatedAt: null, pendingEvents: [] };
  const text = encodeEntry('k', bare);
  assert.equal(text, `["e","k",[["v1",["CURRENT"],"${T1}","eA=="]],[],null,null,[]]`);
  assert.deepEqual(decodeEntry(text), bare);
  // Older callers may leave the optional meta out: written the same way.
  assert.equal(encodeEntry('k', { versions: bare.versions, retired: [] }), text);
  // The last rotation may repeat a version's time: written as its number.
  assert.equal(encodeEntry('k', { ...bare, lastRotatedAt: T1 }), `["e","k",[["v1",["CURRENT"],"${T1}","eA=="]],[],null,1,[]]`);
  assert.deepEqual(decodeEntry(encodeEntry('k', { ...bare, lastRotatedAt: T1 })), { ...bare, lastRotatedAt: T1 });
});

test('a rotation written before hooksDone and the fallback override existed is packed in 12 fields and read back so', () => {
  const { fallbackWindowOverrideMs, hooksDone, ...older } = rotation;
  const entry = { ...fullEntry(), rotation: older, pendingEvents: [] };
  const text = encodeEntry('api-key', entry);
  assert.deepEqual(JSON.parse(text)[4], ['r1', 'fallback', 2, 0, 3, 3, null, 'scheduled', null, false, 'ops', null]);
  assert.deepEqual(decodeEntry(text), entry);
  // Only the last one absent: 13 fields.
  const withOverride = { ...entry, rotation: { ...older, fallbackWindowOverrideMs: null } };
  assert.deepEqual(JSON.parse(encodeEntry('api-key', withOverride))[4].length, 13);
  assert.deepEqual(decodeEntry(encodeEntry('api-key', withOverride)), withOverride);
});

test('a rotation or draft of another shape is kept as its object and read back whole', () => {
  const odd = { ...fullEntry(), rotation: { ...rotation, extra: 'kept' }, pendingEvents: [{ ...draft, checks: 'not a list' }] };
  const text = encodeEntry('api-key', odd);
  assert.deepEqual(JSON.parse(text)[4], { ...rotation, extra: 'kept' });
  assert.deepEqual(decodeEntry(text), odd);
});

test('a record that is not an entry of this layout reads as null, part by part', () => {
  const good = encodeEntry('api-key', fullEntry());
  const parts = JSON.parse(good);
  const bad = [
    ['not JSON', good.slice(0, -1)],
    ['not an array', JSON.stringify({ 0: 'e' })],
    ['the meta tag', JSON.stringify(['m', ...parts.slice(1)])],
    ['one part short', JSON.stringify(parts.slice(0, 6))],
    ['one part too many', JSON.stringify([...parts, []])],
    ['versions not a list', bareWith(2, {})],
    ['a version not a list', bareWith(2, [{ id: 'v1' }])],
    ['a version that is a string', bareWith(2, ['v1'])],
    ['a version id not a string', bareWith(2, [[true, ['CURRENT'], T1, 'eA==']])],
    ['a version id numbered before any string', bareWith(2, [[0, ['CURRENT'], T1, 'eA==']])],
    ['stages not a list', bareWith(2, [['v1', 'CURRENT', T1, 'eA==']])],
    ['a creation time not a string', bareWith(2, [['v1', ['CURRENT'], null, 'eA==']])],
    ['a value not a string', bareWith(2, [['v1', ['CURRENT'], T1, 7]])],
    ['a value missing', bareWith(2, [['v1', ['CURRENT'], T1]])],
    ['retired not a list', bareWith(3, {})],
    ['a retired version not a list', bareWith(3, [{ id: 'v0', retiredAt: T1 }])],
    ['a retired id not a string', bareWith(3, [[null, T1]])],
    ['a retirement time not a string', bareWith(3, [['v0', false]])],
    ['a retirement time missing', bareWith(3, [['v0']])],
    ['a packed rotation with a field of the wrong type', withPart(4, ['r1', 'fallback', 2, 0, 3, 3, null, 'scheduled', null, 'no', 'ops', null])],
    ['a last rotation numbered past the strings', withPart(5, 99)],
    ['a last rotation that is an object', withPart(5, {})],
    ['drafts not a list', withPart(6, {})],
    ['a packed draft too short', withPart(6, [['switched', 4]])],
  ];
  for (const [what, text] of bad) assert.equal(decodeEntry(text), null, what);
  // The reference: the unchanged record reads, and so does a retired list without entries.
  assert.notEqual(decodeEntry(good), null);
  assert.deepEqual(decodeEntry(withPart(3, [])).retired, []);
  assert.deepEqual(decodeEntry(bareWith(3, [['v0', 1]])), { versions: [{ id: 'v1', stages: ['CURRENT'], createdAt: T1, value: 'eA==' }], retired: [{ id: 'v0', retiredAt: T1 }], rotation: null, lastRotatedAt: null, pendingEvents: [] });
});

test('reading only the versions gives the entry\'s versions, or null when they are damaged', () => {
  const text = encodeEntry('api-key', fullEntry());
  assert.deepEqual(decodeVersions(text), fullEntry().versions);
  assert.deepEqual(decodeVersions(withPart(2, [])), []);
  assert.equal(decodeVersions(withPart(2, [['v1', ['CURRENT'], T1, 7]])), null);
  assert.equal(decodeVersions(withPart(2, [5])), null);
  for (const damaged of [[[true, ['CURRENT'], T1, 'eA==']], [['v1', 'CURRENT', T1, 'eA==']], [['v1', ['CURRENT'], 1, 'eA==']], [['v1', ['CURRENT'], T1]]]) {
    assert.equal(decodeVersions(bareWith(2, damaged)), null, JSON.stringify(damaged));
  }
  assert.equal(decodeVersions(encodeMeta({ evidenceAnchors: {}, confirmedRuns: [] })), null);
});

test('the store meta is written as ["m", meta], and an item is written as its text', () => {
  const meta = { evidenceAnchors: { chain: { seq: 3, hash: 'h', at: T1 } }, confirmedRuns: ['run-1'] };
  assert.equal(encodeMeta(meta), `["m",${JSON.stringify(meta)}]`);
  assert.equal(itemText({ type: 'meta', meta }), encodeMeta(meta));
  const text = encodeEntry('api-key', fullEntry());
  assert.equal(itemText({ type: 'entry', key: 'api-key', text }), text);
});

test('loading a record reads the key of an entry, skips one a later record replaced, and reads the meta', () => {
  const text = encodeEntry('api-key', fullEntry());
  const asked = [];
  assert.deepEqual(loadRecord(text, (key) => (asked.push(key), true)), { type: 'entry', key: 'api-key', text });
  assert.equal(loadRecord(text, (key) => (asked.push(key), false)), 'skip');
  assert.deepEqual(asked, ['api-key', 'api-key']);
  const meta = { evidenceAnchors: {}, confirmedRuns: [] };
  assert.deepEqual(loadRecord(encodeMeta(meta), () => true), { type: 'meta', meta });
});

test('loading a record of another layout gives null, whether it is wanted or not', () => {
  const text = encodeEntry('api-key', fullEntry());
  const meta = { evidenceAnchors: {}, confirmedRuns: [] };
  const bad = [
    ['an entry cut inside its key', text.slice(0, 8)],
    ['an entry cut after its key', text.slice(0, 40)],
    ['an entry whose key is not closed', '["e","api-key]'],
    ['an entry whose key is not a string', '["e",7,[],[],null,null,[]]'],
    ['an entry with a byte after its end', `${text} `],
    ['not JSON', '["m",{'],
    ['an object', JSON.stringify({ m: meta })],
    ['another tag', JSON.stringify(['x', meta])],
    ['a meta with one more part', JSON.stringify(['m', meta, 1])],
    ['a meta with one part less', JSON.stringify(['m'])],
    ['a meta that is not a meta', JSON.stringify(['m', { evidenceAnchors: {} }])],
  ];
  for (const [what, record] of bad) {
    assert.equal(loadRecord(record, () => true), null, what);
    assert.equal(loadRecord(record, () => false), null, what);
  }
});

test('a store meta needs its anchors object and its list of confirmed runs', () => {
  assert.equal(isMeta({ evidenceAnchors: {}, confirmedRuns: [] }), true);
  for (const value of [null, undefined, 'meta', 7, {}, { evidenceAnchors: {} }, { confirmedRuns: [] }, { evidenceAnchors: 'x', confirmedRuns: [] }, { evidenceAnchors: {}, confirmedRuns: {} }]) {
    assert.equal(isMeta(value), false, JSON.stringify(value));
  }
});

test('the engine\'s view of an entry holds no values and the entry\'s own meta', () => {
  const entry = fullEntry();
  const state = toEntryState(entry);
  assert.deepEqual(state, {
    versions: [
      { id: 'v1', stages: ['PREVIOUS'], createdAt: T1 },
      { id: 'v2', stages: ['CURRENT'], createdAt: T2 },
    ],
    retired: entry.retired,
    rotation: entry.rotation,
    lastRotatedAt: T2,
    pendingEvents: entry.pendingEvents,
  });
  assert.ok(!JSON.stringify(state).includes('bmV3'), 'no value in the engine\'s view');
});

test('clone gives a deep copy, and null and undefined as they are', () => {
  const meta = { evidenceAnchors: { c: { seq: 1, hash: 'h', at: T1 } }, confirmedRuns: ['a'] };
  const copy = clone(meta);
  assert.deepEqual(copy, meta);
  copy.evidenceAnchors.c.seq = 2;
  copy.confirmedRuns.push('b');
  assert.deepEqual(meta, { evidenceAnchors: { c: { seq: 1, hash: 'h', at: T1 } }, confirmedRuns: ['a'] });
  assert.equal(clone(null), null);
  assert.equal(clone(undefined), undefined);
});
