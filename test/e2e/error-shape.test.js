// DESIGN v2, failure isolation: a secret whose store fails is one result with
// `error: {code, message, hint}` in rotate, status, plan and doctor. The hint is there even when the
// store's own error has none (a command store only sends code and message), and so is the hint of a
// usage error printed with --json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { json, runCli, tempProject, writeFiles } from '../helpers/cli.js';

// A command store (protocol 1) that answers every op with the error code named in its config.
const failingStore = `#!/usr/bin/env node
let input = '';
process.stdin.on('data', (c) => (input += c));
process.stdin.on('end', () => {
  const request = JSON.parse(input);
  process.stdout.write(JSON.stringify({ error: { code: request.config.code, message: 'the test store says ' + request.config.code } }));
  process.exitCode = 1;
});
`;
const CODES = { ACCESS_DENIED: 'ERR_STORE_ACCESS_DENIED', UNAVAILABLE: 'ERR_STORE_UNAVAILABLE', REFUSED: 'ERR_STORE_REFUSED' };

const secret = (name, store) =>
  `  - name: ${name}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: prod\n        store: ${store}\n`;

function assertShape(error, what) {
  assert.deepEqual(Object.keys(error ?? {}), ['code', 'message', 'hint'], `${what}: ${JSON.stringify(error)}`);
  for (const key of ['code', 'message', 'hint']) assert.ok(typeof error[key] === 'string' && error[key].length > 0, `${what}: ${key} is empty`);
}

test('a failing store gives error {code, message, hint} in rotate, status, plan and doctor; the others go on', () => {
  const dir = tempProject('keyshift-error-shape-');
  const store = join(dir, 'failing-store.js');
  writeFiles(dir, { 'failing-store.js': failingStore });
  chmodSync(store, 0o755);
  const policy =
    'secrets:\n' +
    secret('healthy', '{ type: local, path: .keyshift/ok.store }') +
    Object.keys(CODES).map((code) => secret(`broken-${code.toLowerCase().replace('_', '-')}`, `{ type: command, run: ["${store}"], config: { code: ${code} } }`)).join('');
  writeFiles(dir, { 'policies/p.yaml': policy });
  const broken = Object.keys(CODES).map((code) => [`broken-${code.toLowerCase().replace('_', '-')}`, CODES[code]]);

  const rotate = runCli(['rotate', '--all', '--json'], { cwd: dir });
  assert.equal(rotate.code, 1, rotate.stderr);
  const results = Object.fromEntries(json(rotate).results.map((r) => [r.secret, r]));
  assert.equal(results.healthy.outcome, 'provisioned');
  for (const [name, code] of broken) {
    assert.equal(results[name].outcome, 'failed', name);
    assert.equal(results[name].error.code, code, name);
    assertShape(results[name].error, `rotate ${name}`);
  }

  const status = runCli(['status', '--json'], { cwd: dir });
  assert.equal(status.code, 1, status.stderr);
  const rows = Object.fromEntries(json(status).secrets.map((r) => [r.secret, r]));
  assert.equal(rows.healthy.phase, 'idle');
  for (const [name] of broken) {
    assert.equal(rows[name].phase, 'unknown', name);
    assertShape(rows[name].error, `status ${name}`);
  }

  const plan = runCli(['plan', '--json'], { cwd: dir });
  assert.equal(plan.code, 1, plan.stderr);
  for (const action of json(plan).actions.filter((a) => a.secret !== 'healthy')) {
    assert.equal(action.action, 'error', action.secret);
    assertShape(action.error, `plan ${action.secret}`);
  }

  const doctor = runCli(['doctor', '--json'], { cwd: dir });
  assert.equal(doctor.code, 1, doctor.stderr);
  const storeErrors = json(doctor).findings.filter((f) => f.check === 'store-error');
  assert.ok(storeErrors.length > 0, JSON.stringify(json(doctor)));
  for (const finding of storeErrors) {
    assertShape(finding.error, `doctor ${finding.store}`);
    assert.equal(finding.hint, finding.error.hint, 'the finding and its error give the same fix');
  }
});

test('a usage error printed with --json has a hint too', () => {
  const dir = tempProject('keyshift-error-shape-');
  writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('a', '{ type: local, path: .keyshift/a.store }')}` });
  const both = runCli(['rotate', 'a', '--all', '--json'], { cwd: dir });
  assert.equal(both.code, 2);
  assertShape(json(both).error, 'rotate a --all');
  assert.match(both.stderr, /^keyshift: .+\n {2}hint: .+\n$/);
});
