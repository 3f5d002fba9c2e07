/**
 * What `keyshift reencrypt` needs from a database (docs/reencrypt.md). One file per driver beside
 * this one (sqlite.ts, postgres.ts); each loads its driver only when `reencrypt` runs. Nothing here
 * knows about keys or the ks1 format: rows come and go as text, the engine decides what to change.
 */

/** A primary-key value as the driver returns it (an int8 comes back as a string from pg). */
export type RowKey = string | number | bigint;

/** One table of `reencrypt.tables` in a policy. Names are checked by the policy schema
 * (`^[A-Za-z_][A-Za-z0-9_]*$`, optionally `schema.table`) and quoted by each driver. */
export interface TableSpec {
  table: string;
  /** The primary-key column: batches walk it in order (keyset pagination, never OFFSET). */
  key: string;
  columns: string[];
}

/** A row's encrypted columns; null where the column is NULL (left alone). */
export interface Row {
  key: RowKey;
  values: Record<string, string | null>;
}

/** A compare-and-set change of one row: applied only if every column still holds `before`. */
export interface RowChange {
  key: RowKey;
  before: Record<string, string | null>;
  after: Record<string, string | null>;
}

/** The progress of one re-encryption, kept in the database (table `keyshift_reencrypt`) so that
 * another machine resumes where a crashed run stopped. `state` is the engine's JSON. */
export interface Checkpoint {
  id: string;
  state: string;
  updatedAt: string;
}

/** Who asks for the run lock and how long it waits for a live holder. */
export interface RunLockOptions {
  /** Named to a blocked run: `keyshift reencrypt <secret> (<operator>)`. */
  owner: string;
  /** How long to wait for a live holder (`--lock-timeout`) before ERR_LOCKED, exit 3. */
  waitMs: number;
}

export interface RunLock {
  release(): Promise<void>;
}

/** Which rows a batch returns: with `starts: false` the rows with some non-NULL column that does
 * not start with `prefix` (rows still to move), with `true` those with some column that does. */
export interface RowFilter {
  prefix: string;
  starts: boolean;
  /** The rows the caller wants among those (a stage's share, by key). A driver that can run it
   * inside the database (SQLite: a function on keyshift's connection) sends only those; the
   * caller applies it again either way, so another driver may ignore it. */
  keep?: (key: RowKey) => boolean;
}

export interface ApplyResult {
  applied: number;
  conflicts: RowKey[];
}

export interface ReencryptDatabase {
  /** What `--dry-run` and errors name: `sqlite:/path/app.db` or `postgres://host:port/db` (never a password). */
  readonly describe: string;
  /** Creates `keyshift_reencrypt` when missing (id text primary key, state text, updated_at text). */
  ensureCheckpointTable(): Promise<void>;
  readCheckpoint(id: string): Promise<Checkpoint | null>;
  /** Writes the checkpoint durably (committed before it returns). */
  writeCheckpoint(checkpoint: Checkpoint): Promise<void>;
  /** Up to `limit` rows with key > `after` (all rows when null), in key order; with `filter`, only
   * the rows it selects (the database skips the others, which are never sent). */
  readBatch(table: TableSpec, after: RowKey | null, limit: number, filter?: RowFilter): Promise<Row[]>;
  /** The rows with these keys (a random sample, a canary set), in any order; missing keys are absent. */
  readRows(table: TableSpec, keys: RowKey[]): Promise<Row[]>;
  /** Applies the changes in one transaction; a row whose columns no longer equal `before` (an
   * application wrote it meanwhile) is left untouched and its key returned, to be retried. With
   * `checkpoint`, the checkpoint it returns for the outcome is written in the same transaction: the
   * batch and its checkpoint commit together or not at all. */
  applyChanges(table: TableSpec, changes: RowChange[], checkpoint?: (result: ApplyResult) => Checkpoint): Promise<ApplyResult>;
  /**
   * One `reencrypt` (or `rollback`'s revert) at a time for checkpoint `id`, across machines. A live
   * holder makes the caller wait `waitMs`, then ERR_LOCKED (exit 3) naming the holder. A dead
   * holder's lock never outlives it. sqlite: a lock file beside the database (one run per file),
   * a dead pid's taken over at once; postgres: a session advisory lock, which the server drops with
   * the holder's connection, so every write of the run must go over this same connection.
   */
  lockRun(id: string, options: RunLockOptions): Promise<RunLock>;
  /** The number of rows in the table. */
  countRows(table: TableSpec): Promise<number>;
  close(): Promise<void>;
}
