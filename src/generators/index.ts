import type { GeneratorSpec } from '../policy/types.js';
import type { SecretValue } from '../secret-value.js';
import { generateWithCommand } from './command.js';
import { generateRandomBytes, generateRandomPassword } from './random.js';

export interface GeneratorContext {
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export async function generateValue(spec: GeneratorSpec, context: GeneratorContext): Promise<SecretValue> {
  if (spec.type === 'command') return generateWithCommand(spec, context);
  return 'bytes' in spec ? generateRandomBytes(spec) : generateRandomPassword(spec);
}
