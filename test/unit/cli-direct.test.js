// The direct path (src/cli/direct.ts): plan, status, get and validate with plain options run
// without commander. Whatever it takes must reach the command exactly as commander would hand it
// over, and whatever it leaves must still run (or fail) through commander. Both entry points run
// here for real, up to the command's handler, which records what it was given instead of running.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DIRECT_COMMANDS } from '../../dist/cli/command-table.js';
import { parseDirect } from '../../dist/cli/direct.js';
import { main } from '../../dist/cli/main.js';
import { runProgram } from '../../dist/cli/program.js';

const DIRECT_NAMES = Object.keys(DIRECT_COMMANDS);
const handlers = Object.fromEntries(Object.entries(DIRECT_COMMANDS).map(([name, spec]) => [name, spec.run]));
let calls = [];
before(() => {
  for (const [name, spec] of Object.entries(DIRECT_COMMANDS)) {
    spec.run = async (_commands, globals, args, options) => {
      calls.push({ command: name, globals: { ...globals }, options: { ...options }, args });
      return 0;
    };
  }
});
after(() => {
  for (const [name, spec] of Object.entries(DIRECT_COMMANDS)) spec.run = handlers[name];
});

function io() {
  const text = { stdout: '', stderr: '' };
  return { text, io: { env: {}, cwd: process.cwd(), out: { stdout: (s) => (text.stdout += s), stderr: (s) => (text.stderr += s), isTTY: false } } };
}

/** What the command got (or null), the exit code and the output, through one entry point. */
async function through(entry, args) {
  calls = [];
  const { text, io: theIo } = io();
  const code = await entry(['node', 'keyshift', ...args], theIo);
  assert.ok(calls.length <= 1);
  return { call: calls[0] ?? null, code, ...text };
}

const viaCommander = (args) => through(runProgram, args);
const viaMain = (args) => through(main, args);

describe('the direct path', () => {
  it('takes the command lines users type, as commander would hand them over', async () => {
    const lines = [
      ['plan'],
      ['status'],
      ['validate'],
      ['plan', '--json'],
      ['--json', 'status'],
      ['plan', '--env', 'prod', '--all'],
      ['plan', '--env', 'dev,prod', '--env', 'qa', 'api-key', 'db-password'],
      ['plan', '--horizon=14d', '--force', '--shard', '2/4'],
      ['-p', 'policies/secrets.yaml', 'plan', 'api-key', '--json'],
      ['status', '--env', 'prod', '-q', '--log-level', 'debug'],
      ['get', 'db-password'],
      ['get', 'db-password', '--env', 'prod', '--stage', 'previous'],
      ['--evidence-dir', 'ev', '--lock-timeout', '5s', 'validate', '--values', '--env', 'prod'],
      ['plan', '--region', 'eu-west-1', '--profile', 'ops', '--endpoint-url', 'http://127.0.0.1:4566'],
    ];
    for (const args of lines) {
      const direct = parseDirect(args);
      assert.notEqual(direct, null, `${args.join(' ')} is taken`);
      const expected = await viaCommander(args);
      assert.equal(expected.code, 0, `${args.join(' ')}: ${expected.stderr}`);
      assert.deepEqual({ command: direct.command.name, globals: direct.globals, options: direct.options, args: direct.args }, expected.call, args.join(' '));
      assert.deepEqual(await viaMain(args), expected, args.join(' '));
    }
  });

  it('leaves to commander what it does not take whole, which then runs or explains it as before', async () => {
    const lines = [
      [], ['--help'], ['plan', '--help'], ['-h'], ['help', 'plan'], ['-V'],
      ['plan', '--bogus'], ['--all', 'plan'], ['plan', '--'], ['plan', '--env'], ['plan', '--env', '-x'],
      ['get'], ['get', 'a', 'b'], ['get', 'a', '--stage', 'latest'], ['validate', 'extra'], ['plan', '--json=yes'],
      ['plna'], ['-qp', 'x', 'plan'], ['plan', '-1'],
    ];
    for (const args of lines) {
      assert.equal(parseDirect(args), null, `${args.join(' ')} is left to commander`);
      assert.deepEqual(await viaMain(args), await viaCommander(args), args.join(' '));
    }
  });

  it('agrees with commander on generated command lines', async () => {
    // Words a command line is made of: commands, every option of the table with and without its
    // value, the `--x=value` form, grouped and unknown options, values that look like options.
    const words = [
      // (no other command: commander would run it for real)
      'plan', 'status', 'get', 'validate', 'help', 'api-key', 'db', '-',
      '-p', '--policies', '--evidence-dir', '--json', '--log-level', '-q', '--quiet', '--lock-timeout', '--region', '--profile', '--endpoint-url',
      '--all', '--force', '--env', '--horizon', '--shard', '--values', '--stage', '--bogus', '-V', '--help', '--',
      '--env=prod', '--stage=pending', '--horizon=', '--json=1', '--policies=p.yaml', '-qp', '-x',
      'prod', 'dev,qa', ' , ', 'current', 'previous', 'latest', '7d', '1/2', '',
    ];
    let seed = 0x2545f491;
    const next = () => ((seed = Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32;
    const rounds = Number(process.env.KEYSHIFT_CLI_DIRECT_ROUNDS ?? 3000);
    let taken = 0;
    for (let round = 0; round < rounds; round++) {
      const args = [DIRECT_NAMES[Math.floor(next() * DIRECT_NAMES.length)]];
      const length = Math.floor(next() * 6);
      for (let i = 0; i < length; i++) args.splice(Math.floor(next() * (args.length + 1)), 0, words[Math.floor(next() * words.length)]);
      const direct = parseDirect(args);
      const expected = await viaCommander(args);
      if (direct === null) continue;
      taken += 1;
      assert.equal(expected.code, 0, `${JSON.stringify(args)} is taken, but commander refuses it: ${expected.stderr}`);
      assert.deepEqual({ command: direct.command.name, globals: direct.globals, options: direct.options, args: direct.args }, expected.call, JSON.stringify(args));
    }
    // Most generated lines hold a word the direct path leaves to commander; enough are taken.
    assert.ok(taken > rounds / 10, `${taken} of ${rounds} lines taken`);
  });
});
