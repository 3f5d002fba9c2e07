// A wrong master key or a damaged store file: a clear one-line error, exit 1, and the file untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { runCli, tempProject, baseEnv, assertNoStackTrace } from '../helpers/cli.js';

function provisioned(env) {
  const dir = tempProject();
  runCli(['init'], { cwd: dir, env });
  assert.equal(runCli(['rotate', '--all'], { cwd: dir, env }).code, 0);
  return dir;
}

test('a wrong master key is named as such and nothing is overwritten', () => {
  const env = baseEnv({ KEYSHIFT_MASTER_KEY: randomBytes(32).toString('base64') });
  const dir = provisioned(env);
  const store = join(dir, '.keyshift', 'dev.store');
  const before = readFileSync(store);
  const wrong = baseEnv({ KEYSHIFT_MASTER_KEY: randomBytes(32).toString('base64') });
  for (const args of [['rotate', '--all', '--force', '--reason', 'x'], ['status'], ['get', 'example-api-key']]) {
    const result = runCli(args, { cwd: dir, env: wrong });
    assert.equal(result.code, 1, `${args[0]}: ${result.stderr}`);
    assert.match(result.stderr, /master key/i);
    assertNoStackTrace(assert, result.stderr);
  }
  assert.deepEqual(readFileSync(store), before);
  const bad = runCli(['status'], { cwd: dir, env: baseEnv({ KEYSHIFT_MASTER_KEY: 'not-base64-32-bytes' }) });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /KEYSHIFT_MASTER_KEY/);
});

test('a damaged store file is reported, never replaced by a fresh store', () => {
  const dir = provisioned(baseEnv());
  const store = join(dir, '.keyshift', 'dev.store');
  const bytes = readFileSync(store);
  bytes[bytes.length - 20] ^= 0x55;
  writeFileSync(store, bytes);
  const result = runCli(['rotate', '--all', '--force', '--reason', 'x'], { cwd: dir });
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /damaged|corrupt|authentication/i);
  assertNoStackTrace(assert, result.stderr);
  assert.deepEqual(readFileSync(store), bytes);
});

test('a missing key file for an existing store is an error with the fix, and no key is created', () => {
  const dir = provisioned(baseEnv());
  const keyFile = join(dir, '.keyshift', 'dev.store.key');
  rmSync(keyFile);
  const result = runCli(['status'], { cwd: dir });
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /restore|KEYSHIFT_MASTER_KEY/);
  assert.throws(() => readFileSync(keyFile));
});

