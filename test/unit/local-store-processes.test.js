// The local store across real processes: the writer lock between two processes, takeover of a
// lock whose holder was killed with -9, and a writer killed -9 mid-stream losing no acknowledged write.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { openLocalStore } from '../../dist/stores/local/index.js';

const MODULE = new URL('../../dist/stores/local/index.js', import.meta.url).href;
const SECRET_VALUE = new URL('../../dist/secret-value.js', import.meta.url).href;

const HOLD_LOCK = `
import { openLocalStore } from ${JSON.stringify(MODULE)};
const store = openLocalStore({ path: process.argv[1] }, process.env);
await store.lock({ waitMs: 1000, owner: 'child-holder' });
process.stdout.write('locked\\n');
setInterval(() => {}, 60_000);
`;

// Eight concurrent writers in one process, each on its own keys; prints "ack <key> <n>" once durable.
const WRITE_FOREVER = `
import { openLocalStore } from ${JSON.stringify(MODULE)};
import { SecretValue } from ${JSON.stringify(SECRET_VALUE)};
const [path, round] = process.argv.slice(1);
const store = openLocalStore({ path }, process.env, { compactMinDead: 40 });
await store.lock({ waitMs: 5000, owner: 'child-writer' });
const meta = { rotation: null, lastRotatedAt: null, pendingEvents: [] };
await Promise.all(Array.from({ length: 8 }, async (_, w) => {
  for (let n = 0; ; n++) {
    const key = 'k' + w + '-' + (n % 5);
    const id = 'r' + round + '-' + n;
    const create = { type: 'create', versionId: id, value: SecretValue.fromString('value ' + id), stage: 'PENDING' };
    await store.apply(key, [create, { type: 'promote', versionId: id }], meta);
    process.stdout.write('ack ' + key + ' ' + id + '\\n');
  }
}));
`;

describe('local store across processes', () => {
  let dir;
  let path;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keyshift-proc-'));
    path = join(dir, 'dev.store');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('blocks a second process with ERR_LOCKED naming the holder, and takes over after kill -9', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', HOLD_LOCK, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await waitForLine(child, (line) => line === 'locked');
      const store = openLocalStore({ path }, {});
      await assert.rejects(store.lock({ waitMs: 200, owner: 'parent' }), (error) => {
        assert.equal(error.code, 'ERR_LOCKED');
        assert.equal(error.exitCode, 3);
        assert.ok(error.message.includes(`pid ${child.pid}`), error.message);
        assert.ok(error.message.includes('child-holder') && error.message.includes(path));
        return true;
      });
      child.kill('SIGKILL');
      await once(child, 'exit');
      const lock = await store.lock({ waitMs: 2000, owner: 'parent' });
      await lock.release();
      await store.close();
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('lets readers in another process follow a writer through appends and compactions without a lock', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', WRITE_FOREVER, path, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let acks = 0;
      await waitForLine(child, () => acks >= 5, (line) => {
        if (line.startsWith('ack ')) acks += 1;
      });
      const follower = openLocalStore({ path }, {});
      const seen = new Set();
      for (const deadline = Date.now() + 1500; Date.now() < deadline; ) {
        const state = await follower.read('k0-0'); // the same instance: incremental reads, reloads on rename
        if (state) seen.add(state.versions.find((v) => v.stages.includes('CURRENT')).id);
        const fresh = openLocalStore({ path }, {});
        await fresh.readMeta(); // a fresh instance: full replay while the writer appends
        seen.add(`generation ${fresh.stats.generation}`);
      }
      assert.ok([...seen].filter((x) => String(x).startsWith('generation')).length >= 2, 'saw at least one compaction');
      assert.ok([...seen].filter((x) => String(x).startsWith('r0-')).length >= 2, 'saw the secret change');
      await follower.close();
    } finally {
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    }
  });

  it('keeps every acknowledged write when the writer is killed -9 at any moment', async () => {
    const acked = new Map(); // key -> version ids acknowledged, in order
    let generation = 0;
    for (const [round, delayMs] of [[0, 150], [1, 90], [2, 230], [3, 40]]) {
      const child = spawn(process.execPath, ['--input-type=module', '-e', WRITE_FOREVER, path, String(round)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let count = 0;
      await waitForLine(child, () => count >= 20, (line) => {
        const [word, key, id] = line.split(' ');
        if (word !== 'ack') return;
        acked.set(key, [...(acked.get(key) ?? []), id]);
        count += 1;
      });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      child.kill('SIGKILL');
      await once(child, 'exit');

      const store = openLocalStore({ path }, {});
      for (const [key, ids] of acked) {
        const state = await store.read(key);
        assert.ok(state, `${key} exists after round ${round}`);
        const current = state.versions.find((v) => v.stages.includes('CURRENT'));
        const last = ids.at(-1);
        assert.ok(current && sequence(current.id) >= sequence(last), `${key}: CURRENT ${current?.id} is at least the last acknowledged ${last}`);
        assert.equal((await store.readValue(key, current.id)).reveal(), `value ${current.id}`);
      }
      generation = store.stats.generation;
      await store.close();
    }
    assert.ok(generation >= 2, `the writers compacted meanwhile (generation ${generation})`);
  });
});

function sequence(id) {
  const [round, n] = id.slice(1).split('-').map(Number);
  return round * 1e9 + n;
}

/** Feeds every stdout line to `onLine` for the child's whole life; resolves once `done()` holds. */
async function waitForLine(child, done, onLine = () => {}) {
  let buffer = '';
  let settled = false;
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop();
      for (const line of lines) {
        onLine(line);
        if (!settled && done(line)) {
          settled = true;
          resolve();
        }
      }
    });
    child.once('exit', (code, signal) => {
      if (!settled) reject(new Error(`child exited early (${code ?? signal})`));
    });
  });
}
