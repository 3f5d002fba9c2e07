// The version ops of the local (and file) store as a pure function (src/stores/local/entry-ops.ts,
// the semantics of src/stores/contract.ts): create, promote, retire, rewrap, each idempotent so a
// rerun after a crash may repeat it, and every refusal leaving the entry it was given unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyOps, notFound } from '../../dist/stores/local/entry-ops.js';
import { SecretValue } from '../../dist/secret-value.js';

const WHERE = 'local store dev.store, secret api-key';
const NOW = '2026-12-02T10:00:00.000Z';
const EARLIER = '2026-12-01T10:00:00.000Z';
const META = { rotation: null, lastRotatedAt: null, pendingEvents: [] };
const b64 = (text) => Buffer.from(text).toString('base64');
const create = (versionId, stage, text = `value of ${versionId}`) => ({ type: 'create', versionId, stage, value: SecretValue.fromString(text) });
const promote = (versionId) => ({ type: 'promote', versionId });
const retire = (versionId) => ({ type: 'retire', versionId });
const version = (id, stages, createdAt = EARLIER) => ({ id, stages, createdAt, value: b64(`value of ${id}`) });

/** CURRENT v1, PENDING v2, nothing retired. */
const entry = (extra = {}) => ({ versions: [version('v1', ['CURRENT']), version('v2', ['PENDING'])], retired: [], rotation: null, lastRotatedAt: null, pendingEvents: [], ...extra });

function refusedWith(code, message) {
  return (error) => {
    assert.equal(error.code, code);
    assert.equal(error.message, message);
    if (code === 'ERR_STORE_REFUSED') assert.equal(error.hint, 'the store was left unchanged; run `keyshift status` to see its versions');
    return true;
  };
}

test('a new secret is created as CURRENT with its value in base64 and the time of the write', () => {
  const next = applyOps(undefined, [create('v1', 'CURRENT', 's3cret')], META, NOW, WHERE);
  assert.deepEqual(next, { versions: [{ id: 'v1', stages: ['CURRENT'], createdAt: NOW, value: b64('s3cret') }], retired: [], rotation: null, lastRotatedAt: null, pendingEvents: [] });
});

test('a new secret created PENDING and promoted in the same write is CURRENT (there was no CURRENT to demote)', () => {
  const next = applyOps(undefined, [create('v1', 'PENDING', 's3cret'), promote('v1')], META, NOW, WHERE);
  assert.deepEqual(next.versions, [{ id: 'v1', stages: ['CURRENT'], createdAt: NOW, value: b64('s3cret') }]);
  assert.deepEqual(next.retired, []);
});

test('the entry meta given replaces the old one; missing fields become null and []', () => {
  const rotation = { rotationId: 'r1', phase: 'overlap' };
  const drafts = [{ event: 'created' }];
  const prev = entry({ rotation: { rotationId: 'old' }, lastRotatedAt: EARLIER, pendingEvents: [{ event: 'old' }] });
  const next = applyOps(prev, [], { rotation, lastRotatedAt: NOW, pendingEvents: drafts, extra: 'dropped' }, NOW, WHERE);
  assert.deepEqual(next, { versions: prev.versions, retired: [], rotation, lastRotatedAt: NOW, pendingEvents: drafts });
  assert.deepEqual(applyOps(prev, [], {}, NOW, WHERE), { versions: prev.versions, retired: [], rotation: null, lastRotatedAt: null, pendingEvents: [] });
});

test('promote: the target becomes CURRENT, the old CURRENT PREVIOUS, the old PREVIOUS is retired with its value', () => {
  const prev = { ...entry(), versions: [version('v0', ['PREVIOUS']), version('v1', ['CURRENT']), version('v2', ['PENDING'])] };
  const next = applyOps(prev, [promote('v2')], META, NOW, WHERE);
  assert.deepEqual(next.versions, [version('v1', ['PREVIOUS']), version('v2', ['CURRENT'])]);
  assert.deepEqual(next.retired, [{ id: 'v0', retiredAt: NOW }]);
  // Repeated after a crash: nothing more changes.
  assert.deepEqual(applyOps(next, [promote('v2')], META, NOW, WHERE), next);
});

test('promote of the PREVIOUS version swaps it back without retiring anything', () => {
  const prev = { ...entry(), versions: [version('v1', ['PREVIOUS']), version('v2', ['CURRENT'])] };
  const next = applyOps(prev, [promote('v1')], META, NOW, WHERE);
  assert.deepEqual(next.versions, [version('v1', ['CURRENT']), version('v2', ['PREVIOUS'])]);
  assert.deepEqual(next.retired, []);
});

test('retire removes a version and its value; retiring it again or an unknown id changes nothing', () => {
  const next = applyOps(entry(), [retire('v2')], META, NOW, WHERE);
  assert.deepEqual(next.versions, [version('v1', ['CURRENT'])]);
  assert.deepEqual(next.retired, [{ id: 'v2', retiredAt: NOW }]);
  assert.ok(!JSON.stringify(next).includes(b64('value of v2')), 'the value is gone');
  assert.deepEqual(applyOps(next, [retire('v2'), retire('nope')], META, NOW, WHERE), next);
});

test('only the last five retired versions are remembered, a retired id once, newest last', () => {
  const retired = ['r1', 'r2', 'r3', 'r4', 'r5'].map((id) => ({ id, retiredAt: EARLIER }));
  const prev = entry({ retired });
  const next = applyOps(prev, [retire('v2')], META, NOW, WHERE);
  assert.deepEqual(next.retired.map((r) => r.id), ['r2', 'r3', 'r4', 'r5', 'v2']);
  // A version with the id of a remembered retired one (an old store) is retired once, at the new time.
  const again = { ...entry({ retired: [{ id: 'v2', retiredAt: EARLIER }, { id: 'r9', retiredAt: EARLIER }] }) };
  assert.deepEqual(applyOps(again, [retire('v2')], META, NOW, WHERE).retired, [{ id: 'r9', retiredAt: EARLIER }, { id: 'v2', retiredAt: NOW }]);
});

test('create of an existing version is a no-op, even with another stage or value', () => {
  const prev = entry();
  assert.deepEqual(applyOps(prev, [create('v2', 'PENDING', 'other'), create('v1', 'PENDING')], META, NOW, WHERE).versions, prev.versions);
});

test('a PENDING version is created next to the CURRENT one', () => {
  const prev = { ...entry(), versions: [version('v1', ['CURRENT'])] };
  const next = applyOps(prev, [create('v2', 'PENDING', 'new')], META, NOW, WHERE);
  assert.deepEqual(next.versions, [version('v1', ['CURRENT']), { id: 'v2', stages: ['PENDING'], createdAt: NOW, value: b64('new') }]);
});

test('rewrap replaces only the value of a version, in place', () => {
  const prev = entry();
  const next = applyOps(prev, [{ type: 'rewrap', versionId: 'v1', value: SecretValue.fromString('wrapped') }], META, NOW, WHERE);
  assert.deepEqual(next.versions, [{ ...version('v1', ['CURRENT']), value: b64('wrapped') }, version('v2', ['PENDING'])]);
});

test('refused ops name the secret and the reason, and leave the entry given unchanged', () => {
  const cases = [
    [[create('v3', 'PENDING')], 'ERR_STORE_REFUSED', `${WHERE}: cannot create v3 as PENDING: v2 already is PENDING`],
    [[create('v3', 'CURRENT')], 'ERR_STORE_REFUSED', `${WHERE}: cannot create v3 as CURRENT: v1 already is CURRENT`],
    [[create('v3', 'PREVIOUS')], 'ERR_STORE_REFUSED', `${WHERE}: cannot create a version with stage PREVIOUS`],
    [[create('v0', 'PENDING')], 'ERR_STORE_REFUSED', `${WHERE}: version v0 was retired; a retired version is never brought back`],
    [[retire('v1')], 'ERR_STORE_REFUSED', `${WHERE}: cannot retire v1: it is the CURRENT version`],
    [[promote('v9')], 'ERR_VERSION_NOT_FOUND', `${WHERE}: version v9 does not exist (it may have been retired)`],
    [[{ type: 'rewrap', versionId: 'v9', value: SecretValue.fromString('x') }], 'ERR_VERSION_NOT_FOUND', `${WHERE}: version v9 does not exist (it may have been retired)`],
    [[{ type: 'rewrap', versionId: 'v1', value: 'plain text' }], 'ERR_INTERNAL', `rewrap of v1 in ${WHERE} has no SecretValue (this is a bug)`],
    [[{ type: 'create', versionId: 'v3', stage: 'PENDING', value: 'plain text' }], 'ERR_INTERNAL', `create of v3 in ${WHERE} has no SecretValue (this is a bug)`],
    [[{ type: 'create', versionId: 'v3', stage: 'PENDING', value: null }], 'ERR_INTERNAL', `create of v3 in ${WHERE} has no SecretValue (this is a bug)`],
    [[{ type: 'restore', versionId: 'v0' }], 'ERR_INTERNAL', `unknown version op "restore" for ${WHERE} (this is a bug)`],
    [[create('', 'PENDING')], 'ERR_INTERNAL', `invalid version id for ${WHERE} (this is a bug)`],
    [[create('x'.repeat(201), 'PENDING')], 'ERR_INTERNAL', `invalid version id for ${WHERE} (this is a bug)`],
    [[{ type: 'create', versionId: 7, stage: 'PENDING', value: SecretValue.fromString('x') }], 'ERR_INTERNAL', `invalid version id for ${WHERE} (this is a bug)`],
    // A later op refused: the earlier ones of the same call are not kept either.
    [[retire('v2'), retire('v1')], 'ERR_STORE_REFUSED', `${WHERE}: cannot retire v1: it is the CURRENT version`],
  ];
  for (const [ops, code, message] of cases) {
    const prev = entry({ retired: [{ id: 'v0', retiredAt: EARLIER }] });
    const before = JSON.stringify(prev);
    assert.throws(() => applyOps(prev, ops, META, NOW, WHERE), refusedWith(code, message), message);
    assert.equal(JSON.stringify(prev), before, `unchanged after: ${message}`);
  }
  // The longest id allowed.
  assert.equal(applyOps(undefined, [create('x'.repeat(200), 'CURRENT')], META, NOW, WHERE).versions[0].id, 'x'.repeat(200));
});

test('ops that would leave no CURRENT, or two, are refused; an entry with no versions at all is allowed', () => {
  assert.throws(() => applyOps(undefined, [create('v1', 'PENDING')], META, NOW, WHERE), refusedWith('ERR_STORE_REFUSED', `${WHERE}: the ops would leave 0 CURRENT versions; a secret always has exactly one`));
  const two = { ...entry(), versions: [version('v1', ['CURRENT']), version('v2', ['CURRENT'])] };
  assert.throws(() => applyOps(two, [], META, NOW, WHERE), refusedWith('ERR_STORE_REFUSED', `${WHERE}: the ops would leave 2 CURRENT versions; a secret always has exactly one`));
  assert.deepEqual(applyOps(undefined, [], META, NOW, WHERE).versions, []);
});

test('promote and retire never change the entry they were given (the next entry is a copy)', () => {
  const prev = { ...entry(), versions: [version('v0', ['PREVIOUS']), version('v1', ['CURRENT']), version('v2', ['PENDING'])], retired: [{ id: 'old', retiredAt: EARLIER }] };
  const before = JSON.stringify(prev);
  applyOps(prev, [promote('v2'), retire('v1')], META, NOW, WHERE);
  assert.equal(JSON.stringify(prev), before);
});

test('the not-found error says how to see the versions', () => {
  const error = notFound(WHERE, 'v9');
  assert.equal(error.code, 'ERR_VERSION_NOT_FOUND');
  assert.equal(error.message, `${WHERE}: version v9 does not exist (it may have been retired)`);
  assert.equal(error.hint, 'run `keyshift status` to see which versions the store holds');
});
