// The AWS SDK is loaded only when a policy names an AWS store, its Node.js support notice goes to
// the debug log only, and the standard AWS endpoint variables and --endpoint-url are honoured.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawn } from 'node:child_process';
import { bin, cli, tempProject, writeFiles, json } from '../helpers/cli.js';
import { awsEnv, secretsManagerPolicy } from '../helpers/aws.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';
import { startKms } from '../fakes/kms.js';

let fake;
before(async () => {
  fake = await startSecretsManager({});
});
after(async () => {
  await fake?.close();
});

// Records every module the CLI loads, before it starts: ES modules by their URL (a resolve hook),
// CommonJS files (the bundle is CommonJS) by their path.
const PROBE = `
import { createRequire, register } from 'node:module';
import { appendFileSync } from 'node:fs';
const Module = createRequire(import.meta.url)('node:module');
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (...args) {
  const path = resolveFilename.apply(this, args);
  appendFileSync(process.env.MODULE_LOG, path + '\\n');
  return path;
};
register('data:text/javascript,' + encodeURIComponent(\`
  import { appendFileSync } from 'node:fs';
  export async function resolve(specifier, context, next) {
    const result = await next(specifier, context);
    appendFileSync(process.env.MODULE_LOG, result.url + '\\\\n');
    return result;
  }\`));
`;

function loadedModules(dir, args, env) {
  const log = join(dir, 'modules.log');
  writeFileSync(log, '');
  writeFileSync(join(dir, 'probe.mjs'), PROBE);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', pathToFileURL(join(dir, 'probe.mjs')).href, bin, ...args], { cwd: dir, env: { ...env, MODULE_LOG: log }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stderr, modules: readFileSync(log, 'utf8').split('\n').filter(Boolean) }));
  });
}

const awsModule = (url) => /aws-secrets-manager|aws-kms|@aws-sdk|dist-cjs/.test(url);

test('a run on the local store never loads the AWS SDK; a Secrets Manager policy does', async () => {
  const local = tempProject('keyshift-lazy-');
  writeFiles(local, { 'policies/p.yaml': 'secrets:\n  - name: a\n    interval: 30d\n    fallbackWindow: 1d\n    generator: { type: random, bytes: 16 }\n    environments:\n      - name: dev\n        store: { type: local, path: .keyshift/dev.store }\n' });
  for (const args of [['plan'], ['rotate', '--all'], ['status']]) {
    const { code, modules, stderr } = await loadedModules(local, args, awsEnv());
    assert.equal(code, 0, stderr);
    assert.deepEqual(modules.filter(awsModule), [], `${args.join(' ')} loaded AWS modules`);
  }
  fake.seed('lazy/one', { value: 'v' });
  const remote = tempProject('keyshift-lazy-');
  writeFiles(remote, { 'policies/p.yaml': secretsManagerPolicy(fake.endpoint, [{ name: 'one', secretId: 'lazy/one' }]) });
  const { code, modules, stderr } = await loadedModules(remote, ['plan'], awsEnv());
  assert.equal(code, 0, stderr);
  assert.ok(modules.some((url) => /aws-secrets-manager/.test(url)), 'the Secrets Manager adapter is loaded');
  assert.ok(!modules.some((url) => /aws-kms/.test(url)), 'the KMS adapter is not');
});

test("the SDK's Node.js support notice is in the debug log, never on a normal run's terminal", async () => {
  fake.seed('quiet/one', { value: 'v' });
  const dir = tempProject('keyshift-quiet-');
  writeFiles(dir, { 'policies/p.yaml': secretsManagerPolicy(fake.endpoint, [{ name: 'one', secretId: 'quiet/one' }]) });
  const normal = await cli(['rotate', '--all', '--force', '--reason', 'test'], { cwd: dir, env: awsEnv() });
  assert.equal(normal.code, 0, normal.stderr);
  assert.doesNotMatch(normal.stderr, /NodeVersionSupportWarning|January 2027/);
  // rotate logs its plan at debug level, so debug lines are there to see on every Node version.
  const debug = await cli(['rotate', '--all', '--log-level', 'debug'], { cwd: dir, env: awsEnv() });
  assert.doesNotMatch(debug.stderr, /NodeVersionSupportWarning/, 'not as a process warning');
  assert.equal(debug.code, 0, debug.stderr);
  assert.match(debug.stderr, /"level":20\b/, 'debug lines were logged');
  const notice = /"msg":"AWS SDK notice: SDK releases after the first week of January 2027 require Node.js >= 22/;
  // The SDK gives the notice only below Node 22; from 22 on there is nothing to pass on, and none must appear.
  if (Number(process.versions.node.split('.')[0]) < 22) assert.match(debug.stderr, notice);
  else assert.doesNotMatch(debug.stderr, /AWS SDK notice|January 2027/, `Node ${process.versions.node}: the SDK has no support notice to give`);
});

test('AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL and --endpoint-url reach a store whose policy sets no endpoint', async () => {
  fake.seed('endpoint/one', { value: 'v' });
  const dir = tempProject('keyshift-endpoint-');
  const policy = secretsManagerPolicy('unused', [{ name: 'one', secretId: 'endpoint/one' }]).replace(', endpoint: "unused"', '');
  writeFiles(dir, { 'policies/p.yaml': policy });
  const status = async (env, extra = []) => json(await cli(['status', '--json', ...extra], { cwd: dir, env }));
  assert.equal((await status(awsEnv({ AWS_ENDPOINT_URL_SECRETS_MANAGER: fake.endpoint }))).secrets[0].currentVersion, fake.inspect('endpoint/one').versions[0].id);
  assert.equal((await status(awsEnv({ AWS_ENDPOINT_URL: fake.endpoint }))).secrets[0].currentVersion, fake.inspect('endpoint/one').versions[0].id);
  // --region wins over AWS_REGION: the fake refuses a request signed for another Region.
  assert.equal((await status(awsEnv({ AWS_REGION: 'eu-west-1' }), ['--endpoint-url', fake.endpoint, '--region', fake.region])).secrets[0].currentVersion, fake.inspect('endpoint/one').versions[0].id);
});

test('AWS_ENDPOINT_URL_KMS reaches an aws-kms store whose policy sets no endpoint', async () => {
  const kms = await startKms({});
  try {
    const key = kms.seedKey({ alias: 'alias/endpoint-env' });
    const dir = tempProject('keyshift-endpoint-kms-');
    writeFiles(dir, { 'policies/k.yaml': 'secrets:\n  - name: k\n    interval: 30d\n    fallbackWindow: 1d\n    environments:\n      - name: prod\n        store: { type: aws-kms, alias: alias/endpoint-env }\n' });
    const status = json(await cli(['status', '--json'], { cwd: dir, env: awsEnv({ AWS_ENDPOINT_URL_KMS: kms.endpoint }) }));
    assert.equal(status.secrets[0].currentVersion, key.keyId);
  } finally {
    await kms.close();
  }
});

test('the DynamoDB lock table (and its SDK) loads only for a store with lock: { type: dynamodb }', async () => {
  const { startDynamoDb } = await import('../fakes/dynamodb/index.js');
  const ddb = await startDynamoDb({ tables: ['keyshift-leases'] });
  try {
    const policy = (lock) => `secrets:\n  - name: a\n    interval: 30d\n    fallbackWindow: 1d\n    generator: { type: random, bytes: 16 }\n    environments:\n      - name: dev\n        store: { type: local, path: .keyshift/dev.store${lock} }\n`;
    const env = awsEnv({ AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint });
    const plain = tempProject('keyshift-lazy-');
    writeFiles(plain, { 'policies/p.yaml': policy('') });
    const without = await loadedModules(plain, ['rotate', '--all', '--force', '--reason', 'test'], env);
    assert.equal(without.code, 0, without.stderr);
    assert.deepEqual(without.modules.filter((url) => /dynamodb|@aws-sdk|dist-cjs/.test(url)), [], 'a local-store run loads no lock table');
    // By content too: bundled into a chunk that does load, the SDK would not show in a file name.
    const withSdk = without.modules.filter((url) => url.startsWith('file:') && /DynamoDB_20120810/.test(readFileSync(new URL(url), 'utf8')));
    assert.deepEqual(withSdk, [], 'no loaded file holds the DynamoDB client');
    const locked = tempProject('keyshift-lazy-');
    writeFiles(locked, { 'policies/p.yaml': policy(', lock: { type: dynamodb, table: keyshift-leases, region: us-east-1 }') });
    const withLock = await loadedModules(locked, ['rotate', '--all', '--force', '--reason', 'test'], env);
    assert.equal(withLock.code, 0, withLock.stderr);
    assert.ok(withLock.modules.some((url) => /dynamodb-lock/.test(url)), 'the lock table is loaded');
    assert.ok(!withLock.modules.some((url) => /aws-secrets-manager|aws-kms/.test(url)), 'no store adapter besides local');
    assert.ok(ddb.calls.some((c) => c.op === 'PutItem'), 'the lease was taken in the table');
  } finally {
    await ddb.close();
  }
});
