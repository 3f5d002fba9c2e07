import { Command, CommanderError, Option } from 'commander';
import { ExitCode } from '../errors.js';
import { printError, processOutput, type Output } from './output.js';
import { packageVersion } from './version.js';
import { abortRunningHooks } from '../hooks/interrupt.js';

/**
 * The command table. It only declares commands and options; the handlers (src/cli/commands.ts) are
 * imported when a command runs, so `keyshift --version` and `--help` load almost nothing.
 */

export interface Io {
  env: NodeJS.ProcessEnv;
  cwd: string;
  out: Output;
}

export interface GlobalOptions {
  policies: string;
  evidenceDir: string;
  json: boolean;
  logLevel?: string;
  quiet: boolean;
  lockTimeout: string;
  region?: string;
  profile?: string;
  endpointUrl?: string;
}

export async function main(argv: string[], io: Io = { env: process.env, cwd: process.cwd(), out: processOutput }): Promise<number> {
  let exitCode: number = ExitCode.ok;
  let json = argv.includes('--json');
  const program = new Command('keyshift')
    .description('Rotate secrets and encryption keys from YAML policies, with overlap, fallback and audit evidence.')
    .version(packageVersion(), '-V, --version')
    .option('-p, --policies <file|dir>', 'policy file or directory', 'policies')
    .option('--evidence-dir <dir>', 'where evidence is appended', 'evidence')
    .option('--json', 'print one JSON document on stdout', false)
    .addOption(new Option('--log-level <level>', 'log level on stderr (default warn; env KEYSHIFT_LOG_LEVEL)'))
    .option('-q, --quiet', 'only errors on stderr', false)
    .option('--lock-timeout <duration>', 'how long to wait for another run holding a store', '30s')
    .option('--region <region>', 'AWS Region for AWS stores whose policy sets none (like the AWS CLI)')
    .option('--profile <name>', 'AWS profile for AWS stores whose policy sets none')
    .option('--endpoint-url <url>', 'endpoint for AWS stores whose policy sets none (e.g. a local emulator)')
    .showHelpAfterError('(run keyshift --help for usage)')
    .configureOutput({ writeOut: (s) => io.out.stdout(s), writeErr: (s) => io.out.stderr(s) })
    .exitOverride();

  const run = (handler: (commands: typeof import('./commands.js'), globals: GlobalOptions, ...args: any[]) => Promise<number>) =>
    async (...args: any[]) => {
      const command = args[args.length - 1] as Command;
      const globals = command.optsWithGlobals() as GlobalOptions;
      json = globals.json;
      exitCode = await handler(await import('./commands.js'), globals, ...args.slice(0, -1), io);
    };

  program
    .command('init [dir]')
    .description('scaffold policies/ with a working example on the local store (refuses to overwrite)')
    .action(run((c, g, dir: string | undefined, _o, io2: Io) => c.initCommand(g, dir, io2)));
  program
    .command('validate')
    .description('check every policy; errors as file:line:col: message (exit 2)')
    .action(run((c, g, _o, io2: Io) => c.validateCommand(g, io2)));
  program
    .command('schema')
    .description('print the JSON Schema of policy files (for editors)')
    .action(run((c, g, _o, io2: Io) => c.schemaCommand(g, io2)));
  program
    .command('plan [names...]')
    .description('show what `rotate` would do; changes nothing')
    .option('--all', 'every secret (the default for plan)', false)
    .option('--force', 'plan as if --force were given to rotate', false)
    .option('--env <env...>', 'only these environments')
    .option('--horizon <duration>', 'also show work that falls due within this time', '0s')
    .action(run((c, g, names: string[], o, io2: Io) => c.planCommand(g, names, o, io2)));
  program
    .command('rotate [names...]')
    .description('advance each selected secret: resume, decommission, rotate where due (or forced)')
    .option('--all', 'every secret in the policies', false)
    .option('--force', 'rotate now even if not due; retire a previous version early', false)
    .option('--dry-run', 'print the plan and change nothing', false)
    .option('--reason <text>', 'why (recorded in evidence)')
    .option('--ticket <id>', 'change ticket (recorded in evidence)')
    .option('--env <env...>', 'only these environments')
    .option('--concurrency <n>', 'secrets rotated at once', '4')
    .option('--fallback-window <duration>', 'fallback window for this run only (0 = retire the old version right after the switch)')
    .action(run((c, g, names: string[], o, io2: Io) => c.rotateCommand(g, names, o, io2)));
  program
    .command('status [names...]')
    .description('phase, versions, last rotated, next due and overdue per secret and environment')
    .option('--env <env...>', 'only these environments')
    .action(run((c, g, names: string[], o, io2: Io) => c.statusCommand(g, names, o, io2)));
  program
    .command('get <name>')
    .description('print one value (the only command that prints a secret)')
    .option('--env <env>', 'environment (default: the first in the policy)')
    .addOption(new Option('--stage <stage>', 'which version').choices(['current', 'previous', 'pending']).default('current'))
    .action(run((c, g, name: string, o, io2: Io) => c.getCommand(g, name, o, io2)));
  program
    .command('rollback <name>')
    .description('before decommission: old version back to CURRENT, new one discarded')
    .option('--env <env...>', 'only these environments')
    .option('--reason <text>', 'why (recorded in evidence)')
    .option('--ticket <id>', 'change ticket (recorded in evidence)')
    .action(run((c, g, name: string, o, io2: Io) => c.rollbackCommand(g, name, o, io2)));
  program
    .command('doctor [names...]')
    .description('find and explain stuck states (foreign AWSPENDING, stuck rotations, dead locks, evidence gaps, …); --fix repairs the safe ones')
    .option('--env <env...>', 'only these environments')
    .option('--fix', 'repair what is safe to repair, with evidence for each repair', false)
    .action(run((c, g, names: string[], o, io2: Io) => c.doctorCommand(g, names, o, io2)));
  program
    .command('run [names...]')
    .usage('[names...] [--env e] -- <cmd> [args...]')
    .description('start a command with the secrets in its environment; its exit code is keyshift\'s')
    .option('--env <env>', 'environment (default: each secret\'s first)')
    .action(run(async (_c, g, names: string[], o, io2: Io) => (await import('./run.js')).runCommand(g, names, o, argv, io2)));
  program
    .command('env [names...]')
    .description('print the secrets as run would export them (prints values, like get)')
    .option('--env <env>', 'environment (default: each secret\'s first)')
    .addOption(new Option('--format <format>', 'output format').choices(['dotenv', 'json', 'shell']).default('dotenv'))
    .action(run(async (_c, g, names: string[], o, io2: Io) => (await import('./run.js')).envCommand(g, names, o, io2)));
  program
    .command('evidence')
    .description('audit evidence')
    .command('verify')
    .description('check the evidence chain; exit 1 at the first broken record')
    .action(run((c, g, _o, io2: Io) => c.verifyCommand(g, io2)));

  const interrupted = (signal: NodeJS.Signals, code: number) => () => {
    // Hooks run in their own process group: stop them and remove their value files, then exit.
    abortRunningHooks();
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
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return ExitCode.ok;
      return ExitCode.usage;
    }
    printError(io.out, error, json);
    return (error as { exitCode?: number }).exitCode ?? ExitCode.failed;
  } finally {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  }
}
