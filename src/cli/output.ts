import { diskError } from '../disk-errors.js';
import { hintOf, INTERNAL_HINT, KeyshiftError } from '../errors.js';

/** Everything the CLI prints goes through here, so tests can capture it and nothing else writes. */
export interface Output {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  isTTY: boolean;
}

export const processOutput: Output = {
  stdout: quietOnClosedPipe(process.stdout),
  stderr: quietOnClosedPipe(process.stderr),
  isTTY: Boolean(process.stdout.isTTY),
};

export function printJson(out: Output, document: unknown): void {
  out.stdout(`${JSON.stringify(document, null, 2)}\n`);
}

/** A plain aligned table; `-` for empty cells. */
export function printTable(out: Output, headers: string[], rows: Array<Array<string | null | undefined>>): void {
  const cells = [headers, ...rows.map((row) => row.map((cell) => (cell === null || cell === undefined || cell === '' ? '-' : cell)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  for (const row of cells) {
    out.stdout(`${row.map((cell, i) => (i === row.length - 1 ? cell : (cell ?? '').padEnd(widths[i] ?? 0))).join('  ')}\n`);
  }
}

/** One line for the error, one for the fix. Internal errors say they are bugs. */
export function printError(out: Output, error: unknown, json: boolean): void {
  error = diskError(error) ?? error;
  if (error instanceof KeyshiftError) {
    out.stderr(`keyshift: ${error.message}\n`);
    const hint = hintOf(error);
    out.stderr(`  hint: ${hint}\n`);
    if (json) printJson(out, { error: { code: error.code, message: error.message, hint } });
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  out.stderr(`keyshift: internal error: ${message}\n  hint: ${INTERNAL_HINT}\n`);
  if (json) printJson(out, { error: { code: 'ERR_INTERNAL', message, hint: INTERNAL_HINT } });
}

export function shortTime(iso: string | null): string | null {
  return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : null;
}

/**
 * `keyshift status | head -1`: once the reader has gone (EPIPE), later output is dropped quietly,
 * as Unix tools do, and the command still finishes and returns its own exit code.
 */
function quietOnClosedPipe(stream: NodeJS.WriteStream): (text: string) => void {
  let closed = false;
  let watching = false;
  return (text) => {
    if (!watching) {
      watching = true;
      stream.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EPIPE' && !closed) throw error;
        closed = true;
      });
    }
    if (!closed) stream.write(text);
  };
}
