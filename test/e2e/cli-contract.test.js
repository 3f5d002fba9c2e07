// Issue 12: the CLI does what docs/cli.md says, item by item, as a new user runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertNoStackTrace, baseEnv, bin, json, manySecretsPolicy, root, runCli, runCliAsync, tempProject, writeFiles } from '../helpers/cli.js';

const env = (name, extra = '') => `      - name: ${name}\n        store: { type: local, path: .keyshift/${name}.store }\n${extra}`;
const secret = (name, environments, extra = '') =>
  `  - name: ${name}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n${extra}    environments:\n${environments}`;
const holdLock = (dir, store) =>
  writeFileSync(join(dir, '.keyshift', `${store}.store.lock`), JSON.stringify({ pid: process.pid, host: hostname(), owner: 'another run', token: 'x', acquiredAt: new Date().toISOString() }));
const current = (dir, name, e) => runCli(['get', name, '--env', e, '--json'], { cwd: dir }).stdout && json(runCli(['get', name, '--env', e, '--json'], { cwd: dir })).versionId;

/** The one error path: `keyshift: …` and `hint:` on stderr, {"error":{code,message,hint}} on stdout with --json. */
function assertError(result, code, exitCode) {
  assert.equal(result.code, exitCode, `exit ${result.code}\n${result.stderr}`);
  assert.match(result.stderr, /^keyshift: .+\n {2}hint: .+\n$/, result.stderr);
  assertNoStackTrace(assert, result.stderr);
  const { error } = json(result);
  assert.deepEqual(Object.keys(error), ['code', 'message', 'hint']);
  assert.equal(error.code, code);
}

test('1: a blocked environment holds the later ones of that secret; exit 3 only when nothing changed', () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('a', env('dev') + env('prod'))}\n${secret('b', env('prod'))}` });
  assert.equal(runCli(['rotate', '--all', '-q'], { cwd: dir }).code, 0);
  const before = { aProd: current(dir, 'a', 'prod'), bProd: current(dir, 'b', 'prod') };
  holdLock(dir, 'dev');
  const prodStore = readFileSync(join(dir, '.keyshift', 'prod.store'));

  const onlyA = runCli(['rotate', 'a', '--force', '--reason', 'x', '--lock-timeout', '0s', '--json'], { cwd: dir });
  assert.equal(onlyA.code, 3, 'nothing changed: blocked');
  assert.deepEqual(json(onlyA).results.map((r) => `${r.environment}:${r.outcome}`), ['dev:blocked', 'prod:skipped']);
  assert.match(json(onlyA).results[1].reason, /dev .*blocked/);
  assert.equal(current(dir, 'a', 'prod'), before.aProd, 'prod was not rotated past a blocked dev');
  assert.deepEqual(readFileSync(join(dir, '.keyshift', 'prod.store')), prodStore, 'exit 3: nothing changed, not even the anchor');

  const all = runCli(['rotate', '--all', '--force', '--reason', 'x', '--lock-timeout', '0s'], { cwd: dir });
  assert.equal(all.code, 1, 'something changed and something was blocked: exit 1');
  assert.match(all.stdout, /1 rotated/);
  assert.match(all.stdout, /1 blocked/);
  assert.match(all.stdout, /held/);
  assert.equal(current(dir, 'a', 'prod'), before.aProd);
  assert.notEqual(current(dir, 'b', 'prod'), before.bProd);
});

test('2: --dry-run fails where the real run would', () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('k', env('dev') + env('prod', '        requireTicket: true\n'))}` });
  assertError(runCli(['rotate', '--all', '--force', '--dry-run', '--json'], { cwd: dir }), 'ERR_USAGE', 2);
  assertError(runCli(['rotate', '--all', '--dry-run', '--json'], { cwd: dir }), 'ERR_TICKET_REQUIRED', 3);
  assert.equal(runCli(['rotate', '--all', '--dry-run', '--ticket', 'CHG-1', '--json'], { cwd: dir }).code, 0);
  assert.equal(runCli(['rotate', '--all', '--dry-run', '--env', 'dev'], { cwd: dir }).code, 0);
  assert.equal(existsSync(join(dir, '.keyshift')), false, 'a dry run creates nothing');
});

test('3: errors from the option parser honour --json, with the documented exit code', () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('k', env('dev'))}` });
  for (const args of [
    ['rotate', '--bogus', '--json'],
    ['bogus', '--json'],
    ['get', '--json'],
    ['get', 'k', '--stage', 'nope', '--json'],
    ['validate', 'extra', '--json'],
    ['--json', 'plan', '--horizon'],
  ]) {
    const result = runCli(args, { cwd: dir });
    assertError(result, 'ERR_USAGE', 2);
    assert.doesNotMatch(result.stderr, /^error:/m, args.join(' '));
  }
  const plain = runCli(['rotate', '--bogus'], { cwd: dir });
  assert.equal(plain.stdout, '');
  assert.match(plain.stderr, /^keyshift: unknown option '--bogus'\n {2}hint: /);
});

test('3: validate --json says valid:false; status error has the {code,message,hint} shape', () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': 'secrets:\n  - name: k\n    interval: 30x\n' });
  const invalid = runCli(['validate', '--json'], { cwd: dir });
  assert.equal(invalid.code, 2);
  const doc = json(invalid);
  assert.equal(doc.valid, false);
  assert.ok(doc.errors.length > 0 && doc.errors.every((e) => e.file && e.line && e.col && e.message));

  writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('k', env('dev'), '    decommissionCheck:\n      - { run: [ "false" ] }\n')}` });
  assert.equal(runCli(['rotate', '--all', '-q'], { cwd: dir }).code, 0);
  runCli(['rotate', 'k', '--force', '--reason', 'x', '--fallback-window', '0', '-q'], { cwd: dir });
  const row = json(runCli(['status', '--json'], { cwd: dir })).secrets[0];
  assert.equal(row.phase, 'fallback');
  assert.deepEqual(Object.keys(row.error ?? {}), ['code', 'message', 'hint'], JSON.stringify(row.error));
  assert.equal(row.error.code, 'ERR_DECOMMISSION_HELD');
});

test('4: status and plan piped into head stop quietly', () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/many.yaml': manySecretsPolicy(1500) });
  for (const command of ['status', 'plan']) {
    const result = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${bin}" ${command} | head -1`], { cwd: dir, env: baseEnv(), encoding: 'utf8' });
    assert.equal(result.stderr, '', `${command}: ${result.stderr}`);
    assert.match(result.stdout, /^SECRET/);
    assert.equal(result.status, 0, command);
  }
});

test('5: --env takes one environment per use (or a comma list) and names mix with options', () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('a', env('dev') + env('prod'))}\n${secret('b', env('dev') + env('prod'))}` });
  const pairs = (args) => {
    const result = runCli([...args, '--json'], { cwd: dir });
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    return json(result).actions.map((a) => `${a.secret}/${a.environment}`);
  };
  assert.deepEqual(pairs(['plan', '--env', 'dev', 'b']), ['b/dev']);
  assert.deepEqual(pairs(['plan', '--env', 'dev', '--env', 'prod', 'a']), ['a/dev', 'a/prod']);
  assert.deepEqual(pairs(['plan', 'a', '--env', 'dev,prod']), ['a/dev', 'a/prod']);
  const rotated = runCli(['rotate', '--env', 'dev', 'a', '--json'], { cwd: dir });
  assert.equal(rotated.code, 0, rotated.stderr);
  assert.deepEqual(json(rotated).results.map((r) => `${r.secret}/${r.environment}`), ['a/dev']);
});

test('6: help shows examples and the global options; no command is a usage error', () => {
  for (const command of ['init', 'validate', 'schema', 'plan', 'rotate', 'status', 'get', 'rollback', 'doctor', 'evidence verify']) {
    const result = runCli([...command.split(' '), '--help']);
    assert.equal(result.code, 0, command);
    assert.match(result.stdout, /Examples:\n/, command);
    assert.match(result.stdout, /--json/, `${command}: global options shown`);
    assert.match(result.stdout, new RegExp(`\\$ keyshift ${command}`), command);
  }
  const rotate = runCli(['rotate', '--help']).stdout;
  assert.match(rotate, /^Usage: keyshift rotate \[options\] <names\.\.\.> \| --all/);
  assert.match(rotate, /keyshift rotate --all --force --reason/, 'the emergency rotation');
  assert.match(rotate, /--dry-run/);
  const none = runCli([]);
  assert.equal(none.code, 2);
  assert.equal(none.stdout, '');
  assert.match(none.stderr, /Usage: keyshift/);
  const noSubcommand = runCli(['evidence', '--json']);
  assert.equal(noSubcommand.code, 2);
  assert.equal(json(noSubcommand).error.code, 'ERR_USAGE');
});

test('6: each command is found after the global options, and help still lists them all', async () => {
  // main() declares only the command being run (start-up time); what users see must not change.
  const { COMMANDS } = await import('../../dist/cli/main.js');
  const listed = (help) => [...help.split('\nCommands:\n')[1].matchAll(/^ {2}([a-z]+)/gm)].map((m) => m[1]);
  for (const args of [['--help'], ['--json', '--help'], ['--help', 'plan'], ['help']]) {
    const result = runCli(args);
    assert.equal(result.code, 0, args.join(' '));
    assert.deepEqual(listed(result.stdout), [...COMMANDS, 'help'], `keyshift ${args.join(' ')} lists every command`);
  }
  for (const name of COMMANDS) assert.match(runCli([name, '--help']).stdout, new RegExp(`^Usage: keyshift ${name} `), name);
  // A global option's value that is also a command's name is not taken for the command.
  const dir = tempProject();
  writeFiles(dir, { 'rotate/p.yaml': `secrets:\n${secret('a', env('dev'))}` });
  for (const args of [['-p', 'rotate', 'plan'], ['--policies', 'rotate', '--json', 'plan'], ['--policies=rotate', 'plan'], ['--lock-timeout', '5s', '-p', 'rotate', 'plan']]) {
    const result = runCli(args, { cwd: dir });
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stdout, /\ba +dev +provision\b|"action": "provision"/, args.join(' '));
    assert.ok(!existsSync(join(dir, '.keyshift', 'a.store')), `${args.join(' ')} planned, it did not rotate`);
  }
  const typo = runCli(['-p', 'rotate', 'plna'], { cwd: dir });
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /unknown command 'plna'\n\(Did you mean plan\?\)/);
});

test('7: init into a file is a usage error naming it', () => {
  const dir = tempProject();
  writeFiles(dir, { 'afile': 'x' });
  const result = runCli(['init', 'afile', '--json'], { cwd: dir });
  assertError(result, 'ERR_INIT_NOT_A_DIRECTORY', 2);
  assert.match(result.stderr, /afile/);
  assert.doesNotMatch(result.stderr, /internal error/);
});

test('7: SIGTERM releases the locks the run holds', async () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('k', env('dev', '        deploy:\n          - { run: [sleep, "30"] }\n'))}` });
  assert.equal(runCli(['rotate', '--all', '-q'], { cwd: dir }).code, 0);
  const run = runCliAsync(['rotate', 'k', '--force', '--reason', 'x'], { cwd: dir });
  const lock = join(dir, '.keyshift', 'dev.store.lock');
  for (let i = 0; i < 200 && !existsSync(lock); i++) await sleep(50);
  assert.ok(existsSync(lock), 'the run holds the store lock');
  await sleep(300);
  run.child.kill('SIGTERM');
  const done = await run.done;
  assert.equal(done.code, 143, done.stderr);
  assert.equal(existsSync(lock), false, 'lock released');
  assert.equal(existsSync(join(dir, 'evidence', 'evidence.lock')), false);
  const doctor = json(runCli(['doctor', '--json'], { cwd: dir }));
  assert.deepEqual(doctor.findings.filter((f) => f.check === 'dead-lock'), []);
}, { timeout: 60_000 });

test('7: get on an unprovisioned secret names the command that provisions it', () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('k', env('dev'))}` });
  const result = runCli(['get', 'k'], { cwd: dir });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /hint: .*keyshift rotate k\b/);
});

test('7: the durations policies.md gives as too long are rejected; description is one line', () => {
  const text = readFileSync(join(root, 'docs', 'policies.md'), 'utf8');
  const sentence = /longer than 100 years[^.]*\./s.exec(text)?.[0] ?? '';
  const examples = [...sentence.matchAll(/`(\d+[smhdw])`/g)].map((m) => m[1]);
  assert.ok(examples.length >= 2, sentence);
  const dir = tempProject();
  for (const interval of examples) {
    writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('k', env('dev')).replace('interval: 30d', `interval: ${interval}`)}` });
    assert.equal(runCli(['validate'], { cwd: dir }).code, 2, `${interval} is documented as an error`);
  }
  const longest = /The longest allowed is `(\d+d)`/.exec(text)?.[1];
  writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('k', env('dev')).replace('interval: 30d', `interval: ${longest}`)}` });
  assert.equal(runCli(['validate'], { cwd: dir }).code, 0, `${longest} is documented as the longest allowed`);
  writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('k', env('dev'), '    description: |\n      line one\n      line two\n')}` });
  const multi = runCli(['validate'], { cwd: dir });
  assert.equal(multi.code, 2);
  assert.match(multi.stderr, /p\.yaml:\d+:\d+: .*description.*one line/);
});

test('7: the README command table matches docs/cli.md', () => {
  const cli = readFileSync(join(root, 'docs', 'cli.md'), 'utf8');
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const synopses = [...cli.matchAll(/^### `(.+)`$/gm)].map((m) => m[1]);
  const table = [...readme.matchAll(/^\| `keyshift (.+?)` \|/gm)].map((m) => m[1].replaceAll('\\|', '|'));
  assert.ok(synopses.length >= 10);
  assert.deepEqual(table, synopses);
});
