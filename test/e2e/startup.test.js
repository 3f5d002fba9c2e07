// Issue 17: what keyshift's start-up rests on, checked as a user runs it (the times are in bench/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseEnv, buildRoot, runCli, tempProject } from '../helpers/cli.js';

const version = JSON.parse(readFileSync(join(buildRoot, 'package.json'), 'utf8')).version;

test('--version and -V print the package version alone, exit 0', () => {
  for (const flag of ['--version', '-V']) {
    const result = runCli([flag], { cwd: tempProject() });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${version}\n`);
    assert.equal(result.stderr, '');
  }
});

test('--version is answered by bin/keyshift.js alone: no bundled CLI, no Node module beyond an empty script', () => {
  // A copy of the entry without dist/: --version still answers, any command says the CLI is not built.
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-entry-'));
  cpSync(join(buildRoot, 'bin'), join(dir, 'bin'), { recursive: true });
  cpSync(join(buildRoot, 'package.json'), join(dir, 'package.json'));
  const run = (args, execArgv = []) => spawnSync(process.execPath, [...execArgv, join(dir, 'bin', 'keyshift.js'), ...args], { cwd: dir, env: baseEnv(), encoding: 'utf8' });
  const answered = run(['--version']);
  assert.equal(answered.status, 0, answered.stderr);
  assert.equal(answered.stdout, `${version}\n`);
  const unbuilt = run(['plan']);
  assert.equal(unbuilt.status, 1);
  assert.match(unbuilt.stderr, /^keyshift: the CLI is not built\n {2}hint: run `npm install`/);
  // The entry is CommonJS (bin/package.json): --version loads no Node module that an empty
  // CommonJS script does not (no ES module loader, no stream for process.stdout).
  const probe = join(dir, 'probe.cjs');
  writeFileSync(probe, "process.on('exit', () => require('node:fs').writeFileSync(process.env.PROBE_OUT, JSON.stringify(process.moduleLoadList)));");
  writeFileSync(join(dir, 'empty.cjs'), '');
  const modules = (script, args) => {
    const out = join(dir, 'modules.json');
    const result = spawnSync(process.execPath, ['--require', probe, script, ...args], { cwd: dir, env: baseEnv({ PROBE_OUT: out }), encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(readFileSync(out, 'utf8'));
  };
  const empty = modules(join(dir, 'empty.cjs'), []);
  assert.deepEqual(modules(join(dir, 'bin', 'keyshift.js'), ['--version']).filter((name) => !empty.includes(name)), [], 'Node modules --version loaded beyond an empty script');
});
