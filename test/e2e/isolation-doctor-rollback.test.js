// Issue 13, item 1, for `doctor` and `rollback`: a store that cannot be opened, read or written
// (a damaged local file, a wrong master key, an unreachable AWS endpoint) fails only its own
// secrets, with `error: {code, message, hint}`; every other secret is checked or rolled back, and the
// run exits 1 at the end.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { cli, tempProject, writeFiles, json, readEvidence, assertNoStackTrace } from '../helpers/cli.js';
import { awsEnv } from '../helpers/aws.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';
import { secretsManagerClient } from '../fakes/clients.js';

let sm;
before(async () => {
  sm = await startSecretsManager({});
});
after(async () => {
  await sm?.close();
});
let projects = 0;

const store = {
  ok: '{ type: local, path: .keyshift/ok.store }',
  damaged: '{ type: local, path: .keyshift/damaged.store }',
  wrongKey: '{ type: local, path: .keyshift/wrongkey.store }',
};
const aws = (fake, id) => `{ type: aws-secrets-manager, secretId: ${id}, endpoint: "${fake.endpoint}" }`;
const secret = (name, ...envs) =>
  `  - name: ${name}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, length: 24, charset: alphanumeric }\n    environments:\n` +
  envs.map(([env, where]) => `      - name: ${env}\n        store: ${where}\n`).join('');

// Short timeouts and few retries keep the unreachable store quick.
const env = (dir) => awsEnv({ KEYSHIFT_STATE_DIR: join(dir, 'state'), KEYSHIFT_AWS_TIMEOUT_MS: '1500', AWS_MAX_ATTEMPTS: '2' });

/** Every store healthy and rotated (each environment in its fallback window), then three broken. */
async function brokenProject() {
  const p = ++projects;
  const gone = await startSecretsManager({});
  for (const id of ['ok/one', 'ok/web', 'ok/rev']) sm.seed(`${id}${p}`, { value: `seed-${id}` });
  for (const id of ['gone/web', 'gone/rev']) gone.seed(`${id}${p}`, { value: 'seed' });
  const dir = tempProject('keyshift-isolation-dr-');
  writeFiles(dir, {
    'policies/p.yaml':
      'secrets:\n' +
      secret('ok', ['prod', aws(sm, `ok/one${p}`)]) +
      secret('api', ['dev', store.damaged], ['prod', store.ok]) +
      secret('db', ['dev', store.wrongKey], ['prod', store.ok]) +
      secret('web', ['dev', aws(gone, `gone/web${p}`)], ['prod', aws(sm, `ok/web${p}`)]) +
      // Promotion order, backwards: a later environment that cannot be rolled back holds the earlier.
      secret('rev', ['dev', aws(sm, `ok/rev${p}`)], ['prod', aws(gone, `gone/rev${p}`)]),
  });
  const run = (args) => cli(args, { cwd: dir, env: env(dir) });
  const first = await run(['rotate', '--all', '--force', '--reason', 'set up', '--json']);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  // A local store's first run provisions it; the second rotates it.
  const second = await run(['rotate', 'api', 'db', '--force', '--reason', 'set up', '--json']);
  assert.deepEqual(json(second).results.map((r) => r.outcome), ['rotated', 'rotated', 'rotated', 'rotated'], second.stdout + second.stderr);

  // A second runner (its own state and evidence dir) rotates a secret of its own. (Not one of the
  // first runner's: its log would start with the drafts it recovered, the same first record.)
  const other = tempProject('keyshift-isolation-dr-b-');
  sm.seed(`ok/solo${p}`, { value: 'seed' });
  writeFiles(other, { 'policies/p.yaml': 'secrets:\n' + secret('solo', ['prod', aws(sm, `ok/solo${p}`)]) });
  const second2 = await cli(['rotate', 'solo', '--force', '--reason', 'second runner', '--json'], { cwd: other, env: env(other) });
  assert.equal(second2.code, 0, second2.stdout + second2.stderr);

  const damaged = join(dir, '.keyshift', 'damaged.store');
  const bytes = readFileSync(damaged);
  bytes[bytes.length - 20] ^= 0x55;
  writeFileSync(damaged, bytes);
  copyFileSync(join(dir, '.keyshift', 'ok.store.key'), join(dir, '.keyshift', 'wrongkey.store.key'));
  await gone.close(); // connections refused from now on
  return { dir, other, run, damagedBytes: bytes, gone, p };
}

const broken = { api: /./, db: /./, web: /./ };

test('doctor checks every healthy secret and reports each broken store with its code; --fix repairs the healthy ones', async () => {
  const { dir, run, damagedBytes, gone, p } = await brokenProject();
  // Something doctor finds (and --fix repairs) on a healthy store: a foreign AWSPENDING.
  const client = secretsManagerClient(sm, { maxAttempts: 1 });
  await client.send(new PutSecretValueCommand({ SecretId: `ok/one${p}`, ClientRequestToken: 'f1000000-0000-4000-8000-000000000000', SecretString: 'someone else', VersionStages: ['AWSPENDING'] }));
  client.destroy();

  const found = await run(['doctor', '--json']);
  assertNoStackTrace(assert, found.stderr);
  assert.doesNotMatch(found.stdout + found.stderr, /this is a bug/);
  assert.equal(found.code, 1, found.stderr);
  const findings = json(found).findings;
  const errors = findings.filter((f) => f.check === 'store-error');
  const stores = errors.map((f) => f.store).join('\n');
  for (const where of ['damaged.store', 'wrongkey.store', gone.endpoint]) assert.ok(stores.includes(where), `no store-error for ${where} in:\n${JSON.stringify(findings, null, 1)}`);
  // The unreachable endpoint fails each of its entries (web/dev, rev/prod); a local file the whole store.
  assert.deepEqual(errors.map((f) => `${f.secret}/${f.environment}`).sort(), ['null/null', 'null/null', 'rev/prod', 'web/dev'], JSON.stringify(errors, null, 1));
  for (const f of errors) {
    assert.match(f.error.code, /^ERR_[A-Z_]+$/, JSON.stringify(f));
    assert.notEqual(f.error.code, 'ERR_INTERNAL', JSON.stringify(f));
    assert.equal(f.error.message, f.message);
    assert.ok(f.error.hint, JSON.stringify(f));
  }
  assert.ok(findings.some((f) => f.check === 'foreign-pending' && f.secret === 'ok'), `the healthy store was checked: ${JSON.stringify(findings, null, 1)}`);

  const fixed = await run(['doctor', '--fix', '--json']);
  assertNoStackTrace(assert, fixed.stderr);
  assert.equal(fixed.code, 1, 'the broken stores remain: exit 1');
  const after = json(fixed).findings;
  assert.equal(after.find((f) => f.check === 'foreign-pending')?.fixed, true, JSON.stringify(after, null, 1));
  assert.equal(after.filter((f) => f.check === 'store-error').length, 4);
  assert.ok(readEvidence(dir).some((r) => r.event === 'repaired' && r.secret === 'ok'), 'the repair is in the evidence');
  assert.deepEqual(readFileSync(join(dir, '.keyshift', 'damaged.store')), damagedBytes, 'a damaged store is never rewritten');

  const table = await run(['doctor']);
  assert.equal(table.code, 1);
  assertNoStackTrace(assert, table.stdout + table.stderr);
});

test('rollback rolls back every environment it can reach; a broken store fails only its own, with its code', async () => {
  const { dir, run } = await brokenProject();
  for (const name of Object.keys(broken)) {
    const result = await run(['rollback', name, '--reason', 'bad key', '--json']);
    assertNoStackTrace(assert, result.stderr);
    assert.equal(result.code, 1, `${name}: ${result.stdout}\n${result.stderr}`);
    const by = Object.fromEntries(json(result).results.map((r) => [r.environment, r]));
    assert.equal(by.prod?.outcome, "rolled-back", `${name}: ${result.stdout}\n${result.stderr}`);
    assert.equal(by.dev.outcome, 'failed', `${name}: ${JSON.stringify(by)}`);
    assert.match(by.dev.error.code, /^ERR_[A-Z_]+$/);
    assert.notEqual(by.dev.error.code, 'ERR_INTERNAL', `${name}: ${JSON.stringify(by.dev)}`);
    assert.ok(by.dev.error.message && by.dev.error.hint, `${name}: ${JSON.stringify(by.dev)}`);
  }
  const rolled = readEvidence(dir).filter((r) => r.event === 'rolled-back').map((r) => `${r.secret}/${r.environment}`).sort();
  assert.deepEqual(rolled, ['api/prod', 'db/prod', 'web/prod']);
  // Each healthy environment is back on its old version: a second rollback has nothing left there.
  const again = await run(['rollback', 'api', '--env', 'prod', '--json']);
  assert.equal(again.code, 2, again.stdout + again.stderr);

  // A later environment that cannot be rolled back holds the earlier ones (promotion order).
  const rev = await run(['rollback', 'rev', '--reason', 'bad key', '--json']);
  assert.equal(rev.code, 1, rev.stdout + rev.stderr);
  const by = Object.fromEntries(json(rev).results.map((r) => [r.environment, r]));
  assert.equal(by.prod.outcome, 'failed', JSON.stringify(by));
  assert.equal(by.dev.outcome, 'skipped', JSON.stringify(by));
  assert.match(by.dev.reason, /held: prod/);

  const human = await run(['rollback', 'db', '--reason', 'again']);
  assertNoStackTrace(assert, human.stdout + human.stderr);
});

test('evidence verify of several logs checks every store it can read and reports each unreadable one with its code (exit 1)', async () => {
  const { dir, other, run, gone } = await brokenProject();
  const result = await run(['evidence', 'verify', join(dir, 'evidence'), join(other, 'evidence'), '--json']);
  assertNoStackTrace(assert, result.stderr);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  const report = json(result);
  assert.deepEqual(report.logs.map((l) => l.ok), [true, true], JSON.stringify(report.logs));
  assert.ok(report.anchorsChecked >= 2, `the readable stores' anchors were checked: ${JSON.stringify(report)}`);
  const unread = report.unreadStores;
  for (const where of ['damaged.store', 'wrongkey.store', gone.endpoint]) assert.ok(unread.some((u) => u.store.includes(where)), `${where} in ${JSON.stringify(unread, null, 1)}`);
  for (const u of unread) {
    assert.match(u.error.code, /^ERR_[A-Z_]+$/);
    assert.notEqual(u.error.code, 'ERR_INTERNAL', JSON.stringify(u));
  }
  assert.deepEqual(report.stores, [], 'no readable store holds an older state');

  const human = await run(['evidence', 'verify', join(dir, 'evidence'), join(other, 'evidence')]);
  assert.equal(human.code, 1);
  assertNoStackTrace(assert, human.stdout + human.stderr);
  assert.match(human.stdout, /ERR_STORE_CORRUPT store .*damaged\.store: not read/);
  assert.match(human.stderr, /store\(s\) could not be read/);
});
