import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EvidenceLog, verifyEvidence, recordHash, ZERO_HASH } from '../../dist/evidence/index.js';

// Edge cases of the evidence writer and verifier that mutation testing found unchecked
// (test/MUTATION.md): what close() waits for, what an empty append does, a vanished directory,
// chains that start at the wrong seq, and anchors of another chain inside the log's range.

const draft = (i, over = {}) => ({
  event: 'issued', rotationId: `r-${i}`, secret: 'tls-key', environment: 'dev', store: 'local',
  fromVersion: null, toVersion: `v-${i}`, fingerprint: null, at: '2026-11-23T10:00:00.000Z',
  operator: 'erin@host', reason: 'scheduled', ticket: null, emergency: false, checks: [], ...over,
});
const base = mkdtempSync(join(tmpdir(), 'keyshift-evidence-edges-'));
let counter = 0;
const newDir = () => join(base, `case-${(counter += 1)}`);
const lineCount = (dir) => readFileSync(join(dir, 'evidence.jsonl'), 'utf8').split('\n').length - 1;

/** Records seq from..to chained from `prevHash`, sealed as the writer seals them. */
function sealed(from, to, prevHash = ZERO_HASH) {
  const out = [];
  for (let seq = from; seq <= to; seq += 1) {
    const body = { seq, ...draft(seq), prevHash };
    const record = { ...body, hash: recordHash(body) };
    out.push(record);
    prevHash = record.hash;
  }
  return out;
}
const jsonl = (records) => records.map((record) => `${JSON.stringify(record)}\n`).join('');

test('close() waits for appends that were not awaited', async () => {
  const dir = newDir();
  const log = new EvidenceLog(dir);
  const pending = [log.append([draft(1)]), log.append([draft(2), draft(3)])];
  await log.close();
  assert.equal(lineCount(dir), 3);
  assert.deepEqual((await Promise.all(pending)).flat().map((r) => r.seq), [1, 2, 3]);
});

test('an empty append writes nothing and creates nothing', async () => {
  const dir = newDir();
  const log = new EvidenceLog(dir);
  assert.deepEqual(await log.append([]), []);
  await log.close();
  assert.equal(existsSync(dir), false);
});

test('an evidence directory removed after a write is reported as a vanished log, not restarted', async () => {
  const dir = newDir();
  const log = new EvidenceLog(dir);
  await log.append([draft(1), draft(2)]);
  rmSync(dir, { recursive: true });
  await assert.rejects(log.append([draft(3)]), (error) => {
    assert.equal(error.code, 'ERR_EVIDENCE_CORRUPT');
    assert.equal(error.message, `evidence log ${join(dir, 'evidence.jsonl')} disappeared while keyshift was appending to it (it held 2 records)`);
    assert.match(error.hint, /keyshift never repairs evidence itself/);
    return true;
  });
  assert.equal(existsSync(join(dir, 'evidence.jsonl')), false);
  await log.close();
});

test('the writer refuses a log whose last record has seq 0 or whose first record is not seq 1', async () => {
  const zero = newDir();
  mkdirSync(zero);
  const [one] = sealed(1, 1);
  const body = { ...one, seq: 0 };
  delete body.hash;
  writeFileSync(join(zero, 'evidence.jsonl'), jsonl([{ ...body, hash: recordHash(body) }]));
  await assert.rejects(new EvidenceLog(zero).append([draft(2)]), { message: /is damaged at line 1: the last record is not valid evidence;/ });

  const late = newDir();
  mkdirSync(late);
  writeFileSync(join(late, 'evidence.jsonl'), jsonl(sealed(2, 3)));
  await assert.rejects(new EvidenceLog(late).append([draft(4)]), { message: /is damaged at line 1: the first record is not valid evidence with seq 1;/ });
  assert.equal(lineCount(late), 2);
});

test('a refused draft says it is a keyshift bug', async () => {
  const log = new EvidenceLog(newDir());
  await assert.rejects(log.append([draft(1, { event: 'exploded' })]), { hint: 'this is a bug in keyshift, please report it' });
  await log.close();
});

test('an anchor of another chain at a seq inside this log is not compared', async () => {
  const dir = newDir();
  mkdirSync(dir);
  const records = sealed(1, 3);
  writeFileSync(join(dir, 'evidence.jsonl'), jsonl(records));
  const other = { source: 'store old-chain', chainId: `sha256:${'e'.repeat(64)}`, seq: 2, hash: `sha256:${'f'.repeat(64)}` };
  assert.deepEqual({ ...(await verifyEvidence(dir, [other])) }, {
    ok: true, records: 3, head: { chainId: records[0].hash, seq: 3, hash: records[2].hash }, anchorsChecked: 0,
  });
});

test('read-only verify (doctor) of a missing log is an empty log, and nothing is created', async () => {
  const dir = newDir();
  assert.deepEqual({ ...(await verifyEvidence(dir, [], { readOnly: true })) }, { ok: true, records: 0, head: null, anchorsChecked: 0 });
  assert.equal(existsSync(dir), false);
});

test('an evidence directory that is a file (or under one) is refused with a one-line fix, not a raw EEXIST', async () => {
  for (const [dir, made] of [[newDir(), (d) => writeFileSync(d, 'not a dir')], [join(newDir(), 'below'), (d) => writeFileSync(join(d, '..'), 'not a dir')]]) {
    made(dir);
    const log = new EvidenceLog(dir);
    await assert.rejects(log.append([draft(1)]), (error) => {
      assert.equal(error.code, 'ERR_EVIDENCE_WRITE');
      assert.equal(error.message, `evidence directory ${dir} is not a directory (a file is in its place)`);
      assert.equal(error.hint, 'move that file away, or give --evidence-dir a directory');
      return true;
    });
    await log.close().catch(() => undefined);
  }
});

test('a closed evidence log refuses later appends (ERR_EVIDENCE_CLOSED, naming the file) and writes nothing more', async () => {
  const log = new EvidenceLog(newDir());
  await log.append([draft(1)]);
  await log.close();
  const before = readFileSync(log.file, 'utf8');
  const closed = { code: 'ERR_EVIDENCE_CLOSED', message: `evidence log ${log.file} is closed` };
  await assert.rejects(log.append([draft(2)]), closed);
  await assert.rejects(log.appendAtHead(() => draft(3)), closed);
  assert.equal(readFileSync(log.file, 'utf8'), before);
});

test('no file descriptor is left open: appends (creating the log or not), head(), a refused append, verify with its lock and read-only beside a live writer', async () => {
  const { readdirSync } = await import('node:fs');
  const { acquireFileLock } = await import('../../dist/util/file-lock.js');
  const open = () => readdirSync('/proc/self/fd').length;
  const dir = newDir();
  const log = new EvidenceLog(dir);
  const steps = [
    ['the first append, which creates the log', () => log.append([draft(1)])],
    ['an append to the log', () => log.append([draft(2)])],
    ['head()', () => log.head()],
    ['verify', () => verifyEvidence(dir)],
    ['a refused append (the log ends in a line that is no record)', async () => {
      writeFileSync(join(dir, 'evidence.jsonl'), `${readFileSync(join(dir, 'evidence.jsonl'), 'utf8')}not a record`);
      const other = new EvidenceLog(dir);
      await assert.rejects(other.append([draft(3)]), { code: 'ERR_EVIDENCE_CORRUPT' });
      await other.close();
    }],
    ['a read-only verify while a live process holds the evidence lock', async () => {
      const lock = await acquireFileLock(join(dir, 'evidence.lock'), { waitMs: 0, owner: 'a writer', what: 'evidence' });
      const before = open();
      try {
        assert.equal((await verifyEvidence(dir, [], { readOnly: true })).records, 2);
      } finally {
        assert.equal(open(), before, 'read-only verify');
        await lock.release();
      }
    }],
  ];
  for (const [what, step] of steps) {
    const before = open();
    await step();
    assert.equal(open(), before, what);
  }
  await log.close();
});

test('an evidence directory that cannot be made for another reason than a file in its place is reported with its own error', async () => {
  const dir = join(newDir(), 'x'.repeat(300)); // a name longer than any file system takes
  const log = new EvidenceLog(dir);
  await assert.rejects(log.append([draft(1)]), (error) => {
    assert.equal(error.code, 'ENAMETOOLONG');
    assert.doesNotMatch(error.message, /a file is in its place/);
    return true;
  });
  await log.close();
});

test('record hashes are the same on a Node without crypto.hash (before 20.12: the Hash object path) as with it', async () => {
  const crypto = (await import('node:crypto')).default;
  const { syncBuiltinESMExports } = await import('node:module');
  const { recordHash, sealRecord } = await import('../../dist/evidence/record.js');
  const records = [1, 2, 3].map((seq) => ({ seq, ...draft(seq, { reason: `é ${'x'.repeat(seq * 100)}` }), prevHash: ZERO_HASH }));
  const saved = crypto.hash;
  assert.equal(typeof saved, 'function', 'this Node has crypto.hash');
  crypto.hash = undefined;
  syncBuiltinESMExports();
  let hashes;
  let line;
  try {
    const old = await import('../../dist/evidence/record.js?without-crypto-hash'); // evaluated again, without it
    hashes = records.map((record) => old.recordHash(record));
    line = old.sealRecord(4, draft(4), ZERO_HASH).line;
  } finally {
    crypto.hash = saved;
    syncBuiltinESMExports();
  }
  assert.deepEqual(hashes, records.map((record) => recordHash(record)));
  assert.equal(line, sealRecord(4, draft(4), ZERO_HASH).line);
});
