// The application's side of a reencrypt project's database, one per driver, so the end-to-end tests
// run the same cases on both: it creates and fills the tables, reads every encrypted field and
// writes behind keyshift's back. SQLite is data/app.db in the project; PostgreSQL a schema of its
// own on KEYSHIFT_TEST_PG_URL (dropped after the test), named in the policy's URL without the
// password, which the CLI gets from PGPASSWORD as a user would give it.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { passwordOf, postgresSchema, probePostgres, PG_URL } from './postgres.js';

const require = createRequire(import.meta.url);

export const DRIVERS = ['sqlite', 'postgres'];

/** Why a driver's tests skip here (false: they run). */
export const driverSkips = { sqlite: sqliteSkip(), postgres: await postgresSkip() };

/**
 * Opens the project's database for `driver`: `{ driver, policyDatabase, env, describes, fill,
 * rowsOf, setField, checkpoint, writerConfig, close }`; null if the test was skipped.
 */
export async function appDatabase(t, driver, dir) {
  return driver === 'sqlite' ? sqliteApp(t, dir) : postgresApp(t);
}

function sqliteApp(t, dir) {
  const Database = require('better-sqlite3');
  const path = join(dir, 'data', 'app.db');
  const db = new Database(path);
  t.after(() => db.open && db.close());
  return {
    driver: 'sqlite',
    policyDatabase: '{ type: sqlite, path: data/app.db }',
    env: {},
    describes: /sqlite:\S*app\.db/,
    async fill(users, orders) {
      db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, ssn TEXT, name TEXT); CREATE TABLE orders (order_id TEXT PRIMARY KEY, card TEXT)');
      const user = db.prepare('INSERT INTO users (id, email, ssn, name) VALUES (?, ?, ?, ?)');
      const order = db.prepare('INSERT INTO orders (order_id, card) VALUES (?, ?)');
      db.transaction(() => {
        for (const row of users) user.run(...row);
        for (const row of orders) order.run(...row);
      })();
    },
    async rowsOf(table) {
      return table === 'users' ? db.prepare('SELECT id, email, ssn FROM users ORDER BY id').all() : db.prepare('SELECT order_id, card FROM orders ORDER BY order_id').all();
    },
    async setField(table, column, key, value) {
      db.prepare(`UPDATE ${table} SET ${column} = ? WHERE ${table === 'users' ? 'id' : 'order_id'} = ?`).run(value, key);
    },
    async checkpoint() {
      const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'keyshift_reencrypt'").get();
      return exists ? (db.prepare("SELECT state FROM keyshift_reencrypt WHERE id = 'data-key/prod'").pluck().get() ?? null) : null;
    },
    writerConfig: { driver: 'sqlite', path },
    async close() {
      db.close();
    },
  };
}

async function postgresApp(t) {
  const pg = await postgresSchema(t);
  if (!pg) return null;
  const url = new URL(pg.url);
  url.password = '';
  return {
    driver: 'postgres',
    // Quoted: the URL's query (?options=-c search_path=…) holds characters YAML reads otherwise.
    policyDatabase: `{ type: postgres, url: ${JSON.stringify(url.toString())} }`,
    env: { PGPASSWORD: passwordOf(PG_URL) },
    describes: /postgres:\/\/127\.0\.0\.1:\d+\/\w+/,
    schema: pg.schema,
    async fill(users, orders) {
      await pg.sql('CREATE TABLE users (id integer PRIMARY KEY, email text, ssn text, name text); CREATE TABLE orders (order_id text PRIMARY KEY, card text)');
      for (let i = 0; i < users.length; i += 5000) {
        const chunk = users.slice(i, i + 5000);
        await pg.sql('INSERT INTO users SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[])', [0, 1, 2, 3].map((c) => chunk.map((row) => row[c])));
      }
      for (let i = 0; i < orders.length; i += 5000) {
        const chunk = orders.slice(i, i + 5000);
        await pg.sql('INSERT INTO orders SELECT * FROM unnest($1::text[], $2::text[])', [0, 1].map((c) => chunk.map((row) => row[c])));
      }
    },
    async rowsOf(table) {
      const { rows } = await pg.sql(table === 'users' ? 'SELECT id, email, ssn FROM users ORDER BY id' : 'SELECT order_id, card FROM orders ORDER BY order_id COLLATE "C"');
      return rows;
    },
    async setField(table, column, key, value) {
      await pg.sql(`UPDATE ${table} SET ${column} = $1 WHERE ${table === 'users' ? 'id' : 'order_id'} = $2`, [value, key]);
    },
    async checkpoint() {
      const { rows } = await pg.sql("SELECT state FROM keyshift_reencrypt WHERE to_regclass('keyshift_reencrypt') IS NOT NULL AND id = 'data-key/prod'").catch(() => ({ rows: [] }));
      return rows[0]?.state ?? null;
    },
    writerConfig: { driver: 'postgres', url: pg.url },
    sql: pg.sql,
    async close() {},
  };
}

function sqliteSkip() {
  try {
    new (require('better-sqlite3'))(':memory:').close();
    return false;
  } catch (error) {
    // CI's Node 24 leg runs with node_modules built by Node 20: only that case skips.
    if (/NODE_MODULE_VERSION/.test(String(error?.message))) return `better-sqlite3 was built for another Node.js (this is ${process.version})`;
    throw error;
  }
}

async function postgresSkip() {
  const probe = await probePostgres();
  return probe.ok ? false : probe.reason;
}
