// Writes a rotation history the way it happens: real rotations (the engine's rotateRun, as the CLI
// calls it) over local stores, on an injected clock stepping through fake time. Nothing is
// hand-written. In-process rather than one `keyshift rotate` process per run: two years of weekly
// runs are a hundred runs. `node test/helpers/history.js <dir> [secrets] [days]` writes one for a look.
import { writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { baseEnv, root } from './cli.js';

const { loadPolicies } = await import(join(root, 'dist/policy/load.js'));
const { rotateRun } = await import(join(root, 'dist/engine/runner.js'));
const { createLogger } = await import(join(root, 'dist/cli/logger.js'));

export const START = Date.parse('2024-12-01T00:00:00.000Z');
const DAY = 86_400_000;
const INTERVALS = ['28d', '30d', '45d', '90d', '180d'];

/**
 * `count` secrets × dev and prod, weekly `rotate` runs for `days` days. Planted events: the last two
 * secrets are never rotated; s-03 is left out of the runs between day 200 and 500 (late); s-01 and
 * s-02 get an emergency rotation on day 365; s-04's prod verify hook fails on day 182, its first rotation (rolled back).
 */
export async function writeHistory(dir, { count = 50, days = 730, step = 7 } = {}) {
  mkdirSync(join(dir, 'policies'), { recursive: true });
  const names = Array.from({ length: count }, (_, i) => `s-${String(i).padStart(2, '0')}`);
  const policy = names.map((name, i) => [
    `  - name: ${name}`,
    `    owner: team-${i % 3 === 0 ? 'payments' : 'platform'}`,
    `    interval: ${INTERVALS[i % INTERVALS.length]}`,
    '    fallbackWindow: 2d',
    `    controls: [${i % 2 === 0 ? 'SOC2-CC6.1, ' : ''}ISO27001-A.8.24]`,
    '    generator: { type: random, bytes: 32 }',
    '    environments:',
    '      - name: dev',
    '        store: { type: local, path: .keyshift/dev.store }',
    '      - name: prod',
    '        store: { type: local, path: .keyshift/prod.store }',
    ...(name === 's-04' ? ['        verify:', `          - run: [sh, -c, "test ! -f ${join(dir, 'fail.flag')}"]`] : []),
  ].join('\n'));
  writeFileSync(join(dir, 'policies', 'secrets.yaml'), `secrets:\n${policy.join('\n')}\n`);
  const loaded = await loadPolicies('policies', { cwd: dir });
  if (loaded.errors.length > 0) throw new Error(JSON.stringify(loaded.errors));
  const env = baseEnv({ KEYSHIFT_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') });
  const rotate = async (at, names, extra = {}) => {
    const started = performance.now();
    const ctx = { cwd: dir, env, now: () => new Date(at + Math.floor(performance.now() - started)), logger: createLogger('silent'), evidenceDir: join(dir, 'evidence'), lockWaitMs: 30_000 };
    const report = await rotateRun(ctx, loaded.policies, { names, all: false, envs: [], force: false, concurrency: 4, ...extra });
    const broken = report.results.filter((r) => r.outcome === 'failed' && !(r.secret === 's-04' && r.environment === 'prod'));
    if (broken.length > 0) throw new Error(`rotate at ${new Date(at).toISOString()}: ${JSON.stringify(broken)}`);
  };
  const rotated = names.slice(0, count - 2);
  for (let day = 0; day <= days; day += step) {
    // The cron runs at 06:00 and drifts a minute a run, so no run lands on the very millisecond a
    // secret falls due (where the runner's lock planning and its due check could disagree).
    const at = START + day * DAY + (day === 0 ? 0 : 6 * 3_600_000 + (day / step) * 60_000);
    const selected = rotated.filter((n) => !(n === 's-03' && day >= 200 && day < 500));
    if (day === 182) writeFileSync(join(dir, 'fail.flag'), '');
    await rotate(at, selected);
    if (day === 182) rmSync(join(dir, 'fail.flag'));
    if (day === 364) await rotate(at + 3_600_000, ['s-01', 's-02'], { force: true, reason: 'suspected compromise' });
  }
  return { names, end: new Date(START + days * DAY + DAY / 2) };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const [dir, count, days] = process.argv.slice(2);
  const { end } = await writeHistory(dir, { count: Number(count ?? 50), days: Number(days ?? 730) });
  console.log(`history written to ${dir}; report it with KEYSHIFT_NOW=${end.toISOString()}`);
}
