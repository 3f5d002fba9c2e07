// `report` reads the log once for the chain check and the figures: a line that starts like a
// keyshift record but is not JSON is damage, named by its line, and counts for nothing (it once
// made up a rotation with missing records from the line's first fields).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { baseEnv, json, runCli, tempProject, writeFiles } from '../helpers/cli.js';

test('report: a line that looks like a record but is not JSON is named and adds no rotation', () => {
  const dir = tempProject('keyshift-report-one-pass-');
  mkdirSync(join(dir, 'evidence'));
  writeFiles(dir, {
    'policies/k.yaml': 'secrets:\n  - name: k\n    interval: 30d\n    fallbackWindow: 1d\n    generator: { type: random, bytes: 32 }\n    environments:\n      - name: prod\n        store: { type: local, path: .keyshift/prod.store }\n',
    'evidence/evidence.jsonl': '{"seq":1,"at":"2026-01-01T00:00:00Z","event":"issued","rotationId":"r-made-up","secret":"k","environment":"prod", not json}\n',
  });
  const env = baseEnv({ KEYSHIFT_NOW: '2026-02-01T00:00:00Z', KEYSHIFT_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') });
  const result = runCli(['report', '--json'], { cwd: dir, env });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /evidence\/evidence\.jsonl:1: not valid JSON; the report/);
  const report = json(result);
  assert.equal(report.evidenceVerified, false);
  const [row] = report.secrets;
  assert.equal(row.secret, 'k');
  assert.deepEqual(row.evidenceGaps, ['the evidence chain does not verify'], 'no rotation is made up from the damaged line');
  assert.ok(report.evidenceProblems.includes('evidence/evidence.jsonl:1: not valid JSON'), JSON.stringify(report.evidenceProblems));
});
