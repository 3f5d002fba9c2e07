// Issue 13, item 2: a failed result names the rotation that had started, and the evidence of a
// resumed rotation keeps the original reason, ticket and emergency flag and names the resuming run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempProject, writeFiles, json, readEvidence } from '../helpers/cli.js';

const policy = (deploy) =>
  `secrets:\n  - name: api-key\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: dev\n        store: { type: local, path: .keyshift/dev.store }\n        deploy: [${deploy}]\n`;

test('a failed result carries the rotationId of the rotation that had started', () => {
  const dir = tempProject('keyshift-honest-');
  writeFiles(dir, { 'policies/p.yaml': policy('{ run: [sh, -c, "test -f deploy-ok"] }') });
  writeFiles(dir, { 'deploy-ok': '' });
  assert.equal(runCli(['rotate', '--all'], { cwd: dir }).code, 0);
  writeFiles(dir, { 'policies/p.yaml': policy('{ run: [sh, -c, "exit 7"] }') });
  const result = runCli(['rotate', '--all', '--force', '--reason', 'drill', '--json'], { cwd: dir });
  assert.equal(result.code, 1, result.stderr);
  const [failed] = json(result).results;
  assert.equal(failed.outcome, 'failed', JSON.stringify(failed));
  assert.match(failed.rotationId ?? '', /./, `a started rotation is named: ${JSON.stringify(failed)}`);
  const issued = readEvidence(dir).find((r) => r.event === 'issued');
  assert.equal(failed.rotationId, issued.rotationId);
});

test('a resumed rotation keeps its reason, ticket and emergency flag; the evidence names the resuming run', () => {
  const dir = tempProject('keyshift-honest-');
  // The deploy hook kills keyshift (its parent) mid-overlap until the file `let-it-run` exists.
  writeFiles(dir, { 'policies/p.yaml': policy('{ run: [sh, -c, "test -f let-it-run || kill -9 $PPID"] }'), 'let-it-run': '' });
  assert.equal(runCli(['rotate', '--all'], { cwd: dir }).code, 0);
  // Remove the marker: the forced rotation dies in its deploy hook.
  const marker = join(dir, 'let-it-run');
  rmSync(marker);
  const crashed = runCli(['rotate', '--all', '--force', '--reason', 'suspected breach', '--ticket', 'INC-42'], { cwd: dir });
  assert.notEqual(crashed.code, 0, 'the run was killed');
  writeFiles(dir, { 'let-it-run': '' });
  const resumed = runCli(['rotate', '--all', '--json'], { cwd: dir });
  assert.equal(resumed.code, 0, resumed.stderr);
  const report = json(resumed);
  assert.deepEqual(report.results.map((r) => r.outcome), ['resumed'], JSON.stringify(report));
  const switched = readEvidence(dir).filter((r) => r.event === 'switched' && r.rotationId === report.results[0].rotationId);
  assert.equal(switched.length, 1);
  assert.equal(switched[0].reason, 'suspected breach');
  assert.equal(switched[0].ticket, 'INC-42');
  assert.equal(switched[0].emergency, true);
  assert.equal(switched[0].resumedBy, report.runId);
  assert.ok(existsSync(marker));
});

