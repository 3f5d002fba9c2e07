// The survivors the mutation runs of runner.ts and run-info.ts left (test/mutation/review-engine-run.md,
// "residue"): data-key secrets and their master's decommission gate, a command generator's directory
// and variables, settle's codes and hints for a full disk and for a log that is closed, a previous
// environment that cannot be read once the lock is taken, a lease that cannot be released, an anchor
// that cannot be written, and what a lock tells another run. Real local stores, a real evidence log,
// the loopback DynamoDB and Secrets Manager of test/fakes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { project, secretYaml, all, HOUR, leaseWarnings } from '../helpers/engine-project.js';
import { unwrapLocal } from '../helpers/hierarchy.js';
import { rotateRun } from '../../dist/engine/runner.js';
import { startRun } from '../../dist/engine/run-info.js';
import { StoreRegistry } from '../../dist/stores/registry.js';
import { EvidenceLog } from '../../dist/evidence/index.js';

const rotate = (p, extra = {}) => rotateRun(p.ctx, p.policies, { ...all, force: false, concurrency: 1, ...extra });
const AWS_ENV = { AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test', AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
const outcomes = (report) => report.results.map((r) => `${r.secret}/${r.environment}:${r.outcome}`);
const current = (state) => state.versions.find((v) => v.stages.includes('CURRENT'));

test('rotateRun: a data key is made wrapped by its local master; the master is not decommissioned while a data key is still wrapped by its old version', async (t) => {
  const { rewrapRun } = await import('../../dist/reencrypt/rewrap.js');
  const p = await project(t, [
    secretYaml('app-master', { envs: ['prod', 'dr'], fallbackWindow: '1h' }),
    secretYaml('dk', { envs: ['prod'], lines: ['generator: { type: data-key, master: { type: local, secret: app-master } }'] }),
    secretYaml('plain', { envs: ['prod'], fallbackWindow: '1h' }),
  ]);
  // The master first (the secrets of one run advance at once: the data key would find no CURRENT master).
  assert.deepEqual(outcomes(await rotate(p, { names: ['app-master'], all: false })), ['app-master/prod:provisioned', 'app-master/dr:provisioned']);
  assert.deepEqual(outcomes(await rotate(p)), ['app-master/prod:skipped', 'app-master/dr:skipped', 'dk/prod:provisioned', 'plain/prod:provisioned']);
  const store = p.store('prod');
  const masterState = await store.read('app-master');
  const master = current(masterState);
  const masterKey = Buffer.from((await store.readValue('app-master', master.id)).reveal(), 'base64');
  const dkVersion = current(await store.read('dk')).id;
  const dkValue = (await store.readValue('dk', dkVersion)).reveal();
  assert.ok(dkValue.startsWith(`ksdk1:local.${master.id}:`), dkValue.slice(0, 40));
  assert.equal(unwrapLocal(dkValue, masterKey, 'dk/prod').length, 32, 'a 32-byte data key wrapped by the master');

  // The master and a plain secret rotate; once their windows end, only the plain one is decommissioned:
  // the master's prod is blocked (a data key still wrapped by its old version) and holds its dr.
  assert.deepEqual(outcomes(await rotate(p, { force: true, names: ['app-master', 'plain'], all: false })), ['app-master/prod:rotated', 'app-master/dr:rotated', 'plain/prod:rotated']);
  p.advance(2 * HOUR);
  const held = await rotate(p, { names: ['app-master', 'plain'], all: false });
  assert.deepEqual(outcomes(held), ['app-master/prod:blocked', 'app-master/dr:skipped', 'plain/prod:decommissioned']);
  assert.equal(held.results[0].error.code, 'ERR_DECOMMISSION_HELD');
  assert.equal(held.results[0].error.message, `app-master/prod: decommission held by decommissionCheck: data keys: 1 data key version(s) still wrapped only under ${master.id} (dk/prod ${dkVersion}); run keyshift reencrypt app-master --env prod`);
  assert.equal(held.results[1].reason, 'held: prod of this secret is blocked in this run');
  assert.equal(held.exitCode, 1, 'blocked beside a change');
  assert.ok((await p.store('prod').read('app-master')).versions.some((v) => v.id === master.id && v.stages.includes('PREVIOUS')), 'the old master version is kept');

  // Re-wrapped under the new master version, nothing holds it any more.
  await rewrapRun(p.ctx, p.policies, { name: 'app-master', dryRun: false, self: false });
  const done = await rotate(p, { names: ['app-master'], all: false });
  assert.deepEqual(outcomes(done), ['app-master/prod:decommissioned', 'app-master/dr:decommissioned']);
});

test('startRun: a command generator runs in the project directory with the variables keyshift passes it', async (t) => {
  const value = `from-env-${'x'.repeat(40)}`;
  const p = await project(t, [secretYaml('api', { envs: ['dev'], lines: ['generator: { type: command, run: [./issue.sh], env: [ISSUED_VALUE] }'] })], { env: { ISSUED_VALUE: value } });
  writeFileSync(join(p.cwd, 'issue.sh'), '#!/bin/sh\nprintf "%s" "$ISSUED_VALUE"\n');
  chmodSync(join(p.cwd, 'issue.sh'), 0o755);
  assert.deepEqual(outcomes(await rotate(p)), ['api/dev:provisioned']);
  const state = await p.store('dev').read('api');
  assert.equal((await p.store('dev').readValue('api', current(state).id)).reveal(), value);
});

async function started(t, p) {
  const stores = new StoreRegistry(p.ctx);
  const evidence = new EvidenceLog(p.ctx.evidenceDir, { lockWaitMs: 100 });
  t.after(async () => (await evidence.close(), await stores.closeAll()));
  return { evidence, ...startRun(p.ctx, evidence, stores, { reason: 'why', ticket: null, emergency: false, policies: p.policies }) };
}
const draft = { at: '2026-11-23T10:00:00.000Z', event: 'issued', rotationId: 'r-1', secret: 'api', environment: 'dev', store: 'local', fromVersion: null, toVersion: null, fingerprint: null, operator: 'o', reason: 'scheduled', ticket: null, emergency: false, checks: [], runId: 'run-a' };

test('startRun: settle after an append to a closed log: ERR_EVIDENCE_WRITE with the generic hint (the log gave none)', async (t) => {
  const p = await project(t, [secretYaml('api', { envs: ['dev'] })]);
  const s = await started(t, p);
  await s.evidence.close();
  await s.run.record([draft]);
  await assert.rejects(s.settle(), (error) => {
    assert.equal(error.code, 'ERR_EVIDENCE_WRITE');
    assert.equal(error.message, `changes were applied but evidence could not be written: evidence log ${join(p.ctx.evidenceDir, 'evidence.jsonl')} is closed`);
    assert.equal(error.hint, 'fix the evidence directory (space, permissions) and rerun keyshift rotate: it appends the missing records');
    return true;
  });
});

test('startRun: settle keeps a disk error\'s own code (ERR_DISK_FULL) and its hint', async (t) => {
  const p = await project(t, [secretYaml('api', { envs: ['dev'] })]);
  mkdirSync(p.ctx.evidenceDir);
  const file = join(p.ctx.evidenceDir, 'evidence.jsonl');
  try {
    execFileSync('mknod', [file, 'c', '1', '7'], { stdio: 'ignore' }); // the kernel's /dev/full: every write is ENOSPC
  } catch {
    t.skip('mknod is not allowed here');
    return;
  }
  const s = await started(t, p);
  await s.run.record([draft]);
  await assert.rejects(s.settle(), (error) => {
    assert.equal(error.code, 'ERR_DISK_FULL');
    assert.equal(error.message, `changes were applied but evidence could not be written: ${file}: no space left on the device (ENOSPC)`);
    assert.match(error.hint, /^free space on that file system .*; then rerun keyshift rotate: it appends the missing records$/);
    return true;
  });
});

test('rotateRun: a previous environment that cannot be read once the lock is taken fails only that target, with the reason', async (t) => {
  const p = await project(t, [secretYaml('api'), secretYaml('web', { envs: ['prod'] })]);
  mkdirSync(join(p.cwd, '.keyshift'));
  writeFileSync(p.storePath('dev'), 'garbage');
  const report = await rotate(p, { envs: ['prod'] });
  assert.deepEqual(outcomes(report), ['api/prod:failed', 'web/prod:provisioned']);
  const [failed] = report.results;
  assert.equal(failed.action, 'none');
  assert.equal(failed.error.code, 'ERR_STORE_CORRUPT');
  assert.equal(report.exitCode, 1);
  const logged = p.logs.filter((l) => l[1] === 'could not read the entry');
  assert.equal(logged.length, 1);
  assert.deepEqual([logged[0][2].target, logged[0][2].store], ['api/prod', p.storePath('prod')]);
  assert.equal(logged[0][2].err, failed.error.message);
  assert.equal(await p.store('prod').read('api'), null, 'nothing provisioned for api');
});

test('rotateRun: a store locked by another run is logged with its path and the holder; the lock this run takes names the run to others', async (t) => {
  const p = await project(t, [secretYaml('api', { envs: ['dev'] }), secretYaml('web', { envs: ['qa'] })]);
  const other = await p.store('dev').lock({ waitMs: 100, owner: 'the other run' });
  let seen = null;
  const report = await rotate(p, {
    onProgress: () => {
      // While this run holds qa's lock, another process reading the lock file sees who holds it.
      seen ??= JSON.parse(readFileSync(`${p.storePath('qa')}.lock`, 'utf8')).owner;
    },
  });
  await other.release();
  assert.deepEqual(outcomes(report), ['api/dev:blocked', 'web/qa:provisioned']);
  assert.equal(seen, `keyshift rotate (tester, ${report.runId})`);
  const warned = p.logs.filter((l) => l[1] === 'store is locked by another run');
  assert.equal(warned.length, 1);
  assert.equal(warned[0][2].store, p.storePath('dev'));
  assert.equal(warned[0][2].err, report.results[0].error.message);
  assert.match(warned[0][2].err, /is locked by the other run /);
});

test('rotateRun: a lease that cannot be released is logged; the rotation stands (the lease expires on its own)', async (t) => {
  const { startDynamoDb } = await import('../fakes/dynamodb/index.js');
  Object.assign(process.env, AWS_ENV);
  const ddb = await startDynamoDb({ tables: ['leases'] });
  t.after(() => ddb.close());
  const p = await project(t, [secretYaml('api', { envs: [['dev', `{ type: local, path: .keyshift/dev.store, lock: { type: dynamodb, table: leases, region: us-east-1, endpoint: "${ddb.endpoint}" } }`]] })]);
  ddb.deny({ op: 'DeleteItem' });
  const report = await rotate(p);
  assert.deepEqual(outcomes(report), ['api/dev:provisioned']);
  assert.equal(report.exitCode, 0);
  const warned = leaseWarnings(p);
  assert.deepEqual(warned.map(([target]) => target), ['api/dev']);
  assert.match(warned[0][1], /DeleteItem/);
});

test('rotateRun: an anchor that cannot be written is logged; the run\'s changes and evidence stand', async (t) => {
  const { startSecretsManager } = await import('../fakes/secrets-manager.js');
  Object.assign(process.env, AWS_ENV);
  const sm = await startSecretsManager({ quotas: false });
  t.after(() => sm.close());
  const p = await project(t, [secretYaml('db', { envs: [['prod', `{ type: aws-secrets-manager, secretId: app/db, region: us-east-1, endpoint: "${sm.endpoint}", createIfMissing: true }`]] })]);
  const state = join(p.cwd, 'state');
  p.ctx.env.KEYSHIFT_STATE_DIR = state;
  assert.deepEqual(outcomes(await rotate(p)), ['db/prod:provisioned']);
  const kindDir = join(state, readdirSync(state).find((name) => name === 'aws-secrets-manager'));
  const meta = join(kindDir, readdirSync(kindDir).find((name) => name.endsWith('.meta.json')));
  const report = await rotate(p, {
    force: true,
    // After the secret's steps, before the anchor: a directory where the store's metadata file is.
    onProgress: () => {
      rmSync(meta);
      mkdirSync(join(meta, 'in-the-way'), { recursive: true });
    },
  });
  assert.deepEqual(outcomes(report), ['db/prod:rotated']);
  assert.equal(report.exitCode, 0);
  const logged = p.logs.filter((l) => l[1] === 'could not record the evidence anchor in the store');
  assert.equal(logged.length, 1);
  assert.equal(logged[0][2].store, p.logs.find((l) => l[1] === 'store locked')[2].store);
  assert.match(logged[0][2].err, /meta\.json/);
  assert.equal(p.evidence().at(-1).event, 'switched');
});

test('rotateRun: an entry that cannot be read (access denied) fails that secret only, read once: before the locks (logged) or under its store\'s lock', async (t) => {
  const { startSecretsManager } = await import('../fakes/secrets-manager.js');
  Object.assign(process.env, AWS_ENV);
  const one = await startSecretsManager({ quotas: false });
  const two = await startSecretsManager({ quotas: false });
  t.after(async () => (await one.close(), await two.close()));
  const store = (sm, id) => `{ type: aws-secrets-manager, secretId: ${id}, region: us-east-1, endpoint: "${sm.endpoint}", createIfMissing: true }`;
  // a and b share a store (one Region and endpoint), c has its own.
  const p = await project(t, [
    secretYaml('a', { envs: [['prod', store(one, 'app/a')]] }),
    secretYaml('b', { envs: [['prod', store(one, 'app/b')]] }),
    secretYaml('c', { envs: [['prod', store(two, 'app/c')]] }),
  ]);
  p.ctx.env.KEYSHIFT_STATE_DIR = join(p.cwd, 'state');
  assert.deepEqual(outcomes(await rotate(p)), ['a/prod:provisioned', 'b/prod:provisioned', 'c/prod:provisioned']);
  one.deny({ resource: 'app/b' });
  two.deny({ resource: 'app/c' });
  const callsBefore = one.calls.length;
  const report = await rotate(p, { force: true });
  assert.deepEqual(outcomes(report), ['a/prod:rotated', 'b/prod:failed', 'c/prod:failed']);
  for (const failed of report.results.slice(1)) {
    assert.equal(failed.action, 'none');
    assert.equal(failed.error.code, 'ERR_STORE_ACCESS_DENIED');
  }
  assert.match(report.results[1].error.message, /^DescribeSecret app\/b: access denied /);
  assert.equal(report.exitCode, 1);
  // c's store had nothing else to do: its read before the locks failed and is logged with the target and store.
  const logged = p.logs.filter((l) => l[1] === 'could not read the entry');
  assert.equal(logged.length, 1);
  assert.equal(logged[0][2].target, 'c/prod');
  assert.equal(logged[0][2].store, `secretsmanager us-east-1 ${two.endpoint}`);
  assert.equal(logged[0][2].err, report.results[2].error.message);
  // b was first read under the store's lock (a needed the store), and not read again for a lease.
  assert.equal(one.calls.slice(callsBefore).filter((c) => c.input.SecretId === 'app/b').length, 1);
  assert.deepEqual(p.messages('warn'), []);
});

test('rotateRun: a store put back from an old copy: the entry named in the refusal gets its own reason, the store\'s other entries the store-wide one', async (t) => {
  const { copyFileSync } = await import('node:fs');
  const p = await project(t, [secretYaml('api', { envs: ['dev'] }), secretYaml('web', { envs: ['dev'] })]);
  await rotate(p);
  copyFileSync(p.storePath('dev'), `${p.storePath('dev')}.old`);
  await rotate(p, { force: true, names: ['api'], all: false });
  copyFileSync(`${p.storePath('dev')}.old`, p.storePath('dev'));
  const report = await rotate(p, { force: true });
  assert.deepEqual(outcomes(report), ['api/dev:failed', 'web/dev:failed']);
  const [api, web] = report.results;
  const path = p.storePath('dev');
  const reason = `store ${path} recorded the evidence log up to seq 2, but the log holds seq 4 about api/dev: the store file is older than the log (an older copy put back?)`;
  const hint = `put the newest copy of ${path} back; if this copy is all that is left, move it aside (keep it) and run keyshift rotate api, which provisions new values (docs/local-store.md#restored-copies)`;
  assert.deepEqual(api.error, { code: 'ERR_STORE_ROLLED_BACK', message: reason, hint });
  assert.deepEqual(web.error, { code: 'ERR_STORE_ROLLED_BACK', message: `store ${path} is not built on: ${reason}`, hint });
  assert.deepEqual([web.action, web.outcome], ['none', 'failed']);
});

test('rotateRun: the evidence log\'s lock is waited for as long as the run\'s --lock-timeout, not the log\'s own 30 s', async (t) => {
  const { acquireFileLock } = await import('../../dist/util/file-lock.js');
  const p = await project(t, [secretYaml('api', { envs: ['dev'] })]);
  mkdirSync(p.ctx.evidenceDir);
  const held = await acquireFileLock(join(p.ctx.evidenceDir, 'evidence.lock'), { waitMs: 100, owner: 'another writer', what: 'evidence log' });
  t.after(() => held.release());
  const started = Date.now();
  await assert.rejects(rotate(p), (error) => {
    assert.equal(error.code, 'ERR_EVIDENCE_WRITE');
    assert.match(error.message, /^changes were applied but evidence could not be written: evidence log .* is locked by another writer /);
    return true;
  });
  assert.ok(Date.now() - started < 10_000, `${Date.now() - started} ms`);
});

test('rotateRun: a decommission beside a secret whose store makes its own keys (no generator) is not held by the data-key gate', async (t) => {
  const kms = ['  - name: kms-key', '    interval: 365d', '    fallbackWindow: 30d', '    environments:', '      - name: prod', '        store: { type: aws-kms, alias: alias/app-data, region: us-east-1 }'].join('\n');
  const p = await project(t, [secretYaml('api', { envs: ['dev'], fallbackWindow: '1h' }), kms]);
  assert.equal(p.policies[1].generator, null);
  const only = { names: ['api'], all: false };
  await rotate(p, only);
  await rotate(p, { ...only, force: true });
  p.advance(2 * HOUR);
  assert.deepEqual(outcomes(await rotate(p, only)), ['api/dev:decommissioned']);
});
