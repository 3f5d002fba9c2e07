import { Option } from 'commander';

/** `--env` takes one value per use (repeat it, or a comma list), so names after it stay names. */
export const envOption = (): Option => new Option('--env <env>', 'only this environment (repeat it, or give a comma list)').argParser(envList);

function envList(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((e) => e.trim()).filter(Boolean)];
}
