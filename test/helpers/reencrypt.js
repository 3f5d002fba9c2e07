// A project with a secret whose key encrypts two tables (ks1 fields), on SQLite or PostgreSQL
// (test/helpers/reencrypt-app-db.js), for the reencrypt tests.
import { join } from 'node:path';
import { baseEnv, buildRoot, json, runCli, tempProject, writeFiles } from './cli.js';
import { appDatabase } from './reencrypt-app-db.js';

export { DRIVERS, driverSkips } from './reencrypt-app-db.js';
const envelope = await import(join(buildRoot, 'dist', 'public', 'envelope.js'));
export const { keyring, seal, open, openText, versionOf } = envelope;

export const SECRET = 'data-key';

export function policyText({ observe = '1s', fallbackWindow = '1s', batchSize = 500, aad = false, database = '{ type: sqlite, path: data/app.db }' } = {}) {
  return `secrets:
  - name: ${SECRET}
    interval: 90d
    fallbackWindow: ${fallbackWindow}
    generator: { type: random, bytes: 32 }
    environments:
      - name: prod
        store: { type: local, path: .keyshift/prod.store }
    reencrypt:
      database: ${database}
      tables:
        - { table: users, key: id, columns: [email, ssn] }
        - { table: orders, key: order_id, columns: [card] }
      batchSize: ${batchSize}
      observe: ${observe}
${aad ? '      aad: row\n' : ''}`;
}

/** The key of a stage (`current`, `previous`) as the envelope's keyring takes it. */
export function keyOf(project, stage = 'current') {
  const got = json(project.cli(['get', SECRET, '--stage', stage, '--json']));
  return { versionId: got.versionId, key: { value: got.value } };
}

export const plaintextOf = (table, column, id) => `${table}.${column}#${id}`;

/**
 * A project on `driver` (`sqlite`, `postgres`): provisions the key, fills users (half the rows, ssn
 * NULL on every 7th) and orders under it, then rotates so the new version is CURRENT and the old
 * one PREVIOUS. Returns `{ dir, db, env, cli(args), old, fresh, previous }`, or null when the test
 * was skipped (no server).
 */
export async function setupProject(t, driver, rows, options = {}) {
  const dir = tempProject('keyshift-reencrypt-');
  writeFiles(dir, { 'data/.keep': '' });
  const db = await appDatabase(t, driver, dir);
  if (!db) return null;
  const env = baseEnv(db.env);
  const project = { dir, db, env, driver, cli: (args, extra = {}) => runCli(args, { cwd: dir, env: { ...env, ...extra } }) };
  writeFiles(dir, { 'policies/data.yaml': policyText({ ...options, database: db.policyDatabase }) });
  const first = project.cli(['rotate', SECRET]);
  if (first.code !== 0) throw new Error(`provision failed: ${first.stderr}`);
  const old = keyOf(project);
  const ring = keyring(old);
  const cell = (table, column, key) => (options.aad ? { table, column, key } : null);
  const users = [];
  const orders = [];
  for (let i = 1; i <= rows / 2; i++) {
    users.push([i, seal(plaintextOf('users', 'email', i), ring, cell('users', 'email', i)), i % 7 === 0 ? null : seal(plaintextOf('users', 'ssn', i), ring, cell('users', 'ssn', i)), `name ${i}`]);
    const id = `o-${String(i).padStart(7, '0')}`;
    orders.push([id, seal(plaintextOf('orders', 'card', id), ring, cell('orders', 'card', id))]);
  }
  await db.fill(users, orders);
  const second = project.cli(['rotate', SECRET, '--force', '--reason', 'test']);
  if (second.code !== 0) throw new Error(`rotation failed: ${second.stderr}`);
  return Object.assign(project, { old, fresh: keyOf(project), previous: keyOf(project, 'previous') });
}

/** The number of encrypted fields a project of `rows` rows holds. */
export const fieldCount = (rows) => rows + rows / 2 - Math.floor(rows / 2 / 7);

/** Every encrypted field: { table, column, key, value }. */
export async function allFields(project) {
  const fields = [];
  for (const row of await project.db.rowsOf('users')) {
    fields.push({ table: 'users', column: 'email', key: row.id, value: row.email });
    if (row.ssn !== null) fields.push({ table: 'users', column: 'ssn', key: row.id, value: row.ssn });
  }
  for (const row of await project.db.rowsOf('orders')) fields.push({ table: 'orders', column: 'card', key: row.order_id, value: row.card });
  return fields;
}

export function reencrypt(project, args = []) {
  return project.cli(['reencrypt', SECRET, ...args]);
}

/** Runs reencrypt until it completes, waiting out each observe gate (exit 3). */
export async function reencryptToTheEnd(project, { maxRuns = 20 } = {}) {
  const runs = [];
  for (let i = 0; i < maxRuns; i++) {
    const result = reencrypt(project, ['--json']);
    runs.push(result);
    if (result.code === 3) {
      await new Promise((r) => setTimeout(r, 1100));
      continue;
    }
    return runs;
  }
  throw new Error('reencrypt did not finish');
}
