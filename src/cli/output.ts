import { writeSync } from 'node:fs';
import { diskError } from '../disk-errors.js';
import { hintOf, INTERNAL_HINT, KeyshiftError } from '../errors.js';
import { loadBuiltin } from '../util/builtin.js';

/** Everything the CLI prints goes through here, so tests can capture it and nothing else writes. */
export interface Output {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  isTTY: boolean;
}

export const processOutput: Output = {
  stdout: directWriter(1, () => process.stdout),
  stderr: directWriter(2, () => process.stderr),
  // Asked only by commands that draw progress; tty loads Node's streams, which `plan` never needs.
  get isTTY() {
    return loadBuiltin<typeof import('node:tty')>('node:tty').isatty(1);
  },
};

export function printJson(out: Output, document: unknown): void {
  out.stdout(`${JSON.stringify(document, null, 2)}\n`);
}

/**
 * A plain aligned table; `-` for empty cells. Written in pieces of about 64 KiB, not a write per
 * row: a 10,000-secret rotation prints 20,000 rows.
 */
export function printTable(out: Output, headers: string[], rows: Array<Array<string | null | undefined>>): void {
  const cells = [headers, ...rows.map((row) => row.map((cell) => (cell === null || cell === undefined || cell === '' ? '-' : cell)))];
  // A loop, not Math.max(...column): a spread of 200,000 rows would overflow the call stack.
  const widths = headers.map((_, i) => cells.reduce((width, row) => Math.max(width, (row[i] ?? '').length), 0));
  let piece = '';
  for (const row of cells) {
    piece += `${row.map((cell, i) => (i === row.length - 1 ? cell : (cell ?? '').padEnd(widths[i] ?? 0))).join('  ')}\n`;
    if (piece.length >= TABLE_PIECE) {
      out.stdout(piece);
      piece = '';
    }
  }
  if (piece) out.stdout(piece);
}

const TABLE_PIECE = 64 * 1024;

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
 * Writes straight to the file descriptor, as `--version` does: `process.stdout` and `stderr` load
 * Node's stream modules, a few milliseconds of every start (bench/issue-17.md). A descriptor that
 * would block (a non-blocking pipe whose reader is slow) hands this and all later output, in order,
 * to the stream, which queues it. `keyshift status | head -1`: once the reader has gone (EPIPE),
 * later output is dropped quietly, as Unix tools do, and the command still finishes and returns
 * its own exit code.
 */
function directWriter(fd: 1 | 2, stream: () => NodeJS.WriteStream): (text: string) => void {
  let closed = false;
  let queued: ((text: string | Buffer) => void) | null = null;
  return (text) => {
    if (closed) return;
    if (queued) return queued(text);
    const bytes = Buffer.from(text, 'utf8');
    let written = 0;
    try {
      while (written < bytes.length) written += writeSync(fd, bytes, written);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') closed = true;
      else if (code === 'EAGAIN') {
        queued = quietOnClosedPipe(stream(), () => (closed = true));
        queued(bytes.subarray(written));
      } else throw error;
    }
  };
}

function quietOnClosedPipe(stream: NodeJS.WriteStream, onClosed: () => void): (text: string | Buffer) => void {
  let closed = false;
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && !closed) throw error;
    closed = true;
    onClosed();
  });
  return (text) => {
    if (!closed) stream.write(text);
  };
}
