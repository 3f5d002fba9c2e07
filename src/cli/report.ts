import { Option, type Command } from 'commander';
import type { GlobalOptions, Io } from './main.js';
import { envOption } from './options.js';
import { examplesHelp } from './help-examples.js';

/**
 * Declarations of the compliance commands: `report`, `check`, `evidence export`, `evidence ship`
 * and `evidence anchors`. Handlers (report-commands.ts) load only when one of them runs.
 */
type Handlers = typeof import('./report-commands.js');
type Done = (code: number, json: boolean) => void;
type Run = (handler: (h: Handlers, g: GlobalOptions, o: any, io: Io) => Promise<number>) => (...args: any[]) => Promise<void>;

/** `report` and `check`, each when `declares` it (src/cli/main.ts declares only the command run). */
export function registerReportCommands(program: Command, io: Io, done: Done, declares: (name: 'report' | 'check') => boolean): void {
  const run = runner(io, done);
  if (declares('report'))
    program
      .command('report [names...]')
      .description('rotation report for audits: adherence to each interval, overdue, emergency and failed rotations, evidence coverage; reads only')
      .option('--since <duration>', 'only rotations in this past period, e.g. 90d (default: all evidence)')
      .addOption(new Option('--format <format>', 'md, json or html (--json = --format json)').choices(['md', 'json', 'html']))
      .option('--out <file>', 'write the report to this file instead of stdout')
      .addOption(envOption())
      .addHelpText('after', examplesHelp('report'))
      .action(run((h, g, o, io2) => h.reportCommand(g, o, io2)));
  if (declares('check'))
    program
      .command('check')
      .description('exit 0 when nothing is overdue, stuck or failed, else 1 with one line per problem; for cron and monitors')
      .option('--prometheus <file>', 'also write metrics for the node_exporter textfile collector (atomically)')
      .addHelpText('after', examplesHelp('check'))
      .action(run((h, g, o, io2) => h.checkCommand(g, o, io2)));
}

/** `evidence export`, `evidence ship` and `evidence anchors`. */
export function registerEvidenceCommands(evidence: Command, io: Io, done: Done): void {
  const run = runner(io, done);
  evidence
    .command('export')
    .description('one self-verifying JSON document of one rotation for a ticket: its records and the chain proof up to a store anchor')
    .requiredOption('--rotation <id>', 'the rotation id (r-…)')
    .option('--out <file>', 'write it to this file instead of stdout')
    .action(run((h, g, o, io2) => h.exportCommand(g, o, io2)));
  evidence
    .command('ship')
    .description('copy the evidence not shipped yet to S3 (one object per run, Object Lock retention with --retain); the local log stays the source of truth')
    .requiredOption('--to <s3-url>', 'where: s3://bucket/prefix/ (objects go under <prefix>YYYY/MM/)')
    .option('--retain <duration>', 'S3 Object Lock retention in compliance mode, e.g. 365d (the bucket must have Object Lock)')
    .action(run(async (_h, g, o, io2) => (await import('./ship-command.js')).shipCommand(g, o, io2)));
  evidence
    .command('anchors')
    .description('the evidence anchors (chain id, last seq and hash, time) that each store keeps')
    .addHelpText('after', examplesHelp('evidence anchors'))
    .action(run((h, g, o, io2) => h.anchorsCommand(g, o, io2)));
}

function runner(io: Io, done: Done): Run {
  return (handler) => async (...args: any[]) => {
    const command = args[args.length - 1] as Command;
    const globals = command.optsWithGlobals() as GlobalOptions;
    done(await handler(await import('./report-commands.js'), globals, { ...command.opts(), names: args.length > 2 ? args[0] : [] }, io), globals.json);
  };
}
