// A project in a temp dir for the engine's run functions (rotateRun, rollbackRun, statusRun …) called
// in-process: a policy file loaded by the real loader, local stores under .keyshift/, an evidence
// dir, a fixed clock and a logger that keeps what it was told.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadPolicies } from '../../dist/policy/load.js';
import { openLocalStore } from '../../dist/stores/local/index.js';
import { recordingLog } from './recording-log.js';

export const HOUR = 3600_000;
export const DAY = 24 * HOUR;
export const START = Date.parse('2026-11-23T10:00:00Z');

/** The "could not release the lease" warnings a run of project `p` logged, as [target, error]. */
export const leaseWarnings = (p) => p.logs.filter((l) => l[1] === 'could not release the lease; it expires on its own').map((l) => [l[2].target, l[2].err]);

/** One secret's YAML: `envs` are [name, extra store keys, extra env lines]; `lines` go under the secret. */
export function secretYaml(name, { envs = ['dev', 'prod'], lines = [], fallbackWindow = '48h', interval = '90d' } = {}) {
  return [
    `  - name: ${name}`,
    `    interval: ${interval}`,
    `    fallbackWindow: ${fallbackWindow}`,
    ...(lines.some((l) => l.startsWith('generator:')) ? [] : ['    generator: { type: random, bytes: 32 }']),
    ...lines.map((l) => `    ${l}`),
    '    environments:',
    ...envs.flatMap((env) => {
      const [envName, store = `{ type: local, path: .keyshift/${envName}.store }`, extra = []] = Array.isArray(env) ? env : [env];
      return [`      - name: ${envName}`, `        store: ${store}`, ...extra.map((l) => `        ${l}`)];
    }),
  ].join('\n');
}

export async function project(t, secrets, { env = {} } = {}) {
  const cwd = mkdtempSync(join(tmpdir(), 'keyshift-engine-run-'));
  const opened = [];
  t.after(async () => {
    for (const store of opened) await store.close();
    rmSync(cwd, { recursive: true, force: true });
  });
  mkdirSync(join(cwd, 'policies'));
  writeFileSync(join(cwd, 'policies/p.yaml'), `secrets:\n${secrets.join('\n')}\n`);
  const loaded = await loadPolicies('policies', { cwd });
  if (loaded.errors.length > 0) throw new Error(JSON.stringify(loaded.errors));
  const { log: logger, logs } = recordingLog();
  let clock = START;
  const masterKey = randomBytes(32).toString('base64');
  const ctx = {
    cwd,
    env: { KEYSHIFT_MASTER_KEY: masterKey, KEYSHIFT_OPERATOR: 'tester', ...env },
    now: () => new Date(clock),
    logger,
    evidenceDir: join(cwd, 'evidence'),
    lockWaitMs: 50,
  };
  const storePath = (name) => join(cwd, '.keyshift', `${name}.store`);
  /** A second handle on a local store file (as another process would have). */
  const store = (name) => {
    const s = openLocalStore({ path: storePath(name) }, ctx.env);
    opened.push(s);
    return s;
  };
  const evidence = () => {
    try {
      return readFileSync(join(ctx.evidenceDir, 'evidence.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line));
    } catch (error) {
      if (error.code === 'ENOENT') return [];
      throw error;
    }
  };
  const stages = async (name, key) => ((await store(name).read(key))?.versions ?? []).map((v) => [v.id, v.stages]);
  return {
    cwd,
    ctx,
    policies: loaded.policies,
    logs,
    store,
    storePath,
    evidence,
    stages,
    advance: (ms) => (clock += ms),
    messages: (level) => logs.filter((l) => l[0] === level).map((l) => l[1]),
  };
}

export const all = { names: [], all: true, envs: [] };
