import type { ReencryptSpec } from '../policy/reencrypt-schema.js';
import type { RowKey } from './databases/contract.js';
import { openDatabase } from './databases/index.js';
import { underVersion } from './rows.js';

/**
 * The built-in decommission check of a secret with `reencrypt:`: how many rows still hold a field
 * under the version about to be retired. The engine holds the decommission while this is not 0.
 */
export async function rowsUnderVersion(spec: ReencryptSpec, versionId: string): Promise<{ rows: number; database: string }> {
  const db = await openDatabase(spec.database);
  try {
    let rows = 0;
    for (const table of spec.tables) {
      let after: RowKey | null = null;
      for (;;) {
        const batch = await db.readBatch(table, after, 5000);
        if (batch.length === 0) break;
        for (const row of batch) if (Object.values(row.values).some((v) => v !== null && underVersion(v, versionId))) rows++;
        after = batch[batch.length - 1]?.key ?? null;
      }
    }
    return { rows, database: db.describe };
  } finally {
    await db.close();
  }
}
