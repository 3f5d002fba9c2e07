// `evidence ship` called directly (no CLI bundle): shipEvidence over the real S3 client of
// ship-s3.ts against the loopback S3 of test/fakes/s3 (SigV4 checked, Object Lock rules). What a
// caller sees: the objects and their keys, bodies, metadata and retention, shipped.json, adoption
// of an object an earlier ship left, and each refusal with its code. Written for the mutation run
// of src/evidence (test/MUTATION.md).
// The machine's time zone must not matter: an object's month is its first record's UTC month.
process.env.TZ = 'Pacific/Kiritimati'; // UTC+14
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, readdirSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EvidenceLog } from '../../dist/evidence/index.js';
import { SHIP_STATE, parseDestination, shipEvidence } from '../../dist/evidence/ship.js';
import { openS3 } from '../../dist/evidence/ship-s3.js';
import { startS3 } from '../fakes/s3/server.js';

const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };
Object.assign(process.env, CREDENTIALS);
const NOW = new Date('2026-12-01T08:00:00.000Z');
// The fake's clock is NOW too: retention dates are judged against it.
const s3 = await startS3({ now: () => NOW, buckets: { audit: { objectLock: true }, plain: {}, defaults: { objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 1 } } } });
after(() => s3.close());
const quiet = { child: () => quiet, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const DAY = 86_400_000;
const base = mkdtempSync(join(tmpdir(), 'keyshift-evidence-ship-'));
let counter = 0;
const newDir = () => {
  const dir = join(base, `case-${(counter += 1)}`);
  mkdirSync(dir);
  return dir;
};
let prefixes = 0;
const newPrefix = () => `p${(prefixes += 1)}/`;

const draft = (at, over = {}) => ({
  at, event: 'issued', rotationId: 'r-1', secret: 'api-key', environment: 'dev', store: 'local', fromVersion: null, toVersion: 'v2',
  fingerprint: null, operator: 'erin@host', reason: 'scheduled', ticket: null, emergency: false, checks: [], ...over,
});
async function append(dir, ats) {
  const log = new EvidenceLog(dir);
  await log.append(ats.map((at) => draft(at)));
  await log.close();
}
const fileOf = (dir) => join(dir, 'evidence.jsonl');
const recordsOf = (dir) => readFileSync(fileOf(dir), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
const failure = (promise) => promise.then(() => null, (error) => ({ code: error.code, message: error.message, hint: error.hint, exitCode: error.exitCode, retryable: error.retryable }));
const opened = [];
async function target(env = {}, overrides = { endpoint: s3.endpoint }) {
  const t = await openS3(overrides, { ...CREDENTIALS, AWS_MAX_ATTEMPTS: '1', ...env }, quiet);
  opened.push(t);
  return t;
}
after(() => opened.forEach((t) => t.close()));
const ship = async (dir, to, options = {}, s3Target) => {
  const warnings = [];
  const result = await shipEvidence(dir, parseDestination(to), s3Target ?? (await target()), { now: NOW, warn: (m) => warnings.push(m), ...options });
  return { result, warnings };
};
const callsOf = (op, bucket, prefix) => s3.calls.filter((c) => c.op === op && c.bucket === bucket && c.key.startsWith(prefix));
const hex16 = (chainId) => chainId.slice('sha256:'.length, 'sha256:'.length + 16);

test('parseDestination: bucket and prefix of an s3:// URL, and what is not one', () => {
  assert.deepEqual(parseDestination('s3://audit-evidence/keyshift/'), { url: 's3://audit-evidence/keyshift/', bucket: 'audit-evidence', prefix: 'keyshift/' });
  assert.deepEqual(parseDestination('s3://audit.evidence/team/a'), { url: 's3://audit.evidence/team/a/', bucket: 'audit.evidence', prefix: 'team/a/' });
  assert.deepEqual(parseDestination('s3://abc'), { url: 's3://abc/', bucket: 'abc', prefix: '' });
  assert.deepEqual(parseDestination('s3://abc/'), { url: 's3://abc/', bucket: 'abc', prefix: '' });
  const longest = `a${'b'.repeat(61)}c`;
  assert.equal(parseDestination(`s3://${longest}/x`).bucket, longest);
  for (const to of ['https://example.com/x', 's3://ab/', 's3://Audit/x', `s3://a${'b'.repeat(62)}c/`, 's3://-abc/', 's3://abc-/', ' s3://abc/', 's3://abc//x'.replace('//x', '_x'), 'xs3://abc/']) {
    assert.throws(() => parseDestination(to), (error) => {
      assert.equal(error.code, 'ERR_USAGE', to);
      assert.equal(error.exitCode, 2);
      assert.equal(error.message, `--to "${to}" is not an S3 URL`);
      assert.equal(error.hint, 'e.g. --to s3://audit-evidence/keyshift/ (a bucket name of 3-63 lowercase letters, digits, dots and hyphens, then an optional prefix)');
      return true;
    });
  }
});

test('a first ship with --retain uploads seq 1..n as one retained object; a rerun uploads nothing; new records go to a second object', async () => {
  const dir = newDir();
  await append(dir, ['2026-03-05T10:00:00.000Z', '2026-03-05T10:00:01.000Z', '2026-04-01T00:00:00.000Z']);
  const records = recordsOf(dir);
  const chainId = records[0].hash;
  const prefix = newPrefix();
  const { result, warnings } = await ship(dir, `s3://audit/${prefix}`, { retainMs: 365 * DAY });
  const key = `${prefix}2026/03/evidence-${hex16(chainId)}-000000000001.jsonl`;
  const [stored] = s3.versions('audit', key);
  const until = new Date(NOW.getTime() + 365 * DAY).toISOString();
  assert.deepEqual(result, {
    to: `s3://audit/${prefix}`,
    chainId,
    objects: [{ key, from: 1, to: 3, records: 3, versionId: stored.versionId, adopted: false, retention: { mode: 'COMPLIANCE', until } }],
    shipped: { seq: 3, hash: records[2].hash },
    objectLock: 'retained',
  });
  assert.deepEqual(warnings, []);
  assert.equal(typeof stored.versionId, 'string');
  assert.equal(stored.body.toString(), readFileSync(fileOf(dir), 'utf8'), 'the lines exactly as the log holds them');
  assert.deepEqual(stored.metadata, {
    'keyshift-chain-id': chainId, 'keyshift-from-seq': '1', 'keyshift-to-seq': '3',
    'keyshift-prev-hash': records[0].prevHash, 'keyshift-to-hash': records[2].hash,
  });
  assert.deepEqual(stored.retention, { mode: 'COMPLIANCE', until });
  assert.equal(stored.contentType, 'application/x-ndjson');
  const [put] = callsOf('PutObject', 'audit', prefix);
  assert.equal(put.headers['if-none-match'], '*');
  const state = JSON.parse(readFileSync(join(dir, SHIP_STATE), 'utf8'));
  assert.equal(SHIP_STATE, 'shipped.json');
  assert.deepEqual(state, { version: 1, destinations: { [`s3://audit/${prefix}`]: { chainId, seq: 3, hash: records[2].hash, key, at: NOW.toISOString() } } });
  assert.equal(readFileSync(join(dir, SHIP_STATE), 'utf8'), `${JSON.stringify(state, null, 2)}\n`);
  assert.equal(statSync(join(dir, SHIP_STATE)).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir).filter((name) => name.includes('.tmp')), [], 'no temp file left');

  const again = await ship(dir, `s3://audit/${prefix}`, { retainMs: 365 * DAY });
  assert.deepEqual(again.result, { to: `s3://audit/${prefix}`, chainId, objects: [], shipped: { seq: 3, hash: records[2].hash }, objectLock: 'retained' });
  assert.equal(callsOf('PutObject', 'audit', prefix).length, 1);
  assert.equal(callsOf('HeadObject', 'audit', prefix).length, 1, 'remembered: no HEAD either');

  await append(dir, ['2026-12-31T12:00:00.000Z', '2027-01-01T00:00:00.000Z']);
  const all = recordsOf(dir);
  const next = await ship(dir, `s3://audit/${prefix.slice(0, -1)}`); // same destination without the slash
  const key2 = `${prefix}2026/12/evidence-${hex16(chainId)}-000000000004.jsonl`;
  assert.deepEqual(next.result.objects.map(({ key: k, from, to, records: n, adopted, retention }) => ({ k, from, to, n, adopted, retention })), [{ k: key2, from: 4, to: 5, n: 2, adopted: false, retention: null }]);
  assert.deepEqual(next.result.shipped, { seq: 5, hash: all[4].hash });
  const [second] = s3.versions('audit', key2);
  assert.equal(second.body.toString(), readFileSync(fileOf(dir), 'utf8').split('\n').slice(3).join('\n'));
  assert.equal(second.metadata['keyshift-prev-hash'], all[2].hash);
  assert.equal(second.metadata['keyshift-from-seq'], '4');
  assert.equal(second.retention, null);
});

test('what the bucket keeps: a warning without Object Lock or without a default retention; none with a default; unknown when the lock cannot be read', async () => {
  const dir = newDir();
  await append(dir, ['2026-11-01T00:00:00.000Z']);
  const plain = await ship(dir, `s3://plain/${newPrefix()}`);
  assert.equal(plain.result.objectLock, 'none');
  assert.deepEqual(plain.warnings, ['bucket plain has no Object Lock: the shipped copies can be changed or deleted; pass --retain 365d to a bucket with Object Lock']);
  assert.equal(plain.result.objects[0].versionId, null, 'a bucket without versioning');
  const locked = await ship(dir, `s3://audit/${newPrefix()}`);
  assert.equal(locked.result.objectLock, 'none');
  assert.deepEqual(locked.warnings, ['bucket audit has Object Lock but no default retention: the shipped copies can be changed or deleted; pass --retain 365d to a bucket with Object Lock']);
  const defaults = await ship(dir, `s3://defaults/${newPrefix()}`);
  assert.equal(defaults.result.objectLock, 'bucket-default');
  assert.deepEqual(defaults.warnings, []);
  assert.equal(defaults.result.objects[0].retention, null, 'no retention of our own');
  const undo = s3.deny({ op: 'GetObjectLockConfiguration' });
  try {
    const unknown = await ship(dir, `s3://plain/${newPrefix()}`);
    assert.equal(unknown.result.objectLock, 'unknown');
    assert.deepEqual(unknown.warnings, []);
    const retained = await ship(dir, `s3://audit/${newPrefix()}`, { retainMs: DAY });
    assert.equal(retained.result.objectLock, 'retained');
    // Not allowed to read the lock configuration: S3 itself refuses the lock headers on a bucket without it.
    const prefix = newPrefix();
    const refused = await failure(ship(dir, `s3://plain/${prefix}`, { retainMs: DAY }));
    assert.equal(refused.code, 'ERR_SHIP_NO_OBJECT_LOCK');
    assert.match(refused.message, new RegExp(`^PutObject s3://plain/${prefix}\\d{4}/\\d{2}/evidence-[0-9a-f]{16}-000000000001\\.jsonl: the bucket refuses Object Lock retention \\(InvalidRequest: Bucket is missing Object Lock Configuration\\); nothing was uploaded$`));
    assert.equal(refused.exitCode, 2);
    assert.equal(refused.hint, 'ship to a bucket created with Object Lock, or leave out --retain');
  } finally {
    undo();
  }
});

test('--retain to a bucket without Object Lock is refused before anything is uploaded', async () => {
  const dir = newDir();
  await append(dir, ['2026-11-01T00:00:00.000Z']);
  const prefix = newPrefix();
  assert.deepEqual(await failure(ship(dir, `s3://plain/${prefix}`, { retainMs: DAY })), {
    code: 'ERR_SHIP_NO_OBJECT_LOCK',
    message: '--retain: bucket plain does not have S3 Object Lock enabled, so nothing can be retained; nothing was uploaded',
    hint: 'ship to a bucket created with Object Lock (aws s3api create-bucket --object-lock-enabled-for-bucket), or leave out --retain',
    exitCode: 2,
    retryable: false,
  });
  assert.deepEqual([callsOf('HeadObject', 'plain', prefix).length, callsOf('PutObject', 'plain', prefix).length], [0, 0]);
  assert.equal(statSync(join(dir, SHIP_STATE), { throwIfNoEntry: false }), undefined);
});

test('an empty log ships nothing; a broken log is refused', async () => {
  const dir = newDir();
  const prefix = newPrefix();
  assert.deepEqual((await ship(dir, `s3://audit/${prefix}`, { retainMs: DAY })).result, { to: `s3://audit/${prefix}`, chainId: null, objects: [], shipped: null, objectLock: 'retained' });
  assert.deepEqual(readdirSync(dir).filter((n) => n !== 'evidence.lock'), []);
  await append(dir, ['2026-11-01T00:00:00.000Z', '2026-11-01T00:00:01.000Z']);
  const lines = readFileSync(fileOf(dir), 'utf8').split('\n');
  writeFileSync(fileOf(dir), `${lines[0]}\n${lines[1].replace('erin@host', 'mallory')}\n`);
  const refused = await failure(ship(dir, `s3://audit/${prefix}`));
  assert.equal(refused.code, 'ERR_EVIDENCE_BROKEN');
  assert.match(refused.message, new RegExp(`^${fileOf(dir).replace(/[.]/g, '\\.')}:2: .+; nothing was shipped$`));
  assert.equal(refused.hint, 'run keyshift evidence verify; a broken log is never shipped (restore it from a backup or from the copies already shipped)');
  assert.equal(refused.exitCode, 1);
  assert.deepEqual(s3.keys('audit', prefix), []);
});

test('a ship that died after its upload: the next one adopts the object instead of uploading it again', async () => {
  const dir = newDir();
  await append(dir, ['2026-11-01T00:00:00.000Z', '2026-11-01T00:00:01.000Z']);
  const records = recordsOf(dir);
  const prefix = newPrefix();
  const first = (await ship(dir, `s3://audit/${prefix}`, { retainMs: DAY })).result.objects[0];
  const puts = () => callsOf('PutObject', 'audit', prefix).length;
  for (const state of [null, '{ damaged', 'null', JSON.stringify({ version: 1, destinations: { [`s3://audit/${prefix}`]: { chainId: 'sha256:' + 'a'.repeat(64), seq: 2, hash: records[1].hash } } }), JSON.stringify({ destinations: { [`s3://audit/${prefix}`]: { chainId: records[0].hash, seq: '2', hash: records[1].hash } } }), JSON.stringify({ destinations: { [`s3://audit/${prefix}`]: { chainId: records[0].hash, seq: 2, hash: 7 } } }), JSON.stringify({ destinations: { [`s3://audit/${prefix}`]: { chainId: records[0].hash, seq: 2 } } }), JSON.stringify({ version: 1 })]) {
    if (state === null) rmSync(join(dir, SHIP_STATE));
    else writeFileSync(join(dir, SHIP_STATE), state);
    const { result } = await ship(dir, `s3://audit/${prefix}`, { retainMs: DAY });
    assert.deepEqual(result.objects, [{ ...first, adopted: true }], String(state));
    assert.deepEqual(result.shipped, { seq: 2, hash: records[1].hash });
    assert.equal(puts(), 1, 'not uploaded again');
    assert.equal(JSON.parse(readFileSync(join(dir, SHIP_STATE), 'utf8')).destinations[`s3://audit/${prefix}`].seq, 2);
  }
  // An object an earlier ship left that holds fewer records: adopted, and the rest goes to the next key.
  const dir2 = newDir();
  await append(dir2, ['2026-11-02T00:00:00.000Z', '2026-11-02T00:00:01.000Z', '2026-11-02T00:00:02.000Z']);
  const r2 = recordsOf(dir2);
  const prefix2 = newPrefix();
  const key = `${prefix2}2026/11/evidence-${hex16(r2[0].hash)}-000000000001.jsonl`;
  s3.state.put('plain', key, { body: Buffer.from('x'), metadata: { 'keyshift-to-seq': '2', 'keyshift-to-hash': r2[1].hash } });
  const { result } = await ship(dir2, `s3://plain/${prefix2}`);
  assert.deepEqual(result.objects.map((o) => [o.key, o.from, o.to, o.records, o.adopted, o.versionId, o.retention]), [
    [key, 1, 2, 2, true, null, null],
    [`${prefix2}2026/11/evidence-${hex16(r2[0].hash)}-000000000003.jsonl`, 3, 3, 1, false, null, null],
  ]);
  assert.deepEqual(result.shipped, { seq: 3, hash: r2[2].hash });
});

test('an object at the key that is not a copy of this log is refused', async () => {
  const dir = newDir();
  await append(dir, ['2026-11-03T00:00:00.000Z', '2026-11-03T00:00:01.000Z']);
  const records = recordsOf(dir);
  for (const [metadata, endsAt] of [[{ 'keyshift-to-seq': '2', 'keyshift-to-hash': records[0].hash }, '2'], [{ 'keyshift-to-seq': '0', 'keyshift-to-hash': records[0].hash }, '0'], [{ 'keyshift-to-seq': '3' }, '3'], [{ 'keyshift-to-seq': '1.5', 'keyshift-to-hash': records[0].hash }, '1.5'], [{}, '?']]) {
    const prefix = newPrefix();
    const key = `${prefix}2026/11/evidence-${hex16(records[0].hash)}-000000000001.jsonl`;
    s3.state.put('plain', key, { body: Buffer.from('x'), metadata });
    assert.deepEqual(await failure(ship(dir, `s3://plain/${prefix}`)), {
      code: 'ERR_SHIP_MISMATCH',
      message: `${key} already exists but is not a copy of this log's records from seq 1 (it ends at seq ${endsAt} with another hash): the log was rewritten after it was shipped, or another log uses this prefix`,
      hint: 'give each evidence log its own --to prefix; compare the log with the shipped copy',
      exitCode: 1,
      retryable: false,
    }, JSON.stringify(metadata));
  }
});

test('shipped.json that does not match the log: records removed, or rewritten, after they were shipped', async () => {
  const dir = newDir();
  await append(dir, ['2026-11-04T00:00:00.000Z', '2026-11-04T00:00:01.000Z', '2026-11-04T00:00:02.000Z']);
  const records = recordsOf(dir);
  const prefix = newPrefix();
  const url = `s3://audit/${prefix}`;
  const remembered = (seq, hash) => writeFileSync(join(dir, SHIP_STATE), JSON.stringify({ version: 1, destinations: { [url]: { chainId: records[0].hash, seq, hash, key: 'k', at: 'then' } } }));
  remembered(4, records[2].hash);
  assert.deepEqual(await failure(ship(dir, url)), {
    code: 'ERR_SHIP_MISMATCH',
    message: `${url} holds seq 1..4 of this log but the log ends at seq 3: records were removed from it after they were shipped`,
    hint: 'restore the log from the shipped copies (they are the records as they were) and run keyshift evidence verify',
    exitCode: 1,
    retryable: false,
  });
  remembered(3, records[2].hash);
  assert.deepEqual((await ship(dir, url)).result.objects, [], 'exactly the head: nothing to ship');
  remembered(2, records[0].hash);
  assert.deepEqual(await failure(ship(dir, url)), {
    code: 'ERR_SHIP_MISMATCH',
    message: `record seq 3 of ${fileOf(dir)} does not follow the seq 2 already shipped to ${url}: the log was rewritten after it was shipped`,
    hint: 'compare the log with the shipped copies; keyshift never ships over them',
    exitCode: 1,
    retryable: false,
  });
  remembered(2, records[1].hash);
  const { result } = await ship(dir, url);
  assert.deepEqual(result.objects.map((o) => [o.from, o.to]), [[3, 3]]);
  assert.equal(s3.versions('audit', result.objects[0].key)[0].metadata['keyshift-prev-hash'], records[1].hash);
  // Each destination is remembered apart.
  const other = `s3://plain/${newPrefix()}`;
  await ship(dir, other);
  const state = JSON.parse(readFileSync(join(dir, SHIP_STATE), 'utf8'));
  assert.deepEqual(Object.keys(state.destinations).sort(), [other, url].sort());
  assert.deepEqual([state.destinations[url].seq, state.destinations[other].seq], [3, 3]);
});

test('two ships at once: the upload that finds the key taken (412) adopts what the other wrote', async () => {
  const dir = newDir();
  await append(dir, ['2026-11-05T00:00:00.000Z']);
  const records = recordsOf(dir);
  const prefix = newPrefix();
  // The PUT lands but its reply is lost; the SDK's retry then meets If-None-Match: * (412).
  s3.injectFault({ op: 'PutObject', kind: 'drop', afterApply: true, times: 1 });
  const { result } = await ship(dir, `s3://audit/${prefix}`, { retainMs: DAY }, await target({ AWS_MAX_ATTEMPTS: '2' }));
  const key = `${prefix}2026/11/evidence-${hex16(records[0].hash)}-000000000001.jsonl`;
  const [stored] = s3.versions('audit', key);
  assert.equal(s3.versions('audit', key).length, 1);
  assert.deepEqual(result.objects, [{ key, from: 1, to: 1, records: 1, versionId: stored.versionId, adopted: true, retention: { mode: 'COMPLIANCE', until: new Date(NOW.getTime() + DAY).toISOString() } }]);
  assert.deepEqual(callsOf('PutObject', 'audit', prefix).map((c) => c.status ?? 'reply lost'), ['reply lost', 412]);
});

test('S3 errors: each as one line with its AWS code, the right keyshift code and exit code', async () => {
  const dir = newDir();
  await append(dir, ['2026-11-06T00:00:00.000Z']);
  const prefix = newPrefix();
  const IAM = 'grant s3:PutObject, s3:GetObject (for HeadObject), s3:GetBucketObjectLockConfiguration and, with --retain, s3:PutObjectRetention on the bucket and prefix to the identity keyshift runs as';
  assert.deepEqual(await failure(ship(dir, 's3://no-such-bucket/x/')), {
    code: 'ERR_SHIP_NO_BUCKET', message: 'GetObjectLockConfiguration on bucket no-such-bucket: the bucket does not exist (NoSuchBucket: The specified bucket does not exist)',
    hint: 'check the bucket name in --to (and --region / --endpoint-url)', exitCode: 2, retryable: false,
  });
  const keyPattern = `s3://audit/${prefix}2026/11/evidence-[0-9a-f]{16}-000000000001\\.jsonl`;
  let undo = s3.deny({ op: 'HeadObject' });
  const head = await failure(ship(dir, `s3://audit/${prefix}`));
  undo();
  // S3 answers a HEAD error without a body: the SDK knows only its status, 403, an access denial too.
  assert.match(head.message, new RegExp(`^HeadObject ${keyPattern}: access denied by S3 \\(HTTP 403\\)$`));
  assert.deepEqual([head.code, head.hint, head.exitCode, head.retryable], ['ERR_SHIP_ACCESS_DENIED', IAM, 1, false]);
  // A bodiless HEAD answer of another status is not an access denial: a failure the next run retries.
  const fault = s3.injectFault({ op: 'HeadObject', kind: '500', times: 10 });
  const head500 = await failure(ship(dir, `s3://audit/${prefix}`));
  s3.clearFaults();
  assert.ok(fault.fired > 0);
  assert.match(head500.message, new RegExp(`^HeadObject ${keyPattern} failed \\(HTTP 500\\)$`));
  assert.deepEqual([head500.code, head500.retryable], ['ERR_SHIP_FAILED', true]);
  undo = s3.deny({ op: 'PutObject' });
  const put = await failure(ship(dir, `s3://audit/${prefix}`));
  undo();
  assert.match(put.message, new RegExp(`^PutObject ${keyPattern}: access denied by S3 \\(AccessDenied: Access Denied\\)$`));
  assert.deepEqual([put.code, put.hint, put.exitCode, put.retryable], ['ERR_SHIP_ACCESS_DENIED', IAM, 1, false]);
  // Other 403 codes are access errors too, also when S3's message mentions Object Lock.
  for (const [code, message] of [['AccessDenied', 'Access Denied because object protected by object lock.'], ['AllAccessDisabled', 'All access to this object has been disabled']]) {
    undo = s3.deny({ op: 'PutObject', code, message });
    const other = await failure(ship(dir, `s3://audit/${prefix}`));
    undo();
    assert.match(other.message, new RegExp(`^PutObject ${keyPattern}: access denied by S3 \\(${code}: ${message.replace('.', '\\.')}\\)$`), code);
    assert.deepEqual([other.code, other.exitCode], ['ERR_SHIP_ACCESS_DENIED', 1], code);
  }
  s3.injectFault({ op: 'PutObject', kind: '500', times: 1 });
  const failed = await failure(ship(dir, `s3://audit/${prefix}`));
  assert.match(failed.message, new RegExp(`^PutObject ${keyPattern} failed \\(InternalError: We encountered an internal error\\. Please try again\\.\\)$`));
  assert.deepEqual([failed.code, failed.exitCode, failed.retryable, failed.hint], ['ERR_SHIP_FAILED', 1, true, 'nothing was lost: the local log is unchanged and the next `keyshift evidence ship` retries what is not shipped yet']);
  s3.injectFault({ op: 'GetObjectLockConfiguration', kind: 'slowdown', times: 1 });
  const slow = await failure(ship(dir, `s3://audit/${prefix}`));
  assert.deepEqual([slow.code, slow.message], ['ERR_SHIP_FAILED', 'GetObjectLockConfiguration on bucket audit failed (SlowDown: Please reduce your request rate.)']);
  assert.deepEqual(s3.keys('audit', prefix), [], 'nothing uploaded by the failed ships');
  assert.equal(statSync(join(dir, SHIP_STATE), { throwIfNoEntry: false }), undefined, 'nothing remembered');

  const badKey = await failure(ship(dir, `s3://audit/${prefix}`, {}, await target({}, { endpoint: s3.endpoint })).finally(() => {}));
  assert.equal(badKey, null, 'the same target works');
  for (const [variable, value, code] of [['AWS_ACCESS_KEY_ID', 'AKIDOTHER', 'InvalidAccessKeyId'], ['AWS_SECRET_ACCESS_KEY', 'wrong', 'SignatureDoesNotMatch']]) {
    process.env[variable] = value;
    try {
      const denied = await failure(ship(dir, `s3://audit/${newPrefix()}`));
      assert.equal(denied.code, 'ERR_SHIP_ACCESS_DENIED', code);
      assert.match(denied.message, new RegExp(`^GetObjectLockConfiguration on bucket audit: access denied by S3 \\(${code}: `));
    } finally {
      Object.assign(process.env, CREDENTIALS);
    }
  }
  delete process.env.AWS_REGION;
  try {
    const region = await failure(ship(dir, `s3://audit/${newPrefix()}`, {}, await target({ AWS_REGION: undefined })));
    assert.deepEqual([region.code, region.message, region.hint, region.exitCode], ['ERR_AWS_REGION', 'GetObjectLockConfiguration on bucket audit: no AWS Region configured', 'pass --region or set AWS_REGION', 2]);
    const given = await ship(dir, `s3://plain/${newPrefix()}`, {}, await target({}, { endpoint: s3.endpoint, region: 'us-east-1' }));
    assert.equal(given.result.objects.length, 1, '--region');
  } finally {
    Object.assign(process.env, CREDENTIALS);
  }
  delete process.env.AWS_ACCESS_KEY_ID;
  delete process.env.AWS_SECRET_ACCESS_KEY;
  const profile = process.env.AWS_PROFILE;
  process.env.AWS_PROFILE = 'keyshift-test-no-such-profile';
  process.env.AWS_CONFIG_FILE = join(base, 'no-config');
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(base, 'no-credentials');
  try {
    const none = await failure(ship(dir, `s3://audit/${newPrefix()}`));
    assert.deepEqual([none.code, none.exitCode, none.hint], ['ERR_AWS_CREDENTIALS', 2, 'set AWS_PROFILE or --profile, run `aws sso login`, or provide AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY']);
    assert.match(none.message, /^GetObjectLockConfiguration on bucket audit: no usable AWS credentials \(\w+: /);
  } finally {
    if (profile === undefined) delete process.env.AWS_PROFILE;
    else process.env.AWS_PROFILE = profile;
    delete process.env.AWS_CONFIG_FILE;
    delete process.env.AWS_SHARED_CREDENTIALS_FILE;
    Object.assign(process.env, CREDENTIALS);
  }
});

test('the S3 target itself: lock configuration, HEAD of a missing and a present key, a PUT that finds the key taken', async () => {
  const t = await target();
  assert.deepEqual(await t.objectLock('defaults'), { enabled: true, defaultRetention: { mode: 'GOVERNANCE', days: 1, years: null } });
  assert.deepEqual(await t.objectLock('audit'), { enabled: true, defaultRetention: null });
  assert.deepEqual(await t.objectLock('plain'), { enabled: false, defaultRetention: null });
  const undo = s3.deny({ op: 'GetObjectLockConfiguration' });
  assert.equal(await t.objectLock('plain'), null);
  undo();
  const key = `${newPrefix()}k.jsonl`;
  assert.equal(await t.head('plain', key), null);
  assert.deepEqual(await t.putNew('plain', key, Buffer.from('one\n'), { a: 'b' }, null), { created: true, versionId: null });
  assert.deepEqual(await t.head('plain', key), { metadata: { a: 'b' }, versionId: null, retainUntil: null, mode: null });
  assert.deepEqual(await t.putNew('plain', key, Buffer.from('two\n'), {}, null), { created: false, versionId: null });
  assert.equal(s3.versions('plain', key)[0].body.toString(), 'one\n');
  const until = new Date(NOW.getTime() + 400 * DAY);
  const put = await t.putNew('audit', key, Buffer.from('one\n'), {}, { mode: 'COMPLIANCE', until });
  assert.equal(put.created, true);
  assert.deepEqual(await t.head('audit', key), { metadata: {}, versionId: put.versionId, retainUntil: until.toISOString(), mode: 'COMPLIANCE' });
  // A custom endpoint given by name (an IP address alone makes the SDK use paths): requests are
  // path-style (http://localhost:port/bucket/key), from --endpoint-url or from the environment.
  const byName = s3.endpoint.replace('127.0.0.1', 'localhost');
  assert.deepEqual(await (await target({}, { endpoint: byName })).objectLock('audit'), { enabled: true, defaultRetention: null });
  for (const variable of ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL']) {
    process.env[variable] = byName;
    try {
      const fromEnv = await target({ [variable]: byName }, {});
      assert.deepEqual(await fromEnv.objectLock('audit'), { enabled: true, defaultRetention: null }, variable);
    } finally {
      delete process.env[variable];
    }
  }
});

test('a shipped.json that cannot be read (a directory) stops the ship before anything is uploaded', async () => {
  const dir = newDir();
  await append(dir, ['2026-11-07T00:00:00.000Z']);
  mkdirSync(join(dir, SHIP_STATE));
  const prefix = newPrefix();
  const refused = await ship(dir, `s3://audit/${prefix}`).then(() => null, (error) => error.code);
  assert.equal(refused, 'EISDIR');
  assert.deepEqual(s3.keys('audit', prefix), []);
});

test('through another S3 target: a key refused as existing and then not found; an object with a lock mode but no date', async () => {
  const dir = newDir();
  await append(dir, ['2026-11-08T00:00:00.000Z']);
  const records = recordsOf(dir);
  const real = await target();
  const vanishing = { ...real, head: async () => null, putNew: async () => ({ created: false, versionId: null }) };
  const prefix = newPrefix();
  const key = `${prefix}2026/11/evidence-${hex16(records[0].hash)}-000000000001.jsonl`;
  assert.deepEqual(await failure(ship(dir, `s3://audit/${prefix}`, {}, vanishing)), {
    code: 'ERR_SHIP_FAILED', message: `s3://audit/${key}: refused as existing, then not found`, hint: 'rerun keyshift evidence ship', exitCode: 1, retryable: false,
  });
  const metadata = { 'keyshift-to-seq': '1', 'keyshift-to-hash': records[0].hash };
  for (const [mode, retainUntil] of [['COMPLIANCE', null], [null, '2027-01-01T00:00:00.000Z']]) {
    const odd = { ...real, head: async () => ({ metadata, versionId: 'v1', retainUntil, mode }) };
    const { result } = await ship(dir, `s3://audit/${newPrefix()}`, {}, odd);
    assert.deepEqual(result.objects.map((o) => [o.adopted, o.versionId, o.retention]), [[true, 'v1', null]], String(mode));
  }
});
