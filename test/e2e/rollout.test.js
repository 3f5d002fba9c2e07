// Promotion gates and emergencies: observe bake time, requireTicket, sharedValue,
// rotate --all --force --reason with --fallback-window 0, and webhook notifications.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli, runCliAsync, tempProject, writeFiles, json, readEvidence, assertNoStackTrace } from '../helpers/cli.js';

const env = (name, extra = '') => `      - name: ${name}\n        store: { type: local, path: .keyshift/${name}.store }\n${extra}`;
const secret = (name, environments, extra = '') =>
  `  - name: ${name}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n${extra}    environments:\n${environments}`;
const get = (dir, name, e, stage = 'current') => runCli(['get', name, '--env', e, '--stage', stage], { cwd: dir }).stdout.trim();

test('observe: the next environment waits for the bake time, and a later run continues', async () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('k', env('dev', '        observe: 2s\n') + env('prod'))}` });
  runCli(['rotate', '--all'], { cwd: dir });
  const first = json(runCli(['rotate', 'k', '--force', '--reason', 'r', '--json'], { cwd: dir }));
  assert.deepEqual(first.results.map((r) => `${r.environment}:${r.outcome}`), ['dev:rotated', 'prod:rotated'], '--force is an emergency: observe is skipped');
  // A scheduled rotation (due) honours observe: make both due by shortening the interval.
  writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('k', env('dev', '        observe: 2s\n') + env('prod')).replace('interval: 30d', 'interval: 3s').replace('fallbackWindow: 1h', 'fallbackWindow: 1s')}` });
  await sleep(3100);
  const scheduled = json(runCli(['rotate', '--all', '--json'], { cwd: dir }));
  const prod = scheduled.results.filter((r) => r.environment === 'prod');
  assert.ok(scheduled.results.some((r) => r.environment === 'dev' && r.outcome === 'rotated'));
  assert.equal(prod.at(-1).outcome, 'skipped');
  assert.match(prod.at(-1).reason, /observing dev until/);
  const plan = json(runCli(['plan', '--json'], { cwd: dir })).actions.filter((a) => a.environment === 'prod');
  assert.equal(plan.at(-1).action, 'wait');
  assert.ok(Date.parse(plan.at(-1).at) > Date.now());
  assert.ok(json(runCli(['status', '--json'], { cwd: dir })).secrets.find((s) => s.environment === 'prod').waitingUntil);
  await sleep(2100);
  // Only prod: with a 3 s interval dev may be due again by now on a slow machine, and a new dev
  // rotation would start a new bake time.
  const later = json(runCli(['rotate', '--all', '--env', 'prod', '--json'], { cwd: dir }));
  assert.ok(later.results.some((r) => r.environment === 'prod' && r.outcome === 'rotated'), JSON.stringify(later.results));
});

test('requireTicket: without --ticket exit 3 and nothing changes; with it the ticket is in evidence', () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('k', env('dev') + env('prod', '        requireTicket: true\n'))}` });
  const refused = runCli(['rotate', '--all'], { cwd: dir });
  assert.equal(refused.code, 3);
  assert.match(refused.stderr, /k\/prod require a change ticket; nothing was changed/);
  assertNoStackTrace(assert, refused.stderr);
  assert.equal(json(runCli(['status', '--json'], { cwd: dir })).secrets[0].currentVersion, null, 'dev was not touched either');
  assert.equal(runCli(['rotate', '--all', '--env', 'dev'], { cwd: dir }).code, 0, 'unprotected environments can go alone');
  assert.equal(runCli(['rotate', '--all', '--ticket', 'CHG-42', '--reason', 'release'], { cwd: dir }).code, 0);
  const prod = readEvidence(dir).find((e) => e.environment === 'prod');
  assert.equal(prod.ticket, 'CHG-42');
  assert.equal(prod.reason, 'release');
  assert.equal(prod.operator, 'test@keyshift');
});

test('sharedValue: one value rolled through every environment', () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('vendor', env('dev') + env('staging') + env('prod'), '    sharedValue: true\n')}` });
  runCli(['rotate', '--all'], { cwd: dir });
  const provisioned = ['dev', 'staging', 'prod'].map((e) => get(dir, 'vendor', e));
  assert.equal(new Set(provisioned).size, 1);
  runCli(['rotate', '--all', '--force', '--reason', 'r'], { cwd: dir });
  const rotated = ['dev', 'staging', 'prod'].map((e) => get(dir, 'vendor', e));
  assert.equal(new Set(rotated).size, 1);
  assert.notEqual(rotated[0], provisioned[0]);
});

test('emergency: rotate --all --force needs --reason; --fallback-window 0 retires the old keys at once', () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('a', env('dev'))}${secret('b', env('dev'))}` });
  runCli(['rotate', '--all'], { cwd: dir });
  const noReason = runCli(['rotate', '--all', '--force'], { cwd: dir });
  assert.equal(noReason.code, 2);
  assert.match(noReason.stderr, /--reason/);
  const result = runCli(['rotate', '--all', '--force', '--reason', 'compromise INC-7', '--fallback-window', '0', '--json'], { cwd: dir });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(json(result).results.map((r) => `${r.secret}:${r.action}:${r.outcome}`), ['a:rotate:rotated', 'a:decommission:decommissioned', 'b:rotate:rotated', 'b:decommission:decommissioned']);
  assert.equal(runCli(['get', 'a', '--stage', 'previous'], { cwd: dir }).code, 1, 'the compromised key is gone');
  const events = readEvidence(dir).filter((e) => e.reason === 'compromise INC-7');
  assert.ok(events.length >= 6 && events.every((e) => e.emergency === true));
});

test('webhooks receive the events; a failing webhook never fails the rotation', async () => {
  const received = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({ url: req.url, body: JSON.parse(body) });
      res.writeHead(req.url === '/broken' ? 500 : 204).end();
    });
  }).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const dir = tempProject();
    const notify = `    notify:\n      - { webhook: "${base}/hook", on: [switched, decommissioned] }\n      - { webhook: "${base}/broken" }\n      - { webhook: "http://127.0.0.1:9/unreachable" }\n`;
    writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('k', env('dev'), notify)}` });
    assert.equal((await runCliAsync(['rotate', '--all'], { cwd: dir }).done).code, 0);
    const rotated = await runCliAsync(['rotate', '--all', '--force', '--reason', 'r', '--fallback-window', '0'], { cwd: dir }).done;
    assert.equal(rotated.code, 0, rotated.stderr);
    const hook = received.filter((r) => r.url === '/hook').map((r) => r.body);
    assert.deepEqual(hook.map((b) => b.event), ['switched', 'decommissioned']);
    assert.equal(hook[0].secret, 'k');
    assert.match(hook[0].text, /k\/dev switched/);
    assert.deepEqual(received.filter((r) => r.url === '/broken').map((r) => r.body.event), ['switched', 'decommissioned']);
  } finally {
    server.close();
  }
});
