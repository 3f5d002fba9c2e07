#!/usr/bin/env node
// Runs every test file under test/ with Node's built-in runner. Node 20 does not expand globs
// itself, so we list the files here. KEYSHIFT_TEST_FILTER=substring narrows the run.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const filter = process.env.KEYSHIFT_TEST_FILTER ?? '';

function collect(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return collect(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}

const files = collect(join(root, 'test'))
  .map((file) => relative(root, file))
  .filter((file) => file.includes(filter))
  .sort();
if (files.length === 0) {
  console.error(`no test files match "${filter}"`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
