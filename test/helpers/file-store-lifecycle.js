// One end-to-end lifecycle for a file store (dotenv, k8s-secret), spawning the real CLI: provision,
// a rotation with overlap and hooks through staging then production, fallback, decommission, a
// failed verify that rolls production back, rollback, and at the end: only keyshift's lines of the
// files changed, the evidence verifies, and a canary value never leaked (trace logs, evidence,
// hook argv, the store's own state, and what the caller adds).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { baseEnv, cli, json, readEvidence, tempProject, writeFiles } from './cli.js';
import { CANARY, CANARY_GENERATOR, otherLines } from './file-stores.js';

// The hook reads the value from stdin, records where it ran and whether the value reached its argv
// or environment, prints it (keyshift must redact it) and fails when FAIL_HOOK names it.
const HOOK = `
const fs = require('node:fs');
const value = fs.readFileSync(0, 'utf8');
const [phase, env] = process.argv.slice(2);
fs.appendFileSync(process.env.HOOK_LOG, JSON.stringify({ phase, env, gotValue: value.startsWith('${CANARY}'),
  inArgv: fs.readFileSync('/proc/self/cmdline', 'utf8').includes('${CANARY}'),
  inEnviron: fs.readFileSync('/proc/self/environ', 'utf8').includes('${CANARY}') }) + '\\n');
process.stdout.write('hook saw ' + value + '\\n');
process.exit(process.env.FAIL_HOOK === phase + ':' + env ? 1 : 0);
`;

/**
 * kind: { name, files: {path: text}, store(env) → policy store line, read(dir, env, secret) →
 * {CURRENT, PENDING, PREVIOUS}, names: keyshift's names in the files, env: extra environment,
 * setup(dir) (optional), leakChecks(dir) → [[what, text]] }
 */
export async function fileStoreLifecycle(kind) {
  const dir = tempProject(`keyshift-${kind.name}-e2e-`);
  const envs = ['staging', 'production'];
  const secrets = ['webhook-signing-key', 'api-token'];
  const policy = `secrets:\n${secrets
    .map(
      (name) => `  - name: ${name}
    interval: 30d
    fallbackWindow: 2s
    generator: ${CANARY_GENERATOR}
    environments:
${envs
  .map(
    (env) => `      - name: ${env}
        store: ${kind.store(env)}
        deploy: [{ run: [node, hook.cjs, deploy, ${env}], env: [HOOK_LOG, FAIL_HOOK] }]
        verify: [{ run: [node, hook.cjs, verify, ${env}], env: [HOOK_LOG, FAIL_HOOK] }]
`,
  )
  .join('')}`,
    )
    .join('')}`;
  writeFiles(dir, { 'hook.cjs': HOOK, 'policies/app.yaml': policy, ...kind.files });
  kind.setup?.(dir);
  const originals = Object.fromEntries(Object.keys(kind.files).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
  const env = baseEnv({ HOOK_LOG: join(dir, 'hooks.jsonl'), ...kind.env });
  const outputs = [];
  const run = async (args, extraEnv = {}) => {
    const result = await cli([...args, '--log-level', 'trace'], { cwd: dir, env: { ...env, ...extraEnv } });
    outputs.push({ args, ...result });
    return result;
  };
  const values = (envName, secret) => kind.read(dir, envName, secret);

  // 1. The first run: api-token is provisioned; the hand-made webhook key is taken over as it is.
  const first = await run(['rotate', '--all', '--json']);
  assert.equal(first.code, 0, first.stderr);
  const provisioned = json(first).results.filter((r) => r.outcome === 'provisioned').map((r) => `${r.secret}/${r.environment}`);
  assert.deepEqual(provisioned.sort(), ['api-token/production', 'api-token/staging']);
  for (const e of envs) assert.deepEqual(values(e, 'webhook-signing-key'), { CURRENT: 'hand-made-key' }, 'the existing value is kept');

  // 2. A forced rotation with overlap: deploy and verify hooks, staging then production.
  const before = Object.fromEntries(envs.map((e) => [e, values(e, 'webhook-signing-key')]));
  const rotated = await run(['rotate', '--all', '--force', '--reason', 'scheduled', '--json']);
  assert.equal(rotated.code, 0, rotated.stderr);
  assert.equal(json(rotated).results.filter((r) => r.outcome === 'rotated').length, 4);
  for (const e of envs) {
    const now = values(e, 'webhook-signing-key');
    assert.equal(now.PREVIOUS, before[e].CURRENT, `${e}: the old value stays as PREVIOUS (fallback)`);
    assert.ok(now.CURRENT.startsWith(CANARY) && now.PENDING === undefined, `${e}: the new value is CURRENT`);
  }
  const hooks = readFileSync(join(dir, 'hooks.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(hooks.filter((h) => h.phase === 'deploy').length, 4, 'a deploy hook per secret and environment');
  assert.ok(hooks.findIndex((h) => h.env === 'staging' && h.phase === 'verify') < hooks.findIndex((h) => h.env === 'production'), 'staging is verified before production starts');
  assert.ok(hooks.every((h) => h.gotValue && !h.inArgv && !h.inEnviron), 'hooks get the value on stdin only');
  const status = json(await run(['status', '--json']));
  assert.ok(status.secrets.every((s) => s.phase === 'fallback'), 'fallback after the switch');
  const got = await cli(['get', 'webhook-signing-key', '--env', 'production', '--stage', 'previous'], { cwd: dir, env });
  assert.equal(got.stdout, `${before.production.CURRENT}\n`);

  // 3. After the fallback window, any run decommissions: the PREVIOUS lines go.
  await sleep(2100);
  const decommission = await run(['rotate', '--all', '--json']);
  assert.equal(decommission.code, 0, decommission.stderr);
  assert.equal(json(decommission).results.filter((r) => r.outcome === 'decommissioned').length, 4);
  for (const e of envs) for (const s of secrets) assert.deepEqual(Object.keys(values(e, s)), ['CURRENT'], `${e}/${s}: only CURRENT left`);

  // 4. A failing verify in production: staging switched, production rolled back to exactly what it held.
  const productionFiles = Object.keys(kind.files).filter((f) => f.includes('production'));
  const beforeFail = Object.fromEntries(envs.map((e) => [e, values(e, 'webhook-signing-key')]));
  const failed = await run(['rotate', 'webhook-signing-key', '--force', '--reason', 'verify fails', '--json'], { FAIL_HOOK: 'verify:production' });
  assert.equal(failed.code, 1, failed.stderr);
  assert.deepEqual(values('production', 'webhook-signing-key'), beforeFail.production, 'production rolled back, no PENDING left');
  assert.notEqual(values('staging', 'webhook-signing-key').CURRENT, beforeFail.staging.CURRENT, 'staging had switched');
  assert.ok(productionFiles.length > 0);

  // 5. A rotation of production alone, then a rollback puts the old value back as CURRENT.
  const resumed = await run(['rotate', 'webhook-signing-key', '--env', 'production', '--force', '--reason', 'again', '--json']);
  assert.equal(resumed.code, 0, resumed.stderr);
  const beforeRollback = values('production', 'webhook-signing-key');
  assert.equal(beforeRollback.PREVIOUS, beforeFail.production.CURRENT);
  const rolledBack = await run(['rollback', 'webhook-signing-key', '--env', 'production', '--json']);
  assert.equal(rolledBack.code, 0, rolledBack.stderr);
  assert.deepEqual(values('production', 'webhook-signing-key'), { CURRENT: beforeFail.production.CURRENT });

  // 6. Evidence verifies; the files changed only in keyshift's own lines.
  const verify = await run(['evidence', 'verify']);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  for (const [file, text] of Object.entries(originals)) {
    assert.deepEqual(otherLines(readFileSync(join(dir, file), 'utf8'), kind.names), otherLines(text, kind.names), `${file}: only keyshift's lines changed`);
  }

  // 7. The canary: nowhere but the store's values and get's stdout.
  assert.ok(outputs.some((o) => /"level":(10|20)\b/.test(o.stderr)), "trace logging was on (debug lines logged)");
  assert.ok(outputs.some((o) => o.stderr.includes('hook saw [redacted]')), 'hook output is logged, redacted');
  for (const o of outputs) {
    assert.ok(!o.stdout.includes(CANARY), `stdout of ${o.args.join(' ')}`);
    assert.ok(!o.stderr.includes(CANARY), `stderr of ${o.args.join(' ')}`);
  }
  const evidence = readEvidence(dir);
  assert.ok(evidence.length > 10 && !JSON.stringify(evidence).includes(CANARY), 'evidence');
  for (const [what, text] of kind.leakChecks(dir)) assert.ok(!text.includes(CANARY), what);
  return { dir, evidence };
}
