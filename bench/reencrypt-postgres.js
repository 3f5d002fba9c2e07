#!/usr/bin/env node
// `node bench/reencrypt-postgres.js [--rows 1000000] [--reader-ms 5000] [--max-rows-per-second n] [--threads n] [--url postgres://…] [--write]`:
// `keyshift reencrypt` on PostgreSQL (one 64-byte field per row in a schema of its own, the default
// canary and stages, observe 0s, the default rate): rows/s, peak RSS, the ratio to a bare loop doing
// only the AES-256-GCM work on the same rows, and the p99 of a concurrent point-select reader (its own
// connection) during the run against its p99 idle just before. Targets (issue 16): ≥ 20,000 rows/s,
// ≤ 200 MB, p99 ≤ 1.15×. The server: --url, else KEYSHIFT_TEST_PG_URL, else the cluster .ci/postgres
// starts. A failed run exits 2 and records nothing; a missed target on a quiet machine exits 1.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { argValue, benchProject, loadNow, loadRows, report, timedRun } from './reencrypt-common.js';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));
const rows = Number(argValue('rows', 1_000_000));
const url = argValue('url') ?? (process.env.KEYSHIFT_TEST_PG_URL || execFileSync('bash', [`${root}.ci/postgres`], { encoding: 'utf8' }).trim());
const loadAtStart = loadNow();
const schema = `ks_bench_${randomBytes(4).toString('hex')}`;
const { default: pg } = await import('pg');
const admin = new pg.Client({ connectionString: url });
await admin.connect();
// The policy's URL holds no password (keyshift refuses one): PGPASSWORD carries it. The checkpoint
// table goes to the schema too (the connection's search_path), so nothing is left behind.
const parsed = new URL(url);
if (parsed.password) process.env.PGPASSWORD = decodeURIComponent(parsed.password);
parsed.password = '';
parsed.searchParams.set('options', `-c search_path=${schema}`);
const project = benchProject(`{ type: postgres, url: "${parsed.href}" }`, `${schema}.items`, 'reencrypt-pg');
try {
  project.cli(['rotate', 'bench-key']);
  const from = project.key('current');
  project.cli(['rotate', 'bench-key', '--force', '--reason', 'bench']);
  const to = project.key('current');
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.query(`CREATE TABLE ${schema}.items (id bigint PRIMARY KEY, data text)`);
  console.error(`loading ${rows} rows…`);
  const bare = await loadRows(rows, from, to, (ids, fields) => admin.query(`INSERT INTO ${schema}.items SELECT * FROM unnest($1::bigint[], $2::text[])`, [ids, fields]));
  await admin.query(`VACUUM ANALYZE ${schema}.items`);
  const readerSpec = {
    setup: `const client = new (require(${JSON.stringify(require.resolve('pg'))}).Client)({ connectionString: ${JSON.stringify(url)} });
      await client.connect();
      const q = { name: 'point', text: 'SELECT data FROM ${schema}.items WHERE id = $1', values: [0] };`,
    query: 'q.values[0] = id; return client.query(q);',
  };
  console.error('running keyshift reencrypt…');
  const result = await timedRun(project, readerSpec, rows);
  const { rows: left } = await admin.query(`SELECT count(*)::int AS n FROM ${schema}.items WHERE data NOT LIKE $1`, [`ks1:${to.versionId}:%`]);
  if (left[0].n !== 0) throw new Error(`${left[0].n} rows are not under the new version after the run`);
  report(process.argv.includes('--threads') ? 'reencrypt-postgres-threads' : 'reencrypt-postgres', 'reencrypt on PostgreSQL', rows, bare, result, 20_000, loadAtStart);
} catch (error) {
  console.error(`bench/reencrypt-postgres.js: the run failed, nothing recorded: ${error.message}`);
  process.exitCode = 2;
} finally {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
  await admin.end();
  project.remove();
}
