// The comparison of a store with the evidence log (src/engine/store-rollback.ts), on a real local
// store and a real evidence log: the cases the end-to-end tests cannot isolate.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalStore } from '../../dist/stores/local/index.js';
import { EvidenceLog } from '../../dist/evidence/index.js';
import { findRollbacks } from '../../dist/engine/store-rollback.js';
import { SecretValue } from '../../dist/secret-value.js';

const draft = (event, from, to, extra = {}) => ({
  event, rotationId: 'r-1', secret: 'api', environment: 'dev', store: 'local', fromVersion: from, toVersion: to,
  fingerprint: null, at: '2026-01-01T00:00:00.000Z', operator: 'me', reason: 'scheduled', ticket: null,
  emergency: false, checks: [], runId: 'run-1', ...extra,
});

const CURRENT_V1 = [{ type: 'create', versionId: 'v1', value: SecretValue.fromString('one'), stage: 'CURRENT' }];

async function setup(t, { anchorSeq, records, pendingEvents = [], confirmed = ['run-1'], ops = CURRENT_V1 }) {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-rollback-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = openLocalStore({ path: join(dir, 'dev.store') }, { KEYSHIFT_MASTER_KEY: randomBytes(32).toString('base64') });
  t.after(() => store.close());
  const log = new EvidenceLog(join(dir, 'evidence'));
  const written = await log.append(records.map((r) => ({ storeId: store.identity(), storeLocation: store.location, ...r })));
  await log.close();
  const lock = await store.lock({ waitMs: 1000, owner: 'test' });
  await store.apply('api', ops, { rotation: null, lastRotatedAt: null, pendingEvents });
  const anchor = written[anchorSeq - 1];
  await store.writeMeta({ evidenceAnchors: { [written[0].hash]: { seq: anchor.seq, hash: anchor.hash, at: 't' } }, confirmedRuns: confirmed });
  await lock.release();
  const target = { policy: { name: 'api' }, environment: { name: 'dev' }, store, storeId: 'local:dev', key: 'api' };
  const read = async () => [{ target, state: await store.read('api'), meta: await store.readMeta() }];
  return { evidenceDir: join(dir, 'evidence'), read };
}

describe('stores against the evidence', () => {
  it('an anchor older than the log\'s last record about the store is a finding, even when CURRENT agrees', async (t) => {
    const s = await setup(t, { anchorSeq: 1, records: [draft('provisioned', null, 'v1'), draft('issued', 'v1', 'v2')] });
    const problems = await findRollbacks(s.evidenceDir, await s.read());
    assert.deepEqual(problems.map((p) => [p.check, p.code]), [['store-rolled-back', 'ERR_STORE_ROLLED_BACK']]);
    assert.match(problems[0].message, /recorded the evidence log up to seq 1, but the log holds seq 2/);
  });

  it('an anchor at the log\'s last record is no finding', async (t) => {
    const s = await setup(t, { anchorSeq: 2, records: [draft('provisioned', null, 'v1'), draft('issued', 'v1', 'v2')] });
    assert.deepEqual(await findRollbacks(s.evidenceDir, await s.read()), []);
  });

  it('a run that died before its anchor (unconfirmed drafts) is no finding: the next run completes it', async (t) => {
    const records = [draft('provisioned', null, 'v1'), draft('issued', 'v1', 'v2', { runId: 'run-2' })];
    const s = await setup(t, { anchorSeq: 1, records, pendingEvents: [records[1]], confirmed: ['run-1'] });
    assert.deepEqual(await findRollbacks(s.evidenceDir, await s.read()), []);
  });

  it('a CURRENT the evidence replaced, or a version it retired, is a rollback; a store ahead of the log is not', async (t) => {
    // The store holds v1, made before the evidence switched to v9: an older copy.
    const later = { at: new Date(Date.now() + 60_000).toISOString() };
    const behind = await setup(t, { anchorSeq: 2, records: [draft('provisioned', null, 'v0', later), draft('switched', 'v0', 'v9', later)] });
    assert.match((await findRollbacks(behind.evidenceDir, await behind.read()))[0].message, /holds v1 as CURRENT of api\/dev, but the evidence made v9 CURRENT \(seq 2, switched\)/);
    const retired = await setup(t, { anchorSeq: 2, records: [draft('provisioned', null, 'v1'), draft('decommissioned', 'v1', 'v2')] });
    // v1 is CURRENT here and also retired by the evidence: the CURRENT check names it first.
    assert.equal((await findRollbacks(retired.evidenceDir, await retired.read()))[0].check, 'store-rolled-back');
    const switched = draft('switched', 'v0', 'v1', { runId: 'run-2', rotationId: 'r-2' });
    const ahead = await setup(t, { anchorSeq: 1, records: [draft('provisioned', null, 'v0')], pendingEvents: [switched], confirmed: ['run-1'] });
    assert.deepEqual(await findRollbacks(ahead.evidenceDir, await ahead.read()), []);
  });

  it('a CURRENT made after the record the log expects is a later run whose evidence went to another log (another runner), no rollback', async (t) => {
    // The log (this runner's) last made v9 CURRENT long ago; the store's v1 was made since.
    const s = await setup(t, { anchorSeq: 2, records: [draft('provisioned', null, 'v0'), draft('switched', 'v0', 'v9')] });
    assert.deepEqual(await findRollbacks(s.evidenceDir, await s.read()), []);
  });

  it('a file whose store id is not the one the evidence names is another store copied over it (ERR_STORE_REPLACED)', async (t) => {
    const s = await setup(t, { anchorSeq: 1, records: [draft('provisioned', null, 'v1', { storeId: 'local:another-store' })] });
    const problems = await findRollbacks(s.evidenceDir, await s.read());
    assert.deepEqual(problems.map((p) => [p.check, p.code]), [['store-replaced', 'ERR_STORE_REPLACED']]);
    assert.match(problems[0].message, /has id .*, but the evidence of api\/dev names store local:another-store \(seq 1\): another store's file was copied over it/);
  });

  it('a version the evidence retired, back in a stage while CURRENT agrees, is a rollback naming it', async (t) => {
    const later = { at: new Date(Date.now() + 60_000).toISOString() };
    const records = [draft('provisioned', null, 'v1', later), draft('switched', 'v1', 'v2', later), draft('decommissioned', 'v1', 'v2', later)];
    const ops = [
      { type: 'create', versionId: 'v1', value: SecretValue.fromString('one'), stage: 'CURRENT' },
      { type: 'create', versionId: 'v2', value: SecretValue.fromString('two'), stage: 'PENDING' },
      { type: 'promote', versionId: 'v2' }, // v1 becomes PREVIOUS
    ];
    const s = await setup(t, { anchorSeq: 3, records, ops });
    const problems = await findRollbacks(s.evidenceDir, await s.read());
    assert.deepEqual(problems.map((p) => [p.check, p.code]), [['store-rolled-back', 'ERR_STORE_ROLLED_BACK']]);
    assert.match(problems[0].message, /holds v1 of api\/dev again, which the evidence retired \(seq 3\)/);
  });

  it('an unconfirmed draft the log already holds does not make the store "ahead": a CURRENT the log replaced since is a rollback', async (t) => {
    const later = { at: new Date(Date.now() + 60_000).toISOString() };
    const toV1 = draft('switched', 'v0', 'v1', { ...later, runId: 'run-2', rotationId: 'r-2' });
    const records = [draft('provisioned', null, 'v0', later), toV1, draft('switched', 'v1', 'v9', { ...later, rotationId: 'r-3' })];
    const s = await setup(t, { anchorSeq: 3, records, pendingEvents: [toV1], confirmed: ['run-1'] });
    const problems = await findRollbacks(s.evidenceDir, await s.read());
    assert.equal(problems.length, 1);
    assert.match(problems[0].message, /holds v1 as CURRENT of api\/dev, but the evidence made v9 CURRENT \(seq 3, switched\)/);
  });

  it('an entry the store does not hold is not judged, though the evidence names its secret', async (t) => {
    const s = await setup(t, { anchorSeq: 2, records: [draft('provisioned', null, 'v1'), draft('provisioned', null, 'w1', { secret: 'gone', rotationId: 'r-2' })] });
    const [read] = await s.read();
    const absent = { ...read, target: { ...read.target, policy: { name: 'gone' }, key: 'gone' }, state: null };
    assert.deepEqual(await findRollbacks(s.evidenceDir, [absent]), []);
    assert.deepEqual(await findRollbacks(s.evidenceDir, [read, absent]), []);
  });

  it('a store of two secrets whose anchor is behind the newer one\'s record is named by that record', async (t) => {
    const records = [draft('provisioned', null, 'v1'), draft('provisioned', null, 'v1', { secret: 'web', rotationId: 'r-2' })];
    const s = await setup(t, { anchorSeq: 1, records });
    const [read] = await s.read();
    const web = { ...read, target: { ...read.target, policy: { name: 'web' }, key: 'web' } };
    const problems = await findRollbacks(s.evidenceDir, [read, web]);
    assert.deepEqual(problems.map((p) => [p.check, p.target.policy.name]), [['store-rolled-back', 'web']]);
    assert.match(problems[0].message, /recorded the evidence log up to seq 1, but the log holds seq 2 about web\/dev/);
    // Whatever the order of the reads.
    assert.deepEqual((await findRollbacks(s.evidenceDir, [web, read])).map((p) => p.message), problems.map((p) => p.message));
    // A draft no confirmed run wrote, on either secret of the store, means a run in progress (or
    // killed before its anchor): no finding for the store.
    const withDraft = { ...web, state: { ...web.state, pendingEvents: [draft('issued', 'v1', 'v2', { secret: 'web', runId: 'run-9' })] } };
    assert.deepEqual(await findRollbacks(s.evidenceDir, [read, withDraft]), []);
    assert.deepEqual(await findRollbacks(s.evidenceDir, [withDraft, read]), []);
  });

  it('records written before stores had ids count for the store itself, never as another store', async (t) => {
    const noId = { storeId: undefined, storeLocation: undefined };
    const behind = await setup(t, { anchorSeq: 1, records: [draft('provisioned', null, 'v1', noId), draft('issued', 'v1', 'v2', noId)] });
    const problems = await findRollbacks(behind.evidenceDir, await behind.read());
    assert.deepEqual(problems.map((p) => p.code), ['ERR_STORE_ROLLED_BACK']);
    assert.match(problems[0].message, /up to seq 1, but the log holds seq 2/);
    const current = await setup(t, { anchorSeq: 2, records: [draft('provisioned', null, 'v1', noId), draft('issued', 'v1', 'v2', noId)] });
    assert.deepEqual(await findRollbacks(current.evidenceDir, await current.read()), []);
  });

  it('says how to put a store copied over another right', async (t) => {
    const s = await setup(t, { anchorSeq: 1, records: [draft('provisioned', null, 'v1', { storeId: 'local:another-store' })] });
    const [problem] = await findRollbacks(s.evidenceDir, await s.read());
    assert.match(problem.message, /^store .*dev\.store has id /);
    assert.match(problem.hint, /^put this store's own file back at .*dev\.store \(from your backup\); a store copied from elsewhere serves another environment's values$/);
  });

  it('a CURRENT the store holds that the log lacks is a store ahead of its evidence only when an unconfirmed draft made it', async (t) => {
    const later = { at: new Date(Date.now() + 60_000).toISOString() };
    // The log made v9 CURRENT after the store's v1 was created; the store's draft switched to v1.
    const toV1 = draft('switched', 'v0', 'v1', { runId: 'run-2', rotationId: 'r-2' });
    const records = [draft('provisioned', null, 'v0', later), draft('switched', 'v0', 'v9', later)];
    const ahead = await setup(t, { anchorSeq: 2, records, pendingEvents: [toV1], confirmed: ['run-1'] });
    assert.deepEqual(await findRollbacks(ahead.evidenceDir, await ahead.read()), []);
    // The same draft confirmed (its run ended): nothing explains v1, a rollback.
    const confirmed = await setup(t, { anchorSeq: 2, records, pendingEvents: [toV1], confirmed: ['run-1', 'run-2'] });
    assert.match((await findRollbacks(confirmed.evidenceDir, await confirmed.read()))[0]?.message ?? '', /holds v1 as CURRENT of api\/dev, but the evidence made v9 CURRENT/);
    // A draft that switched to another version does not explain v1 either.
    const other = await setup(t, { anchorSeq: 2, records, pendingEvents: [{ ...toV1, toVersion: 'v7' }], confirmed: ['run-1'] });
    assert.match((await findRollbacks(other.evidenceDir, await other.read()))[0]?.message ?? '', /holds v1 as CURRENT/);
  });

  it('an entry that holds no version (only its record, written with no ops) while the evidence made one CURRENT is "no version"', async (t) => {
    const s = await setup(t, { anchorSeq: 1, records: [draft('provisioned', null, 'v1')], ops: [] });
    assert.deepEqual((await s.read())[0].state.versions, [], 'the store holds the entry without a version');
    const problems = await findRollbacks(s.evidenceDir, await s.read());
    assert.equal(problems.length, 1);
    assert.equal(problems[0].code, 'ERR_STORE_ROLLED_BACK');
    assert.match(problems[0].message, /^store \S+dev\.store holds no version as CURRENT of api\/dev, but the evidence made v1 CURRENT \(seq 1, provisioned\): the store file is an older copy/);
  });
});
