// How the stores are read for the rollback check (src/engine/store-rollback.ts): `evidence verify`
// reads every store and reports the ones it cannot read; `rotate` reads the stores it locked and
// refuses the ones the evidence says were put back. Real local stores and a real evidence log.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPolicies } from '../../dist/policy/load.js';
import { StoreRegistry } from '../../dist/stores/registry.js';
import { targetsOf } from '../../dist/engine/selection.js';
import { EvidenceLog } from '../../dist/evidence/index.js';
import { readStoresForVerify, refuseRolledBack, rollbackError } from '../../dist/engine/store-rollback.js';
import { anchorEvidence, refuseCutEvidence } from '../../dist/engine/evidence-recovery.js';
import { SecretValue } from '../../dist/secret-value.js';
import { readCheckpointFile, writeCheckpointFile } from '../helpers/checkpoint-file.js';

const quiet = { child: () => quiet, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const POLICY = `secrets:
${['api', 'db'].map((name) => `  - name: ${name}
    interval: 30d
    fallbackWindow: 1h
    generator: { type: random, length: 24 }
    environments:
      - name: dev
        store: { type: local, path: stores/${name}.store }
`).join('')}`;

const record = (target, event, from, to, at = '2026-01-01T00:00:00.000Z') => ({
  event, rotationId: `r-${target.policy.name}`, secret: target.policy.name, environment: 'dev', store: 'local', fromVersion: from, toVersion: to,
  fingerprint: null, at, operator: 'me', reason: 'scheduled', ticket: null, emergency: false, checks: [],
  runId: 'run-1', storeId: target.store.identity(), storeLocation: target.store.location,
});

/** A project with `policy` in policies/, its policies loaded and its targets opened (closed after `t`). */
async function loadProject(t, policy, env, files = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-rollback-stores-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies', 'app.yaml'), policy);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const loaded = await loadPolicies('policies', { cwd: dir, env });
  assert.deepEqual(loaded.errors, []);
  const ctx = { cwd: dir, env, now: () => new Date(), logger: quiet, evidenceDir: join(dir, 'evidence'), lockWaitMs: 1000 };
  const stores = new StoreRegistry(ctx);
  t.after(() => stores.closeAll());
  return { dir, ctx, loaded, targets: await targetsOf(loaded.policies, [], stores) };
}

/** Two secrets, each in its own local store with v1 CURRENT, the log saying so, both stores anchored. */
async function project(t, { env: extraEnv = {} } = {}) {
  const env = { KEYSHIFT_MASTER_KEY: randomBytes(32).toString('base64'), ...extraEnv };
  const { dir, ctx, loaded, targets } = await loadProject(t, POLICY, env);
  const log = new EvidenceLog(ctx.evidenceDir);
  let chain = null; // a chain is named by the hash of its first record
  for (const target of targets) {
    const lock = await target.store.lock({ waitMs: 1000, owner: 'test' });
    await target.store.apply(target.key, [{ type: 'create', versionId: 'v1', value: SecretValue.fromString(`${target.key} one`), stage: 'CURRENT' }], { rotation: null, lastRotatedAt: null, pendingEvents: [] });
    const [written] = await log.append([record(target, 'provisioned', null, 'v1')]);
    chain ??= written.hash;
    await target.store.writeMeta({ evidenceAnchors: { [chain]: { seq: written.seq, hash: written.hash, at: 't' } }, confirmedRuns: ['run-1'] });
    await lock.release();
  }
  await log.close();
  return { dir, ctx, policies: loaded.policies, targets };
}

/** Locks every store of `targets` as rotate does: storeId → lock. */
async function lockAll(t, targets) {
  const locks = new Map();
  for (const target of targets) if (!locks.has(target.storeId)) locks.set(target.storeId, await target.store.lock({ waitMs: 1000, owner: 'test' }));
  t.after(() => Promise.all([...locks.values()].map((lock) => lock.release())));
  return locks;
}

describe('readStoresForVerify (evidence verify, doctor)', () => {
  it('reads every store: its anchors and each target\'s state, with the store\'s identity', async (t) => {
    const p = await project(t);
    const { anchors, reads, unread } = await readStoresForVerify(p.ctx, p.policies);
    assert.deepEqual(unread, []);
    assert.deepEqual(reads.map((r) => [r.target.policy.name, r.state.versions.map((v) => v.id), r.identity]), p.targets.map((target) => [target.key, ['v1'], target.store.identity()]));
    assert.deepEqual(anchors.map((a) => [a.source, a.seq]), [[`store ${p.targets[0].store.location}`, 1], [`store ${p.targets[1].store.location}`, 2]]);
  });

  it('a store of two secrets is read for its anchors once: each anchor is listed once, each secret read', async (t) => {
    const policy = POLICY.replaceAll(/stores\/\w+\.store/g, 'stores/shared.store');
    const { ctx, loaded, targets } = await loadProject(t, policy, { KEYSHIFT_MASTER_KEY: randomBytes(32).toString('base64') });
    assert.equal(targets[0].storeId, targets[1].storeId, 'one store');
    const log = new EvidenceLog(ctx.evidenceDir);
    const lock = await targets[0].store.lock({ waitMs: 1000, owner: 'test' });
    for (const target of targets) await target.store.apply(target.key, [{ type: 'create', versionId: 'v1', value: SecretValue.fromString(`${target.key} one`), stage: 'CURRENT' }], { rotation: null, lastRotatedAt: null, pendingEvents: [] });
    const written = await log.append(targets.map((target) => record(target, 'provisioned', null, 'v1')));
    await targets[0].store.writeMeta({ evidenceAnchors: { [written[0].hash]: { seq: 2, hash: written[1].hash, at: 't' } }, confirmedRuns: ['run-1'] });
    await lock.release();
    await log.close();
    const { anchors, reads, unread } = await readStoresForVerify(ctx, loaded.policies);
    assert.deepEqual(unread, []);
    assert.deepEqual(reads.map((r) => r.target.policy.name), ['api', 'db']);
    assert.deepEqual(anchors, [{ source: `store ${targets[0].store.location}`, chainId: written[0].hash, seq: 2, hash: written[1].hash }]);
  });

  it('a damaged store is reported with its error, and the other store is still read', async (t) => {
    const p = await project(t);
    writeFileSync(join(p.dir, 'stores', 'db.store'), 'not a keyshift store\n');
    const { anchors, reads, unread } = await readStoresForVerify(p.ctx, p.policies);
    assert.deepEqual(reads.map((r) => r.target.policy.name), ['api']);
    assert.deepEqual(anchors.map((a) => a.source), [`store ${p.targets[0].store.location}`]);
    assert.equal(unread.length, 1);
    assert.equal(unread[0].store, p.targets[1].store.location);
    assert.equal(unread[0].secret, null, 'the store itself could not be read, not one entry of it');
    assert.match(unread[0].error.code, /^ERR_STORE_/);
    assert.ok(unread[0].error.message.includes('db.store'), unread[0].error.message);
  });

  it('an entry that cannot be read while its store could is reported with the secret and environment; the other entry is still read', async (t) => {
    // The example command store, except that its read of "db" fails (the service denies that one secret).
    const example = fileURLToPath(new URL('../../examples/command-store/file-store.sh', import.meta.url));
    const wrapper = `#!/bin/sh
request=$(cat)
if [ "$(printf '%s' "$request" | jq -r '.op + " " + (.key // "")')" = "read db" ]; then
  printf '%s\\n' '{"error":{"code":"ACCESS_DENIED","message":"db: not allowed for this role"}}'
  exit 1
fi
printf '%s' "$request" | exec "${example}"
`;
    const policy = `secrets:
${['api', 'db'].map((name) => `  - name: ${name}
    interval: 30d
    fallbackWindow: 1h
    generator: { type: random, length: 24 }
    environments:
      - name: dev
        store: { type: command, run: [./store.sh], config: { dir: entries } }
`).join('')}`;
    const env = { PATH: process.env.PATH, HOME: tmpdir() };
    const { ctx, loaded } = await loadProject(t, policy, env, { 'store.sh': wrapper });
    chmodSync(join(ctx.cwd, 'store.sh'), 0o755);
    env.KEYSHIFT_STATE_DIR = join(ctx.cwd, 'state');
    const { reads, unread } = await readStoresForVerify(ctx, loaded.policies);
    assert.deepEqual(reads.map((r) => [r.target.policy.name, r.state, 'identity' in r]), [['api', null, false]]);
    assert.deepEqual(unread, [{
      store: `command ${join(ctx.cwd, 'store.sh')}`,
      secret: 'db',
      environment: 'dev',
      error: { code: 'ERR_STORE_ACCESS_DENIED', message: unread[0]?.error.message, hint: unread[0]?.error.hint },
    }]);
    assert.match(unread[0].error.message, /db: not allowed for this role/);
  });

  it('a usage error of the run (a malformed master key) is thrown, not reported as an unread store', async (t) => {
    const p = await project(t);
    const ctx = { ...p.ctx, env: { ...p.ctx.env, KEYSHIFT_MASTER_KEY: 'not base64 of 32 bytes' } };
    await assert.rejects(readStoresForVerify(ctx, p.policies), (error) => error.exitCode === 2);
  });

  it('closes the stores it opened: a Secrets Manager client keeps no connection open after it returns', async (t) => {
    const { startSecretsManager } = await import('../fakes/secrets-manager.js');
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test', AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
    const sm = await startSecretsManager({ quotas: false });
    t.after(() => sm.close());
    sm.seed('app/db', { versions: [{ id: 'a0000000-0000-4000-8000-000000000000', value: 'old', stages: ['AWSCURRENT'] }] });
    const policy = `secrets:\n  - name: db\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, length: 24 }\n    environments:\n      - name: prod\n        store: { type: aws-secrets-manager, secretId: app/db, region: us-east-1, endpoint: "${sm.endpoint}" }\n`;
    const p = await loadProject(t, policy, { KEYSHIFT_STATE_DIR: mkdtempSync(join(tmpdir(), 'keyshift-rollback-stores-state-')) });
    const { reads, unread } = await readStoresForVerify(p.ctx, p.loaded.policies);
    assert.deepEqual([reads.length, unread], [1, []]);
    for (let i = 0; i < 100 && sm.openConnections() > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(sm.openConnections(), 0);
  });
});

describe('refuseRolledBack (rotate)', () => {
  it('a store anchored without a checkpoint (by a run before checkpoints, or by reencrypt) beside one that vouches for it: not vouched, the log read whole, nothing refused', async (t) => {
    const p = await project(t); // both stores anchored with no checkpoint recorded
    const [api] = p.targets;
    // A checkpoint is written after a thousand records: another secret's history.
    const filler = new EvidenceLog(p.ctx.evidenceDir);
    await filler.append(Array.from({ length: 1000 }, (_, i) => ({ ...record(api, 'issued', null, `f${i}`), secret: 'filler', rotationId: `r-filler-${i}` })));
    await filler.close();
    const locks = await lockAll(t, p.targets);
    const first = await refuseRolledBack(p.ctx.evidenceDir, p.targets, locks, () => assert.fail('no store fails'));
    assert.ok(first.checkpoint, 'the pass wrote a checkpoint');
    assert.deepEqual([...first.refused.keys()], []);
    // Only api records it (as rotate does for the stores it wrote); db's metadata has no checkpoints at all.
    const log = new EvidenceLog(p.ctx.evidenceDir);
    await anchorEvidence(api.store, await api.store.readMeta(), log, 'run-2', true, first.checkpoint);
    await log.close();
    assert.equal((await p.targets[1].store.readMeta()).checkpoints, undefined);
    const second = await refuseRolledBack(p.ctx.evidenceDir, p.targets, locks, () => assert.fail('no store fails'));
    assert.deepEqual([...second.refused.keys()], []);
    assert.deepEqual(second.checkpoint, first.checkpoint);
  });

  it('refuses only the store put back from an old copy, keyed by its store id; the other passes', async (t) => {
    const p = await project(t);
    const [, db] = p.targets;
    const copy = join(p.dir, 'db.store.old');
    copyFileSync(join(p.dir, 'stores', 'db.store'), copy);
    // db moves to v2 and the log and anchor say so; then the old copy is put back.
    const lock = await db.store.lock({ waitMs: 1000, owner: 'test' });
    await db.store.apply(db.key, [{ type: 'create', versionId: 'v2', value: SecretValue.fromString('db two'), stage: 'PENDING' }, { type: 'promote', versionId: 'v2' }], { rotation: null, lastRotatedAt: null, pendingEvents: [] });
    const log = new EvidenceLog(p.ctx.evidenceDir);
    // Recorded after v1 was made: a CURRENT older than the record is an old copy, not another runner's newer one.
    const [written] = await log.append([record(db, 'switched', 'v1', 'v2', new Date(Date.now() + 1000).toISOString())]);
    await log.close();
    const chain = Object.keys((await db.store.readMeta()).evidenceAnchors)[0];
    await db.store.writeMeta({ evidenceAnchors: { [chain]: { seq: written.seq, hash: written.hash, at: 't' } }, confirmedRuns: ['run-1'] });
    await lock.release();
    copyFileSync(copy, join(p.dir, 'stores', 'db.store'));
    const failed = [];
    const { refused } = await refuseRolledBack(p.ctx.evidenceDir, p.targets, await lockAll(t, p.targets), (id) => failed.push(id));
    assert.deepEqual(failed, []);
    assert.deepEqual([...refused.keys()], [db.storeId]);
    const problems = refused.get(db.storeId);
    assert.deepEqual(problems.map((problem) => [problem.check, problem.code, problem.target.policy.name]), [['store-rolled-back', 'ERR_STORE_ROLLED_BACK', 'db']]);
    assert.match(problems[0].message, /holds v1 as CURRENT of db\/dev, but the evidence made v2 CURRENT \(seq 3, switched\)/);
    // rotate's result for that target carries the problem as its error.
    const error = rollbackError(problems[0]);
    assert.deepEqual([error.code, error.message, error.hint], [problems[0].code, problems[0].message, problems[0].hint]);
    assert.match(error.hint, /put the newest copy of .*db\.store back/);
  });

  it('names, per store, the targets whose entry holds drafts no confirmed run wrote', async (t) => {
    const p = await project(t);
    const [api, db] = p.targets;
    const lock = await api.store.lock({ waitMs: 1000, owner: 'test' });
    const pending = record(api, 'issued', 'v1', 'v2');
    await api.store.apply(api.key, [{ type: 'create', versionId: 'v2', value: SecretValue.fromString('api two'), stage: 'PENDING' }], { rotation: null, lastRotatedAt: null, pendingEvents: [{ ...pending, runId: 'run-killed' }] });
    await lock.release();
    const { refused, draftsAt } = await refuseRolledBack(p.ctx.evidenceDir, p.targets, await lockAll(t, p.targets), () => assert.fail('no store fails here'));
    assert.deepEqual([...refused.values()].flat().map((problem) => problem.message), []);
    assert.deepEqual([...draftsAt.get(api.storeId)].map((target) => target.key), ['api']);
    assert.deepEqual([...draftsAt.get(db.storeId)], []);
  });

  it('a store whose read fails under its lock (a disk error) fails alone, through storeFailed; the other store is still judged', async (t) => {
    const p = await project(t);
    const [api, db] = p.targets;
    const locks = await lockAll(t, p.targets);
    // The disk under db fails between the lock and the check: its reads throw EIO from here on.
    const eio = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', syscall: 'read' });
    const failing = { location: db.store.location, identity: () => db.store.identity(), readMeta: () => db.store.readMeta(), read: async () => Promise.reject(eio) };
    const targets = [api, { ...db, store: failing }];
    const failed = [];
    const { refused, draftsAt } = await refuseRolledBack(p.ctx.evidenceDir, targets, locks, (id, store, error) => failed.push([id, store, error]));
    assert.deepEqual(failed, [[db.storeId, failing, eio]], 'one call, for db, with its store and the error');
    assert.deepEqual([...refused.keys()], [], 'a store that could not be read is failed, not judged rolled back');
    assert.deepEqual([...draftsAt.keys()], [api.storeId], 'api was read and judged; db left out');
  });

  it('a secret not yet in its store (to be provisioned) is read as absent and does not fail the store', async (t) => {
    const policy = POLICY.replaceAll(/stores\/\w+\.store/g, 'stores/shared.store');
    const { ctx, targets } = await loadProject(t, policy, { KEYSHIFT_MASTER_KEY: randomBytes(32).toString('base64') });
    const [api] = targets;
    const log = new EvidenceLog(ctx.evidenceDir);
    const lock = await api.store.lock({ waitMs: 1000, owner: 'test' });
    await api.store.apply(api.key, [{ type: 'create', versionId: 'v1', value: SecretValue.fromString('api one'), stage: 'CURRENT' }], { rotation: null, lastRotatedAt: null, pendingEvents: [] });
    const [written] = await log.append([record(api, 'provisioned', null, 'v1')]);
    await api.store.writeMeta({ evidenceAnchors: { [written.hash]: { seq: 1, hash: written.hash, at: 't' } }, confirmedRuns: ['run-1'] });
    await lock.release();
    await log.close();
    const failed = [];
    const { refused, draftsAt } = await refuseRolledBack(ctx.evidenceDir, targets, await lockAll(t, targets), (id, store, error) => failed.push(error.message));
    assert.deepEqual(failed, [], 'db, not in the store yet, does not fail the store');
    assert.deepEqual([...refused.keys()], []);
    assert.deepEqual([...draftsAt.get(api.storeId)], []);
  });

  it('reads only the stores kept in a file someone can copy (with an identity): a dotenv file is not judged', async (t) => {
    const policy = `secrets:
  - name: hook
    interval: 30d
    fallbackWindow: 1h
    generator: { type: random, length: 24 }
    environments:
      - name: dev
        store: { type: dotenv, path: .env, name: HOOK }
`;
    const { ctx, targets } = await loadProject(t, policy, {}, { '.env': 'HOOK=already-here\n' });
    assert.equal(targets[0].store.identity, undefined, 'a dotenv store has no identity');
    const { refused, draftsAt } = await refuseRolledBack(ctx.evidenceDir, targets, await lockAll(t, targets), () => assert.fail('no store fails here'));
    assert.deepEqual([...refused.keys()], []);
    assert.equal(draftsAt.has(targets[0].storeId), false, 'the dotenv store was not read for the check');
  });

  it('starts from the rollback checkpoint only when every store judged vouches for its digest, which the anchor records', async (t) => {
    const p = await project(t);
    const [api, db] = p.targets;
    /** rotate's check under the stores' locks, released after. */
    const check = async () => {
      const locks = new Map();
      for (const target of p.targets) locks.set(target.storeId, await target.store.lock({ waitMs: 1000, owner: 'test' }));
      try {
        return await refuseRolledBack(p.ctx.evidenceDir, p.targets, locks, () => assert.fail('no store fails here'));
      } finally {
        for (const lock of locks.values()) await lock.release();
      }
    };
    const anchor = async (target, checkpoint, runId) => {
      const lock = await target.store.lock({ waitMs: 1000, owner: 'test' });
      await anchorEvidence(target.store, await target.store.readMeta(), log, runId, true, checkpoint);
      await lock.release();
    };
    // 1,000 more records (api provisioned again and again: no change of state) make a checkpoint worth writing.
    const log = new EvidenceLog(p.ctx.evidenceDir);
    t.after(() => log.close());
    await log.append(Array.from({ length: 1000 }, () => record(api, 'provisioned', null, 'v1')));
    for (const target of p.targets) await anchor(target, null, 'run-2');
    const first = await check();
    assert.deepEqual([...first.refused.keys()], []);
    const file = join(p.ctx.evidenceDir, '.expected-states.json');
    const digest = (text) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
    const chainId = Object.keys((await api.store.readMeta()).evidenceAnchors)[0];
    assert.deepEqual(first.checkpoint, { chainId, digest: digest(readFileSync(file, 'utf8')) });
    // The run's anchor records it in each store; a later anchor without one keeps it.
    for (const target of p.targets) {
      const before = await target.store.readMeta();
      await anchor(target, first.checkpoint, 'run-3');
      await anchor(target, null, 'run-4');
      const after = await target.store.readMeta();
      assert.deepEqual(after.checkpoints, { [chainId]: first.checkpoint.digest });
      assert.deepEqual(after.confirmedRuns, [...before.confirmedRuns, 'run-3', 'run-4']);
    }
    // Used (vouched for by both stores, no new records): the same checkpoint holds.
    const used = await check();
    assert.deepEqual([...used.refused.keys()], []);
    assert.deepEqual(used.checkpoint, first.checkpoint);
    // A checkpoint that says db's CURRENT is v9 since the far future: used, it is a finding for db.
    const checkpoint = readCheckpointFile(file);
    const row = checkpoint.targets.find(([key]) => key === 'db\u0000dev')[1];
    row[0] = 'v9';
    row[3] = '2999-01-01T00:00:00.000Z';
    writeCheckpointFile(file, checkpoint);
    const edited = readFileSync(file, 'utf8');
    assert.deepEqual([...(await check()).refused.keys()], [], 'no store vouches for the edited file: the whole log is read');
    const vouch = async (target) => {
      const lock = await target.store.lock({ waitMs: 1000, owner: 'test' });
      await target.store.writeMeta({ ...(await target.store.readMeta()), checkpoints: { [chainId]: digest(edited) } });
      await lock.release();
    };
    // Only api vouches for it: still not used (each store vouches for itself).
    writeFileSync(file, edited);
    await vouch(api);
    assert.deepEqual([...(await check()).refused.keys()], []);
    writeFileSync(file, edited);
    await vouch(db);
    const refused = (await check()).refused;
    assert.deepEqual([...refused.keys()], [db.storeId], 'vouched for by both: used');
    assert.match(refused.get(db.storeId)[0].message, /the evidence made v9 CURRENT/);
  });
});

describe('refuseCutEvidence (rollback, reencrypt: before their first write)', () => {
  it("refuses a log cut below the store's anchor, naming the store, whether the caller read the store's meta or not; the log is left as it was", async (t) => {
    const p = await project(t);
    const [api, db] = p.targets;
    const file = join(p.ctx.evidenceDir, 'evidence.jsonl');
    // api anchored seq 1, db seq 2: the log cut to its first record is short of db's anchor only.
    const [first] = readFileSync(file, 'utf8').split('\n');
    writeFileSync(file, `${first}\n`);
    const cut = readFileSync(file);
    const refused = (error) => error.code === 'ERR_EVIDENCE_CORRUPT' && error.message.includes(`store ${db.store.location} recorded seq 2`) && /records were cut off/.test(error.message);
    for (const meta of [undefined, await db.store.readMeta()]) {
      const log = new EvidenceLog(p.ctx.evidenceDir);
      await assert.rejects(refuseCutEvidence(log, db.store, meta), refused, meta ? 'with the meta given' : 'reading the meta itself');
      await log.close();
      assert.deepEqual(readFileSync(file), cut, 'the log is left as it was');
    }
    // api's anchor is still in the log: nothing to refuse, and a record appended after builds on it.
    const log = new EvidenceLog(p.ctx.evidenceDir);
    t.after(() => log.close());
    await refuseCutEvidence(log, api.store);
    const [written] = await log.append([record(api, 'provisioned', null, 'v1')]);
    assert.equal(written.seq, 2);
  });
});
