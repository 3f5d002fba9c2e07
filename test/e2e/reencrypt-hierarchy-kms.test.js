// The key hierarchy with an aws-kms master, through the CLI against the loopback KMS (the real
// SDK): data keys made by GenerateDataKeyWithoutPlaintext, rows re-encrypted when a data key
// rotates, data keys re-wrapped by ReEncrypt (rows untouched) when keyshift moves the alias to a new
// key and when KMS rotates the key material, the old key held until no data key needs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DecryptCommand, RotateKeyOnDemandCommand } from '@aws-sdk/client-kms';
import { assertNoStackTrace, json, readEvidence, tempProject, writeFiles } from '../helpers/cli.js';
import { awsEnv } from '../helpers/aws.js';
import { useKmsFake } from '../helpers/aws-fakes.js';
import { driverSkips, openText, versionOf } from '../helpers/reencrypt.js';

// The hierarchy's rows are in SQLite (skipped on CI's Node 24 leg, whose addon was built for Node 20).
const driverSkip = driverSkips.sqlite;
import { DATA_KEY, MASTER, dataKeyPolicy, fillTable, getVersion, keyring, ks, rowsOf, tableOf } from '../helpers/hierarchy.js';
import { blobMaterial } from '../fakes/kms-crypto.js';

let fake;
let kms;
useKmsFake((server, client) => ([fake, kms] = [server, client]));

const ROWS = 200;
const ALIAS = 'alias/app-master';
const blobOf = (stored) => Buffer.from(stored.split(':')[2], 'base64');
const unwrap = async (stored) =>
  Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: blobOf(stored), EncryptionContext: { 'keyshift:data-key': `${DATA_KEY}/prod` } }))).Plaintext);

// The master's window outlasts a forced rotation on a loaded machine (past it, the same run would try
// to retire the old key and be held); the data key's is long: nothing here retires it.
function policy() {
  return `secrets:
  - name: ${MASTER}
    interval: 90d
    fallbackWindow: 3s
    environments:
      - name: prod
        store: { type: aws-kms, alias: ${ALIAS}, endpoint: "${fake.endpoint}", pendingWindowDays: 7 }
${dataKeyPolicy(DATA_KEY, `{ type: aws-kms, keyId: ${ALIAS}, endpoint: "${fake.endpoint}" }`, '1h')}`;
}

test('aws-kms master: rows follow the data key; alias moves and KMS rotations re-wrap the data keys with ReEncrypt, rows byte-identical; the old key is held until then', { skip: driverSkip }, async () => {
  const first = fake.seedKey({ alias: ALIAS, description: 'app master' });
  const dir = tempProject('keyshift-hierarchy-kms-');
  writeFiles(dir, { 'policies/keys.yaml': policy(), 'data/.keep': '' });
  const outputs = [];
  const run = async (args) => {
    const result = await ks(dir, args, awsEnv());
    outputs.push(result.stdout, result.stderr);
    return result;
  };
  await succeeds(run, ['rotate', MASTER]);
  const provisioned = await run(['rotate', DATA_KEY]);
  assert.equal(provisioned.code, 0, provisioned.stderr);
  const dk0 = await getVersion(dir, DATA_KEY, 'current', awsEnv());
  assert.match(dk0.value, /^ksdk1:aws-kms:[A-Za-z0-9+/]+=*$/);
  assert.equal(blobMaterial(blobOf(dk0.value)).keyId, first.keyId, 'wrapped by the key behind the alias');
  const raw0 = await unwrap(dk0.value);
  fillTable(dir, tableOf(DATA_KEY), ROWS, keyring({ versionId: dk0.versionId, key: raw0 }));

  await succeeds(run, ['rotate', DATA_KEY, '--force', '--reason', 'test']);
  const dk1 = await getVersion(dir, DATA_KEY, 'current', awsEnv());
  const raw1 = await unwrap(dk1.value);
  const moved = await run(['reencrypt', DATA_KEY, '--json']);
  assert.equal(moved.code, 0, moved.stderr);
  const before = rowsOf(dir, tableOf(DATA_KEY));
  for (const [id, field] of before) {
    assert.equal(versionOf(field), dk1.versionId);
    assert.equal(openText(field, keyring({ versionId: dk1.versionId, key: raw1 })), `${tableOf(DATA_KEY)}#${id}`);
  }

  // keyshift rotates the master: a new key behind the alias. The old key is held while a data key needs it.
  await succeeds(run, ['rotate', MASTER, '--force', '--reason', 'test']);
  const second = fake.aliases().find((a) => a.name === ALIAS).targetKeyId;
  assert.notEqual(second, first.keyId);
  await sleep(3100);
  const held = await run(['rotate', MASTER]);
  assert.equal(held.code, 3, held.stdout + held.stderr);
  assert.match(held.stdout, /data keys: 2 data key version\(s\) still wrapped only under .*run keyshift reencrypt app-master --env prod/);
  assert.equal(fake.inspect(first.keyId).state, 'Enabled', 'the old key is not scheduled for deletion');

  const rewrap = await run(['reencrypt', MASTER, '--json']);
  assert.equal(rewrap.code, 0, rewrap.stderr);
  assert.deepEqual(json(rewrap).dataKeys.map((d) => [d.secret, [...d.rewrapped].sort()]), [[DATA_KEY, [dk0.versionId, dk1.versionId].sort()]]);
  assert.deepEqual(rowsOf(dir, tableOf(DATA_KEY)), before, 'no row is touched by a master rotation');
  for (const [stage, raw] of [['current', raw1], ['previous', raw0]]) {
    const stored = (await getVersion(dir, DATA_KEY, stage, awsEnv())).value;
    assert.equal(blobMaterial(blobOf(stored)).keyId, second, `the ${stage} data key is wrapped by the new key`);
    assert.ok((await unwrap(stored)).equals(raw), `the ${stage} data key keeps its bytes`);
  }
  const retired = await run(['rotate', MASTER, '--json']);
  assert.equal(retired.code, 0, retired.stderr);
  assert.equal(json(retired).results[0].outcome, 'decommissioned');
  assert.equal(fake.inspect(first.keyId).state, 'PendingDeletion');
  const sweep = await run(['reencrypt', DATA_KEY, '--json']);
  assert.equal(sweep.code, 0, sweep.stderr);

  // KMS rotates the key material itself: --rewrap moves the data keys to the newest material.
  await kms.send(new RotateKeyOnDemandCommand({ KeyId: second }));
  const own = await run(['reencrypt', DATA_KEY, '--rewrap', '--json']);
  assert.equal(own.code, 0, own.stderr);
  const current = (await getVersion(dir, DATA_KEY, 'current', awsEnv())).value;
  assert.deepEqual(blobMaterial(blobOf(current)), { keyId: second, index: 1 });
  assert.ok((await unwrap(current)).equals(raw1));
  assert.deepEqual(rowsOf(dir, tableOf(DATA_KEY)), before);

  assert.equal(readEvidence(dir).filter((r) => r.event === 'data-key-rewrapped').length, 2);
  await succeeds(run, ['evidence', 'verify']);
  const evidenceText = readFileSync(join(dir, 'evidence', 'evidence.jsonl'), 'utf8');
  const canaries = [raw0, raw1].flatMap((key) => [key.toString('base64'), key.toString('hex'), key.toString('base64url')]);
  for (const text of [...outputs, evidenceText]) for (const canary of canaries) assert.ok(!text.includes(canary), 'a data key leaked');
});

test('aws-kms master gone (the key deleted): reencrypt fails with one clean line naming the data key, rows unchanged', { skip: driverSkip }, async () => {
  const key = fake.seedKey({ description: 'short-lived master' });
  const dir = tempProject('keyshift-hierarchy-kms-');
  writeFiles(dir, { 'policies/keys.yaml': `secrets:\n${dataKeyPolicy(DATA_KEY, `{ type: aws-kms, keyId: ${key.keyId}, endpoint: "${fake.endpoint}" }`)}`, 'data/.keep': '' });
  assert.equal((await ks(dir, ['rotate', DATA_KEY], awsEnv())).code, 0);
  const dk = await getVersion(dir, DATA_KEY, 'current', awsEnv());
  fillTable(dir, tableOf(DATA_KEY), 10, keyring({ versionId: dk.versionId, key: await unwrap(dk.value) }));
  const before = rowsOf(dir, tableOf(DATA_KEY));
  fake.completeDeletion(key.keyId);
  const gone = await ks(dir, ['reencrypt', DATA_KEY], awsEnv());
  assert.equal(gone.code, 1, gone.stderr);
  assert.match(gone.stderr, new RegExp(`^keyshift: data key of ${DATA_KEY}/prod cannot be unwrapped by aws-kms ${key.keyId}: KMS Decrypt answered InvalidCiphertextException`, 'm'));
  assertNoStackTrace(assert, gone.stderr);
  assert.deepEqual(rowsOf(dir, tableOf(DATA_KEY)), before);
});

/** Runs keyshift and fails with its output when it exits other than 0. */
async function succeeds(run, args) {
  const result = await run(args);
  assert.equal(result.code, 0, `keyshift ${args.join(' ')} exited ${result.code}: ${result.stdout}${result.stderr}`);
  return result;
}
