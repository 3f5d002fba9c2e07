// `keyshift report`: a rotation that failed before anything was stored (a new value rejected by
// `validate:`) is a failed rotation in the report, as it is in `rotate` (exit 1, ERR_VALUE_REJECTED),
// in the evidence (a `failed` record) and in keyshift_rotation_failures_total.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { json, runCli, tempProject, writeFiles } from '../helpers/cli.js';

test('a rejected new value counts in failedRotations and on the timeline, like the failures metric', () => {
  const dir = tempProject('keyshift-report-failed-');
  writeFiles(dir, {
    'value.txt': 'Zr8v2QmT4xLp9sKd7HwB3nYc6FjA5eUg',
    'policies/p.yaml': `secrets:
  - name: issued-key
    interval: 30d
    fallbackWindow: 1h
    generator: { type: command, run: [cat, value.txt] }
    validate: { minLength: 16, minEntropyBits: 96 }
    environments:
      - name: dev
        store: { type: local, path: .keyshift/dev.store }
  - name: other
    interval: 30d
    fallbackWindow: 1h
    generator: { type: random, bytes: 16, encoding: hex }
    environments:
      - name: dev
        store: { type: local, path: .keyshift/dev.store }
`,
  });
  assert.equal(runCli(['rotate', '--all', '-q'], { cwd: dir }).code, 0);
  writeFiles(dir, { 'value.txt': 'aaaaaaaaaaaaaaaaaaaaaaaa' });
  const rejected = runCli(['rotate', 'issued-key', '--force', '--json'], { cwd: dir });
  assert.equal(rejected.code, 1);
  assert.equal(json(rejected).results[0].error.code, 'ERR_VALUE_REJECTED');

  const report = runCli(['report', '--json'], { cwd: dir });
  assert.equal(report.code, 0, report.stderr);
  const rows = Object.fromEntries(json(report).secrets.map((r) => [r.secret, r]));
  assert.equal(rows['issued-key'].failedRotations, 1, JSON.stringify(rows['issued-key']));
  assert.equal(rows.other.failedRotations, 0);
  assert.equal(rows['issued-key'].evidenceComplete, true, 'a failure before the rotation started leaves no record missing');

  const prom = join(dir, 'keyshift.prom');
  runCli(['check', '--prometheus', prom], { cwd: dir });
  assert.match(readFileSync(prom, 'utf8'), /^keyshift_rotation_failures_total\{secret="issued-key",environment="dev"\} 1$/m);

  const html = join(dir, 'report.html');
  assert.equal(runCli(['report', '--format', 'html', '--out', html], { cwd: dir }).code, 0);
  assert.match(readFileSync(html, 'utf8'), /issued-key\/dev: failed/);
});
