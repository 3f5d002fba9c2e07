// Issue 17: what keyshift's start-up rests on, checked as a user runs it (the times are in bench/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
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
  const probe = writeProbe(dir, [], 'process.moduleLoadList');
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

test('a warm `plan` loads neither node:fs/promises nor the streams behind process.stdout, and prints its table', () => {
  const dir = tempProject();
  cpSync(join(buildRoot, 'policies'), join(dir, 'policies'), { recursive: true });
  const probe = writeProbe(dir, [], 'process.moduleLoadList');
  const env = baseEnv({ KEYSHIFT_CACHE_DIR: join(dir, 'cache'), PROBE_OUT: join(dir, 'modules.json'), KEYSHIFT_NOW: '2026-06-01T00:00:00Z' });
  const plan = () => spawnSync(process.execPath, ['--require', probe, join(buildRoot, 'bin', 'keyshift.js'), 'plan'], { cwd: dir, env, encoding: 'utf8' });
  const cold = plan(); // parses the policies and fills the policy cache and V8's code cache
  assert.equal(cold.status, 0, cold.stderr);
  const warm = plan();
  assert.equal(warm.status, 0, warm.stderr);
  assert.equal(warm.stdout, cold.stdout);
  assert.match(warm.stdout, /^SECRET +ENV +ACTION/);
  const loaded = JSON.parse(readFileSync(join(dir, 'modules.json'), 'utf8'));
  writeFileSync(join(dir, 'empty.cjs'), '');
  assert.equal(spawnSync(process.execPath, ['--require', probe, join(dir, 'empty.cjs')], { cwd: dir, env }).status, 0);
  const empty = JSON.parse(readFileSync(join(dir, 'modules.json'), 'utf8'));
  // node:module (and the ES module loader it brings) is half a millisecond: built-ins come from
  // process.getBuiltinModule (src/util/builtin.ts, scripts/bundle.js's lazy built-ins).
  const unwanted = loaded.filter((name) => !empty.includes(name) && /fs\/promises|readline|streams|esm\/loader|^NativeModule (stream|tty|net|module)$/.test(name));
  assert.deepEqual(unwanted, [], 'Node modules a warm plan should not need (bench/README.md, start-up)');
});

test('output larger than a pipe, to a non-blocking pipe whose reader is slow, arrives whole and in order', () => {
  // keyshift writes to fd 1 directly; a descriptor left non-blocking (here by a socket opened on it
  // before keyshift starts, as a parent process may leave it) refuses a write once the pipe is
  // full (EAGAIN), and the rest must then go through process.stdout, not be lost or fail the run.
  const dir = tempProject();
  const expected = runCli(['schema'], { cwd: dir });
  assert.equal(expected.code, 0, expected.stderr);
  assert.ok(expected.stdout.length > 70_000, 'the schema is larger than a pipe holds (64 KiB)');
  const bin = join(buildRoot, 'bin', 'keyshift.js');
  const start = "new (require('node:net').Socket)({ fd: 1, readable: false }).unref(); process.argv = [process.execPath, process.env.KEYSHIFT_BIN, 'schema']; require(process.env.KEYSHIFT_BIN)";
  const out = join(dir, 'out.json');
  const result = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" -e "${start}" | (sleep 1; cat > "${out}")`], { cwd: dir, env: baseEnv({ KEYSHIFT_BIN: bin }), encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stderr, '');
  assert.equal(readFileSync(out, 'utf8'), expected.stdout);
});

/** A copy of the build (bin, dist, package.json; node_modules linked) that a test may rewrite. */
function buildCopy() {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-build-copy-'));
  cpSync(join(buildRoot, 'bin'), join(dir, 'bin'), { recursive: true });
  cpSync(join(buildRoot, 'dist', 'bundle'), join(dir, 'dist', 'bundle'), { recursive: true });
  cpSync(join(buildRoot, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(buildRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

const PLAN_HELP = 'show what `rotate` would do; changes nothing';

test("V8's code cache: kept under the cache dir, and a rewritten bundle never runs its old code", () => {
  const build = buildCopy();
  const cache = join(tempProject(), 'cache');
  const help = () => spawnSync(process.execPath, [join(build, 'bin', 'keyshift.js'), '--help'], { cwd: build, env: baseEnv({ KEYSHIFT_CACHE_DIR: cache }), encoding: 'utf8' });
  for (let i = 0; i < 2; i++) {
    const result = help();
    assert.equal(result.status, 0, result.stderr);
    assert.ok(result.stdout.includes(PLAN_HELP), result.stdout);
  }
  assert.ok(readdirSync(join(cache, 'v8'), { recursive: true }).length > 0, 'nothing cached under v8/');
  // The same length, so only the file's identity (not its size) tells the cached code is stale.
  const bundle = join(build, 'dist', 'bundle');
  const [file, ...others] = readdirSync(bundle).filter((name) => name.endsWith('.js') && readFileSync(join(bundle, name), 'utf8').includes(PLAN_HELP));
  assert.ok(file && others.length === 0, 'one bundle file holds the help text');
  const text = readFileSync(join(bundle, file), 'utf8');
  writeFileSync(join(bundle, file), text.replace(PLAN_HELP, PLAN_HELP.toUpperCase()));
  const after = help();
  assert.equal(after.status, 0, after.stderr);
  assert.ok(after.stdout.includes(PLAN_HELP.toUpperCase()), `old code ran after the bundle changed:\n${after.stdout}`);
});

test("V8's code cache is kept per set of V8 flags: a `rotate` (which sets its own) between two `plan`s leaves plan's cached code as it was", () => {
  // V8 refuses code cached under other flags. With one entry per file, `rotate` refused plan's code,
  // compiled anew and wrote its own in its place, and the next `plan` did the same back.
  const dir = tempProject();
  cpSync(join(buildRoot, 'policies'), join(dir, 'policies'), { recursive: true });
  const cache = join(dir, 'cache');
  const run = (...args) => {
    const result = spawnSync(process.execPath, [join(buildRoot, 'bin', 'keyshift.js'), ...args], { cwd: dir, env: baseEnv({ KEYSHIFT_CACHE_DIR: cache }), encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
  };
  const entries = () => {
    const v8 = join(cache, 'v8');
    const files = readdirSync(v8, { recursive: true }).filter((name) => statSync(join(v8, name)).isFile());
    return new Map(files.map((name) => [name, `${statSync(join(v8, name)).mtimeMs} ${statSync(join(v8, name)).size}`]));
  };
  run('plan');
  run('plan');
  const planned = entries();
  assert.ok(planned.size > 0, 'plan cached nothing under v8/');
  run('rotate', '--all', '--dry-run');
  run('rotate', '--all', '--dry-run');
  run('plan');
  const after = entries();
  const rewritten = [...planned].filter(([name, stamp]) => after.get(name) !== stamp).map(([name]) => name);
  assert.deepEqual(rewritten, [], "plan's cached code was rewritten (refused and compiled again) after a rotate");
  assert.ok(after.size > planned.size, 'rotate kept its own entries beside plan\'s');
});

test('rotate collects what its start built in one forced full collection, and keeps its cached code; plan forces none', () => {
  // bin/keyshift.js starts `rotate` with --expose-gc; the run collects once its rollback check is
  // done (src/util/collect-garbage.ts). The flag is set before the bundle loads, so the code V8
  // cached under rotate's flags stays valid from one rotate to the next.
  const dir = tempProject();
  cpSync(join(buildRoot, 'policies'), join(dir, 'policies'), { recursive: true });
  const probe = writeProbe(dir, [
    "const { PerformanceObserver, constants } = require('node:perf_hooks'); const forced = [];",
    'const keep = (entries) => { for (const e of entries) if (e.detail.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) forced.push(e.detail.kind); };',
    "const observer = new PerformanceObserver((list) => keep(list.getEntries())); observer.observe({ entryTypes: ['gc'] });",
    "process.on('exit', () => keep(observer.takeRecords()));",
  ], 'forced');
  const cache = join(dir, 'cache');
  const forcedIn = (args) => {
    const out = join(dir, 'forced.json');
    const result = spawnSync(process.execPath, ['--require', probe, join(buildRoot, 'bin', 'keyshift.js'), ...args], { cwd: dir, env: baseEnv({ KEYSHIFT_CACHE_DIR: cache, PROBE_OUT: out }), encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(readFileSync(out, 'utf8'));
  };
  const entries = () => {
    const v8 = join(cache, 'v8');
    return new Map(readdirSync(v8, { recursive: true }).filter((name) => statSync(join(v8, name)).isFile()).map((name) => [name, statSync(join(v8, name)).mtimeMs]));
  };
  const MAJOR = 4; // perf_hooks constants.NODE_PERFORMANCE_GC_MAJOR
  assert.deepEqual(forcedIn(['rotate', '--all', '-q']), [MAJOR], 'the provisioning run');
  assert.deepEqual(forcedIn(['rotate', '--all', '--force', '--reason', 'test', '-q']), [MAJOR], 'a forced run');
  const cached = entries();
  assert.deepEqual(forcedIn(['rotate', '--all', '--force', '--reason', 'test', '-q']), [MAJOR]);
  const rewritten = [...cached].filter(([name, mtime]) => entries().get(name) !== mtime).map(([name]) => name);
  assert.deepEqual(rewritten, [], 'a rotate refused the code the rotate before it cached');
  assert.deepEqual(forcedIn(['plan']), []);
  assert.deepEqual(forcedIn(['status']), []);
});

test('a cache dir that cannot be written, or holds garbage, changes nothing but the speed', () => {
  const dir = tempProject();
  writeFileSync(join(dir, 'not-a-dir'), '');
  const expected = runCli(['--help'], { cwd: dir, env: baseEnv({ KEYSHIFT_NO_CACHE: '1' }) });
  assert.equal(expected.code, 0, expected.stderr);
  const unwritable = runCli(['--help'], { cwd: dir, env: baseEnv({ KEYSHIFT_CACHE_DIR: join(dir, 'not-a-dir', 'cache') }) });
  assert.deepEqual([unwritable.code, unwritable.stdout, unwritable.stderr], [0, expected.stdout, '']);
  const cache = join(dir, 'cache');
  assert.equal(runCli(['--help'], { cwd: dir, env: baseEnv({ KEYSHIFT_CACHE_DIR: cache }) }).code, 0);
  const entries = readdirSync(join(cache, 'v8'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  assert.ok(entries.length > 0, 'nothing cached under v8/');
  for (const entry of entries) writeFileSync(join(entry.parentPath ?? entry.path, entry.name), 'garbage');
  const garbage = runCli(['--help'], { cwd: dir, env: baseEnv({ KEYSHIFT_CACHE_DIR: cache }) });
  assert.deepEqual([garbage.code, garbage.stdout, garbage.stderr], [0, expected.stdout, '']);
});

test('each bundle file is loaded once in a run that needs both packs, with the code cache on and off', () => {
  // bin/keyshift.js loads core.js without require()'s resolution (bin/keyshift.js loadFile);
  // changes.js then takes core.js with require(): it must get that same module, not run it again.
  const dir = tempProject();
  cpSync(join(buildRoot, 'policies'), join(dir, 'policies'), { recursive: true });
  const probe = writeLoadProbe(dir);
  for (const cacheEnv of [{ KEYSHIFT_CACHE_DIR: join(dir, 'cache') }, { KEYSHIFT_NO_CACHE: '1' }]) {
    const out = join(dir, 'loads.json');
    const env = baseEnv({ ...cacheEnv, PROBE_OUT: out });
    for (let i = 0; i < 2; i++) {
      const result = spawnSync(process.execPath, ['--require', probe, join(buildRoot, 'bin', 'keyshift.js'), 'rotate', '--all', '--dry-run'], { cwd: dir, env, encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
      const counts = {};
      for (const file of JSON.parse(readFileSync(out, 'utf8'))) counts[file] = (counts[file] ?? 0) + 1;
      const bundle = Object.entries(counts).filter(([file]) => file.includes(join('dist', 'bundle')));
      const names = bundle.map(([file]) => file.split(/[\\/]/).pop());
      assert.ok(names.includes('core.js') && names.includes('changes.js'), `both packs loaded: ${names.join(', ')}`);
      assert.deepEqual(bundle.filter(([, n]) => n !== 1), [], `bundle files loaded more than once (${JSON.stringify(cacheEnv)})`);
    }
  }
});

test('plan, status, get and validate with plain options load core.js alone from the bundle: commander is not in it', () => {
  // src/cli/direct.ts parses those command lines; commander (program.ts, its own chunk) loads for
  // help, usage errors and every other command (bench/issue-17.md, start-up, tenth round).
  const dir = tempProject();
  cpSync(join(buildRoot, 'policies'), join(dir, 'policies'), { recursive: true });
  const probe = writeLoadProbe(dir);
  const out = join(dir, 'loads.json');
  const env = baseEnv({ KEYSHIFT_CACHE_DIR: join(dir, 'cache'), PROBE_OUT: out });
  const bundleFiles = (args, status = 0) => {
    const result = spawnSync(process.execPath, ['--require', probe, join(buildRoot, 'bin', 'keyshift.js'), ...args], { cwd: dir, env, encoding: 'utf8' });
    assert.equal(result.status, status, result.stderr);
    return JSON.parse(readFileSync(out, 'utf8')).filter((file) => file.includes(join('dist', 'bundle'))).map((file) => file.split(/[\\/]/).pop());
  };
  assert.equal(bundleFiles(['rotate', '--all', '-q']).includes('core.js'), true);
  for (const args of [['plan'], ['status', '--json'], ['plan', '--env', 'prod', 'jwt-signing-secret'], ['validate'], ['get', 'jwt-signing-secret', '--env', 'dev']]) {
    assert.deepEqual(bundleFiles(args), ['core.js'], args.join(' '));
  }
  // What it does not take goes to commander, which answers as before.
  const program = (names) => names.filter((name) => name.startsWith('program-'));
  assert.equal(program(bundleFiles(['plan', '--bogus'], 2)).length, 1);
  assert.equal(program(bundleFiles(['plan', '--help'])).length, 1);
  assert.ok(!readFileSync(join(buildRoot, 'dist', 'bundle', 'core.js'), 'utf8').includes('CommanderError'), 'core.js holds commander');
});

test('plan and status never call Date#toISOString: its first call sets up the time zone (src/util/iso-time.ts)', () => {
  const dir = tempProject();
  cpSync(join(buildRoot, 'policies', 'secrets.yaml'), join(dir, 'secrets.yaml'));
  const probe = writeProbe(dir, [
    "const formats = ['toISOString', 'toJSON', 'toString', 'toUTCString']; const calls = [];",
    'for (const name of formats) { const real = Date.prototype[name]; Date.prototype[name] = function (...args) { calls.push(name); return real.apply(this, args); }; }',
  ], 'calls');
  const out = join(dir, 'calls.json');
  const env = baseEnv({ KEYSHIFT_CACHE_DIR: join(dir, 'cache'), PROBE_OUT: out });
  const calls = (args) => {
    const result = spawnSync(process.execPath, ['--require', probe, join(buildRoot, 'bin', 'keyshift.js'), '-p', 'secrets.yaml', ...args], { cwd: dir, env, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(readFileSync(out, 'utf8'));
  };
  calls(['plan']);
  // Unprovisioned: every row is due now; then provisioned, with dates to show.
  assert.deepEqual([calls(['plan']), calls(['plan', '--json']), calls(['status'])], [[], [], []]);
  calls(['rotate', '--all', '-q']);
  assert.deepEqual([calls(['plan']), calls(['status']), calls(['status', '--json']), calls(['plan', '--horizon', '400d'])], [[], [], [], []]);
});

test("Node's own compile cache (Node >= 22.1) only for the files keyshift leaves to Node, turned on when the first loads", () => {
  // keyshift's cache of the bundle is under v8/<version>-<arch>/; Node's own makes directories of
  // its own beside it. A warm `plan` leaves nothing to Node (and so never loads node:module); a
  // rotate that logs at debug loads pino from node_modules, which Node compiles.
  const dir = tempProject();
  cpSync(join(buildRoot, 'policies', 'secrets.yaml'), join(dir, 'secrets.yaml'));
  const cache = join(dir, 'cache');
  const run = (...args) => {
    const result = spawnSync(process.execPath, [join(buildRoot, 'bin', 'keyshift.js'), '-p', 'secrets.yaml', ...args], { cwd: dir, env: baseEnv({ KEYSHIFT_CACHE_DIR: cache }), encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    return result;
  };
  const ours = `${process.version}-${process.arch}`;
  run('plan');
  run('plan');
  assert.deepEqual(readdirSync(join(cache, 'v8')), [ours], 'a plan left files to Node');
  const logged = run('rotate', '--all', '--log-level', 'debug');
  assert.match(logged.stderr, /"msg":"store locked"/, 'the run logged through pino');
  const nodes = readdirSync(join(cache, 'v8')).filter((name) => name !== ours);
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 22) assert.ok(nodes.length > 0, "Node's own compile cache was not turned on for pino");
  else assert.deepEqual(nodes, [], 'Node 20 has no compile cache of its own');
});

/** A `--require` script: `setup`'s lines, then at exit the JSON of `recorded` written to $PROBE_OUT. */
function writeProbe(dir, setup, recorded) {
  const probe = join(dir, 'probe.cjs');
  writeFileSync(probe, [...setup, `process.on('exit', () => require('node:fs').writeFileSync(process.env.PROBE_OUT, JSON.stringify(${recorded})));`].join('\n'));
  return probe;
}

/** A probe of every file Node's CommonJS loader loads, in order. */
const writeLoadProbe = (dir) =>
  writeProbe(dir, ["const Module = require('node:module'); const load = Module.prototype.load; const files = [];", 'Module.prototype.load = function (filename) { files.push(filename); return load.call(this, filename); };'], 'files');
