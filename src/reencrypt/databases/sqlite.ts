import type BetterSqlite3 from 'better-sqlite3';
import { ExitCode, KeyshiftError } from '../../errors.js';
import { acquireFileLock } from '../../util/file-lock.js';
import type { ApplyResult, Checkpoint, ReencryptDatabase, Row, RowChange, RowFilter, RowKey, RunLock, RunLockOptions, TableSpec } from './contract.js';

/**
 * The SQLite driver (better-sqlite3, an optional dependency: its native build may fail on some
 * machines, and then only `reencrypt` on SQLite is unavailable). Synchronous calls wrapped in the
 * async contract; each change set is one IMMEDIATE transaction, so an application writing to the
 * same file waits on the busy timeout instead of failing, and never sees half a batch.
 */

export const SQLITE_DRIVER_VERSION = '12.11.1';
const BUSY_TIMEOUT_MS = 10_000;
const IN_LIST_CHUNK = 500;
/** Pages of WAL between the checkpoints of keyshift's connection: 64 MB with 4 KiB pages. */
const WAL_CHECKPOINT_PAGES = 16_000;

export async function openSqlite(spec: { type: 'sqlite'; path: string }): Promise<ReencryptDatabase> {
  const Database = await loadDriver();
  let db: BetterSqlite3.Database;
  try {
    db = new Database(spec.path, { fileMustExist: true });
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // In WAL mode, NORMAL syncs at WAL checkpoints instead of every commit: still safe against a
    // crash of any process (a power loss may undo the last batches, which a rerun redoes). Each
    // checkpoint this connection runs syncs the database file: every WAL_CHECKPOINT_PAGES pages
    // instead of SQLite's 1,000: a sixteenth of the syncs, which counts on a busy disk (bench/README.md).
    if (String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal') {
      db.pragma('synchronous = NORMAL');
      db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
    }
  } catch (error) {
    throw new KeyshiftError('ERR_DATABASE', `cannot open the SQLite database ${spec.path}: ${oneLine(error)}`, {
      hint: 'check reencrypt.database.path in the policy (the file must exist and be readable and writable)',
      exitCode: ExitCode.usage,
      cause: error,
    });
  }
  return new SqliteDatabase(db, spec.path);
}

class SqliteDatabase implements ReencryptDatabase {
  readonly describe: string;
  readonly #statements = new Map<string, BetterSqlite3.Statement>();
  readonly #transactions = new Map<string, BetterSqlite3.Transaction<(changes: RowChange[], checkpoint?: (result: ApplyResult) => Checkpoint) => RowKey[]>>();

  /** The `keep` of the batch being read, which the SQL function keyshift_keep calls. */
  #keep: ((key: RowKey) => boolean) | null = null;

  readonly #path: string;

  constructor(readonly db: BetterSqlite3.Database, path: string) {
    this.describe = `sqlite:${path}`;
    this.#path = path;
    // A stage's rows chosen inside SQLite: the others are never copied into JavaScript.
    db.function('keyshift_keep', (key: unknown) => (this.#keep === null || this.#keep(key as RowKey) ? 1 : 0));
  }

  /** One run per database file, whatever the secret: SQLite has one writer at a time anyway. */
  async lockRun(_id: string, options: RunLockOptions): Promise<RunLock> {
    return acquireFileLock(`${this.#path}.keyshift-reencrypt.lock`, { ...options, what: `re-encryption of ${this.describe}` });
  }

  async ensureCheckpointTable(): Promise<void> {
    this.#run(() => this.db.exec('CREATE TABLE IF NOT EXISTS keyshift_reencrypt (id TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at TEXT NOT NULL)'));
  }

  async readCheckpoint(id: string): Promise<Checkpoint | null> {
    const row = this.#run(() => this.#prepare('SELECT id, state, updated_at FROM keyshift_reencrypt WHERE id = ?').get(id)) as { id: string; state: string; updated_at: string } | undefined;
    return row ? { id: row.id, state: row.state, updatedAt: row.updated_at } : null;
  }

  async writeCheckpoint(checkpoint: Checkpoint): Promise<void> {
    // Outside a transaction each statement commits (and syncs, synchronous=FULL) on its own.
    this.#run(() => this.#upsertCheckpoint(checkpoint));
  }

  async readBatch(table: TableSpec, after: RowKey | null, limit: number, filter?: RowFilter): Promise<Row[]> {
    const key = quote(table.key);
    const where: string[] = [];
    if (after !== null) where.push(`${key} > @after`);
    // substr of NULL is NULL, never true: a NULL column neither needs work nor holds the prefix.
    if (filter) where.push(`(${table.columns.map((c) => `substr(${quote(c)}, 1, @length) ${filter.starts ? '=' : '<>'} @prefix`).join(' OR ')})`);
    if (filter?.keep) where.push(`keyshift_keep(${key})`);
    const sql = `SELECT ${key}, ${table.columns.map(quote).join(', ')} FROM ${quoteTable(table.table)}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${key} LIMIT @limit`;
    const params: Record<string, unknown> = { limit };
    if (after !== null) params.after = after;
    if (filter) {
      params.length = filter.prefix.length;
      params.prefix = filter.prefix;
    }
    this.#keep = filter?.keep ?? null;
    let rows: unknown[][];
    try {
      rows = this.#run(() => this.#prepare(sql).raw(true).all(params)) as unknown[][];
    } finally {
      this.#keep = null;
    }
    const out = new Array<Row>(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = toRow(table, rows[i] as unknown[]);
    return out;
  }

  async readRows(table: TableSpec, keys: RowKey[]): Promise<Row[]> {
    const rows: Row[] = [];
    for (let start = 0; start < keys.length; start += IN_LIST_CHUNK) {
      const chunk = keys.slice(start, start + IN_LIST_CHUNK);
      const sql = `SELECT ${quote(table.key)}, ${table.columns.map(quote).join(', ')} FROM ${quoteTable(table.table)} WHERE ${quote(table.key)} IN (${chunk.map(() => '?').join(', ')})`;
      const raw = this.#run(() => this.db.prepare(sql).raw(true).all(...chunk)) as unknown[][];
      rows.push(...raw.map((r) => toRow(table, r)));
    }
    return rows;
  }

  async applyChanges(table: TableSpec, changes: RowChange[], checkpoint?: (result: ApplyResult) => Checkpoint): Promise<ApplyResult> {
    const conflicts = this.#run(() => this.#applyTransaction(table).immediate(changes, checkpoint));
    return { applied: changes.length - conflicts.length, conflicts };
  }

  /** One IMMEDIATE transaction per batch: every compare-and-set UPDATE, then the checkpoint. */
  #applyTransaction(table: TableSpec): BetterSqlite3.Transaction<(changes: RowChange[], checkpoint?: (result: ApplyResult) => Checkpoint) => RowKey[]> {
    // Compare-and-set: a row an application wrote since it was read keeps the application's value.
    const set = table.columns.map((c) => `${quote(c)} = ?`).join(', ');
    const same = table.columns.map((c) => `${quote(c)} IS ?`).join(' AND ');
    const sql = `UPDATE ${quoteTable(table.table)} SET ${set} WHERE ${quote(table.key)} = ? AND ${same}`;
    let apply = this.#transactions.get(sql);
    if (apply) return apply;
    const update = this.#prepare(sql);
    const columns = table.columns;
    const params = new Array<unknown>(2 * columns.length + 1);
    apply = this.db.transaction((list: RowChange[], checkpoint?: (result: ApplyResult) => Checkpoint) => {
      const conflicts: RowKey[] = [];
      for (const change of list) {
        for (let i = 0; i < columns.length; i++) {
          const column = columns[i] as string;
          const before = change.before[column] ?? null;
          params[i] = column in change.after ? (change.after[column] ?? null) : before;
          params[columns.length + 1 + i] = before;
        }
        params[columns.length] = change.key;
        if (update.run(params).changes !== 1) conflicts.push(change.key);
      }
      if (checkpoint) this.#upsertCheckpoint(checkpoint({ applied: list.length - conflicts.length, conflicts }));
      return conflicts;
    });
    this.#transactions.set(sql, apply);
    return apply;
  }

  #upsertCheckpoint(checkpoint: Checkpoint): void {
    const sql = 'INSERT INTO keyshift_reencrypt (id, state, updated_at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at';
    this.#prepare(sql).run(checkpoint.id, checkpoint.state, checkpoint.updatedAt);
  }

  async countRows(table: TableSpec): Promise<number> {
    const row = this.#run(() => this.#prepare(`SELECT count(*) AS n FROM ${quoteTable(table.table)}`).get()) as { n: number };
    return row.n;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  #prepare(sql: string): BetterSqlite3.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** SQLite errors as one line naming the database and the fix; never a stack trace. */
  #run<T>(body: () => T): T {
    try {
      return body();
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      const busy = code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');
      throw new KeyshiftError('ERR_DATABASE', `${this.describe}: ${oneLine(error)}`, {
        hint: busy
          ? 'another process held the database longer than 10s; rerun keyshift reencrypt (it resumes from its checkpoint)'
          : 'check reencrypt.tables in the policy against the database schema (table, key and column names)',
        retryable: busy,
        // A table or column the policy names but the database lacks: the policy is wrong, nothing changed.
        exitCode: /no such (table|column)/.test(String((error as Error)?.message)) ? ExitCode.usage : ExitCode.failed,
        cause: error,
      });
    }
  }
}

async function loadDriver(): Promise<typeof BetterSqlite3> {
  try {
    const module = (await import('better-sqlite3')) as { default: typeof BetterSqlite3 };
    return module.default;
  } catch (error) {
    throw new KeyshiftError('ERR_DATABASE_DRIVER_MISSING', `the SQLite driver better-sqlite3 could not be loaded (${oneLine(error)})`, {
      hint: /NODE_MODULE_VERSION/.test(String((error as Error)?.message))
        ? 'npm rebuild better-sqlite3: it was built for another Node.js version than this one'
        : `npm install better-sqlite3@${SQLITE_DRIVER_VERSION} beside keyshift (it is an optional dependency; its native build needs python3, make and a C++ compiler)`,
      exitCode: ExitCode.usage,
      cause: error,
    });
  }
}

function toRow(table: TableSpec, raw: unknown[]): Row {
  const values: Record<string, string | null> = {};
  for (let i = 0; i < table.columns.length; i++) {
    const value = raw[i + 1];
    values[table.columns[i] as string] = value === null || value === undefined ? null : typeof value === 'string' ? value : String(value);
  }
  return { key: raw[0] as RowKey, values };
}

function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}

function quoteTable(name: string): string {
  return name.split('.').map(quote).join('.');
}

function oneLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0] ?? '';
}
