// The compact record encoding of store format 2 (docs/local-store.md): a record of the known
// fields and types is stored as an array with repeated strings numbered, anything else stays the
// plain object so nothing is lost, and a packed array that does not fit the fields is refused
// (the store then reports damage instead of inventing a record).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packRecord, unpackRecord, StringRefs, StringTable } from '../../dist/stores/local/record-codec.js';

const FIELDS = [
  { name: 'id', kind: 'string' },
  { name: 'from', kind: 'string|null' },
  { name: 'urgent', kind: 'boolean' },
  { name: 'checks', kind: 'array' },
  { name: 'count', kind: 'number' },
  { name: 'limit', kind: 'number|null', optional: true },
  { name: 'note', kind: 'string', optional: true },
];
const full = { id: 'v1', from: 'v0', urgent: true, checks: [{ ok: true }], count: 3, limit: null, note: 'v1' };

function roundTrip(records) {
  const refs = new StringRefs();
  const packed = records.map((record) => packRecord(record, FIELDS, refs));
  const table = new StringTable();
  return { packed, unpacked: packed.map((item) => unpackRecord(JSON.parse(JSON.stringify(item)), FIELDS, table)) };
}

test('a record of the known fields is packed in field order, repeated strings as their number', () => {
  const second = { id: 'v2', from: 'v1', urgent: false, checks: [], count: 0 };
  const { packed, unpacked } = roundTrip([full, second]);
  assert.deepEqual(packed, [
    ['v1', 'v0', true, [{ ok: true }], 3, null, 0],
    ['v2', 0, false, [], 0],
  ]);
  assert.deepEqual(unpacked, [full, second]);
});

test('the optional tail may be absent, entirely or from some field on', () => {
  const { packed, unpacked } = roundTrip([
    { id: 'a', from: null, urgent: false, checks: [], count: 1, limit: 5 },
    { id: 'b', from: null, urgent: false, checks: [], count: 1.5 },
  ]);
  assert.deepEqual(packed, [['a', null, false, [], 1, 5], ['b', null, false, [], 1.5]]);
  assert.deepEqual(unpacked[0], { id: 'a', from: null, urgent: false, checks: [], count: 1, limit: 5 });
  assert.deepEqual(unpacked[1], { id: 'b', from: null, urgent: false, checks: [], count: 1.5 });
});

const unfit = [
  ['an unknown field', { ...full, extra: 1 }],
  ['a required field missing', { id: 'v1', from: 'v0', urgent: true, checks: [], limit: null }],
  ['the last required field missing', { id: 'v1', from: 'v0', urgent: true, checks: [] }],
  ['a later optional field present after an absent one', { id: 'v1', from: 'v0', urgent: true, checks: [], count: 1, note: 'x' }],
  ['a number as a string', { ...full, id: 7 }],
  ['a number where string|null is expected', { ...full, from: 7 }],
  ['a string as a boolean', { ...full, urgent: 'yes' }],
  ['an object as an array', { ...full, checks: {} }],
  ['a string as a number', { ...full, count: '3' }],
  ['null as a number', { ...full, count: null }],
  ['Infinity as a number', { ...full, count: Infinity }],
  ['a string as number|null', { ...full, limit: '5' }],
];
for (const [name, record] of unfit) {
  test(`a record with ${name} is kept as the plain object and reads back the same`, () => {
    const refs = new StringRefs();
    const packed = packRecord(record, FIELDS, refs);
    assert.equal(packed, record);
    assert.deepEqual(unpackRecord(packed, FIELDS, new StringTable()), record);
  });
}

test('undefined members do not stop a record from being packed', () => {
  const packed = packRecord({ ...full, ghost: undefined }, FIELDS, new StringRefs());
  assert.ok(Array.isArray(packed));
});

const bad = [
  ['too many values', ['v1', 'v0', true, [], 3, null, 'n', 'extra']],
  ['too few values', ['v1', 'v0', true, []]],
  ['a number that names no earlier string', [9, 'v0', true, [], 3]],
  ['a boolean in a string field', [true, 'v0', true, [], 3]],
  ['a string in a boolean field', ['v1', 'v0', 'true', [], 3]],
  ['an object in an array field', ['v1', 'v0', true, {}, 3]],
  ['a string in a number field', ['v1', 'v0', true, [], '3']],
  ['a string in a number|null field', ['v1', 'v0', true, [], 3, 'x']],
  ['a boolean in a string|null field', ['v1', false, true, [], 3]],
  ['not an array or object', 'v1'],
  ['null', null],
];
for (const [name, packed] of bad) {
  test(`a packed record with ${name} is refused`, () => {
    assert.equal(unpackRecord(packed, FIELDS, new StringTable()), null);
  });
}

test('string numbers refer to strings in the order they were first written, across records', () => {
  const table = new StringTable();
  assert.deepEqual(unpackRecord(['a', 'b', true, [], 1], FIELDS, table), { id: 'a', from: 'b', urgent: true, checks: [], count: 1 });
  assert.deepEqual(unpackRecord([1, 0, false, [], 2, null, 1], FIELDS, table), { id: 'b', from: 'a', urgent: false, checks: [], count: 2, limit: null, note: 'b' });
  assert.deepEqual(packRecord({ id: 'x', from: 'x', urgent: true, checks: [], count: 1, limit: 0, note: 'x' }, FIELDS, new StringRefs()), ['x', 0, true, [], 1, 0, 0]);
});

test('an absent optional field that null cannot stand for is packed as null when a later field is present', () => {
  // Like an evidence draft with a storeId but no error: [..., null, storeId].
  const fields = [{ name: 'id', kind: 'string' }, { name: 'error', kind: 'string', optional: true }, { name: 'count', kind: 'number', optional: true }];
  const refs = new StringRefs();
  const packed = packRecord({ id: 'a', count: 2 }, fields, refs);
  assert.deepEqual(packed, ['a', null, 2]);
  assert.deepEqual(unpackRecord(JSON.parse(JSON.stringify(packed)), fields, new StringTable()), { id: 'a', count: 2 });
});

test('a packed record that is neither an array nor an object is refused', () => {
  for (const packed of ['v1', 7, true, null]) assert.equal(unpackRecord(packed, FIELDS, new StringTable()), null, String(packed));
});
