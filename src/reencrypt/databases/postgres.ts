import { ExitCode, KeyshiftError } from '../../errors.js';
import type { ApplyResult, Checkpoint, ReencryptDatabase, Row, RowChange, RowFilter, RowKey, RunLock, RunLockOptions, TableSpec } from './contract.js';
import { lockPostgresRun } from './postgres-lock.js';
import { describePostgresUrl, driverMissing, postgresError } from './postgres-errors.js';

/**
 * The PostgreSQL driver of `keyshift reencrypt`, on `pg` (pure JavaScript, loaded only here).
 * One connection, used by one walk at a time: every operation is a single statement (its own
 * transaction) except a batch with its checkpoint (BEGIN … COMMIT). Each SQL text is prepared once
 * per connection (a named statement). Names are quoted, values are always parameters.
 */

export interface PostgresSpec {
  type: 'postgres';
  /** `postgres://user@host:port/db`; the password comes from PGPASSWORD or ~/.pgpass (pg reads both). */
  url: string;
}

/** The little of pg's Client this driver uses (pg ships no types). */
interface PgClient {
  connect(): Promise<void>;
  query(config: { text: string; values: unknown[]; rowMode?: 'array'; name?: string }): Promise<{ rows: unknown[]; rowCount: number | null }>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): void;
}
type PgModule = { Client: new (config: object) => PgClient };

const CONNECT_TIMEOUT_MS = 10_000;
const UPSERT_CHECKPOINT =
  'INSERT INTO keyshift_reencrypt (id, state, updated_at) VALUES ($1, $2, $3) ' +
  'ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at';
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export async function openPostgres(spec: PostgresSpec): Promise<ReencryptDatabase> {
  const describe = describePostgresUrl(spec.url);
  if (describe === undefined) {
    // The URL is not echoed: it may hold a password.
    throw new KeyshiftError('ERR_POLICY_INVALID', 'reencrypt.database.url is not a postgres:// URL', {
      hint: 'write it as postgres://user@host:5432/database (the password in PGPASSWORD)',
      exitCode: ExitCode.usage,
    });
  }
  let pg: PgModule;
  try {
    const loaded = (await import('pg')) as { default?: PgModule } & Partial<PgModule>;
    pg = (loaded.default ?? loaded) as PgModule;
  } catch (error) {
    throw driverMissing(error);
  }
  const client = new pg.Client({ connectionString: spec.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, application_name: 'keyshift-reencrypt' });
  // A server that goes away between two queries: the next query fails with its own error.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw postgresError(error, describe, 'connecting');
  }
  return new PostgresDatabase(client, describe);
}

class PostgresDatabase implements ReencryptDatabase {
  readonly #client: PgClient;
  readonly #keyTypes = new Map<string, string>();
  /** SQL → the name of its prepared statement on this connection (parsed and planned once). */
  readonly #prepared = new Map<string, string>();

  constructor(client: PgClient, readonly describe: string) {
    this.#client = client;
  }

  async ensureCheckpointTable(): Promise<void> {
    // Looked up first: CREATE … IF NOT EXISTS needs CREATE on the schema even when the table
    // exists, and a DBA may have created it for a user without that right.
    const { rows } = await this.#query("SELECT to_regclass('keyshift_reencrypt') IS NOT NULL", [], 'looking for keyshift_reencrypt');
    if (rows[0]?.[0] === true) return;
    const sql = 'CREATE TABLE IF NOT EXISTS keyshift_reencrypt (id text PRIMARY KEY, state text NOT NULL, updated_at text NOT NULL)';
    try {
      await this.#query(sql, [], 'creating keyshift_reencrypt');
    } catch (error) {
      // Two runs creating it at once: the loser sees a duplicate catalog row; the table exists.
      if (!/duplicate key|already exists/.test((error as Error).message)) throw error;
    }
  }

  async readCheckpoint(id: string): Promise<Checkpoint | null> {
    const { rows } = await this.#query('SELECT id, state, updated_at FROM keyshift_reencrypt WHERE id = $1', [id], 'reading checkpoint');
    const row = rows[0];
    return row ? { id: String(row[0]), state: String(row[1]), updatedAt: String(row[2]) } : null;
  }

  async writeCheckpoint(checkpoint: Checkpoint): Promise<void> {
    await this.#query(UPSERT_CHECKPOINT, [checkpoint.id, checkpoint.state, checkpoint.updatedAt], 'writing checkpoint');
  }

  async readBatch(table: TableSpec, after: RowKey | null, limit: number, filter?: RowFilter): Promise<Row[]> {
    const key = quoteName(table.key);
    const values: unknown[] = [limit];
    const where: string[] = [];
    if (after !== null) where.push(`${key} > $${values.push(keyParam(after))}`);
    if (filter) {
      // left() of NULL is NULL, never true: a NULL column neither needs work nor holds the prefix.
      const length = values.push(filter.prefix.length);
      const prefix = values.push(filter.prefix);
      where.push(`(${table.columns.map((c) => `left(${quoteName(c)}, $${length}::int) ${filter.starts ? '=' : '<>'} $${prefix}::text`).join(' OR ')})`);
    }
    const sql = `SELECT ${key}, ${table.columns.map(quoteName).join(', ')} FROM ${quoteTable(table.table)}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${key} LIMIT $1`;
    const { rows } = await this.#query(sql, values, `reading ${table.table}`);
    const out = new Array<Row>(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = toRow(rows[i] as unknown[], table);
    return out;
  }

  async readRows(table: TableSpec, keys: RowKey[]): Promise<Row[]> {
    if (keys.length === 0) return [];
    const key = quoteName(table.key);
    const type = await this.#keyType(table);
    const sql = `SELECT ${key}, ${table.columns.map(quoteName).join(', ')} FROM ${quoteTable(table.table)} WHERE ${key} = ANY($1::${type}[])`;
    const { rows } = await this.#query(sql, [keys.map(keyParam)], `reading ${table.table}`);
    return rows.map((row) => toRow(row, table));
  }

  /**
   * One UPDATE … FROM unnest(arrays) per batch: a fixed number of parameters whatever the batch
   * size, one round trip, atomic. The WHERE compares every column with its old ciphertext
   * (IS NOT DISTINCT FROM, so NULL matches NULL); under READ COMMITTED PostgreSQL re-checks it
   * against a row another transaction changed meanwhile, so an application's write is never
   * overwritten: that row is simply not in RETURNING.
   */
  async applyChanges(table: TableSpec, changes: RowChange[], checkpoint?: (result: ApplyResult) => Checkpoint): Promise<ApplyResult> {
    if (changes.length === 0 && !checkpoint) return { applied: 0, conflicts: [] };
    const type = await this.#keyType(table);
    const key = quoteName(table.key);
    const source = ['k', ...table.columns.flatMap((_, i) => [`b${i}`, `a${i}`])];
    const arrays = [`$1::${type}[]`, ...table.columns.flatMap((_, i) => [`$${2 * i + 2}::text[]`, `$${2 * i + 3}::text[]`])];
    const sql =
      `UPDATE ${quoteTable(table.table)} AS t SET ${table.columns.map((c, i) => `${quoteName(c)} = v.a${i}`).join(', ')} ` +
      `FROM unnest(${arrays.join(', ')}) AS v(${source.join(', ')}) ` +
      `WHERE t.${key} = v.k AND ${table.columns.map((c, i) => `t.${quoteName(c)} IS NOT DISTINCT FROM v.b${i}`).join(' AND ')} ` +
      `RETURNING t.${key}`;
    const values: unknown[] = [changes.map((change) => keyParam(change.key))];
    for (const column of table.columns) {
      values.push(changes.map((change) => change.before[column] ?? null));
      values.push(changes.map((change) => (Object.hasOwn(change.after, column) ? change.after[column] : change.before[column]) ?? null));
    }
    const update = async (): Promise<ApplyResult> => {
      const { rows } = await this.#query(sql, values, `updating ${table.table}`);
      const updated = new Set(rows.map((row) => String(row[0])));
      return { applied: rows.length, conflicts: changes.filter((change) => !updated.has(String(change.key))).map((change) => change.key) };
    };
    if (!checkpoint) return update();
    // The batch and its checkpoint in one transaction: a crash keeps both or neither.
    await this.#query('BEGIN', [], 'starting a batch');
    try {
      const result = await update();
      const next = checkpoint(result);
      await this.#query(UPSERT_CHECKPOINT, [next.id, next.state, next.updatedAt], 'writing checkpoint');
      await this.#query('COMMIT', [], 'committing a batch');
      return result;
    } catch (error) {
      await this.#client.query({ text: 'ROLLBACK', values: [] }).catch(() => {});
      throw error;
    }
  }

  async lockRun(id: string, options: RunLockOptions): Promise<RunLock> {
    return lockPostgresRun((sql, values, what) => this.#query(sql, values, what), this.describe, id, options);
  }

  async countRows(table: TableSpec): Promise<number> {
    const { rows } = await this.#query(`SELECT count(*) FROM ${quoteTable(table.table)}`, [], `counting ${table.table}`);
    return Number(rows[0]?.[0] ?? 0);
  }

  async close(): Promise<void> {
    await this.#client.end().catch(() => {});
  }

  /** The key column's type (`bigint`, `text`, `uuid`…), so key arrays bind with the index usable. */
  async #keyType(table: TableSpec): Promise<string> {
    const cacheKey = `${table.table}.${table.key}`;
    const known = this.#keyTypes.get(cacheKey);
    if (known) return known;
    const sql =
      'SELECT format_type(a.atttypid, NULL) AS type FROM pg_attribute a ' +
      'WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped';
    const { rows } = await this.#query(sql, [quoteTable(table.table), table.key], `reading ${table.table}'s key type`);
    const type = rows[0]?.[0];
    if (typeof type !== 'string') {
      throw new KeyshiftError('ERR_DATABASE_SCHEMA', `PostgreSQL at ${this.describe} has no table ${table.table} with a column ${table.key}`, {
        hint: 'correct reencrypt.tables in the policy (names are case-sensitive, as written)',
        exitCode: ExitCode.usage,
      });
    }
    this.#keyTypes.set(cacheKey, type);
    return type;
  }

  #statementName(sql: string): string {
    let name = this.#prepared.get(sql);
    if (name === undefined) {
      name = `keyshift_${this.#prepared.size + 1}`;
      this.#prepared.set(sql, name);
    }
    return name;
  }

  /** Rows as arrays (a column named like another's alias cannot shadow it). */
  async #query(sql: string, values: unknown[], what: string): Promise<{ rows: unknown[][] }> {
    try {
      return (await this.#client.query({ text: sql, values, rowMode: 'array', name: this.#statementName(sql) })) as { rows: unknown[][] };
    } catch (error) {
      throw postgresError(error, this.describe, what);
    }
  }
}

/** `"name"`; the policy schema already allows only plain names, this refuses anything else. */
function quoteName(name: string): string {
  if (!NAME.test(name)) {
    throw new KeyshiftError('ERR_POLICY_INVALID', `reencrypt: ${JSON.stringify(name)} is not a plain SQL name`, {
      hint: 'use letters, digits and _ (schema.table for a table)',
      exitCode: ExitCode.usage,
    });
  }
  return `"${name}"`;
}

/** `"table"` or `"schema"."table"`. */
function quoteTable(name: string): string {
  const parts = name.split('.');
  if (parts.length > 2) return quoteName(name); // refused with the whole name in the message
  return parts.map(quoteName).join('.');
}

/** pg binds a bigint as text; int8 keys come back as strings and go out the same way. */
function keyParam(key: RowKey): string | number {
  return typeof key === 'bigint' ? key.toString() : key;
}

/** A row selected as [key, ...columns]. */
function toRow(row: unknown[], table: TableSpec): Row {
  const values: Record<string, string | null> = {};
  for (let i = 0; i < table.columns.length; i++) {
    const value = row[i + 1];
    values[table.columns[i] as string] = value === null || value === undefined ? null : typeof value === 'string' ? value : String(value);
  }
  return { key: row[0] as RowKey, values };
}
