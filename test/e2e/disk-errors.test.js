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
