// One fixture per reencrypt database driver, for test/unit/reencrypt-databases.test.js: it opens
// the driver through openDatabase() as `reencrypt` does, and reaches the same database directly (as
// the application would) to create tables, read raw rows and write behind the driver's back.
import { existsSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresSchema } from './postgres.js';
import { root } from './cli.js';

const q = (name) => name.split('.').map((part) => `"${part}"`).join('.');

/** Postgres: a schema per test on KEYSHIFT_TEST_PG_URL; null (the test skipped) without a server. */
export async function postgresFixture(t, openDatabase) {
  const pg = await postgresSchema(t);
  if (!pg) return null;
  return {
    name: 'postgres',
    spec: { type: 'postgres', url: pg.url },
    schema: pg.schema,
    open: () => openDatabase({ type: 'postgres', url: pg.url }),
    async createTable(table, { key = 'id', keyType = 'int', columns, rows = [] }) {
      const type = keyType === 'int' ? 'bigint' : 'text';
      await pg.sql(`create table ${q(table)} (${q(key)} ${type} primary key, ${columns.map((c) => `${q(c)} text`).join(', ')}, other text default 'untouched')`);
      for (let i = 0; i < rows.length; i += 1000) {
        const chunk = rows.slice(i, i + 1000);
        const values = [chunk.map((r) => String(r.key)), ...columns.map((c) => chunk.map((r) => r.values[c] ?? null))];
        const casts = [`$1::${type}[]`, ...columns.map((_, j) => `$${j + 2}::text[]`)];
        await pg.sql(`insert into ${q(table)} (${[key, ...columns].map(q).join(', ')}) select * from unnest(${casts.join(', ')})`, values);
      }
    },
    async rows(table, { key = 'id', columns }) {
      const { rows } = await pg.sql(`select ${q(key)}::text as k, ${columns.map(q).join(', ')}, other from ${q(table)}`);
      return new Map(rows.map((r) => [r.k, { ...Object.fromEntries(columns.map((c) => [c, r[c]])), other: r.other }]));
    },
    async write(table, { key = 'id', column, at, value }) {
      await pg.sql(`update ${q(table)} set ${q(column)} = $1 where ${q(key)}::text = $2`, [value, String(at)]);
    },
    sql: pg.sql,
    client: pg.client,
  };
}

/** SQLite: when the driver is built (dist/reencrypt/databases/sqlite.js) and better-sqlite3 loads. */
export async function sqliteFixture(t, openDatabase) {
  const reason = sqliteMissing();
  if (reason) {
    console.log(`# skipped: ${reason}`);
    t.skip(reason);
    return null;
  }
  const Database = createRequire(import.meta.url)('better-sqlite3');
  const path = join(mkdtempSync(join(tmpdir(), 'keyshift-sqlite-')), 'app.db');
  const db = new Database(path);
  t.after(() => db.close());
  return {
    name: 'sqlite',
    spec: { type: 'sqlite', path },
    open: () => openDatabase({ type: 'sqlite', path }),
    async createTable(table, { key = 'id', keyType = 'int', columns, rows = [] }) {
      const type = keyType === 'int' ? 'integer' : 'text';
      db.exec(`create table ${q(table)} (${q(key)} ${type} primary key, ${columns.map((c) => `${q(c)} text`).join(', ')}, other text default 'untouched')`);
      const insert = db.prepare(`insert into ${q(table)} (${[key, ...columns].map(q).join(', ')}) values (${[key, ...columns].map(() => '?').join(', ')})`);
      db.transaction(() => rows.forEach((r) => insert.run(r.key, ...columns.map((c) => r.values[c] ?? null))))();
    },
    async rows(table, { key = 'id', columns }) {
      const rows = db.prepare(`select cast(${q(key)} as text) as k, ${columns.map(q).join(', ')}, other from ${q(table)}`).all();
      return new Map(rows.map((r) => [r.k, { ...Object.fromEntries(columns.map((c) => [c, r[c]])), other: r.other }]));
    },
    async write(table, { key = 'id', column, at, value }) {
      db.prepare(`update ${q(table)} set ${q(column)} = ? where cast(${q(key)} as text) = ?`).run(value, String(at));
    },
  };
}

/** Why the SQLite cases skip here (undefined: they run); worked out once, as a second load of a
 * native addon for another ABI fails with a different message. */
let sqliteMissingReason = null;
function sqliteMissing() {
  sqliteMissingReason ??= { reason: sqliteMissingNow() };
  return sqliteMissingReason.reason;
}

function sqliteMissingNow() {
  if (!existsSync(join(root, 'dist', 'reencrypt', 'databases', 'sqlite.js'))) {
    return 'the SQLite driver is not in this build (dist/reencrypt/databases/sqlite.js)';
  }
  let Database;
  try {
    Database = createRequire(import.meta.url)('better-sqlite3');
  } catch (error) {
    return `better-sqlite3 does not load (${error.code ?? error.message})`;
  }
  // CI runs the unit suites on Node 24 too, with node_modules built by Node 20: the native addon is
  // then for another ABI and cannot load. Only that case skips; any other failure fails the tests.
  try {
    new Database(':memory:').close();
  } catch (error) {
    if (/NODE_MODULE_VERSION/.test(String(error?.message))) return `better-sqlite3 was built for another Node.js (this is ${process.version})`;
    throw error;
  }
  return undefined;
}
