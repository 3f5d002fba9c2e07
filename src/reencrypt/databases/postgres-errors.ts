import { ExitCode, KeyshiftError } from '../../errors.js';

/**
 * pg errors → one-line keyshift errors that name the server (never its password) and the fix.
 * A server that does not answer is a failure like an unreachable store (exit 1, retryable: a rerun
 * resumes from the checkpoint); a table or column the policy names but the database lacks is a
 * policy error (exit 2).
 */

const DOC = 'docs/reencrypt.md';
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

interface PgError {
  code?: string;
  message?: string;
  routine?: string;
}

export function postgresError(error: unknown, where: string, what: string): KeyshiftError {
  if (error instanceof KeyshiftError) return error;
  const e = (error ?? {}) as PgError;
  const code = e.code ?? '';
  const detail = oneLine(e.message ?? String(error));
  if (NETWORK.has(code) || /connection terminated|timeout expired|connection timeout|not queryable/i.test(detail)) {
    return new KeyshiftError('ERR_DATABASE_UNAVAILABLE', `${what}: PostgreSQL at ${where} did not answer (${code || detail})`, {
      hint: 'start the server or correct host and port in reencrypt.database.url, then rerun (the run resumes from its checkpoint)',
      retryable: true,
      cause: error,
    });
  }
  if (code === '28P01' || code === '28000' || (!code && /SASL|password/.test(detail))) {
    return new KeyshiftError('ERR_DATABASE_AUTH', `${what}: PostgreSQL at ${where} refused the login (${detail})`, {
      hint: 'give the user in reencrypt.database.url its password through PGPASSWORD or ~/.pgpass (keep it out of the policy file)',
      cause: error,
    });
  }
  if (code === '3D000') {
    return new KeyshiftError('ERR_DATABASE_NOT_FOUND', `${what}: PostgreSQL at ${where}: ${detail}`, {
      hint: 'correct the database name in reencrypt.database.url',
      exitCode: ExitCode.usage,
      cause: error,
    });
  }
  if (code === '42P01' || code === '42703' || code === '3F000') {
    return new KeyshiftError('ERR_DATABASE_SCHEMA', `${what}: PostgreSQL at ${where}: ${detail}`, {
      hint: `correct reencrypt.tables in the policy (${DOC})`,
      exitCode: ExitCode.usage,
      cause: error,
    });
  }
  if (code === '42501') {
    return new KeyshiftError('ERR_DATABASE_ACCESS_DENIED', `${what}: PostgreSQL at ${where}: ${detail}`, {
      hint: `grant the user SELECT and UPDATE on the tables and CREATE on the schema for keyshift_reencrypt (${DOC})`,
      cause: error,
    });
  }
  if (code.startsWith('08') || code === '57P01' || code === '57P03') {
    return new KeyshiftError('ERR_DATABASE_UNAVAILABLE', `${what}: PostgreSQL at ${where} dropped the connection (${code} ${detail})`, {
      hint: 'rerun when the server is back (the run resumes from its checkpoint)',
      retryable: true,
      cause: error,
    });
  }
  return new KeyshiftError('ERR_DATABASE', `${what}: PostgreSQL at ${where} failed (${code ? `${code} ` : ''}${detail})`, { cause: error });
}

export function driverMissing(error: unknown): KeyshiftError {
  return new KeyshiftError('ERR_DATABASE_DRIVER_MISSING', `the PostgreSQL driver (the pg package) could not be loaded (${oneLine(String((error as Error)?.message ?? error))})`, {
    hint: 'reinstall keyshift, or run `npm install pg` beside it',
    exitCode: ExitCode.usage,
    cause: error,
  });
}

/** The server as `postgres://host:port/db`: no user, no password, no query. Undefined if not a URL. */
export function describePostgresUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') return undefined;
  const host = parsed.hostname || parsed.searchParams.get('host') || 'localhost';
  const port = parsed.port || parsed.searchParams.get('port') || '5432';
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || parsed.searchParams.get('dbname') || '';
  return `postgres://${host.startsWith('/') ? encodeURIComponent(host) : host}:${port}/${database}`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
