import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EvidenceLog, verifyEvidence, ZERO_HASH } from '../../dist/evidence/index.js';
import { chain, chainFields as fields } from '../helpers/evidence-chain.js';

// Behaviour of the evidence writer and verifier that test/MUTATION.md listed as "gap": long lines
// that start mid-chunk, a last line read back over several chunks of a log over 2 MiB, a newline at
// the first byte of a chunk, where a draft's prevHash/hash go, the draft size limit at its exact
// boundary, verify where the lock cannot be created, a log replaced while a writer is open, the
// parent directory removed between writes, and the writer's name in its lock.

const CHUNK = 64 * 1024;
const MIB = 1024 * 1024;
const INDEX = fileURLToPath(new URL('../../dist/evidence/index.js', import.meta.url));
const base = mkdtempSync(join(tmpdir(), 'keyshift-evidence-gaps-'));
chmodSync(base, 0o755); // the verify-as-another-user case reads below it
let counter = 0;
const newDir = () => {
  const dir = join(base, `case-${(counter += 1)}`);
  mkdirSync(dir);
  return dir;
};

const text = (lines) => lines.map((line) => `${line}\n`).join('');
const headOf = (lines) => ({ chainId: JSON.parse(lines[0]).hash, seq: lines.length, hash: JSON.parse(lines.at(-1)).hash });

test('a line of exactly 1 MiB after a shorter line (so it starts mid-chunk) is read whole, not "longer than 1 MiB"', async () => {
  const dir = newDir();
  const lines = chain([60_000, MIB]);
  writeFileSync(join(dir, 'evidence.jsonl'), text(lines));
  const result = await verifyEvidence(dir);
  assert.deepEqual([result.ok, result.records, result.problem], [true, 2, undefined]);
});

test('a log over 2 MiB whose last line spans three 64 KiB reads: the writer continues its chain', async () => {
  const dir = newDir();
  const lines = chain([900_000, 900_000, 400_000, 150_000]);
  writeFileSync(join(dir, 'evidence.jsonl'), text(lines));
  const log = new EvidenceLog(dir);
  assert.deepEqual(await log.head(), headOf(lines));
  const [record] = await log.append([fields(5)]);
  await log.close();
  assert.deepEqual([record.seq, record.prevHash], [5, JSON.parse(lines[3]).hash]);
  assert.deepEqual({ ...(await verifyEvidence(dir)) }, { ok: true, records: 5, head: { chainId: JSON.parse(lines[0]).hash, seq: 5, hash: record.hash }, anchorsChecked: 0 });
});

test('a torn last line of several MiB is named as incomplete at its own line', async () => {
  const dir = newDir();
  const file = join(dir, 'evidence.jsonl');
  writeFileSync(file, `${chain([0])[0]}\n${'x'.repeat(3 * MIB)}`);
  await assert.rejects(new EvidenceLog(dir).append([fields(2)]), {
    code: 'ERR_EVIDENCE_CORRUPT',
    message: `evidence log ${file} is damaged at line 2: the last line is incomplete (a write was interrupted or the file was cut); nothing was appended`,
  });
});

test('a newline at the first byte of a 64 KiB chunk is counted: the damaged line is named exactly', async () => {
  const dir = newDir();
  const file = join(dir, 'evidence.jsonl');
  const lines = chain([CHUNK, 0]); // line 1 fills bytes 0..65535, its newline is byte 65536
  writeFileSync(file, `${text(lines)}{"seq":9,`);
  await assert.rejects(new EvidenceLog(dir).append([fields(3)]), {
    code: 'ERR_EVIDENCE_CORRUPT',
    message: `evidence log ${file} is damaged at line 3: the last line is incomplete (a write was interrupted or the file was cut); nothing was appended`,
  });
});

test('a draft carrying prevHash and hash before its other fields: the written line still ends with prevHash, hash', async () => {
  const dir = newDir();
  const log = new EvidenceLog(dir);
  await log.append([{ prevHash: 'sha256:forged', hash: 'sha256:forged', ...fields(1), runId: 'run-1' }]);
  await log.close();
  const line = JSON.parse(readFileSync(join(dir, 'evidence.jsonl'), 'utf8'));
  assert.deepEqual(Object.keys(line), [
    'seq', 'at', 'event', 'rotationId', 'secret', 'environment', 'store', 'fromVersion', 'toVersion',
    'fingerprint', 'operator', 'reason', 'ticket', 'emergency', 'checks', 'runId', 'prevHash', 'hash',
  ]);
  assert.equal(line.prevHash, ZERO_HASH);
  assert.equal((await verifyEvidence(dir)).ok, true);
});

test('a draft of exactly 1 MiB − 512 bytes as JSON is written; one byte more is refused', async () => {
  const dir = newDir();
  const sized = (pad) => fields(1, pad);
  const pad = MIB - 512 - Buffer.byteLength(JSON.stringify(sized(1))) + 1;
  assert.equal(Buffer.byteLength(JSON.stringify(sized(pad))), MIB - 512);
  const log = new EvidenceLog(dir);
  const [record] = await log.append([sized(pad)]);
  assert.equal(record.seq, 1);
  await assert.rejects(log.append([sized(pad + 1)]), {
    code: 'ERR_EVIDENCE_DRAFT_INVALID',
    message: 'evidence for db-password/prod is invalid: the record is larger than 1 MiB',
  });
  await log.close();
  assert.deepEqual([(await verifyEvidence(dir)).records], [1]);
});

// verify takes the evidence lock so that it never reads a writer's half line; a copy it may not
// lock (another user's directory, an immutable or read-only one) is read without it.
async function lockRefusedLog() {
  const dir = newDir();
  const lines = chain([0, 0]);
  writeFileSync(join(dir, 'evidence.jsonl'), text(lines));
  return { dir, lines };
}
const verifyScript = (dir) => `import(${JSON.stringify(INDEX)}).then((m) => m.verifyEvidence(${JSON.stringify(dir)})).then((r) => console.log(JSON.stringify(r)), (e) => console.log('failed: ' + e.message))`;
const expectVerified = (out, lines) => assert.deepEqual(JSON.parse(out.trim().split('\n').at(-1)), { ok: true, records: 2, head: headOf(lines), anchorsChecked: 0 });

test('verify of a log in a directory the user may not write (EACCES) reads it without the lock', { skip: process.getuid?.() !== 0 && 'runs the reader as uid 65534, which needs root' }, async () => {
  const { dir, lines } = await lockRefusedLog();
  const child = spawnSync(process.execPath, ['-e', verifyScript(dir)], { uid: 65534, gid: 65534, encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  expectVerified(child.stdout, lines);
  assert.equal(existsSync(join(dir, 'evidence.lock')), false);
});

test('verify of a log in an immutable directory (EPERM) reads it without the lock', async (t) => {
  const { dir, lines } = await lockRefusedLog();
  try {
    execFileSync('chattr', ['+i', dir], { stdio: 'ignore' });
  } catch {
    t.skip('chattr +i is not available here');
    return;
  }
  try {
    expectVerified(JSON.stringify({ ...(await verifyEvidence(dir)) }), lines);
  } finally {
    execFileSync('chattr', ['-i', dir], { stdio: 'ignore' });
  }
  assert.equal(existsSync(join(dir, 'evidence.lock')), false);
});

test('verify of a log on a read-only mount (EROFS) reads it without the lock', async (t) => {
  const { dir, lines } = await lockRefusedLog();
  const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = `mount --bind ${q(dir)} ${q(dir)} && mount -o remount,ro,bind ${q(dir)} && ! touch ${q(join(dir, 'probe'))} 2>/dev/null && echo mounted-read-only && exec ${q(process.execPath)} -e ${q(verifyScript(dir))}`;
  const child = spawnSync('unshare', ['-m', 'sh', '-c', script], { encoding: 'utf8' });
  if (!child.stdout.startsWith('mounted-read-only\n')) {
    t.skip(`no read-only bind mount here (${child.status}: ${child.stderr.trim().split('\n')[0]})`);
    return;
  }
  expectVerified(child.stdout, lines);
});

test('verify does not read a log without the lock for any other lock error (evidence.lock is a directory)', async () => {
  const { dir } = await lockRefusedLog();
  mkdirSync(join(dir, 'evidence.lock'));
  await assert.rejects(verifyEvidence(dir), { code: 'EISDIR' });
});

// A log moved aside and replaced by another chain while a writer is open is read as the new file:
// the writer's cached head is for the old inode.
function replaceLog(dir, lines) {
  const file = join(dir, 'evidence.jsonl');
  renameSync(file, join(dir, 'evidence.old.jsonl')); // kept, so the new file cannot reuse its inode
  writeFileSync(file, text(lines));
}

test('a log replaced by another chain of the same size is read as the new chain, not from the writer\'s cache', async () => {
  const dir = newDir();
  const log = new EvidenceLog(dir);
  const first = await log.append([fields(1), fields(2)]);
  const other = chain([0, 0], { rotationId: 'q-1' });
  assert.notEqual(JSON.parse(other[0]).hash, first[0].hash);
  replaceLog(dir, other);
  assert.equal(readFileSync(join(dir, 'evidence.jsonl')).length, readFileSync(join(dir, 'evidence.old.jsonl')).length);
  assert.deepEqual(await log.head(), headOf(other));
  const [next] = await log.append([fields(3)]);
  await log.close();
  assert.equal(next.prevHash, JSON.parse(other[1]).hash);
  assert.equal((await verifyEvidence(dir)).ok, true);
});

test('a log replaced by a shorter chain is read as that chain, not as a file that shrank', async () => {
  const dir = newDir();
  const log = new EvidenceLog(dir);
  await log.append([fields(1), fields(2), fields(3)]);
  const other = chain([0], { rotationId: 'q-1' });
  replaceLog(dir, other);
  assert.deepEqual(await log.head(), headOf(other));
  await log.close();
});

test('a log replaced by a longer chain: the writer names the new chain, not the old one', async () => {
  const dir = newDir();
  const log = new EvidenceLog(dir);
  await log.append([fields(1)]);
  const other = chain([0, 0, 0], { rotationId: 'q-1' });
  replaceLog(dir, other);
  assert.deepEqual(await log.head(), headOf(other));
  const signed = await log.appendAtHead((head) => fields(4, 0, { reason: `after ${head.chainId}` }));
  await log.close();
  assert.equal(signed.reason, `after ${JSON.parse(other[0]).hash}`);
});

test('an evidence directory removed with its parent after a write is recreated and the vanished log reported', async () => {
  const parent = join(newDir(), 'team');
  const dir = join(parent, 'evidence');
  const log = new EvidenceLog(dir);
  await log.append([fields(1)]);
  rmSync(parent, { recursive: true });
  const file = join(dir, 'evidence.jsonl');
  await assert.rejects(log.append([fields(2)]), {
    code: 'ERR_EVIDENCE_CORRUPT',
    message: `evidence log ${file} disappeared while keyshift was appending to it (it held 1 records)`,
  });
  assert.equal(existsSync(dir), true);
  assert.equal(existsSync(file), false);
});

test('a second process waiting for the evidence lock is told the writer holds it, with its pid', async () => {
  const dir = newDir();
  const log = new EvidenceLog(dir);
  await log.append([fields(1)]);
  let seen = null;
  const script = `import(${JSON.stringify(INDEX)}).then(async (m) => {
    const log = new m.EvidenceLog(${JSON.stringify(dir)}, { lockWaitMs: 200 });
    await log.append([${JSON.stringify(fields(9))}]).then(() => console.log('appended'), (e) => console.log(e.code + ': ' + e.message));
  })`;
  await log.appendAtHead(() => {
    // runs under the writer's lock: another process now waits for it, and gives up
    seen = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' }).stdout.trim();
    return fields(2);
  });
  await log.close();
  assert.match(seen, new RegExp(`^ERR_LOCKED: evidence log ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is locked by keyshift evidence writer \\(pid ${process.pid}\\)`));
});
