// Leak suite: with --log-level trace, through every command, hook kind and failure path, on the
// local store, on Secrets Manager, on the dotenv and k8s-secret files, on Vault (vault-kv2), on the
// example command store and on the example plugin, a canary value appears only on `get`'s stdout:
// never in other output, evidence, a webhook body, any child's argv or environment (the hooks and
// the command store's program check their own /proc/self/cmdline and environ, whether or not they
// were given the value), the store file, the values keyshift sends to Secrets Manager outside
// SecretString or to Vault outside the secret's fields, or a file left in the temp directory.
// Every leak found is listed, then asserted at once.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cli, root, runCliAsync, tempProject, writeFiles } from '../helpers/cli.js';
import { awsEnv } from '../helpers/aws.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';
import { startVault } from '../fakes/vault/server.js';

const CANARY = `KSLEAK${Math.random().toString(36).slice(2, 10)}`;
let fake;
let vault;
let webhook;
let commandData;
const webhookBodies = [];

before(async () => {
  fake = await startSecretsManager({ quotas: false });
  vault = await startVault({ token: 'leaks-token' });
  webhook = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      webhookBodies.push(body);
      res.end('ok');
    });
  });
  await new Promise((resolve) => webhook.listen(0, '127.0.0.1', resolve));
});
after(async () => {
  await fake?.close();
  await vault?.close();
  await new Promise((resolve) => webhook?.close(resolve));
});

// Every hook runs this: it reads the value (stdin and the value file), then records whether the
// canary is in its own argv or environment or keyshift's argv (a hook given no value is checked
// too), and prints the value on both streams (keyshift must redact it in its logs). `fail` makes
// it exit 3 after that.
const HOOK = `
const fs = require('node:fs');
const canary = '${CANARY}';
const value = fs.readFileSync(0, 'utf8');
const fromFile = process.env.KEYSHIFT_VALUE_FILE ? fs.readFileSync(process.env.KEYSHIFT_VALUE_FILE, 'utf8') : '';
const argv = fs.readFileSync('/proc/self/cmdline', 'utf8');
const environ = fs.readFileSync('/proc/self/environ', 'utf8');
const parentArgv = fs.readFileSync('/proc/' + process.ppid + '/cmdline', 'utf8');
fs.appendFileSync(process.env.HOOK_LOG, JSON.stringify({
  phase: process.env.KEYSHIFT_PHASE,
  gotValue: value.includes(canary) || fromFile.includes(canary),
  inArgv: argv.includes(canary),
  inEnviron: environ.includes(canary),
  inParentArgv: parentArgv.includes(canary),
}) + '\\n');
process.stdout.write('hook stdout ' + value + '\\n');
process.stderr.write('hook stderr ' + fromFile + '\\n');
process.exit(process.argv.includes('fail') ? 3 : 0);
`;

// `keyshift run`'s child: it must get the value in its environment and nowhere in argv.
const RUN_CHILD = `
const fs = require('node:fs');
const canary = '${CANARY}';
fs.appendFileSync(process.env.HOOK_LOG, JSON.stringify({
  phase: 'run',
  gotValue: (process.env.CANARY ?? '').startsWith(canary),
  inArgv: fs.readFileSync('/proc/self/cmdline', 'utf8').includes(canary),
  inEnviron: false,
  inParentArgv: fs.readFileSync('/proc/' + process.ppid + '/cmdline', 'utf8').includes(canary),
}) + '\\n');
`;

const generator = `{ type: command, run: [node, -e, "process.stdout.write('${CANARY}' + require('crypto').randomBytes(8).toString('hex'))"] }`;
const hook = (extra = '') => `{ run: [node, hook.cjs${extra}], env: [HOOK_LOG] }`;

function policy(store, { deploy = hook(), verify = hook(), revoke = hook(), check = hook() } = {}) {
  return `secrets:
  - name: canary
    interval: 30d
    fallbackWindow: 1s
    generator: ${generator}
    revoke: [${revoke}]
    decommissionCheck: [${check}]
    notify: [{ webhook: "http://127.0.0.1:${webhook.address().port}/hook", on: [failed, switched, decommissioned, rolled-back, provisioned, issued, deployed, verified] }]
    environments:
      - name: dev
        store: ${store}
        deploy: [${deploy}]
        verify: [${verify}]
`;
}

/** The member paths of a request (`Tags[0].Value`) whose string value contains `needle`. */
function pathsHolding(value, needle, path = '') {
  if (typeof value === 'string') return value.includes(needle) ? [path] : [];
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, member]) => pathsHolding(member, needle, Array.isArray(value) ? `${path}[${key}]` : path ? `${path}.${key}` : key));
}

function lineWith(text, needle) {
  return text.split('\n').find((line) => line.includes(needle))?.slice(0, 300);
}

function filesUnder(dir) {
  const out = [];
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

const STORES = {
  local: () => '{ type: local, path: .keyshift/dev.store }',
  'aws-secrets-manager': () => `{ type: aws-secrets-manager, secretId: leaks/canary, endpoint: "${fake.endpoint}", createIfMissing: true }`,
  dotenv: () => '{ type: dotenv, path: .env }',
  'k8s-secret': () => '{ type: k8s-secret, path: deploy/secret.yaml, name: app }',
  'vault-kv2': () => '{ type: vault-kv2, path: leaks/canary }',
  command: () => {
    commandData = mkdtempSync(join(tmpdir(), 'keyshift-leaks-cmd-'));
    return `{ type: command, run: ["${join(root, 'examples', 'command-store', 'file-store.sh')}"], config: { dir: "${join(commandData, 'entries')}", recordDir: "${join(commandData, 'record')}" } }`;
  },
  plugin: () => `{ type: plugin, module: "${join(root, 'examples', 'json-file-store', 'index.js')}", path: .keyshift/dev.json }`,
};

for (const kind of Object.keys(STORES)) {
  test(`${kind} store: a canary value never leaks outside get`, { timeout: 120_000 }, async (t) => {
    const dir = tempProject('keyshift-leaks-');
    const temp = mkdtempSync(join(tmpdir(), 'keyshift-leaks-tmp-'));
    const hookLog = join(dir, 'hooks.jsonl');
    const store = STORES[kind]();
    writeFiles(dir, { 'hook.cjs': HOOK, 'policies/canary.yaml': policy(store) });
    const env = awsEnv({ TMPDIR: temp, HOOK_LOG: hookLog, KEYSHIFT_LOG_LEVEL: 'trace', VAULT_ADDR: vault.address, VAULT_TOKEN: 'leaks-token' });
    const outputs = [];
    const run = async (...args) => {
      const result = await cli([...args, '--log-level', 'trace'], { cwd: dir, env });
      outputs.push({ args, ...result });
      return result;
    };
    const swap = (overrides) => writeFiles(dir, { 'policies/canary.yaml': policy(store, overrides) });

    assert.equal((await run('rotate', '--all')).code, 0, 'provision');
    assert.equal((await run('rotate', '--all', '--force', '--reason', 'leak test')).code, 0, 'a rotation with every hook passing');
    await run('plan');
    await run('plan', '--json', '--force');
    await run('status');
    await run('status', '--json');
    await run('rotate', '--all', '--force', '--dry-run');
    await run('evidence', 'verify');

    // Failure paths: a failing deploy hook (rollback), a failing verify hook, a failing gate, a failing revoke hook.
    swap({ deploy: hook(', fail') });
    assert.equal((await run('rotate', '--all', '--force', '--reason', 'deploy fails')).code, 1);
    swap({ verify: hook(', fail') });
    assert.equal((await run('rotate', '--all', '--force', '--reason', 'verify fails', '--json')).code, 1);
    swap({});
    assert.equal((await run('rotate', '--all', '--force', '--reason', 'into fallback')).code, 0);
    swap({ check: hook(', fail') });
    await sleep(1100);
    assert.equal((await run('rotate', '--all')).code, 3, 'the decommission gate holds');
    swap({ revoke: hook(', fail') });
    assert.equal((await run('rotate', '--all')).code, 1, 'a failing revoke hook');
    swap({});
    assert.equal((await run('rotate', '--all')).code, 0, 'the decommission');
    assert.equal((await run('rotate', '--all', '--force', '--reason', 'again')).code, 0);
    assert.equal((await run('rollback', 'canary')).code, 0);
    // Interrupted during a hook: SIGTERM stops it and removes its value file.
    writeFiles(dir, { 'slow.cjs': "require('node:fs').readFileSync(0); setTimeout(() => {}, 10000);" });
    swap({ deploy: '{ run: [node, slow.cjs] }' });
    const slow = runCliAsync(['rotate', '--all', '--force', '--reason', 'interrupted', '--log-level', 'trace'], { cwd: dir, env });
    await sleep(1500);
    slow.child.kill('SIGTERM');
    const interrupted = await slow.done;
    outputs.push({ args: ['rotate (interrupted)'], ...interrupted });
    assert.equal(interrupted.code, 143, interrupted.stderr);
    swap({});
    assert.equal((await run('rotate', '--all', '--json')).code, 0, 'the rerun resumes');

    // run and env: the child sees the value in its environment (run-child.cjs records where);
    // keyshift's own output stays clean. env prints values by design, like get: stderr only.
    writeFiles(dir, { 'run-child.cjs': RUN_CHILD });
    assert.equal((await run('run', '--', 'node', 'run-child.cjs')).code, 0, 'run');
    const printed = await cli(['env', '--log-level', 'trace'], { cwd: dir, env });
    assert.match(printed.stdout, new RegExp(`^CANARY='${CANARY}`), 'env prints the value');
    outputs.push({ args: ['env (stderr only)'], stdout: '', stderr: printed.stderr });
    const got = await cli(['get', 'canary', '--log-level', 'trace'], { cwd: dir, env });
    assert.match(got.stdout, new RegExp(`^${CANARY}[0-9a-f]{16}\\n$`), 'get prints the value');
    outputs.push({ args: ['get (stderr only)'], stdout: '', stderr: got.stderr });

    const hooks = readFileSync(hookLog, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    const leaks = [];
    for (const o of outputs) {
      if (o.stdout.includes(CANARY)) leaks.push(`stdout of ${o.args.join(' ')}`);
      if (o.stderr.includes(CANARY)) leaks.push(`stderr of ${o.args.join(' ')}: ${lineWith(o.stderr, CANARY)}`);
    }
    if (readFileSync(join(dir, 'evidence', 'evidence.jsonl'), 'utf8').includes(CANARY)) leaks.push('the evidence log');
    if (webhookBodies.some((b) => b.includes(CANARY))) leaks.push('a webhook body');
    for (const h of hooks) {
      if (h.inArgv) leaks.push(`${h.phase} hook's argv`);
      if (h.inEnviron) leaks.push(`${h.phase} hook's environment`);
      if (h.inParentArgv) leaks.push(`keyshift's argv (seen by the ${h.phase} hook)`);
    }
    for (const file of filesUnder(temp)) if (readFileSync(file).includes(CANARY)) leaks.push(`temp file ${file}`);
    if (kind === 'vault-kv2') {
      if (JSON.stringify(vault.inspect('secret', 'leaks/canary').custom_metadata).includes(CANARY)) leaks.push("the secret's custom_metadata");
      // Vault is given the value by design, in the secret's fields (value, value_PENDING,
      // value_PREVIOUS of a KV write) and nowhere else: not in a path, a header or other members.
      const carrying = vault.calls.filter((c) => c.body.includes(CANARY));
      if (!carrying.some((c) => c.method !== 'GET' && /\/data\//.test(c.path))) leaks.push('no KV write carried the value: the call log no longer records bodies, so this check proves nothing');
      for (const call of vault.calls) {
        if (call.path.includes(CANARY)) leaks.push(`${call.method} ${call.path.slice(0, 80)}: the path`);
        if (JSON.stringify(call.headers).includes(CANARY)) leaks.push(`${call.method} ${call.path}: a header`);
        if (!call.body.includes(CANARY)) continue;
        for (const path of pathsHolding(JSON.parse(call.body), CANARY)) if (!/^data\.value(_PENDING|_PREVIOUS)?$/.test(path)) leaks.push(`${call.method} ${call.path}, member ${path}`);
      }
    } else if (kind === 'command') {
      // The program's entry files hold values by design (the example keeps them unencrypted); its
      // argv and environment, which it records for each call, must not.
      const records = filesUnder(join(commandData, 'record'));
      if (records.length === 0) leaks.push('the command store recorded no calls: this check proves nothing');
      for (const file of records) if (readFileSync(file).includes(CANARY)) leaks.push(`the command store program's ${file.split('/').pop().split('.')[0]}`);
    } else if (kind === 'plugin') {
      // The example plugin keeps values base64-encoded in its own file, by design (not encrypted).
    } else if (kind === 'local') {
      for (const file of filesUnder(join(dir, '.keyshift'))) if (readFileSync(file).includes(CANARY)) leaks.push(`${file} (must hold the value only encrypted)`);
    } else if (kind === 'dotenv') {
      if (readFileSync(join(dir, '.env.keyshift.json'), 'utf8').includes(CANARY)) leaks.push('the dotenv sidecar');
    } else if (kind === 'k8s-secret') {
      const state = /keyshift\.io\/state: '(.*)'/.exec(readFileSync(join(dir, 'deploy', 'secret.yaml'), 'utf8'))?.[1];
      if (!state) leaks.push('no keyshift.io/state annotation found: this check proves nothing');
      else if (state.includes(CANARY)) leaks.push('the keyshift.io/state annotation');
    } else {
      if (JSON.stringify(fake.inspect('leaks/canary').tags).includes(CANARY)) leaks.push('the secret\'s tags');
      // The service is given the value by design, in SecretString and nowhere else: not in tags,
      // descriptions, client request tokens or any other member of any request.
      const sent = fake.calls.filter((c) => ['CreateSecret', 'PutSecretValue'].includes(c.op) && String(c.input?.SecretString).includes(CANARY));
      if (sent.length === 0) leaks.push('no request carried the value in SecretString: the call log no longer records inputs, so this check proves nothing');
      for (const call of fake.calls) {
        for (const path of pathsHolding(call.input, CANARY)) if (path !== 'SecretString') leaks.push(`${call.op} request, member ${path}`);
      }
    }
    t.diagnostic(`${outputs.length} runs, ${hooks.length} hook runs in ${new Set(hooks.map((h) => h.phase)).size} phases, ${webhookBodies.length} webhook bodies so far${kind === 'aws-secrets-manager' ? `, ${fake.calls.length} requests searched` : ''}; ${leaks.length} leaks`);
    assert.deepEqual(leaks, [], `the canary leaked:\n${leaks.join('\n')}`);
    // The checks above could pass for want of material: trace logs, redacted hook output, webhook
    // calls and hooks in every phase must all have been there.
    assert.ok(outputs.some((o) => /"level":(10|20)\b/.test(o.stderr)), 'trace logging was on (debug lines logged)');
    assert.ok(outputs.some((o) => o.stderr.includes('hook stdout [redacted]')), 'hook output is logged, redacted');
    assert.ok(webhookBodies.length > 0, 'webhooks were called');
    assert.ok(new Set(hooks.map((h) => h.phase)).size >= 5, `hooks ran in every phase: ${[...new Set(hooks.map((h) => h.phase))]}`);
    assert.ok(hooks.some((h) => h.gotValue), 'hooks got the value');
    assert.ok(hooks.some((h) => h.phase === 'run' && h.gotValue), "run's child got the value in its environment");
  });
}
