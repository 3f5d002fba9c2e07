// Valid policies are cached by content: an edit is seen at once, errors are never cached, and a
// damaged cache file is ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, tempProject, baseEnv, json } from '../helpers/cli.js';

test('the policy cache follows edits and never hides an error', () => {
  const dir = tempProject();
  const cache = mkdtempSync(join(tmpdir(), 'keyshift-cache-'));
  const env = baseEnv({ KEYSHIFT_CACHE_DIR: cache });
  runCli(['init'], { cwd: dir, env });
  const file = join(dir, 'policies', 'example.yaml');
  assert.equal(json(runCli(['plan', '--json'], { cwd: dir, env })).actions[0].secret, 'example-api-key');
  const cached = readdirSync(cache).filter((f) => f.endsWith('.json'));
  assert.equal(cached.length, 1, 'a valid result is cached');
  assert.equal(json(runCli(['plan', '--json'], { cwd: dir, env })).actions[0].secret, 'example-api-key', 'served from the cache');

  writeFileSync(file, readFileSync(file, 'utf8').replace('example-api-key', 'renamed-key'));
  assert.equal(json(runCli(['plan', '--json'], { cwd: dir, env })).actions[0].secret, 'renamed-key', 'an edit is seen at once');

  writeFileSync(file, readFileSync(file, 'utf8').replace('interval: 90d', 'interval: 90 days'));
  const broken = runCli(['plan'], { cwd: dir, env });
  assert.equal(broken.code, 2);
  assert.match(broken.stderr, /interval/);
  assert.equal(readdirSync(cache).filter((f) => f.endsWith('.json')).length, 2, 'errors are not cached');

  writeFileSync(file, readFileSync(file, 'utf8').replace('interval: 90 days', 'interval: 90d'));
  for (const f of readdirSync(cache).filter((name) => name.endsWith('.json'))) writeFileSync(join(cache, f), '{not json');
  assert.equal(json(runCli(['plan', '--json'], { cwd: dir, env })).actions[0].secret, 'renamed-key', 'a damaged cache entry is ignored');

  const off = mkdtempSync(join(tmpdir(), 'keyshift-cache-off-'));
  runCli(['plan'], { cwd: dir, env: baseEnv({ KEYSHIFT_CACHE_DIR: off, KEYSHIFT_NO_CACHE: '1' }) });
  assert.deepEqual(readdirSync(off), [], 'KEYSHIFT_NO_CACHE=1 writes nothing');
  assert.ok(existsSync(cache));
});
