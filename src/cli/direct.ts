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

export function parseDirect(args: readonly string[]): DirectRun | null {
  const globalValues = defaults(GLOBAL_OPTIONS);
  let command: CommandSpec | null = null;
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
        values = defaults(command.options);
      }
      continue;
    }
    const equals = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = equals > 0 ? arg.slice(0, equals) : arg;
    // Global options are the program's wherever they stand; the command's only after its name.
    const global = optionNamed(GLOBAL_OPTIONS, name);
    const spec = global ?? (command && optionNamed(command.options, name));
    if (!spec) return null;
    const into = global ? globalValues : values;
    const key = keyOf(spec);
    if (!spec.flags.includes('<')) {
      if (equals > 0) return null;
      into[key] = true;
      continue;
    }
    const value = equals > 0 ? arg.slice(equals + 1) : args[++i];
    if (value === undefined || (equals < 0 && value.startsWith('-'))) return null;
    if (spec.choices && !spec.choices.includes(value)) return null;
    into[key] = spec.fold ? spec.fold(value, into[key] as string[] | undefined) : value;
  }
  if (!command) return null;
  const argValues = argumentValues(command.args, operands);
  if (!argValues) return null;
  return { command, globals: { ...values, ...globalValues } as unknown as GlobalOptions, options: values, args: argValues };
}

// What follows runs once per start, cold: plain loops over strings, no regular expression (the
// first use of each is compiled) and no tables built for flags the command line does not hold.

/** The option one of whose flags (`-p`, `--policies`) is `name`. */
function optionNamed(specs: readonly OptionSpec[], name: string): OptionSpec | undefined {
  return specs.find((spec) => spec.flags.split(', ').some((part) => part === name || part.startsWith(`${name} `)));
}

function defaults(specs: readonly OptionSpec[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const spec of specs) if (spec.default !== undefined) values[keyOf(spec)] = spec.default;
  return values;
}

/** `--evidence-dir <dir>` → `evidenceDir`, as commander names an option's value. */
function keyOf(spec: OptionSpec): string {
  const flags = spec.flags;
  let key = '';
  for (let i = flags.indexOf('--') + 2; i < flags.length && flags[i] !== ' '; i++) key += flags[i] === '-' ? (flags[++i] as string).toUpperCase() : flags[i];
  return key;
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
