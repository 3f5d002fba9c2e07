// Negative controls: each proof suite (crash, concurrency, leaks, fault, evidence fuzz) runs a small
// slice of itself once more against a copy of the build broken in exactly what it guards, and must
// fail there, on the check that guards it. A suite that passed a broken build would prove nothing.
// The broken copies are made by string replacement in a copy of dist/ (test/helpers/broken-build.js);
// a replacement that no longer matches fails the control, so a refactor cannot make it vacuous.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brokenBuild, runSuiteAgainst, summaryOf } from '../helpers/broken-build.js';

const CONTROLS = [
  {
    suite: 'crash',
    breaks: 'write-ahead skipped: a store write no longer carries the evidence drafts it announces',
    patches: [{
      under: 'dist/bundle',
      find: 'function announceDrafts(state,run,drafts){return[...state.pendingEvents.filter(d=>d.runId===run.runId),...drafts]}',
      replace: 'function announceDrafts(state,run,drafts){return[]}',
    }],
    files: ['test/reliability/crash-suite.test.js'],
    namePattern: 'local store: .* 25 secrets$',
    env: { CRASH_ROUNDS: '0.6' }, // at most 18 kills, 9 of them right after a store write (it stops at the first failure; 8 kills once all missed)
    // Either a rerun issues a second value (the count), or the next run finds the log ahead of the
    // store's anchor and refuses to build on it (the rerun does not complete): both are the break.
    fails: /its rotation was issued once|issued and switched exactly once|the run was not killed, yet exited 1: [\s\S]*the store file is older than the log/,
  },
  {
    suite: 'concurrency',
    breaks: 'lock wait 0: the default --lock-timeout is 0s, so a second run gives up at once',
    patches: [{ under: 'dist/bundle', find: 'how long to wait for another run holding a store",default:"30s"', replace: 'how long to wait for another run holding a store",default:"0s"' }],
    files: ['test/reliability/concurrency.test.js'],
    namePattern: '^local \\(a\\)',
    env: { CONCURRENCY_ROUNDS: '1' },
    fails: /exited 3 \(want 0: the default lock timeout waits for the holder\)/,
  },
  {
    suite: 'leaks',
    breaks: 'a value logged: hook output is logged without redaction',
    patches: [
      { under: 'dist/bundle', find: 'text=redactBytes(bytes,secret,truncated).toString("utf8")', replace: 'text=bytes.toString("utf8")' },
      // redactForms is imported from another chunk: (0,import_chunk_<hash>.redactForms)(…)
      { under: 'dist/bundle', find: 'redactForms)(text,forms,truncated)', replace: 'redactForms)(text,[],truncated)' },
    ],
    files: ['test/reliability/leaks-suite.test.js'],
    namePattern: '^local store: ',
    env: {},
    fails: /the canary leaked:[\s\S]*stderr of rotate/,
  },
  {
    suite: 'fault',
    breaks: 'a CreateKey whose reply was lost is retried blindly (no look for the key it may have made)',
    patches: [{ under: 'dist/bundle', find: 'found=lostReply?await this.#findKey(', replace: 'found=!1?await this.#findKey(' }],
    files: ['test/reliability/faults.test.js'],
    namePattern: '^aws-kms: 500 after apply, retries on$',
    env: { FAULT_OPS: 'CreateKey' },
    fails: /2 new keys tagged keyshift:alias \(want exactly one\)/,
  },
  {
    suite: 'evidence fuzz',
    breaks: 'evidence verify no longer compares a record with its hash',
    patches: [
      { under: 'dist/evidence/verify.js', find: 'if (recordHash(record) !== record.hash)', replace: 'if (false)' },
      // recordHash may come from another chunk: (0,import_chunk_<hash>.recordHash)(record)
      { under: 'dist/bundle', find: '(record)!==record.hash)return{seq:n,problem:"hash mismatch', replace: '(record)!==record.hash&&!1)return{seq:n,problem:"hash mismatch' },
    ],
    files: ['test/fuzz/evidence-fuzz.test.js'],
    namePattern: '^single-line edits',
    env: { FUZZ_RUNS: '60' },
    fails: /not detected: /,
  },
];

for (const control of CONTROLS) {
  test(`negative control, ${control.suite} suite: fails against a build where ${control.breaks}`, { timeout: 300_000 }, async (t) => {
    const build = brokenBuild(control.patches);
    try {
      t.diagnostic(`patched: ${build.applied.map((a) => a.file).join(', ')}`);
      const run = await runSuiteAgainst(build, control.files, { namePattern: control.namePattern, env: control.env });
      const summary = summaryOf(run.output);
      t.diagnostic(`${control.files.join(' ')} (${control.namePattern}): ${summary.fail} of ${summary.tests - summary.skipped} tests failed`);
      assert.notEqual(run.code, 0, `the suite passed a build where ${control.breaks}:\n${run.output.slice(-3000)}`);
      assert.ok(summary.fail >= 1, `the run failed without a failing test:\n${run.output.slice(-3000)}`);
      assert.match(run.output, control.fails, `the suite failed, but not on the check that guards it:\n${run.output.slice(-3000)}`);
    } finally {
      build.remove();
    }
  });
}
