import type { DatabaseSpec } from '../../policy/reencrypt-schema.js';
import type { ReencryptDatabase } from './contract.js';

/**
 * Opens the policy's database. Each driver (and its npm package) loads only here, so commands
 * other than `reencrypt` never pay for them and a missing optional driver fails only this call.
 */
export async function openDatabase(spec: DatabaseSpec): Promise<ReencryptDatabase> {
  switch (spec.type) {
    case 'sqlite':
      return (await import('./sqlite.js')).openSqlite(spec);
    case 'postgres':
      return (await import('./postgres.js')).openPostgres(spec);
  }
}
