import type { Command } from 'commander';
import { ExitCode, usageError } from '../errors.js';
import type { GlobalOptions, Io } from './main.js';

/** `keyshift reencrypt`: declared here, its handler and the database drivers load only when it runs. */
export function registerReencryptCommand(program: Command, io: Io, done: (code: number, json: boolean) => void): void {
  program
    .command('reencrypt <name>')
    .description('after a switch, re-encrypt database rows still under an old key version: canary, stages, SLO checks, checkpoints; for a master key, re-wrap the data keys it wraps (rows untouched)')
    .option('--env <env>', 'environment (required when the secret has several)')
    .option('--dry-run', 'count rows per key version and estimate the time; change nothing', false)
    .option('--until <stage>', 'stop after this stage: canary, 25%, … (a later run continues)')
    .option('--max-rows-per-second <n>', 'bound the load on the database')
    .option('--threads <n>', 'seal rows in n worker threads while the main thread writes the database (default 0: one core in all, the rest left to the application)')
    .option('--rewrap', "re-wrap this data key's stored versions under its master's current key (rows untouched)", false)
    .action(async (name: string, o: ReencryptCliOptions, command: Command) => {
      const globals = command.optsWithGlobals() as GlobalOptions;
      done(await reencryptCommand(globals, name, o, io), globals.json);
    });
}

type ReencryptCliOptions = { env?: string; dryRun: boolean; until?: string; maxRowsPerSecond?: string; threads?: string; rewrap: boolean };

/** More threads than this only queue behind each other on any machine keyshift runs on. */
const MAX_THREADS = 64;

async function reencryptCommand(g: GlobalOptions, name: string, o: ReencryptCliOptions, io: Io): Promise<number> {
  const rate = o.maxRowsPerSecond === undefined ? null : Number(o.maxRowsPerSecond);
  if (rate !== null && (!Number.isInteger(rate) || rate < 1)) throw usageError(`--max-rows-per-second "${o.maxRowsPerSecond}" must be a whole number of at least 1`, 'e.g. --max-rows-per-second 5000');
  const threads = o.threads === undefined ? 0 : /^\d{1,3}$/.test(o.threads) ? Number(o.threads) : NaN;
  if (!(threads >= 0 && threads <= MAX_THREADS)) throw usageError(`--threads "${o.threads}" must be a whole number from 0 to ${MAX_THREADS}`, 'e.g. --threads 2 (one per spare core)');
  const { withPolicies } = await import('./commands.js');
  const { printJson, printTable } = await import('./output.js');
  return withPolicies(g, io, async (ctx, policies) => {
    const { isMaster, rewrapRun } = await import('../reencrypt/rewrap.js');
    if (o.rewrap || isMaster(policies, name)) {
      if (o.until !== undefined || rate !== null || o.threads !== undefined) throw usageError('--until, --max-rows-per-second and --threads apply to rows; re-wrapping data keys touches no row', 'drop them');
      // Its records end with a `signed` one, like every run that writes evidence (a bad key stops here, before any change).
      const { signerFromEnv } = await import('../evidence/sign.js');
      ctx.signer = await signerFromEnv(io.env, io.cwd, ctx.policySigningKey);
      const report = await rewrapRun(ctx, policies, { name, env: o.env, dryRun: o.dryRun, self: o.rewrap });
      if (g.json) printJson(io.out, report);
      else {
        printTable(io.out, ['DATA KEY', 'ENV', 'WRAPPED BY', o.dryRun ? 'TO RE-WRAP' : 'RE-WRAPPED', 'ALREADY'], report.dataKeys.map((d) => [d.secret, d.environment, d.wrappedBy, d.rewrapped.join(', ') || '-', d.unchanged.join(', ') || '-']));
        const count = report.dataKeys.reduce((n, d) => n + d.rewrapped.length, 0);
        io.out.stdout(`\n${count} data key version(s) ${o.dryRun ? 'to re-wrap; nothing was changed' : 're-wrapped'}; no row was touched\n`);
      }
      return report.exitCode;
    }
    if (o.dryRun) {
      const { reencryptDryRun } = await import('../reencrypt/dry-run.js');
      const plan = await reencryptDryRun(ctx, policies, { name, env: o.env, maxRowsPerSecond: rate });
      if (g.json) printJson(io.out, plan);
      else {
        printTable(io.out, ['TABLE', 'ROWS', 'TO RE-ENCRYPT', 'BY VERSION'], plan.tables.map((t) => [t.table, String(t.rows), String(t.rowsToReencrypt), Object.entries(t.versions).map(([v, n]) => `${v}: ${n}`).join(', ')]));
        io.out.stdout(`\n${plan.rowsToReencrypt} row(s) to re-encrypt to ${plan.toVersion} in ${plan.database}: about ${plan.estimatedSeconds}s of work, plus ${plan.observeGates} observe gate(s) (${plan.observeSeconds}s); nothing was changed\n`);
      }
      return ExitCode.ok;
    }
    const { reencryptRun } = await import('../reencrypt/run.js');
    // Its stage records end with a `signed` one, like every run that writes evidence.
    const { signerFromEnv } = await import('../evidence/sign.js');
    ctx.signer = await signerFromEnv(io.env, io.cwd, ctx.policySigningKey);
    const showProgress = io.out.isTTY && !g.json && !g.quiet;
    const report = await reencryptRun(ctx, policies, {
      name,
      env: o.env,
      until: o.until,
      maxRowsPerSecond: rate,
      threads,
      onProgress: showProgress ? (stage, rows) => io.out.stderr(`\r${stage}: ${rows} rows`) : undefined,
    });
    if (showProgress) io.out.stderr('\n');
    if (g.json) printJson(io.out, report);
    else {
      printTable(io.out, ['STAGE', 'OUTCOME', 'ROWS', 'ERRORS', 'ERROR RATE', 'SECONDS'], report.stages.map((s) => [s.stage, s.outcome, String(s.rows), String(s.errors), `${(s.errorRate * 100).toFixed(3)}%`, (s.durationMs / 1000).toFixed(1)]));
      io.out.stdout(`\n${summary(report)}\n`);
      for (const s of report.stages) if (s.reason) io.out.stderr(`keyshift: stage ${s.stage}: ${s.reason}${s.errorRows.length ? `; rows: ${s.errorRows.join(', ')}` : ''}\n`);
    }
    return report.exitCode;
  });
}

function summary(report: import('../reencrypt/run.js').ReencryptReport): string {
  const where = `${report.secret}/${report.environment}`;
  if (report.outcome === 'observing') return `${where}: observing until ${report.observeUntil}; rerun keyshift reencrypt ${report.secret} --env ${report.environment} then to continue`;
  if (report.outcome === 'stopped') return `${where}: stopped as asked (--until); rerun without --until to continue`;
  if (report.outcome === 'rolled-back') return `${where}: a stage broke the decrypt error SLO; its rows are back under ${report.fromVersion}; fix the rows named above and rerun`;
  return `${where}: every row is under ${report.toVersion} in ${report.database}`;
}
