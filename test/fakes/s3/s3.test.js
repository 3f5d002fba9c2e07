// The S3 fake against the real SDK client: the wire shapes and the Object Lock rules keyshift's
// `evidence ship` relies on, so that a test passing on the fake means something on AWS.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  S3Client, PutObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, DeleteObjectCommand,
  PutObjectRetentionCommand, GetObjectRetentionCommand, GetObjectLockConfigurationCommand,
} from '@aws-sdk/client-s3';
import { startS3 } from './server.js';
import { sdkConfig } from '../../helpers/aws.js';

const s3 = await startS3({ buckets: { locked: { objectLock: true }, plain: {}, defaults: { objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 1 } } } });
after(() => s3.close());
const client = new S3Client({ ...sdkConfig(s3.endpoint), forcePathStyle: true });
const inAYear = () => new Date(Date.now() + 365 * 86_400_000);
const errorOf = (promise) => promise.then(() => null, (error) => ({ name: error.name, status: error.$metadata?.httpStatusCode, message: error.message }));

test('PutObject with Object Lock headers: the SDK sends a CRC32 checksum, the version is retained in COMPLIANCE mode', async () => {
  const until = inAYear();
  const put = await client.send(new PutObjectCommand({ Bucket: 'locked', Key: 'p/a.jsonl', Body: 'line\n', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: until, Metadata: { 'keyshift-to-seq': '7' } }));
  assert.ok(put.VersionId);
  const sent = s3.calls.findLast((c) => c.op === 'PutObject');
  assert.ok(sent.headers['x-amz-checksum-crc32'], 'the SDK sends a checksum header, which S3 requires with Object Lock parameters');
  const head = await client.send(new HeadObjectCommand({ Bucket: 'locked', Key: 'p/a.jsonl' }));
  assert.equal(head.ObjectLockMode, 'COMPLIANCE');
  assert.equal(head.ObjectLockRetainUntilDate.toISOString(), until.toISOString());
  assert.equal(head.Metadata['keyshift-to-seq'], '7');
  assert.equal(head.ContentLength, 5);
  const got = await client.send(new GetObjectCommand({ Bucket: 'locked', Key: 'p/a.jsonl' }));
  assert.equal(await got.Body.transformToString(), 'line\n');
  const retention = await client.send(new GetObjectRetentionCommand({ Bucket: 'locked', Key: 'p/a.jsonl' }));
  assert.equal(retention.Retention.Mode, 'COMPLIANCE');
});

test('a COMPLIANCE version cannot be deleted, shortened or switched to GOVERNANCE before its date; a PUT adds a version and keeps it', async () => {
  const until = inAYear();
  const { VersionId } = await client.send(new PutObjectCommand({ Bucket: 'locked', Key: 'p/b.jsonl', Body: 'first\n', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: until }));
  assert.deepEqual(await errorOf(client.send(new DeleteObjectCommand({ Bucket: 'locked', Key: 'p/b.jsonl', VersionId }))), { name: 'AccessDenied', status: 403, message: 'Access Denied because object protected by object lock.' });
  assert.equal((await errorOf(client.send(new PutObjectRetentionCommand({ Bucket: 'locked', Key: 'p/b.jsonl', VersionId, Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date(Date.now() + 86_400_000) } }))))?.name, 'AccessDenied');
  assert.equal((await errorOf(client.send(new PutObjectRetentionCommand({ Bucket: 'locked', Key: 'p/b.jsonl', VersionId, Retention: { Mode: 'GOVERNANCE', RetainUntilDate: until } }))))?.name, 'AccessDenied');
  await client.send(new PutObjectRetentionCommand({ Bucket: 'locked', Key: 'p/b.jsonl', VersionId, Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date(until.getTime() + 86_400_000) } }));
  await client.send(new PutObjectCommand({ Bucket: 'locked', Key: 'p/b.jsonl', Body: 'second\n' }));
  const versions = s3.versions('locked', 'p/b.jsonl');
  assert.deepEqual(versions.map((v) => v.body.toString()), ['first\n', 'second\n']);
  const old = await client.send(new GetObjectCommand({ Bucket: 'locked', Key: 'p/b.jsonl', VersionId }));
  assert.equal(await old.Body.transformToString(), 'first\n');
});

test('If-None-Match: * on an existing key is 412 PreconditionFailed and stores nothing', async () => {
  await client.send(new PutObjectCommand({ Bucket: 'plain', Key: 'x', Body: 'one', IfNoneMatch: '*' }));
  const error = await errorOf(client.send(new PutObjectCommand({ Bucket: 'plain', Key: 'x', Body: 'two', IfNoneMatch: '*' })));
  assert.equal(error?.name, 'PreconditionFailed');
  assert.equal(error?.status, 412);
  assert.deepEqual(s3.versions('plain', 'x').map((v) => v.body.toString()), ['one']);
});

test('a bucket without Object Lock refuses lock headers (InvalidRequest) and has no lock configuration; a missing bucket is NoSuchBucket', async () => {
  const refused = await errorOf(client.send(new PutObjectCommand({ Bucket: 'plain', Key: 'y', Body: 'z', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: inAYear() })));
  assert.deepEqual(refused, { name: 'InvalidRequest', status: 400, message: 'Bucket is missing Object Lock Configuration' });
  assert.equal(s3.versions('plain', 'y').length, 0);
  assert.equal((await errorOf(client.send(new GetObjectLockConfigurationCommand({ Bucket: 'plain' }))))?.name, 'ObjectLockConfigurationNotFoundError');
  const lock = await client.send(new GetObjectLockConfigurationCommand({ Bucket: 'defaults' }));
  assert.deepEqual(lock.ObjectLockConfiguration, { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1 } } });
  assert.equal((await errorOf(client.send(new GetObjectLockConfigurationCommand({ Bucket: 'nope' }))))?.name, 'NoSuchBucket');
  assert.equal((await errorOf(client.send(new PutObjectCommand({ Bucket: 'nope', Key: 'k', Body: 'v' }))))?.name, 'NoSuchBucket');
  assert.equal((await errorOf(client.send(new HeadObjectCommand({ Bucket: 'plain', Key: 'absent' }))))?.name, 'NotFound');
});

test('Object Lock parameters without Content-MD5 or a checksum are refused, as S3 does (SDK set to send checksums only when required)', async () => {
  const bare = new S3Client({ ...sdkConfig(s3.endpoint), forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });
  const error = await errorOf(bare.send(new PutObjectCommand({ Bucket: 'locked', Key: 'p/c', Body: 'v', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: inAYear() })));
  assert.equal(error?.name, 'InvalidRequest');
  assert.match(error.message, /Content-MD5 OR x-amz-checksum- HTTP header is required/);
});

test('ListObjectsV2 pages by continuation token; a wrong secret key is SignatureDoesNotMatch', async () => {
  for (const n of [1, 2, 3]) await client.send(new PutObjectCommand({ Bucket: 'plain', Key: `list/${n}`, Body: String(n) }));
  const first = await client.send(new ListObjectsV2Command({ Bucket: 'plain', Prefix: 'list/', MaxKeys: 2 }));
  assert.deepEqual(first.Contents.map((c) => c.Key), ['list/1', 'list/2']);
  assert.equal(first.IsTruncated, true);
  const second = await client.send(new ListObjectsV2Command({ Bucket: 'plain', Prefix: 'list/', MaxKeys: 2, ContinuationToken: first.NextContinuationToken }));
  assert.deepEqual(second.Contents.map((c) => c.Key), ['list/3']);
  const wrong = new S3Client({ ...sdkConfig(s3.endpoint), forcePathStyle: true, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'not-it' } });
  assert.equal((await errorOf(wrong.send(new ListObjectsV2Command({ Bucket: 'plain' }))))?.name, 'SignatureDoesNotMatch');
});
