/** Exit codes of the v1 contract (docs/cli.md). */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  blocked: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface KeyshiftErrorOptions {
  hint?: string;
  exitCode?: ExitCode;
  retryable?: boolean;
  cause?: unknown;
}

/**
 * The one base error. `code` is stable (scripts and evidence may match on it), `message` is one
 * line naming what went wrong, `hint` tells the user the fix. Never put a secret value in either.
 */
export class KeyshiftError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: ExitCode;
  readonly retryable: boolean;

  constructor(code: string, message: string, options: KeyshiftErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KeyshiftError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? ExitCode.failed;
    this.retryable = options.retryable ?? false;
  }
}

export const usageError = (message: string, hint?: string): KeyshiftError =>
  new KeyshiftError('ERR_USAGE', message, { hint, exitCode: ExitCode.usage });

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
