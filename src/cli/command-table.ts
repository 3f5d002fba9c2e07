import { usageError } from '../errors.js';
import type { GlobalOptions, Io } from './main.js';

/**
 * The global options and the commands a user runs most often to look (plan, status, get,
 * validate), as data: program.ts declares them to commander, and direct.ts parses an ordinary
 * command line for them without loading commander, which is a fifth of a warm `plan`'s start
 * (bench/issue-17.md, start-up). Commander-free on purpose: this module is on every start's path.
 */

/** The top-level commands, in the order `keyshift --help` lists them. */
export const COMMANDS = ['init', 'validate', 'schema', 'plan', 'rotate', 'status', 'get', 'rollback', 'doctor', 'run', 'env', 'evidence', 'report', 'check', 'reencrypt'] as const;
export type TopLevelCommand = (typeof COMMANDS)[number];

export interface OptionSpec {
  /** As commander reads them: `-s, --long`, `--long <value>`. */
  flags: string;
  description: string;
  default?: string | boolean;
  /** The only values allowed (commander's `choices`). */
  choices?: readonly string[];
  /** Folds each value into the ones before (commander's `argParser`). */
  fold?: (value: string, previous: string[] | undefined) => string[];
}

type Commands = typeof import('./commands.js');

export interface CommandSpec {
  name: DirectCommand;
  /** Its arguments as commander declares them: `[names...]`, `<name>`, or none. */
  args: string;
  description: string;
  options: readonly OptionSpec[];
  /** `args` holds one value per declared argument, as commander passes them to an action. */
  run: (commands: Commands, globals: GlobalOptions, args: unknown[], options: any, io: Io) => Promise<number>;
}

export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  { flags: '-p, --policies <file|dir>', description: 'policy file or directory', default: 'policies' },
  { flags: '--evidence-dir <dir>', description: 'where evidence is appended', default: 'evidence' },
  { flags: '--json', description: 'print one JSON document on stdout', default: false },
  { flags: '--log-level <level>', description: 'log level on stderr (default warn; env KEYSHIFT_LOG_LEVEL)' },
  { flags: '-q, --quiet', description: 'only errors on stderr', default: false },
  { flags: '--lock-timeout <duration>', description: 'how long to wait for another run holding a store', default: '30s' },
  { flags: '--region <region>', description: 'AWS Region for AWS stores whose policy sets none (like the AWS CLI)' },
  { flags: '--profile <name>', description: 'AWS profile for AWS stores whose policy sets none' },
  { flags: '--endpoint-url <url>', description: 'endpoint for AWS stores whose policy sets none (e.g. a local emulator)' },
];

/** `--env` takes one value per use (repeat it, or a comma list), so names after it stay names. */
export const ENV_OPTION: OptionSpec = {
  flags: '--env <env>',
  description: 'only this environment (repeat it, or give a comma list)',
  fold: (value, previous = []) => [...previous, ...value.split(',').map((e) => e.trim()).filter(Boolean)],
};

export type DirectCommand = 'validate' | 'plan' | 'status' | 'get';

export const DIRECT_COMMANDS: Readonly<Record<DirectCommand, CommandSpec>> = {
  validate: {
    name: 'validate',
    args: '',
    description: 'check every policy; errors as file:line:col: message (exit 2); --values also checks the stored values',
    options: [{ flags: '--values', description: "also check each CURRENT value against its secret's validate: rules (prints no value; exit 1 if one fails)", default: false }, ENV_OPTION],
    run: async (c, g, _args, o: { values: boolean; env?: string[] }, io) => {
      if (o.values) return (await import('./validate-values.js')).validateValuesCommand(g, o, io);
      if (o.env) throw usageError('--env goes with --values (policies are checked as a whole)', 'e.g. keyshift validate --values --env prod');
      return c.validateCommand(g, io);
    },
  },
  plan: {
    name: 'plan',
    args: '[names...]',
    description: 'show what `rotate` would do; changes nothing',
    options: [
      { flags: '--all', description: 'every secret (the default for plan)', default: false },
      { flags: '--force', description: 'plan as if --force were given to rotate', default: false },
      ENV_OPTION,
      { flags: '--horizon <duration>', description: 'also show work that falls due within this time', default: '0s' },
      { flags: '--shard <k/n>', description: 'only shard k of n (a stable split by a hash of the name; docs/scale-out.md)' },
    ],
    run: (c, g, [names], o, io) => c.planCommand(g, names as string[], o, io),
  },
  status: {
    name: 'status',
    args: '[names...]',
    description: 'phase, versions, last rotated, next due and overdue per secret and environment',
    options: [ENV_OPTION],
    run: (c, g, [names], o, io) => c.statusCommand(g, names as string[], o, io),
  },
  get: {
    name: 'get',
    args: '<name>',
    description: 'print one value (the only command that prints a secret)',
    options: [
      { flags: '--env <env>', description: 'environment (default: the first in the policy)' },
      { flags: '--stage <stage>', description: 'which version', choices: ['current', 'previous', 'pending'], default: 'current' },
    ],
    run: (c, g, [name], o, io) => c.getCommand(g, name as string, o, io),
  },
};
