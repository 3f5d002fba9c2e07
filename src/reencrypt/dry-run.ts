import type { EngineContext } from '../engine/context.js';
import type { ReencryptSpec } from '../policy/reencrypt-schema.js';
import type { SecretPolicy } from '../policy/types.js';
import { StoreRegistry } from '../stores/registry.js';
import type { ReencryptDatabase, RowKey } from './databases/contract.js';
import { versionOf } from './envelope.js';
import { loadKeys } from './keys.js';
import { openDatabase } from './databases/index.js';
import { moveRow, needsWork } from './rows.js';
import { selectTarget, stageNames } from './run.js';

/** `reencrypt --dry-run`: rows per key version in each table and an estimate of the time. Changes nothing. */

export interface DryRunReport {
  secret: string;
  environment: string;
  database: string;
  toVersion: string;
  tables: Array<{ table: string; rows: number; rowsToReencrypt: number; versions: Record<string, number> }>;
  rowsToReencrypt: number;
  estimatedSeconds: number;
  observeGates: number;
  observeSeconds: number;
}

export async function reencryptDryRun(ctx: EngineContext, policies: SecretPolicy[], options: { name: string; env?: string; maxRowsPerSecond: number | null }): Promise<DryRunReport> {
  const { policy, environment } = selectTarget(policies, options.name, options.env);
  const spec = policy.reencrypt as ReencryptSpec;
  const stores = new StoreRegistry(ctx);
  let db: ReencryptDatabase | null = null;
  try {
    const store = await stores.get(environment.store);
    const keys = await loadKeys(policy, environment, store, { policies, stores, env: ctx.env, aws: ctx.aws, logger: ctx.logger });
    db = await openDatabase(spec.database);
    const tables: DryRunReport['tables'] = [];
    let perRowMs = 0;
    for (const table of spec.tables) {
      const versions: Record<string, number> = {};
      let rows = 0;
      let todo = 0;
      let after: RowKey | null = null;
      for (;;) {
        const batch = await db.readBatch(table, after, spec.batchSize);
        if (batch.length === 0) break;
        for (const row of batch) {
          rows++;
          const version = Object.values(row.values).map((v) => (v === null ? null : (versionOf(v) ?? 'not ks1'))).find((v) => v !== null && v !== keys.current) ?? (Object.values(row.values).some((v) => v !== null) ? keys.current : 'all NULL');
          versions[version] = (versions[version] ?? 0) + 1;
          if (needsWork(row, keys.current)) todo++;
        }
        // The crypto of one batch, timed without writing: the estimate's rate.
        if (perRowMs === 0) {
          const started = performance.now();
          for (const row of batch) moveRow(row, table, keys.ring, keys.current, spec);
          perRowMs = (performance.now() - started) / batch.length;
        }
        after = batch[batch.length - 1]?.key ?? null;
      }
      tables.push({ table: table.table, rows, rowsToReencrypt: todo, versions });
    }
    const rowsToReencrypt = tables.reduce((n, t) => n + t.rowsToReencrypt, 0);
    // Writes and the re-reads of each stage cost about as much again as the crypto.
    let seconds = (rowsToReencrypt * perRowMs * 2) / 1000;
    if (options.maxRowsPerSecond) seconds = Math.max(seconds, rowsToReencrypt / options.maxRowsPerSecond);
    const observeGates = rowsToReencrypt > 0 ? stageNames(spec.stages).length - 1 : 0;
    return { secret: policy.name, environment: environment.name, database: db.describe, toVersion: keys.current, tables, rowsToReencrypt, estimatedSeconds: Math.ceil(seconds), observeGates, observeSeconds: (observeGates * spec.observeMs) / 1000 };
  } finally {
    await db?.close();
    await stores.closeAll();
  }
}
