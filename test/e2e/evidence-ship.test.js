// `keyshift evidence ship`: the real CLI, the real @aws-sdk/client-s3, the loopback S3 of
// test/fakes/s3 (SigV4 checked, Object Lock rules). What an auditor checks: the bucket holds every
// record of the log exactly once, byte for byte, retained in COMPLIANCE mode; a failed ship loses
// nothing and the next one completes it; a bucket without Object Lock is refused before any upload.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertNoStackTrace, bin, cli, json, tempProject, writeFiles } from '../helpers/cli.js';
import { loadedModules as probe } from '../helpers/module-probe.js';
import { awsEnv } from '../helpers/aws.js';
import { startS3 } from '../fakes/s3/server.js';

const POLICY = 'secrets:\n' + ['a', 'b'].map((name) => `  - name: ${name}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16 }\n    environments:\n      - name: dev\n        store: { type: local, path: .keyshift/dev.store }\n`).join('');
const DAY = 86_400_000;

let s3;
before(async () => {
  s3 = await startS3({ buckets: { audit: { objectLock: true }, plain: {} } });
});
after(() => s3?.close());

function project() {
  const dir = tempProject('keyshift-ship-');
  writeFiles(dir, { 'policies/p.yaml': POLICY });
  return dir;
}
const env = (extra = {}) => awsEnv({ KEYSHIFT_MASTER_KEY: Buffer.alloc(32, 3).toString('base64'), ...extra });
const ship = (dir, args, extra) => cli(['evidence', 'ship', '--endpoint-url', s3.endpoint, ...args], { cwd: dir, env: env(extra) });
const log = (dir) => readFileSync(join(dir, 'evidence', 'evidence.jsonl'), 'utf8');
const puts = () => s3.calls.filter((c) => c.op === 'PutObject');
/** Every object under a prefix, in key order, joined: what an auditor downloads. */
const shippedText = (bucket, prefix) => s3.keys(bucket, prefix).map((k) => s3.versions(bucket, k).at(-1).body.toString()).join('');

test('ships the log to prefix/YYYY/MM/ with COMPLIANCE retention; a second ship uploads nothing; later records go into a second object', async () => {
  const dir = project();
  assert.equal((await cli(['rotate', '--all'], { cwd: dir, env: env() })).code, 0);
  const before = puts().length;
  const first = await ship(dir, ['--to', 's3://audit/team-a/', '--retain', '365d', '--json']);
  assert.equal(first.code, 0, first.stderr);
  const out = json(first);
  const month = new Date().toISOString().slice(0, 7).replace('-', '/');
  assert.equal(out.objects.length, 1);
  assert.match(out.objects[0].key, new RegExp(`^team-a/${month}/evidence-[0-9a-f]{16}-000000000001\\.jsonl$`));
  assert.equal(shippedText('audit', 'team-a/'), log(dir), 'the object holds the log byte for byte');
  const [stored] = s3.versions('audit', out.objects[0].key);
  assert.equal(stored.retention.mode, 'COMPLIANCE');
  const days = (Date.parse(stored.retention.until) - Date.now()) / DAY;
  assert.ok(days > 364.9 && days <= 365, `retained ${days} days`);
  const sent = puts().at(-1).headers;
  assert.equal(sent['x-amz-object-lock-mode'], 'COMPLIANCE');
  assert.ok(sent['x-amz-checksum-crc32'] || sent['content-md5'], 'S3 requires an integrity header with Object Lock parameters');

  const again = await ship(dir, ['--to', 's3://audit/team-a/', '--retain', '365d']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^nothing new to ship: seq 1\.\.\d+ are in s3:\/\/audit\/team-a\/\n$/);
  assert.equal(puts().length, before + 1, 'no upload when nothing is new');

  assert.equal((await cli(['rotate', '--all', '--force', '--reason', 'test'], { cwd: dir, env: env() })).code, 0);
  const second = await ship(dir, ['--to', 's3://audit/team-a', '--retain', '365d']);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /^shipped: seq \d+\.\.\d+ \(\d+ records\) to s3:\/\/audit\/team-a\/\d{4}\/\d{2}\/evidence-[0-9a-f]{16}-0+\d+\.jsonl \(version .+\), COMPLIANCE until /);
  assert.equal(s3.keys('audit', 'team-a/').length, 2);
  assert.equal(shippedText('audit', 'team-a/'), log(dir), 'the two objects together are the log, no record twice');
});

test('a ship whose upload fails changes nothing and exits 1; the next ship completes it', async () => {
  const dir = project();
  assert.equal((await cli(['rotate', '--all'], { cwd: dir, env: env() })).code, 0);
  const fault = s3.injectFault({ op: 'PutObject', kind: '500', times: Infinity });
  const failed = await ship(dir, ['--to', 's3://audit/failing/', '--retain', '1d'], { AWS_MAX_ATTEMPTS: '2' });
  s3.clearFaults();
  assert.equal(failed.code, 1, failed.stderr);
  assert.ok(fault.fired >= 2, 'the SDK retried the 500');
  assert.match(failed.stderr, /ERR_SHIP_FAILED|PutObject s3:\/\/audit\/failing\/.* failed \(InternalError/);
  assert.match(failed.stderr, /the next `keyshift evidence ship` retries/);
  assertNoStackTrace(assert, failed.stderr);
  assert.deepEqual(s3.keys('audit', 'failing/'), []);
  assert.equal(existsSync(join(dir, 'evidence', 'shipped.json')), false, 'nothing is remembered as shipped');

  const retried = await ship(dir, ['--to', 's3://audit/failing/', '--retain', '1d']);
  assert.equal(retried.code, 0, retried.stderr);
  assert.equal(shippedText('audit', 'failing/'), log(dir));
});

test('a ship that died after its upload, before remembering it: the next ship adopts the object and uploads only the newer records', async () => {
  const dir = project();
  assert.equal((await cli(['rotate', '--all'], { cwd: dir, env: env() })).code, 0);
  // The reply is lost and the client gives up: the object is in the bucket, the ship exits 1.
  s3.injectFault({ op: 'PutObject', kind: 'drop', afterApply: true, times: 1 });
  const lost = await ship(dir, ['--to', 's3://audit/lost/'], { AWS_MAX_ATTEMPTS: '1' });
  assert.equal(lost.code, 1, lost.stderr);
  assert.equal(s3.keys('audit', 'lost/').length, 1, 'the upload landed');
  assert.equal(existsSync(join(dir, 'evidence', 'shipped.json')), false);

  assert.equal((await cli(['rotate', '--all', '--force', '--reason', 'test'], { cwd: dir, env: env() })).code, 0);
  const next = await ship(dir, ['--to', 's3://audit/lost/', '--json']);
  assert.equal(next.code, 0, next.stderr);
  const out = json(next);
  assert.deepEqual(out.objects.map((o) => o.adopted), [true, false]);
  assert.equal(out.objects[1].from, out.objects[0].to + 1);
  assert.equal(shippedText('audit', 'lost/'), log(dir), 'every record exactly once');
  const last = JSON.parse(log(dir).trim().split('\n').at(-1));
  assert.deepEqual(out.shipped, { seq: last.seq, hash: last.hash });
});

test('--retain on a bucket without Object Lock is refused before any upload (exit 2); a missing bucket is named', async () => {
  const dir = project();
  assert.equal((await cli(['rotate', '--all'], { cwd: dir, env: env() })).code, 0);
  const before = puts().length;
  const refused = await ship(dir, ['--to', 's3://plain/x/', '--retain', '365d']);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /--retain: bucket plain does not have S3 Object Lock enabled, so nothing can be retained; nothing was uploaded/);
  assert.equal(puts().length, before);
  // Not allowed to read the bucket's lock configuration: S3 itself refuses the lock headers.
  const undo = s3.deny({ op: 'GetObjectLockConfiguration' });
  const unknown = await ship(dir, ['--to', 's3://plain/x/', '--retain', '365d']);
  undo();
  assert.equal(unknown.code, 2, unknown.stderr);
  assert.match(unknown.stderr, /the bucket refuses Object Lock retention \(InvalidRequest: Bucket is missing Object Lock Configuration\); nothing was uploaded/);
  assert.deepEqual(s3.keys('plain', 'x/'), []);
  const missing = await ship(dir, ['--to', 's3://no-such-bucket/x/']);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /bucket does not exist \(NoSuchBucket/);
  const bad = await ship(dir, ['--to', 'https://example.com/x']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--to "https:\/\/example.com\/x" is not an S3 URL/);
  // Without --retain a plain bucket works, with a warning that its copies are not write-once.
  const plain = await cli(['evidence', 'ship', '--to', 's3://plain/y/'], { cwd: dir, env: env({ AWS_ENDPOINT_URL_S3: s3.endpoint }) });
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stderr, /warning: bucket plain has no Object Lock: the shipped copies can be changed or deleted/);
  assert.equal(shippedText('plain', 'y/'), log(dir));
});

test('a log edited after it was shipped is refused, not shipped over (exit 1)', async () => {
  const dir = project();
  assert.equal((await cli(['rotate', '--all'], { cwd: dir, env: env() })).code, 0);
  assert.equal((await ship(dir, ['--to', 's3://audit/edited/'])).code, 0);
  // A fresh chain where the shipped one was: same start, other records (a log replaced by hand).
  const lines = log(dir).trim().split('\n');
  writeFileSync(join(dir, 'evidence', 'shipped.json'), '{}');
  writeFileSync(join(dir, 'evidence', 'evidence.jsonl'), `${lines.slice(0, 1).join('\n')}\n`);
  const refused = await ship(dir, ['--to', 's3://audit/edited/']);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /already exists but is not a copy of this log's records from seq 1/);
});

// Every module the CLI loads (test/helpers/module-probe.js), to prove the S3 client is loaded by `evidence ship` only.
const loaded = (dir, args) => probe(dir, [bin, ...args], env());
const s3Module = (url) => /ship-s3|client-s3|@aws-sdk|dist-cjs/.test(url);

test('the S3 client is loaded by evidence ship only, and its Node.js notice goes to the debug log', async () => {
  const dir = project();
  for (const args of [['--version'], ['plan'], ['rotate', '--all'], ['evidence', 'verify']]) {
    const { code, modules, stderr } = await loaded(dir, args);
    assert.equal(code, 0, stderr);
    assert.deepEqual(modules.filter(s3Module), [], `${args.join(' ')} loaded the S3 client`);
  }
  const shipped = await loaded(dir, ['evidence', 'ship', '--to', 's3://audit/lazy/', '--endpoint-url', s3.endpoint]);
  assert.equal(shipped.code, 0, shipped.stderr);
  assert.ok(shipped.modules.some(s3Module));
  assert.doesNotMatch(shipped.stderr, /NodeDeprecationWarning|Node\.js >= 22|version support/i);
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 22) {
    const debug = await ship(dir, ['--to', 's3://audit/lazy/', '--log-level', 'debug']);
    assert.match(debug.stderr, /AWS SDK notice/);
  }
});
