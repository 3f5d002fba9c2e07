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
import { printRotateReport } from './rotate-output.js';
import { planRun } from '../engine/plan-run.js';
import { rotateRun } from '../engine/runner.js';
import { getRun, statusRun } from '../engine/inspect.js';
import { rollbackRun } from '../engine/rollback-run.js';
import { scaffold } from './init.js';
import { verifyMany, verifyWithAnchors } from './verify.js';
import { readPublicKey, signerFromEnv } from '../evidence/sign.js';
import { mergeEvidence, resolveSource } from '../evidence/merge.js';
import { doctorRun } from '../engine/doctor/index.js';
import { printDoctorReport } from './doctor-output.js';
import { engineClock } from './clock.js';
import { parseQuotaShare, parseShard, shardQuotaShare, type Shard } from '../engine/shard.js';

/** Command handlers: parse options into engine calls and print. No rotation logic lives here. */

interface Selected {
  all?: boolean;
  env?: string[];
}

/** `--shard k/n` splits every secret (--all), never a list of names; each runner takes its shard's part of the AWS quotas. */
function shardOption(o: { shard?: string; quotaShare?: string }, names: string[]): { shard?: Shard; quotaShare?: number } {
  const shard = o.shard === undefined ? undefined : parseShard(o.shard);
  if (shard && names.length > 0) throw usageError('--shard splits every secret: give --all (or no names), not names', 'e.g. keyshift rotate --all --shard 1/4');
  return { shard, quotaShare: parseQuotaShare(o.quotaShare) };
}

function withQuotaShare(ctx: EngineContext, quotaShare: number | undefined, shard: Shard | undefined, policies: SecretPolicy[]): void {
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

export async function verifyCommand(g: GlobalOptions, logs: string[], io: Io, publicKeyFile?: string): Promise<number> {
  const publicKey = publicKeyFile === undefined ? null : await readPublicKey(publicKeyFile, io.cwd);
  // One log given is the same check as --evidence-dir; several are one runner's log each.
  if (logs.length > 1) return verifyMany(g, logs, io, await tryLoadPolicies(g, io), publicKey);
  const [only] = logs;
  if (only !== undefined) g = { ...g, evidenceDir: (await resolveSource(only, resolve(io.cwd, only))).dir };
  return verifyWithAnchors(g, io, await tryLoadPolicies(g, io), publicKey);
}

export async function mergeCommand(g: GlobalOptions, logs: string[], out: string, io: Io): Promise<number> {
  const sources = [];
  for (const given of logs) sources.push(await resolveSource(given, resolve(io.cwd, given)));
  const merged = await mergeEvidence(sources, resolve(io.cwd, out));
  if (g.json) printJson(io.out, { out, records: merged.records, chains: merged.chains });
  else io.out.stdout(`${out}: ${merged.records} records from ${merged.chains.length} chain(s), ordered by time\n`);
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

function printPlan(g: GlobalOptions, io: Io, actions: Array<{ secret: string; environment: string; action: string; reason: string; at: string }>): void {
  if (g.json) {
    printJson(io.out, { actions });
    return;
  }
  printTable(io.out, ['SECRET', 'ENV', 'ACTION', 'AT', 'REASON'], actions.map((a) => [a.secret, a.environment, a.action, shortTime(a.at), a.reason]));
  const work = actions.filter((a) => a.action !== 'none' && a.action !== 'wait' && a.action !== 'error').length;
  const errors = actions.filter((a) => a.action === 'error').length;
  io.out.stdout(`\n${work} action(s) planned${errors > 0 ? `, ${errors} could not be planned (store errors, see REASON)` : ''}; nothing was changed\n`);
}

