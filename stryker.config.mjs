// Mutation testing (not in CI: it takes minutes to hours). Run one folder at a time:
//   npm run mutate -- evidence        (or stores/local, policy, engine, engine/doctor; no argument = all five)
// scripts/mutate.js sets KEYSHIFT_MUTATE to the folder; this file picks the source files to mutate
// and the fast tests that cover them. Results and the review of survivors: test/MUTATION.md.
const FOLDERS = {
  evidence: [
    'test/unit/evidence-export.test.js',
    'test/unit/evidence-merge.test.js',
    'test/unit/evidence-ship.test.js',
    'test/unit/evidence-sign-keys.test.js',
    'test/unit/evidence-sign.test.js',
    'test/unit/evidence.test.js',
    'test/unit/evidence-anchors.test.js',
    'test/unit/evidence-tamper.test.js',
    'test/unit/evidence-problems.test.js',
    'test/unit/evidence-boundaries.test.js',
    'test/unit/evidence-edges.test.js',
    'test/unit/expected-state-checkpoint.test.js',
    'test/unit/expected-state-fold.test.js',
    'test/unit/evidence-index-events.test.js',
    'test/unit/evidence-gaps.test.js',
  ],
  // Fast, targeted files first: a mutant runs its covering files in this order and stops at the first failure.
  'stores/local': [
    'test/unit/local-entry-text.test.js',
    'test/unit/local-entry-codec.test.js',
    'test/unit/local-store-file.test.js',
    'test/unit/local-entry-ops.test.js',
    'test/unit/local-master-key.test.js',
    'test/unit/local-file-format.test.js',
    'test/unit/local-log-reader.test.js',
    'test/unit/local-append-log.test.js',
    'test/unit/local-queued-writes.test.js',
    'test/unit/local-store-calls.test.js',
    'test/unit/local-legacy-codec.test.js',
    'test/unit/local-store-errors.test.js',
    'test/unit/local-record-codec.test.js',
    'test/unit/local-store-format.test.js',
    'test/unit/local-store.test.js',
    'test/unit/local-store-processes.test.js',
  ],
  // The new files first: each a few targeted cases, so a mutant they kill stops there.
  policy: [
    'test/unit/policy-schema-rules.test.js',
    'test/unit/policy-schema-edges.test.js',
    'test/unit/policy-schema-values.test.js',
    'test/unit/policy-files.test.js',
    'test/unit/policy-normalise.test.js',
    'test/unit/policy-cache.test.js',
    'test/unit/policy-messages.test.js',
    'test/unit/policy-value-rules.test.js',
    'test/unit/policy-edges.test.js',
    'test/unit/durations.test.js',
    'test/unit/policy-load.test.js',
    'test/unit/policy-hooks.test.js',
    'test/unit/policy-rollout.test.js',
    'test/unit/policy-plugin.test.js',
    'test/unit/policy-store-vault-command.test.js',
    'test/unit/policy-load-large.test.js',
  ],
  // src/engine/doctor is its own part (own incremental file) so it can be measured beside the rest.
  'engine/doctor': ['test/unit/doctor-checks.test.js', 'test/unit/doctor-store.test.js', 'test/unit/doctor-repair.test.js', 'test/unit/doctor-plugin.test.js', 'test/unit/doctor-fix-edges.test.js', 'test/unit/doctor-aws.test.js'],
  // engine-run-residue first: a few targeted cases for the survivors of runner.ts and run-info.ts (a mutant it kills stops there).
  engine: ['test/unit/engine-run-residue.test.js', 'test/unit/engine-queued-writes.test.js', 'test/unit/engine-rollback-residue.test.js', 'test/unit/engine-selection.test.js', 'test/unit/engine-gates.test.js', 'test/unit/engine-results.test.js', 'test/unit/engine-advance.test.js', 'test/unit/planner.test.js', 'test/unit/engine-state.test.js', 'test/unit/shard-parse.test.js', 'test/unit/shard-share.test.js', 'test/unit/steps.test.js', 'test/unit/store-rollback.test.js', 'test/unit/store-rollback-stores.test.js', 'test/unit/engine-rotate-run.test.js', 'test/unit/engine-rollback-run.test.js', 'test/unit/engine-inspect.test.js', 'test/unit/engine-leases.test.js', 'test/unit/engine-run-parts.test.js', 'test/unit/engine-run-gaps.test.js'],
};

const folder = process.env.KEYSHIFT_MUTATE;
if (!folder || !FOLDERS[folder]) {
  throw new Error(`set KEYSHIFT_MUTATE to one of ${Object.keys(FOLDERS).join(', ')} (npm run mutate -- <folder>)`);
}
const slug = folder.replace('/', '-');

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: folder === 'engine' ? ['src/engine/**/*.ts', '!src/engine/doctor/**/*.ts'] : [`src/${folder}/**/*.ts`],
  testRunner: 'tap',
  tap: { testFiles: FOLDERS[folder], forceBail: true },
  // Tests import dist/ (tsc output): one build of the instrumented sources, mutants switched by env.
  buildCommand: 'tsc -p tsconfig.json',
  coverageAnalysis: 'perTest',
  concurrency: 2,
  // Generous: on the shared machine a slow test run must not pass for a "timed out" (killed) mutant.
  // Endless loops in mutated code are stopped early by Stryker's hit limit, not by this timeout.
  timeoutMS: 60000,
  timeoutFactor: 3,
  incremental: true,
  incrementalFile: `test/mutation/incremental-${slug}.json`,
  ignorePatterns: ['/dist', '/reports', '/bench/.tmp', '/.keyshift', '/evidence', '/test/mutation'],
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${slug}.html` },
  jsonReporter: { fileName: `reports/mutation/${slug}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: false, maxTestsToLog: 0 },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
