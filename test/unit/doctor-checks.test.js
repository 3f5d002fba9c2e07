// The checks of `keyshift doctor` on one target (src/engine/doctor/checks.ts, and deadLock of
// store.ts): each finding's check, severity, message and hint word for word, what makes a rotation
// stale or a secret overdue (and the boundaries), and the public shape `doctor --json` prints.
// Targets of a real project (policies loaded, local store opened); states as the store holds them.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KeyshiftError, INTERNAL_HINT } from '../../dist/errors.js';
import { targetFinding, fromStoreFinding, storeError, staleRotation, overdue, unappendedDrafts, publicFinding, STALE_AFTER_MS } from '../../dist/engine/doctor/checks.js';
import { deadLock } from '../../dist/engine/doctor/store.js';
import { doctorProject, secret } from '../helpers/doctor-project.js';

const HOUR = 3600_000;
const NOW = new Date('2026-11-10T12:00:00.000Z');
const ago = (ms) => new Date(NOW.getTime() - ms).toISOString();

let api; // interval 30d: a rotation is stale after 1 h
let quick; // interval 30m: stale after 30 min
let ticketed; // an environment with requireTicket
let store;

before(async () => {
  const t = { after };
  const p = await doctorProject(t, [
    secret('api'),
    secret('quick', { interval: '30m', fallbackWindow: '10m' }),
    secret('ticketed', { extra: '        requireTicket: true\n', env: 'prod' }),
  ], { provision: false });
  [api, quick, ticketed] = await p.targets();
  store = api.store.location;
});

/** An entry as the local store returns it: CURRENT `v1`, and `rotation` if given. */
const entry = (rotation = null, versions = [{ id: 'v1', stages: ['CURRENT'], createdAt: ago(2 * HOUR) }], lastRotatedAt = ago(2 * HOUR)) => ({
  versions, retired: [], rotation, lastRotatedAt, pendingEvents: [],
});
const rotation = (fields = {}) => ({
  rotationId: 'r-1', phase: 'overlap', newVersionId: 'v2', oldVersionId: 'v1', startedAt: ago(10 * 60_000), switchedAt: null,
  decommissionAfter: null, reason: 'scheduled', ticket: null, emergency: false, operator: 'me', error: null, ...fields,
});
const withNew = [{ id: 'v1', stages: ['CURRENT'], createdAt: ago(2 * HOUR) }, { id: 'v2', stages: ['PENDING'], createdAt: ago(HOUR) }];

describe('targetFinding and fromStoreFinding', () => {
  it('a finding names the secret, environment and store; fixable only with a repair', () => {
    const d = targetFinding(api, 'overdue', 'warning', 'm', 'h');
    assert.deepEqual(d, { secret: 'api', environment: 'dev', store, check: 'overdue', severity: 'warning', message: 'm', hint: 'h', fixable: false, fixed: false, target: api, storeId: api.storeId });
    assert.equal('repair' in d, false);
    const repair = { kind: 'resume', rotationId: 'r-1' };
    const fixable = targetFinding(ticketed, 'stale-pending', 'error', 'm2', 'h2', repair);
    assert.equal(fixable.fixable, true);
    assert.deepEqual(fixable.repair, repair);
    assert.deepEqual([fixable.secret, fixable.environment], ['ticketed', 'prod']);
  });

  it('a store\'s own finding keeps its words; its repair becomes store-ops', () => {
    const ops = [{ type: 'retire', versionId: 'v9' }];
    const d = fromStoreFinding(api, { check: 'foreign-pending', severity: 'error', message: 'foreign', hint: 'look', repair: { ops, action: 'removed it', versionId: 'v9' } });
    assert.deepEqual([d.check, d.severity, d.message, d.hint, d.fixable, d.fixed], ['foreign-pending', 'error', 'foreign', 'look', true, false]);
    assert.deepEqual(d.repair, { kind: 'store-ops', ops, action: 'removed it', versionId: 'v9' });
    const plain = fromStoreFinding(api, { check: 'unknown-versions', severity: 'warning', message: 'odd', hint: 'leave it' });
    assert.equal(plain.fixable, false);
    assert.equal('repair' in plain, false);
  });
});

describe('storeError', () => {
  it('a keyshift error: its own message and hint, and the error as a failed rotate result carries it', () => {
    const error = new KeyshiftError('ERR_STORE_CORRUPT', 'stores/dev.store is damaged', { hint: 'restore it' });
    const d = storeError(error, { store, storeId: 'sid' });
    assert.deepEqual(d, {
      secret: null, environment: null, store, check: 'store-error', severity: 'error', message: 'stores/dev.store is damaged', hint: 'restore it',
      fixable: false, fixed: false, error: { code: 'ERR_STORE_CORRUPT', message: 'stores/dev.store is damaged', hint: 'restore it' }, storeId: 'sid',
    });
    assert.equal('target' in d, false);
  });

  it('on one target: the secret and environment are named; without its own hint, the general one for its code', () => {
    const d = storeError(new KeyshiftError('ERR_STORE_ACCESS_DENIED', 'denied'), { target: quick, store, storeId: quick.storeId });
    const general = 'give the identity keyshift runs as access to this store, then rerun: a rerun resumes where this run stopped';
    assert.deepEqual([d.secret, d.environment, d.message, d.hint], ['quick', 'dev', 'denied', general]);
    assert.deepEqual(d.error, { code: 'ERR_STORE_ACCESS_DENIED', message: 'denied', hint: general });
    assert.equal(d.target, quick);
  });

  it('a full disk is the machine\'s state, named with the store\'s path, not a bug', () => {
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const d = storeError(full, { store, storeId: 'sid' });
    assert.equal(d.message, `${store}: no space left on the device (ENOSPC)`);
    assert.equal(d.error.code, 'ERR_DISK_FULL');
    assert.match(d.hint, /^free space on that file system/);
  });

  it('anything else is an internal error: its message, and the hint says it is a bug', () => {
    for (const [thrown, text] of [[new TypeError('x is undefined'), 'x is undefined'], ['a string', 'a string']]) {
      const d = storeError(thrown, { store, storeId: 'sid' });
      assert.equal(d.message, `internal error: ${text}`);
      assert.equal(d.hint, INTERNAL_HINT);
      assert.deepEqual(d.error, { code: 'ERR_INTERNAL', message: text, hint: INTERNAL_HINT });
    }
  });
});

describe('staleRotation', () => {
  it('no entry, no rotation, or a rotation in fallback: nothing to judge', () => {
    assert.equal(staleRotation(api, null, NOW, true), null);
    assert.equal(staleRotation(api, entry(), NOW, true), null);
    assert.equal(staleRotation(api, entry(rotation({ phase: 'fallback', startedAt: ago(100 * HOUR) }), withNew), NOW, true), null);
  });

  it('in overlap with its new version, young, holder alive: a run is advancing it', () => {
    assert.equal(staleRotation(api, entry(rotation(), withNew), NOW, false), null);
  });

  it('failed: always stuck, with its error (or "unknown error"); fixable by a resume', () => {
    const d = staleRotation(api, entry(rotation({ phase: 'failed', error: 'deploy exited with status 3' }), withNew), NOW, false);
    assert.equal(d.check, 'stale-pending');
    assert.equal(d.severity, 'error');
    assert.equal(d.message, `rotation r-1 is stuck in failed since ${ago(10 * 60_000)}: it failed: deploy exited with status 3`);
    assert.equal(d.hint, 'keyshift rotate api resumes it where it stopped (so does keyshift doctor --fix); or keyshift rollback api --env dev discards the new version');
    assert.deepEqual(d.repair, { kind: 'resume', rotationId: 'r-1' });
    assert.equal(d.fixable, true);
    const unknown = staleRotation(api, entry(rotation({ phase: 'failed' }), withNew), NOW, false);
    assert.equal(unknown.message, `rotation r-1 is stuck in failed since ${ago(10 * 60_000)}: it failed: unknown error`);
  });

  it('every reason at once, in order, joined by "; "', () => {
    const d = staleRotation(api, entry(rotation({ phase: 'failed', error: 'boom', startedAt: ago(3 * HOUR) })), NOW, true);
    assert.equal(d.message, `rotation r-1 is stuck in failed since ${ago(3 * HOUR)}: it failed: boom; its new version v2 was never created; the run that held the store died; it has been in flight for 3h`);
  });

  it('its new version never created, or the holder died: each alone makes it stuck', () => {
    const lost = staleRotation(api, entry(rotation()), NOW, false);
    assert.equal(lost.message, `rotation r-1 is stuck in overlap since ${ago(10 * 60_000)}: its new version v2 was never created`);
    const died = staleRotation(api, entry(rotation(), withNew), NOW, true);
    assert.equal(died.message, `rotation r-1 is stuck in overlap since ${ago(10 * 60_000)}: the run that held the store died`);
  });

  it('in flight for 1 h (STALE_AFTER_MS) with a long interval; for its interval when that is shorter; not a millisecond before', () => {
    assert.equal(STALE_AFTER_MS, HOUR);
    assert.equal(staleRotation(api, entry(rotation({ startedAt: ago(HOUR - 1) }), withNew), NOW, false), null);
    assert.equal(staleRotation(api, entry(rotation({ startedAt: ago(HOUR) }), withNew), NOW, false).message, `rotation r-1 is stuck in overlap since ${ago(HOUR)}: it has been in flight for 60m`);
    assert.equal(staleRotation(quick, entry(rotation({ startedAt: ago(30 * 60_000 - 1) }), withNew), NOW, false), null);
    assert.equal(staleRotation(quick, entry(rotation({ startedAt: ago(30 * 60_000) }), withNew), NOW, false).message, `rotation r-1 is stuck in overlap since ${ago(30 * 60_000)}: it has been in flight for 30m`);
  });

  it('an environment that requires a ticket: reported, never resumed by doctor; the hint names --env and --ticket', () => {
    const d = staleRotation(ticketed, entry(rotation({ startedAt: ago(2 * HOUR) }), withNew), NOW, false);
    assert.equal(d.message, `rotation r-1 is stuck in overlap since ${ago(2 * HOUR)}: it has been in flight for 2h; not resumed by doctor: this environment requires a change ticket`);
    assert.equal(d.hint, 'keyshift rotate ticketed --env prod --ticket <id> resumes it where it stopped; or keyshift rollback ticketed --env prod discards the new version');
    assert.equal(d.fixable, false);
    assert.equal('repair' in d, false);
  });

  it('ages read as seconds, minutes, hours or days, rounded', () => {
    const threshold = (ms) => staleRotation(api, entry(rotation({ startedAt: ago(ms) }), withNew), NOW, false).message.split('in flight for ')[1];
    assert.equal(threshold(HOUR), '60m');
    assert.equal(threshold(7_199_000), '120m');
    assert.equal(threshold(7_200_000), '2h');
    assert.equal(threshold(172_799_000), '48h');
    assert.equal(threshold(172_800_000), '2d');
    assert.equal(threshold(10 * 86_400_000 + 11 * HOUR), '10d');
    assert.equal(threshold(10 * 86_400_000 + 13 * HOUR), '11d');
  });
});

describe('overdue', () => {
  it('not provisioned: a warning, whatever the clock', () => {
    for (const state of [null, entry(null, [])]) {
      const d = overdue(api, state, NOW);
      assert.deepEqual([d.check, d.severity, d.message, d.hint, d.fixable], ['overdue', 'warning', 'api/dev is not provisioned yet (no CURRENT version)', 'keyshift rotate api', false]);
    }
  });

  it('due at its interval after the last rotation: at the due time exactly, not a millisecond before', () => {
    const at = (ms) => overdue(quick, entry(null, undefined, new Date(NOW.getTime() - ms).toISOString()), NOW);
    assert.equal(at(30 * 60_000 - 1), null);
    const due = at(30 * 60_000);
    assert.deepEqual([due.check, due.severity, due.hint, due.fixable], ['overdue', 'warning', 'keyshift rotate quick', false]);
    assert.equal(due.message, `due since ${NOW.toISOString()} (interval 30m), 0s ago`);
    assert.equal(at(30 * 60_000 + 119_499).message, `due since ${ago(119_499)} (interval 30m), 119s ago`);
    assert.equal(at(30 * 60_000 + 119_500).message, `due since ${ago(119_500)} (interval 30m), 2m ago`);
    assert.equal(at(30 * 60_000 + 3 * 86_400_000).message, `due since ${ago(3 * 86_400_000)} (interval 30m), 3d ago`);
  });

  it('without lastRotatedAt, from when its CURRENT was created', () => {
    const state = entry(null, [{ id: 'v1', stages: ['CURRENT'], createdAt: ago(HOUR) }], null);
    assert.equal(overdue(quick, state, NOW).message, `due since ${ago(30 * 60_000)} (interval 30m), 30m ago`);
    assert.equal(overdue(api, state, NOW), null);
  });

  it('not judged while a rotation is in flight (overlap, failed); judged in fallback', () => {
    const old = ago(100 * 86_400_000);
    for (const phase of ['overlap', 'failed']) assert.equal(overdue(api, entry(rotation({ phase }), withNew, old), NOW), null, phase);
    assert.equal(overdue(api, entry(rotation({ phase: 'fallback' }), withNew, old), NOW).check, 'overdue');
  });
});

describe('unappendedDrafts', () => {
  const draft = (runId, event) => ({ runId, event, rotationId: 'r-1', environment: 'dev' });
  const drafts = [draft('run-a', 'issued'), draft('run-a', 'deployed'), draft('run-b', 'switched')];

  it('nothing missing: no finding', () => {
    assert.equal(unappendedDrafts(api, drafts, [], true), null);
  });

  it('records missing from an intact log: fixable by appending them, each run named once', () => {
    const d = unappendedDrafts(api, drafts, [drafts[1], drafts[2]], true);
    assert.deepEqual([d.check, d.severity, d.fixable], ['evidence-gap', 'error', true]);
    assert.equal(d.message, '2 evidence record(s) announced by run-a, run-b (deployed, switched) never reached the log: that run died before appending them');
    assert.equal(d.hint, 'keyshift doctor --fix (or the next keyshift rotate of this store) appends them');
    assert.deepEqual(d.repair, { kind: 'append-drafts', action: 'appended 2 evidence record(s) (deployed, switched) that run-a, run-b announced in the store but never wrote' });
  });

  it('while the log is damaged: not fixable, and the hint says to repair the log first', () => {
    const d = unappendedDrafts(api, [drafts[0]], [drafts[0]], false);
    assert.equal(d.message, '1 evidence record(s) announced by run-a (issued) never reached the log: that run died before appending them; not appended while the log itself is damaged');
    assert.equal(d.hint, 'repair the evidence log first (see the evidence-gap finding about the log), then rerun keyshift doctor --fix');
    assert.equal(d.fixable, false);
    assert.equal('repair' in d, false);
  });
});

describe('deadLock', () => {
  const holder = { pid: 4242, host: 'box', owner: 'keyshift rotate (alice)', token: 't', acquiredAt: '2026-11-01T00:00:00.000Z' };

  it('names the holder, why it is gone, and removes the lock with --fix', () => {
    const d = deadLock('/p/dev.store.lock', holder, 'process 4242 on this host is not running', store, 'sid');
    assert.deepEqual(d, {
      secret: null, environment: null, store, check: 'dead-lock', severity: 'warning',
      message: 'lock /p/dev.store.lock was left by keyshift rotate (alice) (pid 4242 on box, since 2026-11-01T00:00:00.000Z), which is gone: process 4242 on this host is not running',
      hint: 'keyshift doctor --fix removes it (the next keyshift rotate also takes it over); the run that held it may have left work that the other findings describe',
      fixable: true, fixed: false,
      repair: { kind: 'break-lock', path: '/p/dev.store.lock', storeId: 'sid', action: 'removed /p/dev.store.lock, left by keyshift rotate (alice) (pid 4242 on box, since 2026-11-01T00:00:00.000Z) (process 4242 on this host is not running)' },
      storeId: 'sid',
    });
  });

  it('an empty lock file (the evidence log\'s): no holder, no store', () => {
    const d = deadLock('/e/evidence.lock', null, 'it names no holder', null, null);
    assert.equal(d.message, 'lock /e/evidence.lock was left by a run that left it empty, which is gone: it names no holder');
    assert.equal(d.store, null);
    assert.equal('storeId' in d, false);
    assert.deepEqual(d.repair, { kind: 'break-lock', path: '/e/evidence.lock', storeId: null, action: 'removed /e/evidence.lock, left by a run that left it empty (it names no holder)' });
  });
});

describe('publicFinding', () => {
  it('exactly the fields of doctor --json, in order; error only on a store-error', () => {
    const d = { ...targetFinding(api, 'stale-pending', 'error', 'm', 'h', { kind: 'resume', rotationId: 'r' }), leased: true };
    const shown = publicFinding(d);
    assert.deepEqual(Object.keys(shown), ['secret', 'environment', 'store', 'check', 'severity', 'message', 'hint', 'fixable', 'fixed']);
    assert.deepEqual(shown, { secret: 'api', environment: 'dev', store, check: 'stale-pending', severity: 'error', message: 'm', hint: 'h', fixable: true, fixed: false });
    const failed = publicFinding(storeError(new Error('boom'), { store, storeId: 'sid' }));
    assert.deepEqual(Object.keys(failed), ['secret', 'environment', 'store', 'check', 'severity', 'message', 'hint', 'fixable', 'fixed', 'error']);
    assert.deepEqual(failed.error, { code: 'ERR_INTERNAL', message: 'boom', hint: INTERNAL_HINT });
  });
});
