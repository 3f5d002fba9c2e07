// The PostgreSQL driver (pg) is loaded by `reencrypt` alone: `keyshift --version` and `plan` never
// load it, and the bundle keeps it external (scripts/bundle.js), so no chunk carries pg's code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bin, baseEnv, buildRoot, tempProject, writeFiles } from '../helpers/cli.js';
import { loadedModules as probe } from '../helpers/module-probe.js';

const loadedModules = (dir, argv) => probe(dir, argv, baseEnv());

const pgModule = (url) => /node_modules\/pg(-[a-z-]+)?\/|reencrypt\/databases\/postgres/.test(url);

test('keyshift --version and plan never load pg or the PostgreSQL driver; opening a postgres database does', async () => {
  const dir = tempProject('keyshift-pg-lazy-');
  writeFiles(dir, { 'policies/p.yaml': 'secrets:\n  - name: a\n    interval: 30d\n    fallbackWindow: 1d\n    generator: { type: random, bytes: 16 }\n    environments:\n      - name: dev\n        store: { type: local, path: .keyshift/dev.store }\n' });
  for (const args of [['--version'], ['plan']]) {
    const { code, modules, stderr } = await loadedModules(dir, [bin, ...args]);
    assert.equal(code, 0, stderr);
    assert.ok(modules.length > 0, 'the probe saw the CLI load');
    assert.deepEqual(modules.filter(pgModule), [], `keyshift ${args.join(' ')} loaded pg`);
  }
  // The probe sees pg when it is loaded: openDatabase() on a server that is not there.
  writeFileSync(
    join(dir, 'open.mjs'),
    `import { openDatabase } from ${JSON.stringify(pathToFileURL(join(buildRoot, 'dist/reencrypt/databases/index.js')).href)};\n` +
      `await openDatabase({ type: 'postgres', url: 'postgres://x@127.0.0.1:1/none' }).catch((e) => console.error(e.code));\n`,
  );
  const opened = await loadedModules(dir, ['open.mjs']);
  assert.match(opened.stderr, /ERR_DATABASE_UNAVAILABLE/);
  assert.ok(opened.modules.some((url) => /node_modules\/pg\//.test(url)), 'opening a postgres database loads pg');
});

test('no bundle chunk carries pg: it stays in node_modules, imported when reencrypt runs', () => {
  const dir = join(buildRoot, 'dist', 'bundle');
  const chunks = readdirSync(dir).filter((name) => name.endsWith('.js'));
  assert.ok(chunks.length > 0);
  // A string of pg's own SCRAM code (node_modules/pg/lib/crypto/sasl.js).
  const carrying = chunks.filter((name) => readFileSync(join(dir, name), 'utf8').includes('client password must be a string'));
  assert.deepEqual(carrying, []);
});
