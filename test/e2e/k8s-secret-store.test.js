// The k8s-secret store end to end (spawning the CLI): the shared file-store lifecycle on two
// manifests in a Git checkout with `git: { commit: true }`, plus the commits: one per change of the
// manifest, naming the rotation, never a value; the state annotation holds no value either.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileStoreLifecycle } from '../helpers/file-store-lifecycle.js';
import { CANARY, k8sFixture, readK8s } from '../helpers/file-stores.js';
import { parseAllDocuments } from 'yaml';

const GIT_ENV = { GIT_AUTHOR_NAME: 'keyshift-test', GIT_AUTHOR_EMAIL: 't@keyshift.invalid', GIT_COMMITTER_NAME: 'keyshift-test', GIT_COMMITTER_EMAIL: 't@keyshift.invalid' };
const dataKey = (secret) => secret.toUpperCase().replaceAll('-', '_');
const annotation = (dir, env) => parseAllDocuments(readFileSync(join(dir, `deploy/${env}/secret.yaml`), 'utf8'))[0].toJSON().metadata.annotations['keyshift.io/state'];

test('k8s-secret: provision, rotate with hooks, fallback, decommission, failed verify, rollback; only its keys change; commits; no leak', { timeout: 180_000 }, async () => {
  const files = { 'deploy/staging/secret.yaml': k8sFixture('staging'), 'deploy/production/secret.yaml': k8sFixture('production') };
  const { dir } = await fileStoreLifecycle({
    name: 'k8s-secret',
    files,
    store: (env) => `{ type: k8s-secret, path: deploy/${env}/secret.yaml, name: secrets-service-config, git: { commit: true } }`,
    read: (dir, env, secret) => readK8s(join(dir, `deploy/${env}/secret.yaml`), 'secrets-service-config', dataKey(secret)),
    names: ['WEBHOOK_SIGNING_KEY', 'API_TOKEN'],
    env: GIT_ENV,
    setup: (dir) => {
      execFileSync('git', ['init', '-q', dir]);
      execFileSync('git', ['-C', dir, 'add', 'deploy'], { env: { ...process.env, ...GIT_ENV } });
      execFileSync('git', ['-C', dir, 'commit', '-qm', 'manifests'], { env: { ...process.env, ...GIT_ENV } });
    },
    leakChecks: (dir) => [
      ...['staging', 'production'].map((e) => [`the keyshift.io/state annotation (${e})`, annotation(dir, e)]),
      ['git commit messages', execFileSync('git', ['-C', dir, 'log', '--format=%B'], { encoding: 'utf8' })],
    ],
  });
  const messages = execFileSync('git', ['-C', dir, 'log', '--format=%s'], { encoding: 'utf8' }).trim().split('\n');
  assert.ok(messages.length >= 8, `a commit per change of a manifest (${messages.length})`);
  assert.ok(messages.some((m) => /^keyshift: secrets-service-config\/WEBHOOK_SIGNING_KEY: issued \(rotation r-[0-9a-z-]+\)$/.test(m)), messages.join('\n'));
  assert.ok(!execFileSync('git', ['-C', dir, 'log', '--format=%B'], { encoding: 'utf8' }).includes(CANARY));
  const status = execFileSync('git', ['-C', dir, 'status', '--porcelain', 'deploy'], { encoding: 'utf8' });
  assert.equal(status, '', 'every change of the manifests is committed, and no lock or temp file is left in the checkout');
});

test('k8s-secret: a manifest whose document is not a Secret, or that names no such Secret, is a policy error (exit 2, file and line)', { timeout: 60_000 }, async () => {
  const { cli, tempProject, writeFiles, assertNoStackTrace } = await import('../helpers/cli.js');
  const dir = tempProject('keyshift-k8s-policy-');
  const policy = (name) => `secrets:\n  - name: aes-key\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 32 }\n    environments:\n      - name: prod\n        store: { type: k8s-secret, path: deploy/s.yaml, name: ${name}, key: AES_KEY }\n`;
  writeFiles(dir, { 'policies/p.yaml': policy('app-config'), 'deploy/s.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  A: b\n' });
  const before = readFileSync(join(dir, 'deploy/s.yaml'), 'utf8');
  for (const command of [['rotate', '--all'], ['plan'], ['status']]) {
    const result = await cli(command, { cwd: dir });
    assert.equal(result.code, 2, `${command.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, /^keyshift: deploy\/s\.yaml:2:7: app-config is a ConfigMap, not a Secret; .*\n {2}hint: point the policy \(policies\/p\.yaml:7:9\) at the Secret's manifest and name\n$/);
    assertNoStackTrace(assert, result.stderr);
  }
  writeFiles(dir, { 'policies/p.yaml': policy('nope') });
  const missing = await cli(['rotate', '--all'], { cwd: dir });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^keyshift: policies\/p\.yaml:7:9: store: deploy\/s\.yaml holds no Secret named nope\n/);
  assert.equal(readFileSync(join(dir, 'deploy/s.yaml'), 'utf8'), before, 'nothing changed');
});

test('k8s-secret: the worked example in policies/k8s validates and plans as it is', { timeout: 60_000 }, async () => {
  const { cli, root } = await import('../helpers/cli.js');
  const validate = await cli(['-p', 'policies/k8s', 'validate'], { cwd: root });
  assert.equal(validate.code, 0, validate.stderr);
  const plan = await cli(['-p', 'policies/k8s', 'plan', '--json'], { cwd: root });
  assert.equal(plan.code, 0, plan.stderr);
  assert.deepEqual(JSON.parse(plan.stdout).actions.map((a) => [a.environment, a.action]), [['staging', 'none'], ['production', 'none']]);
});
