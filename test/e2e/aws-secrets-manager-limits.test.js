// What AWS refuses that a loopback fake used to let slip, driven through the CLI: the versions quota
// an emergency loop of forced rotations runs into, and a store whose Region is not its endpoint's.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { cli, tempProject, writeFiles, json, readEvidence, assertNoStackTrace } from '../helpers/cli.js';
import { awsEnv, kmsPolicy, secretsManagerPolicy } from '../helpers/aws.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';

const HOUR = 3600_000;
let clock = Date.now();
let fake;
before(async () => {
  fake = await startSecretsManager({ now: () => new Date(clock) });
});
after(async () => {
  await fake?.close();
});

const run = (dir, args) => cli(args, { cwd: dir, env: awsEnv() });
const currentOf = (name) => fake.inspect(name).versions.filter((v) => v.stages.includes('AWSCURRENT'));

test('an emergency loop of forced rotations meets the versions quota: exit 1, ERR_STORE_QUOTA with the 24 h hint, one readable AWSCURRENT; a day later a rerun resumes', async () => {
  // 96 versions, 95 of them deprecated by earlier rotations within the last hour: 4 more fit.
  const earlier = Array.from({ length: 95 }, (_, i) => ({ id: randomUUID(), value: `old-${i}`, createdAt: new Date(clock - HOUR) }));
  fake.seed('emergency/db', { versions: [...earlier, { id: randomUUID(), value: 'current-value', stages: ['AWSCURRENT'], createdAt: new Date(clock - HOUR) }] });
  const dir = tempProject('keyshift-sm-limits-');
  writeFiles(dir, { 'policies/aws.yaml': secretsManagerPolicy(fake.endpoint, [{ name: 'emergency-db', secretId: 'emergency/db' }]) });

  const runs = [];
  for (let i = 0; i < 10; i++) {
    const callsBefore = fake.calls.length;
    const result = await run(dir, ['rotate', 'emergency-db', '--force', '--reason', 'suspected compromise', '--json']);
    runs.push({ ...result, calls: fake.calls.slice(callsBefore) });
    if (result.code !== 0) break;
  }
  assert.deepEqual(runs.map((r) => r.code), [0, 0, 0, 0, 1], runs.map((r) => r.stderr).join('\n'));
  const refused = runs.at(-1);
  const { results } = json(refused);
  assert.deepEqual(results.map((r) => [r.action, r.outcome]), [['decommission', 'decommissioned'], ['rotate', 'failed']], 'the previous version is retired first, as --force does');
  const result = results[1];
  assert.equal(result.error.code, 'ERR_STORE_QUOTA');
  assert.match(result.error.message, /^PutSecretValue on emergency\/db: secret emergency\/db is at Secrets Manager's quota of versions per secret; .*AWSCURRENT is unchanged \(LimitExceededException: /);
  assert.match(result.error.hint, /never one younger than 24 hours, so forced rotations faster than that pile up versions; wait until .* then rerun/);
  const puts = refused.calls.filter((c) => c.op === 'PutSecretValue');
  assert.deepEqual(puts.map((c) => c.errorCode), ['LimitExceededException'], 'refused at once: the SDK does not retry a quota as throttling');
  assertNoStackTrace(assert, refused.stderr);

  const human = await run(dir, ['rotate', 'emergency-db', '--force', '--reason', 'suspected compromise']);
  assert.equal(human.code, 1);
  assert.match(human.stdout + human.stderr, /quota of versions per secret.*wait until the oldest deprecated versions are 24 hours old/s);

  assert.equal(fake.inspect('emergency/db').versions.length, 100);
  const [current] = currentOf('emergency/db');
  assert.equal(currentOf('emergency/db').length, 1);
  const got = await run(dir, ['get', 'emergency-db']);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.stdout.trim(), current.value, 'the value of the last rotation that went through is still readable');
  assert.equal(json(await run(dir, ['status', '--json'])).secrets[0].phase, 'failed');
  const failed = readEvidence(dir).filter((r) => r.event === 'failed');
  assert.ok(failed.length >= 1 && failed.every((r) => /quota of versions per secret/.test(r.error)), 'the evidence says why');

  clock += 24 * HOUR; // the earlier versions are now old enough for AWS to remove
  const resumed = await run(dir, ['rotate', 'emergency-db', '--json']);
  assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
  assert.deepEqual(json(resumed).results.map((r) => r.outcome), ['resumed']);
  assert.equal(currentOf('emergency/db').length, 1);
  assert.equal(fake.inspect('emergency/db').versions.length, 100, 'AWS removed a deprecated version to make room');
  assert.equal((await run(dir, ['get', 'emergency-db'])).stdout.trim(), currentOf('emergency/db')[0].value);
  assert.equal((await run(dir, ['evidence', 'verify'])).code, 0);
});

test("a store whose region is not its endpoint's: exit 2, ERR_AWS_REGION naming the Region, a hint, nothing written", async () => {
  fake.seed('elsewhere/db', { value: 'v' });
  const dir = tempProject('keyshift-sm-region-');
  writeFiles(dir, { 'policies/aws.yaml': secretsManagerPolicy(fake.endpoint, [{ name: 'elsewhere-db', secretId: 'elsewhere/db' }], { store: ', region: eu-west-1' }) });
  const callsBefore = fake.calls.length;
  for (const args of [['rotate', '--all', '--force', '--reason', 'test', '--json'], ['status', '--json']]) {
    const result = await run(dir, args);
    assert.equal(result.code, 2, `${args[0]}: ${result.stdout}${result.stderr}`);
    const { error } = json(result);
    assert.equal(error.code, 'ERR_AWS_REGION');
    assert.match(error.message, /^DescribeSecret elsewhere\/db: signed for Region eu-west-1, but the endpoint \(.*\) is in another Region \(InvalidSignatureException: Credential should be scoped to a valid region, not 'eu-west-1'/);
    assert.match(error.hint, /region: .*the endpoint's Region/);
    assertNoStackTrace(assert, result.stderr);
  }
  assert.ok(fake.calls.slice(callsBefore).every((c) => c.errorCode === 'InvalidSignatureException'), 'no call got through');
  assert.equal(fake.inspect('elsewhere/db').versions.length, 1);
});

test("a store pointed at another service's endpoint: exit 2, ERR_AWS_ENDPOINT, not access denied", async () => {
  const dir = tempProject('keyshift-sm-service-');
  writeFiles(dir, { 'policies/kms.yaml': kmsPolicy(fake.endpoint, [{ name: 'signing-key', alias: 'alias/signing' }]) });
  const result = await run(dir, ['status', '--json']);
  assert.equal(result.code, 2, result.stdout + result.stderr);
  const { error } = json(result);
  assert.equal(error.code, 'ERR_AWS_ENDPOINT');
  assert.match(error.message, /serves 'secretsmanager', not the service this store uses \(InvalidSignatureException: Credential should be scoped to correct service: 'secretsmanager'/);
  assert.match(error.hint, /endpoint/);
});
