// A store anchor below the log's head: the writer finds the anchored record (bisecting the log on
// the seq each line begins with) and refuses to append when it is gone or another record, so a log
// cut below one store's anchor and written on since is never given a new anchor that hides the cut.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EvidenceLog, verifyEvidence } from '../../dist/evidence/index.js';
import { findRecordLine } from '../../dist/evidence/log-file.js';

const draft = (i, over = {}) => ({
  event: 'issued', rotationId: `r-${i}`, secret: `secret-${i % 7}`, environment: 'prod', store: 'local',
  fromVersion: 'v-old', toVersion: `v-${i}`, fingerprint: null, at: '2026-11-23T10:00:00.000Z',
  operator: 'alice@host', reason: 'scheduled', ticket: null, emergency: false, checks: [], runId: 'run-1', ...over,
});
const freshDir = () => join(mkdtempSync(join(tmpdir(), 'keyshift-anchors-')), 'evidence');
const at = '2026-11-23T10:00:00.000Z';

async function logOf(drafts) {
  const dir = freshDir();
  const log = new EvidenceLog(dir);
  const records = await log.append(drafts);
  await log.close();
  return { dir, file: join(dir, 'evidence.jsonl'), records };
}

/** The line the bisection reads first (0-based): the first to start at or past the log's middle byte. */
function firstProbedLine(text) {
  const lines = text.split('\n').slice(0, -1);
  const starts = lines.map((_, i) => Buffer.byteLength(lines.slice(0, i).join('\n')) + (i > 0 ? 1 : 0));
  return starts.findIndex((start) => start >= Math.floor(Buffer.byteLength(text) / 2));
}

test('findRecordLine finds every record of a log, lines short and long, and nothing else', async () => {
  // Lines from about 400 bytes to 300 KB (a check's output), so the bisection meets lines longer
  // than its 64 KiB reads and many lines within one read.
  const drafts = Array.from({ length: 300 }, (_, i) => draft(i, i % 37 === 5 ? { checks: [{ name: 'smoke', ok: true, output: 'x'.repeat(1000 * i) }] } : {}));
  const { file } = await logOf(drafts);
  const lines = readFileSync(file, 'utf8').split('\n').slice(0, -1);
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    for (let seq = 1; seq <= lines.length; seq++) assert.equal(await findRecordLine(handle, size, seq), lines[seq - 1], `seq ${seq}`);
    for (const seq of [0, lines.length + 1, 10_000]) assert.equal(await findRecordLine(handle, size, seq), null, `seq ${seq}`);
    // Only the first `size` bytes count: a record after them is not found.
    const cut = Buffer.byteLength(lines.slice(0, 100).join('\n')) + 1;
    assert.equal(await findRecordLine(handle, cut, 100), lines[99]);
    assert.equal(await findRecordLine(handle, cut, 101), null);
  } finally {
    await handle.close();
  }
});

test('a log cut below a store\'s anchor and written on since is refused before anything is appended; an intact one is appended to', async () => {
  const { dir, file, records } = await logOf(Array.from({ length: 10 }, (_, i) => draft(i)));
  const chainId = records[0].hash;
  const whole = readFileSync(file, 'utf8');
  const lines = whole.split('\n').slice(0, -1);
  const anchorAt5 = { [chainId]: { seq: 5, hash: records[4].hash, at } };

  // Intact below the head: appended to, and the anchored record found once, not on every append.
  const intact = new EvidenceLog(dir);
  intact.expectAnchors('store y.store', anchorAt5);
  await intact.prepare();
  assert.equal((await intact.append([draft(11)]))[0].seq, 11);
  assert.equal((await intact.append([draft(12)]))[0].seq, 12);
  await intact.close();

  // Cut to seq 4, then written on by a run that did not expect y's anchors (seq 5 to 12 are others).
  writeFileSync(file, `${lines.slice(0, 4).join('\n')}\n`);
  const other = new EvidenceLog(dir);
  await other.append(Array.from({ length: 8 }, (_, i) => draft(100 + i)));
  await other.close();
  const rewritten = readFileSync(file, 'utf8');
  assert.equal((await verifyEvidence(dir)).ok, true, 'the chain alone cannot see it');
  const message = `evidence log ${file} is damaged at line 5: record seq 5 is not the one store y.store recorded (its hash differs): the log was rewritten; nothing was appended`;
  for (const step of ['prepare', 'append']) {
    const refusing = new EvidenceLog(dir);
    refusing.expectAnchors('store y.store', anchorAt5);
    await assert.rejects(step === 'prepare' ? refusing.prepare() : refusing.append([draft(20)]), { code: 'ERR_EVIDENCE_CORRUPT', message });
    await refusing.close();
    assert.equal(readFileSync(file, 'utf8'), rewritten, `${step}: nothing appended`);
  }

  // The anchored seq missing altogether (its line taken out, the rest left as it was).
  const gap = rewritten.split('\n');
  gap.splice(4, 1);
  writeFileSync(file, gap.join('\n'));
  const missing = new EvidenceLog(dir);
  missing.expectAnchors('store y.store', anchorAt5);
  await assert.rejects(missing.prepare(), { message: /damaged at line 5: record seq 5 is not the one store y\.store recorded \(no valid record has that seq\): the log was rewritten/ });
  await missing.close();
});

test('a log swapped for a rewritten copy while a writer has it open is checked again: an anchor found in the old file counts for that file only', async () => {
  const { dir, file, records } = await logOf(Array.from({ length: 10 }, (_, i) => draft(i)));
  const anchorAt5 = { [records[0].hash]: { seq: 5, hash: records[4].hash, at } };
  const writer = new EvidenceLog(dir);
  writer.expectAnchors('store y.store', anchorAt5);
  assert.equal((await writer.append([draft(11)]))[0].seq, 11, 'the anchored record was found');
  // Another file put in its place (rename: a new inode), with the same first four records and
  // others from seq 5 on: longer, so the writer reads its tail again.
  const lines = readFileSync(file, 'utf8').split('\n').slice(0, -1);
  const copyDir = join(dir, '..', 'copy');
  mkdirSync(copyDir);
  writeFileSync(join(copyDir, 'evidence.jsonl'), `${lines.slice(0, 4).join('\n')}\n`);
  const other = new EvidenceLog(copyDir);
  await other.append(Array.from({ length: 10 }, (_, i) => draft(200 + i)));
  await other.close();
  const swapped = readFileSync(join(copyDir, 'evidence.jsonl'), 'utf8');
  renameSync(join(copyDir, 'evidence.jsonl'), file);
  await assert.rejects(writer.append([draft(12)]), { code: 'ERR_EVIDENCE_CORRUPT', message: /record seq 5 is not the one store y\.store recorded \(its hash differs\)/ });
  await writer.close();
  assert.equal(readFileSync(file, 'utf8'), swapped, 'nothing appended to the swapped log');
});

test('head() reads the log as it is and refuses nothing: only an append (or prepare) checks the anchors', async () => {
  const { dir, file, records } = await logOf(Array.from({ length: 6 }, (_, i) => draft(i)));
  const lines = readFileSync(file, 'utf8').split('\n').slice(0, -1);
  writeFileSync(file, `${lines.slice(0, 3).join('\n')}\n`); // cut below the anchor at seq 5
  const log = new EvidenceLog(dir);
  log.expectAnchors('store y.store', { [records[0].hash]: { seq: 5, hash: records[4].hash, at } });
  // Twice: the second answer comes from what the first read remembered.
  for (let i = 0; i < 2; i++) assert.deepEqual(await log.head(), { chainId: records[0].hash, seq: 3, hash: records[2].hash });
  await assert.rejects(log.prepare(), { code: 'ERR_EVIDENCE_CORRUPT', message: /it ends at seq 3 but store y\.store recorded seq 5/ });
  await log.close();
});

test('a damaged line where the bisection looks does not hide an intact anchored record: the anchors are still checked, line by line', async () => {
  const { dir, file, records } = await logOf(Array.from({ length: 12 }, (_, i) => draft(i)));
  const chainId = records[0].hash;
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n').slice(0, -1);
  // The line the bisection reads first, overwritten in place with bytes that are no record, though
  // one seq pattern sits inside them: a misleading one.
  const damaged = firstProbedLine(text);
  assert.ok(damaged >= 3 && damaged <= lines.length - 3, `the probed line ${damaged + 1} has records on both sides`);
  const junk = 'x{"seq":1,'.padEnd(Buffer.byteLength(lines[damaged]), 'x');
  lines[damaged] = junk;
  const before = `${lines.join('\n')}\n`;
  writeFileSync(file, before);
  const verified = await verifyEvidence(dir);
  assert.equal(verified.ok, false);
  assert.equal(verified.line, damaged + 1, 'verify names the damage');

  // Store anchors on the records just below and just above the damage: both found, so appended to.
  const below = records[damaged - 1];
  const above = records[damaged + 1];
  const log = new EvidenceLog(dir);
  log.expectAnchors('store y.store', { [chainId]: { seq: below.seq, hash: below.hash, at } });
  log.expectAnchors('store z.store', { [chainId]: { seq: above.seq, hash: above.hash, at } });
  assert.equal((await log.append([draft(20)]))[0].seq, 13);
  await log.close();

  // An anchor whose record was rewritten is still refused, damage or not; nothing is appended.
  writeFileSync(file, before);
  const refusing = new EvidenceLog(dir);
  refusing.expectAnchors('store y.store', { [chainId]: { seq: below.seq, hash: records[0].hash, at } });
  await assert.rejects(refusing.append([draft(21)]), { code: 'ERR_EVIDENCE_CORRUPT', message: new RegExp(`record seq ${below.seq} is not the one store y\\.store recorded \\(its hash differs\\)`) });
  await refusing.close();
  assert.equal(readFileSync(file, 'utf8'), before);
});

test('findRecordLine on a log of exactly 2 × 64 KiB − 2 bytes, whose first probe reads to the very end of the log and finds no line start there', async () => {
  const CHUNK = 64 * 1024;
  const sized = async (pad) => logOf([draft(1), draft(2, { checks: [{ name: 'smoke', ok: true, output: 'x'.repeat(pad) }] })]);
  let { file } = await sized(CHUNK);
  const pad = CHUNK + (2 * CHUNK - 2) - readFileSync(file).length;
  ({ file } = await sized(pad));
  assert.equal(readFileSync(file).length, 2 * CHUNK - 2);
  const lines = readFileSync(file, 'utf8').split('\n').slice(0, -1);
  const handle = await open(file, 'r');
  try {
    for (const seq of [1, 2]) assert.equal(await findRecordLine(handle, 2 * CHUNK - 2, seq), lines[seq - 1], `seq ${seq}`);
  } finally {
    await handle.close();
  }
});

test('the line-by-line look, past a damaged line, finds a record at the very start of the log and one right after a newline that begins a 64 KiB read', async () => {
  const CHUNK = 64 * 1024;
  const withOutput = (i, n) => draft(i, { checks: [{ name: 'smoke', ok: true, output: 'x'.repeat(n) }] });
  // Line 1 exactly 64 KiB, so its newline is the first byte of the second 64 KiB read and line 2
  // starts right after it; line 3 long, so the bisection's first look lands on line 4.
  const probe = await logOf([withOutput(0, CHUNK)]);
  const pad = CHUNK + CHUNK - (readFileSync(probe.file).length - 1);
  const { dir, file, records } = await logOf([withOutput(0, pad), draft(1), withOutput(2, 70_000), draft(3), draft(4)]);
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n').slice(0, -1);
  assert.equal(Buffer.byteLength(lines[0]), CHUNK);
  assert.equal(firstProbedLine(text), 3, 'the first look lands on line 4');
  lines[3] = 'x'.repeat(Buffer.byteLength(lines[3]));
  const before = `${lines.join('\n')}\n`;
  writeFileSync(file, before);
  for (const record of [records[0], records[1]]) {
    const log = new EvidenceLog(dir);
    log.expectAnchors('store y.store', { [records[0].hash]: { seq: record.seq, hash: record.hash, at } });
    await log.prepare();
    await log.close();
  }
  assert.equal(readFileSync(file, 'utf8'), before, 'found, and nothing cut or appended');
});
