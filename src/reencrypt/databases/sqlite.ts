import type BetterSqlite3 from 'better-sqlite3';
import { ExitCode, KeyshiftError } from '../../errors.js';
import { acquireFileLock } from '../../util/file-lock.js';
import type { Checkpoint, ReencryptDatabase, Row, RowChange, RowKey, RunLock, RunLockOptions, TableSpec } from './contract.js';

/**
 * The SQLite driver (better-sqlite3, an optional dependency: its native build may fail on some
 * machines, and then only `reencrypt` on SQLite is unavailable). Synchronous calls wrapped in the
 * async contract; each change set is one IMMEDIATE transaction, so an application writing to the
 * same file waits on the busy timeout instead of failing, and never sees half a batch.
 */

export const SQLITE_DRIVER_VERSION = '12.11.1';
const BUSY_TIMEOUT_MS = 10_000;
const IN_LIST_CHUNK = 500;

export async function openSqlite(spec: { type: 'sqlite'; path: string }): Promise<ReencryptDatabase> {
  const Database = await loadDriver();
  let db: BetterSqlite3.Database;
  try {
    db = new Database(spec.path, { fileMustExist: true });
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // In WAL mode, NORMAL syncs at WAL checkpoints instead of every commit: still safe against a
    // crash of any process (a power loss may undo the last batches, which a rerun redoes).
    if (String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal') db.pragma('synchronous = NORMAL');
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

  readonly #path: string;

  constructor(readonly db: BetterSqlite3.Database, path: string) {
    this.describe = `sqlite:${path}`;
    this.#path = path;
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
    const sql = 'INSERT INTO keyshift_reencrypt (id, state, updated_at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at';
    this.#run(() => this.#prepare(sql).run(checkpoint.id, checkpoint.state, checkpoint.updatedAt));
  }

  async readBatch(table: TableSpec, after: RowKey | null, limit: number): Promise<Row[]> {
    const select = `SELECT ${quote(table.key)}, ${table.columns.map(quote).join(', ')} FROM ${quoteTable(table.table)}`;
    const order = `ORDER BY ${quote(table.key)} LIMIT ?`;
    const rows = this.#run(() =>
      after === null ? this.#prepare(`${select} ${order}`).raw(true).all(limit) : this.#prepare(`${select} WHERE ${quote(table.key)} > ? ${order}`).raw(true).all(after, limit),
    ) as unknown[][];
    return rows.map((raw) => toRow(table, raw));
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

  async applyChanges(table: TableSpec, changes: RowChange[]): Promise<{ applied: number; conflicts: RowKey[] }> {
    // Compare-and-set: a row an application wrote since it was read keeps the application's value.
    const set = table.columns.map((c) => `${quote(c)} = ?`).join(', ');
    const same = table.columns.map((c) => `${quote(c)} IS ?`).join(' AND ');
    const update = this.#prepare(`UPDATE ${quoteTable(table.table)} SET ${set} WHERE ${quote(table.key)} = ? AND ${same}`);
    const apply = this.db.transaction((list: RowChange[]) => {
      const conflicts: RowKey[] = [];
      for (const change of list) {
        const after = table.columns.map((c) => (c in change.after ? change.after[c] : change.before[c]) ?? null);
        const before = table.columns.map((c) => change.before[c] ?? null);
        if (update.run(...after, change.key, ...before).changes !== 1) conflicts.push(change.key);
      }
      return conflicts;
    });
    const conflicts = this.#run(() => apply.immediate(changes));
    return { applied: changes.length - conflicts.length, conflicts };
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
  table.columns.forEach((column, i) => {
    const value = raw[i + 1];
    values[column] = value === null || value === undefined ? null : String(value);
  });
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
