// keyshift doctor against the loopback Secrets Manager (test/fakes/secrets-manager.js), through the
// real SDK: a foreign AWSPENDING put with the SDK, labels nothing explains, a rotation whose new
// version was never created, access denied.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SecretsManagerClient, PutSecretValueCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { cli, tempProject, writeFiles, json, readEvidence, assertNoStackTrace } from '../helpers/cli.js';
import { awsEnv, sdkConfig, secretsManagerPolicy } from '../helpers/aws.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';

let fake;
let client;
before(async () => {
  fake = await startSecretsManager({});
  client = new SecretsManagerClient(sdkConfig(fake.endpoint));
});
after(async () => {
  client?.destroy();
  await fake?.close();
});

/** Each project keeps its own state dir: anchors of other tests' logs must not mix in. */
function project(secrets) {
  const dir = tempProject('keyshift-doctor-sm-');
  writeFiles(dir, { 'policies/aws.yaml': secretsManagerPolicy(fake.endpoint, secrets) });
  const env = awsEnv({ KEYSHIFT_STATE_DIR: join(dir, 'state') });
  const run = (args) => cli(args, { cwd: dir, env });
  const doctor = async (args = []) => {
    const result = await run(['doctor', '--json', ...args]);
    assertNoStackTrace(assert, result.stderr);
    return { code: result.code, findings: json(result).findings };
  };
  return { dir, run, doctor };
}

const labelsOf = (name) => Object.fromEntries(fake.inspect(name).versions.filter((v) => v.stages.length > 0).map((v) => [v.id, [...v.stages].sort()]));
const state = (name) => JSON.stringify([fake.inspect(name).versions.map((v) => [v.id, v.stages]), fake.inspect(name).tags]);

describe('doctor on aws-secrets-manager', () => {
  test('healthy: no findings; a foreign AWSPENDING is found, left alone without --fix, cleared with --fix and evidence', async () => {
    fake.seed('doctor/foreign', { value: 'v1' });
    const { dir, run, doctor } = project([{ name: 'db-password', secretId: 'doctor/foreign' }]);
    assert.equal((await run(['rotate', '--all', '--force', '--reason', 'test', '-q'])).code, 0);
    assert.deepEqual(await doctor(), { code: 0, findings: [] });

    const token = 'f1000000-0000-4000-8000-000000000000';
    await client.send(new PutSecretValueCommand({ SecretId: 'doctor/foreign', ClientRequestToken: token, SecretString: 'someone else', VersionStages: ['AWSPENDING'] }));
    const before = state('doctor/foreign');
    const found = await doctor();
    assert.equal(found.code, 1);
    assert.equal(found.findings.length, 1, JSON.stringify(found.findings));
    const [finding] = found.findings;
    assert.equal(finding.check, 'foreign-pending');
    assert.equal(finding.secret, 'db-password');
    assert.equal(finding.fixable, true);
    assert.match(finding.message, new RegExp(`AWSPENDING on version ${token}, which keyshift did not create`));
    assert.match(finding.hint, /describe-secret --secret-id doctor\/foreign.*update-secret-version-stage .*--version-stage AWSPENDING --remove-from-version-id f1000000/);
    assert.equal(state('doctor/foreign'), before, 'nothing changed without --fix');

    const fixed = await doctor(['--fix']);
    assert.equal(fixed.code, 0, JSON.stringify(fixed.findings));
    assert.equal(fixed.findings[0].fixed, true);
    assert.equal(labelsOf('doctor/foreign')[token], undefined, 'the foreign version is deprecated');
    const repaired = readEvidence(dir).filter((e) => e.event === 'repaired');
    assert.equal(repaired.length, 1);
    assert.equal(repaired[0].fromVersion, token);
    assert.deepEqual(repaired[0].checks.map((c) => c.check), ['foreign-pending']);
    assert.equal(repaired[0].store, 'aws-secrets-manager');
    assert.equal((await run(['evidence', 'verify'])).code, 0);
    assert.deepEqual(await doctor(), { code: 0, findings: [] });
    assert.equal((await run(['rotate', '--all', '--force', '--reason', 'after', '-q'])).code, 0, 'rotate no longer refuses');
  });

  test('fixed only when clearly safe (not with another label on it); labels nothing explains are reported only', async () => {
    fake.seed('doctor/unsafe', {
      versions: [
        { id: 'a0000000-0000-4000-8000-000000000000', value: 'old', stages: ['AWSCURRENT'] },
        { id: 'b0000000-0000-4000-8000-000000000000', value: 'theirs', stages: ['AWSPENDING', 'CANARY'] },
        { id: 'c0000000-0000-4000-8000-000000000000', value: 'test', stages: ['BLUE'] },
      ],
    });
    // Never rotated by keyshift (no record yet) and only AWSPENDING on the foreign version: safe.
    fake.seed('doctor/fresh', {
      versions: [
        { id: 'd0000000-0000-4000-8000-000000000000', value: 'old', stages: ['AWSCURRENT'] },
        { id: 'e0000000-0000-4000-8000-000000000000', value: 'theirs', stages: ['AWSPENDING'] },
      ],
    });
    const { dir, run, doctor } = project([{ name: 'api-token', secretId: 'doctor/unsafe' }, { name: 'fresh', secretId: 'doctor/fresh' }]);
    const before = state('doctor/unsafe');
    const fixed = await doctor(['--fix']);
    assert.equal(fixed.code, 1);
    assert.deepEqual(fixed.findings.map((f) => [f.secret, f.check, f.fixable, f.fixed]), [
      ['api-token', 'foreign-pending', false, false],
      ['api-token', 'unknown-versions', false, false],
      ['fresh', 'foreign-pending', true, true],
    ]);
    assert.match(fixed.findings[0].message, /not repaired automatically: it also carries CANARY/);
    assert.match(fixed.findings[1].message, /c0000000-0000-4000-8000-000000000000 \(BLUE\)/);
    assert.equal(state('doctor/unsafe'), before);
    assert.deepEqual(labelsOf('doctor/fresh'), { 'd0000000-0000-4000-8000-000000000000': ['AWSCURRENT'] });
    assert.deepEqual(readEvidence(dir).map((e) => [e.event, e.secret, e.fromVersion]), [['repaired', 'fresh', 'e0000000-0000-4000-8000-000000000000']]);
    assert.equal((await run(['evidence', 'verify'])).code, 0);
  });

  test('a rotation whose new version was never created is resumed by --fix; access denied is a store-error', async () => {
    fake.seed('doctor/stuck', { value: 'v1' });
    const { dir, run, doctor } = project([{ name: 'stuck', secretId: 'doctor/stuck' }]);
    const allow = fake.deny({ op: 'PutSecretValue', resource: 'doctor/stuck' });
    assert.equal((await run(['rotate', '--all', '--force', '--reason', 'test', '-q'])).code, 1);
    allow();
    const found = await doctor();
    assert.equal(found.code, 1);
    assert.deepEqual(found.findings.map((f) => [f.check, f.fixable]), [['stale-pending', true]]);
    assert.match(found.findings[0].message, /stuck in failed .*access denied.*its new version v-\S+ was never created/);

    const undo = fake.deny({ op: 'DescribeSecret', resource: 'doctor/stuck' });
    const denied = await doctor();
    undo();
    assert.deepEqual(denied.findings.map((f) => f.check), ['store-error']);
    assert.match(denied.findings[0].message, /access denied/);
    assert.match(denied.findings[0].hint, /IAM|permissions/);

    const fixed = await doctor(['--fix']);
    assert.equal(fixed.code, 0, JSON.stringify(fixed.findings));
    // doctor --fix resumed under the secret's lease, as rotate does: released onto the new AWSCURRENT.
    assert.deepEqual(Object.values(labelsOf('doctor/stuck')).map((l) => l.join(',')).sort(), ['AWSCURRENT,AWSPENDING,KEYSHIFT_LEASE', 'AWSPREVIOUS']);
    const events = readEvidence(dir).map((e) => e.event);
    assert.deepEqual(events.slice(-3), ['issued', 'switched', 'repaired']);
    assert.equal((await run(['evidence', 'verify'])).code, 0);
    assert.deepEqual(await doctor(), { code: 0, findings: [] });
  });
});
