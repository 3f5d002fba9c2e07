// The shared conformance suite on the `command` store, running the example store
// (examples/command-store/file-store.sh), plus protocol v1's failure cases: a program that prints
// garbage, hangs or exits non-zero without a reply is a clear error naming it, and nothing changes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testStore } from '../helpers/store-conformance.js';
import { openCommandStore } from '../../dist/stores/command/index.js';
import { SecretValue } from '../../dist/secret-value.js';

const script = fileURLToPath(new URL('../../examples/command-store/file-store.sh', import.meta.url));
const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child() { return silent; } };
const meta = (overrides = {}) => ({ rotation: null, lastRotatedAt: null, pendingEvents: [], ...overrides });

async function open(config = {}, { run = [script], timeoutMs = 10_000, env = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-cmd-'));
  const spec = { type: 'command', key: 'unused', run, config: { dir: join(dir, 'entries'), ...config }, timeoutMs };
  const store = await openCommandStore(spec, { env: { PATH: process.env.PATH, HOME: dir, KEYSHIFT_STATE_DIR: join(dir, 'state'), ...env }, log: silent, aws: {}, storeId: `command:${dir}` });
  return { store, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

testStore('command (examples/command-store/file-store.sh)', { create: () => open() });

describe('command store protocol v1', () => {
  test('values never reach the program\'s argv or environment; keyshift\'s keys are not inherited', async () => {
    const canary = `canary-${Date.now()}-zq`;
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-cmd-rec-'));
    const rec = join(dir, 'rec');
    const { store: recording, cleanup } = await open({ recordDir: rec }, { env: { KEYSHIFT_MASTER_KEY: 'bWFzdGVy' } });
    const lock = await recording.lock({ waitMs: 1000, owner: 't' });
    await recording.apply('k', [{ type: 'create', versionId: 'v1', value: SecretValue.fromString(canary), stage: 'CURRENT' }], meta());
    assert.equal((await recording.readValue('k', 'v1')).reveal(), canary);
    await lock.release();
    const files = readdirSync(rec);
    assert.ok(files.some((f) => f.startsWith('cmdline.')) && files.some((f) => f.startsWith('environ.')), 'the example recorded itself');
    for (const f of files) {
      const text = readFileSync(join(rec, f), 'latin1');
      assert.ok(!text.includes(canary), `${f} holds the canary`);
      assert.ok(!text.includes('KEYSHIFT_MASTER_KEY'), `${f} inherited keyshift's key`);
    }
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [how, code, pattern] of [
    ['garbage', 'ERR_STORE_PROTOCOL', /not one JSON object/],
    ['crash', 'ERR_STORE_COMMAND', /exited 7 without a reply/],
    ['hang', 'ERR_STORE_TIMEOUT', /did not reply within 4000 ms/],
  ]) {
    test(`a program that ${how === 'crash' ? 'exits non-zero without a reply' : how === 'hang' ? 'hangs' : 'prints garbage'} is ${code}, naming it, and nothing changes`, async () => {
      const { store, dir, cleanup } = await open();
      const lock = await store.lock({ waitMs: 1000, owner: 't' });
      await store.apply('k', [{ type: 'create', versionId: 'v1', value: SecretValue.fromString('one'), stage: 'CURRENT' }], meta());
      const before = await store.read('k');
      const { store: bad } = await open({ dir: join(dir, 'entries'), misbehave: { apply: how } }, { timeoutMs: 4000 });
      const badLock = await bad.lock({ waitMs: 1000, owner: 't' });
      const started = Date.now();
      await assert.rejects(bad.apply('k', [{ type: 'create', versionId: 'v2', value: SecretValue.fromString('two'), stage: 'PENDING' }], meta()), (e) => {
        assert.equal(e.code, code);
        assert.match(e.message, pattern);
        assert.ok(e.message.includes(script), 'names the program');
        assert.ok(!e.message.includes('two') && !e.message.includes('oops'), 'neither the value nor stderr');
        return true;
      });
      assert.ok(Date.now() - started < 20_000, 'a hanging program is stopped');
      assert.deepEqual(await store.read('k'), before);
      await badLock.release();
      await lock.release();
      await cleanup();
    });
  }

  test('a program that supports lock/unlock holds a lease across machines: a second run is ERR_LOCKED (exit 3) until unlock', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-cmd-lease-'));
    const program = join(dir, 'leasing-store.sh');
    // lock/unlock here (a directory as the lease), every other op by the example store.
    writeFileSync(program, `#!/bin/sh\nrequest=$(cat)\nlease="$(dirname "$0")/lease"\ncase "$(printf '%s' "$request" | jq -r .op)" in\n  lock) mkdir "$lease" 2>/dev/null && { echo '{"lease":{"id":"l1"}}'; exit 0; }; echo '{"error":{"code":"REFUSED","message":"held by another run"}}'; exit 1 ;;\n  unlock) rmdir "$lease"; echo '{}' ;;\n  *) printf '%s' "$request" | exec ${script} ;;\nesac\n`);
    chmodSync(program, 0o755);
    const first = await open({}, { run: [program] });
    const second = await open({ dir: join(first.dir, 'entries') }, { run: [program] }); // another machine: its own lock file
    const held = await first.store.lock({ waitMs: 1000, owner: 'one' });
    await assert.rejects(second.store.lock({ waitMs: 100, owner: 'two' }), (e) => e.code === 'ERR_LOCKED' && e.exitCode === 3 && /held by another run/.test(e.message));
    await first.store.apply('k', [{ type: 'create', versionId: 'v1', value: SecretValue.fromString('one'), stage: 'CURRENT' }], meta());
    await held.release();
    const now = await second.store.lock({ waitMs: 100, owner: 'two' });
    await now.release();
    await first.cleanup();
    await second.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a rotation under one lock starts the program once per call the engine makes: an apply does not read again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-cmd-ops-'));
    const wrapper = join(dir, 'logging-store.sh');
    // Logs each request's op, then hands the request to the example store.
    writeFileSync(wrapper, `#!/bin/sh\nrequest=$(cat)\nprintf '%s' "$request" | jq -r .op >> "${join(dir, 'ops.log')}"\nprintf '%s' "$request" | exec "${script}"\n`);
    chmodSync(wrapper, 0o755);
    const { store, cleanup } = await open({}, { run: [wrapper] });
    const lock = await store.lock({ waitMs: 1000, owner: 't' });
    assert.equal(await store.read('k'), null);
    await store.apply('k', [{ type: 'create', versionId: 'v1', value: SecretValue.fromString('one'), stage: 'CURRENT' }], meta());
    await store.apply('k', [{ type: 'create', versionId: 'v2', value: SecretValue.fromString('two'), stage: 'PENDING' }], meta());
    await store.apply('k', [{ type: 'promote', versionId: 'v2' }], meta());
    await lock.release();
    const ops = readFileSync(join(dir, 'ops.log'), 'utf8').trim().split('\n');
    assert.deepEqual(ops, ['lock', 'read', 'apply', 'apply', 'apply']); // the example has no lock: UNSUPPORTED once
    // Under a new lock the entry is read afresh (another run may have changed it in between).
    const again = await store.lock({ waitMs: 1000, owner: 't' });
    await store.apply('k', [{ type: 'retire', versionId: 'v1' }], meta());
    await again.release();
    assert.deepEqual(readFileSync(join(dir, 'ops.log'), 'utf8').trim().split('\n').slice(5), ['read', 'apply']);
    assert.deepEqual((await store.read('k')).versions.map((v) => [v.id, v.stages]), [['v2', ['CURRENT']]]);
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a program that does not exist is a usage error naming it', async () => {
    const { store, cleanup } = await open({}, { run: ['/nonexistent/store-program'] });
    await assert.rejects(store.read('k'), (e) => e.code === 'ERR_STORE_COMMAND' && e.exitCode === 2 && e.message.includes('/nonexistent/store-program'));
    await cleanup();
  });

  test('error codes map to keyshift\'s; an unknown code is a protocol error; UNSUPPORTED meta falls back to this machine', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-cmd-codes-'));
    const program = join(dir, 'store.sh');
    writeFileSync(program, '#!/bin/sh\ncat >/dev/null\ncase "$CODE" in *) ;; esac\nprintf \'{"error":{"code":"%s","message":"m"}}\\n\' "$(cat "$(dirname "$0")/code")"\nexit 1\n');
    chmodSync(program, 0o755);
    const { store, cleanup } = await open({}, { run: [program] });
    for (const [theirs, ours] of [['NOT_FOUND', 'ERR_VERSION_NOT_FOUND'], ['ACCESS_DENIED', 'ERR_STORE_ACCESS_DENIED'], ['UNAVAILABLE', 'ERR_STORE_UNAVAILABLE'], ['THROTTLED', 'ERR_STORE_THROTTLED'], ['REFUSED', 'ERR_STORE_REFUSED'], ['WHAT', 'ERR_STORE_PROTOCOL']]) {
      writeFileSync(join(dir, 'code'), theirs);
      await assert.rejects(store.readValue('k', 'v1'), { code: ours }, theirs);
    }
    writeFileSync(join(dir, 'code'), 'UNSUPPORTED');
    assert.deepEqual(await store.readMeta(), { evidenceAnchors: {}, confirmedRuns: [] });
    const lock = await store.lock({ waitMs: 1000, owner: 't' });
    await store.writeMeta({ evidenceAnchors: {}, confirmedRuns: ['r1'] });
    assert.deepEqual((await store.readMeta()).confirmedRuns, ['r1']);
    await lock.release();
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
});
