import { ExitCode } from '../errors.js';
import { abortRunningHooks } from '../hooks/interrupt.js';
import { releaseHeldLocksSync } from '../util/file-lock.js';
import { printError } from './output.js';
import type { Io } from './main.js';

/** Runs a command with keyshift's handlers for the signals that end a run (SIGHUP, SIGINT, SIGQUIT, SIGTERM). */
export async function withInterrupts(io: Io, run: () => Promise<number>): Promise<number> {
  const interrupted = (signal: NodeJS.Signals, code: number) => () => {
    // Hooks run in their own process group: stop them and remove their value files; release the
    // locks this run holds (synchronously: no engine step may run after its lock is gone), then exit.
    abortRunningHooks();
    releaseHeldLocksSync();
    io.out.stderr(`\nkeyshift: interrupted (${signal}); a rerun resumes where this run stopped\n`);
    process.exit(code);
  };
  // 128 + the signal's number, as a shell reports it. SIGHUP: the terminal or SSH session closed;
  // SIGQUIT (Ctrl-\) would otherwise dump core, with the values in memory (docs/local-store.md).
  const handlers = new Map<NodeJS.Signals, () => void>(
    ([['SIGHUP', 129], ['SIGINT', 130], ['SIGQUIT', 131], ['SIGTERM', 143]] as const).map(([signal, code]) => [signal, interrupted(signal, code)]),
  );
  for (const [signal, handler] of handlers) process.once(signal, handler);
  try {
    return await run();
  } finally {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  }
}

/** A command's error, printed (as JSON too with --json); its exit code. */
export function failed(io: Io, error: unknown, json: boolean): number {
  printError(io.out, error, json);
  return (error as { exitCode?: number }).exitCode ?? ExitCode.failed;
}
