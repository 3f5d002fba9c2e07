// What bench/reencrypt.js (SQLite) and bench/reencrypt-postgres.js share: a temporary project with
// a secret rotated once, rows sealed in ks1 under its first version, the bare AES-256-GCM loop the
// run is compared with, the concurrent point-select reader, the timed `keyshift reencrypt` run and
// the section it records in RESULTS.md.
import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes, randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { recordResults } from './results-file.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'keyshift.js');

export function argValue(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** A project in a temporary directory whose secret `bench-key` re-encrypts `table` (id, data) in `database` (policy YAML). */
export function benchProject(database, table, prefix) {
  const dir = mkdtempSync(join(tmpdir(), `keyshift-bench-${prefix}-`));
  const env = { PATH: process.env.PATH, HOME: dir, KEYSHIFT_OPERATOR: 'bench', ...(process.env.PGPASSWORD ? { PGPASSWORD: process.env.PGPASSWORD } : {}) };
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
      database: ${database}
      tables: [{ table: ${table}, key: id, columns: [data] }]
      observe: 0s
`);
  const cli = (args) => {
    const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`keyshift ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  const key = (stage) => {
    const got = JSON.parse(cli(['get', 'bench-key', '--stage', stage, '--json']));
    return { versionId: got.versionId, key: Buffer.from(got.value, 'base64') };
  };
  return { dir, env, cli, key, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** ks1:<version>:<base64 of nonce ‖ ciphertext ‖ tag> (docs/envelope.md), written here with node:crypto alone. */
export function sealField(version, plaintext) {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', version.key, nonce);
  const body = cipher.update(plaintext);
  cipher.final();
  return `ks1:${version.versionId}:${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64')}`;
}

/**
 * The floor: only the AES-256-GCM work of moving these fields from `from` to `to` (base64 decode,
 * decrypt and authenticate, encrypt, base64 encode), no database, no bookkeeping, done as cheaply as
 * node:crypto allows: nonces drawn from the CSPRNG 1,024 at a time (one randomBytes(12) per field
 * costs more than the encryption) and each output assembled in one buffer. Returns ms.
 */
export function bareAes(fields, from, to) {
  const prefix = `ks1:${to.versionId}:`;
  const skip = from.versionId.length + 5;
  const cpu = process.cpuUsage();
  const started = performance.now();
  let nonces = Buffer.alloc(0);
  let offset = 0;
  let out = 0;
  for (const field of fields) {
    const bytes = Buffer.from(field.slice(skip), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', from.key, bytes.subarray(0, 12));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    const plain = decipher.update(bytes.subarray(12, bytes.length - 16));
    decipher.final();
    if (offset + 12 > nonces.length) {
      nonces = randomFillSync(Buffer.allocUnsafe(12 * 1024));
      offset = 0;
    }
    const nonce = nonces.subarray(offset, (offset += 12));
    const cipher = createCipheriv('aes-256-gcm', to.key, nonce);
    const body = cipher.update(plain);
    cipher.final();
    const sealed = Buffer.allocUnsafe(12 + body.length + 16);
    nonce.copy(sealed, 0);
    body.copy(sealed, 12);
    cipher.getAuthTag().copy(sealed, 12 + body.length);
    out += (prefix + sealed.toString('base64')).length;
  }
  if (out === 0) throw new Error('the bare loop did nothing');
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000 };
}

/**
 * `rows` fields of 64 random bytes sealed under `from`, handed to `insert` 10,000 at a time; the
 * bare loop runs on each chunk as it goes (the same rows the run will move). Returns its wall and
 * CPU ms.
 */
export async function loadRows(rows, from, to, insert) {
  const bare = { ms: 0, cpuMs: 0 };
  for (let start = 1; start <= rows; start += 10_000) {
    const ids = [];
    const fields = [];
    for (let id = start; id < Math.min(start + 10_000, rows + 1); id++) {
      ids.push(id);
      fields.push(sealField(from, randomBytes(64)));
    }
    const chunk = bareAes(fields, from, to);
    bare.ms += chunk.ms;
    bare.cpuMs += chunk.cpuMs;
    await insert(ids, fields);
  }
  return bare;
}

/**
 * A separate process doing about 1,000 point selects a second, as an application's reader would:
 * for `ms`, or until `stopFile` exists. `query` is the body of an async function (id) → row, run
 * after `setup` in the child. Resolves to { p99, p50, count } in ms.
 */
export function reader({ setup, query, rows, ms = null, stopFile = null }) {
  const script = `
    const { existsSync } = require('node:fs');
    (async () => {
      ${setup}
      const times = [];
      const pause = new Int32Array(new SharedArrayBuffer(4));
      const stop = ${JSON.stringify(stopFile)};
      const end = ${ms === null ? 'Infinity' : `Date.now() + ${ms}`};
      for (let n = 0; Date.now() < end && !(stop && n % 100 === 0 && existsSync(stop)); n++) {
        const id = 1 + Math.floor(Math.random() * ${rows});
        const t = process.hrtime.bigint();
        await (async (id) => { ${query} })(id);
        times.push(Number(process.hrtime.bigint() - t) / 1e6);
        Atomics.wait(pause, 0, 0, 1); // about 1,000 queries a second, not a spin loop taking a core
      }
      times.sort((a, b) => a - b);
      const at = (q) => Math.round(times[Math.floor(times.length * q)] * 1000) / 1000;
      process.stdout.write(JSON.stringify({ p99: at(0.99), p50: at(0.5), count: times.length }));
      process.exit(0);
    })().catch((e) => { console.error(e); process.exit(1); });`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`the reader exited ${code}`))));
  });
}

/** The options the timed run passes on: `--max-rows-per-second` and `--threads`, when given. */
export function runOptions() {
  return ['max-rows-per-second', 'threads'].flatMap((name) => (process.argv.includes(`--${name}`) ? [`--${name}`, argValue(name)] : []));
}

/** How the run was paced, for the section's heading: the default rate, or the options given. */
export function pace() {
  const given = runOptions();
  return given.length === 0 ? 'default rate' : given.join(' ');
}

/**
 * The timed run: `keyshift reencrypt bench-key --json` with the reader going throughout, against
 * the reader's p99 measured idle just before. Returns the figures, or throws when the run failed.
 */
export async function timedRun(project, readerSpec, rows) {
  const idle = await reader({ ...readerSpec, rows, ms: Number(argValue('reader-ms', 5000)) });
  const stopFile = join(project.dir, 'reader-stop');
  const during = reader({ ...readerSpec, rows, stopFile });
  await new Promise((resolve) => setTimeout(resolve, 300)); // the reader connected and running
  const usageFile = join(project.dir, 'usage.json');
  const profile = process.env.KEYSHIFT_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.KEYSHIFT_BENCH_CPU_PROF}`] : [];
  const started = performance.now();
  const run = await new Promise((resolve) => {
    const child = spawn(process.execPath, [...profile, '--import', join(root, 'bench', 'usage-probe.js'), bin, 'reencrypt', 'bench-key', '--json', ...runOptions()], {
      cwd: project.dir,
      env: { ...project.env, KEYSHIFT_BENCH_USAGE_FILE: usageFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
  const wallMs = performance.now() - started;
  writeFileSync(stopFile, '');
  const busy = await during;
  if (run.status !== 0) throw new Error(`keyshift reencrypt exited ${run.status}: ${run.stderr.trim().split('\n').slice(-3).join(' ')}`);
  let report;
  try {
    report = JSON.parse(run.stdout);
  } catch {
    throw new Error('keyshift reencrypt printed no JSON report');
  }
  if (report.outcome !== 'done') throw new Error(`keyshift reencrypt ended "${report.outcome}", not done`);
  const moved = report.stages.reduce((n, s) => n + s.rows, 0);
  if (moved !== rows) throw new Error(`keyshift reencrypt moved ${moved} of ${rows} rows`);
  const usage = JSON.parse(readFileSync(usageFile, 'utf8'));
  return { moved, wallMs, cpuMs: usage.cpuMs, peakRssMb: usage.maxRssKiB / 1024, idle, busy };
}

/** Prints the figures (JSON) and the RESULTS.md section; records it with --write. Exits 1 when a target is missed. */
export function report(name, title, rows, bare, result, targetRowsPerSecond, loadAtStart) {
  const rowsPerSecond = result.moved / (result.wallMs / 1000);
  const bareRowsPerSecond = rows / (bare.ms / 1000);
  // CPU time per row, keyshift's process against the bare loop: what load distorts least (the
  // database server's own CPU is not in it).
  const cpuRatio = bare.cpuMs / result.cpuMs;
  const ratio = result.busy.p99 / result.idle.p99;
  const quiet = loadAtStart < cpus().length / 2;
  const checks = [
    [`≥ ${targetRowsPerSecond.toLocaleString('en')} rows/s`, rowsPerSecond >= targetRowsPerSecond],
    ['peak RSS ≤ 200 MB', result.peakRssMb <= 200],
    ['reader p99 ≤ 1.15× idle', ratio <= 1.15],
  ];
  const verdict = checks.map(([what, ok]) => `${what}: ${ok ? 'met' : 'MISSED'}`).join('; ');
  const figures = {
    rows,
    loadAtStart,
    wallSeconds: round(result.wallMs / 1000, 1),
    rowsPerSecond: Math.round(rowsPerSecond),
    bareAesRowsPerSecond: Math.round(bareRowsPerSecond),
    ratioToBare: round(rowsPerSecond / bareRowsPerSecond, 3),
    keyshiftCpuSeconds: round(result.cpuMs / 1000, 1),
    bareCpuSeconds: round(bare.cpuMs / 1000, 1),
    cpuRatioToBare: round(cpuRatio, 3),
    peakRssMb: Math.round(result.peakRssMb),
    readerP99IdleMs: result.idle.p99,
    readerP99DuringMs: result.busy.p99,
    readerP99Ratio: round(ratio, 2),
    readerQueries: { idle: result.idle.count, during: result.busy.count },
  };
  console.error(JSON.stringify(figures, null, 2));
  const section = [
    `## ${title}: ${rows.toLocaleString('en')} rows, one 64-byte field each, ${pace()} (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, load ${loadAtStart.toFixed(2)} at the start${quiet ? '' : ': a loaded machine, not judged'})`,
    '',
    '| seconds | rows/s | bare AES-256-GCM rows/s | ratio to bare | CPU s: keyshift / bare | CPU ratio | peak RSS (MB) | reader p99 idle (ms) | reader p99 during (ms) | p99 ratio |',
    '|---|---|---|---|---|---|---|---|---|---|',
    `| ${figures.wallSeconds} | ${figures.rowsPerSecond} | ${figures.bareAesRowsPerSecond} | ${figures.ratioToBare} | ${figures.keyshiftCpuSeconds} / ${figures.bareCpuSeconds} | ${figures.cpuRatioToBare} | ${figures.peakRssMb} | ${figures.readerP99IdleMs} | ${figures.readerP99DuringMs} | ${figures.readerP99Ratio} |`,
    '',
    `Targets (issue 16): ${verdict}.`,
  ].join('\n');
  console.log(section);
  if (process.argv.includes('--write')) recordResults(name, section);
  if (quiet && checks.some(([, ok]) => !ok)) process.exitCode = 1;
}

export function loadNow() {
  return Math.round(loadavg()[0] * 100) / 100;
}

function round(value, digits) {
  return Math.round(value * 10 ** digits) / 10 ** digits;
}
