// Negative controls of the reencrypt tests (as test/reliability/negative-controls.test.js does for
// the other proof suites): each runs a slice of them against a copy of the build broken in exactly
// what that slice guards, and must fail there, on that check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brokenBuild, runSuiteAgainst, summaryOf } from '../helpers/broken-build.js';

const CONTROLS = [
  {
    breaks: 'applyChanges no longer compares the old ciphertext: a row an application wrote meanwhile is overwritten',
    patches: [{ under: 'dist/bundle', find: '${quote(c)} IS ?', replace: '(? IS NULL OR 1)' }],
    files: ['test/e2e/reencrypt-crash.test.js'],
    namePattern: 'application writing',
    fails: /keeps the application's last write/,
  },
  {
    breaks: 'the decommission gate is gone: the old key is retired with rows still under it',
    patches: [{ under: 'dist/bundle', find: 'left.rows>0&&await holdDecommission', replace: '!1&&await holdDecommission' }],
    files: ['test/e2e/reencrypt.test.js'],
    namePattern: 'staged re-encryption',
    fails: /decommission held while rows are under the old key/,
  },
  {
    breaks: 'a stage over the SLO is not rolled back: its rows stay under the new key',
    patches: [{ under: 'dist/bundle', find: 'state.previous&&await', replace: 'state.previous&&!1&&await' }],
    files: ['test/e2e/reencrypt.test.js'],
    namePattern: 'over the decrypt error SLO',
    fails: /the failed stage's rows are back under the old version/,
  },
  {
    breaks: 'a row is sealed from its ciphertext, not its plaintext (encrypted twice)',
    patches: [{ under: 'dist/bundle', find: 'seal(open(value,ring,aad),ring,aad,to)', replace: 'seal(value,ring,aad,to)' }],
    files: ['test/e2e/reencrypt-crash.test.js'],
    namePattern: 'kill -9',
    env: { REENCRYPT_CRASH_ROUNDS: '1' },
    fails: /not encrypted twice/,
  },
  {
    // The SLO check's decrypt sample catches it: the canary is rolled back.
    breaks: 'aad: row is dropped when a field is sealed again: fields come loose from their cells',
    patches: [{ under: 'dist/bundle', find: 'seal(open(value,ring,aad),ring,aad,to)', replace: 'seal(open(value,ring,aad),ring,null,to)' }],
    files: ['test/e2e/reencrypt.test.js'],
    namePattern: 'aad: row',
    fails: /reencrypt with aad: row: [\s\S]*"outcome": "rolled-back"[\s\S]*over the SLO/,
  },
];

for (const control of CONTROLS) {
  test(`negative control, reencrypt: fails against a build where ${control.breaks}`, { timeout: 300_000 }, async (t) => {
    const build = brokenBuild(control.patches);
    try {
      const run = await runSuiteAgainst(build, control.files, { namePattern: control.namePattern, env: control.env ?? {} });
      const summary = summaryOf(run.output);
      t.diagnostic(`${control.files.join(' ')} (${control.namePattern}): ${summary.fail} of ${summary.tests - summary.skipped} tests failed`);
      assert.notEqual(run.code, 0, `the tests passed a build where ${control.breaks}:\n${run.output.slice(-3000)}`);
      assert.match(run.output, control.fails, `the tests failed, but not on the check that guards it:\n${run.output.slice(-3000)}`);
    } finally {
      build.remove();
    }
  });
}
