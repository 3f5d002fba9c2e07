// keyshift against a loopback KMS (test/fakes/kms.js), spoken to by the real @aws-sdk/client-kms,
// with a consumer that encrypts and decrypts through the alias before, during and after rotations.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EncryptCommand, DecryptCommand, RotateKeyOnDemandCommand } from '@aws-sdk/client-kms';
import { cli, runCliAsync, tempProject, writeFiles, json, readEvidence, assertNoStackTrace } from '../helpers/cli.js';
import { awsEnv, kmsPolicy } from '../helpers/aws.js';
import { useKmsFake } from '../helpers/aws-fakes.js';

let fake;
let kms;
useKmsFake((server, client) => ([fake, kms] = [server, client]));

function project(keys, options, files = {}) {
  const dir = tempProject('keyshift-kms-');
  writeFiles(dir, { 'policies/keys.yaml': kmsPolicy(fake.endpoint, keys, options), ...files });
  return dir;
}

const run = (dir, args, env = awsEnv()) => cli(args, { cwd: dir, env });
const encrypt = async (keyId, text) => (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(text) })));
const decrypt = async (blob) => Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext).toString();
const decryptError = async (blob) => {
  try {
    await decrypt(blob);
    return null;
  } catch (error) {
    return error.name;
  }
};
const keysOf = (alias) => fake.keys().filter((k) => k.tags['keyshift:alias'] === alias);

// A deploy hook that records what it was given and waits until the test lets it go: the test acts
// as a consumer while both keys are enabled.
const BARRIER = `
const fs = require('node:fs');
fs.writeFileSync('overlap.json', JSON.stringify({ newKey: process.env.KEYSHIFT_NEW_KEY_ID, oldKey: process.env.KEYSHIFT_OLD_KEY_ID, valueFile: process.env.KEYSHIFT_VALUE_FILE ?? null, phase: process.env.KEYSHIFT_PHASE }));
const until = Date.now() + 30000;
const wait = () => (fs.existsSync('go') || Date.now() > until ? process.exit(0) : setTimeout(wait, 25));
wait();
`;

describe('aws-kms store through the CLI (mode alias)', () => {
  test('a consumer reads everything it wrote through overlap and fallback; after decommission old ciphertexts fail; rollback restores them', async () => {
    const old = fake.seedKey({ alias: 'alias/app-data', description: 'app data key', tags: { team: 'payments' } });
    const dir = project([{ name: 'app-data', alias: 'alias/app-data' }], {
      fallbackWindow: '3s',
      extra: ', pendingWindowDays: 7',
      environmentExtra: '        deploy:\n          - run: [node, barrier.cjs]\n',
    }, { 'barrier.cjs': BARRIER });
    const before = await encrypt('alias/app-data', 'written before');
    assert.equal(before.KeyId, old.arn);

    const rotating = runCliAsync(['rotate', '--all', '--force', '--reason', 'test', '--json'], { cwd: dir, env: awsEnv() });
    const deadline = Date.now() + 20_000;
    while (!existsSync(join(dir, 'overlap.json')) && Date.now() < deadline) await sleep(25);
    const seen = JSON.parse(readFileSync(join(dir, 'overlap.json'), 'utf8'));
    assert.equal(seen.oldKey, old.keyId, 'the hook gets the old key id');
    assert.ok(seen.newKey && seen.newKey !== old.keyId, 'the hook gets the new key id');
    assert.equal(seen.valueFile, null, 'no value: key material never leaves KMS');
    const fresh = fake.inspect(seen.newKey);
    assert.equal(fresh.state, 'Enabled');
    assert.deepEqual(fake.inspect('alias/app-data').keyId, old.keyId, 'during the overlap the alias still points to the old key');
    const duringAlias = await encrypt('alias/app-data', 'written during overlap (alias)');
    const duringNew = await encrypt(seen.newKey, 'written during overlap (new key)');
    assert.equal(await decrypt(before.CiphertextBlob), 'written before');
    writeFileSync(join(dir, 'go'), '');
    const done = await rotating.done;
    assert.equal(done.code, 0, done.stdout + done.stderr);
    const rotated = json(done).results[0];
    assert.equal(rotated.outcome, 'rotated');
    assert.equal(rotated.fromVersion, old.keyId);

    // The new key is like the old one, plus keyshift's tags, and the alias moved to it.
    assert.equal(fake.inspect('alias/app-data').keyId, seen.newKey);
    assert.equal(fresh.keySpec, old.keySpec);
    assert.equal(fresh.keyUsage, old.keyUsage);
    assert.equal(fresh.policy, old.policy);
    assert.equal(fresh.tags.team, 'payments');
    assert.equal(fresh.tags['keyshift:version-id'], rotated.toVersion);
    assert.match(fresh.description, /alias\/app-data: rotated by keyshift on \d{4}-\d\d-\d\d/);
    assert.equal(keysOf('alias/app-data').length, 1, 'exactly one new key');

    // Fallback: new data goes to the new key; everything written so far still decrypts.
    const afterSwitch = await encrypt('alias/app-data', 'written in fallback');
    assert.equal(afterSwitch.KeyId, fresh.arn);
    for (const [blob, text] of [[before, 'written before'], [duringAlias, 'written during overlap (alias)'], [duringNew, 'written during overlap (new key)'], [afterSwitch, 'written in fallback']]) {
      assert.equal(await decrypt(blob.CiphertextBlob), text);
    }
    const status = json(await run(dir, ['status', '--json'])).secrets[0];
    assert.equal(status.phase, 'fallback');
    assert.equal(status.currentVersion, rotated.toVersion);
    assert.equal(status.previousVersion, old.keyId);
    assert.equal((await run(dir, ['get', 'app-data'])).stdout.trim(), fresh.arn, 'get prints the key ARN, never material');

    await sleep(3100);
    const decommissioned = json(await run(dir, ['rotate', '--all', '--json']));
    assert.deepEqual(decommissioned.results.map((r) => [r.action, r.outcome]), [['decommission', 'decommissioned']]);
    const retired = fake.inspect(old.keyId);
    assert.equal(retired.state, 'PendingDeletion');
    const days = (new Date(retired.deletionDate) - Date.now()) / 86_400_000;
    assert.ok(days > 6.9 && days <= 7.01, `deletion in pendingWindowDays (7), got ${days}`);
    assert.equal(await decryptError(before.CiphertextBlob), 'KMSInvalidStateException', 'old-key ciphertexts fail as AWS fails them');
    assert.equal(await decrypt(afterSwitch.CiphertextBlob), 'written in fallback');
    assert.equal(json(await run(dir, ['status', '--json'])).secrets[0].phase, 'idle');

    // Rollback after the decommission, while the deletion is pending: the old key comes back.
    const back = await run(dir, ['rollback', 'app-data', '--reason', 'new key broke decrypt', '--json']);
    assert.equal(back.code, 0, back.stdout + back.stderr);
    assert.equal(fake.inspect('alias/app-data').keyId, old.keyId);
    assert.equal(fake.inspect(old.keyId).state, 'Enabled');
    assert.equal(await decrypt(before.CiphertextBlob), 'written before');
    assert.equal(fake.inspect(seen.newKey).state, 'PendingDeletion', 'the replaced key is scheduled for deletion (cancellable)');
    assert.equal(json(await run(dir, ['status', '--json'])).secrets[0].currentVersion, old.keyId);

    const verify = await run(dir, ['evidence', 'verify']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    const events = readEvidence(dir);
    assert.deepEqual(events.map((e) => e.event), ['issued', 'deployed', 'switched', 'decommissioned', 'rolled-back']);
    assert.ok(events.every((e) => e.store === 'aws-kms' && e.fingerprint === null));
  });

  test('rollback during the fallback window moves the alias back and retires the new key', async () => {
    const old = fake.seedKey({ alias: 'alias/fallback-rollback' });
    const dir = project([{ name: 'fb', alias: 'alias/fallback-rollback' }]);
    const rotated = json(await run(dir, ['rotate', '--all', '--force', '--reason', 'test', '--json'])).results[0];
    assert.equal(rotated.outcome, 'rotated');
    const fresh = fake.inspect('alias/fallback-rollback').keyId;
    assert.notEqual(fresh, old.keyId);
    const back = await run(dir, ['rollback', 'fb', '--json']);
    assert.equal(back.code, 0, back.stdout + back.stderr);
    assert.equal(fake.inspect('alias/fallback-rollback').keyId, old.keyId);
    assert.equal(fake.inspect(fresh).state, 'PendingDeletion');
    const status = json(await run(dir, ['status', '--json'])).secrets[0];
    assert.equal(status.phase, 'idle');
    assert.equal(status.currentVersion, old.keyId);
  });

  test('the decommission gate holds the old key while a check fails, and says why in status, plan and evidence', async () => {
    const old = fake.seedKey({ alias: 'alias/gated' });
    const dir = project([{ name: 'gated', alias: 'alias/gated' }], {
      fallbackWindow: '1s',
      secretExtra: '    decommissionCheck:\n      - run: [node, -e, "process.exit(require(\'node:fs\').existsSync(\'still-used\') ? 1 : 0)"]\n',
    }, { 'still-used': '' });
    assert.equal((await run(dir, ['rotate', '--all', '--force', '--reason', 'test'])).code, 0);
    await sleep(1100);
    const held = await run(dir, ['rotate', '--all', '--json']);
    assert.equal(held.code, 3, held.stdout + held.stderr);
    const result = json(held).results[0];
    assert.equal(result.outcome, 'blocked');
    assert.equal(result.error.code, 'ERR_DECOMMISSION_HELD');
    assert.equal(fake.inspect(old.keyId).state, 'Enabled', 'the old key is not disabled');
    const status = json(await run(dir, ['status', '--json'])).secrets[0];
    assert.equal(status.phase, 'fallback');
    assert.equal(status.error.code, 'ERR_DECOMMISSION_HELD');
    assert.match(status.error.message, /decommissionCheck\[0\]/);
    const plan = json(await run(dir, ['plan', '--json'])).actions[0];
    assert.equal(plan.action, 'decommission');
    assert.match(plan.reason, /held by decommissionCheck/);
    const failed = readEvidence(dir).find((e) => e.event === 'failed');
    assert.deepEqual(failed.checks.map((c) => [c.phase, c.ok]), [['decommission-check', false]]);

    rmSync(join(dir, 'still-used'));
    const released = json(await run(dir, ['rotate', '--all', '--json']));
    assert.deepEqual(released.results.map((r) => r.outcome), ['decommissioned']);
    assert.equal(fake.inspect(old.keyId).state, 'PendingDeletion');
    const decommissioned = readEvidence(dir).find((e) => e.event === 'decommissioned');
    assert.deepEqual(decommissioned.checks.map((c) => [c.phase, c.ok]), [['decommission-check', true]]);
  });

  test('an emergency rotate --all --force over 20 keys stays inside the 5/s control-plane quotas', async () => {
    const keys = [];
    for (let i = 0; i < 20; i++) {
      fake.seedKey({ alias: `alias/bulk-${i}` });
      keys.push({ name: `bulk-${i}`, alias: `alias/bulk-${i}` });
    }
    const dir = project(keys);
    const first = fake.calls.length;
    const result = await run(dir, ['rotate', '--all', '--force', '--reason', 'drill', '--concurrency', '8', '--json']);
    assert.equal(result.code, 0, result.stdout.slice(0, 2000) + result.stderr.slice(0, 2000));
    assert.ok(json(result).results.every((r) => r.outcome === 'rotated'));
    const calls = fake.calls.slice(first);
    assert.deepEqual(calls.filter((c) => c.errorCode === 'ThrottlingException'), [], 'not one call throttled');
    for (let i = 0; i < 20; i++) assert.equal(keysOf(`alias/bulk-${i}`).length, 1);
  });
});

describe('aws-kms store through the CLI (mode managed)', () => {
  test('rotate = RotateKeyOnDemand under the same key id; automatic rotation on at the interval; old ciphertexts still decrypt', async () => {
    const key = fake.seedKey({ alias: 'alias/managed' });
    const dir = project([{ name: 'managed', alias: 'alias/managed' }], { interval: '90d', extra: ', mode: managed' });
    const before = await encrypt('alias/managed', 'before');
    const rotated = await run(dir, ['rotate', '--all', '--force', '--reason', 'test', '--json']);
    assert.equal(rotated.code, 0, rotated.stdout + rotated.stderr);
    assert.equal(json(rotated).results[0].outcome, 'rotated');
    const after = fake.inspect('alias/managed');
    assert.equal(after.keyId, key.keyId, 'same key id');
    assert.equal(after.onDemandRotations, 1);
    assert.equal(after.rotationEnabled, true);
    assert.equal(after.rotationPeriodInDays, 90);
    assert.equal(await decrypt(before.CiphertextBlob), 'before');
    const status = json(await run(dir, ['status', '--json'])).secrets[0];
    assert.equal(status.phase, 'idle');
    assert.ok(Date.now() - Date.parse(status.lastRotatedAt) < 60_000);
    assert.ok(Math.abs(Date.parse(status.nextDueAt) - Date.parse(status.lastRotatedAt) - 90 * 86_400_000) < 1000);
    // Not due again, and a rerun does not rotate twice.
    assert.deepEqual(json(await run(dir, ['rotate', '--all', '--json'])).results.map((r) => r.outcome), ['skipped']);
    assert.equal(fake.inspect('alias/managed').onDemandRotations, 1);
  });

  test('the per-key on-demand rotation limit is checked before calling, with a clear error', async () => {
    const key = fake.seedKey({ alias: 'alias/worn' });
    fake.setQuotas({ RotateKeyOnDemand: null }); // the test's own 10 rotations, at once
    for (let i = 0; i < 10; i++) await kms.send(new RotateKeyOnDemandCommand({ KeyId: key.keyId }));
    fake.setQuotas({ RotateKeyOnDemand: 5 });
    const dir = project([{ name: 'worn', alias: 'alias/worn' }], { interval: '90d', extra: ', mode: managed' });
    const first = fake.calls.length;
    const result = await run(dir, ['rotate', '--all', '--force', '--reason', 'test', '--json']);
    assert.equal(result.code, 1);
    assert.equal(json(result).results[0].error.code, 'ERR_KMS_ROTATION_LIMIT');
    assert.ok(!fake.calls.slice(first).some((c) => c.op === 'RotateKeyOnDemand'), 'RotateKeyOnDemand was not called');
    assertNoStackTrace(assert, result.stderr);
  });
});

describe('aws-kms policies', () => {
  const cases = {
    'reserved alias': ['    environments:\n      - name: prod\n        store: { type: aws-kms, alias: alias/aws/s3 }\n', /alias\/aws\/ is reserved/],
    'pending window out of range': ['    environments:\n      - name: prod\n        store: { type: aws-kms, alias: alias/x, pendingWindowDays: 5 }\n', /pendingWindowDays: must be a whole number from 7 to 30/],
    'a generator for a KMS key': ['    generator: { type: random, bytes: 32 }\n    environments:\n      - name: prod\n        store: { type: aws-kms, alias: alias/x }\n', /generator: does not apply to aws-kms keys/],
    'managed with a 30d interval': ['    environments:\n      - name: prod\n        store: { type: aws-kms, alias: alias/x, mode: managed }\n', /interval: must be whole days from 90d to 2560d/],
    'keys mixed with values': ['    environments:\n      - name: prod\n        store: { type: aws-kms, alias: alias/x }\n      - name: dev\n        store: { type: local, path: dev.store }\n', /mixes aws-kms keys with stored values/],
  };
  for (const [name, [environments, message]] of Object.entries(cases)) {
    test(`${name} is a policy error (exit 2)`, async () => {
      const dir = tempProject('keyshift-kms-policy-');
      writeFiles(dir, { 'policies/p.yaml': `secrets:\n  - name: k\n    interval: 30d\n    fallbackWindow: 1d\n${environments}` });
      const result = await run(dir, ['validate']);
      assert.equal(result.code, 2, result.stdout + result.stderr);
      assert.match(result.stderr, /p\.yaml:\d+:\d+: /);
      assert.match(result.stderr, message);
      assertNoStackTrace(assert, result.stderr);
    });
  }
});
