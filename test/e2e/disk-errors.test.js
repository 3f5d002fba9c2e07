// Issue 13, item 1: a full disk is the machine's state, never "a bug in keyshift". The evidence log
// on a tiny tmpfs (root only: skipped where mounting is not permitted), filled up: every run says
// which file and why, with its own code; once space is freed, a rerun completes and verifies.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempProject, assertNoStackTrace, manySecretsPolicy, readEvidence, writeFiles } from '../helpers/cli.js';
import { inspectStore } from '../helpers/store-check.js';

const mounted = [];
function tinyTmpfs(dir, size = '64k') {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return false;
  }
  mounted.push(dir);
  return true;
}
after(() => {
  for (const dir of mounted) execFileSync('umount', [dir]);
});

test('evidence on a full disk: ERR_DISK_FULL naming the log, on every run; freeing space recovers', (t) => {
  const dir = tempProject('keyshift-disk-');
  const evidence = join(dir, 'evidence');
  if (!tinyTmpfs(evidence)) return t.skip('mounting a tmpfs is not permitted here');
  assert.equal(runCli(['init'], { cwd: dir }).code, 0);
  assert.equal(runCli(['rotate', '--all', '--evidence-dir', evidence], { cwd: dir }).code, 0);
  const filler = join(evidence, 'filler');
  try {
    writeFileSync(filler, Buffer.alloc(128 * 1024));
  } catch (error) {
    assert.equal(error.code, 'ENOSPC'); // the disk is full now
  }

  for (const attempt of [1, 2, 3]) {
    const result = runCli(['rotate', '--all', '--force', '--reason', 'disk drill', '--evidence-dir', evidence, '--json'], { cwd: dir });
    assert.equal(result.code, 1, `run ${attempt}: ${result.stderr}`);
    assertNoStackTrace(assert, result.stderr);
    assert.doesNotMatch(result.stderr, /bug|internal error/i, `run ${attempt}`);
    assert.match(result.stderr, /evidence\.jsonl: no space left on the device \(ENOSPC\)/, `run ${attempt}`);
    assert.match(result.stderr, /hint: .*free space/, `run ${attempt}`);
    assert.match(result.stdout, /"code": "ERR_DISK_FULL"/, `run ${attempt}`);
  }

  rmSync(filler);
  const recovered = runCli(['rotate', '--all', '--force', '--reason', 'after the disk drill', '--evidence-dir', evidence], { cwd: dir });
  assert.equal(recovered.code, 0, recovered.stderr);
  const verify = runCli(['evidence', 'verify', '--evidence-dir', evidence], { cwd: dir });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

test('a local store on a full disk: its secret fails with ERR_DISK_FULL naming the store, a store beside it rotates', (t) => {
  const dir = tempProject('keyshift-disk-');
  const full = join(dir, 'full');
  if (!tinyTmpfs(full)) return t.skip('mounting a tmpfs is not permitted here');
  const secret = (name, path) => `  - name: ${name}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: dev\n        store: { type: local, path: ${path} }\n`;
  mkdirSync(join(dir, 'policies'), { recursive: true });
  writeFileSync(join(dir, 'policies', 'p.yaml'), `secrets:\n${secret('on-full-disk', 'full/dev.store')}${secret('elsewhere', '.keyshift/dev.store')}`);
  assert.equal(runCli(['rotate', '--all'], { cwd: dir }).code, 0);
  const filler = join(full, 'filler');
  try {
    writeFileSync(filler, Buffer.alloc(128 * 1024));
  } catch (error) {
    assert.equal(error.code, 'ENOSPC');
  }
  for (const attempt of [1, 2]) {
    const result = runCli(['rotate', '--all', '--force', '--reason', 'disk drill', '--json'], { cwd: dir });
    assert.equal(result.code, 1, `run ${attempt}: ${result.stderr}`);
    assert.doesNotMatch(result.stderr + result.stdout, /this is a bug|internal error/i);
    const by = Object.fromEntries(JSON.parse(result.stdout).results.map((r) => [r.secret, r]));
    assert.equal(by.elsewhere.outcome, 'rotated', `run ${attempt}`);
    assert.equal(by['on-full-disk'].outcome, 'failed');
    assert.equal(by['on-full-disk'].error.code, 'ERR_DISK_FULL');
    assert.match(by['on-full-disk'].error.message, /full\/dev\.store: no space left on the device \(ENOSPC\)/);
  }
  rmSync(filler);
  assert.equal(runCli(['rotate', '--all', '--force', '--reason', 'after the drill'], { cwd: dir }).code, 0);
  assert.equal(runCli(['evidence', 'verify'], { cwd: dir }).code, 0);
});

test('a local store that fills up during a run: the secrets whose writes did not land fail, and the evidence names no version the store does not hold', async (t) => {
  // Secrets with nothing to run go one after another while the store writes them in batches
  // (src/engine/queued-writes.ts): a batch the disk refuses must fail its secrets, and their
  // `issued` and `switched` must not reach the evidence log, which is on another disk.
  const dir = tempProject('keyshift-disk-');
  const full = join(dir, 'full');
  if (!tinyTmpfs(full, '1m')) return t.skip('mounting a tmpfs is not permitted here');
  const count = 300;
  const keys = Array.from({ length: count }, (_, i) => `secret-${String(i).padStart(5, '0')}`);
  const storePath = join(full, 'dev.store');
  writeFiles(dir, { 'policies/many.yaml': manySecretsPolicy(count, { store: 'full/dev.store' }) });
  assert.equal(runCli(['rotate', '--all', '-q'], { cwd: dir }).code, 0);
  // Room for about a third of what a forced run of every secret appends (it writes more than the
  // provisioning did: each record also carries its drafts).
  const written = statSync(storePath).size;
  const { bavail, bsize } = statfsSync(full);
  writeFileSync(join(full, 'filler'), Buffer.alloc(Math.max(0, bavail * bsize - Math.floor(written / 2))));
  const seen = readEvidence(dir).length;

  const result = runCli(['rotate', '--all', '--force', '--reason', 'fills the disk', '--json'], { cwd: dir });
  assert.equal(result.code, 1, result.stderr);
  assertNoStackTrace(assert, result.stderr);
  const outcomes = new Map(JSON.parse(result.stdout).results.map((r) => [r.secret, r]));
  const failed = keys.filter((key) => outcomes.get(key).outcome === 'failed');
  const rotated = keys.filter((key) => outcomes.get(key).action === 'rotate' && outcomes.get(key).outcome === 'rotated');
  assert.ok(failed.length > 0 && rotated.length > 0, `some secrets rotated (${rotated.length}) before the disk filled, the others failed (${failed.length})`);
  // The store's own code for a refused write, with the cause (docs/cli.md).
  for (const key of failed) assert.match(`${outcomes.get(key).error.code}: ${outcomes.get(key).error.message}`, /^ERR_STORE_WRITE: cannot write store .*full\/dev\.store: ENOSPC$/, key);

  // What the evidence says was issued, the store holds (read with the independent reader).
  const held = await inspectStore(storePath, keys);
  const events = readEvidence(dir).slice(seen);
  for (const e of events.filter((e) => e.event === 'issued' || e.event === 'switched')) {
    assert.ok(held.get(e.secret).versions.some((v) => v.id === e.toVersion), `${e.secret}: the evidence says ${e.event} ${e.toVersion}, which the store does not hold`);
  }
  for (const key of failed) assert.ok(events.some((e) => e.secret === key && e.event === 'failed'), `${key}: a failed record says why`);
  for (const key of rotated) assert.ok(events.some((e) => e.secret === key && e.event === 'switched'), `${key}: rotated, and its switch is in the evidence`);

  // Space freed: the rerun completes what the full disk stopped, and the evidence verifies.
  rmSync(join(full, 'filler'));
  const rerun = runCli(['rotate', '--all', '--json'], { cwd: dir });
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.equal(runCli(['evidence', 'verify'], { cwd: dir }).code, 0);
  const after = await inspectStore(storePath, keys);
  for (const key of keys) assert.equal(after.get(key).current.length, 1, `${key}: one CURRENT`);
});
