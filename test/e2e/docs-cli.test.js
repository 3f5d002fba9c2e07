// docs/cli.md runs as written: every example command in its `sh` blocks is run, in order, in one
// temporary project holding the example policies (local store only), and its documented exit code
// and JSON keys are asserted. Every example of `--help` must be among them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, runCli, tempProject, assertNoStackTrace } from '../helpers/cli.js';
import { allExamples } from '../../dist/cli/help-examples.js';

const page = readFileSync(join(root, 'docs', 'cli.md'), 'utf8');

/** `# exit N[, json: a, b[].c]` sets the expectation for the command lines after it. */
export function examplesOf(markdown) {
  const examples = [];
  for (const [, block] of markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    let expected = null;
    for (const line of block.split('\n').filter(Boolean)) {
      const comment = /^# exit (\d+)(?:, json: ([^:]+?))?(?::.*)?$/.exec(line);
      if (comment) expected = { exit: Number(comment[1]), keys: comment[2] ? comment[2].split(',').map((k) => k.trim()) : [] };
      else if (line.startsWith('#')) continue;
      else {
        assert.match(line, /^keyshift( |$)/, `a command line in docs/cli.md that is not keyshift: ${line}`);
        assert.ok(expected, `no "# exit N" comment before: ${line}`);
        examples.push({ line, ...expected });
      }
    }
  }
  return examples;
}

test('every example of docs/cli.md exits and prints as documented', () => {
  const dir = tempProject('keyshift-docs-');
  cpSync(join(root, 'policies'), join(dir, 'policies'), { recursive: true, filter: (src) => !src.includes(`${join('policies', 'aws')}`) });
  const examples = examplesOf(page);
  assert.ok(examples.length >= 30, `only ${examples.length} examples found`);
  for (const { line, exit, keys } of examples) {
    const { args, redirect } = words(line.slice('keyshift'.length));
    const result = runCli(args, { cwd: dir });
    const shown = `\n$ ${line}\nexit ${result.code}\n${result.stdout.slice(0, 2000)}\n${result.stderr.slice(0, 2000)}`;
    assert.equal(result.code, exit, shown);
    assertNoStackTrace(assert, result.stderr);
    if (redirect) writeFileSync(join(dir, redirect), result.stdout);
    if (keys.length === 0) continue;
    const document = JSON.parse(result.stdout);
    for (const key of keys) assert.ok(hasPath(document, key.split('.')), `${key} missing${shown}`);
  }
});

test('every --help example is one of the examples docs/cli.md runs', () => {
  const documented = new Set(examplesOf(page).map((e) => e.line));
  const missing = allExamples().filter((line) => !documented.has(line));
  assert.deepEqual(missing, []);
});

/** `b[]` means every element of the array b (at least one). */
function hasPath(value, [head, ...rest]) {
  if (head === undefined) return true;
  if (head.endsWith('[]')) {
    const list = value?.[head.slice(0, -2)];
    return Array.isArray(list) && list.length > 0 && list.every((item) => hasPath(item, rest));
  }
  return value !== null && typeof value === 'object' && head in value && hasPath(value[head], rest);
}

/** Shell words with "double" and 'single' quotes, and one trailing `> file`. */
function words(text) {
  const args = [];
  let redirect = null;
  const pattern = /"([^"]*)"|'([^']*)'|(>)|(\S+)/g;
  let match;
  while ((match = pattern.exec(text))) {
    if (match[3]) {
      redirect = pattern.exec(text)?.[4] ?? null;
      break;
    }
    args.push(match[1] ?? match[2] ?? match[4]);
  }
  return { args, redirect };
}
