import { DIRECT_COMMANDS, GLOBAL_OPTIONS, type CommandSpec, type OptionSpec } from './command-table.js';
import type { GlobalOptions } from './main.js';

/**
 * Parses an ordinary command line for one of the direct commands (command-table.ts) as commander
 * would, without loading it. Anything it does not take whole (help, `--`, an unknown or grouped
 * option, a value that starts with `-`, a value a choice refuses, a missing or extra argument) is
 * left to commander (null): commander then runs it, or explains what is wrong with it. A test
 * compares both parsers over generated command lines (test/unit/cli-direct.test.js).
 */

export interface DirectRun {
  command: CommandSpec;
  /** As commander's `optsWithGlobals()`: the command's options, then the global ones. */
  globals: GlobalOptions;
  /** As commander's `opts()` of the command. */
  options: Record<string, unknown>;
  /** One value per declared argument. */
  args: unknown[];
}

interface Flag {
  spec: OptionSpec;
  key: string;
  takesValue: boolean;
}

export function parseDirect(args: readonly string[]): DirectRun | null {
  const globals = flagTable(GLOBAL_OPTIONS);
  const globalValues = defaults(GLOBAL_OPTIONS);
  let command: CommandSpec | null = null;
  let own: Map<string, Flag> | null = null;
  let values: Record<string, unknown> = {};
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--') return null;
    if (arg.length < 2 || arg[0] !== '-') {
      if (command) operands.push(arg);
      else {
        command = Object.hasOwn(DIRECT_COMMANDS, arg) ? DIRECT_COMMANDS[arg as keyof typeof DIRECT_COMMANDS] : null;
        if (!command) return null;
        own = flagTable(command.options);
        values = defaults(command.options);
      }
      continue;
    }
    const equals = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = equals > 0 ? arg.slice(0, equals) : arg;
    // Global options are the program's wherever they stand; the command's only after its name.
    const fromGlobals = globals.get(name);
    const flag = fromGlobals ?? own?.get(name);
    if (!flag) return null;
    const into = fromGlobals ? globalValues : values;
    if (!flag.takesValue) {
      if (equals > 0) return null;
      into[flag.key] = true;
      continue;
    }
    const value = equals > 0 ? arg.slice(equals + 1) : args[++i];
    if (value === undefined || (equals < 0 && value.startsWith('-'))) return null;
    if (flag.spec.choices && !flag.spec.choices.includes(value)) return null;
    into[flag.key] = flag.spec.fold ? flag.spec.fold(value, into[flag.key] as string[] | undefined) : value;
  }
  if (!command) return null;
  const argValues = argumentValues(command.args, operands);
  if (!argValues) return null;
  return { command, globals: { ...values, ...globalValues } as unknown as GlobalOptions, options: values, args: argValues };
}

/** Each option under its short and long flag. */
function flagTable(specs: readonly OptionSpec[]): Map<string, Flag> {
  const table = new Map<string, Flag>();
  for (const spec of specs) {
    const flag = { spec, key: keyOf(spec), takesValue: spec.flags.includes('<') };
    for (const part of spec.flags.split(', ')) table.set(part.split(' ')[0] as string, flag);
  }
  return table;
}

function defaults(specs: readonly OptionSpec[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const spec of specs) if (spec.default !== undefined) values[keyOf(spec)] = spec.default;
  return values;
}

/**
 * `--evidence-dir <dir>` → `evidenceDir`, as commander names an option's value. Without a regular
 * expression: compiling one is a tenth of a millisecond on this path.
 */
function keyOf(spec: OptionSpec): string {
  const long = spec.flags.slice(spec.flags.indexOf('--') + 2).split(' ')[0] as string;
  return long.split('-').map((word, i) => (i === 0 ? word : word.charAt(0).toUpperCase() + word.slice(1))).join('');
}

/** The operands as commander hands them to an action, or null when too few or too many. */
function argumentValues(declared: string, operands: string[]): unknown[] | null {
  const list = declared === '' ? [] : declared.split(' ');
  const values: unknown[] = [];
  for (let i = 0; i < list.length; i++) {
    const arg = list[i] as string;
    const required = arg.startsWith('<');
    if (arg.endsWith('...]') || arg.endsWith('...>')) {
      if (required && operands.length <= i) return null;
      values.push(operands.slice(i));
      return values;
    }
    if (required && operands.length <= i) return null;
    values.push(operands[i]);
  }
  return operands.length > list.length ? null : values;
}
