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

export const INTERNAL_HINT = 'this is a bug in keyshift; rerun with --log-level debug and report it';

/** General fixes by code, for errors raised without a hint of their own (a command store's reply, a plugin's error). */
const GENERAL_HINTS: Array<[RegExp, string]> = [
  [/^ERR_USAGE$/, 'run keyshift <command> --help for its arguments and options'],
  [/^ERR_STORE_ACCESS_DENIED$/, 'give the identity keyshift runs as access to this store, then rerun: a rerun resumes where this run stopped'],
  [/^ERR_STORE_(UNAVAILABLE|THROTTLED|TIMEOUT)$/, 'rerun later to resume: every step is safe to repeat'],
  [/^ERR_(STORE_NOT_FOUND|VERSION_NOT_FOUND)$/, 'check the store settings of this secret in the policy (path, key or name), then rerun'],
  [/^ERR_INTERNAL$/, INTERNAL_HINT],
];

/**
 * The fix shown with an error: its own hint, else a general one for its code. Every
 * `error: {code, message, hint}` that keyshift prints has one (DESIGN v2, failure isolation).
 */
export function hintOf(error: { code: string; hint?: string | undefined }): string {
  if (error.hint) return error.hint;
  const general = GENERAL_HINTS.find(([pattern]) => pattern.test(error.code));
  return general ? general[1] : 'fix what the message names, then rerun: a rerun resumes where this run stopped (keyshift doctor explains stuck states)';
}
