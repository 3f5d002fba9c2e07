import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, appendFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { EvidenceLog, verifyEvidence, recordHash, canonicalJson, ZERO_HASH, findLoggedEvents } from '../../dist/evidence/index.js';

/** The events docs/evidence.md lists, written out: not taken from the code under test. */
const EVIDENCE_EVENTS = ['provisioned', 'issued', 'deployed', 'verified', 'switched', 'decommissioned', 'rolled-back', 'failed', 'repaired', 'signed', 'reencrypt-stage', 'data-key-rewrapped'];

// What `keyshift evidence verify` tells an auditor, word for word where the words carry the cause:
// every kind of damage names its own problem, and the writer refuses each with a message naming
// the line. Written to pin the texts and edge cases mutation testing found unchecked (MUTATION.md).

const draft = (i, over = {}) => ({
  event: 'issued', rotationId: `r-${i}`, secret: 'db-password', environment: 'prod', store: 'local',
  fromVersion: null, toVersion: `v-${i}`, fingerprint: null, at: '2026-11-23T10:00:00.000Z',
  operator: 'carol@host', reason: 'scheduled', ticket: null, emergency: false, checks: [], ...over,
});
const base = mkdtempSync(join(tmpdir(), 'keyshift-evidence-problems-'));
let counter = 0;
const newDir = () => join(base, `case-${(counter += 1)}`);

const seedDir = newDir();
const seedLog = new EvidenceLog(seedDir);
await seedLog.append([draft(1), draft(2), draft(3)]);
await seedLog.close();
const seed = readFileSync(join(seedDir, 'evidence.jsonl'), 'utf8').split('\n').slice(0, -1).map((line) => JSON.parse(line));

function reseal(record) {
  const { hash: _hash, ...body } = record;
  return { ...body, hash: recordHash(body) };
}
async function verifyText(text, anchors = []) {
  const dir = newDir();
  mkdirSync(dir);
  writeFileSync(join(dir, 'evidence.jsonl'), text);
  return verifyEvidence(dir, anchors);
}
const jsonl = (records) => records.map((record) => `${typeof record === 'string' ? record : JSON.stringify(record)}\n`).join('');

const problems = [
  ['a line over 1 MiB', `${'x'.repeat(2 * 1024 * 1024)}\n`, 1, null, 'the line is longer than 1 MiB: not a keyshift record'],
  ['a last line without newline that is not the next record', jsonl([seed[0]]) + JSON.stringify(seed[2]), 2, null, 'the line is incomplete (no newline at the end): the log was cut or a write was interrupted'],
  ['a last line without newline that begins the next record', JSON.stringify(seed[0]), 1, null, 'the line is incomplete (no newline at the end): a run was killed while appending it; the next run that writes evidence (rotate, or doctor --fix) cuts it and appends its records again from the stores'],
  ['a line that is not JSON', jsonl([seed[0], '{"seq":2,']), 2, null, 'not valid JSON: the line was edited or corrupted'],
  ['a JSON array', jsonl(['[1,2]']), 1, null, 'not a JSON object: the line was edited or corrupted'],
  ['JSON null', jsonl(['null']), 1, null, 'not a JSON object: the line was edited or corrupted'],
  ['a JSON string', jsonl(['"seq"']), 1, null, 'not a JSON object: the line was edited or corrupted'],
  ['seq 0', jsonl([reseal({ ...seed[0], seq: 0 })]), 1, null, 'seq is missing or not a positive integer: the record was edited'],
  ['seq 1.5', jsonl([reseal({ ...seed[0], seq: 1.5 })]), 1, null, 'seq is missing or not a positive integer: the record was edited'],
  ['a log starting at seq 2', jsonl([seed[1], seed[2]]), 1, 2, 'the log starts at seq 2 instead of 1: its first records were removed or the record was edited'],
  ['a deleted middle record', jsonl([seed[0], seed[2]]), 2, 3, 'seq 3 follows seq 1: a record was deleted or reordered'],
  ['a duplicated record', jsonl([seed[0], seed[1], seed[1]]), 3, 2, 'seq 2 follows seq 2: a record was duplicated, inserted or reordered'],
  ['a hash that is not sha256', jsonl([{ ...seed[0], hash: 'md5:abc' }]), 1, 1, 'hash is missing or not "sha256:" + 64 hex digits: the record was edited'],
  ['an edited field', jsonl([{ ...seed[0], reason: 'emergency' }]), 1, 1, 'hash mismatch: the record was edited'],
  ['seq 1 not starting from the zero hash', jsonl([reseal({ ...seed[0], prevHash: seed[2].hash })]), 1, 1, 'prevHash of seq 1 is not the zero hash: the start of the log was replaced'],
  ['a replaced record', jsonl([seed[0], reseal({ ...seed[1], prevHash: ZERO_HASH })]), 2, 2, 'prevHash is not the hash of seq 1: a record was replaced, inserted or removed here'],
  ['a resealed record with an unknown event', jsonl([reseal({ ...seed[0], event: 'exploded' })]), 1, 1,
    `field "event" is "exploded", not one of ${EVIDENCE_EVENTS.join(', ')}: not valid keyshift evidence`],
  ['a resealed record without a time', jsonl([reseal({ ...seed[0], at: 'yesterday' })]), 1, 1, 'field "at" is not an ISO 8601 time: not valid keyshift evidence'],
  ['a resealed record with a numeric runId', jsonl([reseal({ ...seed[0], runId: 7 })]), 1, 1, 'field "runId" is not a string: not valid keyshift evidence'],
  ['a resealed record with an error object', jsonl([reseal({ ...seed[0], error: { code: 1 } })]), 1, 1, 'field "error" is not a string: not valid keyshift evidence'],
  ['a resealed record with a numeric storeId', jsonl([reseal({ ...seed[0], storeId: 1 })]), 1, 1, 'field "storeId" is not a string: not valid keyshift evidence'],
  ['a resealed record with a storeLocation object', jsonl([reseal({ ...seed[0], storeLocation: { path: 'x' } })]), 1, 1, 'field "storeLocation" is not a string: not valid keyshift evidence'],
  ['a resealed record with a boolean resumedBy', jsonl([reseal({ ...seed[0], resumedBy: true })]), 1, 1, 'field "resumedBy" is not a string: not valid keyshift evidence'],
  ['a resealed record with a list as recoveredBy', jsonl([reseal({ ...seed[0], recoveredBy: ['run-1'] })]), 1, 1, 'field "recoveredBy" is not a string: not valid keyshift evidence'],
  ['a resealed record with a numeric secret', jsonl([reseal({ ...seed[0], secret: 5 })]), 1, 1, 'field "secret" is missing or not a string: not valid keyshift evidence'],
  ['a resealed record with a numeric ticket', jsonl([reseal({ ...seed[0], ticket: 5 })]), 1, 1, 'field "ticket" is missing or not a string or null: not valid keyshift evidence'],
  ['a resealed record with checks as an object', jsonl([reseal({ ...seed[0], checks: {} })]), 1, 1, 'field "checks" is missing or not an array: not valid keyshift evidence'],
  ['a resealed record with emergency as text', jsonl([reseal({ ...seed[0], emergency: 'no' })]), 1, 1, 'field "emergency" is missing or not a boolean: not valid keyshift evidence'],
];

for (const [name, text, line, seq, problem] of problems) {
  test(`verify names the problem: ${name}`, async () => {
    const result = await verifyText(text);
    const killedAppend = problem.includes('was killed') ? { killedAppend: true } : {};
    assert.deepEqual({ ...result }, { ok: false, line, seq, problem, records: line - 1, ...killedAppend });
  });
}

test('an incomplete line beginning the next record is a killed append only where it can be: at the end, after a valid record, with no anchor beyond', async () => {
  const chainId = seed[0].hash;
  const start = (record) => JSON.stringify(record).slice(0, 30);
  const killed = await verifyText(jsonl([seed[0], seed[1]]) + start(seed[2]), [{ source: 'store s', chainId, seq: 2, hash: seed[1].hash }]);
  assert.deepEqual([killed.ok, killed.line, killed.killedAppend, killed.records], [false, 3, true, 2]);
  // Every cut inside `{"seq":3,` is a start of seq 3 as well; one that diverges is not.
  for (const cut of ['{', '{"seq":', '{"seq":3', '{"seq":3,']) assert.equal((await verifyText(jsonl([seed[0], seed[1]]) + cut)).killedAppend, true, cut);
  for (const cut of ['{"seq":30,', '{"seq":2,', '{"sEq":3,', '{"seq": 3,', ' {"seq":3,']) assert.equal((await verifyText(jsonl([seed[0], seed[1]]) + cut)).killedAppend, undefined, cut);
  // A store anchored seq 3: the log was cut short of a record it saw, whatever is left of that record.
  const cutShort = await verifyText(jsonl([seed[0], seed[1]]) + start(seed[2]), [{ source: 'store s', chainId, seq: 3, hash: seed[2].hash }]);
  assert.deepEqual({ ...cutShort }, { ok: false, line: 3, seq: null, problem: 'log ends at seq 2 but store s recorded seq 3 (records were cut off)', records: 2 });
  // After a broken record the chain check stops there: the incomplete line after it is not judged.
  const afterEdit = await verifyText(jsonl([seed[0], { ...seed[1], reason: 'edited' }]) + start(seed[2]));
  assert.deepEqual([afterEdit.line, afterEdit.problem, afterEdit.killedAppend], [2, 'hash mismatch: the record was edited', undefined]);
});

test('every documented event and a null/string optional field verify as valid', async () => {
  let prev = ZERO_HASH;
  const records = EVIDENCE_EVENTS.map((event, i) => {
    const record = reseal({ ...seed[0], seq: i + 1, event, ticket: i % 2 ? 'SEC-1' : null, runId: 'run-1', error: 'boom', prevHash: prev });
    prev = record.hash;
    return record;
  });
  const result = await verifyText(jsonl(records));
  assert.equal(result.ok, true, result.problem);
  assert.equal(result.records, EVIDENCE_EVENTS.length);
});

test('an anchor names the source whose recorded hash differs, and the cut-off names the highest anchor', async () => {
  const chainId = seed[0].hash;
  const wrong = await verifyText(jsonl(seed), [{ source: 'store dev', chainId, seq: 2, hash: seed[0].hash }]);
  assert.deepEqual({ ok: wrong.ok, line: wrong.line, seq: wrong.seq, problem: wrong.problem }, {
    ok: false, line: 2, seq: 2,
    problem: 'record seq 2 is not the one store dev recorded (its hash differs): the log was rewritten from here or before',
  });
  const cut = await verifyText(jsonl(seed.slice(0, 1)), [
    { source: 'store a', chainId, seq: 3, hash: seed[2].hash },
    { source: 'store b', chainId, seq: 2, hash: seed[1].hash },
  ]);
  assert.deepEqual({ ...cut }, { ok: false, line: 2, seq: null, records: 1, problem: 'log ends at seq 1 but store a recorded seq 3 (records were cut off)' });
  const ahead = await verifyText(jsonl(seed.slice(0, 1)), [
    { source: 'store b', chainId, seq: 2, hash: seed[1].hash },
    { source: 'store a', chainId, seq: 3, hash: seed[2].hash },
  ]);
  assert.match(ahead.problem, /store a recorded seq 3/);
  const both = await verifyText(jsonl(seed), [
    { source: 'store a', chainId, seq: 3, hash: seed[2].hash },
    { source: 'store b', chainId, seq: 3, hash: seed[2].hash },
    { source: 'store c', chainId: `sha256:${'e'.repeat(64)}`, seq: 9, hash: seed[2].hash },
  ]);
  assert.deepEqual({ ...both }, { ok: true, records: 3, head: { chainId, seq: 3, hash: seed[2].hash }, anchorsChecked: 2 });
  const empty = await verifyText('', [{ source: 'store a', chainId, seq: 3, hash: seed[2].hash }]);
  assert.deepEqual({ ...empty }, { ok: true, records: 0, head: null, anchorsChecked: 0 });
});

test('read-only verify (doctor) does not report the line a live writer is appending', async () => {
  const dir = newDir();
  mkdirSync(dir);
  const file = join(dir, 'evidence.jsonl');
  writeFileSync(file, `${jsonl(seed)}{"seq":4,"at":"2026-`);
  const holder = { pid: process.pid, host: hostname(), owner: 'keyshift evidence writer', token: 'abc', acquiredAt: new Date().toISOString() };
  writeFileSync(join(dir, 'evidence.lock'), JSON.stringify(holder));
  const result = await verifyEvidence(dir, [], { readOnly: true });
  assert.deepEqual({ ...result }, { ok: true, records: 3, head: { chainId: seed[0].hash, seq: 3, hash: seed[2].hash }, anchorsChecked: 0 });
  rmSync(join(dir, 'evidence.lock'));
  const torn = await verifyEvidence(dir, [], { readOnly: true });
  assert.equal(torn.ok, false);
  assert.equal(torn.line, 4);
  assert.match(torn.problem, /incomplete/);
  assert.equal(existsSync(join(dir, 'evidence.lock')), false, 'read-only verify creates no lock');
  writeFileSync(join(dir, 'evidence.lock'), JSON.stringify(holder));
  writeFileSync(file, '{"seq":1,"at":"2026-');
  assert.deepEqual({ ...(await verifyEvidence(dir, [], { readOnly: true })) }, { ok: true, records: 0, head: null, anchorsChecked: 0 });
  writeFileSync(file, '');
  assert.deepEqual({ ...(await verifyEvidence(dir, [], { readOnly: true })) }, { ok: true, records: 0, head: null, anchorsChecked: 0 });
});

test('the writer names the damaged line: a bad last record, a bad first record, a shrunk file', async () => {
  const lastBad = newDir();
  mkdirSync(lastBad);
  writeFileSync(join(lastBad, 'evidence.jsonl'), jsonl([seed[0], seed[1], { ...seed[2], reason: 'edited' }]));
  await assert.rejects(new EvidenceLog(lastBad).append([draft(4)]), {
    code: 'ERR_EVIDENCE_CORRUPT',
    message: `evidence log ${join(lastBad, 'evidence.jsonl')} is damaged at line 3: the last record is not valid evidence; nothing was appended`,
  });

  const firstBad = newDir();
  mkdirSync(firstBad);
  writeFileSync(join(firstBad, 'evidence.jsonl'), jsonl([{ ...seed[0], reason: 'edited' }, seed[1], seed[2]]));
  await assert.rejects(new EvidenceLog(firstBad).append([draft(4)]), {
    code: 'ERR_EVIDENCE_CORRUPT',
    message: `evidence log ${join(firstBad, 'evidence.jsonl')} is damaged at line 1: the first record is not valid evidence with seq 1; nothing was appended`,
  });
  assert.equal(readFileSync(join(firstBad, 'evidence.jsonl'), 'utf8'), jsonl([{ ...seed[0], reason: 'edited' }, seed[1], seed[2]]));

  const shrunk = newDir();
  const log = new EvidenceLog(shrunk);
  await log.append([draft(1), draft(2), draft(3)]);
  const file = join(shrunk, 'evidence.jsonl');
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.slice(0, text.indexOf('\n') + 1));
  await assert.rejects(log.append([draft(4)]), (error) => {
    assert.equal(error.code, 'ERR_EVIDENCE_CORRUPT');
    assert.equal(error.message, `evidence log ${file} is damaged at line 1: the file shrank from ${Buffer.byteLength(text)} to ${text.indexOf('\n') + 1} bytes while keyshift was appending: records were removed; nothing was appended`);
    return true;
  });
  rmSync(file);
  await assert.rejects(log.append([draft(4)]), {
    code: 'ERR_EVIDENCE_CORRUPT',
    message: `evidence log ${file} disappeared while keyshift was appending to it (it held 3 records)`,
  });
  assert.equal(existsSync(file), false, 'a vanished log is not silently restarted');
  await log.close();
  await assert.rejects(log.append([draft(5)]), { code: 'ERR_EVIDENCE_CLOSED', message: `evidence log ${file} is closed` });
});

test('a writer appends after a seq-1-only log and after a one-line log written by another instance', async () => {
  const dir = newDir();
  const first = new EvidenceLog(dir);
  const [one] = await first.append([draft(1)]);
  const second = new EvidenceLog(dir);
  assert.deepEqual(await second.head(), { chainId: one.hash, seq: 1, hash: one.hash });
  const [two] = await second.append([draft(2)]);
  assert.deepEqual(await first.head(), { chainId: one.hash, seq: 2, hash: two.hash });
  const [three] = await first.append([draft(3)]);
  assert.equal(three.prevHash, two.hash);
  await first.close();
  await second.close();
});

test('the draft is refused with the secret, environment and the field at fault', async () => {
  const log = new EvidenceLog(newDir());
  const cases = [
    [{ rotationId: 5 }, 'field "rotationId" is missing or not a string or null'],
    [{ checks: 'none' }, 'field "checks" is missing or not an array'],
    [{ at: 'not a time' }, 'field "at" is not an ISO 8601 time'],
    [{ runId: 3 }, 'field "runId" is not a string'],
    [{ checks: [{ output: 'x'.repeat(1024 * 1024) }] }, 'the record is larger than 1 MiB'],
  ];
  for (const [over, problem] of cases) {
    await assert.rejects(log.append([draft(1, over)]), {
      code: 'ERR_EVIDENCE_DRAFT_INVALID',
      message: `evidence for db-password/prod is invalid: ${problem}`,
    });
  }
  assert.deepEqual(await log.append([]), []);
  await log.close();
});

test('canonical JSON: undefined members are left out, arrays keep their order, scalars are plain JSON', () => {
  assert.equal(canonicalJson({ b: undefined, a: [3, 1, 2], c: 'x' }), '{"a":[3,1,2],"c":"x"}');
  assert.equal(canonicalJson([]), '[]');
  // The key-by-key form (a `__proto__` key, or the skipped `hash` below the top): arrays keep their commas.
  assert.equal(canonicalJson(JSON.parse('{"__proto__":{"y":[1,2]},"a":[3,1,[4,5]]}')), '{"__proto__":{"y":[1,2]},"a":[3,1,[4,5]]}');
  const nested = { seq: 1, checks: [{ hash: 'x', ok: true }, { hash: 'y' }], hash: 'h' };
  assert.equal(recordHash(nested), `sha256:${createHash('sha256').update('{"checks":[{"hash":"x","ok":true},{"hash":"y"}],"seq":1}').digest('hex')}`);
  assert.equal(canonicalJson({}), '{}');
  assert.equal(canonicalJson('é'), '"é"');
  assert.equal(canonicalJson(undefined), 'null');
  const body = { seq: 1, z: 1, a: 2 };
  assert.equal(recordHash({ ...body, hash: 'anything' }), recordHash(body), 'the hash field is not hashed');
  assert.notEqual(recordHash({ ...body, nested: { hash: 'x' } }), recordHash(body), 'only the top-level hash is skipped');
});

test('findLoggedEvents: lines the cheap scan cannot judge are parsed, lines of other rotations are not counted', async () => {
  const dir = newDir();
  mkdirSync(dir);
  const file = join(dir, 'evidence.jsonl');
  writeFileSync(file, [
    '{"rotationId": "r-spaced","event":"issued","environment":"dev"}',
    '{"rotationId":"r-\\u0065sc","event":"deployed","environment":"dev"}',
    '{"rotationId":null,"note":{"rotationId":"r-x"},"event":"switched","environment":"prod"}',
    '{"rotationId":"r-other","event":"issued","environment":"prod","x":{"rotationId":"r-x"}}',
    '{"rotationId":"r-x","event":"verified","environment":"prod"',
    'not json at all "rotationId":"r-x"',
    '"rotationId":"r-x"',
    '{"rotationId":"r-unterminated',
  ].join('\n') + '\n');
  appendFileSync(file, '{"rotationId":"r-x","event":"failed","environment":"dev"}\n');
  assert.deepEqual(
    await findLoggedEvents(dir, new Set(['r-spaced', 'r-esc', 'r-x'])),
    new Set(['r-spaced|issued|dev', 'r-esc|deployed|dev', 'r-x|failed|dev']),
  );
});
