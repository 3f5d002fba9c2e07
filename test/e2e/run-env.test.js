// `keyshift run` and `keyshift env` as a user runs them: values reach the child only in its
// environment (never argv), the child's exit code and signals pass through, keyshift prints
// nothing, and _PREVIOUS / _PENDING appear exactly while the store holds those versions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { baseEnv, cli, json, runCliAsync, tempProject, writeFiles, assertNoStackTrace } from '../helpers/cli.js';

const CANARY = `KSRUN${Math.random().toString(36).slice(2, 10)}`;

function project({ deploy = '', fallbackWindow = '1h' } = {}) {
  const dir = tempProject('keyshift-run-');
  writeFiles(dir, {
    'policies/p.yaml': `secrets:
  - name: api-key
    interval: 30d
    fallbackWindow: ${fallbackWindow}
    generator: { type: command, run: [node, -e, "process.stdout.write('${CANARY}' + require('crypto').randomBytes(6).toString('hex'))"] }
    environments:
      - name: dev
        store: { type: local, path: .keyshift/dev.store }
${deploy}  - name: db-password
    exportAs: DATABASE_PASSWORD
    interval: 30d
    fallbackWindow: 1h
    generator: { type: random, length: 24, charset: alphanumeric-symbols }
    environments:
      - name: dev
        store: { type: local, path: .keyshift/dev.store }
`,
    // The child reports what it sees: the variables, and whether the canary is in its argv or keyshift's.
    'child.cjs': `const fs = require('node:fs');
const seen = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(API_KEY|DATABASE_PASSWORD)/.test(k)));
fs.writeFileSync(process.env.OUT, JSON.stringify({
  seen,
  master: process.env.KEYSHIFT_MASTER_KEY ?? null,
  argv: fs.readFileSync('/proc/self/cmdline', 'utf8'),
  parentArgv: fs.readFileSync('/proc/' + process.ppid + '/cmdline', 'utf8'),
  args: process.argv.slice(2),
}));
process.exit(Number(process.argv[2] ?? 0));`,
  });
  return dir;
}

const get = async (dir, name, stage = 'current') => (await cli(['get', name, '--stage', stage], { cwd: dir })).stdout.trim();

test('run: the child gets CURRENT under exportAs names in its environment, never in argv; its exit code is keyshift\'s; keyshift prints nothing', async () => {
  const dir = project();
  assert.equal((await cli(['rotate', '--all'], { cwd: dir })).code, 0);
  const out = join(dir, 'out.json');
  const env = baseEnv({ OUT: out, KEYSHIFT_MASTER_KEY: undefined, KEYSHIFT_LOG_LEVEL: 'trace' });
  const result = await cli(['run', '--', 'node', 'child.cjs', '7', '--env', 'x'], { cwd: dir, env });
  assert.equal(result.code, 7, result.stderr);
  assert.equal(result.stdout, '');
  assert.ok(!result.stderr.includes(CANARY), 'no value in keyshift\'s logs');
  const seen = JSON.parse(readFileSync(out, 'utf8'));
  assert.deepEqual(seen.seen, { API_KEY: await get(dir, 'api-key'), DATABASE_PASSWORD: await get(dir, 'db-password') });
  assert.match(seen.seen.API_KEY, new RegExp(`^${CANARY}`));
  assert.deepEqual(seen.args, ['7', '--env', 'x'], 'arguments after -- are the child\'s, untouched');
  assert.ok(!seen.argv.includes(CANARY), 'not in the child\'s argv');
  assert.ok(!seen.parentArgv.includes(CANARY), 'not in keyshift\'s argv');

  // Names select secrets; a child killed by a signal is 128+n, as a shell reports it.
  const one = await cli(['run', 'db-password', '--', 'node', 'child.cjs'], { cwd: dir, env });
  assert.equal(one.code, 0);
  assert.deepEqual(Object.keys(JSON.parse(readFileSync(out, 'utf8')).seen), ['DATABASE_PASSWORD']);
  assert.equal((await cli(['run', '--', 'sh', '-c', 'kill -KILL $$'], { cwd: dir, env })).code, 137);
});

test('run: the local store\'s master key stays out of the child\'s environment', async () => {
  const dir = project();
  const env = baseEnv({ KEYSHIFT_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'), OUT: join(dir, 'out.json') });
  assert.equal((await cli(['rotate', '--all'], { cwd: dir, env })).code, 0);
  assert.equal((await cli(['run', '--', 'node', 'child.cjs'], { cwd: dir, env })).code, 0);
  assert.equal(JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')).master, null);
});

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  test(`run: ${signal} sent to keyshift reaches the child, whose exit code keyshift returns`, { timeout: 60_000 }, async () => {
    const dir = project();
    assert.equal((await cli(['rotate', '--all'], { cwd: dir })).code, 0);
    writeFiles(dir, {
      'trap.cjs': `const fs = require('node:fs');
process.on('${signal}', () => { fs.writeFileSync('got', '${signal}'); process.exit(42); });
fs.writeFileSync('ready', '');
// Never outlive a broken keyshift by long (an orphan would hold the test's pipes open).
setTimeout(() => process.exit(9), 15000);`,
    });
    const { child, done } = runCliAsync(['run', '--', 'node', 'trap.cjs'], { cwd: dir });
    for (let i = 0; i < 400 && !existsSync(join(dir, 'ready')); i++) await sleep(25);
    assert.ok(existsSync(join(dir, 'ready')), 'the child started');
    child.kill(signal);
    const result = await done;
    assert.equal(readFileSync(join(dir, 'got'), 'utf8'), signal, 'the child got the signal');
    assert.equal(result.code, 42, result.stderr);
    assert.equal(result.stderr, '');
  });
}

test('run: a secret without a CURRENT version is an error before the child starts; no command is a usage error', async () => {
  const dir = project();
  const result = await cli(['run', '--', 'node', '-e', "require('fs').writeFileSync('started', '')"], { cwd: dir });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^keyshift: api-key\/dev has no CURRENT version\n  hint: run `keyshift rotate`/);
  assert.ok(!existsSync(join(dir, 'started')), 'the child never started');
  const usage = await cli(['run', 'api-key'], { cwd: dir });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /run needs a command after --/);
  const missing = await cli(['run', '--', 'no-such-program-here'], { cwd: dir });
  assertNoStackTrace(assert, missing.stderr);
});

test('run: a command that cannot be started exits 127 (not found) or 126 as in a shell, with a one-line error and its hint', async () => {
  const dir = project();
  assert.equal((await cli(['rotate', '--all', '-q'], { cwd: dir })).code, 0);
  const missing = await cli(['run', '--', 'no-such-program-here'], { cwd: dir });
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /^keyshift: cannot start no-such-program-here: ENOENT\n {2}hint: .+\n$/);
  writeFiles(dir, { 'not-executable': 'echo hi\n' });
  const denied = await cli(['run', '--', './not-executable'], { cwd: dir });
  assert.equal(denied.code, 126);
  assert.match(denied.stderr, /^keyshift: cannot start \.\/not-executable: EACCES\n {2}hint: .+\n$/);
});

test('run and env: _PENDING during the overlap, _PREVIOUS during the fallback window, neither after the decommission', async () => {
  const dir = project({ deploy: '        deploy: [{ run: [node, -e, "require(\'fs\').writeFileSync(\'deploying\', \'\'); setInterval(() => {}, 1000)"] }]\n', fallbackWindow: '1s' });
  // Provision (no deploy hook runs at provisioning), then stop a rotation inside its deploy hook.
  assert.equal((await cli(['rotate', '--all'], { cwd: dir })).code, 0);
  const { child, done } = runCliAsync(['rotate', 'api-key', '--force', '--reason', 'overlap'], { cwd: dir });
  for (let i = 0; i < 400 && !existsSync(join(dir, 'deploying')); i++) await sleep(25);
  child.kill('SIGTERM');
  assert.equal((await done).code, 143);

  const overlap = json(await cli(['env', 'api-key', '--format', 'json'], { cwd: dir }));
  assert.deepEqual(overlap, { API_KEY: await get(dir, 'api-key'), API_KEY_PENDING: await get(dir, 'api-key', 'pending') });
  assert.notEqual(overlap.API_KEY, overlap.API_KEY_PENDING);
  const out = join(dir, 'out.json');
  assert.equal((await cli(['run', 'api-key', '--', 'node', 'child.cjs'], { cwd: dir, env: baseEnv({ OUT: out }) })).code, 0);
  assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')).seen, overlap);

  writeFiles(dir, { 'policies/p.yaml': readFileSync(join(dir, 'policies/p.yaml'), 'utf8').replace(/        deploy: .*\n/, '') });
  assert.equal((await cli(['rotate', 'api-key'], { cwd: dir })).code, 0, 'the rerun finishes the rotation');
  const fallback = json(await cli(['env', 'api-key', '--json'], { cwd: dir }));
  assert.deepEqual(fallback, { API_KEY: overlap.API_KEY_PENDING, API_KEY_PREVIOUS: overlap.API_KEY });

  await sleep(1100);
  assert.equal((await cli(['rotate', 'api-key'], { cwd: dir })).code, 0, 'the decommission');
  assert.deepEqual(json(await cli(['env', 'api-key', '--json'], { cwd: dir })), { API_KEY: overlap.API_KEY_PENDING });
});

test('env: dotenv and shell formats read back to the same values by dotenv\'s rules and by sh', async () => {
  const dir = project();
  assert.equal((await cli(['rotate', '--all'], { cwd: dir })).code, 0);
  const values = json(await cli(['env', '--format', 'json'], { cwd: dir }));
  assert.deepEqual(Object.keys(values), ['API_KEY', 'DATABASE_PASSWORD']);

  const shell = await cli(['env', '--format', 'shell'], { cwd: dir });
  writeFiles(dir, { 'exports.sh': shell.stdout });
  const sh = execFileSync('sh', ['-c', '. ./exports.sh; printf "%s\\n%s" "$API_KEY" "$DATABASE_PASSWORD"'], { cwd: dir, encoding: 'utf8' });
  assert.equal(sh, `${values.API_KEY}\n${values.DATABASE_PASSWORD}`);

  const dotenv = (await cli(['env'], { cwd: dir })).stdout;
  assert.deepEqual(parseDotenv(dotenv), values);
});

test('exportAs: a name that is not a variable is a policy error with file, line and column', async () => {
  const dir = project();
  writeFiles(dir, { 'policies/p.yaml': readFileSync(join(dir, 'policies/p.yaml'), 'utf8').replace('exportAs: DATABASE_PASSWORD', 'exportAs: DATABASE-PASSWORD') });
  const result = await cli(['validate'], { cwd: dir });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /p\.yaml:\d+:\d+: .*exportAs.*must be an environment variable name/);
});

// The `dotenv` package's parser (lib/main.js, v16), restated: a quoted value is taken literally,
// except that \n and \r inside double quotes become newline and carriage return.
function parseDotenv(text) {
  const LINE = /(?:^|^)\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?(?:$|$)/gm;
  const out = {};
  for (const [, key, raw = ''] of text.replace(/\r\n?/gm, '\n').matchAll(LINE)) {
    let value = raw.trim();
    const quote = value[0];
    value = value.replace(/^(['"`])([\s\S]*)\1$/gm, '$2');
    if (quote === '"') value = value.replace(/\\n/g, '\n').replace(/\\r/g, '\r');
    out[key] = value;
  }
  return out;
}
