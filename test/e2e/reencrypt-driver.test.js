// better-sqlite3 is optional: without it (or with a broken native build) every other command works
// and reencrypt names the driver and the fix. Policy errors of reencrypt: name file, line, field and fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { assertNoStackTrace, baseEnv, buildRoot, runCli, tempProject, writeFiles } from '../helpers/cli.js';
import { policyText, SECRET } from '../helpers/reencrypt.js';
import { spawnSync } from 'node:child_process';

/** keyshift as installed where better-sqlite3 is absent, or present but broken (`driver` = its index.js). */
function installWithout(driver) {
  const dir = tempProject('keyshift-nodriver-');
  // Copies, not links: Node resolves a linked file's imports from where the link points.
  for (const name of ['bin', 'dist', 'package.json']) cpSync(join(buildRoot, name), join(dir, name), { recursive: true });
  mkdirSync(join(dir, 'node_modules'));
  for (const name of readdirSync(join(buildRoot, 'node_modules'))) {
    if (name !== 'better-sqlite3') symlinkSync(join(buildRoot, 'node_modules', name), join(dir, 'node_modules', name));
  }
  if (driver) writeFiles(join(dir, 'node_modules', 'better-sqlite3'), { 'package.json': '{"name":"better-sqlite3","version":"12.11.1","main":"index.js"}', 'index.js': driver });
  return join(dir, 'bin', 'keyshift.js');
}

function run(bin, args, cwd) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, env: baseEnv(), encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

for (const [what, driver] of [['missing', null], ['broken (its native build failed)', "throw new Error('Could not locate the bindings file.')"]]) {
  test(`with better-sqlite3 ${what}: --version, plan and rotate work; reencrypt exits 2 naming the driver and the fix`, () => {
    const bin = installWithout(driver);
    const project = tempProject();
    writeFiles(project, { 'policies/data.yaml': policyText(), 'data/app.db': '' });
    assert.equal(run(bin, ['--version'], project).code, 0);
    assert.equal(run(bin, ['rotate', SECRET], project).code, 0);
    const plan = run(bin, ['plan'], project);
    assert.equal(plan.code, 0, plan.stderr);
    const result = run(bin, ['reencrypt', SECRET], project);
    assert.equal(result.code, 2, result.stderr);
    assertNoStackTrace(assert, result.stderr);
    assert.match(result.stderr, /the SQLite driver better-sqlite3 could not be loaded/);
    assert.match(result.stderr, /npm install better-sqlite3@12\.11\.1/);
    const asJson = JSON.parse(run(bin, ['reencrypt', SECRET, '--json'], project).stdout);
    assert.equal(asJson.error.code, 'ERR_DATABASE_DRIVER_MISSING');
  });
}

test('the bundle keeps better-sqlite3 external and imports it only from the reencrypt chunk', () => {
  const bundle = join(buildRoot, 'dist', 'bundle');
  const files = readdirSync(bundle).filter((f) => f.endsWith('.js'));
  const importing = files.filter((f) => readFileSync(join(bundle, f), 'utf8').includes('"better-sqlite3"'));
  assert.equal(importing.length, 1, `one chunk imports it: ${importing}`);
  assert.ok(!readFileSync(join(bundle, 'main.js'), 'utf8').includes('better-sqlite3'));
  assert.ok(files.every((f) => !readFileSync(join(bundle, f), 'utf8').includes('better_sqlite3.node')), 'its code is not bundled');
});

test('reencrypt policy errors name file:line:col, the field and the fix', () => {
  const dir = tempProject();
  writeFiles(dir, {
    'policies/data.yaml': `secrets:
  - name: data-key
    interval: 90d
    fallbackWindow: 1h
    generator: { type: random, bytes: 16 }
    environments:
      - name: prod
        store: { type: local, path: .keyshift/prod.store }
    reencrypt:
      database: { type: postgres, url: "postgres://app:hunter2@db/app" }
      tables:
        - { table: "users; drop", key: id, columns: [] }
      canary: 200%
      stages: [50%, 25%]
      batchSize: 0
      observe: soon
      slo: { decryptErrorRate: 1 }
      aad: cell
`,
  });
  const result = runCli(['validate'], { cwd: dir, env: baseEnv() });
  assert.equal(result.code, 2);
  const lines = result.stderr.trim().split('\n');
  const expect = [
    [/data\.yaml:10:\d+: secrets\[0\]\.reencrypt\.database\.url: must not contain a password/],
    [/data\.yaml:12:\d+: secrets\[0\]\.reencrypt\.tables\[0\]\.table: must be a table name/],
    [/data\.yaml:12:\d+: secrets\[0\]\.reencrypt\.tables\[0\]\.columns: is empty; list the encrypted columns/],
    [/data\.yaml:13:\d+: secrets\[0\]\.reencrypt\.canary: must be a percentage from 0\.001% to 100%, e\.g\. 1%/],
    [/data\.yaml:14:\d+: secrets\[0\]\.reencrypt\.stages: must increase/],
    [/data\.yaml:15:\d+: secrets\[0\]\.reencrypt\.batchSize: must be a whole number from 1 to 100000/],
    [/data\.yaml:16:\d+: secrets\[0\]\.reencrypt\.observe: must be a duration/],
    [/data\.yaml:17:\d+: secrets\[0\]\.reencrypt\.slo\.decryptErrorRate: /],
    [/data\.yaml:18:\d+: secrets\[0\]\.reencrypt\.aad: must be row/],
  ];
  for (const [pattern] of expect) assert.ok(lines.some((line) => pattern.test(line)), `${pattern} in:\n${result.stderr}`);
  assert.doesNotMatch(result.stderr, /hunter2/);
});

test('reencrypt needs a 32-byte random key', () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/data.yaml': policyText().replace('bytes: 32', 'bytes: 16') });
  const result = runCli(['validate'], { cwd: dir, env: baseEnv() });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /data\.yaml:\d+:\d+: secrets\[0\]\.generator: must make a 32-byte AES-256 key for reencrypt: generator: \{ type: random, bytes: 32 \}/);
});
