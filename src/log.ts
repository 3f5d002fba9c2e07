/** The logging surface the engine and stores use (pino's, narrowed); the CLI provides it. */
export type LogMethod = (object: object, message?: string) => void;

export interface Log {
  child(bindings: object): Log;
  trace: LogMethod;
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
  /** Whether a level is logged, to skip building a costly log object (absent: assume yes). */
  enabled?(level: 'trace' | 'debug' | 'info'): boolean;
}
