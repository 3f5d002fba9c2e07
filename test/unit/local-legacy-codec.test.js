// Records of store format 1 (JSON objects, the entry's engine meta as JSON text inside), which
// keyshift still reads for users upgrading (src/stores/local/legacy-codec.ts). A well-formed record
// keeps everything it held, rotation in progress included; a record missing a field or holding one
// of the wrong type is refused (null: the store then reports damage) rather than read as a partial
// entry. test/unit/local-store-format.test.js reads a real format-1 store; this checks each field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadLegacyRecord } from '../../dist/stores/local/legacy-codec.js';
import { decodeEntry } from '../../dist/stores/local/entry-codec.js';

const rotation = {
  rotationId: 'r-1', phase: 'switched', newVersionId: 'v2', oldVersionId: 'v1', startedAt: '2026-01-02T00:00:00.000Z',
  switchedAt: '2026-01-02T00:00:01.000Z', decommissionAfter: '2026-01-04T00:00:01.000Z', reason: 'scheduled', ticket: null,
  emergency: false, operator: 'ops', error: null,
};
const draft = {
  event: 'switched', rotationId: 'r-1', secret: 'api', environment: 'prod', store: 'local', fromVersion: 'v1', toVersion: 'v2',
  fingerprint: null, at: '2026-01-02T00:00:01.000Z', operator: 'ops', reason: 'scheduled', ticket: null, emergency: false, checks: [], runId: 'run-1',
};
const version = (id, stages) => ({ id, stages, createdAt: '2026-01-01T00:00:00.000Z', value: Buffer.from(`value-${id}`).toString('base64') });
const entryMeta = { rotation, lastRotatedAt: '2026-01-02T00:00:01.000Z', pendingEvents: [draft] };
const record = (overrides = {}) => ({
  type: 'entry',
  key: 'api',
  versions: [version('v1', ['PREVIOUS']), version('v2', ['CURRENT'])],
  retired: [{ id: 'v0', retiredAt: '2026-01-01T12:00:00.000Z' }],
  meta: JSON.stringify(entryMeta),
  ...overrides,
});
const load = (value, isWanted = () => true) => loadLegacyRecord(typeof value === 'string' ? value : JSON.stringify(value), isWanted);

test('a format-1 entry keeps its versions, retired versions, rotation in progress, last rotation and pending evidence', () => {
  const loaded = load(record());
  assert.equal(loaded.type, 'entry');
  assert.equal(loaded.key, 'api');
  assert.deepEqual(decodeEntry(loaded.text), {
    versions: record().versions,
    retired: record().retired,
    ...entryMeta,
  });
});

test('a format-1 entry whose meta has no rotation, date or drafts reads as none', () => {
  const loaded = load(record({ meta: '{}' }));
  assert.deepEqual(decodeEntry(loaded.text), { versions: record().versions, retired: record().retired, rotation: null, lastRotatedAt: null, pendingEvents: [] });
});

test('the format-1 store meta record is read; an entry a later record replaced is skipped', () => {
  const meta = { evidenceAnchors: { main: { seq: 3 } }, confirmedRuns: ['run-0'] };
  assert.deepEqual(load({ type: 'meta', meta }), { type: 'meta', meta });
  assert.equal(load({ type: 'meta', meta: { confirmedRuns: [] } }), null);
  assert.equal(load(record(), (key) => key !== 'api'), 'skip');
});

test('a format-1 record missing a field or holding a wrong type is refused, never read as a partial entry', () => {
  const withoutVersionField = (field) => record({ versions: [Object.fromEntries(Object.entries(version('v1', ['CURRENT'])).filter(([name]) => name !== field))] });
  const bad = {
    'not JSON': '{"type":"entry",',
    'an unknown record type': record({ type: 'entries' }),
    'a key that is not a string': record({ key: 7 }),
    'no versions list': record({ versions: undefined }),
    'versions as an object': record({ versions: { v1: version('v1', ['CURRENT']) } }),
    'no retired list': record({ retired: undefined }),
    'meta as an object, not JSON text': record({ meta: entryMeta }),
    'meta as a number': record({ meta: 0 }),
    'meta text that is not JSON': record({ meta: '{rotation:' }),
    'a version that is null': record({ versions: [null] }),
    'a version without an id': withoutVersionField('id'),
    'a version without stages': withoutVersionField('stages'),
    'a version without a creation date': withoutVersionField('createdAt'),
    'a version without a value': withoutVersionField('value'),
    'a value that is not a string': record({ versions: [{ ...version('v1', ['CURRENT']), value: 7 }] }),
    'a retired version that is null': record({ retired: [null] }),
    'a retired version without an id': record({ retired: [{ retiredAt: '2026-01-01T12:00:00.000Z' }] }),
    'a retired version without a date': record({ retired: [{ id: 'v0' }] }),
  };
  for (const [name, value] of Object.entries(bad)) assert.equal(load(value), null, name);
});
