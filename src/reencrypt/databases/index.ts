import type { ReencryptDatabase } from './contract.js';
import type { PostgresSpec } from './postgres.js';

/** `reencrypt.database` in a policy: an embedded SQLite file or a PostgreSQL server. */
export type DatabaseSpec = { type: 'sqlite'; path: string } | PostgresSpec;

/**
 * Opens the policy's database. Each driver (and its npm package) loads only here, so commands
 * other than `reencrypt` never pay for them and a missing optional driver fails only this call.
 */
export async function openDatabase(spec: DatabaseSpec): Promise<ReencryptDatabase> {
  switch (spec.type) {
    case 'sqlite': {
      // sqlite.ts is written on the reencrypt branch; the ignore goes once both are merged.
      // @ts-ignore TS2307 until src/reencrypt/databases/sqlite.ts exists
      const { openSqlite } = (await import('./sqlite.js')) as { openSqlite: (spec: DatabaseSpec) => Promise<ReencryptDatabase> };
      return openSqlite(spec);
    }
    case 'postgres': {
      const { openPostgres } = await import('./postgres.js');
      return openPostgres(spec);
    }
  }
}
