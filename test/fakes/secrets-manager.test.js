// The Secrets Manager fake, driven by the real SDK client: staging labels, token idempotency,
// deprecated versions, tags, deletion marking, rotation configuration, seed/inspect.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  UpdateSecretCommand,
  UpdateSecretVersionStageCommand,
  ListSecretVersionIdsCommand,
  TagResourceCommand,
  UntagResourceCommand,
  DeleteSecretCommand,
  RestoreSecretCommand,
  RotateSecretCommand,
  CancelRotateSecretCommand,
  ListSecretsCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-secrets-manager';
import { startSecretsManager } from './secrets-manager.js';
import { KMSClient, ListKeysCommand } from '@aws-sdk/client-kms';
import { secretsManagerClient, TEST_CREDENTIALS } from './clients.js';

let fake;
let sm;
before(async () => {
  fake = await startSecretsManager();
  sm = secretsManagerClient(fake, { maxAttempts: 1 });
});
after(async () => {
  sm.destroy();
  await fake.close();
});

const send = (command) => sm.send(command);
const put = (SecretId, SecretString, extra = {}) =>
  send(new PutSecretValueCommand({ SecretId, SecretString, ClientRequestToken: randomUUID(), ...extra }));
const stagesOf = (name) => Object.fromEntries(fake.inspect(name).versions.map((v) => [v.id, v.stages.sort()]));

async function rejects(promise, name, message) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.name, name, `${err.name}: ${err.message}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

test('CreateSecret gives the first version AWSCURRENT; name and ARN both address it', async () => {
  const created = await send(new CreateSecretCommand({ Name: 'app/db', SecretString: 'v1', Description: 'db' }));
  assert.match(created.ARN, /^arn:aws:secretsmanager:us-east-1:111122223333:secret:app\/db-[A-Za-z0-9]{6}$/);
  const byArn = await send(new GetSecretValueCommand({ SecretId: created.ARN }));
  assert.equal(byArn.SecretString, 'v1');
  assert.deepEqual(byArn.VersionStages, ['AWSCURRENT']);
  assert.ok(byArn.CreatedDate instanceof Date);
  const described = await send(new DescribeSecretCommand({ SecretId: 'app/db' }));
  assert.deepEqual(described.VersionIdsToStages, { [created.VersionId]: ['AWSCURRENT'] });
  assert.equal(described.Description, 'db');
  assert.equal(described.RotationEnabled, false);
  await rejects(send(new CreateSecretCommand({ Name: 'app/db', SecretString: 'x' })), 'ResourceExistsException');
  await rejects(send(new CreateSecretCommand({ Name: 'bad name!', SecretString: 'x' })), 'InvalidParameterException');
});

test('ResourceNotFoundException is a modelled 400 error', async () => {
  const err = await send(new GetSecretValueCommand({ SecretId: 'nope' })).catch((e) => e);
  assert.ok(err instanceof ResourceNotFoundException);
  assert.equal(err.$metadata.httpStatusCode, 400);
  assert.equal(err.message, "Secrets Manager can't find the specified secret.");
});

test('PutSecretValue without VersionStages moves AWSCURRENT; AWSPREVIOUS follows; the oldest is deprecated', async () => {
  const { VersionId: v1 } = await send(new CreateSecretCommand({ Name: 'labels', SecretString: 'one' }));
  const { VersionId: v2, VersionStages } = await put('labels', 'two');
  assert.deepEqual(VersionStages, ['AWSCURRENT']);
  assert.deepEqual(stagesOf('labels'), { [v1]: ['AWSPREVIOUS'], [v2]: ['AWSCURRENT'] });
  const { VersionId: v3 } = await put('labels', 'three');
  assert.deepEqual(stagesOf('labels'), { [v1]: [], [v2]: ['AWSPREVIOUS'], [v3]: ['AWSCURRENT'] });

  const described = await send(new DescribeSecretCommand({ SecretId: 'labels' }));
  assert.deepEqual(Object.keys(described.VersionIdsToStages).sort(), [v2, v3].sort());
  const listed = await send(new ListSecretVersionIdsCommand({ SecretId: 'labels' }));
  assert.deepEqual(listed.Versions.map((v) => v.VersionId).sort(), [v2, v3].sort());
  const all = await send(new ListSecretVersionIdsCommand({ SecretId: 'labels', IncludeDeprecated: true }));
  assert.equal(all.Versions.length, 3);
  assert.equal(fake.inspect('labels').versions.find((v) => v.id === v1).deprecated, true);

  // A deprecated version is still readable by VersionId, but not by a stage it lost.
  const old = await send(new GetSecretValueCommand({ SecretId: 'labels', VersionId: v1 }));
  assert.equal(old.SecretString, 'one');
  assert.deepEqual(old.VersionStages, []);
  await rejects(send(new GetSecretValueCommand({ SecretId: 'labels', VersionStage: 'AWSPENDING' })), 'ResourceNotFoundException', /staging label: AWSPENDING/);
  const previous = await send(new GetSecretValueCommand({ SecretId: 'labels', VersionStage: 'AWSPREVIOUS' }));
  assert.equal(previous.SecretString, 'two');
});

test('ClientRequestToken: same token and value is a no-op, another value fails, length is checked', async () => {
  await send(new CreateSecretCommand({ Name: 'tokens', SecretString: 'one' }));
  const token = randomUUID();
  const first = await put('tokens', 'two', { ClientRequestToken: token, VersionStages: ['AWSPENDING'] });
  const again = await put('tokens', 'two', { ClientRequestToken: token, VersionStages: ['AWSPENDING'] });
  assert.equal(again.VersionId, first.VersionId);
  assert.equal(fake.inspect('tokens').versions.length, 2);
  await rejects(put('tokens', 'other', { ClientRequestToken: token }), 'ResourceExistsException', /already in use/);
  await rejects(put('tokens', 'x', { ClientRequestToken: 'short' }), 'ValidationException');
  await rejects(send(new GetSecretValueCommand({ SecretId: 'tokens', VersionId: 'AWSCURRENT' })), 'ValidationException');
  await rejects(put('tokens', ''), 'ValidationException');
  await rejects(put('tokens', 'x'.repeat(65537)), 'ValidationException');
  await put('tokens', 'x'.repeat(65536));
});

test('PutSecretValue with VersionStages moves only those labels', async () => {
  const { VersionId: v1 } = await send(new CreateSecretCommand({ Name: 'pending', SecretString: 'one' }));
  const { VersionId: p1 } = await put('pending', 'two', { VersionStages: ['AWSPENDING'] });
  assert.deepEqual(stagesOf('pending'), { [v1]: ['AWSCURRENT'], [p1]: ['AWSPENDING'] });
  const { VersionId: p2 } = await put('pending', 'three', { VersionStages: ['AWSPENDING'] });
  assert.deepEqual(stagesOf('pending'), { [v1]: ['AWSCURRENT'], [p1]: [], [p2]: ['AWSPENDING'] });
  const current = await send(new GetSecretValueCommand({ SecretId: 'pending' }));
  assert.equal(current.SecretString, 'one');
});

test('UpdateSecretVersionStage: RemoveFromVersionId must name the holder; AWSCURRENT drags AWSPREVIOUS', async () => {
  const { VersionId: v1 } = await send(new CreateSecretCommand({ Name: 'finish', SecretString: 'one' }));
  const { VersionId: v2 } = await put('finish', 'two', { VersionStages: ['AWSPENDING'] });
  const move = (extra) => send(new UpdateSecretVersionStageCommand({ SecretId: 'finish', VersionStage: 'AWSCURRENT', ...extra }));

  await rejects(
    move({ MoveToVersionId: v2 }),
    'InvalidParameterException',
    new RegExp(`RemoveFromVersionId can't be empty. Staging label AWSCURRENT is currently attached to version ${v1}`),
  );
  await rejects(move({ MoveToVersionId: v2, RemoveFromVersionId: v2 }), 'InvalidParameterException');
  await rejects(move({ MoveToVersionId: randomUUID(), RemoveFromVersionId: v1 }), 'InvalidParameterException');
  assert.deepEqual(stagesOf('finish'), { [v1]: ['AWSCURRENT'], [v2]: ['AWSPENDING'] });

  // The canonical finish step: AWSPENDING stays, sharing the new current version.
  await move({ MoveToVersionId: v2, RemoveFromVersionId: v1 });
  assert.deepEqual(stagesOf('finish'), { [v1]: ['AWSPREVIOUS'], [v2]: ['AWSCURRENT', 'AWSPENDING'] });

  // Detach with only RemoveFromVersionId; AWSCURRENT itself can only be moved.
  await send(new UpdateSecretVersionStageCommand({ SecretId: 'finish', VersionStage: 'AWSPENDING', RemoveFromVersionId: v2 }));
  await rejects(move({ RemoveFromVersionId: v2 }), 'InvalidParameterException');

  // Rollback: AWSCURRENT back to v1; AWSPREVIOUS moves to the version it left.
  await move({ MoveToVersionId: v1, RemoveFromVersionId: v2 });
  assert.deepEqual(stagesOf('finish'), { [v1]: ['AWSCURRENT'], [v2]: ['AWSPREVIOUS'] });

  // A custom label on no version attaches without RemoveFromVersionId.
  await send(new UpdateSecretVersionStageCommand({ SecretId: 'finish', VersionStage: 'blue', MoveToVersionId: v2 }));
  assert.deepEqual(stagesOf('finish')[v2], ['AWSPREVIOUS', 'blue']);
});

test('GetSecretValue with VersionId and VersionStage needs both on the same version', async () => {
  const { VersionId: v1 } = await send(new CreateSecretCommand({ Name: 'both', SecretString: 'one' }));
  const { VersionId: v2 } = await put('both', 'two', { VersionStages: ['AWSPENDING'] });
  const ok = await send(new GetSecretValueCommand({ SecretId: 'both', VersionId: v2, VersionStage: 'AWSPENDING' }));
  assert.equal(ok.SecretString, 'two');
  await rejects(send(new GetSecretValueCommand({ SecretId: 'both', VersionId: v1, VersionStage: 'AWSPENDING' })), 'InvalidRequestException');
  await rejects(send(new GetSecretValueCommand({ SecretId: 'both', VersionId: randomUUID(), VersionStage: 'AWSPENDING' })), 'ResourceNotFoundException');
});

test('tags: merge, remove, and the AWS tag rules', async () => {
  await send(new CreateSecretCommand({ Name: 'tagged', SecretString: 'x', Tags: [{ Key: 'owner', Value: 'sec' }] }));
  await send(new TagResourceCommand({ SecretId: 'tagged', Tags: [{ Key: 'keyshift:rotation', Value: 'r-1 @ 2026/11/23' }, { Key: 'owner', Value: 'ops' }] }));
  assert.deepEqual(fake.inspect('tagged').tags, { owner: 'ops', 'keyshift:rotation': 'r-1 @ 2026/11/23' });
  await send(new UntagResourceCommand({ SecretId: 'tagged', TagKeys: ['owner', 'absent'] }));
  const described = await send(new DescribeSecretCommand({ SecretId: 'tagged' }));
  assert.deepEqual(described.Tags, [{ Key: 'keyshift:rotation', Value: 'r-1 @ 2026/11/23' }]);

  const tag = (Tags) => send(new TagResourceCommand({ SecretId: 'tagged', Tags }));
  await rejects(tag([{ Key: 'aws:reserved', Value: 'x' }]), 'InvalidParameterException');
  await rejects(tag([{ Key: 'k'.repeat(129), Value: 'x' }]), 'ValidationException');
  await rejects(tag([{ Key: 'k', Value: 'v'.repeat(257) }]), 'ValidationException');
  await rejects(tag([{ Key: 'semi;colon', Value: 'x' }]), 'InvalidParameterException');
  await rejects(tag(Array.from({ length: 50 }, (_, i) => ({ Key: `k${i}`, Value: '' }))), 'InvalidParameterException');
  await tag(Array.from({ length: 49 }, (_, i) => ({ Key: `k${i}`, Value: '' })));
  assert.equal(Object.keys(fake.inspect('tagged').tags).length, 50);
});

test('DeleteSecret marks for deletion; only Describe and Restore work until then; force removes', async () => {
  await send(new CreateSecretCommand({ Name: 'doomed', SecretString: 'x' }));
  await rejects(send(new DeleteSecretCommand({ SecretId: 'doomed', RecoveryWindowInDays: 3 })), 'InvalidParameterException');
  const before = Date.now();
  const deleted = await send(new DeleteSecretCommand({ SecretId: 'doomed', RecoveryWindowInDays: 7 }));
  const days = (deleted.DeletionDate.getTime() - before) / 86_400_000;
  assert.ok(days > 6.99 && days < 7.01, `deletion in ${days} days`);
  const described = await send(new DescribeSecretCommand({ SecretId: 'doomed' }));
  assert.ok(described.DeletedDate instanceof Date);

  const marked = /because it was marked for deletion/;
  await rejects(send(new GetSecretValueCommand({ SecretId: 'doomed' })), 'InvalidRequestException', marked);
  await rejects(put('doomed', 'y'), 'InvalidRequestException', marked);
  await rejects(send(new TagResourceCommand({ SecretId: 'doomed', Tags: [] })), 'InvalidRequestException', marked);
  await rejects(send(new ListSecretVersionIdsCommand({ SecretId: 'doomed' })), 'InvalidRequestException', marked);
  await rejects(send(new CreateSecretCommand({ Name: 'doomed', SecretString: 'x' })), 'InvalidRequestException', /scheduled for deletion/);
  const listed = await send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['doomed'] }] }));
  assert.equal(listed.SecretList.length, 0);

  await send(new RestoreSecretCommand({ SecretId: 'doomed' }));
  assert.equal((await send(new GetSecretValueCommand({ SecretId: 'doomed' }))).SecretString, 'x');
  assert.equal(fake.inspect('doomed').deletedDate, null);

  await rejects(send(new DeleteSecretCommand({ SecretId: 'doomed', RecoveryWindowInDays: 7, ForceDeleteWithoutRecovery: true })), 'InvalidParameterException');
  await send(new DeleteSecretCommand({ SecretId: 'doomed', ForceDeleteWithoutRecovery: true }));
  assert.equal(fake.inspect('doomed'), undefined);
  await rejects(send(new DescribeSecretCommand({ SecretId: 'doomed' })), 'ResourceNotFoundException');
});

test('the recovery window ends on the service clock', async () => {
  let clock = new Date('2026-11-23T10:00:00Z');
  const timed = await startSecretsManager({ now: () => clock });
  const client = secretsManagerClient(timed, { maxAttempts: 1 });
  try {
    await client.send(new CreateSecretCommand({ Name: 's', SecretString: 'x' }));
    await client.send(new DeleteSecretCommand({ SecretId: 's', RecoveryWindowInDays: 7 }));
    clock = new Date('2026-11-30T10:00:01Z');
    await rejects(client.send(new DescribeSecretCommand({ SecretId: 's' })), 'ResourceNotFoundException');
  } finally {
    client.destroy();
    await timed.close();
  }
});

test('versions pile up: past 100 only deprecated versions at least 24 h old are removed, else LimitExceededException', async () => {
  let clock = new Date('2026-11-23T10:00:00Z');
  const timed = await startSecretsManager({ now: () => clock });
  const client = secretsManagerClient(timed, { maxAttempts: 1 });
  const hourAgo = new Date(clock.getTime() - 3600_000);
  const dayAgo = new Date(clock.getTime() - 25 * 3600_000);
  try {
    // An old labelled version (never removed, however old), one deprecated version 25 h old, 96 deprecated 1 h old: 99.
    const previous = { id: randomUUID(), value: 'p', stages: ['AWSPREVIOUS'], createdAt: dayAgo };
    const oldDeprecated = { id: randomUUID(), value: 'o', createdAt: dayAgo };
    const young = Array.from({ length: 96 }, (_, i) => ({ id: randomUUID(), value: `y${i}`, createdAt: hourAgo }));
    const current = { id: randomUUID(), value: 'c', stages: ['AWSCURRENT'], createdAt: hourAgo };
    timed.seed('piled', { versions: [previous, oldDeprecated, ...young, current] });
    const putOne = (token = randomUUID()) => client.send(new PutSecretValueCommand({ SecretId: 'piled', ClientRequestToken: token, SecretString: token, VersionStages: ['AWSPENDING'] }));
    const count = () => timed.inspect('piled').versions.length;

    const first = randomUUID();
    await putOne(first); // the 100th version: nothing is removed below the quota
    assert.equal(count(), 100);
    assert.ok(timed.inspect('piled').versions.some((v) => v.id === oldDeprecated.id), 'no clean-up at 100 versions');
    await putOne(); // the 101st: the one deprecated version older than 24 h makes room
    assert.equal(count(), 100);
    assert.ok(!timed.inspect('piled').versions.some((v) => v.id === oldDeprecated.id), 'the 25-hour-old deprecated version is gone');
    assert.ok(timed.inspect('piled').versions.some((v) => v.id === previous.id), 'a labelled version is never removed');

    await rejects(putOne(), 'LimitExceededException', /versions/);
    assert.equal(count(), 100, 'a refused write adds nothing');
    assert.equal((await client.send(new GetSecretValueCommand({ SecretId: 'piled' }))).VersionId, current.id);
    await putOne(first); // a resent write with a known token is still a no-op success
    await rejects(client.send(new UpdateSecretCommand({ SecretId: 'piled', SecretString: 'u' })), 'LimitExceededException');

    clock = new Date(clock.getTime() + 22 * 3600_000);
    await rejects(putOne(), 'LimitExceededException'); // the youngest deprecated versions are 23 h old
    clock = new Date(clock.getTime() + 3600_000);
    await putOne(); // now 24 h old: one is removed
    assert.equal(count(), 100);
    assert.ok(!timed.inspect('piled').versions.some((v) => v.id === young[0].id), 'the oldest deprecated version made room');
    assert.equal(count(), 100);
  } finally {
    client.destroy();
    await timed.close();
  }
});

test("the SigV4 credential scope must name the endpoint's Region and service", async () => {
  fake.seed('scoped', { value: 'x' });
  const elsewhere = secretsManagerClient(fake, { maxAttempts: 1, region: 'eu-west-1' });
  const kms = new KMSClient({ region: fake.region, endpoint: fake.endpoint, credentials: TEST_CREDENTIALS, maxAttempts: 1 });
  try {
    await rejects(elsewhere.send(new GetSecretValueCommand({ SecretId: 'scoped' })), 'InvalidSignatureException', /^Credential should be scoped to a valid region, not 'eu-west-1'/);
    await rejects(kms.send(new ListKeysCommand({})), 'InvalidSignatureException', /^Credential should be scoped to correct service: 'secretsmanager'/);
    assert.equal((await send(new GetSecretValueCommand({ SecretId: 'scoped' }))).SecretString, 'x', 'the right scope still passes');
  } finally {
    elsewhere.destroy();
    kms.destroy();
  }
});

test('RotateSecret and CancelRotateSecret keep the rotation configuration and the in-progress rule', async () => {
  const lambda = 'arn:aws:lambda:us-east-1:111122223333:function:rotate';
  const { VersionId: v1 } = await send(new CreateSecretCommand({ Name: 'rotating', SecretString: 'one' }));
  await rejects(send(new RotateSecretCommand({ SecretId: 'rotating' })), 'InvalidRequestException', /Lambda function ARN/);
  const rotated = await send(new RotateSecretCommand({ SecretId: 'rotating', RotationLambdaARN: lambda, RotationRules: { AutomaticallyAfterDays: 30 } }));
  assert.equal(rotated.VersionId.length, 36);
  let described = await send(new DescribeSecretCommand({ SecretId: 'rotating' }));
  assert.equal(described.RotationEnabled, true);
  assert.equal(described.RotationLambdaARN, lambda);
  assert.deepEqual(described.RotationRules, { AutomaticallyAfterDays: 30 });

  const { VersionId: pending } = await put('rotating', 'two', { VersionStages: ['AWSPENDING'] });
  await rejects(send(new RotateSecretCommand({ SecretId: 'rotating' })), 'InvalidRequestException', /previous rotation isn't complete/);
  const cancelled = await send(new CancelRotateSecretCommand({ SecretId: 'rotating' }));
  assert.equal(cancelled.VersionId, pending);
  described = await send(new DescribeSecretCommand({ SecretId: 'rotating' }));
  assert.equal(described.RotationEnabled, false);
  assert.deepEqual(stagesOf('rotating'), { [v1]: ['AWSCURRENT'], [pending]: ['AWSPENDING'] });
});

test('seed and inspect set up and read state without HTTP', async () => {
  const [a, b] = [randomUUID(), randomUUID()];
  fake.seed('seeded', {
    tags: { owner: 'sec' },
    rotationEnabled: true,
    versions: [
      { id: a, value: 'old', stages: ['AWSCURRENT'] },
      { id: b, value: Buffer.from([1, 2, 3]), stages: ['AWSPENDING'] },
    ],
  });
  const state = fake.inspect('seeded');
  assert.deepEqual(state.versions.map((v) => [v.id, v.stages, v.deprecated]), [[a, ['AWSCURRENT'], false], [b, ['AWSPENDING'], false]]);
  assert.deepEqual(state.versions[1].value, Buffer.from([1, 2, 3]));
  assert.equal(state.rotationEnabled, true);
  const pending = await send(new GetSecretValueCommand({ SecretId: state.arn, VersionStage: 'AWSPENDING' }));
  assert.deepEqual(Buffer.from(pending.SecretBinary), Buffer.from([1, 2, 3]));

  fake.seed('gone-soon', { value: 'x', markedForDeletion: true });
  assert.ok(fake.inspect('gone-soon').deletedDate instanceof Date);
  await rejects(send(new GetSecretValueCommand({ SecretId: 'gone-soon' })), 'InvalidRequestException');
  fake.completeDeletion('gone-soon');
  assert.ok(!fake.names().includes('gone-soon'));
});
