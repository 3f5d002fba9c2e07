// Value checks (`validate:` on a secret) as a user meets them: a command generator whose output
// breaks a rule fails that secret with ERR_VALUE_REJECTED naming the rule, and the value reaches no
// store, output, log or evidence (a canary); `keyshift validate --values` checks what the stores
// hold without printing it; rules a random generator can never meet are policy errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertNoStackTrace, json, readEvidence, runCli, tempProject, writeFiles } from '../helpers/cli.js';

const CANARY = 'CANARY-7f3a-aaaaaaaa';
const GOOD = 'Zq8rT2mW9xK4vB7nL1pD6sH3jF5gC0aE';

const policy = (rules) => `secrets:
  - name: api-key
    interval: 30d
    fallbackWindow: 1h
    generator: { type: command, run: [./issue.sh] }
    validate: ${rules}
    environments:
      - name: dev
        store: { type: dotenv, path: .env, name: API_KEY }
  - name: token
    interval: 30d
    fallbackWindow: 1h
    generator: { type: random, bytes: 32 }
    validate: { minLength: 44, minEntropyBits: 128, forbidRepeats: 6 }
    environments:
      - name: dev
        store: { type: local, path: .keyshift/dev.store }
`;

/** A project whose issuer prints what `next-value` holds. */
function project(rules = '{ minLength: 32, minEntropyBits: 128, pattern: "[A-Za-z0-9]+", forbidPrevious: true, forbidRepeats: 4 }') {
  const dir = tempProject('keyshift-values-');
  writeFiles(dir, { 'policies/p.yaml': policy(rules), 'issue.sh': '#!/bin/sh\ncat next-value\n', 'next-value': `${CANARY}\n` });
  chmodSync(join(dir, 'issue.sh'), 0o755);
  return dir;
}

function assertNotPrinted(...outputs) {
  for (const text of outputs) assert.ok(!text.includes(CANARY), `the value was printed:\n${text}`);
}

function assertNoCanary(dir, ...outputs) {
  assertNotPrinted(...outputs);
  for (const file of ['.env', '.env.keyshift.json', 'evidence/evidence.jsonl']) {
    if (existsSync(join(dir, file))) assert.ok(!readFileSync(join(dir, file), 'utf8').includes(CANARY), `the rejected value reached ${file}`);
  }
}

test('a value that fails its rules is never stored: ERR_VALUE_REJECTED names the rules, the other secret rotates, a rerun with a good value provisions', () => {
  const dir = project();
  const rejected = runCli(['rotate', '--all', '--json', '--log-level', 'debug'], { cwd: dir });
  assert.equal(rejected.code, 1, rejected.stderr);
  assertNoStackTrace(assert, rejected.stderr);
  const results = json(rejected).results;
  const apiKey = results.find((r) => r.secret === 'api-key');
  assert.equal(apiKey.outcome, 'failed');
  assert.equal(apiKey.error.code, 'ERR_VALUE_REJECTED');
  // The canary is 20 characters, has 8 a's in a row and a dash: three rules fail, entropy is about 66 bits.
  for (const rule of ['validate.minLength', 'validate.minEntropyBits', 'validate.pattern', 'validate.forbidRepeats']) assert.match(apiKey.error.message, new RegExp(rule.replace('.', '\\.')));
  assert.doesNotMatch(apiKey.error.message, /forbidPrevious/);
  assert.equal(results.find((r) => r.secret === 'token').outcome, 'provisioned', 'the other secret is not held up');
  assert.ok(!existsSync(join(dir, '.env')) || !readFileSync(join(dir, '.env'), 'utf8').includes('API_KEY'), 'nothing was stored');
  const failed = readEvidence(dir).filter((r) => r.event === 'failed');
  assert.equal(failed.length, 1);
  assert.match(failed[0].error, /ERR_VALUE_REJECTED|validate\.minLength/);
  assertNoCanary(dir, rejected.stdout, rejected.stderr);

  writeFileSync(join(dir, 'next-value'), `${GOOD}\n`);
  const good = runCli(['rotate', 'api-key', '--json'], { cwd: dir });
  assert.equal(good.code, 0, good.stderr);
  assert.equal(json(good).results[0].outcome, 'provisioned');
  assert.match(readFileSync(join(dir, '.env'), 'utf8'), new RegExp(`^API_KEY=${GOOD}$`, 'm'));

  // The issuer hands out the same value again: forbidPrevious rejects it, CURRENT stays.
  const current = json(runCli(['status', 'api-key', '--json'], { cwd: dir })).secrets[0].currentVersion;
  const again = runCli(['rotate', 'api-key', '--force', '--reason', 'test', '--json'], { cwd: dir });
  assert.equal(again.code, 1, again.stderr);
  const error = json(again).results[0].error;
  // The result names the CURRENT the rejected value would have replaced, as its evidence does.
  assert.deepEqual([json(again).results[0].fromVersion, json(again).results[0].toVersion], [current, null]);
  assert.equal(readEvidence(dir).at(-1).fromVersion, current);
  assert.equal(error.code, 'ERR_VALUE_REJECTED');
  assert.match(error.message, /validate\.forbidPrevious/);
  assert.doesNotMatch(error.message, /minLength|pattern/);
  assert.ok(!again.stdout.includes(GOOD) && !again.stderr.includes(GOOD));
  const status = json(runCli(['status', 'api-key', '--json'], { cwd: dir })).secrets[0];
  assert.equal(status.phase, 'idle', 'no rotation is left half done');
  assert.equal(status.pendingVersion, null);
  assert.equal(runCli(['evidence', 'verify'], { cwd: dir }).code, 0);
  assertNoCanary(dir);
});

test('validate --values checks the CURRENT values where they are stored and prints none of them', () => {
  const dir = project('{ minLength: 32, forbidRepeats: 4 }');
  // A value put into the .env file by hand (adopted as CURRENT), as before keyshift managed it.
  writeFiles(dir, { '.env': `OTHER=1\nAPI_KEY=${CANARY}\n` });
  const provisioned = runCli(['rotate', 'token'], { cwd: dir });
  assert.equal(provisioned.code, 0, provisioned.stderr);

  const checked = runCli(['validate', '--values', '--json'], { cwd: dir });
  assert.equal(checked.code, 1, checked.stderr);
  const document = json(checked);
  assert.equal(document.valid, false);
  const apiKey = document.values.find((v) => v.secret === 'api-key');
  assert.equal(apiKey.status, 'rejected');
  assert.deepEqual(apiKey.failed.map((f) => f.rule), ['minLength', 'forbidRepeats']);
  assert.equal(document.values.find((v) => v.secret === 'token').status, 'ok');
  const table = runCli(['validate', '--values'], { cwd: dir });
  assert.equal(table.code, 1);
  assert.match(table.stdout, /api-key +dev +v-adopted +fails validate\.minLength/);
  assertNotPrinted(checked.stdout, checked.stderr, table.stdout, table.stderr);

  // The value fixed by hand: every value passes.
  writeFiles(dir, { '.env': `OTHER=1\nAPI_KEY=${GOOD}\n` });
  const fixed = runCli(['validate', '--values', '--json'], { cwd: dir });
  assert.equal(fixed.code, 0, fixed.stdout);
  assert.equal(json(fixed).valid, true);
  assert.equal(runCli(['validate', '--env', 'dev'], { cwd: dir }).code, 2, '--env goes with --values');
});

test('bad validate: rules are policy errors naming file:line:col, the field and the fix', () => {
  const dir = tempProject('keyshift-values-');
  writeFiles(dir, {
    'policies/p.yaml': `secrets:
  - name: short
    interval: 30d
    fallbackWindow: 1h
    generator: { type: random, bytes: 16, encoding: hex }
    validate: { minLength: 40, minEntropyBits: 200 }
    environments:
      - { name: dev, store: { type: local, path: s } }
  - name: badpattern
    interval: 30d
    fallbackWindow: 1h
    generator: { type: command, run: [./issue.sh] }
    validate:
      pattern: "[a-z"
      forbidRepeat: 3
    environments:
      - { name: dev, store: { type: local, path: s } }
  - name: kms-key
    interval: 90d
    fallbackWindow: 1h
    validate: { minLength: 10 }
    environments:
      - { name: dev, store: { type: aws-kms, alias: alias/k, region: us-east-1 } }
  - name: password
    interval: 30d
    fallbackWindow: 1h
    generator: { type: random, length: 12, charset: digits }
    validate: { minEntropyBits: 64 }
    environments:
      - { name: dev, store: { type: local, path: s } }
`,
  });
  const result = runCli(['validate'], { cwd: dir });
  assert.equal(result.code, 2);
  assertNoStackTrace(assert, result.stderr);
  const lines = result.stderr.trim().split('\n');
  const expect = [
    /^policies\/p\.yaml:6:28: secrets\[0\]\.validate\.minLength: is 40 but the generator makes 32 characters; lower it/,
    /^policies\/p\.yaml:6:48: secrets\[0\]\.validate\.minEntropyBits: is 200 but the generator makes values of at most 128 bits/,
    /^policies\/p\.yaml:14:16: secrets\[1\]\.validate\.pattern: is not a valid regular expression \(.+\); e\.g\. pattern:/,
    /^policies\/p\.yaml:15:7: secrets\[1\]\.validate: unknown key "forbidRepeat"; allowed keys: minLength, minEntropyBits, pattern, forbidPrevious, forbidRepeats/,
    /^policies\/p\.yaml:21:15: secrets\[2\]\.validate: does not apply to aws-kms keys/,
    /^policies\/p\.yaml:28:33: secrets\[3\]\.validate\.minEntropyBits: is 64 but the generator makes values of at most 39 bits/,
  ];
  for (const pattern of expect) assert.ok(lines.some((line) => pattern.test(line)), `no line matches ${pattern}:\n${result.stderr}`);
  assert.equal(lines.length, expect.length, result.stderr);
});

test('validate --values reads Secrets Manager values through the SDK and prints none of them', async () => {
  const { startSecretsManager } = await import('../fakes/secrets-manager.js');
  const { awsEnv, secretsManagerPolicy } = await import('../helpers/aws.js');
  const { cli } = await import('../helpers/cli.js');
  const sm = await startSecretsManager({});
  try {
    sm.seed('app/weak', { value: CANARY });
    sm.seed('app/strong', { value: GOOD });
    const dir = tempProject('keyshift-values-');
    const rules = '\n    validate: { minLength: 24, forbidRepeats: 4 }';
    writeFiles(dir, { 'policies/aws.yaml': secretsManagerPolicy(sm.endpoint, [{ name: 'weak', secretId: 'app/weak' }, { name: 'strong', secretId: 'app/strong' }]).replaceAll('    environments:', `${rules.slice(1)}\n    environments:`) });
    const result = await cli(['validate', '--values', '--json'], { cwd: dir, env: awsEnv() });
    assert.equal(result.code, 1, result.stderr);
    const values = json(result).values;
    assert.deepEqual(values.map((v) => [v.secret, v.status, v.failed.map((f) => f.rule)]), [['weak', 'rejected', ['minLength', 'forbidRepeats']], ['strong', 'ok', []]]);
    assertNotPrinted(result.stdout, result.stderr);
    assert.equal(sm.inspect('app/weak').versions.length, 1, 'nothing was written');
  } finally {
    await sm.close();
  }
});
