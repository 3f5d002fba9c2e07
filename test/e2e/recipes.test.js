// docs/recipes/ run as written: the GitHub Actions workflow and the Kubernetes CronJob are read from
// their pages, and the commands they run are executed as GitHub and the kubelet would run them, so a
// recipe cannot drift from the code. The workflow runs against the loopback Secrets Manager.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { baseEnv, cli, readEvidence, root, tempProject, writeFiles, assertNoStackTrace } from '../helpers/cli.js';
import { awsEnv, secretsManagerPolicy } from '../helpers/aws.js';
import { keyshiftOnPath } from '../helpers/shard-recipe.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';
import { startS3 } from '../fakes/s3/server.js';

const DAY = 86_400_000;
const recipe = (name) => {
  const page = readFileSync(join(root, 'docs', 'recipes', name), 'utf8');
  const block = /^```yaml\n([\s\S]*?)^```$/m.exec(page);
  assert.ok(block, `no yaml block in docs/recipes/${name}`);
  return parse(block[1]);
};

describe('docs/recipes/github-actions.md', () => {
  let sm;
  let s3;
  let fakeNow = null; // the fake's clock while seeding a secret last changed long ago
  before(async () => {
    sm = await startSecretsManager({ now: () => fakeNow ?? new Date() });
    s3 = await startS3({ buckets: { 'acme-audit-evidence': { objectLock: true } } });
  });
  after(async () => {
    await sm?.close();
    await s3?.close();
  });
  const endpoints = () => ({ AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.endpoint, AWS_ENDPOINT_URL_S3: s3.endpoint });

  const workflow = recipe('github-actions.md');

  /** A checkout whose old-token keyshift last rotated 200 days ago (interval 90d) and fresh-token today. */
  async function checkout() {
    const dir = tempProject('keyshift-gha-');
    const id = randomBytes(4).toString('hex');
    const ids = { old: `ci/${id}/old`, fresh: `ci/${id}/fresh` };
    sm.seed(ids.old, { value: 'old-value' });
    sm.seed(ids.fresh, { value: 'fresh-value' });
    writeFiles(dir, { 'policies/aws.yaml': secretsManagerPolicy(undefined, [{ name: 'old-token', secretId: ids.old }, { name: 'fresh-token', secretId: ids.fresh }], { interval: '90d' }).replaceAll(', endpoint: "undefined"', '') });
    const env = awsEnv({ AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.endpoint });
    fakeNow = new Date(Date.now() - 200 * DAY);
    const past = await cli(['rotate', 'old-token', '--force', '--reason', 'setup', '--fallback-window', '0'], { cwd: dir, env: { ...env, KEYSHIFT_NOW: fakeNow.toISOString() } });
    fakeNow = null;
    const today = await cli(['rotate', 'fresh-token', '--force', '--reason', 'setup', '--fallback-window', '0'], { cwd: dir, env });
    assert.deepEqual([past.code, today.code], [0, 0], past.stderr + today.stderr);
    rmSync(join(dir, 'evidence'), { recursive: true }); // a CI checkout starts without evidence
    return { dir, ids };
  }

  test('a pull request runs validate and plan, and changes nothing', async () => {
    const { dir, ids } = await checkout();
    const versions = sm.inspect(ids.old).versions.length;
    const ran = await runWorkflow(workflow, { event: 'pull_request', dir, endpoints: endpoints() });
    assert.deepEqual(ran.jobs, ['plan']);
    assert.deepEqual(ran.steps.map((s) => [s.run, s.code]), [['keyshift validate', 0], ['keyshift plan --horizon 14d', 0]]);
    assert.match(ran.steps[1].stdout, /old-token +prod +rotate/);
    assert.equal(sm.inspect(ids.old).versions.length, versions, 'plan changed nothing');
  });

  test('the daily schedule rotates what is due, checks, verifies and leaves the artifact', async () => {
    const { dir, ids } = await checkout();
    const freshVersions = sm.inspect(ids.fresh).versions.length;
    const ran = await runWorkflow(workflow, { event: 'schedule', dir, endpoints: endpoints() });
    assert.deepEqual(ran.jobs, ['rotate']);
    for (const step of ran.steps) assert.equal(step.code, 0, `${step.run}\n${step.stdout}\n${step.stderr}`);
    assert.deepEqual(ran.steps.map((s) => s.name ?? s.run), ['Rotate', 'Check', 'Verify the evidence', 'Ship the evidence']);
    // The run's records are in the bucket, byte for byte, each object under Object Lock.
    const shipped = s3.keys('acme-audit-evidence', 'keyshift/');
    assert.ok(shipped.length >= 1, 'nothing was shipped');
    const bodies = shipped.map((key) => s3.versions('acme-audit-evidence', key).at(-1));
    assert.equal(bodies.map((v) => String(v.body)).join(''), readFileSync(join(dir, 'evidence', 'evidence.jsonl'), 'utf8'));
    for (const v of bodies) assert.equal(v.retention?.mode, 'COMPLIANCE');
    const results = JSON.parse(readFileSync(join(dir, 'rotate.json'), 'utf8')).results;
    assert.equal(results.find((r) => r.secret === 'old-token').outcome, 'rotated', JSON.stringify(results));
    assert.notEqual(results.find((r) => r.secret === 'fresh-token').outcome, 'rotated');
    assert.equal(sm.inspect(ids.fresh).versions.length, freshVersions);
    assert.deepEqual(ran.uploaded, ['evidence/', 'rotate.json']);
    const rotationId = results.find((r) => r.secret === 'old-token').rotationId;
    const records = readEvidence(dir).filter((r) => r.rotationId === rotationId);
    assert.deepEqual(records.map((r) => [r.event, r.reason, r.ticket]), [['issued', 'scheduled', null], ['switched', 'scheduled', null]]);
  });

  test('a manual run rotates the named secrets now, with its reason and ticket; a name is never an option', async () => {
    const { dir, ids } = await checkout();
    const inputs = { names: 'fresh-token', reason: 'suspected compromise', ticket: 'INC-42', force: true };
    const oldVersions = sm.inspect(ids.old).versions.length;
    const ran = await runWorkflow(workflow, { event: 'workflow_dispatch', inputs, dir, endpoints: endpoints() });
    const code = (name) => ran.steps.find((s) => s.name === name)?.code;
    assert.equal(code('Rotate'), 0, JSON.stringify(ran.steps));
    assert.equal(code('Verify the evidence'), 0);
    // old-token is overdue and was not named: check says so and fails the job (exit 1), as it should.
    assert.equal(code('Check'), 1);
    assert.match(ran.steps.find((s) => s.name === 'Check').stdout, /^old-token\/prod: overdue/m);
    const results = JSON.parse(readFileSync(join(dir, 'rotate.json'), 'utf8')).results;
    assert.deepEqual(results.map((r) => [r.secret, r.outcome]), [['fresh-token', 'rotated']]);
    assert.equal(sm.inspect(ids.old).versions.length, oldVersions, 'the secret not named is not touched');
    const records = readEvidence(dir).filter((r) => r.rotationId === results[0].rotationId);
    assert.deepEqual(records.map((r) => [r.event, r.secret, r.reason, r.ticket]), [['issued', 'fresh-token', 'suspected compromise', 'INC-42'], ['switched', 'fresh-token', 'suspected compromise', 'INC-42']]);

    const injected = await runWorkflow(workflow, { event: 'workflow_dispatch', inputs: { ...inputs, names: '--all *' }, dir, endpoints: endpoints() });
    const rotate = injected.steps.find((s) => s.name === 'Rotate');
    assert.equal(rotate.code, 2, rotate.stderr);
    assert.match(rotate.stderr, /unknown secret "--all", "\*"/);
    assertNoStackTrace(assert, rotate.stderr);
    assert.equal(sm.inspect(ids.old).versions.length, oldVersions);
    assert.deepEqual(injected.steps.filter((s) => s.name !== 'Rotate').map((s) => s.name), ['Check', 'Verify the evidence', 'Ship the evidence'], 'if: always() steps still run');
    assert.deepEqual(injected.uploaded, ['evidence/', 'rotate.json']);
  });
});

describe('docs/recipes/kubernetes-cronjob.md', () => {
  const cronJob = recipe('kubernetes-cronjob.md');
  const container = cronJob.spec.jobTemplate.spec.template.spec.containers[0];

  /** The container as the kubelet starts it; `/work` (the volume) is `dir`, the Secret is `masterKey`. */
  function runPod(dir, { masterKey, extraEnv = {} }) {
    assert.equal(container.workingDir, '/work');
    const env = { ...baseEnv(), PATH: `${keyshiftOnPath(dir)}:${process.env.PATH}`, ...extraEnv };
    for (const variable of container.env) {
      if (variable.value !== undefined) env[variable.name] = variable.value;
      else if (variable.valueFrom?.secretKeyRef?.name === 'keyshift-master-key') env[variable.name] = masterKey;
      else assert.fail(`env ${variable.name}: no stand-in for ${JSON.stringify(variable.valueFrom)}`);
    }
    const [command, ...flags] = container.command;
    const result = spawnSync(command, [...flags, ...container.args], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  test('the CronJob provisions, rotates what falls due, writes metrics, and fails the pod when a rotation fails', () => {
    const dir = tempProject('keyshift-cron-');
    cpSync(join(root, 'policies'), join(dir, 'policies'), { recursive: true, filter: (src) => !src.includes(join('policies', 'aws')) && !src.includes(join('policies', 'k8s')) });
    writeFiles(dir, { 'evidence/.keep': '', 'metrics/.keep': '' });
    const masterKey = randomBytes(32).toString('base64');

    const first = runPod(dir, { masterKey });
    assert.equal(first.code, 0, first.stderr);
    const provisioned = JSON.parse(readFileSync(join(dir, 'evidence', 'last-run.json'), 'utf8')).results;
    assert.ok(provisioned.length >= 10 && provisioned.every((r) => r.outcome === 'provisioned'));
    const metrics = readFileSync(join(dir, 'metrics', 'keyshift.prom'), 'utf8');
    assert.match(metrics, /^keyshift_secret_overdue\{secret="token-encryption-key",environment="prod"\} 0$/m);
    assert.ok(readEvidence(dir).every((r) => r.operator === 'cronjob/keyshift-rotate' && r.reason === 'scheduled (CronJob)'));

    // 100 days later: the 90-day keys are due, the others not.
    const later = runPod(dir, { masterKey, extraEnv: { KEYSHIFT_NOW: new Date(Date.now() + 100 * DAY).toISOString() } });
    assert.equal(later.code, 0, later.stderr);
    const rotated = JSON.parse(readFileSync(join(dir, 'evidence', 'last-run.json'), 'utf8')).results.filter((r) => r.outcome === 'rotated').map((r) => r.secret);
    assert.deepEqual([...new Set(rotated)].sort(), ['data-encryption-key', 'token-encryption-key']);

    // The Secret holds the wrong key: every rotation fails, so does the pod (Kubernetes retries it).
    const broken = runPod(dir, { masterKey: randomBytes(32).toString('base64'), extraEnv: { KEYSHIFT_NOW: new Date(Date.now() + 200 * DAY).toISOString() } });
    assert.equal(broken.code, 1, broken.stderr);
    assertNoStackTrace(assert, broken.stderr);
    assert.ok(JSON.parse(readFileSync(join(dir, 'evidence', 'last-run.json'), 'utf8')).results.some((r) => r.outcome === 'failed'));
  });
});

/**
 * Runs a workflow for one event as GitHub would: jobs and steps whose `if:` holds, `${{ }}` filled
 * in, `run:` steps with bash -e in the checkout `dir`, stopping at a failed step except for steps
 * that say `if: always()`. The `uses:` steps GitHub provides have stand-ins; any other fails.
 */
async function runWorkflow(workflow, { event, inputs = {}, dir, endpoints }) {
  assert.ok(event in workflow.on, `the workflow does not run on ${event}`);
  const context = { github: { event_name: event, run_id: '4242' }, inputs: event === 'workflow_dispatch' ? inputs : {}, secrets: { KEYSHIFT_FINGERPRINT_KEY: randomBytes(32).toString('base64') } };
  const ran = { jobs: [], steps: [], uploaded: null };
  for (const [name, job] of Object.entries(workflow.jobs)) {
    if (job.if !== undefined && !evaluate(job.if, context, true)) continue;
    ran.jobs.push(name);
    let env = { ...awsEnv(), PATH: `${keyshiftOnPath(dir)}:${process.env.PATH}`, ...fill(job.env ?? {}, context) };
    let failed = false;
    for (const step of job.steps) {
      const status = { success: !failed, failure: failed };
      if (!(step.if === undefined ? !failed : evaluate(step.if, context, status))) continue;
      if (step.uses) {
        const action = step.uses.split('@')[0];
        if (action === 'actions/checkout' || action === 'actions/setup-node') continue;
        if (action === 'aws-actions/configure-aws-credentials') env = { ...env, AWS_REGION: 'us-east-1', ...endpoints };
        else if (action === 'actions/upload-artifact') {
          ran.uploaded = fill(step.with, context).path.split('\n').filter((path) => existsSync(join(dir, path)));
        } else assert.fail(`no stand-in for the step uses: ${step.uses}`);
        continue;
      }
      if (step.run === 'npm install -g keyshift') continue; // keyshift is on the PATH
      // Not spawnSync: the loopback Secrets Manager in this process must keep answering.
      const result = await bash(step.run, { cwd: dir, env: { ...env, ...fill(step.env ?? {}, context) } });
      ran.steps.push({ name: step.name, run: step.run, code: result.status, stdout: result.stdout, stderr: result.stderr });
      if (result.status !== 0) failed = true;
    }
  }
  return ran;
}

function bash(script, options) {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-e', '-c', script], { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** `${{ expr }}` in every string value, as GitHub renders them (null and undefined as ''). */
function fill(value, context) {
  if (typeof value === 'string') return value.replace(/\$\{\{(.+?)\}\}/g, (_, expression) => String(evaluate(expression, context, true) ?? ''));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, context)]));
  return value;
}

/** The expressions these workflows use (`==`, `!=`, `&&`, `||`, literals, contexts, status functions) are JavaScript's too. */
function evaluate(expression, context, status) {
  const body = expression.trim().replace(/^\$\{\{([\s\S]*)\}\}$/, '$1');
  const { success = true, failure = false } = typeof status === 'object' ? status : {};
  return new Function('github', 'inputs', 'secrets', 'always', 'success', 'failure', `return (${body});`)(context.github, context.inputs, context.secrets, () => true, () => success, () => failure);
}
