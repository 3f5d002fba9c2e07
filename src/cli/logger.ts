import pino, { type Logger } from 'pino';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Structured logs go to stderr as JSON lines; stdout stays for results. Values are redacted twice:
 * the SecretValue type prints `[redacted]`, and these paths catch a raw string that slipped through. */
export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: ['value', '*.value', 'secret.value', 'env.KEYSHIFT_MASTER_KEY', 'masterKey', '*.masterKey'], censor: '[redacted]' },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

export function resolveLogLevel(option: string | undefined, quiet: boolean, env: NodeJS.ProcessEnv): string | Error {
  const level = option ?? env.KEYSHIFT_LOG_LEVEL ?? (quiet ? 'error' : 'warn');
  return LEVELS.includes(level) ? level : new Error(`--log-level "${level}" is not a level; use one of ${LEVELS.join(', ')}`);
}
