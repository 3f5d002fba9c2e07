// A keyshift project in a temp dir for the in-process doctor tests (test/unit/doctor-*.test.js):
// real policies, real local stores with a real master key, a real evidence log written by
// rotateRun, and the engine's own functions to crash a rotation half-way as kill -9 would.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicies } from '../../dist/policy/load.js';
import { StoreRegistry } from '../../dist/stores/registry.js';
import { targetsOf } from '../../dist/engine/selection.js';
import { rotateRun } from '../../dist/engine/runner.js';
import { doctorRun } from '../../dist/engine/doctor/index.js';
import { startRotation } from '../../dist/engine/steps.js';
import { SecretValue } from '../../dist/secret-value.js';
import { EvidenceLog } from '../../dist/evidence/index.js';

export const quiet = { child: () => quiet, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** One secret of the policy YAML; `store` is the local store file, `extra` lines go under the environment. */
export const secret = (name, { interval = '30d', fallbackWindow = '1h', store = 'stores/dev.store', extra = '', env = 'dev' } = {}) =>
  `  - name: ${name}\n    interval: ${interval}\n    fallbackWindow: ${fallbackWindow}\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: ${env}\n        store: { type: local, path: ${store} }\n${extra}`;

/** A pid no process has (above the kernel's pid_max). */
export const DEAD_PID = 2 ** 22 + 12345;

/** A lock file as src/util/file-lock.ts writes it, naming `pid` on this host. */
export const lockText = (pid, owner = 'keyshift rotate (test)') =>
  JSON.stringify({ pid, host: hostname(), owner, token: randomBytes(8).toString('hex'), acquiredAt: '2026-01-01T00:00:00.000Z' });

/**
 * A project with `secrets` (YAML of secret()) in policies/, every secret provisioned by a real
 * rotateRun unless `provision` is false (an object: that run's options). `clock` is the engine's clock (ms), changed by `at(ms)`.
 */
export async function doctorProject(t, secrets, { provision = true, env: extraEnv = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-doctor-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies', 'app.yaml'), `secrets:\n${secrets.join('')}`);
  const env = { KEYSHIFT_MASTER_KEY: randomBytes(32).toString('base64'), KEYSHIFT_OPERATOR: 'tester', ...extraEnv };
  const loaded = await loadPolicies('policies', { cwd: dir, env });
  assert.deepEqual(loaded.errors, []);
  const clock = { ms: Date.parse('2026-11-01T10:00:00.000Z') };
  const ctx = { cwd: dir, env, now: () => new Date(clock.ms), logger: quiet, evidenceDir: join(dir, 'evidence'), lockWaitMs: 200 };
  const p = {
    dir,
    ctx,
    clock,
    policies: loaded.policies,
    at: (iso) => (clock.ms = Date.parse(iso)),
    later: (ms) => (clock.ms += ms),
    doctor: (options = {}) => doctorRun(ctx, p.policies, { names: [], all: true, envs: [], fix: false, ...options }),
    rotate: (options = {}) => rotateRun(ctx, p.policies, { names: [], all: true, envs: [], force: false, concurrency: 1, ...options }),
    evidence: () => readEvents(dir),
    /** Every file of the project but the policies, with its bytes: "nothing changed" means equal. */
    snapshot: () => snapshot(dir),
    /** Opens the targets (closed after the test). */
    targets: async () => {
      const stores = new StoreRegistry(ctx);
      t.after(() => stores.closeAll());
      return targetsOf(p.policies, [], stores);
    },
    /** Rewrites policies/app.yaml with `secrets` and loads it (the stores and the log stay). */
    rewrite: async (next) => {
      writeFileSync(join(dir, 'policies', 'app.yaml'), `secrets:\n${next.join('')}`);
      const again = await loadPolicies('policies', { cwd: dir, env });
      assert.deepEqual(again.errors, []);
      p.policies = again.policies;
    },
  };
  if (provision) {
    const report = await p.rotate(provision === true ? {} : provision);
    assert.equal(report.exitCode, 0, JSON.stringify(report.results));
  }
  return p;
}

/**
 * A rotation of `name` that dies as kill -9 would after its `issued` store write: the new version
 * is PENDING, the rotation record says overlap, the `issued` draft is in the store and never
 * reached the log. The secret needs a deploy hook (so issue and switch are separate writes).
 */
export async function crashRotation(p, name, { appended = false } = {}) {
  const stores = new StoreRegistry(p.ctx);
  try {
    const target = (await targetsOf(p.policies, [], stores)).find((x) => x.policy.name === name);
    const lock = await target.store.lock({ waitMs: 200, owner: 'test' });
    const state = await target.store.read(target.key);
    const run = {
      runId: 'run-crashed',
      operator: 'crasher',
      reason: 'crash',
      ticket: null,
      emergency: false,
      now: p.ctx.now,
      generate: async () => SecretValue.fromString(randomBytes(16).toString('hex')),
      runHook: async () => {
        throw new Error('killed');
      },
      // Died before appending its `issued` record, or (appended) in its first deploy hook.
      record: async (drafts) => {
        if (!appended) throw new Error('killed');
        const log = new EvidenceLog(p.ctx.evidenceDir);
        await log.append(drafts);
        await log.close();
      },
    };
    await assert.rejects(startRotation(target, state, run), /killed/);
    await lock.release();
    return (await target.store.read(target.key)).rotation;
  } finally {
    await stores.closeAll();
  }
}

/** The evidence log's records, parsed. */
export function readEvents(dir) {
  const text = readFileSync(join(dir, 'evidence', 'evidence.jsonl'), 'utf8');
  return text.trim().split('\n').map((line) => JSON.parse(line));
}

function snapshot(dir) {
  const files = {};
  const walk = (sub) => {
    for (const entry of readdirSync(join(dir, sub), { withFileTypes: true })) {
      const path = join(sub, entry.name);
      if (entry.name === 'policies') continue;
      if (entry.isDirectory()) walk(path);
      else files[path] = readFileSync(join(dir, path)).toString('base64');
    }
  };
  walk('.');
  return files;
}
