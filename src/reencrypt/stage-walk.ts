import { setTimeout as sleep } from 'node:timers/promises';
import type { ReencryptSpec } from '../policy/reencrypt-schema.js';
import type { ReencryptDatabase, Row, RowChange, RowKey, TableSpec } from './databases/contract.js';
import type { Keyring } from './envelope.js';
import { bucketOf, moveRow, rowOpens, underVersion } from './rows.js';
import type { ReencryptState } from './checkpoint.js';

/**
 * One pass over every table, in key order from the checkpoint's cursor: the rows of a stage move to
 * the target version (or, rolling back, back to the previous one), one batch and one checkpoint at
 * a time. `save` persists the state after each batch; a crash repeats at most the last batch, whose
 * rows are then already under the version they move to and are skipped.
 */

export interface WalkContext {
  db: ReencryptDatabase;
  spec: ReencryptSpec;
  ring: Keyring;
  state: ReencryptState;
  /** [lo, hi): the stage's share of rows by bucket. */
  range: [number, number];
  save(): Promise<void>;
  now(): Date;
  maxRowsPerSecond: number | null;
  onBatch?(rows: number): void;
}

const MAX_ERROR_ROWS = 20;
const SAMPLE_SIZE = 200;
const CONFLICT_RETRIES = 20;

/** Moves the stage's rows forward (rolling back: the stage's moved rows back). */
export async function walk(ctx: WalkContext, direction: 'forward' | 'back'): Promise<void> {
  const { db, spec, state } = ctx;
  const to = direction === 'forward' ? state.target : (state.previous as string);
  const started = Date.now();
  let moved = 0;
  let lastSave = Date.now();
  for (let t = state.cursor.table; t < spec.tables.length; t++) {
    const table = spec.tables[t] as TableSpec;
    let after: RowKey | null = t === state.cursor.table ? state.cursor.after : null;
    for (;;) {
      const batch = await db.readBatch(table, after, spec.batchSize);
      if (batch.length === 0) break;
      const chosen = batch.filter((row) => inStage(ctx, table, row, direction));
      const applied = await applyRows(ctx, t, table, chosen, to, direction === 'forward');
      moved += applied;
      after = (batch[batch.length - 1] as Row).key;
      state.cursor = { table: t, after };
      // A batch that changed nothing needs no checkpoint of its own (a crash re-reads it): at most one a second.
      if (applied > 0 || Date.now() - lastSave >= 1000) {
        await ctx.save();
        lastSave = Date.now();
      }
      ctx.onBatch?.(applied);
      if (ctx.maxRowsPerSecond) {
        const ahead = (moved / ctx.maxRowsPerSecond) * 1000 - (Date.now() - started);
        if (ahead > 0) await sleep(ahead);
      }
    }
  }
  await ctx.save();
}

/** Decrypts the sample of moved rows again; returns [rows checked, rows that failed]. */
export async function checkSample(ctx: Pick<WalkContext, 'db' | 'spec' | 'ring' | 'state'>): Promise<[number, number]> {
  let checked = 0;
  let failed = 0;
  for (const [t, table] of ctx.spec.tables.entries()) {
    const keys = ctx.state.stats.sample.filter(([index]) => index === t).map(([, key]) => key);
    if (keys.length === 0) continue;
    for (const row of await ctx.db.readRows(table, keys)) {
      checked++;
      if (!rowOpens(row, table, ctx.ring, ctx.spec)) failed++;
    }
  }
  return [checked, failed];
}

function inStage(ctx: WalkContext, table: TableSpec, row: Row, direction: 'forward' | 'back'): boolean {
  const [lo, hi] = ctx.range;
  const target = ctx.state.target;
  const values = Object.values(row.values).filter((v): v is string => v !== null);
  if (direction === 'forward') {
    // Every row below the stage's bound that is not done yet (a row an earlier stage could not move is retried).
    if (!values.some((v) => !underVersion(v, target))) return false;
    return bucketOf(ctx.state.seed, table.table, row.key) < hi;
  }
  if (!values.some((v) => underVersion(v, target))) return false;
  const bucket = bucketOf(ctx.state.seed, table.table, row.key);
  return bucket >= lo && bucket < hi;
}

/** Applies the rows' moves with compare-and-set; rows an application changed meanwhile are read again and retried. */
async function applyRows(ctx: WalkContext, t: number, table: TableSpec, rows: Row[], to: string, count: boolean): Promise<number> {
  const stats = ctx.state.stats;
  let pending = rows;
  let applied = 0;
  for (let attempt = 0; pending.length > 0 && attempt <= CONFLICT_RETRIES; attempt++) {
    const changes: RowChange[] = [];
    for (const row of pending) {
      const outcome = moveRow(row, table, ctx.ring, to, ctx.spec);
      if (attempt === 0 && count) stats.examined++;
      if (outcome.kind === 'change') changes.push(outcome.change);
      else if (outcome.kind === 'error' && attempt === 0 && count) {
        stats.errors++;
        if (stats.errorRows.length < MAX_ERROR_ROWS) stats.errorRows.push(`${table.table}:${String(row.key)} (${outcome.code})`);
      }
    }
    if (changes.length === 0) break;
    const result = await ctx.db.applyChanges(table, changes);
    applied += result.applied;
    const conflicted = new Set(result.conflicts.map(String));
    if (count) for (const change of changes) if (!conflicted.has(String(change.key))) addToSample(ctx, t, change.key);
    stats.conflicts += result.conflicts.length;
    // Read the application's version of each conflicted row and move that one instead.
    pending = result.conflicts.length > 0 ? await ctx.db.readRows(table, result.conflicts) : [];
  }
  if (count) stats.rows += applied;
  else stats.rolledBack += applied;
  return applied;
}

/** Reservoir sampling over the moved rows, so the SLO check sees the whole stage, not its start. */
function addToSample(ctx: WalkContext, t: number, key: RowKey): void {
  const stats = ctx.state.stats;
  const entry: [number, RowKey] = [t, typeof key === 'bigint' ? key.toString() : key];
  if (stats.sample.length < SAMPLE_SIZE) stats.sample.push(entry);
  else {
    const slot = Math.floor(Math.random() * stats.rows);
    if (slot < SAMPLE_SIZE) stats.sample[slot] = entry;
  }
}
