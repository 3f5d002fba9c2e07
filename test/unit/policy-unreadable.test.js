// Policy paths keyshift may not read (load.ts, policy-files.ts, cache.ts): a listed file or a
// directory without read permission is a problem at 1:1 naming the error code, never a crash.
// Permissions do not stop root, so when the tests run as root the load runs in a child process
// as the unprivileged user 65534 ("nobody"); otherwise in a child process as the current user.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dist = new URL('../../dist/policy/', import.meta.url).href;

const tempDirs = [];
after(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A working directory the unprivileged user can enter (mkdtemp makes it 0700). */
function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-unreadable-'));
  tempDirs.push(dir);
  chmodSync(dir, 0o755);
  return dir;
}

const secret = (name) =>
  `secrets:\n  - name: ${name}\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments: [{ name: dev, store: { type: local, path: ${name}.store } }]\n`;

/**
 * loadPolicies (or loadPoliciesCached with KEYSHIFT_CACHE_DIR=`cache`) of `target`, run by a user
 * that file permissions apply to; gives the problems as file:line:col message, the secrets' names
 * and the files read, or the error it threw.
 */
function loadAsUser(cwd, target, { cache } = {}) {
  const call = cache
    ? `(await import(${JSON.stringify(`${dist}cache.js`)})).loadPoliciesCached(${JSON.stringify(target)}, { cwd: ${JSON.stringify(cwd)}, env: { KEYSHIFT_CACHE_DIR: ${JSON.stringify(cache)} }, version: '1.0.0', log: { debug() {}, info() {}, warn() {}, error() {} } })`
    : `(await import(${JSON.stringify(`${dist}load.js`)})).loadPolicies(${JSON.stringify(target)}, { cwd: ${JSON.stringify(cwd)} })`;
  const script = `
    try {
      const loaded = await ${call};
      console.log(JSON.stringify({ errors: loaded.errors.map((e) => \`\${e.file}:\${e.line}:\${e.col} \${e.message}\`), names: loaded.policies.map((p) => p.name), files: loaded.files }));
    } catch (error) {
      console.log(JSON.stringify({ threw: String(error) }));
    }`;
  const asRoot = process.getuid?.() === 0;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
    ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
  });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
}

test('a listed policy file that cannot be read (mode 000) is "cannot read (EACCES)" at its 1:1; the other files still load', () => {
  const cwd = tempDir();
  mkdirSync(join(cwd, 'p'), { mode: 0o755 });
  writeFileSync(join(cwd, 'p', 'a.yaml'), secret('a'), { mode: 0o644 });
  writeFileSync(join(cwd, 'p', 'b.yaml'), secret('b'), { mode: 0o000 });
  chmodSync(join(cwd, 'p', 'b.yaml'), 0o000);
  assert.deepEqual(loadAsUser(cwd, 'p'), {
    errors: ['p/b.yaml:1:1 cannot read (EACCES); check its permissions'],
    names: ['a'],
    files: ['p/a.yaml', 'p/b.yaml'],
  });
});

test('a directory that can be stat\'ed but not listed (mode 000) is "cannot list this directory (EACCES)" at 1:1', () => {
  const cwd = tempDir();
  mkdirSync(join(cwd, 'p'));
  writeFileSync(join(cwd, 'p', 'a.yaml'), secret('a'));
  chmodSync(join(cwd, 'p'), 0o000);
  try {
    assert.deepEqual(loadAsUser(cwd, 'p'), {
      errors: ['p:1:1 cannot list this directory (EACCES); check its permissions'],
      names: [],
      files: [],
    });
  } finally {
    chmodSync(join(cwd, 'p'), 0o755);
  }
});

test('with the cache on, a policy file that cannot be read is the loader\'s problem, not a crash, and nothing is cached', () => {
  const cwd = tempDir();
  const cache = join(cwd, 'cache');
  mkdirSync(cache, { mode: 0o777 });
  chmodSync(cache, 0o777);
  writeFileSync(join(cwd, 'p.yaml'), secret('a'));
  chmodSync(join(cwd, 'p.yaml'), 0o000);
  assert.deepEqual(loadAsUser(cwd, 'p.yaml', { cache }), {
    errors: ['p.yaml:1:1 cannot read (EACCES); check its permissions'],
    names: [],
    files: ['p.yaml'],
  });
  assert.deepEqual(readdirSync(cache), []);
});
