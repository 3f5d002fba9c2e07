import { setTimeout as sleep } from 'node:timers/promises';
import { limiter } from '../engine/concurrency.js';
import type { ReencryptSpec } from '../policy/reencrypt-schema.js';
import type { ApplyResult, Checkpoint, ReencryptDatabase, Row, RowChange, RowKey, TableSpec } from './databases/contract.js';
import type { Keyring } from './envelope.js';
import { bucketOf, rowOpens, type RowOutcome } from './rows.js';
import type { Sealer } from './sealer.js';
import type { ReencryptState } from './checkpoint.js';

/**
 * One pass over every table, in key order from the checkpoint's cursor: the rows of a stage move to
 * the target version (or, rolling back, back to the previous one), one batch and one checkpoint at
 * a time. The database returns only the rows still to move, and each batch commits together with
 * its checkpoint; a crash repeats at most the last batch, whose rows are then already under the
 * version they move to and are skipped.
 */

export interface WalkContext {
  db: ReencryptDatabase;
  spec: ReencryptSpec;
  ring: Keyring;
  /** Where the AES work of each batch happens (inline, or in worker threads). */
  sealer: Sealer;
  state: ReencryptState;
  /** [lo, hi): the stage's share of rows by bucket. */
  range: [number, number];
  save(): Promise<void>;
  /** The state as a checkpoint, written in the same transaction as a batch. */
  checkpoint(): Checkpoint;
  now(): Date;
  maxRowsPerSecond: number | null;
  onBatch?(rows: number): void;
}

const MAX_ERROR_ROWS = 20;
const SAMPLE_SIZE = 200;
const CONFLICT_RETRIES = 20;

/** Moves the stage's rows forward (rolling back: the stage's moved rows back). */
export async function walk(ctx: WalkContext, direction: 'forward' | 'back'): Promise<void> {
  const { spec, state } = ctx;
  const db = oneAtATime(ctx.db);
  const to = direction === 'forward' ? state.target : (state.previous as string);
  const started = Date.now();
  let moved = 0;
  let lastSave = Date.now();
  for (let t = state.cursor.table; t < spec.tables.length; t++) {
    const table = spec.tables[t] as TableSpec;
    let after: RowKey | null = t === state.cursor.table ? state.cursor.after : null;
    // Forward: rows with a column not yet under the target; back: rows with a column under it;
    // of those, the stage's (the database may apply that too, and then sends only those).
    const whole = direction === 'forward' ? ctx.range[1] >= 1 : ctx.range[0] <= 0 && ctx.range[1] >= 1;
    const filter = { prefix: `ks1:${state.target}:`, starts: direction === 'back', keep: whole ? undefined : (key: RowKey) => inStage(ctx, table, key, direction) };
    // Where the last checkpoint put the cursor (the last batch handed on), and the stage's rows read since.
    let from = after;
    let chosen: Row[] = [];
    let spanStarted = Date.now();
    // The batch handed on before: its rows are sealed (in threads, with --threads) while the one
    // before it is written, and each is written in order, with its checkpoint, after the one before.
    let previous: Promise<void> | null = null;
    const finish = async (before: RowKey | null, upTo: RowKey, rows: Row[], sealing: Promise<RowOutcome[]>) => {
      const applied = await applyRows(ctx, db, { t, table, rows, to, count: direction === 'forward', from: before, after: upTo }, await sealing);
      moved += applied;
      state.cursor = { table: t, after: upTo };
      // A batch that changed nothing wrote no checkpoint (a crash re-reads it): one at most once a second.
      if (applied > 0) lastSave = Date.now();
      else if (Date.now() - lastSave >= 1000) {
        await ctx.save();
        lastSave = Date.now();
      }
      ctx.onBatch?.(applied);
      if (ctx.maxRowsPerSecond) {
        const ahead = (moved / ctx.maxRowsPerSecond) * 1000 - (Date.now() - started);
        if (ahead > 0) await sleep(ahead);
      }
    };
    const flush = async (upTo: RowKey, rows: Row[]) => {
      const sealing = ctx.sealer.move(rows, table, to);
      sealing.catch(() => {}); // awaited in finish, after the batch before is written
      const prior = previous;
      const before = from;
      previous = (async () => {
        await prior;
        await finish(before, upTo, rows, sealing);
      })();
      previous.catch(() => {}); // awaited below or by the next flush
      from = upTo;
      spanStarted = Date.now();
      // With threads, one batch is sealed while the one before it is written; inline, each batch is
      // written before the next is read (the default rate: one statement at a time, no read-ahead).
      await (ctx.sealer.threads > 0 ? prior : previous);
    };
    for (;;) {
      const batch = await db.readBatch(table, after, spec.batchSize, filter);
      if (batch.length > 0) {
        after = (batch[batch.length - 1] as Row).key;
        for (const row of batch) if (whole || inStage(ctx, table, row.key, direction)) chosen.push(row);
        // A driver that sends rows of other stages too (PostgreSQL) reads on until a whole batch of
        // the stage's rows is in hand (or a second has passed): few, full transactions.
        if (chosen.length >= spec.batchSize) {
          const rows = chosen.splice(0, spec.batchSize);
          await flush(chosen.length > 0 ? (rows[rows.length - 1] as Row).key : after, rows);
        }
        if (Date.now() - spanStarted < 1000) continue;
      }
      if (after !== from) await flush(after as RowKey, chosen);
      chosen = [];
      if (batch.length === 0) break;
    }
    await previous;
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

/** Whether a row the database selected (one still to move) belongs to the stage. Forward: every
 * row below the stage's bound (a row an earlier stage could not move is retried); back: the stage's own. */
function inStage(ctx: WalkContext, table: TableSpec, key: RowKey, direction: 'forward' | 'back'): boolean {
  const [lo, hi] = ctx.range;
  const bucket = bucketOf(ctx.state.seed, table.table, key);
  return direction === 'forward' ? bucket < hi : bucket >= lo && bucket < hi;
}

interface BatchOf {
  t: number;
  table: TableSpec;
  rows: Row[];
  to: string;
  /** Forward: counted as the stage's rows; back: as rolled back. */
  count: boolean;
  /** The cursor before and after the batch. */
  from: RowKey | null;
  after: RowKey;
}

/**
 * Applies the rows' moves with compare-and-set, each write committed with its checkpoint; rows an
 * application changed meanwhile are read again and retried. Until none is left the checkpoint keeps
 * the cursor before the batch, so a crash re-reads it and the conflicted rows are not passed over.
 */
async function applyRows(ctx: WalkContext, db: RowAccess, batch: BatchOf, sealed: RowOutcome[]): Promise<number> {
  const { t, table, to, count } = batch;
  const stats = ctx.state.stats;
  let pending = batch.rows;
  let outcomes = sealed;
  let applied = 0;
  for (let attempt = 0; pending.length > 0 && attempt <= CONFLICT_RETRIES; attempt++) {
    const changes: RowChange[] = [];
    if (attempt > 0) outcomes = await ctx.sealer.move(pending, table, to);
    for (const [i, row] of pending.entries()) {
      const outcome = outcomes[i] as RowOutcome;
      if (attempt === 0 && count) stats.examined++;
      if (outcome.kind === 'change') changes.push(outcome.change);
      else if (outcome.kind === 'error' && attempt === 0 && count) {
        stats.errors++;
        if (stats.errorRows.length < MAX_ERROR_ROWS) stats.errorRows.push(`${table.table}:${String(row.key)} (${outcome.code})`);
      }
    }
    if (changes.length === 0) break;
    const last = attempt === CONFLICT_RETRIES;
    const result = await db.applyChanges(table, changes, (outcome: ApplyResult) => {
      applied += outcome.applied;
      stats.conflicts += outcome.conflicts.length;
      if (count) {
        const conflicted = outcome.conflicts.length > 0 ? new Set(outcome.conflicts.map(String)) : null;
        for (const change of changes) {
          if (conflicted?.has(String(change.key))) continue;
          stats.rows++;
          addToSample(ctx, t, change.key);
        }
      } else stats.rolledBack += outcome.applied;
      ctx.state.cursor = { table: t, after: outcome.conflicts.length === 0 || last ? batch.after : batch.from };
      return ctx.checkpoint();
    });
    // Read the application's version of each conflicted row and move that one instead.
    pending = result.conflicts.length > 0 ? await db.readRows(table, result.conflicts) : [];
  }
  return applied;
}

type RowAccess = Pick<ReencryptDatabase, 'readBatch' | 'readRows' | 'applyChanges'>;

/**
 * The walk's reads and writes one at a time, in the order they were asked for: with a batch sealed
 * ahead, the next read never runs inside the transaction of the batch being written (PostgreSQL
 * serves both over one connection, where it would run between BEGIN and COMMIT).
 */
function oneAtATime(db: ReencryptDatabase): RowAccess {
  const turn = limiter(1);
  return {
    readBatch: (...args) => turn(() => db.readBatch(...args)),
    readRows: (...args) => turn(() => db.readRows(...args)),
    applyChanges: (...args) => turn(() => db.applyChanges(...args)),
  };
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
