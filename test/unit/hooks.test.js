import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, realpath, rm, stat } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { runHook } from '../../dist/hooks/run-hook.js';
import { SecretValue } from '../../dist/secret-value.js';

const source = { file: 'test.yaml', line: 1, col: 1 };
const node = process.execPath;

function fakeLog() {
  const lines = [];
  const log = {
    lines,
    child: () => log,
    ...Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error'].map((level) => [level, (object, message) => lines.push({ level, object, message })])),
  };
  return log;
}

function commandHook(run, extra = {}) {
  return { kind: 'command', run, timeoutMs: 10_000, env: {}, cwd: null, label: 'deploy[0] test', source, ...extra };
}

function context(extra = {}) {
  return {
    secret: 'db-password', environment: 'prod', phase: 'deploy', rotationId: 'rot-1',
    newVersion: 'v2', oldVersion: null, value: null, cwd: process.cwd(), env: process.env, log: fakeLog(), ...extra,
  };
}

async function tempDir() {
  return mkdtemp(join(tmpdir(), 'keyshift-hooks-test-'));
}

const RECORDER = `
const fs = require('fs');
const out = process.argv[1];
const stdin = fs.readFileSync(0, 'utf8');
const file = process.env.KEYSHIFT_VALUE_FILE;
let fileInfo = null;
if (file) {
  const st = fs.statSync(file);
  const dirSt = fs.statSync(require('path').dirname(file));
  fileInfo = { content: fs.readFileSync(file, 'utf8'), mode: st.mode & 0o777, dirMode: dirSt.mode & 0o777 };
}
fs.writeFileSync(out, JSON.stringify({
  cmdline: fs.readFileSync('/proc/self/cmdline', 'utf8'),
  env: process.env, stdin, file, fileInfo, cwd: process.cwd(),
}));
`;

test('the value goes on stdin and in a 0600 file, never in argv or the environment', async () => {
  const dir = await tempDir();
  const value = `s3cr3t-${randomBytes(12).toString('hex')}`;
  const out = join(dir, 'record.json');
  const ctx = context({ value: SecretValue.fromString(value) });
  const result = await runHook(commandHook([node, '-e', RECORDER, out]), ctx);
  assert.equal(result.ok, true, result.error);
  assert.equal(result.exitCode, 0);
  assert.equal(result.error, null);
  const record = JSON.parse(await readFile(out, 'utf8'));
  assert.equal(record.stdin, value);
  assert.equal(record.fileInfo.content, value);
  assert.equal(record.fileInfo.mode, 0o600);
  assert.equal(record.fileInfo.dirMode, 0o700);
  assert.ok(!record.cmdline.includes(value));
  for (const [name, v] of Object.entries(record.env)) assert.ok(!String(v).includes(value), `value leaked in env ${name}`);
  assert.equal(record.env.KEYSHIFT_SECRET, 'db-password');
  assert.equal(record.env.KEYSHIFT_ENVIRONMENT, 'prod');
  assert.equal(record.env.KEYSHIFT_PHASE, 'deploy');
  assert.equal(record.env.KEYSHIFT_ROTATION_ID, 'rot-1');
  assert.equal(record.env.KEYSHIFT_NEW_VERSION, 'v2');
  assert.equal(record.env.KEYSHIFT_OLD_VERSION, '');
  assert.ok(record.file.startsWith(await realpath(tmpdir())) || record.file.startsWith(tmpdir()));
  assert.equal(existsSync(record.file), false, 'value file removed');
  assert.equal(existsSync(join(record.file, '..')), false, 'value dir removed');
  assert.ok(!JSON.stringify(ctx.log.lines).includes(value));
  await rm(dir, { recursive: true });
});

test('without a value: empty stdin and no KEYSHIFT_VALUE_FILE', async () => {
  const dir = await tempDir();
  const out = join(dir, 'record.json');
  const result = await runHook(commandHook([node, '-e', RECORDER, out]), context({ env: { ...process.env, KEYSHIFT_VALUE_FILE: '/nope' } }));
  assert.equal(result.ok, true, result.error);
  const record = JSON.parse(await readFile(out, 'utf8'));
  assert.equal(record.stdin, '');
  assert.equal(record.file, undefined);
  assert.equal(record.env.KEYSHIFT_VALUE_FILE, undefined);
  await rm(dir, { recursive: true });
});

test('a shell line runs with /bin/sh, with hook.env and cwd applied', async () => {
  const dir = await tempDir();
  const value = 'shell-value-xyz';
  const result = await runHook(
    commandHook('cat > got-stdin; cat "$KEYSHIFT_VALUE_FILE" > got-file; echo "$GREETING $KEYSHIFT_PHASE" > got-env; pwd > got-pwd', { env: { GREETING: 'hello' }, cwd: dir }),
    context({ value: SecretValue.fromString(value), phase: 'rollback' }),
  );
  assert.equal(result.ok, true, result.error);
  assert.equal(await readFile(join(dir, 'got-stdin'), 'utf8'), value);
  assert.equal(await readFile(join(dir, 'got-file'), 'utf8'), value);
  assert.equal(await readFile(join(dir, 'got-env'), 'utf8'), 'hello rollback\n');
  assert.equal((await readFile(join(dir, 'got-pwd'), 'utf8')).trim(), await realpath(dir));
  await rm(dir, { recursive: true });
});

test('a hook that does not read stdin still passes (EPIPE ignored)', async () => {
  const big = SecretValue.fromString('x'.repeat(1024 * 1024));
  const result = await runHook(commandHook(['true']), context({ value: big }));
  assert.equal(result.ok, true, result.error);
});

test('a non-zero exit fails with a one-line error and no output in it', async () => {
  const value = 'leaky-value-123';
  const ctx = context({ value: SecretValue.fromString(value) });
  const result = await runHook(commandHook(['sh', '-c', 'cat; echo boom >&2; exit 3'], { label: 'deploy[0] kubectl' }), ctx);
  assert.equal(result.ok, false);
  assert.equal(result.exitCode, 3);
  assert.equal(result.error, 'deploy[0] kubectl exited with status 3');
  const line = ctx.log.lines.at(-1);
  assert.equal(line.level, 'warn');
  assert.equal(line.message, 'hook finished');
  assert.equal(line.object.hook, 'deploy[0] kubectl');
  assert.equal(line.object.exitCode, 3);
  assert.equal(line.object.output, '[redacted]\nboom');
});

test('output holding the value is logged redacted', async () => {
  const value = 'very-secret-42';
  const ctx = context({ value: SecretValue.fromString(value) });
  const result = await runHook(commandHook(`echo "before $(cat) after"; cat "$KEYSHIFT_VALUE_FILE" >&2; printf '%s%s' very-secret -42`), ctx);
  assert.equal(result.ok, true, result.error);
  const line = ctx.log.lines.at(-1);
  assert.equal(line.level, 'info');
  assert.deepEqual(line.object, { hook: 'deploy[0] test', phase: 'deploy', exitCode: 0, output: 'before [redacted] after\n[redacted]\n[redacted]' });
  assert.ok(!JSON.stringify(ctx.log.lines).includes(value));
});

test('long output is truncated to 4 KiB in the log', async () => {
  const ctx = context();
  const result = await runHook(commandHook([node, '-e', 'process.stdout.write("a".repeat(200000))']), ctx);
  assert.equal(result.ok, true, result.error);
  const { output } = ctx.log.lines.at(-1).object;
  assert.ok(output.length < 4200, String(output.length));
  assert.match(output, /truncated/);
});

test('a timeout kills the whole process group quickly, and the value file goes too', async () => {
  const dir = await tempDir();
  const pidFile = join(dir, 'pids');
  const ctx = context({ value: SecretValue.fromString('timeout-value') });
  const started = Date.now();
  const result = await runHook(
    commandHook(`echo "$KEYSHIFT_VALUE_FILE" > '${pidFile}.file'; sleep 30 & echo $! > '${pidFile}'; wait`, { timeoutMs: 300, label: 'deploy[1] slow' }),
    ctx,
  );
  assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
  assert.equal(result.ok, false);
  assert.equal(result.timedOut, true);
  assert.equal(result.error, 'deploy[1] slow timed out after 300ms');
  const sleeper = Number((await readFile(pidFile, 'utf8')).trim());
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(!isRunning(sleeper), 'the background sleep was killed');
  const file = (await readFile(`${pidFile}.file`, 'utf8')).trim();
  assert.equal(existsSync(file), false);
  await rm(dir, { recursive: true });
});

test('a plain sleep 30 times out, with the duration formatted', async () => {
  const started = Date.now();
  const result = await runHook(commandHook(['sleep', '30'], { timeoutMs: 1000 }), context());
  assert.ok(Date.now() - started < 3000);
  assert.equal(result.error, 'deploy[0] test timed out after 1s');
  assert.equal(result.signal, 'SIGTERM');
});

test('a hook that ignores SIGTERM is SIGKILLed after the grace period', async () => {
  const started = Date.now();
  const result = await runHook(commandHook(`trap '' TERM; sleep 30 & wait; sleep 30`, { timeoutMs: 200 }), context());
  const took = Date.now() - started;
  assert.ok(took >= 2000 && took < 5000, `took ${took} ms`);
  assert.equal(result.timedOut, true);
  assert.equal(result.ok, false);
});

test('a hook killed by a signal says so', async () => {
  const result = await runHook(commandHook('kill -KILL $$'), context());
  assert.equal(result.error, 'deploy[0] test was killed by SIGKILL');
  assert.equal(result.signal, 'SIGKILL');
});

test('a missing program could not start, and the value file is removed', async () => {
  const ctx = context({ value: SecretValue.fromString('missing-prog-value') });
  const before = new Set((await import('node:fs')).readdirSync(tmpdir()).filter((n) => n.startsWith('keyshift-hook-')));
  const result = await runHook(commandHook(['/nonexistent/keyshift-no-such-program', 'arg']), ctx);
  assert.equal(result.ok, false);
  assert.equal(result.error, 'deploy[0] test could not start (ENOENT)');
  const after = (await import('node:fs')).readdirSync(tmpdir()).filter((n) => n.startsWith('keyshift-hook-') && !before.has(n));
  assert.deepEqual(after, []);
  assert.equal(ctx.log.lines.at(-1).level, 'warn');
});

/** Gone, or a zombie waiting for a reaper that is not us. */
function isRunning(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

function httpHook(url, extra = {}) {
  return { kind: 'http', url, method: 'GET', expectStatus: 200, timeoutMs: 5000, label: 'verify[1]', source, ...extra };
}

async function withServer(handler, fn) {
  const requests = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push({ method: req.method, url: req.url, headers: req.headers, body });
      handler(req, res);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    return await fn(base, requests);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

test('an http hook passes on the expected status and never sends the value', async () => {
  await withServer((req, res) => res.writeHead(req.url === '/health' ? 200 : 503).end('ok'), async (base, requests) => {
    const value = 'http-never-sent';
    const ctx = context({ phase: 'verify', value: SecretValue.fromString(value) });
    const result = await runHook(httpHook(`${base}/health`), ctx);
    assert.equal(result.ok, true, result.error);
    assert.ok(!JSON.stringify(requests).includes(value));
    assert.equal(requests[0].method, 'GET');

    const bad = await runHook(httpHook(`${base}/down`), ctx);
    assert.equal(bad.ok, false);
    assert.equal(bad.error, `verify[1] GET ${base}/down answered 503, expected 200`);

    const redirect = await withServer((req, res) => res.writeHead(302, { location: `${base}/health` }).end(), (b2) => runHook(httpHook(`${b2}/`), ctx));
    assert.equal(redirect.ok, false, 'redirects are not followed');
    assert.match(redirect.error, /answered 302, expected 200$/);
  });
});

test('an http hook times out, and a refused connection fails', async () => {
  await withServer(() => { /* never answers */ }, async (base) => {
    const started = Date.now();
    const result = await runHook(httpHook(`${base}/slow`, { timeoutMs: 300 }), context({ phase: 'verify' }));
    assert.ok(Date.now() - started < 2000);
    assert.equal(result.ok, false);
    assert.equal(result.timedOut, true);
    assert.equal(result.error, `verify[1] GET ${base}/slow timed out after 300ms`);
  });
  const server = createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  await new Promise((r) => server.close(r));
  const refused = await runHook(httpHook(`http://127.0.0.1:${port}/`), context({ phase: 'verify' }));
  assert.equal(refused.error, `verify[1] GET http://127.0.0.1:${port}/ failed: ECONNREFUSED`);
});
