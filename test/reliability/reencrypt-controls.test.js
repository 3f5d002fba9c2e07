// Negative controls of the reencrypt tests (as test/reliability/negative-controls.test.js does for
// the other proof suites): each runs a slice of them against a copy of the build broken in exactly
// what that slice guards, and must fail there, on that check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brokenBuild, runSuiteAgainst, summaryOf } from '../helpers/broken-build.js';
import { probePostgres } from '../helpers/postgres.js';

// The PostgreSQL slices skip without a server, which would pass a broken build: so do their controls.
const postgres = await probePostgres();
const pgSkip = postgres.ok ? false : postgres.reason;

const CONTROLS = [
  {
    breaks: 'applyChanges no longer compares the old ciphertext: a row an application wrote meanwhile is overwritten',
    patches: [{ under: 'dist/bundle', find: '${quote(c)} IS ?', replace: '(? IS NULL OR 1)' }],
    files: ['test/e2e/reencrypt-crash.test.js'],
    namePattern: 'sqlite: an application writing',
    fails: /keeps the application's last write/,
  },
  {
    breaks: 'the decommission gate is gone: the old key is retired with rows still under it',
    patches: [{ under: 'dist/bundle', find: 'left.rows>0&&await holdDecommission', replace: '!1&&await holdDecommission' }],
    files: ['test/e2e/reencrypt.test.js'],
    namePattern: 'sqlite: a staged re-encryption',
    fails: /decommission held while rows are under the old key/,
  },
  {
    breaks: 'a stage over the SLO is not rolled back: its rows stay under the new key',
    patches: [{ under: 'dist/bundle', find: 'state.previous&&await', replace: 'state.previous&&!1&&await' }],
    files: ['test/e2e/reencrypt.test.js'],
    namePattern: 'sqlite: a stage over the decrypt error SLO',
    fails: /the failed stage's rows are back under the old version/,
  },
  {
    breaks: 'a row is sealed from its ciphertext, not its plaintext (encrypted twice)',
    patches: [{ under: 'dist/bundle', find: 'seal(open(value,ring,aad),ring,aad,to)', replace: 'seal(value,ring,aad,to)' }],
    files: ['test/e2e/reencrypt-crash.test.js'],
    namePattern: 'sqlite: kill -9',
    env: { REENCRYPT_CRASH_ROUNDS: '1' },
    fails: /not encrypted twice/,
  },
  {
    // The SLO check's decrypt sample catches it: the canary is rolled back.
    breaks: 'aad: row is dropped when a field is sealed again: fields come loose from their cells',
    patches: [{ under: 'dist/bundle', find: 'seal(open(value,ring,aad),ring,aad,to)', replace: 'seal(open(value,ring,aad),ring,null,to)' }],
    files: ['test/e2e/reencrypt.test.js'],
    namePattern: 'sqlite: with aad: row',
    fails: /reencrypt with aad: row: [\s\S]*"outcome": "rolled-back"[\s\S]*over the SLO/,
  },
  {
    breaks: "PostgreSQL's UPDATE no longer compares the old ciphertext: a row an application wrote meanwhile is overwritten",
    patches: [{ under: 'dist/bundle', find: 'IS NOT DISTINCT FROM v.b${i}', replace: 'IS NOT DISTINCT FROM t.${quoteName(c)}' }],
    files: ['test/e2e/reencrypt-crash.test.js'],
    namePattern: 'postgres: an application writing',
    skip: pgSkip,
    fails: /keeps the application's last write/,
  },
  {
    breaks: 'the PostgreSQL run lock is gone: a second machine re-encrypts at the same time',
    patches: [{ under: 'dist/bundle', find: 'async lockRun(id,options){return', replace: 'async lockRun(id,options){return{release:async()=>{}};return' }],
    files: ['test/e2e/reencrypt-lock.test.js'],
    namePattern: 'postgres: a second run',
    skip: pgSkip,
    fails: /the second run must be held/,
  },
  {
    breaks: 'stage records are not anchored in the store: the last of them can be cut off unseen',
    patches: [{ under: 'dist/bundle', find: 'async function anchorStageRecords(ctx,evidence,store,run){', replace: 'async function anchorStageRecords(ctx,evidence,store,run){return;' }],
    files: ['test/e2e/reencrypt-evidence.test.js'],
    namePattern: 'edited, re-chained or cut off',
    fails: /the run anchored its records in the store/,
  },
  {
    breaks: 'a stage record a kill cut off from its checkpoint is appended again by the rerun',
    patches: [{ under: 'dist/bundle', find: 'state.pendingRecord&&await inLog(', replace: 'state.pendingRecord&&!1&&await inLog(' }],
    files: ['test/e2e/reencrypt-crash.test.js'],
    namePattern: 'sqlite: kill -9 right after a stage record',
    fails: /is logged twice/,
  },
  {
    breaks: 'a re-wrap run (reencrypt <master>) does not sign or anchor its records',
    patches: [{ under: 'dist/bundle', find: 'async function endRewrapRun(ctx,evidence,entries,run){', replace: 'async function endRewrapRun(ctx,evidence,entries,run){return;' }],
    files: ['test/e2e/reencrypt-hierarchy-signed.test.js'],
    namePattern: 'a re-wrap run ends signed',
    fails: /the run ends with a signed record over its records/,
  },
  {
    breaks: 'a re-wrap rerun does not sign for a run killed before its signature',
    patches: [{ under: 'dist/bundle', find: 'run.logged.push({store,key,drafts})', replace: 'void 0' }],
    files: ['test/e2e/reencrypt-hierarchy-signed.test.js'],
    namePattern: 'a re-wrap run ends signed',
    fails: /each record once, then the rerun's signature/,
  },
];

for (const control of CONTROLS) {
  test(`negative control, reencrypt: fails against a build where ${control.breaks}`, { timeout: 300_000, skip: control.skip ?? false }, async (t) => {
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
