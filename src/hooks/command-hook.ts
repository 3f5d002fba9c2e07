import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { CommandHook } from '../policy/types.js';
import type { HookContext, HookResult } from './types.js';
import { BoundedCapture, errorCode, formatDuration, loggableOutput } from './output.js';
import { removeStaleValueFiles, VALUE_DIR_PREFIX } from './stale-value-files.js';
import { trackGroup, trackValueDir, untrackGroup, untrackValueDir } from './interrupt.js';
import { secretForms } from '../secret-forms.js';
import { childEnvironment } from '../util/child-env.js';

/** After SIGTERM on timeout, the process group gets this long before SIGKILL. */
const KILL_GRACE_MS = 2000;
/** After the hook exits, how long to wait for leftover children to close its output pipes. */
const PIPE_GRACE_MS = 500;

interface Outcome {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  spawnError: string | null;
}

/**
 * Runs a command hook. The value reaches the hook only on stdin and in a 0600 file named by
 * KEYSHIFT_VALUE_FILE (removed afterwards, whatever happens); never in argv or the environment.
 * Its output is logged with every form of the value redacted (secretForms).
 */
export async function runCommandHook(hook: CommandHook, ctx: HookContext): Promise<HookResult> {
  const started = Date.now();
  const secret = ctx.value === null ? null : ctx.value.revealBytes();
  let dir: string | null = null;
  let outcome: Outcome;
  const stdout = new BoundedCapture();
  const stderr = new BoundedCapture();
  try {
    const env = hookEnvironment(hook, ctx);
    if (secret !== null) {
      await removeStaleValueFiles();
      dir = await fs.mkdtemp(join(tmpdir(), VALUE_DIR_PREFIX));
      trackValueDir(dir);
      await fs.chmod(dir, 0o700);
      const file = join(dir, 'value');
      const handle = await fs.open(file, 'wx', 0o600);
      try {
        await handle.writeFile(secret);
      } finally {
        await handle.close();
      }
      env.KEYSHIFT_VALUE_FILE = file;
    }
    outcome = await spawnHook(hook, ctx, env, secret, stdout, stderr);
  } catch (error) {
    outcome = { exitCode: null, signal: null, timedOut: false, spawnError: errorCode(error) };
  } finally {
    if (dir !== null) {
      await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
      untrackValueDir(dir);
    }
  }

  const durationMs = Date.now() - started;
  const output = loggableOutput([stdout, stderr], secret, ctx.value === null ? [] : secretForms(ctx.value));
  secret?.fill(0);
  const error = describeFailure(hook, outcome);
  const ok = error === null;
  const fields = { hook: hook.label, phase: ctx.phase, exitCode: outcome.exitCode, output };
  if (ok) ctx.log.info(fields, 'hook finished');
  else ctx.log.warn({ ...fields, signal: outcome.signal, timedOut: outcome.timedOut }, 'hook finished');
  return { ok, label: hook.label, exitCode: outcome.exitCode, signal: outcome.signal, timedOut: outcome.timedOut, durationMs, error };
}

/** The allowlist, the hook's `env:` and keyshift's hook variables; never keyshift's keys. */
function hookEnvironment(hook: CommandHook, ctx: HookContext): NodeJS.ProcessEnv {
  const env = childEnvironment(ctx.env, hook); // no KEYSHIFT_* left: VALUE_FILE is set only with a file of ours
  env.KEYSHIFT_SECRET = ctx.secret;
  env.KEYSHIFT_ENVIRONMENT = ctx.environment;
  env.KEYSHIFT_PHASE = ctx.phase;
  env.KEYSHIFT_ROTATION_ID = ctx.rotationId;
  env.KEYSHIFT_NEW_VERSION = ctx.newVersion ?? '';
  env.KEYSHIFT_OLD_VERSION = ctx.oldVersion ?? '';
  if (ctx.newKeyId) env.KEYSHIFT_NEW_KEY_ID = ctx.newKeyId;
  if (ctx.oldKeyId) env.KEYSHIFT_OLD_KEY_ID = ctx.oldKeyId;
  return env;
}

function describeFailure(hook: CommandHook, outcome: Outcome): string | null {
  if (outcome.spawnError !== null) return `${hook.label} could not start (${outcome.spawnError})`;
  if (outcome.timedOut) return `${hook.label} timed out after ${formatDuration(hook.timeoutMs)}`;
  if (outcome.signal !== null) return `${hook.label} was killed by ${outcome.signal}`;
  if (outcome.exitCode !== 0) return `${hook.label} exited with status ${outcome.exitCode}`;
  return null;
}

function spawnHook(
  hook: CommandHook,
  ctx: HookContext,
  env: NodeJS.ProcessEnv,
  secret: Buffer | null,
  stdout: BoundedCapture,
  stderr: BoundedCapture,
): Promise<Outcome> {
  const [command, args] = typeof hook.run === 'string' ? ['/bin/sh', ['-c', hook.run]] : [hook.run[0] ?? '', hook.run.slice(1)];
  const cwd = hook.cwd === null ? ctx.cwd : resolve(ctx.cwd, hook.cwd);
  return new Promise((done) => {
    let child: ChildProcess;
    try {
      child = spawn(command, args, { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
      if (child.pid !== undefined) trackGroup(child.pid);
    } catch (error) {
      done({ exitCode: null, signal: null, timedOut: false, spawnError: errorCode(error) });
      return;
    }
    let settled = false;
    let timedOut = false;
    let killTimer: NodeJS.Timeout | null = null;
    let pipeTimer: NodeJS.Timeout | null = null;
    let exit: { code: number | null; signal: string | null } | null = null;

    const killGroup = (signal: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        try {
          child.kill(signal);
        } catch {
          /* already gone */
        }
      }
    };
    const groupAlive = (): boolean => {
      if (child.pid === undefined) return false;
      try {
        process.kill(-child.pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const timeout = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
    }, hook.timeoutMs);

    const finish = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      if (pipeTimer !== null) clearTimeout(pipeTimer);
      // Leave the SIGKILL escalation armed while anything of the timed-out group survives.
      if (killTimer !== null && !groupAlive()) clearTimeout(killTimer);
      child.stdout?.destroy();
      child.stderr?.destroy();
      child.stdin?.destroy();
      if (child.pid !== undefined) untrackGroup(child.pid);
      done(outcome);
    };

    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdin?.on('error', () => undefined); // EPIPE when the hook does not read its stdin
    child.stdout?.on('error', () => undefined);
    child.stderr?.on('error', () => undefined);

    child.on('error', (error) => {
      if (child.pid === undefined) finish({ exitCode: null, signal: null, timedOut: false, spawnError: errorCode(error) });
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // Background children may keep the pipes open; do not wait for them for long.
      pipeTimer = setTimeout(() => finish({ exitCode: code, signal, timedOut, spawnError: null }), PIPE_GRACE_MS);
    });
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      if (child.pid === undefined) return; // spawn failure: reported by 'error'
      const final = exit ?? { code, signal };
      finish({ exitCode: final.code, signal: final.signal, timedOut, spawnError: null });
    });

    if (child.pid !== undefined && child.stdin) {
      if (secret !== null) child.stdin.end(secret);
      else child.stdin.end();
    }
  });
}
