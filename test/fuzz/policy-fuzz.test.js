// Property-based tests of policy loading: valid policies built from docs/policies.md, then every
// kind of damage. For each case `keyshift validate` and `keyshift plan --json` run in a fresh
// directory; whatever the input, they exit 0 or 2, print no stack trace, report problems as
// `file:line:col: message`, agree with each other, and create, change or remove no file.
// FUZZ_SEED picks other cases, FUZZ_RUNS sets how many (docs/reliability.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { adoptEnv, checkProperty, elapsed, fcParams, fuzzSettings, inBatches, isolatedEnv, outputProblems, runInProcess, runSpawned, snapshotDiff, snapshotTree, tempDir } from './helpers.js';
import { validPolicySet } from './policy-arbitraries.js';
import { directoryCase, structurallyMutated, textuallyMutated } from './policy-mutations.js';
import { extremeDurationPolicy } from './policy-round-trip.js';

const { seed, runs, share } = fuzzSettings(2_000);
const STACK_EXHAUSTED = /invalid YAML: Maximum call stack size exceeded/;
const home = tempDir('keyshift-fuzz-home-');
const env = isolatedEnv(home);
adoptEnv(env);
// A library may print a Node process warning on stderr behind keyshift's back (the yaml package
// does for some keys): in-process it would not reach the captured output, so collect it here.
const processWarnings = [];
process.on('warning', (warning) => processWarnings.push(`${warning.name}: ${warning.message}`));

const validCases = validPolicySet.map((base) => ({ files: base.files, aws: base.aws, expect: { secrets: base.secrets.length, files: Object.keys(base.files).length }, tree: base.tree }));
const PROPERTIES = [
  { name: 'valid policies', salt: 1, weight: 0.25, arbitrary: validCases },
  { name: 'structural edits (keys deleted, renamed, duplicated, wrong types, huge numbers, unicode)', salt: 2, weight: 0.3, arbitrary: structurallyMutated },
  { name: 'text edits (random bytes, truncation, indentation, YAML tokens, aliases)', salt: 3, weight: 0.3, arbitrary: textuallyMutated },
  { name: 'directories and odd files (empty, bombs, deep nesting, ignored files, -p file)', salt: 4, weight: 0.15, arbitrary: directoryCase },
];
let total = 0;
/** Outcomes of the current property, for its diagnostic line (a property that only ever fails is a weak one). */
let outcomes = {};
const count = (outcome) => (outcomes[outcome] = (outcomes[outcome] ?? 0) + 1);
const describeOutcomes = () => Object.entries(outcomes).map(([k, v]) => `${v} ${k}`).join(', ');

for (const { name, salt, weight, arbitrary } of PROPERTIES) {
  const numRuns = share(weight);
  test(`${name}: ${numRuns} cases (seed ${seed + salt})`, async (t) => {
    const started = performance.now();
    outcomes = {};
    await checkProperty(fc.asyncProperty(arbitrary, checkCase), fcParams(seed, salt, numRuns));
    total += numRuns;
    t.diagnostic(`${numRuns} cases in ${elapsed(started)} (${describeOutcomes()}); ${total} of ${runs} policy cases`);
    // A property must reach the outcomes it is about (with enough cases to expect them).
    const valid = Object.entries(outcomes).filter(([k]) => k.startsWith('valid')).reduce((sum, [, v]) => sum + v, 0);
    if (name === 'valid policies') assert.equal(valid, numRuns, `every valid policy validates: ${describeOutcomes()}`);
    else if (numRuns >= 50) assert.ok(outcomes['rejected (exit 2)'] > 0, `no damaged policy was rejected: the damage changes nothing (${describeOutcomes()})`);
  });
}

// Cases this fuzzer found, kept so that they run on every seed (see docs/reliability.md).
const FOUND = [
  ['a NUL byte in a store path (plan exited 1: "cannot read store")', policyWith('store: { type: local, path: "a\\0b" }')],
  ['a hook env name with a line break (the message took two lines)', policyWith('store: { type: local, path: x }\n        deploy: [{ run: [x], env: { "A\\nB": x } }]')],
  ['a map key that is a list (the yaml package printed a process warning on stderr)', policyWith('store: { type: local, path: x }\n        ? [a, b]\n        : 1')],
];
for (const [name, kase] of FOUND) test(`found by fuzzing: ${name}`, () => checkCase(kase));
test('found by fuzzing: a 14800000w interval (accepted, then status and plan failed with an internal error once provisioned)', () =>
  checkRoundTrip(policyWith('store: { type: local, path: x }', '14800000w')));

// Found by fuzzing: Node timers hold at most 2^31-1 ms (24.8 days) and a longer one fires at once,
// so a `timeout: 4w` killed the command immediately. Timeouts are now at most 24h: a policy error.
test('found by fuzzing: a command generator with timeout: 4w (fired at once) is a policy error', async () => {
  const kase = policyWith('store: { type: local, path: x }');
  kase.files['policies/a.yaml'] = kase.files['policies/a.yaml'].replace('{ type: random, bytes: 32 }', '{ type: command, run: [sh, -c, "echo fuzz-value-1234"], timeout: 4w }');
  const { dir, args } = materialise(kase);
  const result = await runInProcess([...args, 'validate'], { cwd: dir, env });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /generator\.timeout: must be at most 24h/);
});

function policyWith(environment, interval = '90d') {
  const text = `secrets:\n  - name: a\n    interval: ${interval}\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 32 }\n    environments:\n      - name: dev\n        ${environment}\n`;
  return { files: { 'policies/a.yaml': text } };
}

test('in-process results match the real CLI (bin/keyshift.js) on a sample of 30 cases', async (t) => {
  const started = performance.now();
  const mixed = fc.oneof(validCases, structurallyMutated, textuallyMutated, directoryCase);
  const sample = fc.sample(mixed, { seed: seed + 5, numRuns: 30 });
  const mask = (text) => text.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, '<time>');
  await inBatches(sample, 2, async (kase) => {
    const { dir, args } = materialise(kase);
    for (const command of [['validate'], ['plan', '--json']]) {
      const inProcess = await runInProcess([...args, ...command], { cwd: dir, env });
      const spawned = await runSpawned([...args, ...command], { cwd: dir, env });
      const label = `${command.join(' ')} in ${dir}`;
      assert.equal(spawned.code, inProcess.code, `${label}: exit code\n${spawned.stderr}`);
      // How deep a YAML parse gets before the stack runs out differs between the bundled CLI and
      // dist/: both must fail cleanly, but not necessarily at the same place.
      if (STACK_EXHAUSTED.test(spawned.stderr + inProcess.stderr)) continue;
      assert.equal(mask(spawned.stdout), mask(inProcess.stdout), `${label}: stdout`);
      assert.equal(spawned.stderr, inProcess.stderr, `${label}: stderr`);
    }
  });
  t.diagnostic(`30 cases, 60 spawned runs in ${elapsed(started)}`);
});

test(`valid policies with extreme durations survive rotate, status and plan: ${share(0.02)} cases`, async (t) => {
  const started = performance.now();
  outcomes = {};
  await checkProperty(fc.asyncProperty(extremeDurationPolicy, checkRoundTrip), fcParams(seed, 6, share(0.02)));
  t.diagnostic(`${share(0.02)} cases in ${elapsed(started)} (${describeOutcomes()})`);
});

/** Writes a case into a fresh directory; returns it and the global options that point at it. */
function materialise(kase) {
  const dir = tempDir('keyshift-fuzz-policy-');
  for (const sub of kase.dirs ?? []) mkdirSync(join(dir, sub), { recursive: true });
  for (const [path, content] of Object.entries(kase.files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  for (const [path, target] of kase.symlinks ?? []) symlinkSync(target, join(dir, path));
  return { dir, args: kase.policiesArg ? ['-p', kase.policiesArg] : [] };
}

async function checkCase(kase) {
  const { dir, args } = materialise(kase);
  const before = [snapshotTree(dir), snapshotTree(home)];
  // Both only read, so they run side by side (the in-process CLI keeps no state between runs).
  const [validate, plan] = await Promise.all([runInProcess([...args, 'validate'], { cwd: dir, env }), runInProcess([...args, 'plan', '--json'], { cwd: dir, env })]);
  await new Promise((resolve) => setImmediate(resolve));
  const warnings = processWarnings.splice(0);
  const changes = [...snapshotDiff(before[0], snapshotTree(dir)), ...snapshotDiff(before[1], snapshotTree(home)).map((c) => `HOME: ${c}`)];
  const context = `in ${dir}\nvalidate exit ${validate.code}\n${validate.stdout}${validate.stderr}plan exit ${plan.code}\n${plan.stderr}`;

  assert.deepEqual(changes, [], `files changed ${context}`);
  assert.deepEqual(warnings, [], `process warnings on stderr ${context}`);
  for (const [name, result] of [['validate', validate], ['plan', plan]]) {
    assert.deepEqual(outputProblems(result), [], `${name} ${context}`);
    // A valid path the file system refuses (a 5,000-character name) is ERR_STORE_READ, exit 1 as
    // documented in docs/local-store.md, and only `plan` reads a store.
    if (name === 'plan' && result.code === 1 && validate.code === 0) {
      assert.equal(JSON.parse(result.stdout).error.code, 'ERR_STORE_READ', context);
      assert.match(result.stderr, /^keyshift: cannot read store [^\n]+: E[A-Z]+\n {2}hint: [^\n]+\n$/, context);
      continue;
    }
    assert.ok([0, 2].includes(result.code), `${name} exited ${result.code} ${context}`);
  }
  const known = knownFiles(kase, dir);
  if (validate.code === 2) {
    assert.equal(validate.stdout, '', `validate printed on stdout ${context}`);
    const lines = problemLines(validate.stderr, known, context);
    assert.ok(lines.some((line) => !line.warning), `exit 2 without an error line ${context}`);
    assert.equal(plan.code, 2, `validate failed but plan did not ${context}`);
    // Where a parse runs out of stack depends on the stack already in use: compare without positions.
    const same = (text) => (STACK_EXHAUSTED.test(text) ? text.replace(/:\d+:\d+: /g, ':_:_: ') : text);
    assert.equal(same(plan.stderr), same(validate.stderr), `plan and validate report different problems ${context}`);
    const errors = lines.filter((line) => !line.warning).map((line) => line.text);
    const planErrors = problemLines(plan.stderr, known, context).filter((line) => !line.warning).map((line) => line.text);
    assert.deepEqual(JSON.parse(plan.stdout).errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message}`), planErrors, `plan --json errors ${context}`);
    assert.equal(planErrors.length, errors.length, context);
    assert.equal(kase.expect, undefined, `a valid policy was rejected ${context}`);
    count('rejected (exit 2)');
    return;
  }
  const summary = /^(\d+) secret\(s\) in (\d+) file\(s\): valid\n$/.exec(validate.stdout);
  assert.ok(summary, `validate stdout ${context}`);
  assert.ok(problemLines(validate.stderr, known, context).every((line) => line.warning), `validate exit 0 with errors ${context}`);
  if (kase.expect) assert.deepEqual([Number(summary[1]), Number(summary[2])], [kase.expect.secrets, kase.expect.files], context);
  count(`valid, plan exit ${plan.code}`);
  if (plan.code === 1) return;
  if (plan.code === 2) {
    // Valid policies fail to plan only when an AWS store has no credentials here (never a network call).
    assert.ok(kase.aws, `plan failed on valid local policies ${context}`);
    assert.match(JSON.parse(plan.stdout).error.code, /^ERR_AWS_(CREDENTIALS|REGION)$/, context);
    const withoutWarnings = plan.stderr.replace(/^[^\n]+:\d+:\d+: warning: [^\n]*\n/gm, '');
    assert.match(withoutWarnings, /^keyshift: [^\n]+\n {2}hint: [^\n]+\n$/, context);
    return;
  }
  const actions = JSON.parse(plan.stdout).actions;
  assert.ok(actions.every((a) => a.action === 'provision'), `plan in an empty directory must only provision ${context}`);
  if (kase.tree) {
    const expected = kase.tree.secrets.flatMap((s) => s.environments.map((e) => `${s.name}/${e.name}`));
    assert.deepEqual(actions.map((a) => `${a.secret}/${a.environment}`).sort(), expected.sort(), context);
  }
}

/** The files a problem line may name (as displayed: relative to the directory keyshift runs in). */
function knownFiles(kase, dir) {
  const files = new Map(Object.entries({ ...kase.files, ...kase.linked }).map(([path, content]) => [path, Buffer.from(content).toString('utf8')]));
  const targets = new Set([kase.policiesArg?.replace(/\/$/, '') ?? 'policies']);
  return { files, targets, dir };
}

/** Every stderr line as `file:line:col: message` with a position inside that file. */
function problemLines(stderr, known, context) {
  if (stderr === '') return [];
  assert.ok(stderr.endsWith('\n'), `stderr does not end with a newline ${context}`);
  return stderr.slice(0, -1).split('\n').map((text) => {
    // Lines end at \n only: a quoted value may hold U+2028 (JSON quoting keeps it), never \r.
    const match = /^([^\n]+?):(\d+):(\d+): ([^\n\r]+)$/.exec(text);
    assert.ok(match, `not "file:line:col: message": ${JSON.stringify(text)} ${context}`);
    const [, file, line, col] = match;
    assert.ok(Number(col) >= 1 && Number(line) >= 1, `position ${line}:${col} ${context}`);
    if (known.targets.has(file)) {
      assert.deepEqual([line, col], ['1', '1'], `a run-level problem points at 1:1 ${context}`);
    } else {
      const source = known.files.get(file);
      assert.ok(source !== undefined, `names a file that is not a policy file: ${file} ${context}`);
      const lines = source.split('\n');
      assert.ok(Number(line) <= lines.length, `line ${line} is past the end of ${file} (${lines.length} lines) ${context}`);
    }
    return { text, warning: match[4].startsWith('warning: ') };
  });
}

async function checkRoundTrip(kase) {
  const { dir, args } = materialise(kase);
  const run = (command) => runInProcess([...args, ...command], { cwd: dir, env });
  const before = snapshotTree(dir);
  const first = await run(['rotate', '--all', '--json']);
  const context = `in ${dir}\n${first.stdout}${first.stderr}`;
  assert.deepEqual(outputProblems(first), [], context);
  if (first.code === 2) {
    // Rejected as a policy error: one line per problem, and nothing was written.
    problemLines(first.stderr, knownFiles(kase, dir), context);
    assert.deepEqual(snapshotDiff(before, snapshotTree(dir)), [], `a rejected policy wrote files ${context}`);
    count('rejected (a duration over 100 years)');
    return;
  }
  assert.equal(first.code, 0, context);
  for (const command of [['status', '--json'], ['plan', '--json', '--horizon', '1w'], ['rotate', '--all', '--force', '--reason', 'fuzz', '--json'], ['status', '--json'], ['plan', '--json']]) {
    const result = await run(command);
    assert.deepEqual(outputProblems(result), [], `${command.join(' ')} ${context}\n${result.stderr}`);
    assert.equal(result.code, 0, `${command.join(' ')} ${context}\n${result.stderr}`);
    JSON.parse(result.stdout);
  }
  count('rotated, status and plan ok');
}
