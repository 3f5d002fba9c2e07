// A file store rewrites its whole file per write, so a run must not write it once per secret:
// `rotate --all --force` of secrets that touch nothing outside the file (no hooks, no webhook, an
// in-process generator) lands in a few writes whatever --concurrency says (src/engine/batching.ts),
// while secrets with hooks still honour --concurrency (their hooks never overlap at 1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, watch } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { cli, json, tempProject, writeFiles, baseEnv } from '../helpers/cli.js';
import { k8sFixture, manyFileSecrets, readDotenv, readK8s, variableOf } from '../helpers/file-stores.js';

const COUNT = 200;
const KINDS = {
  dotenv: {
    path: 'app.env',
    files: { 'app.env': 'LOG_LEVEL=info\n' },
    store: (i) => `{ type: dotenv, path: app.env, name: ${variableOf(i)} }`,
    read: (dir, i) => readDotenv(join(dir, 'app.env'), variableOf(i)).CURRENT,
  },
  'k8s-secret': {
    path: 'deploy/secret.yaml',
    files: { 'deploy/secret.yaml': k8sFixture('prod') },
    store: (i) => `{ type: k8s-secret, path: deploy/secret.yaml, name: secrets-service-config, key: ${variableOf(i)} }`,
    read: (dir, i) => readK8s(join(dir, 'deploy/secret.yaml'), 'secrets-service-config', variableOf(i)).CURRENT,
  },
};

/** Replacements of `path` (each write renames a temp file over it) until `stop()`. */
function countReplacements(path) {
  let count = 0;
  const watcher = watch(dirname(path), (type, name) => {
    if (name === basename(path)) count++;
  });
  return () => (watcher.close(), count);
}

for (const [kind, k] of Object.entries(KINDS)) {
  test(`${kind}: rotate --all --force of ${COUNT} secrets in one file takes a few writes at --concurrency 1`, { timeout: 120_000 }, async () => {
    const dir = tempProject(`keyshift-batches-${kind}-`);
    writeFiles(dir, { ...k.files, 'policies/many.yaml': manyFileSecrets(COUNT, k.store) });
    const env = baseEnv();
    assert.equal((await cli(['rotate', '--all', '-q'], { cwd: dir, env })).code, 0);
    const before = Array.from({ length: COUNT }, (_, i) => k.read(dir, i));
    const stop = countReplacements(join(dir, k.path));
    const run = await cli(['rotate', '--all', '--force', '--reason', 'batches', '--concurrency', '1', '--json'], { cwd: dir, env });
    await new Promise((resolve) => setTimeout(resolve, 200)); // the last events arrive
    const writes = stop();
    assert.equal(run.code, 0, run.stderr);
    assert.equal(json(run).results.filter((r) => r.outcome === 'rotated').length, COUNT);
    for (let i = 0; i < COUNT; i++) assert.notEqual(k.read(dir, i), before[i], `${variableOf(i)} holds its new value`);
    assert.ok(writes >= 1 && writes <= 8, `${COUNT} rotations took ${writes} writes of ${k.path}`);
  });
}

test('dotenv: secrets with hooks keep --concurrency (their hooks never overlap at 1)', { timeout: 120_000 }, async () => {
  const dir = tempProject('keyshift-batches-hooks-');
  // mkdir is atomic: a hook that finds the directory taken ran beside another one.
  const hook = '        deploy: [{ run: [sh, -c, "mkdir running || echo overlap >> overlap.log; sleep 0.03; rmdir running"] }]\n';
  writeFiles(dir, { 'policies/many.yaml': manyFileSecrets(12, KINDS.dotenv.store, { hooks: hook }) });
  const env = baseEnv();
  assert.equal((await cli(['rotate', '--all', '-q'], { cwd: dir, env })).code, 0);
  const run = await cli(['rotate', '--all', '--force', '--reason', 'hooks', '--concurrency', '1', '--json'], { cwd: dir, env });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(json(run).results.filter((r) => r.outcome === 'rotated').length, 12);
  assert.ok(!existsSync(join(dir, 'overlap.log')), `hooks overlapped: ${existsSync(join(dir, 'overlap.log')) ? readFileSync(join(dir, 'overlap.log'), 'utf8') : ''}`);
});
