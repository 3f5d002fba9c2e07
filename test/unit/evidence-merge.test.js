// Several runners' logs: `evidence verify|merge <dir|file>…` (which paths are accepted), the merged
// file (its order, its fields, what is refused) and, for the rollback check across logs, when each
// secret/environment was last recorded. Written for the mutation run of src/evidence (test/MUTATION.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, appendFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EvidenceLog, targetKey } from '../../dist/evidence/index.js';
import { mergeEvidence, resolveSource } from '../../dist/evidence/merge.js';
import { lastRecordedAt } from '../../dist/evidence/latest-at.js';
import { acquireFileLock } from '../../dist/util/file-lock.js';

const base = mkdtempSync(join(tmpdir(), 'keyshift-evidence-merge-'));
let counter = 0;
const newDir = () => {
  const dir = join(base, `case-${(counter += 1)}`);
  mkdirSync(dir);
  return dir;
};
const draft = (at, over = {}) => ({
  at, event: 'issued', rotationId: 'r-1', secret: 'api-key', environment: 'dev', store: 'local', fromVersion: null, toVersion: 'v2',
  fingerprint: null, operator: 'erin@host', reason: 'scheduled', ticket: null, emergency: false, checks: [], ...over,
});
async function logWith(dir, drafts) {
  const log = new EvidenceLog(dir);
  await log.append(drafts);
  await log.close();
  return readFileSync(join(dir, 'evidence.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
}
const failure = (promise) => promise.then(() => null, (error) => ({ code: error.code, message: error.message, hint: error.hint, exitCode: error.exitCode }));

test('resolveSource: a dir, an evidence.jsonl in one, and what is refused', async () => {
  const dir = newDir();
  assert.deepEqual(await resolveSource('runner-a', dir), { given: 'runner-a', dir });
  const file = join(dir, 'evidence.jsonl');
  writeFileSync(file, '');
  assert.deepEqual(await resolveSource('runner-a/evidence.jsonl', file), { given: 'runner-a/evidence.jsonl', dir });
  assert.deepEqual(await failure(resolveSource('gone', join(dir, 'gone'))), {
    code: 'ERR_NOT_FOUND', message: 'gone does not exist', hint: 'give evidence dirs (each runner\'s --evidence-dir) or their evidence.jsonl files', exitCode: 2,
  });
  const neither = (given) => ({ code: 'ERR_USAGE', message: `${given} is neither an evidence dir nor an evidence.jsonl file`, hint: 'give each runner\'s --evidence-dir', exitCode: 2 });
  const merged = (given) => ({
    code: 'ERR_USAGE', message: `${given} is a merged file (written by evidence merge): it cannot be verified on its own`,
    hint: 'verify the runners\' evidence dirs it was merged from: keyshift evidence verify <dir>…', exitCode: 2,
  });
  const cases = [
    ['empty.jsonl', '', neither],
    ['notes.txt', 'not json\n', neither],
    ['plain.jsonl', `${JSON.stringify({ seq: 1, hash: 'sha256:x' })}\n`, neither],
    ['half.jsonl', `${JSON.stringify({ chain: 'sha256:x', source: 1 })}\n`, neither],
    ['other-half.jsonl', `${JSON.stringify({ chain: 2, source: 'a' })}\n`, neither],
    ['null.jsonl', 'null\n', neither],
    ['one.jsonl', `${JSON.stringify({ seq: 1, chain: 'sha256:x', source: 'a' })}`, merged],
    ['two.jsonl', `${JSON.stringify({ seq: 1, chain: 'sha256:x', source: 'a' })}\n${JSON.stringify({ seq: 1, chain: 'sha256:y', source: 'b' })}\n`, merged],
  ];
  for (const [name, text, expected] of cases) {
    writeFileSync(join(dir, name), text);
    assert.deepEqual(await failure(resolveSource(name, join(dir, name))), expected(name), name);
  }
});

test('merge: records of two logs in time order, then by chain, then by seq, each with its chain and source', async () => {
  const a = newDir();
  const b = newDir();
  const empty = newDir();
  const ra = await logWith(a, [draft('2026-11-01T00:00:02.000Z'), draft('2026-11-01T00:00:04.000Z', { secret: 'a2' }), draft('2026-11-01T00:00:04.000Z', { secret: 'a3' })]);
  const rb = await logWith(b, [draft('2026-11-01T00:00:01.000Z', { store: 'b' }), draft('2026-11-01T00:00:04.000Z', { store: 'b' }), draft('2026-11-01T00:00:03.000Z', { store: 'b' })]);
  const out = join(newDir(), 'merged.jsonl');
  writeFileSync(out, 'old content\n');
  // Given with the greater chain id first: the order must not depend on the order given.
  const [first, second] = ra[0].hash > rb[0].hash ? [['A', a, ra], ['B', b, rb]] : [['B', b, rb], ['A', a, ra]];
  const result = await mergeEvidence([{ given: 'nothing-yet', dir: empty }, { given: first[0], dir: first[1] }, { given: second[0], dir: second[1] }], out);
  const tag = (given, records, i) => ({ ...records[i], chain: records[0].hash, source: given });
  const A = (i) => tag('A', ra, i);
  const B = (i) => tag('B', rb, i);
  const low = second; // the smaller chain id comes first among records of the same time
  const atFour = low[0] === 'A' ? [A(1), A(2), B(1)] : [B(1), A(1), A(2)];
  const expected = [B(0), A(0), B(2), ...atFour];
  assert.equal(readFileSync(out, 'utf8'), expected.map((r) => `${JSON.stringify(r)}\n`).join(''));
  assert.deepEqual(result, {
    out,
    records: 6,
    chains: [{ chain: first[2][0].hash, source: first[0], records: 3 }, { chain: second[2][0].hash, source: second[0], records: 3 }],
  });
  assert.equal(statSync(out).mode & 0o777, 0o640);
  assert.deepEqual(readdirSync(join(out, '..')), ['merged.jsonl'], 'no temp file left');
  const fields = Object.keys(JSON.parse(readFileSync(out, 'utf8').split('\n')[0]));
  assert.deepEqual(fields.slice(-4), ['prevHash', 'hash', 'chain', 'source'], 'every field as written, then chain and source');
});

test('merge: the same log twice, a broken log and a torn last line are refused, and nothing is written', async () => {
  const a = newDir();
  const records = await logWith(a, [draft('2026-11-01T00:00:01.000Z'), draft('2026-11-01T00:00:02.000Z')]);
  const out = join(newDir(), 'merged.jsonl');
  assert.equal((await mergeEvidence([{ given: 'a', dir: a }], out)).records, 2);
  assert.deepEqual(await failure(mergeEvidence([{ given: 'a', dir: a }, { given: 'a-again', dir: a }], out)), {
    code: 'ERR_USAGE', message: 'a-again and a are the same evidence chain', hint: 'give each runner\'s log once', exitCode: 2,
  });
  const broken = newDir();
  const lines = readFileSync(join(a, 'evidence.jsonl'), 'utf8').split('\n');
  writeFileSync(join(broken, 'evidence.jsonl'), `${lines[0]}\n${lines[1].replace('erin@host', 'mallory')}\n`);
  const refused = await failure(mergeEvidence([{ given: 'broken-one', dir: broken }], join(base, 'never.jsonl')));
  assert.equal(refused.code, 'ERR_EVIDENCE_BROKEN');
  assert.match(refused.message, /^broken-one: line 2: /);
  assert.equal(refused.hint, 'run keyshift evidence verify on it; a broken log is not merged');
  assert.equal(refused.exitCode, 1);
  assert.equal(statSync(join(base, 'never.jsonl'), { throwIfNoEntry: false }), undefined, 'nothing written');
  appendFileSync(join(a, 'evidence.jsonl'), JSON.stringify({ ...records[1], seq: 3 }).slice(0, 40));
  assert.deepEqual(await failure(mergeEvidence([{ given: 'a', dir: a }], join(base, 'never.jsonl'))), {
    code: 'ERR_EVIDENCE_BROKEN', message: 'a: line 3: the line is incomplete (no newline at the end): a run was killed while appending it; the next run that writes evidence (rotate, or doctor --fix) cuts it and appends its records again from the stores',
    hint: 'run keyshift evidence verify on it; a broken log is not merged', exitCode: 1,
  });
});

test('lastRecordedAt: the latest `at` of each secret/environment, skipping what is not a complete record', async () => {
  const dir = newDir();
  assert.deepEqual(await lastRecordedAt(dir), new Map(), 'no log: nothing recorded');
  await logWith(dir, [
    draft('2026-11-01T00:00:05.000Z'),
    draft('2026-11-01T00:00:03.000Z'),
    draft('2026-11-01T00:00:04.000Z', { environment: 'prod' }),
    draft('2026-11-01T00:00:01.000Z', { secret: 'db' }),
    draft('2026-11-01T00:00:09.000Z', { secret: 'db' }),
  ]);
  const file = join(dir, 'evidence.jsonl');
  appendFileSync(file, [
    'not json',
    'null',
    JSON.stringify({ secret: 'x', environment: 'dev' }),
    JSON.stringify({ secret: 1, environment: 'dev', at: '2027-01-01T00:00:00.000Z' }),
    JSON.stringify({ secret: 'api-key', environment: null, at: '2027-01-01T00:00:00.000Z' }),
    JSON.stringify({ secret: 'api-key', environment: 'dev', at: 20270101 }),
    JSON.stringify({ secret: 'fresh', environment: 'dev', at: 1 }),
    JSON.stringify({ secret: 'fresh', environment: 'dev' }),
    '',
  ].join('\n'));
  appendFileSync(file, JSON.stringify({ secret: 'api-key', environment: 'dev', at: '2027-01-01T00:00:00.000Z' })); // torn: no newline
  assert.deepEqual(await lastRecordedAt(dir), new Map([
    [targetKey('api-key', 'dev'), '2026-11-01T00:00:05.000Z'],
    [targetKey('api-key', 'prod'), '2026-11-01T00:00:04.000Z'],
    [targetKey('db', 'dev'), '2026-11-01T00:00:09.000Z'],
  ]));
});

test('merge while a runner is writing (its lock held, its last line half-written): the complete records are merged', async () => {
  const a = newDir();
  await logWith(a, [draft('2026-11-01T00:00:01.000Z'), draft('2026-11-01T00:00:02.000Z')]);
  const lock = await acquireFileLock(join(a, 'evidence.lock'), { waitMs: 1000, owner: 'a runner (test)', what: `evidence log ${a}` });
  try {
    appendFileSync(join(a, 'evidence.jsonl'), '{"seq":3,"at":"2026-11-01T00:00:0');
    const out = join(newDir(), 'merged.jsonl');
    const result = await mergeEvidence([{ given: 'a', dir: a }], out);
    assert.equal(result.records, 2);
    assert.deepEqual(readFileSync(out, 'utf8').trim().split('\n').map((line) => JSON.parse(line).seq), [1, 2]);
  } finally {
    await lock.release();
  }
});

test('merge: at the same time the smaller chain id comes first even when the other chain\'s record has a lower seq', async () => {
  const T = '2026-11-01T00:00:09.000Z';
  const early = '2026-11-01T00:00:01.000Z';
  const p = newDir();
  const q = newDir();
  const rp = await logWith(p, [draft(T), draft(early), draft(early), draft(T, { secret: 'p4' })]);
  const rq = await logWith(q, [draft(T, { store: 'q' }), draft(early, { store: 'q' }), draft(early, { store: 'q' }), draft(T, { store: 'q', secret: 'q4' })]);
  const [small, great] = rp[0].hash < rq[0].hash ? [['P', p, rp], ['Q', q, rq]] : [['Q', q, rq], ['P', p, rp]];
  const out = join(newDir(), 'merged.jsonl');
  await mergeEvidence([{ given: small[0], dir: small[1] }, { given: great[0], dir: great[1] }], out);
  const order = readFileSync(out, 'utf8').trim().split('\n').map((line) => JSON.parse(line)).map((r) => `${r.source}${r.seq}`);
  const [s, g] = [small[0], great[0]];
  assert.deepEqual(order, [`${s}2`, `${s}3`, `${g}2`, `${g}3`, `${s}1`, `${s}4`, `${g}1`, `${g}4`]);
});
