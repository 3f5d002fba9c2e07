import { ExitCode, KeyshiftError } from '../errors.js';
import type { DatabaseSpec } from '../policy/reencrypt-schema.js';
import type { ReencryptDatabase } from './databases/contract.js';

/** Opens the policy's database; each driver (and its npm package) loads only here, when reencrypt runs. */
export async function openDatabase(spec: DatabaseSpec): Promise<ReencryptDatabase> {
  if (spec.type === 'sqlite') return (await import('./databases/sqlite.js')).openSqlite(spec);
  // The PostgreSQL driver (databases/postgres.ts) is built on its own branch; databases/index.ts
  // dispatches to both once they are merged.
  throw new KeyshiftError('ERR_DATABASE_DRIVER_MISSING', 'this build of keyshift has no PostgreSQL driver', { exitCode: ExitCode.usage, hint: 'use a build with src/reencrypt/databases/postgres.ts' });
}
