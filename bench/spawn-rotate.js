// Runs `keyshift rotate --all --force --json` for a benchmark and tells a measurement from a crash:
// keyshift exits 0 (done) or 1 (some rotations failed); any other exit, a signal, or output that is
// not the JSON report means the benchmark itself failed, never "0 failed".
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = join(fileURLToPath(new URL('..', import.meta.url)), 'bin', 'keyshift.js');

export class BenchmarkFailed extends Error {}

/** @returns {Promise<{seconds: number, code: 0|1, results: object[], stderr: string}>} */
export async function rotateAll(dir, env, concurrency) {
  const args = [bin, 'rotate', '--all', '--force', '--reason', 'bench', '--concurrency', String(concurrency), '--json'];
  const started = process.hrtime.bigint();
  const { code, signal, stdout, stderr } = await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: dir, env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (c, s) => resolve({ code: c, signal: s, stdout: out, stderr: err }));
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const tail = stderr.trim().split('\n').slice(-5).join('\n');
  if (code !== 0 && code !== 1) throw new BenchmarkFailed(`keyshift rotate exited ${signal ? `on ${signal}` : code} after ${seconds.toFixed(1)} s: the benchmark run failed\n${tail}`);
  let results;
  try {
    results = JSON.parse(stdout).results;
  } catch {
    throw new BenchmarkFailed(`keyshift rotate exited ${code} without its JSON report: the benchmark run failed\n${tail}`);
  }
  if (!Array.isArray(results)) throw new BenchmarkFailed(`keyshift rotate exited ${code} with a report that has no results: the benchmark run failed`);
  return { seconds, code, results, stderr };
}

/** For a benchmark script's catch: a failed run exits 2 (and the script records nothing). */
export function exitOnFailure(error) {
  if (!(error instanceof BenchmarkFailed)) throw error;
  process.stderr.write(`benchmark failed: ${error.message}\n`);
  process.exitCode = 2;
}
