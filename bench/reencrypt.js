#!/usr/bin/env node
// `node bench/reencrypt.js [--rows 1000000] [--reader-ms 5000] [--max-rows-per-second n] [--threads n] [--write]`:
// `keyshift reencrypt` on SQLite (WAL mode, one 64-byte field per row, the default canary and
// stages, observe 0s, the default rate): rows/s, peak RSS, the ratio to a bare loop doing only the
// AES-256-GCM work on the same rows, and the p99 of a concurrent point-select reader during the run
// against its p99 idle just before. Targets (issue 16): ≥ 100,000 rows/s, ≤ 200 MB, p99 ≤ 1.15×.
// A failed run (keyshift exits non-zero, prints no report, or leaves rows) exits 2 and records
// nothing; a missed target on a quiet machine exits 1 (bench/README.md).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { argValue, benchProject, loadNow, loadRows, report, timedRun } from './reencrypt-common.js';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
const rows = Number(argValue('rows', 1_000_000));
const loadAtStart = loadNow();
const project = benchProject('{ type: sqlite, path: data/bench.db }', 'items', 'reencrypt');
try {
  project.cli(['rotate', 'bench-key']);
  const from = project.key('current');
  project.cli(['rotate', 'bench-key', '--force', '--reason', 'bench']);
  const to = project.key('current');
  const dbPath = join(project.dir, 'data', 'bench.db');
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, data TEXT)');
  const insert = db.prepare('INSERT INTO items (id, data) VALUES (?, ?)');
  const insertAll = db.transaction((ids, fields) => ids.forEach((id, i) => insert.run(id, fields[i])));
  console.error(`loading ${rows} rows…`);
  const bare = await loadRows(rows, from, to, (ids, fields) => insertAll(ids, fields));
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  const readerSpec = {
    setup: `const db = new (require(${JSON.stringify(require.resolve('better-sqlite3'))}))(${JSON.stringify(dbPath)}, { readonly: true });
      db.pragma('busy_timeout = 10000');
      const q = db.prepare('SELECT data FROM items WHERE id = ?');`,
    query: 'return q.get(id);',
  };
  console.error('running keyshift reencrypt…');
  const result = await timedRun(project, readerSpec, rows);
  const left = new Database(dbPath, { readonly: true }).prepare('SELECT count(*) FROM items WHERE data NOT LIKE ?').pluck().get(`ks1:${to.versionId}:%`);
  if (left !== 0) throw new Error(`${left} rows are not under the new version after the run`);
  report(process.argv.includes('--threads') ? 'reencrypt-threads' : 'reencrypt', 'reencrypt on SQLite', rows, bare, result, 100_000, loadAtStart);
} catch (error) {
  console.error(`bench/reencrypt.js: the run failed, nothing recorded: ${error.message}`);
  process.exitCode = 2;
} finally {
  project.remove();
}
