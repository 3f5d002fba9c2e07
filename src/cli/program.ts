import { Command, CommanderError, Option } from 'commander';
import { ExitCode, usageError } from '../errors.js';
import { printError, printJson } from './output.js';
import { packageVersion } from './version.js';
import { examplesHelp } from './help-examples.js';
import { registerEvidenceCommands, registerReportCommands } from './report.js';
import { registerReencryptCommand } from './reencrypt.js';
import { commanderOption, envOption } from './options.js';
import { COMMANDS, DIRECT_COMMANDS, GLOBAL_OPTIONS, type DirectCommand, type TopLevelCommand } from './command-table.js';
import { failed, withInterrupts } from './guard.js';
import type { GlobalOptions, Io } from './main.js';

/**
 * The commander program: every command and option, with help, suggestions and usage errors. It
 * only declares them; the handlers (src/cli/commands.ts, change-commands.ts, evidence-commands.ts,
 * …) are imported when a command runs. main.ts runs the command lines direct.ts takes without it.
 */
export async function runProgram(argv: string[], io: Io): Promise<number> {
  let exitCode: number = ExitCode.ok;
  let json = argv.includes('--json');
  const program = new Command('keyshift')
    .description('Rotate secrets and encryption keys from YAML policies, with overlap, fallback and audit evidence.')
    .version(packageVersion(), '-V, --version')
    // Parse errors are printed by printError below, like every other error (and as JSON with --json).
    .configureOutput({ writeOut: (s) => io.out.stdout(s), writeErr: (s) => io.out.stderr(s), outputError: () => undefined })
    .configureHelp({ showGlobalOptions: true })
    .exitOverride();
  for (const spec of GLOBAL_OPTIONS) program.addOption(commanderOption(spec));
  // Only the command being run is declared: each declaration builds its options and help text
  // (about half a millisecond of a warm `plan`). All of them for help, an unknown word or none.
  const only = commandToRun(program, argv.slice(2));
  const declares = (name: TopLevelCommand) => only === null || only === name;
  const done = (code: number, asJson: boolean) => {
    exitCode = code;
    json = asJson;
  };

  const run = (handler: (commands: typeof import('./commands.js'), globals: GlobalOptions, ...args: any[]) => Promise<number>) =>
    async (...args: any[]) => {
      const command = args[args.length - 1] as Command;
      const globals = command.optsWithGlobals() as GlobalOptions;
      json = globals.json;
      exitCode = await handler(await import('./commands.js'), globals, ...args.slice(0, -1), io);
    };
  // A command of command-table.ts, declared from its entry there.
  const declareDirect = (name: DirectCommand) => {
    if (!declares(name)) return;
    const spec = DIRECT_COMMANDS[name];
    const command = program.command(spec.args ? `${name} ${spec.args}` : name).description(spec.description);
    for (const option of spec.options) command.addOption(commanderOption(option));
    command.addHelpText('after', examplesHelp(name)).action(run((c, g, ...rest) => spec.run(c, g, rest.slice(0, -2), rest.at(-2), rest.at(-1))));
  };

  if (declares('init'))
    program
      .command('init [dir]')
      .description('scaffold policies/ with a working example on the local store (refuses to overwrite)')
      .addHelpText('after', examplesHelp('init'))
      .action(run((c, g, dir: string | undefined, _o, io2: Io) => c.initCommand(g, dir, io2)));
  declareDirect('validate');
  if (declares('schema'))
    program
      .command('schema')
      .description('print the JSON Schema of policy files (for editors)')
      .addHelpText('after', examplesHelp('schema'))
      .action(run((c, g, _o, io2: Io) => c.schemaCommand(g, io2)));
  declareDirect('plan');
  if (declares('rotate'))
    program
      .command('rotate [names...]')
      .usage('[options] <names...> | --all')
      .description('advance each selected secret: resume, decommission, rotate where due (or forced); names or --all are required')
      .option('--all', 'every secret in the policies', false)
      .option('--force', 'rotate now even if not due; retire a previous version early', false)
      .option('--dry-run', 'print the plan and change nothing', false)
      .option('--reason <text>', 'why (recorded in evidence)')
      .option('--ticket <id>', 'change ticket (recorded in evidence)')
      .addOption(envOption())
      .option('--concurrency <n>', 'secrets rotated at once (1-256)', '4')
      .option('--shard <k/n>', 'with --all: only shard k of n, for n runners in parallel (docs/scale-out.md)')
      .option('--quota-share <fraction>', 'part of each AWS quota this run takes (default with --shard: the shard\'s part of the AWS environments, else 1)')
      .option('--fallback-window <duration>', 'fallback window for this run only (0 = retire the old version right after the switch)')
      .addHelpText('after', examplesHelp('rotate'))
      .action(run(async (_c, g, names: string[], o, io2: Io) => (await import('./change-commands.js')).rotateCommand(g, names, o, io2)));
  declareDirect('status');
  declareDirect('get');
  if (declares('rollback'))
    program
      .command('rollback <name>')
      .description('before decommission: old version back to CURRENT, new one discarded')
      .addOption(envOption())
      .option('--reason <text>', 'why (recorded in evidence)')
      .option('--ticket <id>', 'change ticket (recorded in evidence)')
      .addHelpText('after', examplesHelp('rollback'))
      .action(run(async (_c, g, name: string, o, io2: Io) => (await import('./change-commands.js')).rollbackCommand(g, name, o, io2)));
  if (declares('doctor'))
    program
      .command('doctor [names...]')
      .description('find and explain stuck states (foreign AWSPENDING, stuck rotations, dead locks, evidence gaps, …); --fix repairs the safe ones')
      .addOption(envOption())
      .option('--fix', 'repair what is safe to repair, with evidence for each repair', false)
      .addHelpText('after', examplesHelp('doctor'))
      .action(run(async (_c, g, names: string[], o, io2: Io) => (await import('./change-commands.js')).doctorCommand(g, names, o, io2)));
  if (declares('run'))
    program
      .command('run [names...]')
      .usage('[names...] [--env e] -- <cmd> [args...]')
      .description('start a command with the secrets in its environment; its exit code is keyshift\'s')
      .option('--env <env>', 'environment (default: each secret\'s first)')
      .addHelpText('after', examplesHelp('run'))
      .action(run(async (_c, g, names: string[], o, io2: Io) => (await import('./run.js')).runCommand(g, names, o, argv, io2)));
  if (declares('env'))
    program
      .command('env [names...]')
      .description('print the secrets as run would export them (prints values, like get)')
      .option('--env <env>', 'environment (default: each secret\'s first)')
      .addOption(new Option('--format <format>', 'output format').choices(['dotenv', 'json', 'shell']).default('dotenv'))
      .addHelpText('after', examplesHelp('env'))
      .action(run(async (_c, g, names: string[], o, io2: Io) => (await import('./run.js')).envCommand(g, names, o, io2)));
  if (declares('evidence')) {
    const evidence = program.command('evidence').description('audit evidence');
    evidence
      .command('verify [logs...]')
      .description('check the evidence chain (or several runners\' logs: dirs or evidence.jsonl files) against the stores\' anchors; exit 1 if one is broken')
      .option('--export <file>', 'check a document written by `evidence export` instead, on its own')
      .option('--public-key <pem>', 'also check every signature with this Ed25519 public key; exit 1 if one is bad or records are unsigned')
      .addHelpText('after', examplesHelp('evidence verify'))
      .action(run(async (_c, g, logs: string[], o: { export?: string; publicKey?: string }, io2: Io) => (o.export ? (await import('./report-commands.js')).verifyExportCommand(g, o.export, io2) : (await import('./evidence-commands.js')).verifyCommand(g, logs, io2, o.publicKey))));
    evidence
      .command('merge <logs...>')
      .description('write several runners\' logs as one time-ordered JSONL; each record keeps its chain, seq and hash')
      .requiredOption('--out <file>', 'the merged file to write')
      .addHelpText('after', examplesHelp('evidence merge'))
      .action(run(async (_c, g, logs: string[], o: { out: string }, io2: Io) => (await import('./evidence-commands.js')).mergeCommand(g, logs, o.out, io2)));
    registerEvidenceCommands(evidence, io, done);
  }
  registerReportCommands(program, io, done, declares);
  if (declares('reencrypt')) registerReencryptCommand(program, io, done);

  return withInterrupts(io, async () => {
    try {
      await program.parseAsync(argv);
      return exitCode;
    } catch (error) {
      if (!(error instanceof CommanderError)) return failed(io, error, json);
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return ExitCode.ok;
      // No command given: commander printed the help on stderr. A usage error, like any other.
      const command = argv.slice(2).find((arg) => program.commands.some((c) => c.name() === arg));
      if (error.code === 'commander.help') {
        if (error.exitCode === 0) return ExitCode.ok;
        if (json) printJson(io.out, { error: { code: 'ERR_USAGE', message: 'no command given', hint: `run keyshift ${command ? `${command} ` : ''}--help for the commands` } });
        return ExitCode.usage;
      }
      printError(io.out, usageError(error.message.replace(/^error: /, ''), `run keyshift ${command ? `${command} ` : ''}--help for usage and examples`), json);
      return ExitCode.usage;
    }
  });
}

/**
 * The command argv runs (its first word after the global options and their values), or null when
 * every command must be declared: help asked for before a command, or a word that is none of them
 * (commander then suggests the nearest).
 */
export function commandToRun(program: Command, args: string[]): TopLevelCommand | null {
  const takesValue = new Set(program.options.filter((o) => o.required || o.optional).flatMap((o) => [o.long, o.short]));
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--' || arg === '-h' || arg === '--help') return null;
    if (arg.startsWith('-')) {
      if (takesValue.has(arg)) i++;
      continue;
    }
    return (COMMANDS as readonly string[]).includes(arg) ? (arg as TopLevelCommand) : null;
  }
  return null;
}
