// Progress is for people: shown on a terminal, never with --json or when stdout is not a terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { runCli, tempProject, writeFiles, manySecretsPolicy, bin, baseEnv } from '../helpers/cli.js';

test('rotate --all shows done/total on a terminal and nothing when piped', () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': manySecretsPolicy(5) });
  const piped = runCli(['rotate', '--all'], { cwd: dir });
  assert.equal(piped.code, 0);
  assert.doesNotMatch(piped.stderr + piped.stdout, /\d+\/5 secrets/);
  // `script` gives the CLI a real pseudo-terminal.
  const tty = spawnSync('script', ['-qec', `${process.execPath} ${bin} rotate --all --force --reason progress`, '/dev/null'], { cwd: dir, env: baseEnv(), encoding: 'utf8' });
  assert.equal(tty.status, 0, tty.stdout);
  assert.match(tty.stdout, /5\/5 secrets/);
  const json = spawnSync('script', ['-qec', `${process.execPath} ${bin} rotate --all --force --reason progress --json`, '/dev/null'], { cwd: dir, env: baseEnv(), encoding: 'utf8' });
  // The run must have happened for its silence to mean anything: exit 0 and the JSON report.
  assert.equal(json.status, 0, json.stdout);
  assert.match(json.stdout, /"outcome": ?"rotated"/);
  assert.doesNotMatch(json.stdout, /\d+\/5 secrets/);
});
