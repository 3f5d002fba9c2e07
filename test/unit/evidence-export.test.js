// `evidence export --rotation <id>` and `evidence verify --export`, called directly: what the
// document holds (the rotation's records, the summary derived from them, the proof up to a store
// anchor) and every way a checker must refuse an edited document. Written for the mutation run of
// src/evidence (test/MUTATION.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EvidenceLog, recordHash } from '../../dist/evidence/index.js';
import { EXPORT_FORMAT, exportRotation, verifyExport } from '../../dist/evidence/export.js';

const base = mkdtempSync(join(tmpdir(), 'keyshift-evidence-export-'));
let counter = 0;
const newDir = () => join(base, `case-${(counter += 1)}`);
const NOW = new Date('2026-12-01T08:00:00.000Z');

const draft = (rotationId, over = {}) => ({
  at: '2026-11-30T10:00:00.000Z', event: 'issued', rotationId, secret: 'db-password', environment: 'dev', store: 'local',
  fromVersion: 'v1', toVersion: 'v2', fingerprint: null, operator: 'erin@host', reason: 'scheduled', ticket: 'CHG-1',
  emergency: false, checks: [], ...over,
});

/** seq 1 r-0, 2 A(dev), 3 r-B, 4 A(prod), 5 r-C, 6 r-D. */
async function sixRecords(dir) {
  const log = new EvidenceLog(dir);
  await log.append([
    draft('r-0', { secret: 'other' }),
    draft('A', { fingerprint: 'fp-1', checks: [{ name: 'c1', ok: true }], operator: 'op1' }),
    draft('r-B'),
    draft('A', { environment: 'prod', event: 'switched', emergency: true, operator: 'op2', reason: 'later', ticket: null, fromVersion: 'x', toVersion: 'y', fingerprint: 'fp-1', checks: [{ name: 'c2', ok: false }], at: '2026-11-30T11:00:00.000Z' }),
    draft('r-C'),
    draft('r-D'),
  ]);
  await log.close();
  return readFileSync(join(dir, 'evidence.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
}
const anchorOf = (records, seq, over = {}) => ({ store: `store-${seq}`, chainId: records[0].hash, seq, hash: records[seq - 1].hash, at: '2026-11-30T12:00:00.000Z', ...over });
const codeOf = (promise) => promise.then(() => null, (error) => ({ code: error.code, message: error.message, hint: error.hint, exitCode: error.exitCode }));
const clone = (value) => JSON.parse(JSON.stringify(value));
const reseal = (record) => {
  const { hash, ...rest } = record;
  return { ...rest, hash: recordHash(rest) };
};

test('an export holds the rotation\'s records, their summary and the proof up to the nearest anchor at or after its last record', async () => {
  const dir = newDir();
  const records = await sixRecords(dir);
  const anchors = [
    anchorOf(records, 5, { chainId: 'sha256:' + 'a'.repeat(64) }), // another log
    anchorOf(records, 3), // before the rotation's last record
    anchorOf(records, 6),
    anchorOf(records, 5),
    { ...anchorOf(records, 6), seq: 7, store: 'ahead' }, // beyond the log
  ];
  const doc = await exportRotation(dir, 'A', anchors, NOW);
  assert.deepEqual(doc, {
    format: 'keyshift-evidence-export/1',
    exportedAt: '2026-12-01T08:00:00.000Z',
    rotationId: 'A',
    secret: 'db-password',
    environments: ['dev', 'prod'],
    summary: {
      operator: ['op1', 'op2'],
      reason: 'scheduled',
      ticket: 'CHG-1',
      emergency: true,
      fromVersion: 'v1',
      toVersion: 'v2',
      fingerprints: ['fp-1'],
      checks: [{ name: 'c1', ok: true }, { name: 'c2', ok: false }],
      events: [
        { seq: 2, at: '2026-11-30T10:00:00.000Z', event: 'issued', environment: 'dev' },
        { seq: 4, at: '2026-11-30T11:00:00.000Z', event: 'switched', environment: 'prod' },
      ],
    },
    records: [records[1], records[3]],
    proof: { chainId: records[0].hash, from: 2, to: 5, anchor: anchorOf(records, 5), records: records.slice(1, 5) },
  });
  assert.equal(EXPORT_FORMAT, 'keyshift-evidence-export/1');
  assert.deepEqual(verifyExport(doc), { ok: true, rotationId: 'A', secret: 'db-password', records: 2, from: 2, to: 5, anchor: anchorOf(records, 5) });
  assert.deepEqual(verifyExport(clone(doc)).ok, true, 'the document as read back from its JSON');
});

test('an anchor exactly at the rotation\'s last record, or exactly at the log\'s last, is taken', async () => {
  const dir = newDir();
  const records = await sixRecords(dir);
  const atLast = await exportRotation(dir, 'A', [anchorOf(records, 4)], NOW);
  assert.equal(atLast.proof.to, 4);
  assert.deepEqual(atLast.proof.records.map((r) => r.seq), [2, 3, 4]);
  assert.equal(verifyExport(atLast).ok, true);
  const atEnd = await exportRotation(dir, 'A', [anchorOf(records, 6)], NOW);
  assert.deepEqual(atEnd.proof.records.map((r) => r.seq), [2, 3, 4, 5, 6]);
  assert.equal(verifyExport(atEnd).ok, true);
  const summary = (await exportRotation(dir, 'r-D', [anchorOf(records, 6)], NOW)).summary;
  assert.deepEqual([summary.emergency, summary.fingerprints, summary.operator], [false, [], ['erin@host']]);
});

test('a rotation that starts the log: its proof starts at seq 1, which must be the chain it names', async () => {
  const dir = newDir();
  const records = await sixRecords(dir);
  const doc = await exportRotation(dir, 'r-0', [anchorOf(records, 2)], NOW);
  assert.deepEqual([doc.proof.from, doc.proof.to, doc.secret], [1, 2, 'other']);
  assert.equal(verifyExport(doc).ok, true);
  const other = clone(doc);
  other.proof.chainId = 'sha256:' + 'b'.repeat(64);
  other.proof.anchor.chainId = other.proof.chainId;
  assert.deepEqual(verifyExport(other), { ok: false, problem: 'the proof starts at seq 1 but is not the chain it names' });
  const unchained = clone(doc);
  unchained.proof.records[0] = reseal({ ...unchained.proof.records[0], prevHash: 'sha256:' + 'c'.repeat(64) });
  unchained.proof.chainId = unchained.proof.records[0].hash;
  unchained.proof.anchor.chainId = unchained.proof.chainId;
  unchained.records[0] = unchained.proof.records[0];
  // seq 2 then names the old hash: whichever check comes first, the document is refused.
  assert.equal(verifyExport(unchained).ok, false);
});

test('a torn last line, lines that are not records, and a log without a valid seq 1', async () => {
  const dir = newDir();
  const records = await sixRecords(dir);
  const file = join(dir, 'evidence.jsonl');
  appendFileSync(file, `${JSON.stringify({ ...records[5], seq: 7, rotationId: 'A' })}`); // not terminated
  const doc = await exportRotation(dir, 'A', [anchorOf(records, 6)], NOW);
  assert.deepEqual(doc.records.map((r) => r.seq), [2, 4], 'the torn line is not a record');
  const lines = readFileSync(file, 'utf8').split('\n').slice(0, 6);
  lines[0] = 'not json';
  lines[2] = JSON.stringify({ ...records[2], seq: '3' });
  writeFileSync(file, `${lines.join('\n')}\n${JSON.stringify({ ...records[4], seq: 9, hash: 'md5:1', rotationId: 'A' })}\n`);
  const broken = await codeOf(exportRotation(dir, 'A', [anchorOf(records, 6)], NOW));
  assert.deepEqual(broken, { code: 'ERR_EVIDENCE_BROKEN', message: `${file} has no valid first record`, hint: 'run keyshift evidence verify', exitCode: 1 });
});

test('refusals: no log, no record of the rotation, no anchor covering it', async () => {
  const dir = newDir();
  assert.deepEqual(await codeOf(exportRotation(dir, 'A', [], NOW)), {
    code: 'ERR_NOT_FOUND', message: `there is no evidence log at ${join(dir, 'evidence.jsonl')}`, hint: 'run it where the evidence is, or pass --evidence-dir', exitCode: 2,
  });
  const records = await sixRecords(dir);
  assert.deepEqual(await codeOf(exportRotation(dir, 'Z', [anchorOf(records, 6)], NOW)), {
    code: 'ERR_NOT_FOUND', message: 'no evidence record has rotationId Z', hint: 'rotation ids are in `keyshift rotate --json` output and in evidence.jsonl', exitCode: 2,
  });
  const none = await codeOf(exportRotation(dir, 'A', [anchorOf(records, 3), { ...anchorOf(records, 6), seq: 7 }, anchorOf(records, 6, { chainId: 'sha256:' + 'd'.repeat(64) })], NOW));
  assert.deepEqual(none, {
    code: 'ERR_NO_ANCHOR',
    message: 'no store anchor of this log covers rotation A (its records end at seq 4)',
    hint: 'anchors are written at the end of each run; check `keyshift evidence anchors` and that -p names the policies whose stores this log belongs to',
    exitCode: 1,
  });
});

test('verifyExport refuses what is not an export, and each edit of one', async () => {
  const dir = newDir();
  const records = await sixRecords(dir);
  const doc = await exportRotation(dir, 'A', [anchorOf(records, 5)], NOW);
  const check = (edit) => {
    const copy = clone(doc);
    edit(copy);
    return verifyExport(copy);
  };
  const notExport = { ok: false, problem: 'not a keyshift evidence export (format is not "keyshift-evidence-export/1")' };
  assert.deepEqual(verifyExport(null), notExport);
  assert.deepEqual(verifyExport('keyshift-evidence-export/1'), notExport);
  assert.deepEqual(check((d) => { d.format = 'keyshift-evidence-export/2'; }), notExport);
  const missing = { ok: false, problem: 'proof, proof.records, proof.anchor or records is missing' };
  assert.deepEqual(check((d) => { delete d.proof; }), missing);
  assert.deepEqual(check((d) => { d.proof.records = {}; }), missing);
  assert.deepEqual(check((d) => { delete d.proof.anchor; }), missing);
  assert.deepEqual(check((d) => { d.records = 'x'; }), missing);
  assert.deepEqual(check((d) => { d.records = []; }), missing);
  assert.deepEqual(check((d) => { d.proof.records = []; }), { ok: false, problem: 'the proof has no records' });
  assert.deepEqual(check((d) => { d.proof.records[1] = null; }), { ok: false, problem: 'a proof record has no seq' });
  assert.deepEqual(check((d) => { d.proof.records[1] = 'seq 3'; }), { ok: false, problem: 'a proof record has no seq' });
  assert.deepEqual(check((d) => { d.proof.records[1].seq = 3.5; }), { ok: false, problem: 'a proof record has no seq' });
  assert.deepEqual(check((d) => { d.proof.records[1].operator = 'mallory'; }), { ok: false, problem: 'proof record seq 3: hash mismatch, the record was edited' });
  assert.deepEqual(check((d) => { d.proof.records[1].hash = 'sha256:short'; }), { ok: false, problem: 'proof record seq 3: hash mismatch, the record was edited' });
  assert.deepEqual(check((d) => { d.proof.records[1] = reseal({ ...d.proof.records[1], event: 'bogus' }); }), {
    ok: false, problem: 'proof record seq 3: field "event" is "bogus", not one of provisioned, issued, deployed, verified, switched, decommissioned, rolled-back, failed, repaired, signed, reencrypt-stage, data-key-rewrapped',
  });
  assert.deepEqual(check((d) => { d.proof.records.splice(1, 1); }), { ok: false, problem: 'proof record seq 4 follows seq 2: a record is missing from the proof' });
  assert.deepEqual(check((d) => { d.proof.records[1] = reseal({ ...d.proof.records[1], prevHash: d.proof.records[2].hash }); }), { ok: false, problem: 'proof record seq 3: prevHash is not the hash of seq 2' });
  assert.deepEqual(check((d) => { d.proof.from = 1; }), { ok: false, problem: 'the proof\'s records do not run from seq 1 to seq 5' });
  assert.deepEqual(check((d) => { d.proof.to = 6; }), { ok: false, problem: 'the proof\'s records do not run from seq 2 to seq 6' });
  const end = `the proof ends at seq 5 ${records[4].hash}`;
  assert.deepEqual(check((d) => { d.proof.anchor.seq = 6; }), { ok: false, problem: `${end}, not at the anchor (seq 6 ${records[4].hash})` });
  assert.deepEqual(check((d) => { d.proof.anchor.hash = records[3].hash; }), { ok: false, problem: `${end}, not at the anchor (seq 5 ${records[3].hash})` });
  assert.deepEqual(check((d) => { d.proof.anchor.chainId = 'sha256:' + 'e'.repeat(64); }), { ok: false, problem: `${end}, not at the anchor (seq 5 ${records[4].hash})` });
  assert.deepEqual(check((d) => { d.records[1] = d.proof.records[1]; }), { ok: false, problem: 'record seq 3 is not of rotation A' });
  assert.deepEqual(check((d) => { d.records[1] = null; }), { ok: false, problem: 'record seq undefined is not of rotation A' });
  assert.deepEqual(check((d) => { d.records[1].operator = 'mallory'; }), { ok: false, problem: 'record seq 4 is not the one in the proof: it was edited' });
  assert.deepEqual(check((d) => { d.records[1] = reseal({ ...d.records[1], operator: 'mallory' }); }), { ok: false, problem: 'record seq 4 is not the one in the proof: it was edited' });
  assert.deepEqual(check((d) => { d.records[1].hash = 'sha256:' + 'f'.repeat(64); }), { ok: false, problem: 'record seq 4 is not the one in the proof: it was edited' });
  assert.deepEqual(check((d) => { d.records.pop(); }), { ok: false, problem: 'the proof holds 2 record(s) of rotation A but the export lists 1: one was left out' });
  assert.deepEqual(check((d) => { d.records.push(d.records[1]); }), { ok: false, problem: 'the proof holds 2 record(s) of rotation A but the export lists 3: one was left out' });
  assert.deepEqual(check((d) => { d.records.reverse(); }), { ok: false, problem: 'the records are not in the order of the log' });
  assert.deepEqual(check((d) => { d.secret = 'other'; }), { ok: false, problem: 'the export\'s secret does not match its records: it was edited' });
  assert.deepEqual(check((d) => { delete d.secret; }), { ok: false, problem: 'the export\'s secret does not match its records: it was edited' });
  assert.deepEqual(check((d) => { d.environments = ['dev']; }), { ok: false, problem: 'the export\'s environments does not match its records: it was edited' });
  for (const [field, value] of [['operator', ['op1']], ['reason', 'x'], ['ticket', null], ['emergency', false], ['fromVersion', 'x'], ['toVersion', 'x'], ['fingerprints', []], ['checks', []], ['events', []]]) {
    assert.deepEqual(check((d) => { d.summary[field] = value; }), { ok: false, problem: 'the export\'s summary does not match its records: it was edited' }, field);
  }
  assert.deepEqual(check((d) => { d.rotationId = 'r-B'; }), { ok: false, problem: 'record seq 2 is not of rotation r-B' });
});

test('the records of the export in log order with one left out of a longer proof', async () => {
  const dir = newDir();
  const log = new EvidenceLog(dir);
  await log.append([draft('A'), draft('A'), draft('A'), draft('A', { environment: 'prod' })]);
  await log.close();
  const records = readFileSync(join(dir, 'evidence.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
  const doc = await exportRotation(dir, 'A', [anchorOf(records, 4)], NOW);
  assert.deepEqual(doc.environments, ['dev', 'prod'], 'each environment once');
  assert.deepEqual(doc.summary.operator, ['erin@host']);
  assert.equal(verifyExport(doc).ok, true);
  const swapped = clone(doc);
  [swapped.records[1], swapped.records[2]] = [swapped.records[2], swapped.records[1]];
  assert.deepEqual(verifyExport(swapped), { ok: false, problem: 'the records are not in the order of the log' });
  const twice = clone(doc);
  twice.records[1] = twice.records[0];
  assert.deepEqual(verifyExport(twice), { ok: false, problem: 'the records are not in the order of the log' });
});

test('lines inside the log that are JSON but not records (no integer seq, no sha256 hash, not an object) are neither the rotation\'s nor in the proof', async () => {
  const dir = newDir();
  const records = await sixRecords(dir);
  const clean = await exportRotation(dir, 'A', [anchorOf(records, 5)], NOW);
  const file = join(dir, 'evidence.jsonl');
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const junk = [
    JSON.stringify({ ...records[1], seq: '2' }),
    JSON.stringify({ ...records[1], seq: 2.5 }),
    JSON.stringify({ ...records[1], seq: 3, hash: 'md5:0' }),
    JSON.stringify({ ...records[1], seq: 3, hash: undefined }),
    'null', '42', '"A"', '[2]',
  ];
  writeFileSync(file, `${[lines[0], lines[1], ...junk, ...lines.slice(2)].join('\n')}\n`);
  assert.deepEqual(await exportRotation(dir, 'A', [anchorOf(records, 5)], NOW), clean);
});

test('a proof of seq 1 alone must start the chain: its prevHash is the zero hash', async () => {
  const dir = newDir();
  const log = new EvidenceLog(dir);
  await log.append([draft('solo')]);
  await log.close();
  const [record] = readFileSync(join(dir, 'evidence.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
  const doc = await exportRotation(dir, 'solo', [{ store: 's', chainId: record.hash, seq: 1, hash: record.hash, at: record.at }], NOW);
  assert.deepEqual([doc.proof.from, doc.proof.to, verifyExport(doc).ok], [1, 1, true]);
  const forged = clone(doc);
  const resealed = reseal({ ...record, prevHash: 'sha256:' + '1'.repeat(64) });
  forged.records = [resealed];
  forged.proof = { ...forged.proof, chainId: resealed.hash, anchor: { ...forged.proof.anchor, chainId: resealed.hash, hash: resealed.hash }, records: [resealed] };
  assert.deepEqual(verifyExport(forged), { ok: false, problem: 'the proof starts at seq 1 but is not the chain it names' });
});
