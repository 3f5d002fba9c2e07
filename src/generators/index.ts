import type { GeneratorSpec } from '../policy/types.js';
import { KeyshiftError } from '../errors.js';
import type { SecretValue } from '../secret-value.js';
import { generateWithCommand } from './command.js';
import { generateRandomBytes, generateRandomPassword } from './random.js';

export interface GeneratorContext {
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export async function generateValue(spec: GeneratorSpec, context: GeneratorContext): Promise<SecretValue> {
  if (spec.type === 'command') return generateWithCommand(spec, context);
  // A data key needs its master, which lives in another store or in KMS: the engine makes it (src/reencrypt/hierarchy.ts).
  if (spec.type === 'data-key') throw new KeyshiftError('ERR_INTERNAL', 'a data key is made with its master by the engine, not by generateValue (this is a bug)');
  return 'bytes' in spec ? generateRandomBytes(spec) : generateRandomPassword(spec);
}
