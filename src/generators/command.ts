import { spawn } from 'node:child_process';
import { KeyshiftError } from '../errors.js';
import { SecretValue } from '../secret-value.js';
import type { CommandGenerator } from '../policy/types.js';
import { childEnvironment } from '../util/child-env.js';

const MAX_OUTPUT_BYTES = 64 * 1024;

/**
 * An external issuer: runs `run` (argv, no shell) and takes its trimmed stdout as the new value.
 * Any failure (exit status, signal, timeout, empty or oversized output) throws before anything is
 * stored, so a failed issuer leaves nothing issued. Its stderr is never echoed: it may hold secrets.
 * Its environment is the allowlist plus the policy's `env:`, never keyshift's keys (child-env.ts).
 */
export function generateWithCommand(spec: CommandGenerator, context: { cwd: string; env: NodeJS.ProcessEnv }): Promise<SecretValue> {
  const [command, ...args] = spec.run;
  const label = spec.run[0] ?? '';
  return new Promise((resolve, reject) => {
    const child = spawn(command as string, args, {
      cwd: context.cwd,
      env: childEnvironment(context.env, spec),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let overflow = false;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, spec.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_OUTPUT_BYTES) {
        overflow = true;
        child.kill('SIGKILL');
      } else chunks.push(chunk);
    });
    child.stderr.resume();
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(fail(label, `could not start (${(error as NodeJS.ErrnoException).code ?? error.message})`, 'check that the command exists and is executable'));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const output = Buffer.concat(chunks);
      const text = output.toString('utf8').trim();
      output.fill(0);
      if (timedOut) return reject(fail(label, `timed out after ${spec.timeoutMs} ms`, 'raise generator.timeout or make the issuer faster'));
      if (overflow) return reject(fail(label, `printed more than ${MAX_OUTPUT_BYTES} bytes`, 'the issuer must print only the new value'));
      if (code !== 0) return reject(fail(label, signal ? `was killed by ${signal}` : `exited with status ${code}`, 'run the issuer by hand to see its error'));
      if (text === '') return reject(fail(label, 'printed an empty value', 'the issuer must print the new value on stdout'));
      resolve(SecretValue.fromString(text));
    });
  });
}

function fail(command: string, what: string, hint: string): KeyshiftError {
  return new KeyshiftError('ERR_GENERATOR_FAILED', `generator command "${command}" ${what}; nothing was issued`, { hint });
}
