#!/usr/bin/env node
// keyshift benchmark of the PostgreSQL reencrypt driver: N rows (one 64-byte field each, in ks1
// under version v1) re-encrypted to v2 through the driver's readBatch + applyChanges, the AES-256-GCM
// work done here (open under v1, seal under v2), against a bare loop doing only that AES-256-GCM
// work on the same number of rows. Targets (issue 16): ≥ 20,000 rows/s, peak RSS ≤ 200 MB.
// The timed run is a child process, so its peak RSS is the re-encryption's alone.
//
// Usage: node bench/reencrypt-postgres.js [--rows 1000000] [--batch 1000] [--url postgres://…]
// The server: --url, else KEYSHIFT_TEST_PG_URL, else the cluster .ci/postgres starts (as root).
import { execFileSync, spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const argValue = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const rows = Number(argValue('--rows', 1_000_000));
const batch = Number(argValue('--batch', 1000));
const KEYS = { v1: Buffer.alloc(32, 1), v2: Buffer.alloc(32, 2) }; // fixed bench keys, not secrets

if (argValue('--child') !== undefined) {
  await child(argValue('--child'), argValue('--schema'));
} else {
  await parent();
}

async function parent() {
  const url = argValue('--url') ?? (process.env.KEYSHIFT_TEST_PG_URL || execFileSync('bash', [`${root}.ci/postgres`], { encoding: 'utf8' }).trim());
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const schema = `ks_bench_${randomBytes(4).toString('hex')}`;
  try {
    await admin.query(`create schema ${schema}`);
    await admin.query(`create table ${schema}.items (id bigint primary key, secret text)`);
    console.error(`loading ${rows} rows…`);
    const plain = Buffer.alloc(64, 7);
    for (let start = 1; start <= rows; start += 10_000) {
      const ids = [];
      const secrets = [];
      for (let id = start; id < Math.min(start + 10_000, rows + 1); id++) {
        ids.push(id);
        secrets.push(seal('v1', plain));
      }
      await admin.query(`insert into ${schema}.items select * from unnest($1::bigint[], $2::text[])`, [ids, secrets]);
    }
    await admin.query(`vacuum analyze ${schema}.items`);
    const bare = bareLoop(rows);
    console.error(`bare AES-256-GCM loop: ${Math.round(bare)} rows/s`);
    const run = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', url, '--schema', schema, '--rows', String(rows), '--batch', String(batch)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (run.status !== 0) throw new Error(`the timed run exited ${run.status}`);
    const result = JSON.parse(run.stdout);
    const { rows: left } = await admin.query(`select count(*)::int as n from ${schema}.items where secret not like 'ks1:v2:%'`);
    if (result.rows !== rows || left[0].n !== 0) throw new Error(`re-encrypted ${result.rows} of ${rows} rows; ${left[0].n} not under v2`);
    const perSecond = (rows / result.ms) * 1000;
    console.log(
      [
        `## reencrypt on PostgreSQL: ${rows} rows, one 64-byte field, batches of ${batch} (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} cores, load ${loadavg()[0].toFixed(2)})`,
        '',
        '| rows | seconds | rows/s | bare AES-GCM rows/s | ratio to bare | peak RSS (MB) |',
        '|---|---|---|---|---|---|',
        `| ${rows} | ${(result.ms / 1000).toFixed(1)} | ${Math.round(perSecond)} | ${Math.round(bare)} | ${(perSecond / bare).toFixed(3)} | ${(result.maxRssKiB / 1024).toFixed(0)} |`,
      ].join('\n'),
    );
  } finally {
    await admin.query(`drop schema if exists ${schema} cascade`).catch(() => {});
    await admin.end();
  }
}

/** The timed part: the driver walks the table in keyset batches and writes each batch back. */
async function child(url, schema) {
  const { openDatabase } = await import('../dist/reencrypt/databases/index.js');
  const db = await openDatabase({ type: 'postgres', url });
  const table = { table: `${schema}.items`, key: 'id', columns: ['secret'] };
  let done = 0;
  const start = process.hrtime.bigint();
  for (let after = null; ; ) {
    const got = await db.readBatch(table, after, batch);
    if (got.length === 0) break;
    const changes = got.map((row) => ({ key: row.key, before: row.values, after: { secret: seal('v2', open(row.values.secret)) } }));
    const { applied, conflicts } = await db.applyChanges(table, changes);
    if (conflicts.length > 0) throw new Error(`${conflicts.length} conflicts with no concurrent writer`);
    done += applied;
    after = got.at(-1).key;
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  await db.close();
  process.stdout.write(JSON.stringify({ rows: done, ms, maxRssKiB: process.resourceUsage().maxRSS }));
}

/** Rows/s of the AES-256-GCM work alone: open a v1 field, seal it under v2, in batches. */
function bareLoop(count) {
  const fields = Array.from({ length: batch }, () => seal('v1', Buffer.alloc(64, 7)));
  const start = process.hrtime.bigint();
  for (let done = 0; done < count; done += batch) {
    const out = fields.map((field) => seal('v2', open(field)));
    if (out.length !== batch) throw new Error('lost a row');
  }
  return (count / Number(process.hrtime.bigint() - start)) * 1e9;
}

// ks1:<version>:<base64 of nonce(12) ‖ ciphertext ‖ tag(16)> (DESIGN.md, v2 contract).
function seal(version, plaintext) {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', KEYS[version], nonce);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return `ks1:${version}:${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64')}`;
}

function open(field) {
  const [, version, data] = field.split(':');
  const bytes = Buffer.from(data, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', KEYS[version], bytes.subarray(0, 12));
  decipher.setAuthTag(bytes.subarray(bytes.length - 16));
  return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]);
}
