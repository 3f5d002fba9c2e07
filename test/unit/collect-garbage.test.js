// collectGarbage (src/util/collect-garbage.ts): a full collection where V8 was started with
// --expose-gc (bin/keyshift.js does so for `rotate`), nothing and no error otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const module = pathToFileURL(join(import.meta.dirname, '../../dist/util/collect-garbage.js')).href;
// An object only a WeakRef holds: V8 keeps it until the job that made the WeakRef ends, then until
// a full collection.
const script = `
import { collectGarbage } from ${JSON.stringify(module)};
const ref = new WeakRef({ held: new Array(1000).fill('x') });
await new Promise((resolve) => setTimeout(resolve, 0));
collectGarbage();
collectGarbage();
process.stdout.write(ref.deref() === undefined ? 'collected' : 'kept');
`;

const run = (flags) => spawnSync(process.execPath, [...flags, '--input-type=module', '-e', script], { encoding: 'utf8' });

test('with --expose-gc it collects what nothing holds any more', () => {
  const result = run(['--expose-gc']);
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, 'collected');
});

test('without it, it does nothing and throws nothing', () => {
  const result = run([]);
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, 'kept');
});
