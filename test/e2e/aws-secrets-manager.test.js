// keyshift against a loopback Secrets Manager (test/fakes/secrets-manager.js), spoken to by the
// real @aws-sdk/client-secrets-manager over AWS JSON 1.1, driven through the CLI as a user would.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SecretsManagerClient, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { cli, runCliAsync, tempProject, writeFiles, json, readEvidence, assertNoStackTrace } from '../helpers/cli.js';
import { awsEnv, sdkConfig, secretsManagerPolicy } from '../helpers/aws.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';

let fake;
before(async () => {
  fake = await startSecretsManager({});
});
after(async () => {
  await fake?.close();
});

function project(secrets, options) {
  const dir = tempProject('keyshift-sm-');
  writeFiles(dir, { 'policies/aws.yaml': secretsManagerPolicy(fake.endpoint, secrets, options) });
  return dir;
}

const run = (dir, args, env = awsEnv()) => cli(args, { cwd: dir, env });
const labelsOf = (name) => Object.fromEntries(fake.inspect(name).versions.filter((v) => v.stages.length > 0).map((v) => [v.id, [...v.stages].sort()]));
const tagsOf = (name) => {
  const tags = fake.inspect(name).tags;
  return Array.isArray(tags) ? Object.fromEntries(tags.map((t) => [t.Key, t.Value])) : { ...tags };
};
const versionCount = (name) => fake.inspect(name).versions.length;

describe('aws-secrets-manager store through the CLI', () => {
  test('rotate, status, get, decommission after a short window, evidence verify', async () => {
    fake.seed('app/db', { value: 'initial-value' });
    const dir = project([{ name: 'db-password', secretId: 'app/db' }], { fallbackWindow: '2s' });
    const [original] = fake.inspect('app/db').versions;

    const plan = json(await run(dir, ['plan', '--json']));
    assert.deepEqual(plan.actions.map((a) => a.action), ['none'], 'an existing secret is not due before its interval');

    const rotated = json(await run(dir, ['rotate', '--all', '--force', '--reason', 'test', '--json']));
    const result = rotated.results[0];
    assert.equal(result.outcome, 'rotated', JSON.stringify(rotated));
    assert.equal(result.fromVersion, original.id);
    assert.deepEqual(labelsOf('app/db'), { [original.id]: ['AWSPREVIOUS'], [result.toVersion]: ['AWSCURRENT', 'AWSPENDING', 'KEYSHIFT_LEASE'] }, 'the lease label is back on the current version');
    assert.equal(versionCount('app/db'), 2, 'exactly one new version');
    const tags = tagsOf('app/db');
    assert.equal(tags['keyshift:phase'], 'fallback');
    assert.equal(tags['keyshift:rotation-id'], result.rotationId);

    const current = (await run(dir, ['get', 'db-password'])).stdout.trim();
    assert.match(current, /^[A-Za-z0-9]{24}$/);
    assert.equal((await run(dir, ['get', 'db-password', '--stage', 'previous'])).stdout.trim(), 'initial-value');

    const status = json(await run(dir, ['status', '--json'])).secrets[0];
    assert.equal(status.phase, 'fallback');
    assert.equal(status.currentVersion, result.toVersion);
    assert.equal(status.previousVersion, original.id);
    assert.equal(status.pendingVersion, null, 'AWSPENDING next to AWSCURRENT is not a pending version');

    await sleep(2100);
    const later = json(await run(dir, ['rotate', '--all', '--json']));
    assert.deepEqual(later.results.map((r) => [r.action, r.outcome]), [['decommission', 'decommissioned']]);
    assert.deepEqual(labelsOf('app/db'), { [result.toVersion]: ['AWSCURRENT', 'AWSPENDING', 'KEYSHIFT_LEASE'] }, 'the old version is deprecated (no label)');
    assert.equal(versionCount('app/db'), 2);
    assert.equal(tagsOf('app/db')['keyshift:phase'], 'idle');
    assert.equal((await run(dir, ['get', 'db-password', '--stage', 'previous'])).code, 1);
    assert.equal(json(await run(dir, ['status', '--json'])).secrets[0].phase, 'idle');

    const verify = await run(dir, ['evidence', 'verify']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    const events = readEvidence(dir).map((r) => [r.event, r.store]);
    assert.deepEqual(events, [['issued', 'aws-secrets-manager'], ['switched', 'aws-secrets-manager'], ['decommissioned', 'aws-secrets-manager']]);
  });

  test('rollback during the fallback window puts AWSCURRENT back on the old version', async () => {
    fake.seed('app/rollback', { value: 'old-value' });
    const dir = project([{ name: 'api-key', secretId: 'app/rollback' }]);
    const [old] = fake.inspect('app/rollback').versions;
    const rotated = json(await run(dir, ['rotate', '--all', '--force', '--reason', 'test', '--json'])).results[0];
    assert.equal(rotated.outcome, 'rotated');
    const back = await run(dir, ['rollback', 'api-key', '--json']);
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(labelsOf('app/rollback'), { [old.id]: ['AWSCURRENT', 'KEYSHIFT_LEASE'] }, 'the new version is deprecated (the lease label moved to AWSCURRENT)');
    assert.equal((await run(dir, ['get', 'api-key'])).stdout.trim(), 'old-value');
    assert.equal(json(await run(dir, ['status', '--json'])).secrets[0].phase, 'idle');
  });

  test('a missing secret is an error with a hint, unless the policy says createIfMissing', async () => {
    const dir = project([
      { name: 'absent', secretId: 'app/absent' },
      { name: 'created', secretId: 'app/created', extra: ', createIfMissing: true' },
    ]);
    const result = await run(dir, ['rotate', '--all', '--json']);
    assert.equal(result.code, 1);
    const byName = Object.fromEntries(json(result).results.map((r) => [r.secret, r]));
    assert.equal(byName.absent.outcome, 'failed');
    assert.equal(byName.absent.error.code, 'ERR_STORE_NOT_FOUND');
    assert.match(byName.absent.error.hint, /createIfMissing: true/);
    assert.equal(byName.created.outcome, 'provisioned');
    assert.deepEqual(Object.values(labelsOf('app/created')), [['AWSCURRENT']]);
    assert.equal(fake.inspect('app/absent'), undefined, 'nothing was created');
    assertNoStackTrace(assert, result.stderr);
  });

  test('refuses, with exit 3 and nothing changed: AWS-managed rotation, a foreign AWSPENDING, a secret marked for deletion', async () => {
    fake.seed('app/lambda', { value: 'v', rotationEnabled: true });
    fake.seed('app/foreign', { value: 'v' });
    fake.seed('app/deleted', { value: 'v', markedForDeletion: true });
    const client = new SecretsManagerClient(sdkConfig(fake.endpoint));
    const foreignToken = 'f0000000-0000-4000-8000-000000000000';
    await client.send(new PutSecretValueCommand({ SecretId: 'app/foreign', ClientRequestToken: foreignToken, SecretString: 'someone else', VersionStages: ['AWSPENDING'] }));
    client.destroy();
    const dir = project([
      { name: 'lambda', secretId: 'app/lambda' },
      { name: 'foreign', secretId: 'app/foreign' },
      { name: 'deleted', secretId: 'app/deleted' },
    ]);
    const before = ['app/lambda', 'app/foreign', 'app/deleted'].map((n) => JSON.stringify([fake.inspect(n).versions, tagsOf(n)]));

    const result = await run(dir, ['rotate', '--all', '--force', '--reason', 'test', '--json']);
    assert.equal(result.code, 3, result.stdout + result.stderr);
    const byName = Object.fromEntries(json(result).results.map((r) => [r.secret, r]));
    for (const name of ['lambda', 'foreign', 'deleted']) {
      assert.equal(byName[name].outcome, 'blocked', name);
      assert.equal(byName[name].error.code, 'ERR_STORE_REFUSED', name);
    }
    assert.match(byName.lambda.error.message, /rotation enabled/);
    assert.match(byName.lambda.error.hint, /cancel-rotate-secret/);
    assert.match(byName.foreign.error.message, new RegExp(foreignToken));
    assert.match(byName.foreign.error.hint, /describe-secret.*update-secret-version-stage .*--remove-from-version-id/);
    assert.match(byName.deleted.error.message, /scheduled for deletion/);
    assert.match(byName.deleted.error.hint, /restore-secret/);
    const afterRun = ['app/lambda', 'app/foreign', 'app/deleted'].map((n) => JSON.stringify([fake.inspect(n).versions, tagsOf(n)]));
    assert.deepEqual(afterRun, before, 'nothing changed');
    assert.deepEqual(readEvidence(dir).filter((r) => r.event !== 'failed'), []);

    const table = await run(dir, ['rotate', 'lambda', '--force', '--reason', 'test']);
    assert.equal(table.code, 3);
    assertNoStackTrace(assert, table.stdout + table.stderr);
  });

  test('access denied and throttled stay distinct in errors and evidence; a rerun resumes', async () => {
    fake.seed('app/denied', { value: 'v' });
    fake.seed('app/throttled', { value: 'v' });
    const dir = project([
      { name: 'denied', secretId: 'app/denied' },
      { name: 'throttled', secretId: 'app/throttled' },
    ]);
    const allow = fake.deny({ op: 'PutSecretValue', resource: 'app/denied' });
    const denied = await run(dir, ['rotate', 'denied', '--force', '--reason', 'test', '--json']);
    allow();
    assert.equal(denied.code, 1);
    const deniedResult = json(denied).results[0];
    assert.equal(deniedResult.error.code, 'ERR_STORE_ACCESS_DENIED');
    assert.match(deniedResult.error.message, /AccessDeniedException/);
    assert.match(deniedResult.error.hint, /docs\/stores\/aws-secrets-manager.md/);

    const fault = fake.injectFault({ op: 'PutSecretValue', kind: 'throttle', times: 100 });
    const throttled = await run(dir, ['rotate', 'throttled', '--force', '--reason', 'test', '--json'], awsEnv({ AWS_MAX_ATTEMPTS: '2' }));
    fault.cancel();
    assert.equal(throttled.code, 1);
    assert.equal(json(throttled).results[0].error.code, 'ERR_STORE_THROTTLED');

    const failed = Object.fromEntries(readEvidence(dir).filter((r) => r.event === 'failed').map((r) => [r.secret, r.error]));
    assert.match(failed.denied, /access denied.*AccessDeniedException/);
    assert.match(failed.throttled, /throttled.*ThrottlingException/);
    assert.deepEqual(json(await run(dir, ['status', '--json'])).secrets.map((s) => s.phase), ['failed', 'failed']);

    // Once allowed, a rerun resumes both rotations with their own tokens: one new version each.
    const rerun = json(await run(dir, ['rotate', '--all', '--json']));
    assert.deepEqual(rerun.results.map((r) => r.outcome), ['resumed', 'resumed']);
    assert.equal(versionCount('app/denied'), 2);
    assert.equal(versionCount('app/throttled'), 2);
    assert.equal((await run(dir, ['evidence', 'verify'])).code, 0);
  });

  test('throttling and 500s are survived: an emergency rotate --all --force over 40 secrets, no failure', async () => {
    const secrets = [];
    for (let i = 0; i < 40; i++) {
      fake.seed(`bulk/s${i}`, { value: `value-${i}` });
      secrets.push({ name: `bulk-${i}`, secretId: `bulk/s${i}` });
    }
    // The client believes it may write 40/s; the server allows 10/s: it throttles, the SDK backs off.
    const dir = project(secrets, { store: ', quotas: { versionWritesPerSecond: 40 }' });
    fake.setQuotas({ versionWrites: 10 });
    fake.injectFault({ op: 'PutSecretValue', kind: '500', nth: 3 });
    fake.injectFault({ op: 'UpdateSecretVersionStage', kind: 'drop', nth: 5 });
    try {
      const result = await run(dir, ['rotate', '--all', '--force', '--reason', 'drill', '--concurrency', '16', '--json']);
      assert.equal(result.code, 0, result.stdout.slice(0, 2000) + result.stderr.slice(0, 2000));
      assert.ok(json(result).results.every((r) => r.outcome === 'rotated'));
      for (let i = 0; i < 40; i++) assert.equal(versionCount(`bulk/s${i}`), 2, `bulk/s${i} has exactly one new version`);
      assert.ok(fake.calls.some((c) => c.errorCode === 'ThrottlingException'), 'the server did throttle');
    } finally {
      fake.setQuotas({ versionWrites: 50 });
      fake.clearFaults();
    }
  });

  test('an emergency rotate --all --force over 200 secrets at the real quotas: not one call throttled', async () => {
    const secrets = [];
    for (let i = 0; i < 200; i++) {
      fake.seed(`emergency/s${i}`, { value: `value-${i}` });
      secrets.push({ name: `e-${i}`, secretId: `emergency/s${i}` });
    }
    const dir = project(secrets);
    const first = fake.calls.length;
    const result = await run(dir, ['rotate', '--all', '--force', '--reason', 'suspected compromise', '--concurrency', '32', '--json']);
    assert.equal(result.code, 0, result.stderr.slice(0, 2000));
    assert.equal(json(result).results.filter((r) => r.outcome === 'rotated').length, 200);
    assert.deepEqual(fake.calls.slice(first).filter((c) => c.errorCode === 'ThrottlingException'), []);
  });

  test('another machine sees an in-flight rotation in the tags and resumes it', async () => {
    fake.seed('app/shared', { value: 'old' });
    const machineA = project([{ name: 'shared', secretId: 'app/shared' }]);
    const machineB = project([{ name: 'shared', secretId: 'app/shared' }]);
    const homeB = tempProject('keyshift-home-b-');
    let child;
    const stop = fake.afterCall(({ op }) => {
      if (op === 'PutSecretValue') child?.kill('SIGKILL');
    });
    const running = runCliAsync(['rotate', '--all', '--force', '--reason', 'started on A'], { cwd: machineA, env: awsEnv() });
    child = running.child;
    assert.equal((await running.done).signal, 'SIGKILL');
    stop();
    assert.equal(tagsOf('app/shared')['keyshift:phase'], 'overlap');
    const resumed = json(await run(machineB, ['rotate', '--all', '--json'], awsEnv({ HOME: homeB })));
    assert.deepEqual(resumed.results.map((r) => r.outcome), ['resumed']);
    assert.equal(resumed.results[0].rotationId, tagsOf('app/shared')['keyshift:rotation-id']);
    assert.equal(versionCount('app/shared'), 2, 'the same version, not a second one');
    assert.equal(tagsOf('app/shared')['keyshift:phase'], 'fallback');
  });

  test('a canary value never reaches logs, evidence, tags or stdout (but get)', async () => {
    const canary = `canary-${Math.random().toString(36).slice(2)}-sm`;
    fake.seed('app/canary', { value: 'before' });
    const dir = project([{ name: 'canary', secretId: 'app/canary' }], { generator: `{ type: command, run: [node, -e, "process.stdout.write('${canary}')"] }` });
    const env = awsEnv({ KEYSHIFT_LOG_LEVEL: 'trace' });
    const outputs = [];
    for (const args of [['plan'], ['rotate', '--all', '--force', '--reason', 'leak'], ['status'], ['rotate', '--all', '--json'], ['status', '--json'], ['evidence', 'verify']]) {
      const result = await run(dir, args, env);
      outputs.push(result.stdout, result.stderr);
    }
    const get = await run(dir, ['get', 'canary'], env);
    assert.equal(get.stdout.trim(), canary, 'get prints the value');
    // The service gets the value in SecretString, by design, and nowhere else in any request.
    assert.ok(fake.calls.some((c) => c.input?.SecretString === canary), 'the call log records what was sent');
    const beyondSecretString = JSON.stringify(fake.calls.map((c) => ({ ...c, input: { ...c.input, SecretString: undefined } })));
    for (const text of [...outputs, get.stderr, readFileSync(join(dir, 'evidence', 'evidence.jsonl'), 'utf8'), JSON.stringify(tagsOf('app/canary')), beyondSecretString]) {
      assert.ok(!text.includes(canary), `canary leaked: ${text.slice(0, 300)}`);
    }
  });

  test('a secret keyshift never rotated falls due from its current value\'s age, and its own lease does not make it look new', async () => {
    // A fake of its own whose clock starts 200 days back: the secret and its value are that old.
    let offset = -200 * 86400_000;
    const aged = await startSecretsManager({ now: () => new Date(Date.now() + offset) });
    try {
      aged.seed('old/db', { value: 'set-long-ago' });
      offset = 0;
      const dir = tempProject('keyshift-sm-');
      writeFiles(dir, { 'policies/aws.yaml': secretsManagerPolicy(aged.endpoint, [{ name: 'db', secretId: 'old/db' }]) });
      const plan = json(await run(dir, ['plan', '--json']));
      assert.deepEqual(plan.actions.map((a) => a.action), ['rotate'], 'due: its value is 200 days old, the interval 30d');
      // A scheduled run (no --force): the lease it takes moves a label, which bumps LastChangedDate.
      const rotated = await run(dir, ['rotate', '--all', '--json']);
      assert.equal(rotated.code, 0, rotated.stdout + rotated.stderr);
      assert.deepEqual(json(rotated).results.map((r) => r.outcome), ['rotated'], rotated.stdout);
    } finally {
      await aged.close();
    }
  });
});
