// What hooks and command generators get of keyshift's environment, and what keyshift shows of
// their output: keyshift's keys never reach them; no spelling of a value (raw, base64, base64url,
// hex, JSON-escaped, wrapped into lines) reaches stdout, stderr or evidence at any log level; a
// hangup or quit during a hook removes its value file; an AWS error that echoes the request does
// not carry the value out either.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { baseEnv, cli, readEvidence, runCli, runCliAsync, tempProject, writeFiles } from '../helpers/cli.js';
import { awsEnv } from '../helpers/aws.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';

// The issuer prints a value with characters JSON escapes (" \ é), long enough for base64 to wrap,
// and records it so the test knows every value keyshift held.
const ISSUER = `
const fs = require('node:fs');
const value = 'ks-canary"\\\\\\u00e9' + require('node:crypto').randomBytes(40).toString('hex');
fs.appendFileSync('values.jsonl', JSON.stringify(value) + '\\n');
if (process.env.RECORD_GENERATOR_ENV) fs.writeFileSync('generator-env.json', JSON.stringify(process.env));
process.stdout.write(value);
`;

// A hook that prints its value in every spelling a deploy script might (on both streams).
const PRINTER = `
const fs = require('node:fs');
const v = fs.readFileSync(0);
const text = v.toString('utf8');
const b64 = v.toString('base64');
const wrap = (s, w) => s.match(new RegExp('.{1,' + w + '}', 'g')).join('\\n');
const ascii = JSON.stringify(text).replace(/[\\u007f-\\uffff]/g, (c) => '\\\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
const out = [
  'raw ' + text,
  'base64 ' + b64,
  'echo | base64 (wrapped at 76):', wrap(Buffer.concat([v, Buffer.from('\\n')]).toString('base64'), 76),
  'openssl base64 (wrapped at 64):', wrap(b64, 64),
  'base64url ' + b64.replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, ''),
  'hex ' + v.toString('hex'),
  'HEX ' + v.toString('hex').toUpperCase(),
  'json ' + JSON.stringify({ value: text }),
  'json-ascii ' + ascii,
  'apiVersion: v1', 'kind: Secret', 'data:', '  key: ' + b64,
].join('\\n');
process.stdout.write(out + '\\n');
process.stderr.write(out + '\\n');
const fail = process.argv.includes('fail') || (process.argv.includes('fail-rollback') && process.env.KEYSHIFT_PHASE === 'rollback');
process.exit(fail ? 3 : 0);
`;

/** Every spelling of `value` that must not be shown, computed here, independently of keyshift. */
function spellings(value) {
  const bytes = Buffer.from(value, 'utf8');
  const b64 = bytes.toString('base64');
  const withNewline = Buffer.concat([bytes, Buffer.from('\n')]).toString('base64');
  const forms = [
    value,
    b64,
    b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
    bytes.toString('hex'),
    bytes.toString('hex').toUpperCase(),
    JSON.stringify(value).slice(1, -1),
    JSON.stringify(value).slice(1, -1).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
  ];
  // Line-split forms: every whole line of a wrapped encoding gives a long run of the value away.
  for (const [text, width] of [[b64, 64], [b64, 76], [withNewline, 76]]) {
    for (let at = 0; at + 16 <= text.length; at += width) forms.push(text.slice(at, at + Math.min(width, text.length - at - 4)));
  }
  return forms.filter((form) => form.length >= 16 || form === value);
}

/** What a user reads: the raw streams, and the log lines decoded from JSON (escapes undone). */
function readable(...texts) {
  const decoded = [];
  const walk = (node) => {
    if (typeof node === 'string') decoded.push(node);
    else if (node && typeof node === 'object') Object.values(node).forEach(walk);
  };
  for (const text of texts) {
    for (const line of text.split('\n')) {
      try {
        walk(JSON.parse(line));
      } catch {
        // not a JSON line
      }
    }
  }
  return [...texts, ...decoded].join('\n');
}

function assertNoSpelling(haystack, values, where) {
  assert.ok(values.length > 0, 'the test knows the values');
  for (const value of values) {
    for (const form of spellings(value)) assert.ok(!haystack.includes(form), `${where}: a form of the value is shown: ${JSON.stringify(form.slice(0, 24))}…`);
  }
}

const values = (dir) => readFileSync(join(dir, 'values.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));

function policy({ deploy = '', verify = '', generatorEnv = '' } = {}) {
  return `secrets:
  - name: canary
    interval: 30d
    fallbackWindow: 1h
    generator: { type: command, run: [node, issue.cjs]${generatorEnv} }
    environments:
      - name: dev
        store: { type: local, path: .keyshift/dev.store }
${deploy ? `        deploy: [${deploy}]\n` : ''}${verify ? `        verify: [${verify}]\n` : ''}`;
}

const canary = (tag) => `${tag}${randomBytes(18).toString('base64url')}`;
const keyCanaries = () => ({
  KEYSHIFT_MASTER_KEY: randomBytes(32).toString('base64'),
  KEYSHIFT_FINGERPRINT_KEY: canary('fpkey'),
  // A real key (inline PEM): runs now sign their evidence with it. Its base64 body is the canary.
  KEYSHIFT_SIGNING_KEY: generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
  AWS_SECRET_ACCESS_KEY: canary('awssecret'),
  AWS_SESSION_TOKEN: canary('awstoken'),
});

test('a verify hook running `env; exit 1` shows no key of keyshift\'s on its output (default log level)', () => {
  const dir = tempProject('keyshift-hook-env-');
  const keys = keyCanaries();
  const env = baseEnv({ ...keys, UNLISTED: 'not-for-hooks' });
  writeFiles(dir, { 'issue.cjs': ISSUER, 'policies/p.yaml': policy({ verify: '{ run: "env; exit 1" }' }) });
  const provision = runCli(['rotate', '--all'], { cwd: dir, env });
  assert.equal(provision.code, 0, provision.stderr);
  const result = runCli(['rotate', '--all', '--force', '--reason', 'env test'], { cwd: dir, env });
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /verify\[0\] env; exited with status 1/);
  const shown = readable(result.stdout, result.stderr, readFileSync(join(dir, 'evidence', 'evidence.jsonl'), 'utf8'));
  assert.match(shown, /PATH=/, "the failed hook's output is shown (redacted)");
  for (const [name, secret] of Object.entries(keys)) {
    assert.ok(!shown.includes(secret), `${name} is on keyshift's output`);
    if (secret.includes('-----BEGIN')) assert.ok(!shown.includes(secret.split('\n')[1]), `${name}'s key body is on keyshift's output`);
    assert.ok(!shown.includes(`${name}=`), `${name} is in the hook's environment`);
  }
  assert.ok(!shown.includes('UNLISTED='), 'a variable no policy passes stays out');
});

test("hooks and generators get the allowlist and what their env: passes (AWS_* only when listed), never keyshift's keys", () => {
  const dir = tempProject('keyshift-hook-env-');
  const keys = keyCanaries();
  const env = baseEnv({ ...keys, KUBECONFIG: '/etc/kube/config', AWS_PROFILE: 'ops', UNLISTED: 'not-for-hooks', GEN_TOKEN: 'for-the-issuer', RECORD_GENERATOR_ENV: '1', LC_ALL: 'C' });
  writeFiles(dir, {
    'issue.cjs': ISSUER,
    'record-env.cjs': "require('node:fs').writeFileSync(process.argv[2], JSON.stringify(process.env));",
    'policies/p.yaml': policy({
      generatorEnv: ', env: [GEN_TOKEN, RECORD_GENERATOR_ENV]',
      deploy: '{ run: [node, record-env.cjs, kubectl-env.json], env: [KUBECONFIG, AWS_PROFILE, NAMESPACE=payments] }, { run: [node, record-env.cjs, aws-env.json], env: [AWS_*] }',
    }),
  });
  const provision = runCli(['rotate', '--all'], { cwd: dir, env });
  assert.equal(provision.code, 0, provision.stderr);
  const result = runCli(['rotate', '--all', '--force', '--reason', 'env test'], { cwd: dir, env });
  assert.equal(result.code, 0, result.stderr);

  const kubectl = JSON.parse(readFileSync(join(dir, 'kubectl-env.json'), 'utf8'));
  assert.equal(kubectl.KUBECONFIG, '/etc/kube/config');
  assert.equal(kubectl.AWS_PROFILE, 'ops');
  assert.equal(kubectl.NAMESPACE, 'payments');
  assert.equal(kubectl.LC_ALL, 'C');
  assert.equal(kubectl.PATH, env.PATH);
  assert.equal(kubectl.HOME, env.HOME);
  assert.equal(kubectl.KEYSHIFT_PHASE, 'deploy');
  for (const name of [...Object.keys(keys), 'UNLISTED', 'GEN_TOKEN', 'KEYSHIFT_OPERATOR']) assert.equal(kubectl[name], undefined, `${name} reached the hook`);

  const aws = JSON.parse(readFileSync(join(dir, 'aws-env.json'), 'utf8'));
  assert.equal(aws.AWS_SECRET_ACCESS_KEY, keys.AWS_SECRET_ACCESS_KEY, 'AWS_* passed explicitly');
  assert.equal(aws.AWS_PROFILE, 'ops');
  for (const name of ['KEYSHIFT_MASTER_KEY', 'KEYSHIFT_FINGERPRINT_KEY', 'KEYSHIFT_SIGNING_KEY', 'KUBECONFIG']) assert.equal(aws[name], undefined, `${name} reached the hook`);

  const generator = JSON.parse(readFileSync(join(dir, 'generator-env.json'), 'utf8'));
  assert.equal(generator.GEN_TOKEN, 'for-the-issuer');
  for (const name of [...Object.keys(keys), 'UNLISTED', 'KUBECONFIG']) assert.equal(generator[name], undefined, `${name} reached the generator`);
});

// One rotation per level: deploy prints the new value, verify prints it and fails, the rollback
// (deploy again, with the old value) prints that and fails too, so the default level shows it.
for (const level of ['trace', 'debug', 'info', 'default']) {
  test(`no spelling of a value reaches the output or the evidence (--log-level ${level})`, { timeout: 60_000 }, () => {
    const dir = tempProject('keyshift-hook-forms-');
    writeFiles(dir, {
      'issue.cjs': ISSUER,
      'hook.cjs': PRINTER,
      'policies/p.yaml': policy({ deploy: '{ run: [node, hook.cjs, fail-rollback] }', verify: '{ run: [node, hook.cjs, fail] }' }),
    });
    const levelArgs = level === 'default' ? [] : ['--log-level', level];
    const provision = runCli(['rotate', '--all', ...levelArgs], { cwd: dir });
    assert.equal(provision.code, 0, provision.stderr);
    const result = runCli(['rotate', '--all', '--force', '--reason', 'forms', ...levelArgs], { cwd: dir });
    assert.equal(result.code, 1, result.stderr);
    const shown = readable(provision.stdout, provision.stderr, result.stdout, result.stderr, readFileSync(join(dir, 'evidence', 'evidence.jsonl'), 'utf8'));
    assert.match(shown, /\[redacted\]/, 'hook output was logged, redacted');
    assert.match(shown, /kind: Secret/, 'hook output was logged');
    const phases = readEvidence(dir).flatMap((record) => (record.checks ?? []).map((check) => check.phase));
    assert.ok(phases.includes('rollback'), `the rollback hooks ran: ${phases}`);
    assertNoSpelling(shown, values(dir), `--log-level ${level}`);
  });
}

for (const [signal, code] of [['SIGHUP', 129], ['SIGQUIT', 131]]) {
  test(`${signal} during a hook stops it and removes its value file; a rerun completes`, { timeout: 60_000 }, async () => {
    const dir = tempProject('keyshift-hook-signal-');
    const temp = mkdtempSync(join(tmpdir(), 'keyshift-signal-tmp-'));
    const env = baseEnv({ TMPDIR: temp });
    writeFiles(dir, {
      'issue.cjs': ISSUER,
      'policies/p.yaml': policy({ deploy: '{ run: "echo $$ > hook.pid; sleep 30" }' }),
    });
    assert.equal(runCli(['rotate', '--all'], { cwd: dir, env }).code, 0);
    const { child, done } = runCliAsync(['rotate', '--all', '--force', '--reason', signal], { cwd: dir, env });
    for (let i = 0; i < 400 && !existsSync(join(dir, 'hook.pid')); i++) await sleep(25);
    assert.ok(existsSync(join(dir, 'hook.pid')), 'the hook started');
    assert.equal(readdirSync(temp).filter((name) => name.startsWith('keyshift-hook-')).length, 1, 'the value file exists while the hook runs');
    child.kill(signal);
    const result = await done;
    assert.deepEqual(readdirSync(temp).filter((name) => name.startsWith('keyshift-hook-')), [], 'no value file is left');
    assert.equal(result.code, code, `exit ${result.code} ${result.signal}: ${result.stderr}`);
    assert.match(result.stderr, new RegExp(`interrupted \\(${signal}\\); a rerun resumes`));
    const hookPid = Number(readFileSync(join(dir, 'hook.pid'), 'utf8'));
    await sleep(200);
    const stat = existsSync(`/proc/${hookPid}/stat`) ? readFileSync(`/proc/${hookPid}/stat`, 'utf8') : '';
    assert.ok(stat === '' || /^\d+ \(.*\) Z/.test(stat), `the hook was stopped: ${stat}`);
    writeFiles(dir, { 'policies/p.yaml': policy({ deploy: '{ run: "true" }' }) });
    const rerun = runCli(['rotate', '--all', '--json'], { cwd: dir, env });
    assert.equal(JSON.parse(rerun.stdout).results[0].outcome, 'resumed', rerun.stderr);
  });
}

let fake;
before(async () => {
  fake = await startSecretsManager({ quotas: false });
});
after(async () => fake?.close());

test('an AWS error that echoes the request shows no spelling of the value sent', { timeout: 60_000 }, async () => {
  const dir = tempProject('keyshift-aws-echo-');
  writeFiles(dir, {
    'issue.cjs': ISSUER,
    'policies/p.yaml': policy().replace('store: { type: local, path: .keyshift/dev.store }', `store: { type: aws-secrets-manager, secretId: echo/canary, endpoint: "${fake.endpoint}", createIfMissing: true }`),
  });
  const env = awsEnv();
  const provision = await cli(['rotate', '--all', '--log-level', 'trace'], { cwd: dir, env });
  assert.equal(provision.code, 0, provision.stderr);
  const from = fake.calls.length;
  fake.injectFault({ op: 'PutSecretValue', kind: 'echo' });
  const result = await cli(['rotate', '--all', '--force', '--reason', 'echo', '--json', '--log-level', 'trace'], { cwd: dir, env });
  const echoed = fake.calls.slice(from).filter((call) => call.fault === 'echo');
  assert.deepEqual(echoed.map((call) => [call.op, call.status]), [['PutSecretValue', 400]], 'the fake echoed the PutSecretValue request');
  assert.equal(result.code, 1, result.stderr);
  const shown = readable(result.stdout, result.stderr, readFileSync(join(dir, 'evidence', 'evidence.jsonl'), 'utf8'));
  assertNoSpelling(shown, values(dir), 'the echoed error');
  assert.match(shown, /ValidationException: 1 validation error detected: request \{.*\[redacted\]/, 'the error is shown, redacted');
});
