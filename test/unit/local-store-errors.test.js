// The local store's I/O failures reach the user as one-line errors that name the store file and the
// system's reason, with a hint, exit 1 (src/stores/local/store-errors.ts). Damage (ERR_STORE_CORRUPT)
// and another writer (ERR_STORE_CHANGED) are in local-store.test.js.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openLocalStore } from '../../dist/stores/local/index.js';
import { SecretValue } from '../../dist/secret-value.js';

test('a store path that the system cannot read as a file is ERR_STORE_READ naming the file and the reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-local-errors-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'dev.store');
  mkdirSync(path); // a directory where the store file should be
  const store = openLocalStore({ path }, { KEYSHIFT_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') });
  for (const read of [() => store.read('api'), () => store.readMeta()]) {
    await assert.rejects(read(), (error) => {
      assert.equal(error.code, 'ERR_STORE_READ', `${error.code}: ${error.message}`);
      assert.equal(error.exitCode, 1);
      assert.equal(error.message, `cannot read store ${path}: EISDIR`);
      assert.match(error.hint, /readable by the user running keyshift/);
      return true;
    });
  }
  await store.close();
});

/**
 * Lowers this process's file size limit (RLIMIT_FSIZE, `ulimit -f`) to `bytes`: a write past it fails
 * with EFBIG, as a full disk fails with ENOSPC, on a real file. Node ignores SIGXFSZ. False where
 * prlimit is missing or not allowed.
 */
function limitFileSize(bytes) {
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--fsize=${bytes}:`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('a write that fails on an open store (file size limit) is ERR_STORE_WRITE with the reason; nothing of it is kept and the next write works', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-local-errors-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'dev.store');
  const env = { KEYSHIFT_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') };
  const store = openLocalStore({ path }, env);
  const meta = { rotation: null, lastRotatedAt: null, pendingEvents: [] };
  const create = (versionId, text, stage) => ({ type: 'create', versionId, value: SecretValue.fromString(text), stage });
  const lock = await store.lock({ waitMs: 2_000, owner: 'local-store-errors' });
  await store.apply('api', [create('v1', 'one', 'CURRENT')], meta); // the store is created and open for appending
  const size = statSync(path).size;
  if (!limitFileSize(size + 10)) {
    t.skip('prlimit is not available here');
    await lock.release();
    await store.close();
    return;
  }
  try {
    await assert.rejects(store.apply('api', [create('v2', 'two', 'PENDING')], meta), (error) => {
      assert.equal(error.code, 'ERR_STORE_WRITE', `${error.code}: ${error.message}`);
      assert.equal(error.exitCode, 1);
      assert.equal(error.message, `cannot write store ${path}: EFBIG`);
      assert.equal(error.hint, 'nothing from this write was acknowledged; fix the cause (disk full, permissions) and rerun');
      assert.equal(error.cause.code, 'EFBIG');
      return true;
    });
  } finally {
    limitFileSize('unlimited');
  }
  assert.equal(statSync(path).size, size + 10, 'the failed write left 10 bytes of a torn record');
  // The handle was closed and the file re-read: the next write cuts the torn record and appends.
  await store.apply('api', [create('v2', 'two', 'PENDING')], meta);
  await lock.release();
  await store.close();
  const other = openLocalStore({ path }, env);
  assert.deepEqual((await other.read('api')).versions.map((v) => [v.id, v.stages]), [['v1', ['CURRENT']], ['v2', ['PENDING']]]);
  await other.close();
});

// Run inside a private mount namespace on a tmpfs whose inodes are all used but one: taking the lock
// creates the lock file, then the format upgrade cannot create its temp file (ENOSPC).
const UPGRADE_ON_FULL_DISK = `
import { copyFileSync, chmodSync, readFileSync, readdirSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
const [dir, dist, fixture] = process.argv.slice(1);
const { openLocalStore } = await import(dist);
const path = join(dir, 'dev.store');
copyFileSync(fixture, path);
chmodSync(path, 0o600);
const before = readFileSync(path);
const env = { KEYSHIFT_MASTER_KEY: readFileSync(fixture + '.key', 'utf8').trim() };
let n = 0;
for (;;) {
  try { writeFileSync(join(dir, 'filler-' + n), ''); n += 1; } catch (error) { if (error.code !== 'ENOSPC') throw error; break; }
}
unlinkSync(join(dir, 'filler-0')); // one inode left: the lock file's
const store = openLocalStore({ path }, env);
const out = { fillers: n };
try {
  const lock = await store.lock({ waitMs: 2000, owner: 'full-disk' });
  await lock.release();
  out.locked = true;
} catch (error) {
  out.error = { code: error.code, exitCode: error.exitCode, message: error.message, hint: error.hint, cause: error.cause?.code };
}
await store.close();
out.unchanged = readFileSync(path).equals(before);
out.names = readdirSync(dir).filter((name) => !name.startsWith('filler-')).sort();
process.stdout.write(JSON.stringify(out));
`;

test('a format upgrade on a full disk is ERR_STORE_WRITE with ENOSPC, not the ENOENT of a temp file never created; the store is left as it was', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-local-full-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dist = new URL('../../dist/stores/local/index.js', import.meta.url).href;
  const fixture = fileURLToPath(new URL('../fixtures/format-1.store', import.meta.url));
  const mount = `mount -t tmpfs -o size=1m,nr_inodes=64 keyshift-full "$0" && exec "${process.execPath}" --input-type=module -e "$1" "$0" "$2" "$3"`;
  const run = spawnSync('unshare', ['-m', 'sh', '-c', mount, dir, UPGRADE_ON_FULL_DISK, dist, fixture], { encoding: 'utf8' });
  if (run.error || (run.status !== 0 && /mount|unshare/.test(run.stderr) && !run.stdout)) {
    t.skip(`a tmpfs cannot be mounted here: ${run.error?.message ?? run.stderr.trim()}`);
    return;
  }
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout);
  const path = join(dir, 'dev.store');
  assert.ok(out.fillers > 0);
  assert.deepEqual(out.error, {
    code: 'ERR_STORE_WRITE',
    exitCode: 1,
    message: `cannot write store ${path}: ENOSPC`,
    hint: 'nothing from this write was acknowledged; fix the cause (disk full, permissions) and rerun',
    cause: 'ENOSPC',
  });
  assert.equal(out.unchanged, true, 'the format-1 store is left as it was');
  assert.deepEqual(out.names, ['dev.store'], 'no temp file, and the lock file is removed');
});

// Run in a child process whose open-file limit (RLIMIT_NOFILE) leaves one free descriptor: opening the
// store for appending takes it, so re-reading the store (replaced meanwhile) fails with EMFILE.
const RELOAD_WITHOUT_DESCRIPTORS = `
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, openSync, renameSync } from 'node:fs';
import { join } from 'node:path';
const [dir, dist, secretValue] = process.argv.slice(1);
const { openLocalStore } = await import(dist);
const { SecretValue } = await import(secretValue);
const path = join(dir, 'dev.store');
const env = { KEYSHIFT_MASTER_KEY: Buffer.alloc(32, 9).toString('base64') };
const meta = { rotation: null, lastRotatedAt: null, pendingEvents: [] };
const create = (versionId, stage) => ({ type: 'create', versionId, value: SecretValue.fromString(versionId), stage });
const first = openLocalStore({ path }, env);
let lock = await first.lock({ waitMs: 2000, owner: 'first' });
await first.apply('api', [create('v1', 'CURRENT')], meta);
await lock.release();
await first.close();
const store = openLocalStore({ path }, env);
lock = await store.lock({ waitMs: 2000, owner: 'second' });
copyFileSync(path, path + '.copy');
renameSync(path + '.copy', path); // the same store as another inode: the append must re-read it first
execFileSync(process.execPath, ['-e', '']); // spawn once before the limit: what libuv keeps open for child processes is open now
const lowest = openSync('/dev/null', 'r'); // every descriptor below this one is in use
closeSync(lowest);
execFileSync('prlimit', ['--pid', String(process.pid), '--nofile=' + (lowest + 1) + ':']);
const out = {};
try {
  await store.apply('api', [create('v2', 'PENDING')], meta);
  out.applied = true;
} catch (error) {
  out.error = { code: error.code, exitCode: error.exitCode, message: error.message, hint: error.hint, cause: error.cause?.code };
}
await lock.release();
process.stdout.write(JSON.stringify(out));
`;

test('a store that cannot be re-read during a write (no file descriptor left) is ERR_STORE_READ with the reason, not ERR_STORE_CHANGED', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-local-nofile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dist = new URL('../../dist/stores/local/index.js', import.meta.url).href;
  const secretValue = new URL('../../dist/secret-value.js', import.meta.url).href;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', RELOAD_WITHOUT_DESCRIPTORS, dir, dist, secretValue], { encoding: 'utf8' });
  if (run.status !== 0 && /prlimit/.test(run.stderr)) {
    t.skip(`prlimit is not available here: ${run.stderr.trim().split('\n')[0]}`);
    return;
  }
  assert.equal(run.status, 0, run.stderr);
  const path = join(dir, 'dev.store');
  assert.deepEqual(JSON.parse(run.stdout).error, {
    code: 'ERR_STORE_READ',
    exitCode: 1,
    message: `cannot read store ${path}: EMFILE`,
    hint: 'check that the file and its directory are readable by the user running keyshift',
    cause: 'EMFILE',
  });
  const store = openLocalStore({ path }, { KEYSHIFT_MASTER_KEY: Buffer.alloc(32, 9).toString('base64') });
  assert.deepEqual((await store.read('api')).versions.map((v) => v.id), ['v1'], 'nothing of the failed write is in the store');
  await store.close();
});
