import { execFile } from 'node:child_process';
import { basename, dirname } from 'node:path';
import { KeyshiftError } from '../../errors.js';

/**
 * `git: { commit: true }`: each write of a manifest becomes one commit of that file only, with a
 * message that names the secrets, events and rotations — never a value (git reads the file itself,
 * so no value is ever in an argument).
 */
export function commitManifest(path: string, message: string, env: NodeJS.ProcessEnv): Promise<void> {
  // Manifests of several stores often share one repository, and git allows one index writer at a
  // time: this process commits one after the other, and waits for another process's index.lock.
  const turn = queue.then(() => withRetry(() => commitNow(path, message, env)));
  queue = turn.catch(() => undefined);
  return turn;
}

let queue: Promise<unknown> = Promise.resolve();

async function withRetry(work: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
    try {
      return await work();
    } catch (error) {
      if (!String((error as Error).message).includes('index.lock') || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

async function commitNow(path: string, message: string, env: NodeJS.ProcessEnv): Promise<void> {
  const cwd = dirname(path);
  const file = basename(path);
  await git(['add', '--', file], cwd, env);
  const staged = await git(['diff', '--cached', '--quiet', '--', file], cwd, env).then(
    () => false,
    () => true,
  );
  if (!staged) return; // the content is committed already (a rerun after a crash)
  await git(['commit', '--quiet', '--no-verify', '-m', message, '--', file], cwd, env);
}

function git(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, env, timeout: 60_000, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      if (args[0] === 'diff') return reject(error);
      const detail = (stderr || stdout || error.message).trim().split('\n')[0];
      reject(
        new KeyshiftError('ERR_GIT_COMMIT', `git ${args[0]} of ${cwd}/${basename(args[args.length - 1] ?? '')} failed: ${detail}`, {
          hint: 'the manifest was written; commit it by hand, or fix git (a repository, user.name and user.email) and rerun',
          cause: error,
        }),
      );
    });
  });
}
