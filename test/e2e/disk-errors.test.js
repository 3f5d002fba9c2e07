// Issue 13, item 1: a full disk is the machine's state, never "a bug in keyshift". The evidence log
// on a tiny tmpfs (root only: skipped where mounting is not permitted), filled up: every run says
// which file and why, with its own code; once space is freed, a rerun completes and verifies.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempProject, assertNoStackTrace } from '../helpers/cli.js';

const mounted = [];
function tinyTmpfs(dir) {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' });
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
