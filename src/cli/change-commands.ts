import { ExitCode, usageError } from '../errors.js';
import { parseDurationAllowZero } from '../policy/durations.js';
import type { GlobalOptions, Io } from './main.js';
import { printRotateReport } from './rotate-output.js';
import { planRun } from '../engine/plan-run.js';
import { rotateRun } from '../engine/runner.js';
import { rollbackRun } from '../engine/rollback-run.js';
import { signerFromEnv } from '../evidence/sign.js';
import { doctorRun } from '../engine/doctor/index.js';
import { printDoctorReport } from './doctor-output.js';
import { printPlan, shardOption, withPolicies, withQuotaShare, type Selected } from './commands.js';

/** Handlers of the commands that change stores and append evidence: rotate, rollback, doctor. */

export async function rotateCommand(
  g: GlobalOptions,
  names: string[],
  o: Selected & { force: boolean; dryRun: boolean; reason?: string; ticket?: string; concurrency: string; fallbackWindow?: string; shard?: string; quotaShare?: string },
  io: Io,
): Promise<number> {
  if (names.length === 0 && !o.all) throw usageError('rotate needs secret names or --all', 'e.g. keyshift rotate --all, or keyshift rotate webhook-signing-key');
  if (names.length > 0 && o.all) throw usageError('give secret names or --all, not both');
  // Checked before --dry-run too: a dry run is how people test an emergency command first.
  if (o.all && o.force && !o.reason?.trim()) {
    throw usageError('rotate --all --force needs --reason', 'say why every key is rotated now, e.g. --reason "suspected compromise, INC-1234": it goes into the evidence');
  }
  const fallbackWindowMs = o.fallbackWindow === undefined ? undefined : parseDurationAllowZero(o.fallbackWindow);
  if (fallbackWindowMs === null) throw usageError(`--fallback-window "${o.fallbackWindow}" is not a duration`, 'e.g. 0 (retire the old key right after the switch), 15m or 2h');
  const concurrency = Number(o.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw usageError(`--concurrency "${o.concurrency}" must be a whole number from 1 to 256`);
  const { shard, quotaShare } = shardOption(o, names);
  return withPolicies(g, io, async (ctx, policies) => {
    withQuotaShare(ctx, quotaShare, shard, policies);
    ctx.signer = await signerFromEnv(io.env, io.cwd, ctx.policySigningKey); // a bad key stops here, before any change (dry run too)
    const selection = { names, all: o.all ?? false, envs: o.env ?? [], shard };
    if (o.dryRun) {
      const planned = await planRun(ctx, policies, { ...selection, force: o.force, horizonMs: 0, ticketGate: !o.ticket });
      printPlan(g, io, planned);
      return planned.some((a) => a.action === 'error') ? ExitCode.failed : ExitCode.ok;
    }
    // Progress only for people: not with --json, not when stdout is a pipe or a file.
    const showProgress = io.out.isTTY && !g.json && !g.quiet;
    const onProgress = showProgress
      ? (done: number, total: number, failed: number) => io.out.stderr(`\r${done}/${total} secrets${failed > 0 ? `, ${failed} failed` : ''}${done === total ? '\n' : ''}`)
      : undefined;
    const report = await rotateRun(ctx, policies, { ...selection, force: o.force, reason: o.reason, ticket: o.ticket, concurrency, fallbackWindowMs, onProgress });
    printRotateReport(g, io, report);
    return report.exitCode;
  });
}

export async function rollbackCommand(g: GlobalOptions, name: string, o: { env?: string[]; reason?: string; ticket?: string }, io: Io): Promise<number> {
  return withPolicies(g, io, async (ctx, policies) => {
    ctx.signer = await signerFromEnv(io.env, io.cwd, ctx.policySigningKey);
    // Data re-encrypted under the new key goes back under the old one first (docs/reencrypt.md#rollback).
    if (policies.some((p) => p.name === name && p.reencrypt)) {
      const { revertBeforeRollback } = await import('../reencrypt/revert.js');
      for (const r of await revertBeforeRollback(ctx, policies, name, o.env ?? [])) io.out.stderr(`keyshift: ${name}/${r.environment}: ${r.rows} row(s) in ${r.database} back under the old version\n`);
    }
    // Data keys a master wraps go back under its old version first (docs/reencrypt.md#key-hierarchy).
    const { isMaster, rewrapBeforeRollback } = await import('../reencrypt/rewrap.js');
    if (isMaster(policies, name)) {
      for (const d of await rewrapBeforeRollback(ctx, policies, name, o.env ?? [])) {
        if (d.rewrapped.length > 0) io.out.stderr(`keyshift: ${d.secret}/${d.environment}: ${d.rewrapped.length} data key version(s) back under the old master version\n`);
      }
    }
    const report = await rollbackRun(ctx, policies, { name, envs: o.env ?? [], reason: o.reason, ticket: o.ticket });
    printRotateReport(g, io, report);
    return report.exitCode;
  });
}

export async function doctorCommand(g: GlobalOptions, names: string[], o: { env?: string[]; fix: boolean }, io: Io): Promise<number> {
  return withPolicies(g, io, async (ctx, policies) => {
    if (o.fix) ctx.signer = await signerFromEnv(io.env, io.cwd, ctx.policySigningKey);
    const report = await doctorRun(ctx, policies, { names, all: names.length === 0, envs: o.env ?? [], fix: o.fix });
    printDoctorReport(g, io, report, o.fix);
    return report.exitCode;
  });
}
