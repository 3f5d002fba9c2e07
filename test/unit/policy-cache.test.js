// The cache of valid policy results (cache.ts): where it lives, that a hit is decided by the exact
// inputs, that only valid results are kept, at most 64 of them, and that a broken cache is a miss.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPoliciesCached } from '../../dist/policy/cache.js';
import { loadAsUser } from '../helpers/policy-as-user.js';

const tempDirs = [];
after(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-cache-'));
  tempDirs.push(dir);
  return dir;
}

const secret = (name) =>
  `secrets:\n  - name: ${name}\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments: [{ name: dev, store: { type: local, path: s } }]\n`;

/** A working directory with p.yaml holding `name`, and a cache directory. */
function setup(name = 'api-key') {
  const cwd = tempDir();
  writeFileSync(join(cwd, 'p.yaml'), secret(name));
  return { cwd, cache: join(tempDir(), 'c') };
}

function run(cwd, env, { version = '1.0.0', target = 'p.yaml' } = {}) {
  const debug = [];
  const log = { debug: (fields, message) => debug.push([fields, message]), info() {}, warn() {}, error() {} };
  return loadPoliciesCached(target, { cwd, env, version, log }).then((loaded) => ({ ...loaded, debug }));
}

const cacheFiles = (dir) => readdirSync(dir).filter((name) => name.startsWith('policies-'));

test('a valid result is written to KEYSHIFT_CACHE_DIR (0700, file 0600) and read back on the next run with the same inputs', async () => {
  const { cwd, cache } = setup();
  const first = await run(cwd, { KEYSHIFT_CACHE_DIR: cache });
  assert.deepEqual(first.errors, []);
  const [name, ...more] = cacheFiles(cache);
  assert.deepEqual(more, []);
  assert.match(name, /^policies-[0-9a-f]{8}-\d+\.json$/);
  assert.equal(statSync(cache).mode & 0o777, 0o700);
  assert.equal(statSync(join(cache, name)).mode & 0o777, 0o600);
  const bytes = readFileSync(join(cache, name));
  const newline = bytes.indexOf(0x0a);
  const stored = JSON.parse(bytes.toString('utf8', 0, newline));
  assert.equal(stored.format, 5);
  assert.deepEqual(stored.policies, first.policies);
  assert.deepEqual(stored.files, ['p.yaml']);
  assert.equal(name, `policies-${name.slice(9, 17)}-${bytes.length - newline - 1}.json`, 'the name ends with the length of the inputs');
  assert.ok(bytes.subarray(newline + 1).includes(Buffer.from(secret('api-key'))), 'the inputs hold the policy file');

  // Prove the second run reads the cache: change the stored result, keep the inputs.
  stored.policies[0].owner = 'from-the-cache';
  delete stored.warnings;
  delete stored.signingKey;
  writeFileSync(join(cache, name), Buffer.concat([Buffer.from(`${JSON.stringify(stored)}\n`), bytes.subarray(newline + 1)]));
  const second = await run(cwd, { KEYSHIFT_CACHE_DIR: cache });
  assert.equal(second.policies[0].owner, 'from-the-cache');
  assert.deepEqual(second.warnings, []);
  assert.deepEqual(second.errors, []);
  assert.equal(second.signingKey, null);
  assert.deepEqual(second.files, ['p.yaml']);
});

test('a changed policy file, another keyshift version or another target is a miss', async () => {
  const { cwd, cache } = setup('first');
  await run(cwd, { KEYSHIFT_CACHE_DIR: cache });
  writeFileSync(join(cwd, 'p.yaml'), secret('second'));
  assert.equal((await run(cwd, { KEYSHIFT_CACHE_DIR: cache })).policies[0].name, 'second');
  assert.equal(cacheFiles(cache).length, 2);
  await run(cwd, { KEYSHIFT_CACHE_DIR: cache }, { version: '1.0.1' });
  assert.equal(cacheFiles(cache).length, 3);
  await run(cwd, { KEYSHIFT_CACHE_DIR: cache }, { target: './p.yaml' });
  assert.equal(cacheFiles(cache).length, 4);
  await run(cwd, { KEYSHIFT_CACHE_DIR: cache }, { target: './p.yaml' });
  assert.equal(cacheFiles(cache).length, 4, 'the same inputs again: a hit, nothing written');
});

test('a policy edited to text of the same length is a miss that replaces its entry, not one more entry', async () => {
  // The name hashes the inputs' frame (paths and lengths), so the edit lands on the same file.
  const { cwd, cache } = setup('alpha');
  await run(cwd, { KEYSHIFT_CACHE_DIR: cache });
  const [before] = cacheFiles(cache);
  writeFileSync(join(cwd, 'p.yaml'), secret('omega'));
  assert.equal((await run(cwd, { KEYSHIFT_CACHE_DIR: cache })).policies[0].name, 'omega');
  assert.deepEqual(cacheFiles(cache), [before]);
  assert.ok(readFileSync(join(cache, before)).includes(Buffer.from(secret('omega'))), 'the entry now holds the edited file');
  assert.equal((await run(cwd, { KEYSHIFT_CACHE_DIR: cache })).policies[0].name, 'omega');
});

test('a damaged or foreign cache file is a miss, and the fresh result replaces it', async () => {
  const { cwd, cache } = setup();
  const fresh = await run(cwd, { KEYSHIFT_CACHE_DIR: cache });
  const [name] = cacheFiles(cache);
  const bytes = readFileSync(join(cache, name));
  const newline = bytes.indexOf(0x0a);
  const inputs = bytes.subarray(newline + 1);
  const stored = JSON.parse(bytes.toString('utf8', 0, newline));
  const damaged = [
    Buffer.concat([Buffer.from(`${JSON.stringify({ ...stored, format: 4, policies: [] })}\n`), inputs]),
    Buffer.concat([Buffer.from(`${JSON.stringify({ ...stored, policies: null })}\n`), inputs]),
    Buffer.concat([Buffer.from(`${JSON.stringify({ ...stored, policies: [], files: 'p.yaml' })}\n`), inputs]),
    Buffer.concat([Buffer.from('{not json\n'), inputs]),
    Buffer.concat([Buffer.from(`${JSON.stringify({ ...stored, policies: [] })}\n`), inputs, Buffer.from('x')]),
    Buffer.from(JSON.stringify({ ...stored, policies: [] })),
  ];
  for (const [i, text] of damaged.entries()) {
    writeFileSync(join(cache, name), text);
    const loaded = await run(cwd, { KEYSHIFT_CACHE_DIR: cache });
    assert.deepEqual(loaded.policies, fresh.policies, `damage ${i}`);
    assert.deepEqual(readFileSync(join(cache, name)), bytes, `damage ${i}: rewritten`);
  }
});

test('only valid results are cached; a missing path is not cached either', async () => {
  const { cwd, cache } = setup();
  writeFileSync(join(cwd, 'p.yaml'), 'secrets: []\n');
  const invalid = await run(cwd, { KEYSHIFT_CACHE_DIR: cache });
  assert.equal(invalid.errors.length, 1);
  const missing = await run(cwd, { KEYSHIFT_CACHE_DIR: cache }, { target: 'nope.yaml' });
  assert.deepEqual(missing.errors.map((e) => e.message), ['no such file or directory; pass a policy file or a directory of *.yaml files']);
  let listed = [];
  try {
    listed = readdirSync(cache);
  } catch {
    // never created
  }
  assert.deepEqual(listed, []);
});

test('where the cache lives: KEYSHIFT_NO_CACHE=1 wins, then KEYSHIFT_CACHE_DIR, XDG_CACHE_HOME, HOME/.cache', async () => {
  const { cwd, cache } = setup();
  const off = await run(cwd, { KEYSHIFT_NO_CACHE: '1', KEYSHIFT_CACHE_DIR: cache });
  assert.throws(() => readdirSync(cache), { code: 'ENOENT' });
  assert.deepEqual(off.debug, [], 'nothing tried, nothing logged');
  await run(cwd, { KEYSHIFT_NO_CACHE: '0', KEYSHIFT_CACHE_DIR: cache });
  assert.equal(cacheFiles(cache).length, 1);
  const xdg = tempDir();
  const home = tempDir();
  await run(cwd, { XDG_CACHE_HOME: xdg, HOME: home });
  assert.equal(cacheFiles(join(xdg, 'keyshift')).length, 1);
  assert.deepEqual(readdirSync(home), []);
  await run(cwd, { XDG_CACHE_HOME: '', HOME: home });
  assert.equal(cacheFiles(join(home, '.cache', 'keyshift')).length, 1);
});

test('a cache that cannot be written is logged at debug and the result still returned', async () => {
  const { cwd } = setup();
  const blocker = join(tempDir(), 'file');
  writeFileSync(blocker, 'not a directory');
  const loaded = await run(cwd, { KEYSHIFT_CACHE_DIR: join(blocker, 'c') });
  assert.deepEqual(loaded.errors, []);
  assert.equal(loaded.policies[0].name, 'api-key');
  assert.equal(loaded.debug.length, 1);
  assert.equal(loaded.debug[0][1], 'could not write the policy cache');
  assert.match(loaded.debug[0][0].err, /ENOTDIR|EEXIST/);
});

test('at most 64 results are kept: the oldest go, other files stay', async () => {
  const { cwd, cache } = setup();
  mkdirSync(cache, { recursive: true });
  const old = Date.now() / 1000 - 10_000;
  for (let i = 0; i < 64; i++) {
    const file = join(cache, `policies-${String(i).padStart(8, '0')}-1.json`);
    writeFileSync(file, '{}\n');
    utimesSync(file, old + 64 - i, old + 64 - i); // the last name is the oldest
  }
  writeFileSync(join(cache, 'other.json'), '{}');
  utimesSync(join(cache, 'other.json'), old - 100, old - 100);
  writeFileSync(join(cache, 'policies-x.txt'), '');
  await run(cwd, { KEYSHIFT_CACHE_DIR: cache });
  const left = readdirSync(cache).sort();
  assert.equal(left.filter((name) => name.startsWith('policies-') && name.endsWith('.json')).length, 64);
  assert.ok(!left.includes('policies-00000063-1.json'), 'the oldest is removed');
  assert.ok(left.includes('policies-00000000-1.json') && left.includes('policies-00000062-1.json'), 'only the oldest');
  assert.ok(left.includes('other.json') && left.includes('policies-x.txt'), 'files that are not results stay');
  assert.ok(!left.some((name) => name.endsWith('.tmp')), 'no temporary file left');
});

test('a hit keeps the signing key; a renamed policy file is a miss that shows the new name', async () => {
  const cwd = tempDir();
  const cache = join(tempDir(), 'c');
  mkdirSync(join(cwd, 'p'));
  writeFileSync(join(cwd, 'p/a.yaml'), `signing: { key: keys/sign.pem }\n${secret('a')}`);
  const first = await run(cwd, { KEYSHIFT_CACHE_DIR: cache }, { target: 'p' });
  assert.equal(first.signingKey, 'keys/sign.pem');
  const hit = await run(cwd, { KEYSHIFT_CACHE_DIR: cache }, { target: 'p' });
  assert.equal(cacheFiles(cache).length, 1, 'a hit');
  assert.equal(hit.signingKey, 'keys/sign.pem');
  rmSync(join(cwd, 'p/a.yaml'));
  writeFileSync(join(cwd, 'p/b.yaml'), `signing: { key: keys/sign.pem }\n${secret('a')}`);
  const renamed = await run(cwd, { KEYSHIFT_CACHE_DIR: cache }, { target: 'p' });
  assert.deepEqual(renamed.files, ['p/b.yaml']);
  assert.deepEqual(renamed.policies[0].source, { file: 'p/b.yaml', line: 3, col: 5 });
});

test('with neither XDG_CACHE_HOME nor HOME in the environment given, the cache is under the user\'s home directory (.cache/keyshift)', async () => {
  const { cwd } = setup();
  const home = tempDir();
  const real = process.env.HOME;
  process.env.HOME = home; // what os.homedir() answers on POSIX
  try {
    await run(cwd, {});
  } finally {
    if (real === undefined) delete process.env.HOME;
    else process.env.HOME = real;
  }
  assert.equal(cacheFiles(join(home, '.cache', 'keyshift')).length, 1);
  assert.deepEqual(readdirSync(home), ['.cache']);
});

test('a result cached by another build of keyshift (cache.js changed) is a miss', async () => {
  const { cwd, cache } = setup();
  await run(cwd, { KEYSHIFT_CACHE_DIR: cache });
  const [name] = cacheFiles(cache);
  const bytes = readFileSync(join(cache, name));
  const newline = bytes.indexOf(0x0a);
  const stored = JSON.parse(bytes.toString('utf8', 0, newline));
  stored.policies[0].owner = 'from-the-cache';
  writeFileSync(join(cache, name), Buffer.concat([Buffer.from(`${JSON.stringify(stored)}\n`), bytes.subarray(newline + 1)]));
  assert.equal((await run(cwd, { KEYSHIFT_CACHE_DIR: cache })).policies[0].owner, 'from-the-cache', 'the same build: a hit');
  // Another build: the same cache.js with another modification time (a reinstall, an upgrade).
  const built = new URL('../../dist/policy/cache.js', import.meta.url);
  const { atime, mtime } = statSync(built);
  utimesSync(built, atime, new Date(mtime.getTime() - 60_000));
  try {
    const again = await run(cwd, { KEYSHIFT_CACHE_DIR: cache });
    assert.notEqual(again.policies[0].owner, 'from-the-cache');
    assert.equal(cacheFiles(cache).length, 2, 'its own result written beside the other build\'s');
  } finally {
    utimesSync(built, atime, mtime);
  }
});

test('a result that cannot be stat\'ed (a dangling link in the cache) counts as the oldest and is removed, without an error', async () => {
  const { symlinkSync, lstatSync } = await import('node:fs');
  const { cwd, cache } = setup();
  mkdirSync(cache, { recursive: true });
  for (let i = 0; i < 64; i++) writeFileSync(join(cache, `policies-${String(i).padStart(8, '0')}-1.json`), '{}\n');
  symlinkSync(join(cache, 'gone'), join(cache, 'policies-dangling-1.json'));
  const loaded = await run(cwd, { KEYSHIFT_CACHE_DIR: cache });
  assert.deepEqual(loaded.debug, []);
  assert.equal(cacheFiles(cache).length, 64);
  assert.throws(() => lstatSync(join(cache, 'policies-dangling-1.json')), { code: 'ENOENT' });
});

test('a policy file that cannot be read (mode 000) is the loader\'s problem, not a crash of the cache, and nothing is cached', () => {
  const { cwd } = setup();
  const cache = join(cwd, 'c');
  chmodSync(cwd, 0o755);
  mkdirSync(cache);
  chmodSync(cache, 0o777);
  chmodSync(join(cwd, 'p.yaml'), 0o000);
  // As an unprivileged user when the tests run as root (helpers/policy-as-user.js).
  assert.deepEqual(loadAsUser(cwd, 'p.yaml', { cache }), {
    errors: ['p.yaml:1:1 cannot read (EACCES); check its permissions'],
    names: [],
    files: ['p.yaml'],
  });
  assert.deepEqual(readdirSync(cache), []);
});
