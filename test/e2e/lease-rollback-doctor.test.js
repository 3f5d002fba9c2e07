// `rollback` and `doctor --fix` change stores, so they take the same per-target lease as `rotate`
// (docs/workflow.md#leases): while another runner holds it the target is `blocked` (ERR_LEASED, exit 3
// when nothing else changed) and nothing is changed; once it is free they go ahead. Two "machines":
// machine A rotated, machine B (its own KEYSHIFT_STATE_DIR) rolls back or repairs while a runner
// of a third machine holds the lease in the secret.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { TagResourceCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { bin, cli, tempProject, writeFiles, json, assertNoStackTrace } from '../helpers/cli.js';
import { awsEnv, secretsManagerPolicy } from '../helpers/aws.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';
import { secretsManagerClient } from '../fakes/clients.js';

let sm;
let client;
before(async () => {
  sm = await startSecretsManager({ quotas: false });
  client = secretsManagerClient(sm, { maxAttempts: 1 });
});
after(async () => {
  client?.destroy();
  await sm?.close();
});

const HOLDER = 'keyshift rotate by someone run run-0123456789ab on another-machine pid 4242';

function machines(id) {
  sm.seed(id, { value: 'first-value' });
  return ['a', 'b'].map(() => {
    const dir = tempProject('keyshift-lease-rb-');
    writeFiles(dir, { 'policies/p.yaml': secretsManagerPolicy(sm.endpoint, [{ name: 'db', secretId: id }]) });
    return { dir, run: (args) => cli(args, { cwd: dir, env: awsEnv({ KEYSHIFT_STATE_DIR: join(dir, 'state') }) }) };
  });
}

const labelsOf = (id) => JSON.stringify(sm.inspect(id).versions.map((v) => [v.id, [...v.stages].sort()]));
const labelled = (id, stage) => sm.inspect(id).versions.find((v) => v.stages.includes(stage))?.id;

/** A live lease of a runner on another machine, as it sits in the secret: label detached, tag live. */
async function holdLease(id) {
  await client.send(new TagResourceCommand({ SecretId: id, Tags: [{ Key: 'keyshift:lease', Value: `${Date.now() + 3_600_000} 3b241101-e2bb-4255-8caf-4136c566a962 ${HOLDER}` }] }));
  if (!labelled(id, 'KEYSHIFT_LEASE')) return; // held already (by a runner that was killed)
  await client.send(new UpdateSecretVersionStageCommand({ SecretId: id, VersionStage: 'KEYSHIFT_LEASE', RemoveFromVersionId: labelled(id, 'KEYSHIFT_LEASE') }));
}
async function releaseLease(id) {
  await client.send(new UpdateSecretVersionStageCommand({ SecretId: id, VersionStage: 'KEYSHIFT_LEASE', MoveToVersionId: labelled(id, 'AWSCURRENT') }));
}

test('rollback on a secret another runner holds: blocked (ERR_LEASED, exit 3), nothing changed; once free, rolled back', async () => {
  const [a, b] = machines('lease-rb/db');
  assert.equal((await a.run(['rotate', 'db', '--force', '--reason', 'rotate', '--json'])).code, 0);
  await holdLease('lease-rb/db');
  const before = labelsOf('lease-rb/db');

  const blocked = await b.run(['rollback', 'db', '--reason', 'bad key', '--json']);
  assertNoStackTrace(assert, blocked.stderr);
  assert.equal(blocked.code, 3, blocked.stdout + blocked.stderr);
  const [row] = json(blocked).results;
  assert.equal(row.outcome, 'blocked', JSON.stringify(row));
  assert.equal(row.error.code, 'ERR_LEASED');
  assert.match(row.error.message, /another-machine pid 4242/, 'names the holder');
  assert.equal(labelsOf('lease-rb/db'), before, 'nothing changed');

  await releaseLease('lease-rb/db');
  const done = await b.run(['rollback', 'db', '--reason', 'bad key', '--json']);
  assert.equal(done.code, 0, done.stdout + done.stderr);
  assert.deepEqual(json(done).results.map((r) => r.outcome), ['rolled-back']);
  assert.ok(sm.inspect('lease-rb/db').versions.some((v) => v.stages.includes('KEYSHIFT_LEASE')), 'its own lease released');
});

test('doctor --fix resuming a stuck rotation that another runner holds: left (exit 3), nothing changed; once free, resumed', async () => {
  // Machine A is killed in its deploy hook, mid-rotation; its lease is then as a live runner of
  // another machine would hold it. Two hours later (KEYSHIFT_NOW), doctor on B finds the rotation stuck.
  sm.seed('lease-fix/db', { value: 'first-value' });
  const [a, b] = ['a', 'b'].map(() => {
    const dir = tempProject('keyshift-lease-fix-');
    writeFiles(dir, { 'policies/p.yaml': secretsManagerPolicy(sm.endpoint, [{ name: 'db', secretId: 'lease-fix/db', extra: '' }]).replace(/\n$/, '') + '\n        deploy: [{ run: "if [ -f hold ]; then echo started > hook.started; sleep 60; fi" }]\n' });
    return dir;
  });
  writeFiles(a, { hold: '' });
  const child = spawn(process.execPath, [bin, 'rotate', 'db', '--force', '--reason', 'killed', '--json'], { cwd: a, env: awsEnv({ KEYSHIFT_STATE_DIR: join(a, 'state') }), detached: true, stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  while (!existsSync(join(a, 'hook.started'))) {
    assert.ok(Date.now() < deadline, 'A never reached its deploy hook');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  process.kill(-child.pid, 'SIGKILL');
  await new Promise((resolve) => child.on('close', resolve));
  await holdLease('lease-fix/db');
  const before = labelsOf('lease-fix/db');
  const later = awsEnv({ KEYSHIFT_STATE_DIR: join(b, 'state'), KEYSHIFT_NOW: new Date(Date.now() + 2 * 3_600_000).toISOString() });
  const doctor = (args) => cli(['doctor', ...args, '--json'], { cwd: b, env: later });

  const found = json(await doctor([])).findings;
  assert.ok(found.some((f) => f.check === 'stale-pending' && f.fixable), JSON.stringify(found, null, 1));
  const left = await doctor(['--fix']);
  assertNoStackTrace(assert, left.stderr);
  assert.equal(left.code, 3, left.stdout + left.stderr);
  const stuck = json(left).findings.find((f) => f.check === 'stale-pending');
  assert.equal(stuck?.fixed, false, left.stdout);
  assert.match(stuck.message, /not repaired: .*another-machine pid 4242/);
  assert.equal(labelsOf('lease-fix/db'), before, 'nothing changed');

  await releaseLease('lease-fix/db');
  const fixed = await doctor(['--fix']);
  assert.equal(json(fixed).findings.find((f) => f.check === 'stale-pending')?.fixed, true, fixed.stdout + fixed.stderr);
  assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
  const pending = labelled('lease-fix/db', 'AWSPENDING');
  assert.ok(!pending || pending === labelled('lease-fix/db', 'AWSCURRENT'), 'the rotation completed: its new version is AWSCURRENT');
});
