// How a lock file is judged: a live holder on this host is never taken over, however old its
// heartbeat; a dead or reused pid is taken over at once; a holder that cannot be asked (another
// host, another boot or pid namespace) only once its heartbeat stopped. Real files, real processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { acquireFileLock, inspectFileLock } from '../../dist/util/file-lock.js';
import { pidScope, processStart } from '../../dist/util/process-identity.js';

const linux = process.platform === 'linux';
const options = { waitMs: 300, owner: 'test', what: 'test lock' };
const lockIn = () => join(mkdtempSync(join(tmpdir(), 'keyshift-lock-')), 'x.lock');

function plant(path, holder, ageMs = 0) {
  writeFileSync(path, JSON.stringify({ owner: 'planted', token: 'planted', acquiredAt: new Date().toISOString(), ...holder }));
  const then = new Date(Date.now() - ageMs);
  utimesSync(path, then, then);
}

async function liveChild(t) {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  await once(child, 'spawn');
  t.after(() => child.kill('SIGKILL'));
  return child;
}

test('a live holder on this host keeps its lock however old its heartbeat, even when stopped', async (t) => {
  const child = await liveChild(t);
  child.kill('SIGSTOP');
  const path = lockIn();
  const me = { pid: child.pid, host: hostname(), ...(linux ? { pidScope: pidScope(), processStart: processStart(child.pid) } : {}) };
  plant(path, me, 3_600_000);
  await assert.rejects(acquireFileLock(path, options), (error) => error.code === 'ERR_LOCKED' && error.exitCode === 3 && error.message.includes(`pid ${child.pid}`));
  assert.equal((await inspectFileLock(path)).state, 'live');
  plant(path, { pid: child.pid, host: hostname() }, 3_600_000); // a lock of an older keyshift: no scope fields
  await assert.rejects(acquireFileLock(path, options), { code: 'ERR_LOCKED' });
});

test('a dead pid on this host is taken over at once', async () => {
  const path = lockIn();
  plant(path, { pid: 999_999_999, host: hostname() });
  const lock = await acquireFileLock(path, options);
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).pid, process.pid);
  await lock.release();
});

test('a reused pid (same pid, another process start) is taken over at once', { skip: !linux && 'needs /proc' }, async (t) => {
  const child = await liveChild(t);
  const path = lockIn();
  plant(path, { pid: child.pid, host: hostname(), pidScope: pidScope(), processStart: '1' });
  const inspected = await inspectFileLock(path);
  assert.equal(inspected.state, 'dead');
  assert.match(inspected.why, /reused/);
  const lock = await acquireFileLock(path, options);
  await lock.release();
});

test('a holder on another host, or in another boot or pid namespace, is taken over only once its heartbeat stopped', async () => {
  for (const holder of [{ pid: process.pid, host: 'build-7.other.example' }, { pid: process.pid, host: hostname(), pidScope: 'another-boot/pid:[1]' }]) {
    const path = lockIn();
    plant(path, holder, 5_000);
    await assert.rejects(acquireFileLock(path, options), { code: 'ERR_LOCKED' }, JSON.stringify(holder));
    plant(path, holder, 31_000);
    assert.match((await inspectFileLock(path)).why, /heartbeat stopped/);
    const lock = await acquireFileLock(path, options);
    await lock.release();
  }
});

test('a holder whose lock was taken over finds out before it writes, and its heartbeat and release leave the new lock alone', async () => {
  const path = lockIn();
  const lock = await acquireFileLock(path, options);
  await lock.verify();
  plant(path, { pid: 4242, host: 'build-7.other.example', token: 'theirs' }, 0);
  const planted = readFileSync(path, 'utf8');
  await assert.rejects(lock.verify(), (error) => error.code === 'ERR_LOCK_LOST' && error.exitCode === 1 && /build-7\.other\.example/.test(error.message));
  await lock.release();
  assert.equal(readFileSync(path, 'utf8'), planted);
});
