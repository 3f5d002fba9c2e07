import { resolve } from 'node:path';
import { ExitCode, usageError } from '../errors.js';
import type { EngineContext } from '../engine/context.js';
import type { Stage } from '../stores/contract.js';
import { loadPoliciesCached } from '../policy/cache.js';
import { packageVersion } from './version.js';
import { parseDurationAllowZero } from '../policy/durations.js';
import type { SecretPolicy } from '../policy/types.js';
import { createLogger, resolveLogLevel } from './logger.js';
import type { GlobalOptions, Io } from './main.js';
import { printJson, printTable, shortTime } from './output.js';
import { planRun } from '../engine/plan-run.js';
import { getRun, statusRun } from '../engine/inspect.js';
import { scaffold } from './init.js';
import { engineClock } from './clock.js';
import { parseQuotaShare, parseShard, shardQuotaShare, type Shard } from '../engine/shard.js';

/**
 * Command handlers: parse options into engine calls and print. No rotation logic lives here. The
 * handlers of commands that change stores (change-commands.ts) and read evidence logs
 * (evidence-commands.ts) are modules of their own, so that `plan` and `status` load less code.
 */

export interface Selected {
  all?: boolean;
  env?: string[];
}

/** `--shard k/n` splits every secret (--all), never a list of names; each runner takes its shard's part of the AWS quotas. */
export function shardOption(o: { shard?: string; quotaShare?: string }, names: string[]): { shard?: Shard; quotaShare?: number } {
  const shard = o.shard === undefined ? undefined : parseShard(o.shard);
  if (shard && names.length > 0) throw usageError('--shard splits every secret: give --all (or no names), not names', 'e.g. keyshift rotate --all --shard 1/4');
  return { shard, quotaShare: parseQuotaShare(o.quotaShare) };
}

export function withQuotaShare(ctx: EngineContext, quotaShare: number | undefined, shard: Shard | undefined, policies: SecretPolicy[]): void {
  const share = quotaShare ?? (shard ? shardQuotaShare(policies, shard) : undefined);
  if (share !== undefined) ctx.aws = { ...ctx.aws, quotaShare: share };
}

export async function planCommand(g: GlobalOptions, names: string[], o: Selected & { force: boolean; horizon: string; shard?: string }, io: Io): Promise<number> {
  const horizonMs = parseDurationAllowZero(o.horizon);
  if (horizonMs === null) throw usageError(`--horizon "${o.horizon}" is not a duration`, 'use a whole number with a unit s, m, h, d or w, e.g. 14d');
  const { shard, quotaShare } = shardOption(o, names);
  return withPolicies(g, io, async (ctx, policies) => {
    withQuotaShare(ctx, quotaShare, shard, policies);
    const actions = await planRun(ctx, policies, { names, all: o.all ?? false, envs: o.env ?? [], shard, force: o.force, horizonMs });
    printPlan(g, io, actions);
    return actions.some((a) => a.action === 'error') ? ExitCode.failed : ExitCode.ok;
  });
}

export async function statusCommand(g: GlobalOptions, names: string[], o: Selected, io: Io): Promise<number> {
  return withPolicies(g, io, async (ctx, policies) => {
    const rows = await statusRun(ctx, policies, { names, all: names.length === 0, envs: o.env ?? [] });
    // A row whose store could not be read makes the exit 1, after every other row is shown.
    const unknown = rows.filter((r) => r.phase === 'unknown');
    if (g.json) {
      printJson(io.out, { secrets: rows });
      return unknown.length > 0 ? ExitCode.failed : ExitCode.ok;
    }
    printTable(
      io.out,
      ['SECRET', 'ENV', 'PHASE', 'CURRENT', 'PREVIOUS', 'PENDING', 'LAST ROTATED', 'FALLBACK ENDS', 'NEXT DUE'],
      rows.map((r) => [r.secret, r.environment, r.phase === 'unknown' ? `unknown (${r.error?.code})` : r.phase, r.currentVersion, r.previousVersion, r.pendingVersion, shortTime(r.lastRotatedAt), shortTime(r.decommissionAfter), r.phase === 'unknown' ? null : r.nextDueAt === null ? 'now (not provisioned)' : `${shortTime(r.nextDueAt)}${r.overdue ? ' OVERDUE' : ''}${r.waitingUntil ? ` (observing the previous environment until ${shortTime(r.waitingUntil)})` : ''}`]),
    );
    for (const r of unknown) io.out.stderr(`keyshift: ${r.secret}/${r.environment}: ${r.error?.message}\n${r.error?.hint ? `  hint: ${r.error.hint}\n` : ''}`);
    return unknown.length > 0 ? ExitCode.failed : ExitCode.ok;
  });
}

export async function getCommand(g: GlobalOptions, name: string, o: { env?: string; stage: string }, io: Io): Promise<number> {
  return withPolicies(g, io, async (ctx, policies) => {
    const result = await getRun(ctx, policies, name, o.env, o.stage.toUpperCase() as Stage);
    // The one place a value reaches stdout, by design.
    if (g.json) printJson(io.out, { secret: result.secret, environment: result.environment, stage: o.stage, versionId: result.versionId, value: result.value.reveal() });
    else io.out.stdout(`${result.value.reveal()}\n`);
    return ExitCode.ok;
  });
}

export async function validateCommand(g: GlobalOptions, io: Io): Promise<number> {
  const invalidJson = (files: string[], errors: unknown[]) => ({ valid: false, secrets: [], files, errors });
  return withPolicies(g, io, async (_ctx, policies, files) => {
    if (g.json) printJson(io.out, { valid: true, secrets: policies.map((p) => p.name), files, errors: [] });
    else io.out.stdout(`${policies.length} secret(s) in ${files.length} file(s): valid\n`);
    return ExitCode.ok;
  }, invalidJson);
}

export async function schemaCommand(_g: GlobalOptions, io: Io): Promise<number> {
  const { policyJsonSchema } = await import('../policy/json-schema.js');
  printJson(io.out, policyJsonSchema());
  return ExitCode.ok;
}

export async function initCommand(g: GlobalOptions, dir: string | undefined, io: Io): Promise<number> {
  const written = await scaffold(resolve(io.cwd, dir ?? '.'));
  if (g.json) printJson(io.out, { created: written });
  else {
    io.out.stdout(`created ${written.join(', ')}\n`);
    io.out.stdout(`next: keyshift plan, then keyshift rotate --all (run them in ${dir ?? 'this directory'})\n`);
    io.out.stdout('keep .keyshift/*.key out of version control: it is the master key of the local store\n');
  }
  return ExitCode.ok;
}

/** Load and validate policies; print every problem as file:line:col: message and exit 2 on any. */
export async function withPolicies(
  g: GlobalOptions,
  io: Io,
  body: (ctx: EngineContext, policies: SecretPolicy[], files: string[]) => Promise<number>,
  invalidJson: (files: string[], errors: unknown[]) => object = (_files, errors) => ({ errors }),
): Promise<number> {
  const ctx = engineContext(g, io);
  const loaded = await loadPoliciesCached(g.policies, { cwd: io.cwd, env: io.env, version: packageVersion(), log: ctx.logger });
  for (const w of loaded.warnings) io.out.stderr(`${w.file}:${w.line}:${w.col}: warning: ${w.message}\n`);
  if (loaded.errors.length > 0) {
    for (const e of loaded.errors) io.out.stderr(`${e.file}:${e.line}:${e.col}: ${e.message}\n`);
    if (g.json) printJson(io.out, invalidJson(loaded.files, loaded.errors));
    return ExitCode.usage;
  }
  ctx.policySigningKey = loaded.signingKey ?? null;
  return body(ctx, loaded.policies, loaded.files);
}

export async function tryLoadPolicies(g: GlobalOptions, io: Io): Promise<{ ctx: EngineContext; policies: SecretPolicy[] | null }> {
  const ctx = engineContext(g, io);
  const loaded = await loadPoliciesCached(g.policies, { cwd: io.cwd, env: io.env, version: packageVersion(), log: ctx.logger });
  return { ctx, policies: loaded.errors.length === 0 ? loaded.policies : null };
}

export function engineContext(g: GlobalOptions, io: Io): EngineContext {
  const level = resolveLogLevel(g.logLevel, g.quiet, io.env);
  if (level instanceof Error) throw usageError(level.message);
  const lockWaitMs = parseDurationAllowZero(g.lockTimeout);
  if (lockWaitMs === null) throw usageError(`--lock-timeout "${g.lockTimeout}" is not a duration`, 'e.g. 30s or 5m');
  return {
    cwd: io.cwd,
    env: io.env,
    now: engineClock(io.env),
    logger: createLogger(level),
    evidenceDir: resolve(io.cwd, g.evidenceDir),
    lockWaitMs,
    aws: { region: g.region, profile: g.profile, endpoint: g.endpointUrl },
  };
}

export function printPlan(g: GlobalOptions, io: Io, actions: Array<{ secret: string; environment: string; action: string; reason: string; at: string }>): void {
  if (g.json) {
    printJson(io.out, { actions });
    return;
  }
  printTable(io.out, ['SECRET', 'ENV', 'ACTION', 'AT', 'REASON'], actions.map((a) => [a.secret, a.environment, a.action, shortTime(a.at), a.reason]));
  const work = actions.filter((a) => a.action !== 'none' && a.action !== 'wait' && a.action !== 'error').length;
  const errors = actions.filter((a) => a.action === 'error').length;
  io.out.stdout(`\n${work} action(s) planned${errors > 0 ? `, ${errors} could not be planned (store errors, see REASON)` : ''}; nothing was changed\n`);
}

