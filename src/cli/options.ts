import { Option } from 'commander';
import { ENV_OPTION, type OptionSpec } from './command-table.js';

/** An option of command-table.ts, declared to commander. */
export function commanderOption(spec: OptionSpec): Option {
  const option = new Option(spec.flags, spec.description);
  if (spec.choices) option.choices(spec.choices);
  if (spec.fold) option.argParser(spec.fold);
  if (spec.default !== undefined) option.default(spec.default);
  return option;
}

/** `--env` takes one value per use (repeat it, or a comma list), so names after it stay names. */
export const envOption = (): Option => commanderOption(ENV_OPTION);
