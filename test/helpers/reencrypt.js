// A project with a secret whose key encrypts two SQLite tables (ks1 fields), for the reencrypt tests.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { baseEnv, buildRoot, json, runCli, tempProject, writeFiles } from './cli.js';

const require = createRequire(import.meta.url);
export const Database = require('better-sqlite3');

/**
 * CI also runs the suites on Node 24 with node_modules built by Node 20: the native addon of
 * better-sqlite3 is then for another ABI (NODE_MODULE_VERSION) and cannot load. Only that case
 * skips the tests that need it; any other failure to load the driver fails them.
 */
export const driverSkip = (() => {
  try {
    new Database(':memory:').close();
    return false;
  } catch (error) {
    if (/NODE_MODULE_VERSION/.test(String(error?.message))) return `better-sqlite3 was built for another Node.js (this is ${process.version})`;
    throw error;
  }
})();
const envelope = await import(join(buildRoot, 'dist', 'public', 'envelope.js'));
export const { keyring, seal, open, openText, versionOf } = envelope;

export const SECRET = 'data-key';

export function policyText({ observe = '1s', fallbackWindow = '1s', batchSize = 500, aad = false } = {}) {
  return `secrets:
  - name: ${SECRET}
    interval: 90d
    fallbackWindow: ${fallbackWindow}
    generator: { type: random, bytes: 32 }
    environments:
      - name: prod
        store: { type: local, path: .keyshift/prod.store }
    reencrypt:
      database: { type: sqlite, path: data/app.db }
      tables:
        - { table: users, key: id, columns: [email, ssn] }
        - { table: orders, key: order_id, columns: [card] }
      batchSize: ${batchSize}
      observe: ${observe}
${aad ? '      aad: row\n' : ''}`;
}

/** The key of a stage (`current`, `previous`) as the envelope's keyring takes it. */
export function keyOf(dir, stage = 'current') {
  const got = json(runCli(['get', SECRET, '--stage', stage, '--json'], { cwd: dir, env: baseEnv() }));
  return { versionId: got.versionId, key: { value: got.value } };
}

export const plaintextOf = (table, column, id) => `${table}.${column}#${id}`;

/**
 * Provisions the key, fills users (half the rows, ssn NULL on every 7th) and orders under it, then
 * rotates so the new version is CURRENT and the old one PREVIOUS. Returns the two versions.
 */
export function setupProject(rows, options = {}) {
  const dir = tempProject('keyshift-reencrypt-');
  writeFiles(dir, { 'policies/data.yaml': policyText(options), 'data/.keep': '' });
  const first = runCli(['rotate', SECRET], { cwd: dir, env: baseEnv() });
  if (first.code !== 0) throw new Error(`provision failed: ${first.stderr}`);
  const old = keyOf(dir);
  const ring = keyring(old);
  const db = new Database(join(dir, 'data', 'app.db'));
  db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, ssn TEXT, name TEXT); CREATE TABLE orders (order_id TEXT PRIMARY KEY, card TEXT)');
  const users = db.prepare('INSERT INTO users (id, email, ssn, name) VALUES (?, ?, ?, ?)');
  const orders = db.prepare('INSERT INTO orders (order_id, card) VALUES (?, ?)');
  const cell = (table, column, key) => (options.aad ? { table, column, key } : null);
  db.transaction(() => {
    for (let i = 1; i <= rows / 2; i++) {
      users.run(i, seal(plaintextOf('users', 'email', i), ring, cell('users', 'email', i)), i % 7 === 0 ? null : seal(plaintextOf('users', 'ssn', i), ring, cell('users', 'ssn', i)), `name ${i}`);
      const id = `o-${String(i).padStart(7, '0')}`;
      orders.run(id, seal(plaintextOf('orders', 'card', id), ring, cell('orders', 'card', id)));
    }
  })();
  db.close();
  const second = runCli(['rotate', SECRET, '--force', '--reason', 'test'], { cwd: dir, env: baseEnv() });
  if (second.code !== 0) throw new Error(`rotation failed: ${second.stderr}`);
  return { dir, old, fresh: keyOf(dir), previous: keyOf(dir, 'previous') };
}

/** Every encrypted field: { table, column, key, value }. */
export function allFields(dir) {
  const db = new Database(join(dir, 'data', 'app.db'), { readonly: true });
  try {
    const fields = [];
    for (const row of db.prepare('SELECT id, email, ssn FROM users ORDER BY id').all()) {
      fields.push({ table: 'users', column: 'email', key: row.id, value: row.email });
      if (row.ssn !== null) fields.push({ table: 'users', column: 'ssn', key: row.id, value: row.ssn });
    }
    for (const row of db.prepare('SELECT order_id, card FROM orders ORDER BY order_id').all()) fields.push({ table: 'orders', column: 'card', key: row.order_id, value: row.card });
    return fields;
  } finally {
    db.close();
  }
}

export function reencrypt(dir, args = [], env = baseEnv()) {
  return runCli(['reencrypt', SECRET, ...args], { cwd: dir, env });
}

/** Runs reencrypt until it completes, waiting out each observe gate (exit 3). */
export async function reencryptToTheEnd(dir, { maxRuns = 20 } = {}) {
  const runs = [];
  for (let i = 0; i < maxRuns; i++) {
    const result = reencrypt(dir, ['--json']);
    runs.push(result);
    if (result.code === 3) {
      await new Promise((r) => setTimeout(r, 1100));
      continue;
    }
    return runs;
  }
  throw new Error('reencrypt did not finish');
}
