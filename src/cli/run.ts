import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { ExitCode, usageError } from '../errors.js';
import { exportRun, type ExportedValue } from '../engine/export-run.js';
import { withPolicies } from './commands.js';
import type { GlobalOptions, Io } from './main.js';
import { printJson } from './output.js';

/**
 * `keyshift run [names…] [--env e] -- cmd args…` and `keyshift env` (docs/cli.md#run): the selected
 * secrets' values as environment variables. `run` behaves like `doppler run` and `aws-vault exec`:
 * the child inherits stdio and the environment, gets the values only in its environment (never in
 * argv), receives the signals keyshift gets, and its exit code is keyshift's; keyshift prints nothing.
 */

// The local store's master key is keyshift's, not the application's.
const NOT_FOR_CHILD = ['KEYSHIFT_MASTER_KEY'];
// node:os is lazy in the bundle (scripts/bundle.js), which offers only its functions.
const signalNumbers = (createRequire(import.meta.url)('node:os') as typeof import('node:os')).constants.signals;
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

export async function runCommand(g: GlobalOptions, operands: string[], o: { env?: string }, argv: string[], io: Io): Promise<number> {
  const dash = argv.indexOf('--');
  const command = dash === -1 ? [] : argv.slice(dash + 1);
  if (command.length === 0) throw usageError('run needs a command after --', 'e.g. keyshift run webhook-signing-key -- node server.js');
  const names = operands.slice(0, operands.length - command.length);
  return withPolicies(g, io, async (ctx, policies) => {
    const values = await exportRun(ctx, policies, { names, env: o.env });
    const env: NodeJS.ProcessEnv = { ...io.env };
    for (const name of NOT_FOR_CHILD) delete env[name];
    // The one place values leave as text: straight into the child's environment block.
    for (const item of values) env[item.name] = item.value.reveal();
    return runChild(command, env, io);
  });
}

export async function envCommand(g: GlobalOptions, names: string[], o: { env?: string; format: string }, io: Io): Promise<number> {
  const format = g.json ? 'json' : o.format;
  return withPolicies(g, io, async (ctx, policies) => {
    const values = await exportRun(ctx, policies, { names, env: o.env });
    // Like `get`, this prints values by design (docs/cli.md#env).
    if (format === 'json') printJson(io.out, Object.fromEntries(values.map((item) => [item.name, item.value.reveal()])));
    else io.out.stdout(values.map((item) => (format === 'shell' ? shellLine(item) : dotenvLine(item))).join(''));
    return ExitCode.ok;
  });
}

/** POSIX sh: single quotes keep everything literal; a quote inside is closed, escaped, reopened. */
export function shellLine(item: Pick<ExportedValue, 'name' | 'value'>): string {
  return `export ${item.name}='${item.value.reveal().replaceAll("'", `'\\''`)}'\n`;
}

/**
 * The `dotenv` package takes single- and backtick-quoted values literally (newlines too) and
 * unescapes only \n and \r inside double quotes: the first quote the value lacks is used.
 */
export function dotenvLine(item: Pick<ExportedValue, 'name' | 'value' | 'secret'>): string {
  const text = item.value.reveal();
  for (const quote of ["'", '`']) if (!text.includes(quote)) return `${item.name}=${quote}${text}${quote}\n`;
  if (!text.includes('"') && !/\\[nr]/.test(text)) return `${item.name}="${text}"\n`;
  throw usageError(`the value of ${item.secret} contains every dotenv quote character and cannot be written as dotenv`, 'use --format json or --format shell');
}

function runChild(command: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  const [program, ...args] = command as [string, ...string[]];
  return new Promise((resolve) => {
    const child = spawn(program, args, { stdio: 'inherit', env });
    // keyshift's own handlers would exit on a signal: while the child runs, forward signals instead.
    const saved = FORWARDED.map((signal) => [signal, process.listeners(signal)] as const);
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    for (const [signal, listeners] of saved) {
      for (const listener of listeners) process.off(signal, listener);
      process.on(signal, forward);
    }
    const restore = () => {
      for (const [signal, listeners] of saved) {
        process.off(signal, forward);
        for (const listener of listeners) process.on(signal, listener);
      }
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      restore();
      // As a shell reports them: 127 not found, 126 found but not executable.
      const hint = error.code === 'ENOENT' ? 'check the command name and PATH (run it without keyshift to see)' : 'check that the command is executable (chmod +x) and that you may run it';
      io.out.stderr(`keyshift: cannot start ${program}: ${error.code ?? error.message}\n  hint: ${hint}\n`);
      resolve(error.code === 'ENOENT' ? 127 : 126);
    });
    child.once('exit', (code, signal) => {
      restore();
      resolve(code ?? 128 + (signal ? (signalNumbers[signal] ?? 0) : 0));
    });
  });
}
