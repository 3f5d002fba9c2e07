import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { EvidenceLog, verifyEvidence, ZERO_HASH } from '../../dist/evidence/index.js';
import { chain, chainFields as fields } from '../helpers/evidence-chain.js';

// The log is read in 64 KiB chunks, forwards (verify) and backwards (the writer's head). Records
// whose lines end exactly at, just before or just after a chunk boundary must read the same as any
// other: verify accepts the log, and a new writer continues the chain from the right record.

const CHUNK = 64 * 1024;
const MIB = 1024 * 1024;
const base = mkdtempSync(join(tmpdir(), 'keyshift-evidence-bounds-'));
let counter = 0;
const newDir = () => {
  const dir = join(base, `case-${(counter += 1)}`);
  mkdirSync(dir);
  return dir;
};


const sizes = [CHUNK - 2, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK - 1];
const layouts = [];
for (const size of sizes) {
  layouts.push([size], [size, 0], [0, size], [0, size, 0], [size, size]);
}

for (const layout of layouts) {
  test(`lines of ${layout.join(' + ')} bytes read back across chunk boundaries`, async () => {
    const dir = newDir();
    const lines = chain(layout);
    writeFileSync(join(dir, 'evidence.jsonl'), lines.map((line) => `${line}\n`).join(''));
    const first = JSON.parse(lines[0]).hash;
    const last = JSON.parse(lines[lines.length - 1]).hash;
    const result = await verifyEvidence(dir);
    assert.deepEqual({ ...result }, { ok: true, records: lines.length, head: { chainId: first, seq: lines.length, hash: last }, anchorsChecked: 0 });
    const log = new EvidenceLog(dir);
    assert.deepEqual(await log.head(), { chainId: first, seq: lines.length, hash: last });
    const [next] = await log.append([{ ...fields(9, 0), at: '2026-11-24T10:00:00.000Z' }]);
    await log.close();
    assert.equal(next.seq, lines.length + 1);
    assert.equal(next.prevHash, last);
    assert.equal((await verifyEvidence(dir)).records, lines.length + 1);
  });
}

test('a torn line after a chunk-sized record is found by the writer: cut when it begins the next record, else named at its line', async () => {
  const dir = newDir();
  const lines = chain([0, CHUNK - 1]);
  const file = join(dir, 'evidence.jsonl');
  writeFileSync(file, `${lines.join('\n')}\n{"seq":4,`);
  await assert.rejects(new EvidenceLog(dir).append([fields(3, 0)]), {
    code: 'ERR_EVIDENCE_CORRUPT',
    message: `evidence log ${file} is damaged at line 3: the last line is incomplete (a write was interrupted or the file was cut); nothing was appended`,
  });
  writeFileSync(file, `${lines.join('\n')}\n{"seq":3,`);
  const [third] = await new EvidenceLog(dir).append([fields(3, 0)]);
  assert.deepEqual([third.seq, third.prevHash], [3, JSON.parse(lines[1]).hash]);
  assert.equal((await verifyEvidence(dir)).records, 3);
  writeFileSync(file, '{"seq":2,');
  await assert.rejects(new EvidenceLog(dir).append([fields(1, 0)]), { message: /is damaged at line 1: the last line is incomplete/ });
});

test('a last line of several MiB is refused without reading it all', async () => {
  const dir = newDir();
  const file = join(dir, 'evidence.jsonl');
  writeFileSync(file, `${chain([0])[0]}\n${'x'.repeat(3 * MIB)}\n`);
  await assert.rejects(new EvidenceLog(dir).append([fields(2, 0)]), { message: /is damaged at line 2: the last record is not valid evidence/ });
});

test('a line of exactly 1 MiB is read whole (not "longer than 1 MiB"); a chunk more is too long', async () => {
  const exact = newDir();
  writeFileSync(join(exact, 'evidence.jsonl'), `${'x'.repeat(MIB)}\n`);
  assert.equal((await verifyEvidence(exact)).problem, 'not valid JSON: the line was edited or corrupted');
  const over = newDir();
  writeFileSync(join(over, 'evidence.jsonl'), `${'x'.repeat(MIB + CHUNK)}\n`);
  assert.equal((await verifyEvidence(over)).problem, 'the line is longer than 1 MiB: not a keyshift record');
  const overLater = newDir();
  writeFileSync(join(overLater, 'evidence.jsonl'), `${chain([0])[0]}\n${'x'.repeat(MIB + CHUNK)}\n`);
  const result = await verifyEvidence(overLater);
  assert.deepEqual([result.line, result.problem], [2, 'the line is longer than 1 MiB: not a keyshift record']);
});

test('a draft cannot set seq, prevHash or hash; hashes must be exactly "sha256:" + 64 hex digits', async () => {
  const dir = newDir();
  const log = new EvidenceLog(dir);
  const [record] = await log.append([{ ...fields(1, 0), seq: 42, prevHash: 'sha256:forged', hash: 'sha256:forged' }]);
  await log.close();
  assert.equal(record.seq, 1);
  assert.equal(record.prevHash, ZERO_HASH);
  assert.match(record.hash, /^sha256:[0-9a-f]{64}$/);
  const line = readFileSync(join(dir, 'evidence.jsonl'), 'utf8');
  assert.equal((line.match(/"seq"/g) ?? []).length, 1);
  assert.equal((await verifyEvidence(dir)).ok, true);

  for (const hash of [`x${record.hash}`, `${record.hash}0`, 'sha256:' + 'A'.repeat(64)]) {
    const bad = newDir();
    writeFileSync(join(bad, 'evidence.jsonl'), `${JSON.stringify({ ...JSON.parse(line), hash })}\n`);
    assert.match((await verifyEvidence(bad)).problem, /^hash is missing or not "sha256:"/, hash);
  }
  const oversize = newDir();
  writeFileSync(join(oversize, 'evidence.jsonl'), `${JSON.stringify({ ...JSON.parse(line), hash: 7 })}\n`);
  assert.match((await verifyEvidence(oversize)).problem, /^hash is missing/);
});

test('a writer waits for a live lock only as long as asked, and names the log it waited for', async () => {
  const dir = newDir();
  const holder = { pid: process.pid, host: hostname(), owner: 'keyshift rotate (pid 1)', token: 'held', acquiredAt: '2026-11-23T10:00:00.000Z' };
  writeFileSync(join(dir, 'evidence.lock'), JSON.stringify(holder));
  const started = Date.now();
  await assert.rejects(new EvidenceLog(dir, { lockWaitMs: 100 }).append([fields(1, 0)]), (error) => {
    assert.equal(error.code, 'ERR_LOCKED');
    assert.equal(error.exitCode, 3);
    assert.match(error.message, new RegExp(`^evidence log ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is locked by keyshift rotate \\(pid 1\\)`));
    return true;
  });
  assert.ok(Date.now() - started < 5_000, 'lockWaitMs is honoured');
});
