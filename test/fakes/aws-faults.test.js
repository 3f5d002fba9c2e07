// The shared server's controls, seen through the real Secrets Manager client: quotas and
// throttling (with and without SDK retries), injected faults, deny, the call log, and the
// onCall/afterCall hooks, including a client killed with SIGKILL between two calls.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
} from '@aws-sdk/client-secrets-manager';
import { startSecretsManager } from './secrets-manager.js';
import { secretsManagerClient } from './clients.js';

let fake;
let noRetry;
let retrying;
before(async () => {
  fake = await startSecretsManager();
  noRetry = secretsManagerClient(fake, { maxAttempts: 1 });
  retrying = secretsManagerClient(fake, { maxAttempts: 10 });
  fake.seed('app/db', { value: 'hunter2-current' });
});
after(async () => {
  noRetry.destroy();
  retrying.destroy();
  await fake.close();
});

const put = (client, value) =>
  client.send(new PutSecretValueCommand({ SecretId: 'app/db', SecretString: value, ClientRequestToken: randomUUID(), VersionStages: ['AWSPENDING'] }));
const describe = (client) => client.send(new DescribeSecretCommand({ SecretId: 'app/db' }));

test('a quota class throttles past its burst with ThrottlingException, counted per class', async () => {
  fake.setQuotas({ versionWrites: 5 });
  const before = fake.stats().versionWrites;
  const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => put(noRetry, `burst-${i}`)));
  const throttled = results.filter((r) => r.status === 'rejected');
  // 5 tokens of burst for 8 near-simultaneous calls (a slow machine may refill one in between).
  assert.ok(throttled.length >= 2 && throttled.length <= 3, `${throttled.length} throttled`);
  for (const { reason } of throttled) {
    assert.equal(reason.name, 'ThrottlingException');
    assert.equal(reason.message, 'Rate exceeded');
    assert.equal(reason.$metadata.httpStatusCode, 400);
  }
  const after = fake.stats().versionWrites;
  assert.deepEqual([after.served - before.served, after.throttled - before.throttled, after.rate], [8 - throttled.length, throttled.length, 5]);
  // Other classes are untouched: reads still have their own bucket.
  await describe(noRetry);
  // One token is back after 1/rate seconds.
  await new Promise((resolve) => setTimeout(resolve, 220));
  await put(noRetry, 'refilled');
  fake.setQuotas({ versionWrites: 50 });
});

test('SDK retries ride out throttling', async () => {
  fake.setQuotas({ versionWrites: 5 });
  const mark = fake.calls.length;
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => put(retrying, `retry-${i}`)));
  assert.equal(results.length, 8);
  assert.ok(results.some((r) => r.$metadata.attempts > 1));
  const log = fake.calls.slice(mark);
  assert.ok(log.some((c) => c.errorCode === 'ThrottlingException' && c.attempt === 1));
  assert.ok(log.some((c) => c.status === 200 && c.attempt > 1));
  fake.setQuotas({ versionWrites: 50 });
});

test('setQuotas changes a class at run time; false means unlimited', async () => {
  fake.setQuotas({ reads: 2 });
  await describe(noRetry);
  await describe(noRetry);
  await assert.rejects(describe(noRetry), { name: 'ThrottlingException' });
  fake.setQuotas({ reads: false });
  await Promise.all(Array.from({ length: 20 }, () => describe(noRetry)));
  assert.equal(fake.stats().reads.rate, null);
  assert.throws(() => fake.setQuotas({ raeds: 1 }), /unknown quota class/);
  fake.setQuotas({ reads: 10000 });
});

test('fault 500: the service error surfaces without retries and is retried with them', async () => {
  fake.injectFault({ op: 'GetSecretValue', kind: '500' });
  const err = await noRetry.send(new GetSecretValueCommand({ SecretId: 'app/db' })).catch((e) => e);
  assert.equal(err.name, 'InternalServiceError');
  assert.equal(err.$fault, 'server');
  assert.equal(err.$metadata.httpStatusCode, 500);

  fake.injectFault({ op: 'GetSecretValue', kind: '500' });
  const ok = await retrying.send(new GetSecretValueCommand({ SecretId: 'app/db' }));
  assert.equal(ok.$metadata.attempts, 2);
});

test('fault nth/times: only the chosen matching calls fail', async () => {
  const fault = fake.injectFault({ op: 'DescribeSecret', nth: 2, times: 2, kind: 'throttle' });
  const outcomes = [];
  for (let i = 0; i < 4; i += 1) outcomes.push(await describe(noRetry).then(() => 'ok', (e) => e.name));
  assert.deepEqual(outcomes, ['ok', 'ThrottlingException', 'ThrottlingException', 'ok']);
  assert.equal(fault.fired, 2);
});

test('fault drop: the socket closes without an answer; the SDK retries it as transient', async () => {
  fake.injectFault({ op: 'DescribeSecret', kind: 'drop' });
  const err = await describe(noRetry).catch((e) => e);
  assert.ok(err instanceof Error);
  assert.match(`${err.code} ${err.message}`, /ECONNRESET|socket hang up/);
  fake.injectFault({ op: 'DescribeSecret', kind: 'drop' });
  const ok = await describe(retrying);
  assert.equal(ok.$metadata.attempts, 2);
  assert.equal(fake.calls.filter((c) => c.fault === 'drop').length, 2);
});

test('fault timeout: the request hangs until the client gives up; the server carries on', async () => {
  const impatient = secretsManagerClient(fake, { maxAttempts: 1, requestHandler: { requestTimeout: 200, throwOnRequestTimeout: true } });
  try {
    fake.injectFault({ op: 'DescribeSecret', kind: 'timeout' });
    const started = Date.now();
    await assert.rejects(describe(impatient), { name: 'TimeoutError' });
    assert.ok(Date.now() - started >= 190);
    assert.equal(fake.calls.at(-1).fault, 'timeout');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(fake.hangingRequests(), 0, 'the held request is released once the client hangs up');
    await describe(impatient);
  } finally {
    impatient.destroy();
  }
});

test('close() ends held requests and open keep-alive sockets', async () => {
  const other = await startSecretsManager();
  const client = secretsManagerClient(other, { maxAttempts: 1 });
  other.seed('s', { value: 'x' });
  await client.send(new DescribeSecretCommand({ SecretId: 's' })); // leaves a keep-alive socket
  other.injectFault({ kind: 'timeout' });
  const hanging = client.send(new DescribeSecretCommand({ SecretId: 's' })).catch((e) => e);
  while (other.hangingRequests() === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  await other.close();
  assert.ok((await hanging) instanceof Error);
  client.destroy();
});

test('fault afterApply: the call is applied and its reply lost; the retry with the same token is a no-op', async () => {
  const versionsBefore = fake.inspect('app/db').versions.length;
  fake.injectFault({ op: 'PutSecretValue', kind: '500', afterApply: true });
  const result = await put(retrying, 'lost-reply');
  assert.equal(result.$metadata.attempts, 2);
  const state = fake.inspect('app/db');
  assert.equal(state.versions.length, versionsBefore + 1);
  assert.equal(state.versions.at(-1).id, result.VersionId);
});

test('a lost CreateSecret reply: the SDK resends the same ClientRequestToken and the create succeeds once', async () => {
  fake.injectFault({ op: 'CreateSecret', kind: 'drop', afterApply: true });
  const created = await retrying.send(new CreateSecretCommand({ Name: 'created-once', SecretString: 'v1' }));
  assert.equal(created.$metadata.attempts, 2);
  const state = fake.inspect('created-once');
  assert.deepEqual(state.versions.map((v) => v.id), [created.VersionId]);
});

test('deny answers AccessDeniedException by operation and resource (name or ARN)', async () => {
  fake.seed('other', { value: 'x' });
  const undo = fake.deny({ op: 'GetSecretValue', resource: 'app/db' });
  const { arn } = fake.inspect('app/db');
  for (const SecretId of ['app/db', arn]) {
    const err = await noRetry.send(new GetSecretValueCommand({ SecretId })).catch((e) => e);
    assert.equal(err.name, 'AccessDeniedException');
    assert.match(err.message, /not authorized to perform: secretsmanager:GetSecretValue/);
  }
  await noRetry.send(new GetSecretValueCommand({ SecretId: 'other' }));
  await describe(noRetry);
  undo();
  await noRetry.send(new GetSecretValueCommand({ SecretId: 'app/db' }));
});

test('the call log records operations, their inputs as sent, and outcomes', async () => {
  await put(noRetry, 'do-not-log-me');
  const entry = fake.calls.at(-1);
  assert.deepEqual(
    { op: entry.op, status: entry.status, resource: entry.resource, index: entry.index },
    { op: 'PutSecretValue', status: 200, resource: 'app/db', index: fake.calls.length - 1 },
  );
  // Inputs are kept as sent, values included: the leak suite checks where keyshift put its canary.
  assert.equal(entry.input.SecretString, 'do-not-log-me');
  assert.equal(entry.input.SecretId, 'app/db');
});

test('onCall runs before the call is applied, afterCall after it and before the reply', async () => {
  const events = [];
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  const offBefore = fake.onCall(({ op, index, input }) => {
    if (op !== 'CreateSecret') return;
    events.push(['onCall', index, fake.inspect(input.Name) === undefined]);
  });
  const offAfter = fake.afterCall(async ({ op, index, input, output, error }) => {
    if (op !== 'CreateSecret') return;
    events.push(['afterCall', index, fake.inspect(input.Name) !== undefined, Boolean(output?.ARN), error]);
    await gate;
  });
  const pending = noRetry.send(new CreateSecretCommand({ Name: 'hooked', SecretString: 'x' })).then(() => events.push(['reply']));
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(events.length, 2, 'the reply waits for the afterCall promise');
  release();
  await pending;
  offBefore();
  offAfter();
  const index = events[0][1];
  assert.deepEqual(events, [['onCall', index, true], ['afterCall', index, true, true, undefined], ['reply']]);
});

test('a client killed with SIGKILL between two calls leaves the first applied; a rerun completes', async () => {
  const token = randomUUID();
  fake.seed('crash', { value: 'old' });
  let child;
  const killedAfter = []; // recorded in the hook, asserted below (a hook that throws only makes a 500)
  const off = fake.afterCall(async ({ op }) => {
    if (op !== 'PutSecretValue' || !child) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    killedAfter.push(op);
    await exited; // no reply before the client is gone
  });
  child = rotateInChild(token);
  const signal = await new Promise((resolve) => child.once('exit', (code, sig) => resolve(sig)));
  off();
  assert.equal(signal, 'SIGKILL');
  assert.deepEqual(killedAfter, ['PutSecretValue'], 'the child was killed right after its PutSecretValue was applied');
  let stages = Object.fromEntries(fake.inspect('crash').versions.map((v) => [v.id, v.stages]));
  assert.deepEqual(stages[token], ['AWSPENDING'], 'the pending version was written before the kill');
  assert.ok(!stages[token].includes('AWSCURRENT'));

  child = null;
  const rerun = rotateInChild(token);
  const code = await new Promise((resolve) => rerun.once('exit', resolve));
  assert.equal(code, 0);
  const state = fake.inspect('crash');
  assert.equal(state.versions.length, 2, 'the resumed PutSecretValue created no second version');
  stages = Object.fromEntries(state.versions.map((v) => [v.id, v.stages.sort()]));
  assert.deepEqual(stages[token], ['AWSCURRENT', 'AWSPENDING']);
});

// A tiny rotation in another process: issue the pending version under `token`, then switch.
function rotateInChild(token) {
  const script = `
    import { randomUUID } from 'node:crypto';
    import { PutSecretValueCommand, GetSecretValueCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
    import { secretsManagerClient } from './test/fakes/clients.js';
    const sm = secretsManagerClient({ endpoint: process.env.SM_ENDPOINT }, { maxAttempts: 1 });
    const token = process.env.TOKEN;
    const current = await sm.send(new GetSecretValueCommand({ SecretId: 'crash' }));
    await sm.send(new PutSecretValueCommand({ SecretId: 'crash', ClientRequestToken: token, SecretString: 'new-' + token, VersionStages: ['AWSPENDING'] }));
    if (current.VersionId !== token) {
      await sm.send(new UpdateSecretVersionStageCommand({ SecretId: 'crash', VersionStage: 'AWSCURRENT', MoveToVersionId: token, RemoveFromVersionId: current.VersionId }));
    }
  `;
  return spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    env: { ...process.env, SM_ENDPOINT: fake.endpoint, TOKEN: token },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
