// The KMS fake, driven by the real SDK client: key states, aliases, real encryption across
// RotateKeyOnDemand, disabled and pending-deletion errors, cancel deletion, per-operation quotas.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateKeyCommand,
  DescribeKeyCommand,
  CreateAliasCommand,
  UpdateAliasCommand,
  DeleteAliasCommand,
  ListAliasesCommand,
  EncryptCommand,
  DecryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  ReEncryptCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  ScheduleKeyDeletionCommand,
  CancelKeyDeletionCommand,
  EnableKeyRotationCommand,
  GetKeyRotationStatusCommand,
  RotateKeyOnDemandCommand,
  ListKeyRotationsCommand,
  TagResourceCommand,
  UntagResourceCommand,
  ListResourceTagsCommand,
  GetKeyPolicyCommand,
  NotFoundException,
} from '@aws-sdk/client-kms';
import { startKms } from './kms.js';
import { blobMaterial } from './kms-crypto.js';
import { kmsClient } from './clients.js';

let fake;
let kms;
before(async () => {
  fake = await startKms({ quotas: false });
  kms = kmsClient(fake, { maxAttempts: 1 });
});
after(async () => {
  kms.destroy();
  await fake.close();
});

const send = (command) => kms.send(command);
const newKey = async (input = {}) => (await send(new CreateKeyCommand(input))).KeyMetadata;
const encrypt = (KeyId, text, EncryptionContext) => send(new EncryptCommand({ KeyId, Plaintext: Buffer.from(text), EncryptionContext }));
const decrypt = async (CiphertextBlob, extra = {}) => Buffer.from((await send(new DecryptCommand({ CiphertextBlob, ...extra }))).Plaintext).toString();

async function rejects(promise, name, message) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.name, name, `${err.name}: ${err.message}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

test('CreateKey defaults and DescribeKey by id, ARN, alias and alias ARN', async () => {
  const meta = await newKey({ Description: 'tokens', Tags: [{ TagKey: 'owner', TagValue: 'sec' }] });
  assert.match(meta.KeyId, /^[0-9a-f-]{36}$/);
  assert.equal(meta.Arn, `arn:aws:kms:us-east-1:111122223333:key/${meta.KeyId}`);
  assert.deepEqual(
    [meta.KeySpec, meta.KeyUsage, meta.KeyState, meta.Enabled, meta.KeyManager, meta.Origin, meta.Description],
    ['SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', 'Enabled', true, 'CUSTOMER', 'AWS_KMS', 'tokens'],
  );
  assert.ok(meta.CreationDate instanceof Date);
  await send(new CreateAliasCommand({ AliasName: 'alias/app/tokens', TargetKeyId: meta.KeyId }));
  for (const KeyId of [meta.KeyId, meta.Arn, 'alias/app/tokens', 'arn:aws:kms:us-east-1:111122223333:alias/app/tokens']) {
    assert.equal((await send(new DescribeKeyCommand({ KeyId }))).KeyMetadata.KeyId, meta.KeyId);
  }
  const err = await send(new DescribeKeyCommand({ KeyId: 'alias/missing' })).catch((e) => e);
  assert.ok(err instanceof NotFoundException);
  await rejects(send(new DescribeKeyCommand({ KeyId: '00000000-0000-4000-8000-000000000000' })), 'NotFoundException', /does not exist/);
  const policy = await send(new GetKeyPolicyCommand({ KeyId: meta.KeyId }));
  assert.equal(JSON.parse(policy.Policy).Statement[0].Principal.AWS, 'arn:aws:iam::111122223333:root');
  await rejects(newKey({ KeySpec: 'HMAC_256' }), 'ValidationException');
});

test('aliases: naming rules, uniqueness, UpdateAlias to a like key, DeleteAlias, ListAliases', async () => {
  const a = await newKey();
  const b = await newKey();
  const hmac = await newKey({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' });
  const create = (AliasName, TargetKeyId = a.KeyId) => send(new CreateAliasCommand({ AliasName, TargetKeyId }));
  await create('alias/svc');
  await rejects(create('alias/svc', b.KeyId), 'AlreadyExistsException');
  await rejects(create('svc'), 'ValidationException');
  await rejects(create('alias/has space'), 'ValidationException');
  await rejects(create('alias/aws/s3'), 'NotAuthorizedException');
  await rejects(create(`alias/${'x'.repeat(251)}`), 'ValidationException');
  await rejects(create('alias/via-alias', 'alias/svc'), 'NotFoundException');

  await send(new UpdateAliasCommand({ AliasName: 'alias/svc', TargetKeyId: b.KeyId }));
  assert.equal(fake.inspect('alias/svc').keyId, b.KeyId);
  await rejects(send(new UpdateAliasCommand({ AliasName: 'alias/svc', TargetKeyId: hmac.KeyId })), 'ValidationException');
  await rejects(send(new UpdateAliasCommand({ AliasName: 'alias/none', TargetKeyId: a.KeyId })), 'NotFoundException');

  const listed = await send(new ListAliasesCommand({ KeyId: b.KeyId }));
  assert.deepEqual(listed.Aliases.map((x) => [x.AliasName, x.TargetKeyId, x.AliasArn]), [['alias/svc', b.KeyId, 'arn:aws:kms:us-east-1:111122223333:alias/svc']]);
  await send(new DeleteAliasCommand({ AliasName: 'alias/svc' }));
  await rejects(send(new DeleteAliasCommand({ AliasName: 'alias/svc' })), 'NotFoundException');
  assert.ok(!fake.aliases().some((x) => x.name === 'alias/svc'));
});

test('Encrypt/Decrypt round trip with no KeyId on Decrypt, the context as AAD, tampering detected', async () => {
  const { KeyId, Arn } = await newKey();
  const other = await newKey();
  const out = await encrypt(KeyId, 'attack at dawn', { purpose: 'test', app: 'keyshift' });
  assert.equal(out.KeyId, Arn);
  assert.equal(await decrypt(out.CiphertextBlob, { EncryptionContext: { app: 'keyshift', purpose: 'test' } }), 'attack at dawn');
  await rejects(send(new DecryptCommand({ CiphertextBlob: out.CiphertextBlob })), 'InvalidCiphertextException');
  await rejects(send(new DecryptCommand({ CiphertextBlob: out.CiphertextBlob, EncryptionContext: { purpose: 'other', app: 'keyshift' } })), 'InvalidCiphertextException');
  await rejects(
    send(new DecryptCommand({ CiphertextBlob: out.CiphertextBlob, KeyId: other.KeyId, EncryptionContext: { purpose: 'test', app: 'keyshift' } })),
    'IncorrectKeyException',
  );
  const tampered = Buffer.from(out.CiphertextBlob);
  tampered[tampered.length - 1] ^= 1;
  await rejects(send(new DecryptCommand({ CiphertextBlob: tampered, EncryptionContext: { purpose: 'test', app: 'keyshift' } })), 'InvalidCiphertextException');
  await rejects(send(new EncryptCommand({ KeyId, Plaintext: Buffer.alloc(4097) })), 'ValidationException');
});

test('data keys: GenerateDataKey returns a usable key and its blob; WithoutPlaintext only the blob', async () => {
  const { KeyId } = await newKey();
  const dk = await send(new GenerateDataKeyCommand({ KeyId, KeySpec: 'AES_256' }));
  assert.equal(dk.Plaintext.length, 32);
  const back = await send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob }));
  assert.deepEqual(Buffer.from(back.Plaintext), Buffer.from(dk.Plaintext));
  const small = await send(new GenerateDataKeyCommand({ KeyId, NumberOfBytes: 16 }));
  assert.equal(small.Plaintext.length, 16);
  const blind = await send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId, KeySpec: 'AES_128' }));
  assert.equal(blind.Plaintext, undefined);
  assert.equal((await send(new DecryptCommand({ CiphertextBlob: blind.CiphertextBlob }))).Plaintext.length, 16);
  await rejects(send(new GenerateDataKeyCommand({ KeyId })), 'ValidationException');
});

test('RotateKeyOnDemand: old ciphertexts still decrypt, new ones use new material, capped at 10', async () => {
  const { KeyId } = await newKey();
  const before = await encrypt(KeyId, 'before');
  await send(new RotateKeyOnDemandCommand({ KeyId }));
  const after = await encrypt(KeyId, 'after');
  assert.equal(await decrypt(before.CiphertextBlob), 'before');
  assert.equal(await decrypt(after.CiphertextBlob), 'after');
  assert.notDeepEqual(Buffer.from(before.CiphertextBlob).subarray(37, 39), Buffer.from(after.CiphertextBlob).subarray(37, 39));
  fake.simulateAutomaticRotation(KeyId);
  const rotations = await send(new ListKeyRotationsCommand({ KeyId }));
  assert.deepEqual(rotations.Rotations.map((r) => r.RotationType), ['ON_DEMAND', 'AUTOMATIC']);
  assert.ok(rotations.Rotations[0].RotationDate instanceof Date);
  for (let i = 1; i < 10; i += 1) await send(new RotateKeyOnDemandCommand({ KeyId }));
  await rejects(send(new RotateKeyOnDemandCommand({ KeyId })), 'LimitExceededException');
  assert.equal(fake.inspect(KeyId).onDemandRotations, 10);
  assert.equal(await decrypt(before.CiphertextBlob), 'before');
  const mac = await newKey({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' });
  await rejects(send(new RotateKeyOnDemandCommand({ KeyId: mac.KeyId })), 'UnsupportedOperationException');
});

test('automatic rotation configuration: 90-2560 days, default 365', async () => {
  const { KeyId, Arn } = await newKey();
  let status = await send(new GetKeyRotationStatusCommand({ KeyId }));
  assert.equal(status.KeyRotationEnabled, false);
  await rejects(send(new EnableKeyRotationCommand({ KeyId, RotationPeriodInDays: 30 })), 'ValidationException');
  await send(new EnableKeyRotationCommand({ KeyId }));
  status = await send(new GetKeyRotationStatusCommand({ KeyId }));
  assert.deepEqual([status.KeyId, status.KeyRotationEnabled, status.RotationPeriodInDays], [Arn, true, 365]);
  assert.ok(status.NextRotationDate.getTime() > Date.now() + 364 * 86_400_000);
  await send(new EnableKeyRotationCommand({ KeyId, RotationPeriodInDays: 90 }));
  assert.equal((await send(new GetKeyRotationStatusCommand({ KeyId }))).RotationPeriodInDays, 90);
  await rejects(send(new EnableKeyRotationCommand({ KeyId: 'alias/nothing' })), 'NotFoundException');
});

test('a disabled key refuses cryptography with DisabledException until enabled again', async () => {
  const { KeyId, Arn } = await newKey();
  const blob = (await encrypt(KeyId, 'x')).CiphertextBlob;
  await send(new DisableKeyCommand({ KeyId }));
  assert.equal((await send(new DescribeKeyCommand({ KeyId }))).KeyMetadata.Enabled, false);
  await rejects(encrypt(KeyId, 'y'), 'DisabledException', new RegExp(`^${Arn} is disabled\\.$`));
  await rejects(send(new DecryptCommand({ CiphertextBlob: blob })), 'DisabledException');
  await rejects(send(new EnableKeyRotationCommand({ KeyId })), 'DisabledException');
  await send(new EnableKeyCommand({ KeyId }));
  assert.equal(await decrypt(blob), 'x');
});

test('ScheduleKeyDeletion: pending keys refuse use; CancelKeyDeletion leaves the key Disabled', async () => {
  const { KeyId, Arn } = await newKey();
  await send(new CreateAliasCommand({ AliasName: 'alias/doomed', TargetKeyId: KeyId }));
  const blob = (await encrypt('alias/doomed', 'x')).CiphertextBlob;
  await rejects(send(new ScheduleKeyDeletionCommand({ KeyId, PendingWindowInDays: 6 })), 'ValidationException');
  await rejects(send(new CancelKeyDeletionCommand({ KeyId })), 'KMSInvalidStateException', /is not pending deletion/);
  const scheduled = await send(new ScheduleKeyDeletionCommand({ KeyId, PendingWindowInDays: 7 }));
  assert.equal(scheduled.KeyState, 'PendingDeletion');
  assert.ok(Math.abs(scheduled.DeletionDate.getTime() - (Date.now() + 7 * 86_400_000)) < 5000);
  const meta = (await send(new DescribeKeyCommand({ KeyId: 'alias/doomed' }))).KeyMetadata;
  assert.deepEqual([meta.KeyState, meta.Enabled, meta.PendingDeletionWindowInDays], ['PendingDeletion', false, 7]);

  const pending = new RegExp(`^${Arn} is pending deletion\\.$`);
  await rejects(encrypt(KeyId, 'y'), 'KMSInvalidStateException', pending);
  await rejects(send(new DecryptCommand({ CiphertextBlob: blob })), 'KMSInvalidStateException', pending);
  await rejects(send(new EnableKeyCommand({ KeyId })), 'KMSInvalidStateException', pending);
  await rejects(send(new TagResourceCommand({ KeyId, Tags: [{ TagKey: 'a', TagValue: 'b' }] })), 'KMSInvalidStateException');
  await rejects(send(new ScheduleKeyDeletionCommand({ KeyId })), 'KMSInvalidStateException');
  const other = await newKey();
  await rejects(send(new UpdateAliasCommand({ AliasName: 'alias/doomed', TargetKeyId: KeyId })), 'KMSInvalidStateException');
  await rejects(send(new CreateAliasCommand({ AliasName: 'alias/late', TargetKeyId: KeyId })), 'KMSInvalidStateException');
  assert.equal((await send(new GetKeyRotationStatusCommand({ KeyId }))).KeyRotationEnabled, false);

  await send(new CancelKeyDeletionCommand({ KeyId }));
  assert.equal(fake.inspect(KeyId).state, 'Disabled');
  await rejects(send(new DecryptCommand({ CiphertextBlob: blob })), 'DisabledException');
  await send(new EnableKeyCommand({ KeyId }));
  assert.equal(await decrypt(blob), 'x');
  // An alias may leave a key pending deletion for a live one.
  await send(new ScheduleKeyDeletionCommand({ KeyId }));
  await send(new UpdateAliasCommand({ AliasName: 'alias/doomed', TargetKeyId: other.KeyId }));
});

test('completed deletion removes the key and its aliases; its ciphertexts become invalid', async () => {
  const { KeyId } = await newKey();
  await send(new CreateAliasCommand({ AliasName: 'alias/short-lived', TargetKeyId: KeyId }));
  const blob = (await encrypt(KeyId, 'x')).CiphertextBlob;
  await send(new ScheduleKeyDeletionCommand({ KeyId, PendingWindowInDays: 7 }));
  fake.completeDeletion(KeyId);
  assert.equal(fake.inspect(KeyId), undefined);
  assert.ok(!fake.aliases().some((a) => a.name === 'alias/short-lived'));
  await rejects(send(new DecryptCommand({ CiphertextBlob: blob })), 'InvalidCiphertextException');
  await rejects(send(new DescribeKeyCommand({ KeyId })), 'NotFoundException');
});

test('the deletion window ends on the service clock', async () => {
  let clock = new Date('2026-11-23T10:00:00Z');
  const timed = await startKms({ now: () => clock });
  const client = kmsClient(timed, { maxAttempts: 1 });
  try {
    const { keyId } = timed.seedKey({ alias: 'alias/k' });
    await client.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
    clock = new Date('2026-11-30T10:00:01Z');
    await rejects(client.send(new DescribeKeyCommand({ KeyId: 'alias/k' })), 'NotFoundException');
    assert.deepEqual(timed.keys(), []);
  } finally {
    client.destroy();
    await timed.close();
  }
});

test('ReEncrypt moves a ciphertext to another key without exposing it', async () => {
  const a = await newKey();
  const b = await newKey();
  const blob = (await encrypt(a.KeyId, 'moving', { k: 'v' })).CiphertextBlob;
  const moved = await send(new ReEncryptCommand({ CiphertextBlob: blob, SourceEncryptionContext: { k: 'v' }, DestinationKeyId: b.KeyId }));
  assert.deepEqual([moved.SourceKeyId, moved.KeyId], [a.Arn, b.Arn]);
  const back = await send(new DecryptCommand({ CiphertextBlob: moved.CiphertextBlob, KeyId: b.Arn }));
  assert.equal(Buffer.from(back.Plaintext).toString(), 'moving');
  await rejects(send(new ReEncryptCommand({ CiphertextBlob: blob, SourceKeyId: b.KeyId, SourceEncryptionContext: { k: 'v' }, DestinationKeyId: b.KeyId })), 'IncorrectKeyException');
});

test('ReEncrypt to the same key after RotateKeyOnDemand seals under the new material, the context can change', async () => {
  const { KeyId, Arn } = await newKey();
  const blob = (await encrypt(KeyId, 'data key', { dk: 'a' })).CiphertextBlob;
  assert.deepEqual(blobMaterial(blob), { keyId: KeyId, index: 0 });
  await send(new RotateKeyOnDemandCommand({ KeyId }));
  const moved = await send(new ReEncryptCommand({ CiphertextBlob: blob, SourceEncryptionContext: { dk: 'a' }, DestinationKeyId: KeyId, DestinationEncryptionContext: { dk: 'b' } }));
  assert.deepEqual([moved.SourceKeyId, moved.KeyId], [Arn, Arn]);
  assert.deepEqual(blobMaterial(moved.CiphertextBlob), { keyId: KeyId, index: 1 });
  assert.equal(await decrypt(moved.CiphertextBlob, { EncryptionContext: { dk: 'b' } }), 'data key');
  await rejects(send(new ReEncryptCommand({ CiphertextBlob: blob, SourceEncryptionContext: { dk: 'a' } })), 'ValidationException');
});

test('DryRun runs every check, then answers DryRunOperationException (412) without the result', async () => {
  const { KeyId } = await newKey();
  const blob = (await encrypt(KeyId, 'x')).CiphertextBlob;
  for (const command of [
    new GenerateDataKeyCommand({ KeyId, KeySpec: 'AES_256', DryRun: true }),
    new GenerateDataKeyWithoutPlaintextCommand({ KeyId, KeySpec: 'AES_256', DryRun: true }),
    new DecryptCommand({ CiphertextBlob: blob, DryRun: true }),
    new ReEncryptCommand({ CiphertextBlob: blob, DestinationKeyId: KeyId, DryRun: true }),
  ]) {
    const error = await send(command).catch((e) => e);
    assert.equal(error.name, 'DryRunOperationException', error.message);
    assert.equal(error.$metadata.httpStatusCode, 412);
  }
  await rejects(send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { wrong: 'context' }, DryRun: true })), 'InvalidCiphertextException');
});

test('KMS tags use TagKey/TagValue and TagException for reserved keys', async () => {
  const { KeyId } = await newKey();
  await send(new TagResourceCommand({ KeyId, Tags: [{ TagKey: 'keyshift:rotation', TagValue: 'r-1' }] }));
  await rejects(send(new TagResourceCommand({ KeyId, Tags: [{ TagKey: 'aws:x', TagValue: 'y' }] })), 'TagException');
  await send(new UntagResourceCommand({ KeyId, TagKeys: ['absent'] }));
  const { Tags } = await send(new ListResourceTagsCommand({ KeyId }));
  assert.deepEqual(Tags, [{ TagKey: 'keyshift:rotation', TagValue: 'r-1' }]);
  assert.deepEqual(fake.inspect(KeyId).tags, { 'keyshift:rotation': 'r-1' });
});

test('control-plane quotas are per operation; cryptographic calls share one bucket', async () => {
  const limited = await startKms({ quotas: { CreateKey: 2, DisableKey: 2, cryptographic: 3 } });
  const client = kmsClient(limited, { maxAttempts: 1 });
  try {
    const { keyId } = limited.seedKey();
    await client.send(new CreateKeyCommand({}));
    await client.send(new CreateKeyCommand({}));
    const err = await client.send(new CreateKeyCommand({})).catch((e) => e);
    assert.equal(err.name, 'ThrottlingException');
    assert.match(err.message, /exceeded the rate at which you may call KMS/);
    await client.send(new DisableKeyCommand({ KeyId: keyId })); // its own bucket is still full
    await client.send(new EnableKeyCommand({ KeyId: keyId }));
    const blob = (await client.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('a') }))).CiphertextBlob;
    await client.send(new DecryptCommand({ CiphertextBlob: blob }));
    await client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }));
    await rejects(client.send(new DecryptCommand({ CiphertextBlob: blob })), 'ThrottlingException');
    const stats = limited.stats();
    assert.deepEqual([stats.CreateKey.throttled, stats.cryptographic.served, stats.cryptographic.throttled], [1, 3, 1]);
    assert.equal(stats.DescribeKey.rate, 100);
  } finally {
    client.destroy();
    await limited.close();
  }
});

test('faults and deny work the same on KMS', async () => {
  const { keyId } = fake.seedKey({ alias: 'alias/guarded' });
  fake.injectFault({ op: 'Decrypt', kind: '500' });
  const blob = (await encrypt(keyId, 'x')).CiphertextBlob;
  const err = await send(new DecryptCommand({ CiphertextBlob: blob })).catch((e) => e);
  assert.deepEqual([err.name, err.$metadata.httpStatusCode], ['KMSInternalException', 500]);
  const undo = fake.deny({ resource: 'alias/guarded' });
  await rejects(send(new DecryptCommand({ CiphertextBlob: blob })), 'AccessDeniedException', /kms:Decrypt/);
  await rejects(send(new DescribeKeyCommand({ KeyId: keyId })), 'AccessDeniedException');
  undo();
  assert.equal(await decrypt(blob), 'x');
});
