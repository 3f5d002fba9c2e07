import type { Logger as PinoLogger } from 'pino';
import type { Log, LogMethod } from '../log.js';
import { loadBuiltin } from '../util/builtin.js';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;
type Level = keyof typeof LEVELS;

/**
 * Structured logs go to stderr as pino JSON lines; stdout stays for results. Values are redacted
 * twice: SecretValue prints `[redacted]`, and the redact paths catch a raw string that slipped
 * through. pino is loaded on the first line actually logged, so a quiet run never pays for it.
 */
export function createLogger(level: string): Log {
  const threshold = LEVELS[level as Level] ?? LEVELS.warn;
  let pino: PinoLogger | undefined;
  const root = (): PinoLogger => (pino ??= loadPino(level));
  const make = (bindings: object[]): Log => {
    const at =
      (name: Exclude<Level, 'silent' | 'fatal'>): LogMethod =>
      (object, message) => {
        if (LEVELS[name] < threshold) return;
        const logger = bindings.reduce<PinoLogger>((l, b) => l.child(b), root());
        logger[name](object, message);
      };
    return {
      child: (b) => make([...bindings, b]),
      enabled: (name) => LEVELS[name] >= threshold,
      trace: at('trace'),
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
    };
  };
  return make([]);
}

export function resolveLogLevel(option: string | undefined, quiet: boolean, env: NodeJS.ProcessEnv): string | Error {
  const level = option ?? env.KEYSHIFT_LOG_LEVEL ?? (quiet ? 'error' : 'warn');
  return level in LEVELS ? level : new Error(`--log-level "${level}" is not a level; use one of ${Object.keys(LEVELS).join(', ')}`);
}

function loadPino(level: string): PinoLogger {
  const { createRequire } = loadBuiltin<typeof import('node:module')>('node:module');
  const pino = createRequire(import.meta.url)('pino') as typeof import('pino');
  return pino.default(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: ['value', '*.value', 'secret.value', 'env.KEYSHIFT_MASTER_KEY', 'masterKey', '*.masterKey'], censor: '[redacted]' },
    },
    pino.default.destination({ fd: 2, sync: true }),
  );
}
