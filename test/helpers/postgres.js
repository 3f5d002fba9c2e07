// A real PostgreSQL server for tests: KEYSHIFT_TEST_PG_URL (exported by .ci/run, which starts one
// with .ci/postgres; run `export KEYSHIFT_TEST_PG_URL=$(bash .ci/postgres)` to get the same).
// Each test gets a schema of its own, dropped after it, and a URL whose search_path is that schema,
// so the driver's unqualified keyshift_reencrypt lands there too.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_URL = process.env.KEYSHIFT_TEST_PG_URL || '';

let reachable; // undefined until probed: { ok: true } or { ok: false, reason }

/**
 * Whether the server answers. Without a URL the tests skip and say so; in CI (CI=true) a URL that
 * does not answer fails them instead, because .ci/run promised a server.
 */
export async function probePostgres() {
  if (reachable && !reachable.ok && process.env.CI === 'true' && PG_URL) throw new Error(`${reachable.reason}: CI set the URL, so its server must be up`);
  if (reachable) return reachable;
  if (!PG_URL) {
    reachable = { ok: false, reason: 'KEYSHIFT_TEST_PG_URL is not set (export KEYSHIFT_TEST_PG_URL=$(bash .ci/postgres))' };
  } else {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      await client.query('select 1');
      reachable = { ok: true };
    } catch (error) {
      reachable = { ok: false, reason: `PostgreSQL at KEYSHIFT_TEST_PG_URL did not answer (${error.code ?? error.message})` };
      if (process.env.CI === 'true') throw new Error(`${reachable.reason}: CI set the URL, so its server must be up`);
    } finally {
      await client.end().catch(() => {});
    }
  }
  return reachable;
}

/**
 * Skips the test with the reason printed when no server answers; otherwise a fresh schema:
 * `{ url, schema, sql(text, values), client, drop() }` (drop runs after the test by itself).
 */
export async function postgresSchema(t) {
  const probe = await probePostgres();
  if (!probe.ok) {
    console.log(`# skipped: ${probe.reason}`);
    t.skip(probe.reason);
    return null;
  }
  const schema = `ks_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`create schema ${schema}`);
  await client.query(`set search_path = ${schema}`);
  const url = withSearchPath(PG_URL, schema);
  const drop = async () => {
    await client.query(`drop schema if exists ${schema} cascade`).catch(() => {});
    await client.end().catch(() => {});
  };
  t.after(drop);
  return { url, schema, client, sql: (text, values) => client.query(text, values), drop };
}

/** The URL with `options=-c search_path=<schema>` (a startup parameter pg passes to the server). */
export function withSearchPath(url, schema) {
  const parsed = new URL(url);
  parsed.searchParams.set('options', `-c search_path=${schema}`);
  return parsed.toString();
}

/** The URL's password (for asserting that nothing prints it). */
export function passwordOf(url) {
  return decodeURIComponent(new URL(url).password);
}
