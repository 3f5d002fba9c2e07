// `keyshift doctor --fix` on a store with repairs of its own (src/engine/doctor/repair.ts, store-ops)
// and cross-machine leases: aws-secrets-manager through the real SDK against the loopback Secrets
// Manager (test/fakes/secrets-manager.js), in-process. A foreign AWSPENDING is removed with a
// `repaired` record; while another runner holds the secret's lease a stuck rotation is left (exit 3).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutSecretValueCommand, TagResourceCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { loadPolicies } from '../../dist/policy/load.js';
import { doctorRun } from '../../dist/engine/doctor/index.js';
import { rotateRun } from '../../dist/engine/runner.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';
import { secretsManagerClient } from '../fakes/clients.js';
import { quiet } from '../helpers/doctor-project.js';

const TOKEN = 'f1000000-0000-4000-8000-000000000000';
const HOLDER = 'keyshift rotate by someone run run-0123456789ab on another-machine pid 4242';
let fake;
let client;
before(async () => {
  // The SDK's default credential chain reads the process environment (as the CLI's does).
  Object.assign(process.env, { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test', AWS_EC2_METADATA_DISABLED: 'true' });
  fake = await startSecretsManager({ quotas: false });
  client = secretsManagerClient(fake, { maxAttempts: 1 });
});
after(async () => {
  client?.destroy();
  await fake?.close();
});

/** A project whose secret `db` is the Secrets Manager secret `id` (one AWSCURRENT), with AWSPENDING of someone else on TOKEN unless `foreign` is false. */
async function project(t, id, { foreign = true } = {}) {
  fake.seed(id, { versions: [{ id: 'a0000000-0000-4000-8000-000000000000', value: 'old', stages: ['AWSCURRENT'] }] });
  if (foreign) await client.send(new PutSecretValueCommand({ SecretId: id, ClientRequestToken: TOKEN, SecretString: 'someone else', VersionStages: ['AWSPENDING'] }));
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-doctor-sm-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies', 'p.yaml'), `secrets:\n  - name: db\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, length: 24, charset: alphanumeric }\n    environments:\n      - name: prod\n        store: { type: aws-secrets-manager, secretId: ${id}, region: us-east-1, endpoint: "${fake.endpoint}" }\n`);
  const env = { AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', KEYSHIFT_STATE_DIR: join(dir, 'state'), KEYSHIFT_OPERATOR: 'tester' };
  const loaded = await loadPolicies('policies', { cwd: dir, env });
  assert.deepEqual(loaded.errors, []);
  const ctx = { cwd: dir, env, now: () => new Date(), logger: quiet, evidenceDir: join(dir, 'evidence'), lockWaitMs: 200 };
  return {
    dir,
    doctor: (fix) => doctorRun(ctx, loaded.policies, { names: [], all: true, envs: [], fix }),
    rotate: () => rotateRun(ctx, loaded.policies, { names: [], all: true, envs: [], force: true, reason: 'test', concurrency: 1 }),
    labels: () => JSON.stringify(fake.inspect(id).versions.map((v) => [v.id, [...v.stages].sort()])),
    pendingOn: () => fake.inspect(id).versions.find((v) => v.stages.includes('AWSPENDING'))?.id,
    evidence: () => readFileSync(join(dir, 'evidence', 'evidence.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line)),
  };
}

describe('aws-secrets-manager: the store\'s own repair, and leases', () => {
  it('--fix removes it through the store, with one repaired record naming the version; then nothing is left', async (t) => {
    const p = await project(t, 'doctor-unit/foreign');
    const seen = await p.doctor(false);
    assert.equal(seen.exitCode, 1);
    assert.deepEqual(seen.findings.map((f) => [f.check, f.secret, f.environment, f.severity, f.fixable, f.fixed]), [['foreign-pending', 'db', 'prod', 'error', true, false]]);
    const report = await p.doctor(true);
    assert.equal(report.exitCode, 0, JSON.stringify(report.findings));
    assert.deepEqual(report.findings.map((f) => [f.check, f.fixed, f.message]), [['foreign-pending', true, seen.findings[0].message]]);
    assert.equal(p.pendingOn(), undefined, 'AWSPENDING is gone from the foreign version');
    const repaired = p.evidence().filter((e) => e.event === 'repaired');
    assert.equal(repaired.length, 1);
    const [record] = repaired;
    assert.deepEqual([record.secret, record.environment, record.store, record.rotationId, record.fromVersion, record.toVersion, record.reason], ['db', 'prod', 'aws-secrets-manager', null, TOKEN, null, 'doctor --fix']);
    assert.equal(record.checks.length, 1);
    assert.equal(record.checks[0].check, 'foreign-pending');
    assert.match(record.checks[0].action, new RegExp(`AWSPENDING.*${TOKEN}`));
    assert.equal(p.evidence().at(-1).event, 'repaired');
    assert.deepEqual(await p.doctor(false), { findings: [], notes: [], exitCode: 0, evidenceFile: null });
  });

  it('a stuck rotation while another runner holds the secret\'s lease: not resumed, the finding names the holder, exit 3; once free, resumed', async (t) => {
    const id = 'doctor-unit/leased';
    const p = await project(t, id, { foreign: false });
    // A rotation whose new version was never created (PutSecretValue denied): failed, resumable.
    const allow = fake.deny({ op: 'PutSecretValue', resource: id });
    assert.equal((await p.rotate()).exitCode, 1);
    allow();
    const labelled = (stage) => fake.inspect(id).versions.find((v) => v.stages.includes(stage))?.id;
    // A live lease of a runner on another machine, as it sits in the secret: label detached, tag live.
    await client.send(new TagResourceCommand({ SecretId: id, Tags: [{ Key: 'keyshift:lease', Value: `${Date.now() + 3_600_000} 3b241101-e2bb-4255-8caf-4136c566a962 ${HOLDER}` }] }));
    await client.send(new UpdateSecretVersionStageCommand({ SecretId: id, VersionStage: 'KEYSHIFT_LEASE', RemoveFromVersionId: labelled('KEYSHIFT_LEASE') }));
    const before = p.labels();
    const left = await p.doctor(true);
    assert.equal(left.exitCode, 3, JSON.stringify(left.findings));
    assert.deepEqual(left.findings.map((f) => [f.check, f.fixable, f.fixed]), [['stale-pending', true, false]]);
    assert.match(left.findings[0].message, new RegExp(`; not repaired: .*${HOLDER}`));
    assert.equal(p.labels(), before, 'nothing changed');
    await client.send(new UpdateSecretVersionStageCommand({ SecretId: id, VersionStage: 'KEYSHIFT_LEASE', MoveToVersionId: labelled('AWSCURRENT') }));
    const fixed = await p.doctor(true);
    assert.equal(fixed.exitCode, 0, JSON.stringify(fixed.findings));
    assert.deepEqual(fixed.findings.map((f) => [f.check, f.fixed]), [['stale-pending', true]]);
    assert.match(fake.inspect(id).tags['keyshift:lease'] ?? '', / doctor --fix/, 'the lease named doctor --fix as its holder');
  });

  it('a lease that cannot be taken for another reason (access denied): not repaired, exit 1; then resumed and the lease released', async (t) => {
    const id = 'doctor-unit/denied';
    const p = await project(t, id, { foreign: false });
    const allow = fake.deny({ op: 'PutSecretValue', resource: id });
    assert.equal((await p.rotate()).exitCode, 1);
    allow();
    const undo = fake.deny({ op: 'TagResource', resource: id });
    const left = await p.doctor(true);
    undo();
    assert.equal(left.exitCode, 1, JSON.stringify(left.findings));
    assert.deepEqual(left.findings.map((f) => [f.check, f.fixed]), [['stale-pending', false]]);
    assert.match(left.findings[0].message, /; not repaired: /);
    const fixed = await p.doctor(true);
    assert.equal(fixed.exitCode, 0, JSON.stringify(fixed.findings));
    const current = fake.inspect(id).versions.find((v) => v.stages.includes('AWSCURRENT'));
    assert.ok(current.stages.includes('KEYSHIFT_LEASE'), 'the lease was released onto AWSCURRENT');
  });

  it('doctor closes its stores: the Secrets Manager client it opened keeps no connection open after it returns', async (t) => {
    const p = await project(t, 'doctor-unit/closed', { foreign: false });
    const settled = async (most) => {
      for (let i = 0; i < 100 && fake.openConnections() > most; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      return fake.openConnections();
    };
    const before = await settled(Infinity);
    for (const fix of [false, true]) {
      const report = await p.doctor(fix);
      assert.equal(report.exitCode, 0, JSON.stringify(report.findings));
      assert.ok((await settled(before)) <= before, `doctor${fix ? ' --fix' : ''} left ${fake.openConnections() - before} connection(s) open`);
    }
  });
});
