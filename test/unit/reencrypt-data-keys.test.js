// The key hierarchy (src/reencrypt/data-keys.ts, kms-master-key.ts): data keys stored wrapped by a
// `local` master or an `aws-kms` master (the real KMS client over HTTP to test/fakes/kms.js);
// rotating the master re-wraps them and a ks1 field sealed under a data key still opens afterwards,
// because the data key's bytes never change (rows untouched).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { RotateKeyOnDemandCommand, UpdateAliasCommand, DisableKeyCommand } from '@aws-sdk/client-kms';
import { localMasterKey, parseStoredDataKey } from '../../dist/reencrypt/data-keys.js';
import { openKmsMasterKey } from '../../dist/reencrypt/kms-master-key.js';
import { SecretValue } from '../../dist/secret-value.js';
import { startKms } from '../fakes/kms.js';
import { blobMaterial } from '../fakes/kms-crypto.js';
import { kmsClient, TEST_CREDENTIALS } from '../fakes/clients.js';

const CONTEXT = 'payments/prod';

// A ks1 field (DESIGN.md) sealed and opened with a raw data key, as the application would.
function seal(key, text) {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.revealBytes(), nonce);
  const body = Buffer.concat([cipher.update(text), cipher.final()]);
  return `ks1:dk1:${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64')}`;
}
function open(key, field) {
  const bytes = Buffer.from(field.split(':')[2], 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key.revealBytes(), bytes.subarray(0, 12));
  decipher.setAuthTag(bytes.subarray(bytes.length - 16));
  return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString();
}
const version = (id, bytes = randomBytes(32)) => ({ id, key: SecretValue.fromBytes(bytes), bytes });

describe('local master', () => {
  test('a data key is stored wrapped; rotating the master re-wraps it and rows sealed under it still open', async () => {
    const v1 = version('v1');
    const stored = await localMasterKey(v1).newDataKey(CONTEXT);
    assert.equal(parseStoredDataKey(stored).master, 'local.v1');
    const dataKey = await localMasterKey(v1).unwrap(stored, CONTEXT);
    assert.equal(dataKey.length, 32);
    const row = seal(dataKey, 'card 4111');

    const v2 = version('v2');
    const during = localMasterKey(v2, [v1]); // the fallback window: CURRENT v2, PREVIOUS v1
    const rewrapped = await during.rewrap(stored, CONTEXT);
    assert.equal(parseStoredDataKey(rewrapped).master, 'local.v2');
    assert.notEqual(rewrapped, stored);
    const afterRetire = localMasterKey(v2); // v1 retired
    assert.equal(open(await afterRetire.unwrap(rewrapped, CONTEXT), row), 'card 4111');
    const stale = await afterRetire.unwrap(stored, CONTEXT).catch((e) => e);
    assert.equal(stale.code, 'ERR_DATA_KEY_UNWRAP');
    assert.match(stale.message, /master version v1, which is neither CURRENT nor PREVIOUS/);
  });

  test('a wrapped key copied to another secret, a damaged one or a foreign one does not unwrap; no key bytes in errors', async () => {
    const v1 = version('v1');
    const master = localMasterKey(v1);
    const stored = await master.newDataKey(CONTEXT);
    const raw = (await master.unwrap(stored, CONTEXT)).revealBytes();
    const damaged = stored.slice(0, -6) + (stored.at(-6) === 'A' ? 'B' : 'A') + stored.slice(-5);
    for (const [value, context] of [[stored, 'payments/staging'], [damaged, CONTEXT], ['ksdk1:aws-kms:AAAA', CONTEXT], ['not a key', CONTEXT]]) {
      const error = await master.unwrap(value, context).catch((e) => e);
      assert.equal(error.code, 'ERR_DATA_KEY_UNWRAP', `${value} ${context}`);
      const text = `${error.message} ${error.hint}`;
      for (const secret of [raw, v1.bytes]) assert.ok(!text.includes(secret.toString('base64')) && !text.includes(secret.toString('hex')));
    }
    assert.throws(() => localMasterKey({ id: 'short', key: SecretValue.fromBytes(randomBytes(16)) }), (e) => e.code === 'ERR_MASTER_KEY_INVALID' && e.exitCode === 2);
  });
});

describe('aws-kms master', () => {
  let fake;
  let admin;
  const masters = [];
  before(async () => {
    // The SDK's default credential chain reads the process environment, as it would for a user.
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey });
    fake = await startKms({ quotas: false });
    admin = kmsClient(fake, { maxAttempts: 1 });
  });
  after(async () => {
    masters.forEach((m) => m.close());
    admin.destroy();
    await fake.close();
  });
  const openMaster = async (keyId) => {
    const master = await openKmsMasterKey(
      { type: 'aws-kms', keyId, region: fake.region, endpoint: fake.endpoint },
      { env: { AWS_MAX_ATTEMPTS: '1' } },
    );
    masters.push(master);
    return master;
  };

  test('GenerateDataKeyWithoutPlaintext creates it, Decrypt unwraps it; the context is bound', async () => {
    const key = fake.seedKey({ alias: 'alias/master-a' });
    const master = await openMaster('alias/master-a');
    const from = fake.calls.length;
    const stored = await master.newDataKey(CONTEXT);
    assert.deepEqual(fake.calls.slice(from).map((c) => c.op), ['GenerateDataKeyWithoutPlaintext'], 'no plaintext data key crosses the wire at creation');
    assert.equal(blobMaterial(parseStoredDataKey(stored).blob).keyId, key.keyId);
    const dataKey = await master.unwrap(stored, CONTEXT);
    assert.equal(dataKey.length, 32);
    assert.equal(open(dataKey, seal(dataKey, 'ssn 078-05-1120')), 'ssn 078-05-1120');
    const wrongContext = await master.unwrap(stored, 'payments/staging').catch((e) => e);
    assert.equal(wrongContext.code, 'ERR_DATA_KEY_UNWRAP');
    assert.match(wrongContext.message, /InvalidCiphertextException/);
  });

  test('rotating the master (new key material, then the alias on a new key) re-wraps with ReEncrypt; rows untouched still open', async () => {
    const first = fake.seedKey({ alias: 'alias/master-b' });
    const master = await openMaster('alias/master-b');
    const stored = await master.newDataKey(CONTEXT);
    const row = seal(await master.unwrap(stored, CONTEXT), 'iban DE89 3704');

    await admin.send(new RotateKeyOnDemandCommand({ KeyId: first.keyId }));
    const from = fake.calls.length;
    const onNewMaterial = await master.rewrap(stored, CONTEXT);
    assert.deepEqual(fake.calls.slice(from).map((c) => c.op), ['ReEncrypt'], 'the plaintext stays inside KMS');
    assert.deepEqual(blobMaterial(parseStoredDataKey(onNewMaterial).blob), { keyId: first.keyId, index: 1 });

    const second = fake.seedKey();
    await admin.send(new UpdateAliasCommand({ AliasName: 'alias/master-b', TargetKeyId: second.keyId }));
    const onNewKey = await master.rewrap(onNewMaterial, CONTEXT);
    assert.equal(blobMaterial(parseStoredDataKey(onNewKey).blob).keyId, second.keyId);
    await admin.send(new DisableKeyCommand({ KeyId: first.keyId }));
    assert.equal(open(await master.unwrap(onNewKey, CONTEXT), row), 'iban DE89 3704');
    const old = await master.unwrap(stored, CONTEXT).catch((e) => e);
    assert.equal(old.code, 'ERR_STORE_REQUEST');
    assert.match(old.message, /DisabledException/, 'the old key is disabled: only the re-wrapped value unwraps');
  });

  test('KMS refusing the caller is an access-denied error naming the key, not a damaged data key', async () => {
    fake.seedKey({ alias: 'alias/master-c' });
    const master = await openMaster('alias/master-c');
    const stored = await master.newDataKey(CONTEXT);
    const undo = fake.deny({ op: 'Decrypt' });
    try {
      const error = await master.unwrap(stored, CONTEXT).catch((e) => e);
      assert.equal(error.code, 'ERR_STORE_ACCESS_DENIED');
      assert.match(error.message, /Decrypt with alias\/master-c/);
    } finally {
      undo();
    }
  });
});
