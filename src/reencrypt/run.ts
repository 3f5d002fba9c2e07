import { ExitCode, usageError } from '../errors.js';
import type { EngineContext } from '../engine/context.js';
import { openEvidenceLog } from '../engine/evidence-log.js';
import { newRunId, operatorName } from '../engine/ids.js';
import { isRecordLogged } from '../evidence/index.js';
import type { SecretPolicy } from '../policy/types.js';
import type { EvidenceDraft, SecretStore } from '../stores/contract.js';
import { StoreRegistry } from '../stores/registry.js';
import { checkpointId, checkpointOf, freshState, freshStats, loadState, saveState, type ReencryptState } from './checkpoint.js';
import type { ReencryptDatabase, RunLock } from './databases/contract.js';
import { anchorStageRecords } from './evidence-anchor.js';
import { refuseCutEvidence } from '../engine/evidence-recovery.js';
import { loadKeys } from './keys.js';
import { openDatabase } from './databases/index.js';
import { inlineSealer, threadSealer, type Sealer } from './sealer.js';
import { checkSample, walk } from './stage-walk.js';

/**
 * `keyshift reencrypt <name>`: the canary, then the stages, each ended by an SLO check on a
 * decrypt sample; an observe gate between stages that a later run continues (exit 3 meanwhile);
 * a stage over the SLO is rolled back and the run exits 1. Every step resumes from the checkpoint.
 */

export interface ReencryptOptions {
  name: string;
  env?: string;
  /** Stop after this stage (`canary`, `25%`, …); a later run continues. */
  until?: string;
  maxRowsPerSecond: number | null;
  /** Worker threads that seal rows (`--threads`); 0: the main thread does it, one core in all. */
  threads?: number;
  onProgress?(stage: string, rows: number): void;
}

export interface StageReport {
  stage: string;
  outcome: 'passed' | 'rolled-back';
  rows: number;
  errors: number;
  errorRate: number;
  /** Rows an application changed during their batch: read again and moved from the new value. */
  conflicts: number;
  durationMs: number;
  errorRows: string[];
  reason: string | null;
}

export interface ReencryptReport {
  secret: string;
  environment: string;
  database: string;
  toVersion: string;
  fromVersion: string | null;
  outcome: 'done' | 'observing' | 'stopped' | 'rolled-back';
  stages: StageReport[];
  observeUntil: string | null;
  exitCode: number;
}

export async function reencryptRun(ctx: EngineContext, policies: SecretPolicy[], options: ReencryptOptions): Promise<ReencryptReport> {
  const { policy, environment } = selectTarget(policies, options.name, options.env);
  const spec = policy.reencrypt as NonNullable<SecretPolicy['reencrypt']>;
  const names = stageNames(spec.stages);
  if (options.until !== undefined && !names.includes(options.until)) throw usageError(`--until ${options.until} is not a stage of ${policy.name}`, `use one of ${names.join(', ')}`);
  const stores = new StoreRegistry(ctx);
  let db: ReencryptDatabase | null = null;
  let lock: RunLock | null = null;
  let store: SecretStore | null = null;
  let sealer: Sealer | null = null;
  let wroteEvidence = false;
  const runId = newRunId();
  const evidence = openEvidenceLog(ctx);
  try {
    store = await stores.get(environment.store);
    const keys = await loadKeys(policy, environment, store, { policies, stores, env: ctx.env, aws: ctx.aws, logger: ctx.logger });
    db = await openDatabase(spec.database);
    const id = checkpointId(policy.name, environment.name);
    // One run at a time, across machines: a second one waits --lock-timeout, then exits 3 naming the holder.
    lock = await db.lockRun(id, { waitMs: ctx.lockWaitMs, owner: `keyshift reencrypt ${policy.name} (${operatorName(ctx.env)})` });
    // Under the run's lock (so a run it waits for is not mistaken for damage), before any write.
    await refuseCutEvidence(evidence, store);
    await db.ensureCheckpointTable();
    sealer = options.threads ? await threadSealer(keys.ring, spec, options.threads) : inlineSealer(keys.ring, spec);
    const saved = await loadState(db, id);
    // A new rotation since (another CURRENT) starts over with a new random sample.
    let state: ReencryptState = saved && saved.target === keys.current ? saved : freshState(keys.current, keys.previous, ctx.now());
    const save = () => saveState(db as ReencryptDatabase, id, state, ctx.now());
    const checkpoint = () => checkpointOf(id, state, ctx.now());
    const report: ReencryptReport = { secret: policy.name, environment: environment.name, database: db.describe, toVersion: state.target, fromVersion: state.previous, outcome: 'done', stages: [], observeUntil: null, exitCode: ExitCode.ok };
    const record = async (draft: EvidenceDraft | null) => {
      if (!draft) return;
      await evidence.append([draft]);
      wroteEvidence = true;
      state.pendingRecord = null;
      await save();
    };
    // A stage record saved before its append: a run killed after the append, before the checkpoint
    // that clears it, left it in the log already, and appended again it would count twice.
    if (state.pendingRecord && (await inLog(ctx.evidenceDir, state.pendingRecord))) {
      wroteEvidence = true; // the killed run neither signed nor anchored it: this one does
      state.pendingRecord = null;
      await save();
    } else await record(state.pendingRecord);
    const thresholds = [spec.canary, ...spec.stages];
    for (;;) {
      const stage = names[state.stage] as string;
      if (state.phase === 'done') {
        // Already complete: a sweep for rows an application wrote under the old key since.
        state = { ...state, phase: 'running', stage: names.length - 1, cursor: { table: 0, after: null }, stats: freshStats(ctx.now()) };
        continue;
      }
      if (state.phase === 'observing') {
        if (options.until !== undefined && names.indexOf(options.until) < state.stage) return { ...report, outcome: 'stopped' };
        if (state.observeUntil && Date.parse(state.observeUntil) > ctx.now().getTime()) {
          return { ...report, outcome: 'observing', observeUntil: state.observeUntil, exitCode: ExitCode.blocked };
        }
        state = { ...state, phase: 'running', stage: state.stage + 1, cursor: { table: 0, after: null }, observeUntil: null, stats: freshStats(ctx.now()) };
        await save();
        continue;
      }
      const lo = state.stage === 0 ? 0 : (thresholds[state.stage - 1] as number);
      const walkContext = { db, spec, ring: keys.ring, sealer, state, range: [lo, thresholds[state.stage] as number] as [number, number], save, checkpoint, now: ctx.now, maxRowsPerSecond: options.maxRowsPerSecond, onBatch: () => options.onProgress?.(stage, state.stats.rows) };
      if (state.phase === 'rolling-back') {
        // Without a PREVIOUS version no row can have moved (only keys in the keyring open), so none goes back.
        walkContext.state = state;
        if (state.previous) await walk(walkContext, 'back');
        const result = stageReport(stage, state, 'rolled-back', ctx.now());
        report.stages.push(result);
        state = { ...state, phase: 'running', cursor: { table: 0, after: null }, stats: freshStats(ctx.now()), pendingRecord: draftOf(ctx, runId, policy, environment.name, store.kind, state, result, db.describe) };
        await save();
        await record(state.pendingRecord);
        return { ...report, outcome: 'rolled-back', exitCode: ExitCode.failed };
      }
      walkContext.state = state;
      await walk(walkContext, 'forward');
      const [sampled, sampleErrors] = await checkSample(walkContext);
      const errors = state.stats.errors + sampleErrors;
      const rate = errors / Math.max(1, state.stats.examined + sampled);
      if (rate > spec.decryptErrorRate) {
        state.stats.failure = `decrypt error rate ${percent(rate)} over the SLO of ${percent(spec.decryptErrorRate)} (${errors} of ${state.stats.examined + sampled} rows); the stage's rows go back under ${state.previous}`;
        state = { ...state, phase: 'rolling-back', cursor: { table: 0, after: null } };
        await save();
        continue;
      }
      const result = stageReport(stage, state, 'passed', ctx.now());
      report.stages.push(result);
      const last = state.stage === names.length - 1;
      const draft = draftOf(ctx, runId, policy, environment.name, store.kind, state, result, db.describe);
      const observeUntil = new Date(ctx.now().getTime() + spec.observeMs).toISOString();
      state = last
        ? { ...state, phase: 'done', pendingRecord: draft }
        : { ...state, phase: 'observing', observeUntil, pendingRecord: draft };
      await save();
      await record(draft);
      if (last) return report;
      if (options.until === stage) return { ...report, outcome: 'stopped', observeUntil: spec.observeMs > 0 ? observeUntil : null };
      if (spec.observeMs > 0) return { ...report, outcome: 'observing', observeUntil, exitCode: ExitCode.blocked };
    }
  } finally {
    // What each thread did, for an operator sizing --threads (info: shown with --log-level info).
    if (sealer && options.threads) ctx.logger.info({ secret: policy.name, rowsPerThread: sealer.rowsPerThread }, 're-encryption threads');
    await sealer?.close();
    await lock?.release();
    await db?.close();
    if (wroteEvidence && store) await anchorStageRecords(ctx, evidence, store, { runId, sign: true, reason: `reencrypt ${policy.name}` });
    await evidence.close();
    await stores.closeAll();
  }
}

export function stageNames(stages: number[]): string[] {
  return ['canary', ...stages.map((s) => `${Math.round(s * 100_000) / 1000}%`)];
}

export function selectTarget(policies: SecretPolicy[], name: string, env: string | undefined) {
  const policy = policies.find((p) => p.name === name);
  if (!policy) throw usageError(`no secret named "${name}" in the policies`, 'run keyshift status to list them');
  if (!policy.reencrypt) throw usageError(`${name} has no reencrypt: in its policy`, 'add reencrypt: { database, tables } to the secret (docs/reencrypt.md)');
  if (env === undefined && policy.environments.length > 1) throw usageError(`${name} has several environments: say which with --env`, `e.g. --env ${policy.environments[0]?.name}`);
  const environment = env === undefined ? policy.environments[0] : policy.environments.find((e) => e.name === env);
  if (!environment) throw usageError(`secret "${name}" has no environment "${env}"`);
  return { policy, environment };
}

function stageReport(stage: string, state: ReencryptState, outcome: StageReport['outcome'], now: Date): StageReport {
  const s = state.stats;
  return {
    stage,
    outcome,
    rows: outcome === 'rolled-back' ? s.rolledBack : s.rows,
    errors: s.errors,
    errorRate: s.errors / Math.max(1, s.examined),
    conflicts: s.conflicts,
    durationMs: now.getTime() - Date.parse(s.startedAt),
    errorRows: s.errorRows,
    reason: s.failure,
  };
}

function draftOf(ctx: EngineContext, runId: string, policy: SecretPolicy, environment: string, store: string, state: ReencryptState, result: StageReport, database: string): EvidenceDraft {
  return {
    event: 'reencrypt-stage',
    rotationId: null,
    secret: policy.name,
    environment,
    store,
    fromVersion: state.previous,
    toVersion: state.target,
    fingerprint: null,
    at: ctx.now().toISOString(),
    operator: operatorName(ctx.env),
    reason: result.reason ?? `reencrypt stage ${result.stage}`,
    ticket: null,
    emergency: false,
    checks: [],
    runId,
    ...(result.outcome === 'rolled-back' ? { error: result.reason ?? 'rolled back' } : {}),
    ...({ stage: result.stage, outcome: result.outcome, database, rowsDone: result.rows, errors: result.errors, errorRate: result.errorRate, conflicts: result.conflicts, durationMs: result.durationMs, errorRows: result.errorRows } as object),
  };
}

/** Whether this stage record (its run, stage and time) is in the log. */
function inLog(evidenceDir: string, draft: EvidenceDraft): Promise<boolean> {
  const { event, secret, environment, at, stage } = draft as EvidenceDraft & { stage?: string };
  return isRecordLogged(evidenceDir, draft.runId, { event, secret, environment, at, stage });
}

function percent(rate: number): string {
  return `${Math.round(rate * 100_000) / 1000}%`;
}
