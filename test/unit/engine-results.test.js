// What the engine reports: evidence drafts (evidence-drafts.ts), results, exit codes and error
// rows (rotate-result.ts), and `keyshift validate --values` (value-audit.ts), on real local stores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openLocalStore } from '../../dist/stores/local/index.js';
import { SecretValue } from '../../dist/secret-value.js';
import { KeyshiftError, INTERNAL_HINT } from '../../dist/errors.js';
import { evidenceDraft, announceDrafts } from '../../dist/engine/evidence-drafts.js';
import { rotateExitCode, outcomeOnly, evidenceFailed, evidenceFault, rethrowUsage, toErrorInfo } from '../../dist/engine/rotate-result.js';
import { checkStoredValues } from '../../dist/engine/value-audit.js';

const quiet = { child: () => quiet, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-results-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function runInfo(extra = {}) {
  return { runId: 'run-1', operator: 'alice', reason: 'scheduled', ticket: 'CHG-7', emergency: false, now: () => new Date('2026-11-23T10:00:00.000Z'), ...extra };
}

async function localTarget(t) {
  const path = join(tempDir(t), 'test.store');
  const store = openLocalStore({ path }, { KEYSHIFT_MASTER_KEY: randomBytes(32).toString('base64') });
  t.after(() => store.close());
  return { policy: { name: 'db' }, environment: { name: 'prod' }, store, storeId: `local:${path}`, key: 'db' };
}

test('evidenceDraft: the event with the target, the run and the value\'s fingerprint', async (t) => {
  const target = await localTarget(t);
  const value = SecretValue.fromString('secret');
  const check = { hook: 'h', phase: 'deploy', ok: true, exitCode: 0, signal: null, timedOut: false, durationMs: 3 };
  const draft = evidenceDraft(target, runInfo(), 'deployed', { rotationId: 'r-1', fromVersion: 'v1', toVersion: 'v2', value, checks: [check] });
  assert.deepEqual(draft, {
    event: 'deployed',
    rotationId: 'r-1',
    secret: 'db',
    environment: 'prod',
    store: 'local',
    fromVersion: 'v1',
    toVersion: 'v2',
    fingerprint: target.store.fingerprint(value),
    at: '2026-11-23T10:00:00.000Z',
    operator: 'alice',
    reason: 'scheduled',
    ticket: 'CHG-7',
    emergency: false,
    checks: [check],
    runId: 'run-1',
    storeId: target.store.identity(),
    storeLocation: target.store.location,
  });
  assert.match(draft.fingerprint, /^hmac-sha256:[0-9a-f]{64}$/);
  assert.ok(draft.storeId);
});

test('evidenceDraft: no value, no checks, a resumed run and a store without identity', async (t) => {
  const target = await localTarget(t);
  const draft = evidenceDraft(target, runInfo({ resumedBy: 'run-0', emergency: true, ticket: null }), 'failed', { rotationId: null, fromVersion: 'v1', toVersion: null, value: null });
  assert.equal(draft.fingerprint, null);
  assert.deepEqual(draft.checks, []);
  assert.equal(draft.resumedBy, 'run-0');
  assert.equal(draft.emergency, true);
  assert.equal(draft.ticket, null);
  assert.equal(draft.rotationId, null);
  assert.equal(draft.toVersion, null);
  assert.ok(!('resumedBy' in evidenceDraft(target, runInfo({ resumedBy: '' }), 'failed', { rotationId: null, fromVersion: null, toVersion: null, value: null })));
  assert.ok(!('resumedBy' in evidenceDraft(target, runInfo(), 'failed', { rotationId: null, fromVersion: null, toVersion: null, value: null })));
  // A store type without identity (a dotenv file): no storeId field at all.
  const anonymous = { ...target, store: { kind: 'dotenv', location: '/x/.env', fingerprint: () => 'fp' } };
  const plain = evidenceDraft(anonymous, runInfo(), 'provisioned', { rotationId: 'r', fromVersion: null, toVersion: 'v1', value: SecretValue.fromString('x') });
  assert.ok(!('storeId' in plain));
  assert.equal(plain.store, 'dotenv');
  assert.equal(plain.storeLocation, '/x/.env');
  assert.equal(plain.fingerprint, 'fp');
});

test('announceDrafts: this run\'s earlier drafts stay, other runs\' are dropped, new ones follow', () => {
  const mine = { event: 'deployed', runId: 'run-1' };
  const theirs = { event: 'issued', runId: 'run-0' };
  const mine2 = { event: 'verified', runId: 'run-1' };
  const fresh = { event: 'switched', runId: 'run-1' };
  assert.deepEqual(announceDrafts({ pendingEvents: [mine, theirs, mine2] }, runInfo(), [fresh]), [mine, mine2, fresh]);
  assert.deepEqual(announceDrafts({ pendingEvents: [theirs] }, runInfo(), []), []);
  assert.deepEqual(announceDrafts({ pendingEvents: [] }, runInfo(), [fresh]), [fresh]);
});

const result = (outcome) => ({ secret: 's', environment: 'e', action: 'rotate', outcome, fromVersion: null, toVersion: null, rotationId: null });

test('rotateExitCode: 1 when anything failed, 3 when only blocked with nothing changed, else 0', () => {
  assert.equal(rotateExitCode([]), 0);
  assert.equal(rotateExitCode([result('rotated'), result('skipped')]), 0);
  assert.equal(rotateExitCode([result('failed')]), 1);
  assert.equal(rotateExitCode([result('skipped'), result('failed'), result('blocked')]), 1);
  assert.equal(rotateExitCode([result('blocked')]), 3);
  assert.equal(rotateExitCode([result('blocked'), result('skipped')]), 3, 'skipped changed nothing');
  for (const changed of ['provisioned', 'rotated', 'resumed', 'decommissioned', 'rolled-back']) {
    assert.equal(rotateExitCode([result('blocked'), result(changed)]), 1, changed);
    assert.equal(rotateExitCode([result(changed), result('blocked')]), 1, changed);
  }
});

test('outcomeOnly: a result without versions unless given', () => {
  const target = { policy: { name: 'db' }, environment: { name: 'prod' } };
  assert.deepEqual(outcomeOnly(target, 'rotate', 'skipped', { reason: 'not due' }), {
    secret: 'db', environment: 'prod', action: 'rotate', outcome: 'skipped', fromVersion: null, toVersion: null, rotationId: null, reason: 'not due',
  });
  assert.deepEqual(outcomeOnly(target, 'resume', 'failed', { fromVersion: 'v1', rotationId: 'r-1' }), {
    secret: 'db', environment: 'prod', action: 'resume', outcome: 'failed', fromVersion: 'v1', toVersion: null, rotationId: 'r-1',
  });
});

const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', path: '/var/log/evidence.jsonl' });

test('evidenceFailed / evidenceFault: an error of the evidence log is known as one', () => {
  const plain = new Error('log broke');
  assert.equal(evidenceFault(plain), false);
  assert.equal(evidenceFailed(plain), plain);
  assert.equal(evidenceFault(plain), true);
  const disk = evidenceFailed(enospc());
  assert.ok(disk instanceof KeyshiftError);
  assert.equal(disk.code, 'ERR_DISK_FULL');
  assert.equal(disk.message, '/var/log/evidence.jsonl: no space left on the device (ENOSPC)');
  assert.equal(evidenceFault(disk), true);
  assert.equal(evidenceFault(enospc()), false, 'another disk error is a store\'s');
  assert.equal(evidenceFailed('text'), 'text');
  assert.equal(evidenceFault('text'), false);
  assert.equal(evidenceFailed(null), null);
  assert.equal(evidenceFault(null), false);
  assert.equal(evidenceFault(undefined), false);
  assert.equal(evidenceFault(new KeyshiftError('ERR_EVIDENCE_CORRUPT', 'x')), true, 'by its code');
  assert.equal(evidenceFault(new KeyshiftError('ERR_EVIDENCE', 'x')), true);
  assert.equal(evidenceFault(new KeyshiftError('ERR_STORE_CORRUPT', 'x')), false);
  assert.equal(evidenceFault(new KeyshiftError('X_ERR_EVIDENCE', 'x')), false);
  assert.equal(evidenceFault({ code: 'ERR_EVIDENCE_CORRUPT' }), false, 'only a KeyshiftError is judged by its code');
});

test('rethrowUsage: only a usage error (exit 2) is thrown on', () => {
  const usage = new KeyshiftError('ERR_MASTER_KEY_INVALID', 'bad key', { exitCode: 2 });
  assert.throws(() => rethrowUsage(usage), (error) => error === usage);
  rethrowUsage(new KeyshiftError('ERR_STORE_CORRUPT', 'x'));
  rethrowUsage(new KeyshiftError('ERR_TICKET_REQUIRED', 'x', { exitCode: 3 }));
  rethrowUsage(Object.assign(new Error('x'), { exitCode: 2 }));
  rethrowUsage(null);
});

test('toErrorInfo: code, message and hint of any error', () => {
  assert.deepEqual(toErrorInfo(new KeyshiftError('ERR_STORE_CORRUPT', 'damaged', { hint: 'restore it' })), { code: 'ERR_STORE_CORRUPT', message: 'damaged', hint: 'restore it' });
  assert.deepEqual(toErrorInfo(new KeyshiftError('ERR_STORE_THROTTLED', 'slow down')), { code: 'ERR_STORE_THROTTLED', message: 'slow down', hint: 'rerun later to resume: every step is safe to repeat' });
  assert.deepEqual(toErrorInfo(new TypeError('x is undefined')), { code: 'ERR_INTERNAL', message: 'x is undefined', hint: INTERNAL_HINT });
  assert.deepEqual(toErrorInfo('text'), { code: 'ERR_INTERNAL', message: 'text', hint: INTERNAL_HINT });
  const disk = toErrorInfo(enospc());
  assert.equal(disk.code, 'ERR_DISK_FULL');
  assert.equal(disk.message, '/var/log/evidence.jsonl: no space left on the device (ENOSPC)');
  assert.match(disk.hint, /^free space on that file system/);
});

// keyshift validate --values

const RULES = { minLength: 10, minEntropyBits: null, pattern: null, forbidPrevious: false, forbidRepeats: null };

/** Stores `versions` ([id, value] created CURRENT in turn, the older ones becoming PREVIOUS) in the store at `path`. */
async function put(path, env, key, versions) {
  const store = openLocalStore({ path }, env);
  const lock = await store.lock({ waitMs: 1000, owner: 'test' });
  let state = null;
  for (const [id, value] of versions) {
    const ops = state ? [{ type: 'create', versionId: id, value: SecretValue.fromString(value), stage: 'PENDING' }, { type: 'promote', versionId: id }] : [{ type: 'create', versionId: id, value: SecretValue.fromString(value), stage: 'CURRENT' }];
    state = await store.apply(key, ops, { rotation: null, lastRotatedAt: null, pendingEvents: [] });
  }
  await lock.release();
  await store.close();
}

function audit(t, rules = RULES) {
  const dir = tempDir(t);
  const env = { KEYSHIFT_MASTER_KEY: randomBytes(32).toString('base64') };
  const spec = (name, key) => ({ type: 'local', path: join(dir, `${name}.store`), key });
  const policies = [
    { name: 'api', validate: rules, environments: [{ name: 'dev', store: spec('dev', 'api') }, { name: 'prod', store: spec('prod', 'api') }] },
    { name: 'free', validate: null, environments: [{ name: 'dev', store: spec('dev', 'free') }] },
    { name: 'db', validate: rules, environments: [{ name: 'prod', store: spec('prod', 'db') }] },
  ];
  const ctx = { env, logger: quiet };
  const check = (selection = {}, context = ctx) => checkStoredValues(context, policies, { names: [], all: false, envs: [], ...selection });
  return { dir, env, ctx, policies, check, path: (name) => join(dir, `${name}.store`) };
}

const row = (secret, environment, status, extra = {}) => ({ secret, environment, versionId: null, status, failed: [], error: null, ...extra });
const minLength = { rule: 'minLength', requirement: 'at least 10 characters' };

test('checkStoredValues: each CURRENT value of a secret with rules, ok, rejected or missing', async (t) => {
  const a = audit(t);
  assert.deepEqual(await a.check(), [row('api', 'dev', 'missing'), row('api', 'prod', 'missing'), row('db', 'prod', 'missing')]);
  await put(a.path('dev'), a.env, 'api', [['v1', 'short'], ['v2', 'long enough value']]);
  await put(a.path('dev'), a.env, 'free', [['v1', 'x']]);
  await put(a.path('prod'), a.env, 'db', [['v1', 'long enough value'], ['v2', 'short']]);
  assert.deepEqual(await a.check(), [
    row('api', 'dev', 'ok', { versionId: 'v2' }),
    row('api', 'prod', 'missing'),
    row('db', 'prod', 'rejected', { versionId: 'v2', failed: [minLength] }),
  ]);
  assert.deepEqual(await a.check({ envs: ['prod'] }), [row('api', 'prod', 'missing'), row('db', 'prod', 'rejected', { versionId: 'v2', failed: [minLength] })]);
  assert.deepEqual(await a.check({ names: ['db', 'free'] }), [row('db', 'prod', 'rejected', { versionId: 'v2', failed: [minLength] })]);
});

test('checkStoredValues: forbidPrevious compares CURRENT with the other versions only', async (t) => {
  const a = audit(t, { ...RULES, forbidPrevious: true });
  await put(a.path('dev'), a.env, 'api', [['v1', 'long enough value']]);
  await put(a.path('prod'), a.env, 'api', [['v1', 'long enough value'], ['v2', 'long enough value']]);
  await put(a.path('prod'), a.env, 'db', [['v1', 'long enough value'], ['v2', 'another long value']]);
  assert.deepEqual(await a.check(), [
    row('api', 'dev', 'ok', { versionId: 'v1' }),
    row('api', 'prod', 'rejected', { versionId: 'v2', failed: [{ rule: 'forbidPrevious', requirement: 'differs from every value the store still holds' }] }),
    row('db', 'prod', 'ok', { versionId: 'v2' }),
  ]);
  const lax = audit(t);
  await put(lax.path('prod'), lax.env, 'api', [['v1', 'long enough value'], ['v2', 'long enough value']]);
  assert.deepEqual((await lax.check({ names: ['api'], envs: ['prod'] }))[0].status, 'ok');
});

test('checkStoredValues: a store that cannot be read is an error row; the others are still checked', async (t) => {
  const a = audit(t);
  await put(a.path('prod'), a.env, 'db', [['v1', 'long enough value']]);
  writeFileSync(a.path('dev'), 'not a keyshift store\n');
  const rows = await a.check();
  assert.deepEqual(rows.map((r) => [r.secret, r.environment, r.status, r.versionId]), [['api', 'dev', 'error', null], ['api', 'prod', 'missing', null], ['db', 'prod', 'ok', 'v1']]);
  const { error } = rows[0];
  assert.equal(error.code, 'ERR_STORE_CORRUPT');
  assert.match(error.message, new RegExp(a.path('dev').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  // The store's own error, with its own hint.
  const direct = openLocalStore({ path: a.path('dev') }, a.env);
  t.after(() => direct.close());
  const thrown = await direct.read('api').then(() => null, (e) => e);
  assert.equal(error.message, thrown.message);
  assert.ok(thrown.hint);
  assert.equal(error.hint, thrown.hint);
  assert.deepEqual(rows[0].failed, []);
});

test('checkStoredValues: a malformed master key is the whole run\'s usage error', async (t) => {
  const a = audit(t);
  await put(a.path('dev'), a.env, 'api', [['v1', 'long enough value']]);
  await assert.rejects(a.check({}, { env: { KEYSHIFT_MASTER_KEY: 'not-a-key' }, logger: quiet }), (error) => {
    assert.equal(error.code, 'ERR_MASTER_KEY_INVALID');
    assert.equal(error.exitCode, 2);
    return true;
  });
});
