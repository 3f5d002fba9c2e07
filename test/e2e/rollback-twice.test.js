// `rollback` run a second time: nothing to roll back (exit 2), and the message does not call the
// version the first rollback discarded "decommissioned" (it was the new one, never the old one).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { json, runCli, tempProject, writeFiles } from '../helpers/cli.js';

test('a second rollback says nothing is left to roll back without calling the discarded version decommissioned', () => {
  const dir = tempProject('keyshift-rollback-twice-');
  writeFiles(dir, { 'policies/p.yaml': 'secrets:\n  - name: api\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: dev\n        store: { type: local, path: .keyshift/dev.store }\n' });
  assert.equal(runCli(['rotate', '--all', '-q'], { cwd: dir }).code, 0);
  const rotated = json(runCli(['rotate', 'api', '--force', '--json'], { cwd: dir })).results[0];
  const first = runCli(['rollback', 'api', '--json'], { cwd: dir });
  assert.equal(first.code, 0, first.stderr);
  assert.equal(json(first).results[0].outcome, 'rolled-back');
  const second = runCli(['rollback', 'api'], { cwd: dir });
  assert.equal(second.code, 2, second.stderr);
  assert.match(second.stderr, /nothing to roll back/);
  assert.ok(second.stderr.includes(rotated.toVersion), 'names the version the rollback discarded');
  assert.doesNotMatch(second.stderr, /decommissioned\)/, `the discarded new version was not decommissioned: ${second.stderr}`);
});
