// bench/call-counts.js is the one table of what a rotation calls (the benchmarks' quota floors and
// the fault suite use it). A forced rotation of one secret and of one key against the fakes, its
// calls counted from the fake's call log: any drift from the table fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CALLS_PER_ROTATION, perQuotaClass, totalCalls } from '../../bench/call-counts.js';
import { FAULT_STORES } from '../reliability/fault-stores.js';
import { QUOTA_CLASS_OF as SM_CLASSES } from '../fakes/secrets-manager.js';
import { cli, tempProject, writeFiles, json } from '../helpers/cli.js';
import { awsEnv } from '../helpers/aws.js';

for (const [store, fakeStore] of Object.entries(FAULT_STORES)) {
  test(`${store}: one forced rotation makes exactly the calls bench/call-counts.js says`, async () => {
    const fake = await fakeStore.start();
    try {
      const victim = fakeStore.seed(fake, 'count', 1);
      const dir = tempProject('keyshift-call-counts-');
      writeFiles(dir, { 'policies/p.yaml': fakeStore.policy(fake, [victim]) });
      const run = await cli(['rotate', victim.name, '--force', '--reason', 'count', '--json'], { cwd: dir, env: awsEnv() });
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.deepEqual(json(run).results.map((r) => r.outcome), ['rotated']);
      const made = {};
      for (const call of fake.calls) made[call.op] = (made[call.op] ?? 0) + 1;
      assert.deepEqual(made, CALLS_PER_ROTATION[store], `a rotation's calls changed: update bench/call-counts.js to ${JSON.stringify(made)}`);
      assert.equal(fake.calls.length, totalCalls(store));
    } finally {
      await fake.close();
    }
  });
}

test('per quota class: a Secrets Manager rotation writes 5 versionWrites (1 PutSecretValue, 4 stage moves) and 3 tags', () => {
  assert.deepEqual(perQuotaClass('aws-secrets-manager', SM_CLASSES, ['versionWrites', 'tags']), { versionWrites: 5, tags: 3 });
  assert.throws(() => perQuotaClass('aws-secrets-manager', {}, ['tags']), /names no quota class for DescribeSecret/);
});
