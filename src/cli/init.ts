import { promises as fs } from 'node:fs';
import { join, relative } from 'node:path';
import { ExitCode, KeyshiftError } from '../errors.js';

const EXAMPLE = `# keyshift rotation policies: every *.yaml file in this directory is loaded.
# Store paths are relative to the directory you run keyshift in.
# Reference: docs/policies.md (keyshift schema prints the JSON Schema for editors).
secrets:
  - name: example-api-key
    owner: team-platform
    description: Example key on the embedded local store; rename it and add your own secrets.
    interval: 90d              # rotate every 90 days
    fallbackWindow: 48h        # the old key stays valid for 48 hours after the switch
    generator: { type: random, bytes: 32, encoding: base64 }
    environments:
      - name: dev
        store: { type: local, path: .keyshift/dev.store }
`;

/** Write policies/example.yaml under `dir`; refuse if policies/ already holds anything. */
export async function scaffold(dir: string): Promise<string[]> {
  const policiesDir = join(dir, 'policies');
  for (const path of [dir, policiesDir]) {
    const stat = await fs.stat(path).catch(() => null);
    if (stat && !stat.isDirectory()) {
      throw new KeyshiftError('ERR_INIT_NOT_A_DIRECTORY', `${relative(process.cwd(), path) || path} is not a directory; nothing was written`, {
        exitCode: ExitCode.usage,
        hint: 'give keyshift init a directory (it is created if missing), e.g. keyshift init my-project',
      });
    }
  }
  const existing = await fs.readdir(policiesDir).catch(() => [] as string[]);
  if (existing.length > 0) {
    throw new KeyshiftError('ERR_INIT_EXISTS', `${relative(process.cwd(), policiesDir) || policiesDir} already exists and is not empty; nothing was written`, {
      exitCode: ExitCode.usage,
      hint: 'edit the existing policies, or run keyshift init in another directory',
    });
  }
  const file = join(policiesDir, 'example.yaml');
  try {
    await fs.mkdir(policiesDir, { recursive: true });
    await fs.writeFile(file, EXAMPLE, { flag: 'wx' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (!code || !['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST', 'ENOSPC'].includes(code)) throw error;
    throw new KeyshiftError('ERR_INIT_FAILED', `cannot write ${relative(process.cwd(), file) || file} (${code}); no policy was written`, {
      exitCode: ExitCode.failed,
      hint: 'choose a directory you can write to, e.g. keyshift init my-project',
    });
  }
  return [relative(process.cwd(), file) || file];
}
