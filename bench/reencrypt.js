#!/usr/bin/env node
// `node bench/reencrypt.js [--rows 1000000]`: keyshift reencrypt on SQLite (one 64-byte field per
// row, observe 0s, the default canary and stages): rows/s, peak RSS, the ratio to a bare loop doing
// only the AES-256-GCM work on the same rows, and the p99 of a concurrent point-select reader
// throughout the run against its p99 when idle. Targets (issue 16): ≥ 100,000 rows/s, ≤ 200 MB,
// p99 ≤ 1.15× idle. Prints JSON; records nothing (run it on an idle machine before comparing).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
const { keyring, seal, open } = await import(join(root, 'dist', 'public', 'envelope.js'));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROWS = arg('rows', 1_000_000);
const READER_MS = arg('reader-ms', 3000);
const bin = join(root, 'bin', 'keyshift.js');
const dir = mkdtempSync(join(tmpdir(), 'keyshift-bench-reencrypt-'));
const env = { PATH: process.env.PATH, HOME: dir, KEYSHIFT_OPERATOR: 'bench' };
const cli = (args) => {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`keyshift ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
};

mkdirSync(join(dir, 'policies'));
mkdirSync(join(dir, 'data'));
writeFileSync(join(dir, 'policies', 'bench.yaml'), `secrets:
  - name: bench-key
    interval: 90d
    fallbackWindow: 1h
    generator: { type: random, bytes: 32 }
    environments:
      - name: prod
        store: { type: local, path: .keyshift/prod.store }
    reencrypt:
      database: { type: sqlite, path: data/bench.db }
      tables: [{ table: items, key: id, columns: [data] }]
      observe: 0s
`);
cli(['rotate', 'bench-key']);
const key = (stage) => {
  const got = JSON.parse(cli(['get', 'bench-key', '--stage', stage, '--json']));
  return { versionId: got.versionId, key: { value: got.value } };
};
const oldRing = keyring(key('current'));
const dbPath = join(dir, 'data', 'bench.db');
const db = new Database(dbPath);
db.pragma('journal_mode = WAL');
db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, data TEXT)');
const insert = db.prepare('INSERT INTO items (id, data) VALUES (?, ?)');
const plaintext = randomBytes(64);
db.transaction(() => {
  for (let id = 1; id <= ROWS; id++) insert.run(id, seal(plaintext, oldRing));
})();
cli(['rotate', 'bench-key', '--force', '--reason', 'bench']);
const ring = keyring(key('current'), key('previous'));

// The bare loop: only the AES-256-GCM work (open under the old key, seal under the new) on the same rows.
const select = db.prepare('SELECT data FROM items WHERE id > ? ORDER BY id LIMIT 10000').pluck();
let bareMs = 0;
for (let after = 0; after < ROWS; after += 10_000) {
  const fields = select.all(after);
  const started = performance.now();
  for (const field of fields) seal(open(field, ring), ring);
  bareMs += performance.now() - started;
}
db.close();

const idle = await reader();
const stopFile = join(dir, 'reader-stop');
const during = reader(stopFile);
const rssFile = join(dir, 'rss');
const started = performance.now();
const run = spawnSync(process.execPath, ['--import', join(root, 'bench', 'rss-probe.js'), bin, 'reencrypt', 'bench-key', '--json'], { cwd: dir, env: { ...env, KEYSHIFT_BENCH_RSS_FILE: rssFile }, encoding: 'utf8', maxBuffer: 1 << 26 });
const wallMs = performance.now() - started;
writeFileSync(stopFile, '');
const busy = await during;
if (run.status !== 0) {
  console.error(`keyshift reencrypt exited ${run.status}: ${run.stderr}`);
  process.exit(2);
}
const report = JSON.parse(run.stdout);
const moved = report.stages.reduce((n, s) => n + s.rows, 0);
const rowsPerSecond = Math.round(moved / (wallMs / 1000));
const bareRowsPerSecond = Math.round(ROWS / (bareMs / 1000));
console.log(JSON.stringify({
  rows: ROWS,
  moved,
  loadAverage: loadavg()[0],
  wallSeconds: Math.round(wallMs) / 1000,
  rowsPerSecond,
  bareAesRowsPerSecond: bareRowsPerSecond,
  ratioToBare: Math.round((rowsPerSecond / bareRowsPerSecond) * 1000) / 1000,
  peakRssMb: Math.round(Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)) / 1024),
  readerP99IdleMs: idle.p99,
  readerP99DuringMs: busy.p99,
  readerP99Ratio: Math.round((busy.p99 / idle.p99) * 100) / 100,
  readerQueries: { idle: idle.count, during: busy.count },
}, null, 2));

/** A separate process doing about 1,000 point selects a second for READER_MS, or until `stopFile` exists (the whole run): p99 in ms. */
function reader(stopFile = null) {
  const script = `
    const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
    const db = new Database(${JSON.stringify(dbPath)}, { readonly: true });
    db.pragma('busy_timeout = 10000');
    const q = db.prepare('SELECT data FROM items WHERE id = ?');
    const times = [];
    const pause = new Int32Array(new SharedArrayBuffer(4));
    const stop = ${JSON.stringify(stopFile)};
    const end = stop ? Infinity : Date.now() + ${READER_MS};
    for (let n = 0; Date.now() < end && !(stop && n % 1000 === 0 && require('node:fs').existsSync(stop)); n++) {
      const t = process.hrtime.bigint();
      q.get(1 + Math.floor(Math.random() * ${ROWS}));
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
      Atomics.wait(pause, 0, 0, 1); // about 1,000 queries a second: an application's reader, not a spin loop taking a core
    }
    times.sort((a, b) => a - b);
    process.stdout.write(JSON.stringify({ p99: times[Math.floor(times.length * 0.99)], count: times.length }));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`reader exited ${code}`))));
  });
}
