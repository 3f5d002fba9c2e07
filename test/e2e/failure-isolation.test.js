// Issue 13, item 1: a store that cannot be opened, read or written fails only its own secrets. One
// `rotate --all --force` over healthy secrets beside every kind of broken store: each healthy one is
// rotated, each broken one is one `failed` (or `blocked`) result with its code, the run exits 1,
// and the evidence verifies.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { cli, tempProject, writeFiles, json, readEvidence, assertNoStackTrace } from '../helpers/cli.js';
import { awsEnv } from '../helpers/aws.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';

let sm;
let hung;
let throttled;
let closedPort;
before(async () => {
  sm = await startSecretsManager({});
  hung = await startSecretsManager({});
  throttled = await startSecretsManager({});
  // A port that was free a moment ago and is closed now: connections are refused.
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  closedPort = server.address().port;
  await new Promise((resolve) => server.close(resolve));
});
after(async () => {
  await Promise.all([sm?.close(), hung?.close(), throttled?.close()]);
});

const local = (name, path) => `  - name: ${name}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: prod\n        store: { type: local, path: ${path} }\n`;
const aws = (name, secretId, endpoint) =>
  `  - name: ${name}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, length: 24, charset: alphanumeric }\n    environments:\n      - name: prod\n        store: { type: aws-secrets-manager, secretId: ${secretId}, endpoint: "${endpoint}" }\n`;

// Short timeouts and few retries keep the broken stores quick; the healthy ones never need them.
const env = () => awsEnv({ KEYSHIFT_AWS_TIMEOUT_MS: '1500', AWS_MAX_ATTEMPTS: '2' });
const run = (dir, args) => cli(args, { cwd: dir, env: env() });

test('rotate --all --force rotates every healthy secret and reports each broken store with its code', async () => {
  for (const id of ['ok/one', 'ok/denied', 'ok/managed']) sm.seed(id, { value: `seed-${id}` });
  sm.seed('ok/managed-on', { value: 'seed', rotationEnabled: true });
  hung.seed('hung/one', { value: 'seed' });
  throttled.seed('slow/one', { value: 'seed' });
  const dir = tempProject('keyshift-isolation-');
  const policy =
    'secrets:\n' +
    local('local-ok', '.keyshift/ok.store') +
    local('local-damaged', '.keyshift/damaged.store') +
    local('local-wrong-key', '.keyshift/wrongkey.store') +
    aws('aws-ok', 'ok/one', sm.endpoint) +
    aws('aws-denied', 'ok/denied', sm.endpoint) +
    aws('aws-managed', 'ok/managed-on', sm.endpoint) +
    aws('aws-hung', 'hung/one', hung.endpoint) +
    aws('aws-throttled', 'slow/one', throttled.endpoint) +
    aws('aws-unreachable', 'gone/one', `http://127.0.0.1:${closedPort}`);
  writeFiles(dir, { 'policies/all.yaml': policy });

  // Provision the local stores while they are healthy, then break two of them.
  const first = json(await run(dir, ['rotate', 'local-ok', 'local-damaged', 'local-wrong-key', '--json']));
  assert.deepEqual(first.results.map((r) => r.outcome), ['provisioned', 'provisioned', 'provisioned'], JSON.stringify(first));
  const damaged = join(dir, '.keyshift', 'damaged.store');
  const backup = readFileSync(damaged);
  const wrongKeyFile = join(dir, '.keyshift', 'wrongkey.store.key');
  const rightKey = readFileSync(wrongKeyFile);
  const bytes = Buffer.from(backup);
  bytes[bytes.length - 20] ^= 0x55;
  writeFileSync(damaged, bytes);
  copyFileSync(join(dir, '.keyshift', 'ok.store.key'), join(dir, '.keyshift', 'wrongkey.store.key'));
  const wrongKeyBefore = readFileSync(join(dir, '.keyshift', 'wrongkey.store'));

  sm.deny({ resource: 'ok/denied' });
  hung.injectFault({ kind: 'timeout', times: Infinity });
  throttled.injectFault({ kind: 'throttle', times: Infinity });

  const started = Date.now();
  const result = await run(dir, ['rotate', '--all', '--force', '--reason', 'breach drill', '--json']);
  const elapsed = Date.now() - started;
  assertNoStackTrace(assert, result.stderr);
  assert.doesNotMatch(result.stderr + result.stdout, /this is a bug/);
  assert.equal(result.code, 1, result.stderr);
  const report = json(result);
  const by = Object.fromEntries(report.results.map((r) => [r.secret, r]));
  assert.equal(report.results.length, 9, JSON.stringify(report.results));

  for (const name of ['local-ok', 'aws-ok']) assert.equal(by[name].outcome, 'rotated', `${name}: ${JSON.stringify(by[name])}`);
  const expected = {
    'local-damaged': /./,
    'local-wrong-key': /./,
    'aws-denied': /ACCESS_DENIED|DENIED/,
    'aws-hung': /./,
    'aws-throttled': /THROTTL/,
    'aws-unreachable': /./,
  };
  for (const [name, code] of Object.entries(expected)) {
    const r = by[name];
    assert.equal(r.outcome, 'failed', `${name}: ${JSON.stringify(r)}`);
    assert.match(r.error.code, code, `${name}: ${JSON.stringify(r.error)}`);
    assert.notEqual(r.error.code, 'ERR_INTERNAL', `${name}: ${JSON.stringify(r.error)}`);
    assert.ok(r.error.message.length > 0);
  }
  assert.equal(by['aws-managed'].outcome, 'blocked', JSON.stringify(by['aws-managed']));
  assert.deepEqual(readFileSync(join(dir, '.keyshift', 'wrongkey.store')), wrongKeyBefore, 'a store that cannot be read is never written');
  assert.deepEqual(readFileSync(damaged), bytes, 'a damaged store is never replaced');
  // The hung store is bounded by its timeout, not by the others' work.
  assert.ok(elapsed < 60_000, `took ${elapsed} ms`);

  const events = readEvidence(dir).filter((r) => r.event === 'switched').map((r) => r.secret).sort();
  assert.deepEqual(events, ['aws-ok', 'local-ok']);

  // The human summary says how many failed and why, and status still prints every row.
  const human = await run(dir, ['rotate', '--all', '--force', '--reason', 'again']);
  assert.equal(human.code, 1);
  assertNoStackTrace(assert, human.stderr);
  assert.match(human.stdout + human.stderr, /failed/);

  assert.match(human.stdout, /why: .*ERR_STORE_ACCESS_DENIED/);

  // status prints every row; the broken ones as `unknown` with the error. plan: `action: "error"`.
  const status = await run(dir, ['status', '--json']);
  assert.equal(status.code, 1, status.stderr);
  const rows = Object.fromEntries(json(status).secrets.map((r) => [r.secret, r]));
  assert.equal(Object.keys(rows).length, 9);
  for (const name of ['local-ok', 'aws-ok', 'aws-managed']) assert.notEqual(rows[name].phase, 'unknown', name);
  for (const name of Object.keys(expected)) {
    assert.equal(rows[name].phase, 'unknown', `${name}: ${JSON.stringify(rows[name])}`);
    assert.equal(rows[name].error.code, by[name].error.code, name);
  }
  const plan = await run(dir, ['plan', '--json']);
  assert.equal(plan.code, 1, plan.stderr);
  const actions = Object.fromEntries(json(plan).actions.map((a) => [a.secret, a]));
  for (const name of Object.keys(expected)) assert.equal(actions[name].action, 'error', `${name}: ${JSON.stringify(actions[name])}`);
  assert.notEqual(actions['local-ok'].action, 'error');

  // Once the broken stores are mended (and the dead endpoint dropped from the policy), the evidence
  // verifies against every store's anchor. (`evidence verify` itself is not isolated per store yet.)
  writeFileSync(damaged, backup);
  writeFileSync(wrongKeyFile, rightKey);
  sm.allow();
  hung.clearFaults();
  throttled.clearFaults();
  writeFiles(dir, { 'policies/all.yaml': policy.slice(0, policy.indexOf('  - name: aws-unreachable')) });
  const verify = await run(dir, ['evidence', 'verify']);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});
