// The sharded run of docs/scale-out.md, as its recipes run it: n processes at once, each given its
// index the way a Kubernetes Indexed Job gives it (JOB_COMPLETION_INDEX, 0-based), through `sh`.
import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { bin } from './cli.js';

/** The command of the recipe (docs/scale-out.md), word for word. */
export const RECIPE = 'keyshift rotate --all --force --reason "$REASON" --fallback-window 0 --lock-timeout 10m --json --shard "$((JOB_COMPLETION_INDEX + 1))/$SHARDS" --evidence-dir "evidence/shard-$((JOB_COMPLETION_INDEX + 1))"';

/** The shard of a name as docs/scale-out.md defines it, computed here independently of src/. */
export const shardOf = (name, n) => (createHash('sha256').update(name).digest().readUInt32BE(0) % n) + 1;

/** A `keyshift` on PATH, as an installed package puts it there. */
export function keyshiftOnPath(dir) {
  const binDir = join(dir, '.bin');
  mkdirSync(binDir, { recursive: true });
  writeFileSync(join(binDir, 'keyshift'), `#!/bin/sh\nexec "${process.execPath}" "${bin}" "$@"\n`);
  chmodSync(join(binDir, 'keyshift'), 0o755);
  return binDir;
}

/** Runs the recipe for index 0 … n-1 at once; `envOf(index)` adds per-runner variables. */
export async function runShards(dir, n, env, envOf = () => ({})) {
  const binDir = keyshiftOnPath(dir);
  const runs = Array.from({ length: n }, (_, index) => new Promise((resolve) => {
    const child = spawn('sh', ['-c', RECIPE], { cwd: dir, env: { ...env, ...envOf(index), PATH: `${binDir}:${env.PATH}`, JOB_COMPLETION_INDEX: String(index), SHARDS: String(n), REASON: 'suspected compromise' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ index, code, stdout, stderr }));
  }));
  return Promise.all(runs);
}
