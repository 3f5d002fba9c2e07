import { setTimeout as sleep } from 'node:timers/promises';
import { ExitCode, KeyshiftError } from '../../errors.js';
import type { RunLock, RunLockOptions } from './contract.js';

/**
 * The run lock of `reencrypt` on PostgreSQL: a session advisory lock on a hash of the checkpoint
 * table's schema and the checkpoint id (`<secret>/<environment>`). The server holds it for the
 * connection, so it dies with the holder: a `kill -9` closes the socket at once, and a lost machine
 * is found by the TCP keepalives set here (about a minute instead of the kernel's two hours). The
 * holder names itself in `application_name`, which a blocked run reads from pg_stat_activity.
 */

type Query = (sql: string, values: unknown[], what: string) => Promise<{ rows: unknown[][] }>;

/** The lock's key, computed by the server: `current_schema()` is where keyshift_reencrypt lives
 * (NULL when no schema on the search_path exists: creating the table then names that error). */
const KEY = "hashtextextended('keyshift-reencrypt/' || coalesce(current_schema(), '') || '/' || $1, 0)";
/** The server's keepalive probes on this session: 30 s idle, then 3 probes 10 s apart. */
const KEEPALIVES = "SELECT set_config('tcp_keepalives_idle', '30', false), set_config('tcp_keepalives_interval', '10', false), set_config('tcp_keepalives_count', '3', false)";
/** application_name holds at most 63 bytes. */
const MAX_NAME = 63;

export async function lockPostgresRun(query: Query, describe: string, id: string, options: RunLockOptions): Promise<RunLock> {
  const what = `re-encryption of ${id} in ${describe}`;
  const deadline = Date.now() + options.waitMs;
  let delay = 50;
  for (;;) {
    const { rows } = await query(`SELECT pg_try_advisory_lock(${KEY})`, [id], `locking the ${what}`);
    if (rows[0]?.[0] === true) break;
    if (Date.now() >= deadline) throw await lockedError(query, what, id);
    await sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
    delay = Math.min(delay * 2, 500);
  }
  await query(KEEPALIVES, [], 'setting TCP keepalives');
  await query("SELECT set_config('application_name', $1, false)", [truncate(options.owner)], 'naming the session');
  return {
    async release() {
      // A connection already gone has released it.
      await query(`SELECT pg_advisory_unlock(${KEY})`, [id], `unlocking the ${what}`).catch(() => undefined);
    },
  };
}

/** ERR_LOCKED naming the session that holds the lock (as far as the server shows it to this user). */
async function lockedError(query: Query, what: string, id: string): Promise<KeyshiftError> {
  const sql =
    'SELECT a.application_name, a.pid, host(a.client_addr), a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid ' +
    `WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) ` +
    `AND l.classid::bigint = ((${KEY}) >> 32) & 4294967295 AND l.objid::bigint = (${KEY}) & 4294967295`;
  const { rows } = await query(sql, [id], `finding who holds the ${what}`).catch(() => ({ rows: [] as unknown[][] }));
  const [name, pid, client, since] = rows[0] ?? [];
  const holder = typeof name === 'string' && name !== '' ? name : 'another session';
  const details = [pid ? `server pid ${String(pid)}` : null, client ? `from ${String(client)}` : null, since ? `connected since ${new Date(since as string).toISOString()}` : null].filter(Boolean);
  return new KeyshiftError('ERR_LOCKED', `${what} is locked by ${holder}${details.length > 0 ? ` (${details.join(', ')})` : ''}`, {
    exitCode: ExitCode.blocked,
    retryable: true,
    hint: 'wait for that run to finish, or raise --lock-timeout; the lock ends with its holder\'s connection (a killed run at once, a lost machine within about a minute); a live holder keeps it: stop that run (or pg_terminate_backend its server pid) if it hangs',
  });
}

function truncate(text: string): string {
  let out = text;
  while (Buffer.byteLength(out) > MAX_NAME) out = out.slice(0, -1);
  return out;
}
