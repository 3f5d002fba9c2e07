import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EvidenceLog, verifyEvidence, recordHash } from '../../dist/evidence/index.js';

// A 10-record log, then every kind of single change an attacker or a crash could make to it. Each
// must be found, at the first line that is wrong; the anchor (what a store recorded at the end of
// the run) is what catches records cut off the end.

const N = 10;
const draft = (i) => ({
  event: ['issued', 'deployed', 'verified', 'switched', 'failed'][i % 5], rotationId: i % 4 === 0 ? null : `r-${i}`,
  secret: 'api-signing-key', environment: ['dev', 'staging', 'prod'][i % 3], store: 'local',
  fromVersion: i % 2 ? 'v-old' : null, toVersion: `v-${i}`, fingerprint: i % 3 ? `hmac-sha256:${'cd'.repeat(32)}` : null,
  at: `2026-11-23T10:00:0${i % 10}.000Z`, operator: 'bob@ci', reason: 'scheduled', ticket: i % 2 ? null : 'SEC-9',
  emergency: i === 5, checks: i === 3 ? [{ name: 'smoke', ok: true }] : [], runId: 'run-7',
});

const base = mkdtempSync(join(tmpdir(), 'keyshift-tamper-'));
const originalDir = join(base, 'original');
const log = new EvidenceLog(originalDir);
const records = await log.append(Array.from({ length: N }, (_, i) => draft(i + 1)));
await log.close();
const original = readFileSync(join(originalDir, 'evidence.jsonl'), 'utf8').split('\n').slice(0, -1);
const chainId = records[0].hash;
const anchor = { source: 'store .keyshift/prod.store', chainId, seq: N, hash: records[N - 1].hash };

let counter = 0;
async function verifyText(text, anchors = [anchor]) {
  const dir = join(base, `case-${(counter += 1)}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'evidence.jsonl'), text);
  return verifyEvidence(dir, anchors);
}
const joined = (lines) => lines.map((line) => `${line}\n`).join('');

function mutate(key, value) {
  if (typeof value === 'string' && value.startsWith('sha256:')) return value.slice(0, -1) + (value.endsWith('0') ? '1' : '0');
  if (typeof value === 'string') return `${value}x`;
  if (typeof value === 'number') return value + 1;
  if (typeof value === 'boolean') return !value;
  if (value === null) return 'x';
  if (Array.isArray(value)) return [...value, 'x'];
  throw new Error(`no mutation for ${key}`);
}

const cases = [];
original.forEach((line, index) => {
  const n = index + 1;
  const record = JSON.parse(line);
  for (const key of Object.keys(record)) {
    const edited = original.map((l, i) => (i === index ? JSON.stringify({ ...record, [key]: mutate(key, record[key]) }) : l));
    cases.push({ name: `edit ${key} on line ${n}`, text: joined(edited), line: n });
    const { [key]: _removed, ...without } = record;
    cases.push({ name: `remove ${key} on line ${n}`, text: joined(original.map((l, i) => (i === index ? JSON.stringify(without) : l))), line: n });
  }
  cases.push({ name: `add a field on line ${n}`, text: joined(original.map((l, i) => (i === index ? JSON.stringify({ ...record, approvedBy: 'mallory' }) : l))), line: n });
  cases.push({ name: `delete line ${n}`, text: joined(original.filter((_, i) => i !== index)), line: n });
  if (n < N) {
    const swapped = [...original];
    [swapped[index], swapped[index + 1]] = [swapped[index + 1], swapped[index]];
    cases.push({ name: `swap lines ${n} and ${n + 1}`, text: joined(swapped), line: n });
  }
  cases.push({ name: `duplicate line ${n}`, text: joined([...original.slice(0, n), line, ...original.slice(n)]), line: n + 1 });
  const before = joined(original.slice(0, index));
  cases.push({ name: `cut in the middle of line ${n}`, text: before + line.slice(0, line.length / 2), line: n });
  cases.push({ name: `cut just before the newline of line ${n}`, text: before + line, line: n });
  cases.push({ name: `remove the middle of line ${n}`, text: before + line.slice(0, 40) + line.slice(80) + '\n' + joined(original.slice(n)), line: n });
  cases.push({ name: `blank line before line ${n}`, text: before + '\n' + joined(original.slice(index)), line: n });
});

test('the untouched log verifies, with its anchor checked', async () => {
  assert.deepEqual(await verifyText(joined(original)), { ok: true, records: N, head: { chainId, seq: N, hash: anchor.hash }, anchorsChecked: 1 });
});

for (const { name, text, line } of cases) {
  test(`detects: ${name}`, async () => {
    const result = await verifyText(text);
    assert.equal(result.ok, false, `not detected: ${name}`);
    assert.equal(result.line, line, `${name}: ${result.problem}`);
    assert.doesNotMatch(result.problem, /\n/);
  });
}

for (let k = 1; k < N; k += 1) {
  test(`detects: the last ${k} record(s) cut off, through the anchor`, async () => {
    const result = await verifyText(joined(original.slice(0, N - k)));
    assert.equal(result.ok, false);
    assert.equal(result.line, N - k + 1);
    assert.equal(result.seq, null);
    assert.equal(result.records, N - k);
    assert.equal(result.problem, `log ends at seq ${N - k} but store .keyshift/prod.store recorded seq ${N} (records were cut off)`);
  });
}

test('detects a tail rewritten with fresh hashes, through the anchor', async () => {
  const rewritten = original.slice(0, 7).map((line) => JSON.parse(line));
  for (let seq = 8; seq <= N; seq += 1) {
    const body = { ...JSON.parse(original[seq - 1]), reason: 'forged', prevHash: rewritten[seq - 2].hash };
    delete body.hash;
    rewritten.push({ ...body, hash: recordHash(body) });
  }
  const text = joined(rewritten.map((record) => JSON.stringify(record)));
  assert.equal((await verifyText(text, [])).ok, true, 'the chain alone cannot see it');
  const result = await verifyText(text);
  assert.equal(result.ok, false);
  assert.equal(result.line, N);
  assert.match(result.problem, /not the one store \.keyshift\/prod\.store recorded/);
});

test('anchors of another chain are ignored, anchors of this chain are counted', async () => {
  const other = { source: 'store elsewhere', chainId: `sha256:${'e'.repeat(64)}`, seq: 99, hash: `sha256:${'f'.repeat(64)}` };
  const middle = { source: 'store dev', chainId, seq: 4, hash: records[3].hash };
  const result = await verifyText(joined(original), [other, middle, anchor]);
  assert.equal(result.ok, true);
  assert.equal(result.anchorsChecked, 2);
  const wrong = await verifyText(joined(original), [{ ...middle, hash: records[4].hash }]);
  assert.equal(wrong.ok, false);
  assert.equal(wrong.line, 4);
});
