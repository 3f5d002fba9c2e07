// `keyshift/testing`: the conformance suite every SecretStore runs, keyshift's own adapters and
// plugin stores alike (docs/plugins.md). It checks only what the contract (keyshift/store,
// src/stores/contract.ts) promises, through the public interface, with node:test and node:assert:
//   import { testStore } from 'keyshift/testing';
//   testStore('my-store', { create: async () => ({ store, cleanup }) });   // then: node --test
// `create()` returns a fresh, empty store; `cleanup()` (optional) removes whatever it made.
// A valueless store (its values are made by the service, e.g. a KMS key's ARN) also passes
// `valueOf(key, versionId)`: what its readValue must return, read from the service's side.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { SecretValue } from '../dist/public/store.js';

const LOCK = { waitMs: 2_000, owner: 'conformance-suite' };

export function testStore(name, options) {
  const { create } = options;
  // Own property only: every object inherits Object.prototype.valueOf.
  const valueOf = Object.hasOwn(options, 'valueOf') ? options.valueOf : undefined;
  describe(`SecretStore conformance: ${name}`, () => {
    let store;
    let cleanup;
    let held = [];
    const key = () => `conf-${randomBytes(4).toString('hex')}`;
    const lock = async () => {
      const l = await store.lock(LOCK);
      held.push(l);
      return l;
    };

    beforeEach(async () => {
      let real;
      ({ store: real, cleanup } = await create());
      store = withShortIds(real, valueOf);
      held = [];
    });
    afterEach(async () => {
      for (const l of held) await l.release();
      await store.close();
      await cleanup?.();
    });

    it('reads a missing secret as null and its versions as not found', async () => {
      assert.equal(await store.read(key()), null);
      await assert.rejects(store.readValue(key(), 'v-missing'), { code: 'ERR_VERSION_NOT_FOUND', exitCode: 1 });
    });

    it('provisions a CURRENT version and reads it back', async () => {
      const k = key();
      await lock();
      const applied = await store.apply(k, [create1('v1', 'first value', 'CURRENT')], meta());
      assertOneCurrent(applied, 'v1');
      const state = await store.read(k);
      assert.deepEqual(state, applied);
      assert.deepEqual(state.versions.map((v) => [v.id, v.stages]), [['v1', ['CURRENT']]]);
      assert.ok(!Number.isNaN(Date.parse(state.versions[0].createdAt)));
      assert.equal((await store.readValue(k, 'v1')).reveal(), 'first value');
    });

    it('promotes PENDING to CURRENT, keeps the old one as PREVIOUS, then retires it on the next promote', async () => {
      const k = key();
      await lock();
      await store.apply(k, [create1('v1', 'one', 'CURRENT')], meta());
      const pending = await store.apply(k, [create1('v2', 'two', 'PENDING')], meta());
      assert.deepEqual(stagesOf(pending), { v1: ['CURRENT'], v2: ['PENDING'] });
      const switched = await store.apply(k, [{ type: 'promote', versionId: 'v2' }], meta());
      assertOneCurrent(switched, 'v2');
      assert.deepEqual(stagesOf(switched), { v1: ['PREVIOUS'], v2: ['CURRENT'] });
      assert.equal((await store.readValue(k, 'v1')).reveal(), 'one');

      await store.apply(k, [create1('v3', 'three', 'PENDING')], meta());
      const again = await store.apply(k, [{ type: 'promote', versionId: 'v3' }], meta());
      assert.deepEqual(stagesOf(again), { v2: ['PREVIOUS'], v3: ['CURRENT'] });
      assert.deepEqual(again.retired.map((r) => r.id), ['v1']);
      assert.ok(!Number.isNaN(Date.parse(again.retired[0].retiredAt)));
      await assert.rejects(store.readValue(k, 'v1'), { code: 'ERR_VERSION_NOT_FOUND' });
      assert.equal((await store.readValue(k, 'v2')).reveal(), 'two');
    });

    it('rolls back: promoting PREVIOUS makes it CURRENT again, the new one can then be retired', async () => {
      const k = key();
      await lock();
      await store.apply(k, [create1('old', 'old value', 'CURRENT')], meta());
      await store.apply(k, [create1('new', 'new value', 'PENDING'), { type: 'promote', versionId: 'new' }], meta());
      const back = await store.apply(k, [{ type: 'promote', versionId: 'old' }, { type: 'retire', versionId: 'new' }], meta());
      assert.deepEqual(stagesOf(back), { old: ['CURRENT'] });
      assert.deepEqual(back.retired.map((r) => r.id), ['new']);
      assert.equal((await store.readValue(k, 'old')).reveal(), 'old value');
    });

    it('makes create, promote and retire idempotent', async () => {
      const k = key();
      await lock();
      await store.apply(k, [create1('v1', 'one', 'CURRENT')], meta());
      const once = await store.apply(k, [create1('v2', 'two', 'PENDING')], meta());
      const twice = await store.apply(k, [create1('v2', 'a different value', 'PENDING')], meta());
      assert.deepEqual(twice, once);
      assert.equal((await store.readValue(k, 'v2')).reveal(), 'two');
      const promoted = await store.apply(k, [{ type: 'promote', versionId: 'v2' }], meta());
      assert.deepEqual(await store.apply(k, [{ type: 'promote', versionId: 'v2' }], meta()), promoted);
      const retired = await store.apply(k, [{ type: 'retire', versionId: 'v1' }], meta());
      assert.deepEqual(await store.apply(k, [{ type: 'retire', versionId: 'v1' }], meta()), retired);
      assert.deepEqual(await store.apply(k, [{ type: 'retire', versionId: 'never-existed' }], meta()), retired);
      assertOneCurrent(retired, 'v2');
    });

    it('refuses to retire the CURRENT version or to create a second CURRENT, and changes nothing', async () => {
      const k = key();
      await lock();
      const before = await store.apply(k, [create1('v1', 'one', 'CURRENT')], meta());
      await assert.rejects(store.apply(k, [{ type: 'retire', versionId: 'v1' }], meta()), { code: 'ERR_STORE_REFUSED' });
      await assert.rejects(store.apply(k, [create1('v9', 'nine', 'CURRENT')], meta()), { code: 'ERR_STORE_REFUSED' });
      assert.deepEqual(await store.read(k), before);
      assert.equal((await store.readValue(k, 'v1')).reveal(), 'one');
    });

    it('fails a promote of an unknown version with ERR_VERSION_NOT_FOUND and changes nothing', async () => {
      const k = key();
      await lock();
      const before = await store.apply(k, [create1('v1', 'one', 'CURRENT')], meta());
      await assert.rejects(store.apply(k, [{ type: 'promote', versionId: 'nope' }], meta({ lastRotatedAt: 'x' })), { code: 'ERR_VERSION_NOT_FOUND' });
      assert.deepEqual(await store.read(k), before);
    });

    it('applies to several secrets at once without losing any (the engine rotates them concurrently)', async () => {
      const keys = Array.from({ length: 8 }, () => key());
      await lock();
      await Promise.all(keys.map((k, i) => store.apply(k, [create1('v1', `value ${i}`, 'CURRENT')], meta())));
      await Promise.all(keys.map((k) => store.apply(k, [create1('v2', 'next', 'PENDING'), { type: 'promote', versionId: 'v2' }], meta())));
      for (const [i, k] of keys.entries()) {
        assert.deepEqual(stagesOf(await store.read(k)), { v1: ['PREVIOUS'], v2: ['CURRENT'] }, k);
        assert.equal((await store.readValue(k, 'v1')).reveal(), `value ${i}`);
      }
    });

    it('stores the rotation record and pending evidence with the versions and replaces them whole', async () => {
      const k = key();
      await lock();
      const m = meta({ rotation: rotationRecord(), lastRotatedAt: '2026-01-01T00:00:00.000Z', pendingEvents: [evidenceDraft(k)] });
      const applied = await store.apply(k, [create1('v1', 'one', 'CURRENT')], m);
      const state = await store.read(k);
      assert.deepEqual({ rotation: state.rotation, lastRotatedAt: state.lastRotatedAt, pendingEvents: state.pendingEvents }, m);
      assert.deepEqual(applied, state);
      await store.apply(k, [], meta({ rotation: { ...rotationRecord(), phase: 'fallback' } }));
      const replaced = await store.read(k);
      assert.equal(replaced.rotation.phase, 'fallback');
      assert.deepEqual(replaced.pendingEvents, []);
      assert.equal(replaced.lastRotatedAt, null);
    });

    it('round-trips store meta, empty at first', async () => {
      assert.deepEqual(await store.readMeta(), { evidenceAnchors: {}, confirmedRuns: [] });
      await lock();
      const m = { evidenceAnchors: { main: { seq: 12, hash: 'sha256:abc', at: '2026-01-01T00:00:00.000Z' } }, confirmedRuns: ['run-1', 'run-2'] };
      await store.writeMeta(m);
      assert.deepEqual(await store.readMeta(), m);
    });

    it('fingerprints values with a key: prefixed, stable, distinct, never the bare hash', async () => {
      await lock();
      await store.apply(key(), [create1('v1', 'seed', 'CURRENT')], meta()); // a store may need a first write for its key
      const a = store.fingerprint(SecretValue.fromString('password1'));
      assert.match(a, /^hmac-sha256:[0-9a-f]{64}$/);
      assert.equal(store.fingerprint(SecretValue.fromString('password1')), a);
      assert.notEqual(store.fingerprint(SecretValue.fromString('password2')), a);
      const bare = createHash('sha256').update('password1').digest('hex');
      assert.ok(!a.includes(bare), 'fingerprint must not be the unkeyed sha256');
    });

    it('never exposes a value in an EntryState', async () => {
      const k = key();
      const canary = `canary-${randomBytes(8).toString('hex')}`;
      await lock();
      const applied = await store.apply(k, [create1('v1', canary, 'CURRENT')], meta());
      for (const state of [applied, await store.read(k)]) {
        assert.ok(!JSON.stringify(state).includes(canary));
        assert.ok(!JSON.stringify(state).includes(Buffer.from(canary).toString('base64')));
      }
      assert.equal(JSON.stringify(await store.readValue(k, 'v1')), '"[redacted]"');
    });

    it('lets one writer hold the lock: a second waits, then fails with ERR_LOCKED (exit 3)', async () => {
      const first = await store.lock(LOCK);
      const started = Date.now();
      await assert.rejects(store.lock({ waitMs: 200, owner: 'second' }), (error) => {
        assert.equal(error.code, 'ERR_LOCKED');
        assert.equal(error.exitCode, 3);
        return true;
      });
      assert.ok(Date.now() - started >= 150, 'waited for the holder');
      await first.release();
      const second = await store.lock({ waitMs: 200, owner: 'second' });
      await second.release();
    });
  });
}

// The tests name versions v1, v2…; stores see ids of 32+ characters, as AWS requires of a
// ClientRequestToken (keyshift's own ids are 35 characters), and the tests see the short names back.
const long = (id) => (id.length >= 32 ? id : `${id}-${'x'.repeat(31 - id.length)}`);
const short = (id) => id.replace(/-x+$/, '');

// A valueless store (aws-kms: key material never leaves it) gets no values: creates carry null. Its
// readValue must return what `valueOf` reads from the service for that version; when it does, the
// test sees the text it "wrote" (the suite remembers it), and when it does not, a text that fails
// the test's own comparison and says why.
function withShortIds(store, valueOf) {
  const valueless = Boolean(store.capabilities?.valueless);
  if (valueless && !valueOf) throw new Error(`${store.kind} is valueless: testStore needs valueOf(key, versionId)`);
  const written = new Map();
  const toStore = (k, op) => {
    if (op.type !== 'create' || !valueless) return { ...op, versionId: long(op.versionId) };
    if (!written.has(`${k}/${op.versionId}`)) written.set(`${k}/${op.versionId}`, op.value);
    return { ...op, versionId: long(op.versionId), value: null };
  };
  const shorten = (state) =>
    state && {
      ...state,
      versions: state.versions.map((v) => ({ ...v, id: short(v.id) })),
      retired: state.retired.map((r) => ({ ...r, id: short(r.id) })),
    };
  return {
    kind: store.kind,
    location: store.location,
    capabilities: store.capabilities,
    read: async (k) => shorten(await store.read(k)),
    readValue: async (k, id) => {
      const value = await store.readValue(k, long(id));
      if (!valueless) return value;
      const expected = await valueOf(k, long(id));
      if (value.reveal() === expected) return written.get(`${k}/${id}`);
      return SecretValue.fromString(`readValue gave ${JSON.stringify(value.reveal())}, the service holds ${JSON.stringify(expected)}`);
    },
    fingerprint: (value) => store.fingerprint(value),
    lock: (options) => store.lock(options),
    apply: async (k, ops, meta) => shorten(await store.apply(k, ops.map((op) => toStore(k, op)), meta)),
    readMeta: () => store.readMeta(),
    writeMeta: (meta) => store.writeMeta(meta),
    close: () => store.close(),
  };
}

function create1(versionId, text, stage) {
  return { type: 'create', versionId, value: SecretValue.fromString(text), stage };
}

function meta(overrides = {}) {
  return { rotation: null, lastRotatedAt: null, pendingEvents: [], ...overrides };
}

function stagesOf(state) {
  return Object.fromEntries(state.versions.map((v) => [v.id, v.stages]));
}

function assertOneCurrent(state, id) {
  const currents = state.versions.filter((v) => v.stages.includes('CURRENT'));
  assert.deepEqual(currents.map((v) => v.id), [id]);
}

function rotationRecord() {
  return {
    rotationId: 'r-1',
    phase: 'overlap',
    newVersionId: 'v2',
    oldVersionId: 'v1',
    startedAt: '2026-01-01T00:00:00.000Z',
    switchedAt: null,
    decommissionAfter: null,
    reason: 'scheduled',
    ticket: 'SEC-1',
    emergency: false,
    operator: 'alice@host',
    error: null,
  };
}

function evidenceDraft(secret) {
  return {
    event: 'issued',
    rotationId: 'r-1',
    secret,
    environment: 'dev',
    store: 'local',
    fromVersion: 'v1',
    toVersion: 'v2',
    fingerprint: 'hmac-sha256:00',
    at: '2026-01-01T00:00:00.000Z',
    operator: 'alice@host',
    reason: 'scheduled',
    ticket: null,
    emergency: false,
    checks: [{ name: 'ping', ok: true }],
    runId: 'run-1',
  };
}
